"""Batched linear filters and the uint8 conversion shared by the corruptions.

Every helper takes a batch with the image axes at positions 1 and 2, (N, H, W) or
(N, H, W, C), and filters only along those two axes, so one call serves the whole batch.
Border modes are named after the library whose behaviour they reproduce:
scikit-image's ``gaussian`` default is scipy's ``"nearest"``; OpenCV's default border
(BORDER_REFLECT_101) is scipy's ``"mirror"``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage, signal

IMAGE_AXES = (1, 2)
_DIRECT_TAPS = 121  # up to 11x11 a direct correlation is faster than the FFT


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 images as float64 in [0, 1], the generator's ``np.array(x) / 255.``."""
    return images / 255.0


def unit_to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 the way the generator's saving loop does it.

    ``np.clip(x, 0, 1) * 255`` followed by ``np.uint8``: truncation toward zero, not
    rounding, so an output of 254.9 is stored as 254.
    """
    return (np.clip(values, 0, 1) * 255).astype(np.uint8)


def pixels_to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 255] floats to uint8 by clipping and truncation (corruptions working in 0..255)."""
    return np.clip(values, 0, 255).astype(np.uint8)


def gaussian_smooth(
    batch: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0
) -> np.ndarray:
    """scikit-image's ``gaussian(x, sigma, channel_axis=-1)`` for every image of a batch.

    skimage delegates to ``scipy.ndimage.gaussian_filter`` with ``mode="nearest"`` and
    ``truncate=4``; a channel axis gets sigma 0, which is the same as leaving it out.
    """
    if sigma == 0:
        return np.array(batch, dtype=np.result_type(batch.dtype, np.float32))
    return ndimage.gaussian_filter(batch, sigma, mode=mode, truncate=truncate, axes=IMAGE_AXES)


def correlate_2d(batch: np.ndarray, kernel: np.ndarray, mode: str = "mirror") -> np.ndarray:
    """Correlate every image (and channel) with one 2-D kernel, ``cv2.filter2D``-style.

    The default border is OpenCV's BORDER_REFLECT_101 (scipy ``"mirror"``). Like
    ``cv2.filter2D``, large kernels (ImageNet-C's defocus disks) go through the FFT,
    on an explicitly reflect-101-padded batch.
    """
    if kernel.size <= _DIRECT_TAPS or mode != "mirror":
        return ndimage.correlate(batch, kernel, mode=mode, axes=IMAGE_AXES)
    half_h, half_w = kernel.shape[0] // 2, kernel.shape[1] // 2
    pad = [(0, 0), (half_h, half_h), (half_w, half_w)] + [(0, 0)] * (batch.ndim - 3)
    padded = np.pad(batch, pad, mode="reflect")  # numpy's "reflect" is reflect-101
    flipped = kernel[::-1, ::-1].astype(batch.dtype).reshape(kernel.shape + (1,) * (batch.ndim - 3))
    return signal.fftconvolve(padded, flipped[None], mode="valid", axes=IMAGE_AXES)


def box_blur_3x3(batch: np.ndarray) -> np.ndarray:
    """``cv2.blur(x, (3, 3))``: the 3x3 mean with OpenCV's default reflect-101 border."""
    return ndimage.uniform_filter(batch, size=3, mode="mirror", axes=IMAGE_AXES)


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
    # OpenCV's getGaussianKernel for sigma > 0: exp(-(i - (size-1)/2)^2 / (2 sigma^2)), normalised.
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(offsets**2) / (2 * sigma**2))
    return taps / taps.sum()


@lru_cache(maxsize=64)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The anti-aliased disk of defocus blur, trimmed to its non-zero support.

    As in the generator: a binary disk x^2 + y^2 <= radius^2 on a 17x17 grid (a
    (2r+1)^2 grid past radius 8), normalised to sum 1, then smoothed with a Gaussian of
    sigma ``alias_blur`` (3x3 taps, 5x5 past radius 8) under a reflect-101 border, in
    float32 like ``cv2.GaussianBlur``. Rows and columns that are exactly zero contribute
    nothing to the correlation, so trimming them only saves time.
    """
    half = 8 if radius <= 8 else int(radius)
    taps = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    gauss = _gaussian_taps(taps, alias_blur).astype(np.float32)
    smoothed = ndimage.correlate1d(disk, gauss, axis=0, mode="mirror")
    smoothed = ndimage.correlate1d(smoothed, gauss, axis=1, mode="mirror")
    rows = np.flatnonzero(smoothed.any(axis=1))
    keep = min(rows[0], smoothed.shape[0] - 1 - rows[-1])  # symmetric trim keeps the centre
    trimmed = smoothed[keep : smoothed.shape[0] - keep, keep : smoothed.shape[1] - keep]
    trimmed.setflags(write=False)
    return trimmed
