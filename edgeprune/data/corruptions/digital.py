"""Digital corruptions: contrast, elastic_transform, pixelate, jpeg_compression, saturate."""

from __future__ import annotations

import importlib.util
import io
from functools import lru_cache

import numpy as np
from PIL import Image

from edgeprune.data.corruptions.color import hsv_to_rgb, rgb_to_hsv
from edgeprune.data.corruptions.filters import gaussian_smooth, to_unit, unit_to_uint8
from edgeprune.data.corruptions.geometry import affine_from_points, sample_bilinear
from edgeprune.data.corruptions.params import parameter_set_for, severity_params


def contrast(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Shrink every channel towards its own mean: (x - mean) * c + mean.

    An image channel has 256 levels, so the generator's float arithmetic is done once per
    level and channel (a table of the same float64 operations on ``level / 255``) and the
    pixels are looked up: the same outputs for a fraction of the work at 224 px.
    """
    factor = severity_params("contrast", severity, *images.shape[1:3])
    means = to_unit(images).mean(axis=(1, 2))  # (N, C), as the generator sums them
    levels = np.arange(256) / 255.0
    tables = unit_to_uint8((levels - means[..., None]) * factor + means[..., None])
    return _per_channel_lookup(images, tables)


def _per_channel_lookup(images: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """``tables[n, c, images[n, ..., c]]``: each image channel through its own 256-entry table."""
    n, channels = tables.shape[:2]
    offsets = (np.arange(n * channels, dtype=np.intp) * 256).reshape(n, 1, 1, channels)
    return tables.reshape(-1).take(images + offsets)


def saturate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Scale and offset the HSV saturation: S' = clip(S * a + b, 0, 1)."""
    factor, offset = severity_params("saturate", severity, *images.shape[1:3])
    hsv = rgb_to_hsv(to_unit(images))
    hsv[..., 1] = np.clip(hsv[..., 1] * factor + offset, 0, 1)
    return unit_to_uint8(hsv_to_rgb(hsv))


def pixelate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """PIL BOX resize down to int(side * c) and back up (the generator's per-image steps).

    PIL's BOX filter is the reference operation. The way down is PIL itself, one axis at a
    time: PIL resamples horizontally, then vertically, each output row (column) from one
    input row (column) only. So the rows of all images are resized in one call on the
    images stacked into one tall image, and the columns in one call on the images side by
    side: the same arithmetic, row by row, as one ``resize`` per image, and the same
    pixels. (Resizing the tall stack vertically is not: its box boundaries fall at slightly
    different floating-point positions, and 1-6 % of pixels change by a level.)

    The way up is a copy: enlarging, PIL's box holds exactly one input pixel per output
    pixel (weight 1.0), so each axis is an index lookup (``_box_enlarge_index``, read from
    PIL itself), done on whole rows and then on whole pixels.
    """
    factor = severity_params("pixelate", severity, *images.shape[1:3])
    height, width = images.shape[1:3]
    small = _resize_axes(images, int(height * factor), int(width * factor))
    rows, columns = (
        _box_enlarge_index(small.shape[1], height),
        _box_enlarge_index(small.shape[2], width),
    )
    if rows is None or columns is None:  # a Pillow whose box mixes pixels on the way up
        return _resize_axes(small, height, width)
    n, small_height, small_width = small.shape[:3]
    tall = np.take(small.reshape(n, small_height, -1), rows, axis=1)  # whole rows
    pixels = tall.reshape(n * height, small_width, 3).view(_PIXEL)[..., 0]  # one item per pixel
    return np.take(pixels, columns, axis=1).view(np.uint8).reshape(n, height, width, 3)


_PIXEL = np.dtype((np.void, 3))  # an RGB pixel as one 3-byte item, copied whole


def _resize_axes(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """PIL BOX resize of every image to (height, width): rows on a tall stack, then columns."""
    n, _, in_width = images.shape[:3]
    tall = Image.fromarray(images.reshape(-1, in_width, 3))
    rows = np.asarray(tall.resize((width, tall.height), Image.Resampling.BOX))
    side_by_side = np.ascontiguousarray(rows.reshape(n, -1, width, 3).transpose(1, 0, 2, 3))
    wide = Image.fromarray(side_by_side.reshape(-1, n * width, 3))
    columns = np.asarray(wide.resize((wide.width, height), Image.Resampling.BOX))
    return np.ascontiguousarray(columns.reshape(height, n, width, 3).transpose(1, 0, 2, 3))


@lru_cache(maxsize=64)
def _box_enlarge_index(size: int, larger: int) -> np.ndarray | None:
    """For each of ``larger`` outputs of PIL's BOX enlargement of ``size`` samples, the one
    input it copies, or None where PIL weighs several. Read from PIL: a float identity
    image resized along its rows gives every output's weights (row i: input i's)."""
    identity = np.eye(size, dtype=np.float32)
    weights = np.asarray(Image.fromarray(identity).resize((larger, size), Image.Resampling.BOX))
    if not np.array_equal(np.sort(weights, axis=0)[-1], np.ones(larger, np.float32)):
        return None
    if np.count_nonzero(weights) != larger:
        return None
    index = weights.argmax(axis=0)
    index.setflags(write=False)
    return index


def jpeg_compression(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Encode as JPEG at quality q (4:2:0 chroma subsampling) and decode, image by image.

    The generator uses PIL. When OpenCV is installed it is used instead, for speed: both
    wrap libjpeg-turbo with the same defaults (baseline, 4:2:0, islow DCT, fancy
    upsampling) and give the same pixels (checked in the tests), but PIL's per-image
    decoder setup in Python makes it about 4x slower on 32x32 images.
    """
    quality = int(severity_params("jpeg_compression", severity, *images.shape[1:3]))
    roundtrip = _jpeg_roundtrip_opencv if _has_opencv() else jpeg_roundtrip_pil
    out = np.empty_like(images)
    for i, image in enumerate(images):
        out[i] = roundtrip(image, quality)
    return out


def jpeg_roundtrip_pil(image: np.ndarray, quality: int) -> np.ndarray:
    """One RGB image through PIL's JPEG encoder and decoder (the generator's way)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _jpeg_roundtrip_opencv(image: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    # OpenCV's codecs take and give BGR; its own conversions are cheaper than numpy views
    # of reversed channels, which the codec would copy anyway
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG image")
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10 decodes to RGB
    if rgb_flag is not None:
        return cv2.imdecode(encoded, rgb_flag)
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@lru_cache(maxsize=1)
def _has_opencv() -> bool:
    return importlib.util.find_spec("cv2") is not None


def elastic_transform(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A random affine warp followed by a smooth random displacement field.

    Lengths are fractions of the image side (the generator's IMSIZE * fraction; for the
    ImageNet set 244 * fraction at 224 pixels, kept via ``elastic_length_unit``):
    ``alpha`` scales the displacement, ``sigma`` smooths it (Gaussian, reflect border,
    truncate 3) and the affine part moves three anchor points by up to ``jitter``.
    The affine warp samples like ``cv2.warpAffine`` (bilinear at 1/32-pixel coordinates,
    reflect-101 border); the displacement like ``scipy.ndimage.map_coordinates`` (order
    1, reflect border); both in float32 as in the generator.
    """
    n, height, width = images.shape[:3]
    pset = parameter_set_for(height, width)
    side = min(height, width) * pset.elastic_length_unit
    alpha, sigma, jitter = (
        f * side for f in severity_params("elastic_transform", severity, height, width)
    )
    x = images.astype(np.float32) / 255.0

    centre = np.array([width // 2, height // 2], dtype=np.float32)
    half = min(height, width) // 3
    anchors = np.stack([centre + half, centre + [half, -half], centre - half]).astype(np.float32)
    moved = anchors + rng.uniform(-jitter, jitter, size=(n, 3, 2)).astype(np.float32)
    inverse = affine_from_points(moved, anchors)  # output pixel -> input pixel, per image
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float64)
    src_x = (
        inverse[:, 0, 0, None, None] * grid_x
        + inverse[:, 0, 1, None, None] * grid_y
        + inverse[:, 0, 2, None, None]
    )
    src_y = (
        inverse[:, 1, 0, None, None] * grid_x
        + inverse[:, 1, 1, None, None] * grid_y
        + inverse[:, 1, 2, None, None]
    )
    warped = sample_bilinear(
        x, _opencv_subpixel(src_y), _opencv_subpixel(src_x), edge_repeated=False
    )

    noise = rng.uniform(-1, 1, size=(2, n, height, width))
    dx = (gaussian_smooth(noise[0], sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    dy = (gaussian_smooth(noise[1], sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    out = sample_bilinear(warped, grid_y + dy, grid_x + dx, edge_repeated=True)
    return unit_to_uint8(out)


def _opencv_subpixel(coords: np.ndarray) -> np.ndarray:
    # warpAffine computes coordinates in 1/1024 fixed point and interpolates at 1/32 pixel
    return np.floor(np.rint(coords * 1024) / 32) / 32
