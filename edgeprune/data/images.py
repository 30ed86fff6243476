"""Reading one image file as 8-bit RGB, the one place where a pixel format is converted.

Pillow's ``convert("RGB")`` clips 16-bit greyscale (``I;16``) at 255, so a 16-bit PNG
became almost white; it is scaled by its range instead. What has no single correct
conversion (floating-point images) is refused by name, never guessed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from edgeprune.errors import EdgepruneError, first_line

# Integer modes whose values span 0..65535 (16-bit PNG and TIFF greyscale).
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def open_rgb(path: str | Path) -> Image.Image:
    """The image at ``path`` as an 8-bit RGB Pillow image (EXIF orientation not applied)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return _to_rgb(im, path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise EdgepruneError(
            f"{path}: more than {Image.MAX_IMAGE_PIXELS:,} pixels, refused as a possible "
            "decompression bomb; downscale it first"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's decoders raise all three
        raise EdgepruneError(f"cannot read image {path}: {first_line(exc)}") from None


def _to_rgb(im: Image.Image, path: Path) -> Image.Image:
    if im.mode in _SIXTEEN_BIT:
        values = np.asarray(im).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise EdgepruneError(
                f"{path}: 32-bit integer pixels outside 0..65535; save it as 8- or 16-bit"
            )
        grey = np.round(values / 257.0).astype(np.uint8)  # 65535 -> 255, by range
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1))
    if im.mode == "F":
        raise EdgepruneError(
            f"{path}: floating-point pixels have no one 8-bit meaning; save it as 8- or 16-bit"
        )
    return im.convert("RGB")
