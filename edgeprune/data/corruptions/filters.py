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
from scipy import fft, ndimage

IMAGE_AXES = (1, 2)
# Up to 5x5 (every CIFAR-set defocus disk, the 3x3 filters) a direct correlation is
# faster; from ImageNet's smallest disk (9x9) on, the FFT is, at 224 px by 1.4x (81 taps) to
# 17x (441), as measured with ``_fft_correlate``.
_DIRECT_TAPS = 25


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
    A kernel longer than an image side (ImageNet-C's elastic displacements: sigma 171,
    1,025 taps on 224 pixels) is applied as that side's (side x side) matrix instead, the
    kernel folded back by the border rule; the same sums up to float64 rounding, at a
    fraction of the cost.
    """
    if sigma == 0:
        return np.array(batch, dtype=np.result_type(batch.dtype, np.float32))
    taps = 2 * int(truncate * float(sigma) + 0.5) + 1  # scipy's kernel radius
    if taps <= max(batch.shape[axis] for axis in IMAGE_AXES):
        return ndimage.gaussian_filter(batch, sigma, mode=mode, truncate=truncate, axes=IMAGE_AXES)
    out = np.asarray(batch, dtype=np.result_type(batch.dtype, np.float32))
    for axis in IMAGE_AXES:  # in scipy's order: axis 1, then axis 2
        operator = _gaussian_operator(out.shape[axis], float(sigma), mode, truncate)
        lines = np.moveaxis(out, axis, -1)
        out = np.moveaxis(lines @ operator.T.astype(out.dtype), -1, axis)
    return np.ascontiguousarray(out)


@lru_cache(maxsize=32)
def _gaussian_operator(size: int, sigma: float, mode: str, truncate: float) -> np.ndarray:
    """The (size, size) matrix of ``gaussian_filter1d`` on lines of ``size`` samples.

    Column j is the filter's response to a unit impulse at j, computed by scipy itself,
    so every entry is a sum of scipy's own taps as the border rule folds them.
    """
    operator = ndimage.gaussian_filter1d(np.eye(size), sigma, axis=0, mode=mode, truncate=truncate)
    operator.setflags(write=False)
    return operator


def correlate_2d(batch: np.ndarray, kernel: np.ndarray, mode: str = "mirror") -> np.ndarray:
    """Correlate every image (and channel) with one 2-D kernel, ``cv2.filter2D``-style.

    The default border is OpenCV's BORDER_REFLECT_101 (scipy ``"mirror"``). Like
    ``cv2.filter2D``, large kernels (ImageNet-C's defocus disks) go through the FFT
    (``_fft_correlate``).
    """
    if kernel.size <= _DIRECT_TAPS or mode != "mirror":
        return ndimage.correlate(batch, kernel, mode=mode, axes=IMAGE_AXES)
    return _fft_correlate(batch, kernel)


def _fft_correlate(batch: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Reflect-101 correlation through the FFT, one (H, W) image plane at a time.

    Each plane is written with its reflect-101 border (``_reflect_into``) into a zero
    buffer of a fast transform length, here rather than through ``rfft2(s=...)``, whose own
    zero-padding costs more than the transform. Plane by plane, a 224-pixel plane's spectrum
    stays in cache and no transposed copy of the batch is made: three times faster than one
    batched transform, for the same numbers. The transform is circular: the wrapped-around
    part of the correlation lands only in the border, which is cut off. The kernel's
    spectrum is computed once per kernel and size.
    """
    half_h, half_w = kernel.shape[0] // 2, kernel.shape[1] // 2
    height, width = batch.shape[1:3]
    size = (height + 2 * half_h, width + 2 * half_w)
    shape = (fft.next_fast_len(size[0], real=True), fft.next_fast_len(size[1], real=True))
    spectrum = _kernel_spectrum(kernel.tobytes(), kernel.shape, str(kernel.dtype), shape)
    dtype = np.result_type(batch.dtype, np.float32)
    out = np.empty(batch.shape, dtype=dtype)
    padded = np.zeros(shape, dtype=dtype)  # only its top-left ``size`` is ever written
    for index in np.ndindex(batch.shape[0], *batch.shape[3:]):
        plane = (index[0], slice(None), slice(None), *index[1:])
        _reflect_into(padded, batch[plane], half_h, half_w)
        product = fft.rfft2(padded)
        product *= spectrum
        full = fft.irfft2(product, s=shape, overwrite_x=True)
        # correlation = convolution with the flipped kernel; outputs start at the kernel's end
        out[plane] = full[kernel.shape[0] - 1 : size[0], kernel.shape[1] - 1 : size[1]]
    return out


def _reflect_into(buffer: np.ndarray, plane: np.ndarray, half_h: int, half_w: int) -> None:
    """``np.pad(plane, ((half_h,) * 2, (half_w,) * 2), mode="reflect")`` (reflect-101: the
    edge row is not repeated) written into the top-left corner of ``buffer``."""
    height, width = plane.shape
    bottom, right = half_h + height, half_w + width
    if half_h >= height or half_w >= width:  # a border wider than the image reflects again
        buffer[: bottom + half_h, : right + half_w] = np.pad(
            plane, ((half_h, half_h), (half_w, half_w)), mode="reflect"
        )
        return
    buffer[half_h:bottom, half_w:right] = plane
    if half_h:
        buffer[:half_h, half_w:right] = buffer[2 * half_h : half_h : -1, half_w:right]
        buffer[bottom : bottom + half_h, half_w:right] = buffer[
            bottom - 2 : bottom - 2 - half_h : -1, half_w:right
        ]
    if half_w:
        rows = slice(0, bottom + half_h)
        buffer[rows, :half_w] = buffer[rows, 2 * half_w : half_w : -1]
        buffer[rows, right : right + half_w] = buffer[rows, right - 2 : right - 2 - half_w : -1]


@lru_cache(maxsize=32)
def _kernel_spectrum(
    data: bytes, kernel_shape: tuple[int, int], dtype: str, shape: tuple[int, int]
) -> np.ndarray:
    kernel = np.frombuffer(data, dtype=dtype).reshape(kernel_shape).astype(np.float64)
    flipped = np.zeros(shape)
    flipped[: kernel_shape[0], : kernel_shape[1]] = kernel[::-1, ::-1]
    spectrum = fft.rfft2(flipped)
    spectrum.setflags(write=False)
    return spectrum


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
