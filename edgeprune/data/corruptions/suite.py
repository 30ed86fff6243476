"""The corruption suite: names, groups, the registry and the batched entry point ``corrupt``.

Reproducibility. ``corrupt(images, name, severity, seed=s)`` cuts the batch into blocks
of ``block_size(H, W)`` images (128 for 32x32) aligned to the *global* image index
``first_index + i`` and gives block b its own generator, seeded from
``SeedSequence(s, spawn_key=(corruption number, severity, b))``. Hence:

- the same seed, name, severity and images always give the same output;
- a dataset corrupted in one call or in several calls gives identical results when every
  call starts at a multiple of the block size and passes ``first_index`` (the index of
  its first image in the dataset); no cost is paid for this, each block being one
  vectorised call anyway;
- different corruptions, severities or blocks never share random streams.

A ``numpy.random.Generator`` may be passed instead of an integer seed; the blocks then
draw from it one after the other, and reproducibility is the caller's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from edgeprune.data.corruptions import blur, digital, noise, spatter, weather
from edgeprune.data.corruptions.base import Corruption
from edgeprune.errors import EdgepruneError
from edgeprune.registry import Registry

BENCHMARK = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
HELD_OUT = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL = BENCHMARK + HELD_OUT
SEVERITIES = (1, 2, 3, 4, 5)
# The version of the corruption code's output. A corrupted file records it, and a file of
# another version is generated again: bump it whenever any corruption's output changes for
# the same images, severity and seed (a fixed rounding, a new resize).
# 2: motion blur and snow truncate as ImageMagick Q16; frost photos resized at 1/fx
# 3: defocus blur through the FFT for every disk above 5x5 (ImageNet sizes), no longer
#    directly up to 11x11: the same sums in another order, a level apart in rare pixels
GENERATOR_VERSION = 3

# The four benchmark groups (held-out corruptions are reported but belong to no group
# that enters mPC / mCE); GROUP_OF also places the held-out ones by kind.
GROUPS = MappingProxyType({
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
})  # fmt: skip
GROUP_OF = MappingProxyType(
    {name: group for group, names in GROUPS.items() for name in names}
    | {
        "speckle_noise": "noise",
        "gaussian_blur": "blur",
        "spatter": "weather",
        "saturate": "digital",
    }
)

# Output depends only on image and severity (measured on the published generator too:
# stats.json "deterministic" of the shared reference set).
DETERMINISTIC = frozenset({
    "gaussian_blur", "defocus_blur", "zoom_blur", "contrast", "brightness", "saturate",
    "jpeg_compression", "pixelate",
})  # fmt: skip

MIN_SIDE = 8  # smaller images leave some corruptions (glass_blur, pixelate) without pixels
PIXELS_PER_BLOCK = 128 * 32 * 32

# Corruptions that draw nothing, or one array of random numbers in image order (one value
# per pixel or per image): a block may be worked in pieces drawing from the block's
# generator one after the other, with the same numbers. Pieces of at most PIXELS_PER_PIECE
# keep a piece's float64 temporaries (1.2 MB for a 224x224 image) within a core's cache,
# which a block of two such images is not: 10-40 % faster at 224 px, the same output.
IN_PIECES = DETERMINISTIC | {
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "motion_blur",
}  # fmt: skip
PIXELS_PER_PIECE = 64 * 32 * 32

CORRUPTIONS: Registry[Corruption] = Registry("corruption")
for _function in (
    noise.gaussian_noise, noise.shot_noise, noise.impulse_noise,
    blur.defocus_blur, blur.glass_blur, blur.motion_blur, blur.zoom_blur,
    weather.snow, weather.frost, weather.fog, weather.brightness,
    digital.contrast, digital.elastic_transform, digital.pixelate, digital.jpeg_compression,
    noise.speckle_noise, blur.gaussian_blur, spatter.spatter, digital.saturate,
):  # fmt: skip
    CORRUPTIONS.register(_function.__name__, _function)


def is_deterministic(name: str) -> bool:
    """True when ``name``'s output depends only on the image and the severity."""
    CORRUPTIONS.get(name)  # a clear error for unknown names
    return name in DETERMINISTIC


def block_size(height: int, width: int) -> int:
    """Images per random block: 128 at 32x32, fewer for larger images (2 at 224x224)."""
    return max(1, PIXELS_PER_BLOCK // (height * width))


@lru_cache(maxsize=8)
def _frost_from(texture_dir: Path) -> Corruption:
    return weather.make_frost(texture_dir)


def corrupt(
    images: np.ndarray,
    name: str,
    severity: int,
    seed: int | np.random.Generator | None = None,
    *,
    first_index: int = 0,
    frost_textures: Path | str | None = None,
) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1..5) to uint8 images (N, H, W, 3).

    ``seed``: a non-negative integer for reproducible output (see the module
    docstring), ``None`` for fresh randomness, or a ``numpy.random.Generator`` to draw
    from directly.
    ``first_index``: dataset index of ``images[0]``, to split a dataset over calls.
    ``frost_textures``: a directory of texture images used by ``frost`` instead of the
    procedural textures (ignored by the other corruptions).
    Returns a new uint8 array of the same shape.
    """
    function = CORRUPTIONS.get(name)
    if name == "frost" and frost_textures is not None:
        function = _frost_from(Path(frost_textures).resolve())
    _check_input(images, severity, seed, first_index)
    root = None if isinstance(seed, np.random.Generator) else np.random.SeedSequence(seed)
    block = block_size(*images.shape[1:3])
    piece = max(1, PIXELS_PER_PIECE // (images.shape[1] * images.shape[2]))
    out = np.empty_like(images)
    start = 0
    while start < len(images):
        global_block = (first_index + start) // block
        stop = min(len(images), (global_block + 1) * block - first_index)
        if root is None:
            rng = seed  # the caller's generator, drawn from block after block
        else:
            key = (ALL.index(name), severity, global_block)
            rng = np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=key))
        step = piece if name in IN_PIECES else stop - start
        for first in range(start, stop, step):
            last = min(stop, first + step)
            out[first:last] = function(images[first:last], severity, rng)
        start = stop
    return out


def _check_input(images: np.ndarray, severity: int, seed: object, first_index: int) -> None:
    if not isinstance(images, np.ndarray):
        raise EdgepruneError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise EdgepruneError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise EdgepruneError(f"images must have shape (N, H, W, 3), got {images.shape}")
    if min(images.shape[1:3]) < MIN_SIDE:
        raise EdgepruneError(
            f"images must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {images.shape[2]}x{images.shape[1]}"
        )
    if first_index < 0:
        raise EdgepruneError(f"first_index must be >= 0, got {first_index}")
    seed_ok = seed is None or isinstance(seed, np.random.Generator)
    seed_ok |= isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0
    if not seed_ok:
        raise EdgepruneError(
            f"seed must be None, a non-negative integer or a numpy Generator, got {seed!r}"
        )
    if (
        isinstance(severity, bool)
        or not isinstance(severity, (int, np.integer))
        or severity not in SEVERITIES
    ):
        raise EdgepruneError(f"severity must be an integer 1..5, got {severity!r}")
