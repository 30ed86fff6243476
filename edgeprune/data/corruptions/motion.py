"""A batched motion blur that follows ImageMagick's MotionBlurImage.

The generator calls ImageMagick (through wand) for motion_blur and for the streaks of
snow. We do not call ImageMagick; this module rebuilds the operation from its documented
semantics ("convolve the image with a Gaussian operator of the given radius and standard
deviation (sigma) ... along this angle") and from how MagickCore builds that operator:

- the kernel has ``width = 2 * ceil(radius) + 1`` taps (GetOptimalKernelWidth1D with a
  positive radius) and is *one-sided*: tap i >= 0 has weight exp(-i^2 / (2 sigma^2)),
  normalised to sum 1, so the output is a weighted average of the pixel itself and
  pixels ``i`` steps along the blur direction, the nearest ones weighing most;
- tap i samples the pixel at integer offset (round(i cos a), round(i sin a)) in (column,
  row), with ImageMagick's rounding ceil(v - 0.5); rows grow downwards;
- pixels outside the image repeat the nearest edge pixel (the default "edge" virtual
  pixel method);
- the 8-bit result is rounded to the nearest level (ImageMagick works at 16-bit quantum
  depth and scales back to 8 bits when the PNG is written), not truncated.

What is not reproduced: Q16 intermediate quantisation (below 1/257 of a level) and any
alpha handling (our images have none). The angle is drawn per image, so the offsets
differ per image; each tap is one vectorised gather over the whole batch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def motion_kernel(radius: float, sigma: float) -> np.ndarray:
    """The one-sided, normalised Gaussian taps of ImageMagick's motion blur."""
    width = int(2 * np.ceil(radius) + 1)
    steps = np.arange(width, dtype=np.float64)
    weights = np.exp(-(steps**2) / (2.0 * sigma * sigma))
    weights /= weights.sum()
    weights.setflags(write=False)
    return weights


def motion_offsets(width: int, angles_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer (row, column) offsets of every tap for every angle, each (N, width)."""
    radians = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))[:, None]
    steps = np.arange(width)[None, :]
    cols = np.ceil(steps * np.cos(radians) - 0.5).astype(np.int64)
    rows = np.ceil(steps * np.sin(radians) - 0.5).astype(np.int64)
    return rows, cols


def motion_blur_batch(
    images: np.ndarray, radius: float, sigma: float, angles_deg: np.ndarray
) -> np.ndarray:
    """Motion-blur uint8 images (N, H, W) or (N, H, W, C), one angle per image; uint8 out.

    Channels are laid out as separate planes, each padded by the kernel width with its
    edge pixels; a tap is then one 1-D ``take`` over all planes at per-plane offsets.
    """
    weights = motion_kernel(radius, sigma)
    width = weights.size
    row_offsets, col_offsets = motion_offsets(width, angles_deg)
    n, height, img_width = images.shape[:3]
    channels = images.shape[3] if images.ndim == 4 else 1
    planes = np.moveaxis(images.reshape(n, height, img_width, channels), 3, 1)
    pad = width - 1
    padded = np.pad(
        planes.reshape(n * channels, height, img_width),
        [(0, 0), (pad, pad), (pad, pad)],
        mode="edge",
    )
    padded_h, padded_w = height + 2 * pad, img_width + 2 * pad
    flat = padded.astype(np.float32).ravel()

    grid = (np.arange(height)[:, None] + pad) * padded_w + np.arange(img_width)[None, :] + pad
    plane_base = np.arange(n * channels) * padded_h * padded_w
    row_offsets = np.repeat(row_offsets, channels, axis=0)
    col_offsets = np.repeat(col_offsets, channels, axis=0)
    out = np.zeros((n * channels, height, img_width), dtype=np.float32)
    for tap, weight in enumerate(weights):
        shift = plane_base + row_offsets[:, tap] * padded_w + col_offsets[:, tap]
        out += np.float32(weight) * flat.take(shift[:, None, None] + grid[None])
    out = np.moveaxis(out.reshape(n, channels, height, img_width), 1, 3)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(images.shape)
