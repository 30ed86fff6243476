"""Blur corruptions: gaussian_blur, defocus_blur, glass_blur, motion_blur and zoom_blur."""

from __future__ import annotations

import numpy as np

from edgeprune.data.corruptions.filters import (
    correlate_2d,
    disk_kernel,
    gaussian_smooth,
    to_unit,
    unit_to_uint8,
)
from edgeprune.data.corruptions.geometry import apply_image_operator, centre_zoom_operator
from edgeprune.data.corruptions.motion import motion_blur_batch
from edgeprune.data.corruptions.params import geometry_scale, severity_params


def gaussian_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of sigma c per channel (skimage ``gaussian``, nearest border)."""
    sigma = severity_params("gaussian_blur", severity, *images.shape[1:3])
    return unit_to_uint8(gaussian_smooth(to_unit(images), sigma))


def defocus_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Correlation with an anti-aliased disk, reflect-101 border (``cv2.filter2D``)."""
    radius, alias_blur = severity_params("defocus_blur", severity, *images.shape[1:3])
    kernel = disk_kernel(float(radius), float(alias_blur))
    return unit_to_uint8(correlate_2d(to_unit(images), kernel))


def zoom_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Average of the image and centre zooms of it by factors 1, 1.01, ... (float32).

    Each zoom is the generator's ``clipped_zoom`` written as interpolation matrices; the
    sum of all zooms of a severity is one sparse operator, applied to the whole batch at
    once. The generator sums float32 zooms one by one; the different summation order
    moves results by float32 rounding only.
    """
    start, stop, step = severity_params("zoom_blur", severity, *images.shape[1:3])
    factors = tuple(np.arange(start, stop, step))  # same float arange as the generator
    height, width = images.shape[1:3]
    x = to_unit(images).astype(np.float32)
    operator = centre_zoom_operator(height, width, factors, "float32")
    zoomed = apply_image_operator(x, operator, height, width)
    return unit_to_uint8((x + zoomed) / (len(factors) + 1))


def motion_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick-style motion blur at a random angle in [-45, 45) degrees per image.

    See ``motion.py`` for the kernel. Radius and sigma are scaled with the image side
    (``params.geometry_scale``); at 32x32 (CIFAR) and 224x224 (ImageNet) they are as published.
    """
    radius, sigma = severity_params("motion_blur", severity, *images.shape[1:3])
    scale = geometry_scale(*images.shape[1:3])
    angles = rng.uniform(-45, 45, size=len(images))
    return motion_blur_batch(images, radius * scale, sigma * scale, angles)


def glass_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, local pixel shuffling, Gaussian blur again.

    The generator visits pixels from the bottom-right corner to the top-left one and
    writes ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` for a random neighbour (h', w').
    On numpy views that statement is not a swap: it copies the neighbour into (h, w) and
    leaves the neighbour unchanged. This reproduces that copy, and its statistics are the
    generator's (see ``local_shuffle``).
    """
    sigma, max_delta, passes = severity_params("glass_blur", severity, *images.shape[1:3])
    # the generator's np.uint8(gaussian(...) * 255): truncation, without clipping
    x = (gaussian_smooth(to_unit(images), sigma) * 255).astype(np.uint8)
    for _ in range(passes):
        x = _shuffle_pass(x, max_delta, rng)
    return unit_to_uint8(gaussian_smooth(to_unit(x), sigma))


def _shuffle_pass(images: np.ndarray, max_delta: int, rng: np.random.Generator) -> np.ndarray:
    """One pass of the generator's pixel loop with fresh random offsets."""
    n, height, width = images.shape[:3]
    rows = max(0, height - 2 * max_delta)
    cols = max(0, width - 2 * max_delta)
    offsets = rng.integers(-max_delta, max_delta, size=(n, rows, cols, 2))
    return local_shuffle(images, max_delta, offsets)


def local_shuffle(images: np.ndarray, max_delta: int, offsets: np.ndarray) -> np.ndarray:
    """The generator's glass-blur pixel loop for given offsets, vectorised.

    Pixel (h, w) for h in (max_delta, H - max_delta] (likewise w), visited in decreasing
    raster order, receives the current value of (h + dy, w + dx), where
    ``offsets[n, H - max_delta - h, W - max_delta - w] = (dy, dx)``, each in
    [-max_delta, max_delta). Each pixel is written once, when visited. So its final value
    is the *original* value of its source if that source has not been visited yet (always
    the case for max_delta = 1, where sources lie up or left), or else the final value of
    the source, which chains. The chains are resolved by pointer jumping; every step
    halves the remaining length, so a pass costs O(log chain) gathers over the batch.
    """
    n, height, width = images.shape[:3]
    rows = np.arange(height - max_delta, max_delta, -1)
    cols = np.arange(width - max_delta, max_delta, -1)
    if rows.size == 0 or cols.size == 0:
        return images.copy()
    target = (rows[:, None] * width + cols[None, :]).reshape(-1)
    source_rows = rows[None, :, None] + offsets[..., 0]
    source_cols = cols[None, None, :] + offsets[..., 1]
    source = (source_rows * width + source_cols).reshape(n, -1)

    # visit order of every pixel (lower = earlier); unvisited pixels never change
    visit = np.full(height * width, np.iinfo(np.int64).max)
    visit[target] = np.arange(target.size)
    image_base = (np.arange(n) * height * width)[:, None]
    pointer = np.tile(np.arange(height * width), (n, 1))
    pointer[:, target] = source
    # a pixel copies a *final* value when its source was visited before it
    chained = np.zeros((n, height * width), dtype=bool)
    chained[:, target] = visit[source] < visit[target][None, :]
    pointer += image_base
    pointer, chained = pointer.reshape(-1), chained.reshape(-1)
    while chained.any():
        follow = np.flatnonzero(chained)
        nxt = pointer[follow]
        pointer[follow] = pointer[nxt]
        chained[follow] = chained[nxt]
    flat = images.reshape(n * height * width, -1)
    return flat[pointer].reshape(images.shape)
