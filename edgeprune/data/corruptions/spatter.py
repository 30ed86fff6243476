"""spatter (held out): water drops (severities 1-3 on CIFAR) or mud (4-5).

Both start from a smoothed, thresholded Gaussian "liquid" layer. Mud darkens the image
with brown blobs. Water lightens it with pale turquoise whose strength follows an
embossed distance-to-edge map of the drops: the generator builds that map with OpenCV
(Canny edges, distance transform, truncation at 20, 3x3 mean, histogram equalisation,
a 3x3 emboss filter, 3x3 mean). Here each step is a batched numpy/scipy version:

- Canny (aperture 3, L1 gradient, thresholds 50/150): Sobel with replicated border,
  OpenCV's non-maximum suppression rule (tan 22.5 degree sectors, fixed-point as in
  OpenCV) and hysteresis as 8-connected components that contain a strong pixel;
- the distance transform is the exact Euclidean one, where OpenCV's DIST_L2 with a 5x5
  mask is a chamfer approximation within about 2% (and capped at 20 pixels anyway);
- equalizeHist uses OpenCV's lookup table (cumulative counts above the lowest level,
  rounded); uint8 conversions truncate or round where OpenCV does.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from edgeprune.data.corruptions.filters import (
    box_blur_3x3,
    correlate_2d,
    gaussian_smooth,
    unit_to_uint8,
)
from edgeprune.data.corruptions.params import severity_params

_WATER_RGB = np.array([175, 238, 238], dtype=np.float32) / 255  # pale turquoise
_MUD_RGB = np.array([63, 42, 20], dtype=np.float32) / 255  # brown
_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
_TAN_22_5 = int(0.4142135623730950488 * (1 << 15) + 0.5)  # OpenCV's fixed-point tan(22.5)
_EIGHT_CONNECTED_2D = np.pad(np.ones((1, 3, 3), dtype=bool), ((1, 1), (0, 0), (0, 0)))


def spatter(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Water or mud spatter; see the module docstring."""
    loc, scale, sigma, threshold, intensity, mud = severity_params(
        "spatter", severity, *images.shape[1:3]
    )
    n, height, width = images.shape[:3]
    x = images.astype(np.float32) / 255.0
    liquid = gaussian_smooth(rng.normal(loc=loc, scale=scale, size=(n, height, width)), sigma)
    liquid[liquid < threshold] = 0
    if mud:
        blobs = gaussian_smooth((liquid > threshold).astype(np.float32), intensity)
        blobs[blobs < 0.8] = 0
        blobs = blobs[..., None]
        return unit_to_uint8(x * (1 - blobs) + _MUD_RGB * blobs)

    # the generator's (liquid * 255).astype(np.uint8), without clipping
    liquid_u8 = (liquid * 255).astype(np.uint8)
    ridges = _emboss_map(liquid_u8)
    strength = liquid_u8 * ridges
    peak = strength.max(axis=(1, 2), keepdims=True)
    strength = np.divide(strength, peak, out=np.zeros_like(strength), where=peak > 0) * intensity
    return unit_to_uint8(x + strength[..., None] * _WATER_RGB)


def _emboss_map(liquid_u8: np.ndarray) -> np.ndarray:
    """The generator's OpenCV chain from the liquid layer to the float32 water strength map."""
    edges = canny_edges(liquid_u8, low=50, high=150)
    distance = capped_edge_distance(edges, cap=20).astype(np.float32)
    distance = box_blur_3x3(distance).astype(np.uint8)
    equalised = equalize_hist(distance).astype(np.float64)
    embossed = np.clip(correlate_2d(equalised, _EMBOSS), 0, 255)
    return np.rint(box_blur_3x3(embossed)).astype(np.float32)


def capped_edge_distance(edges: np.ndarray, cap: int) -> np.ndarray:
    """min(Euclidean distance to the nearest edge pixel of the same image, cap), (N, H, W).

    Exact, and cheaper than a full distance transform because of the cap: the squared
    distance is the minimum over row offsets dy in [-cap, cap] of dy^2 plus the squared
    distance to the nearest edge within row (r + dy), and a row distance past the cap
    only matters as "beyond the cap". The row distances come from running maxima and
    minima of edge positions; the square root is taken in float64, as a distance
    transform's. Images without edges get ``cap`` everywhere.
    """
    n, height, width = edges.shape
    beyond = cap + 1
    cols = np.arange(width)
    last_left = np.maximum.accumulate(np.where(edges, cols, -2 * width), axis=2)
    next_right = np.minimum.accumulate(np.where(edges, cols, 3 * width)[:, :, ::-1], axis=2)
    in_row = np.minimum(np.minimum(cols - last_left, next_right[:, :, ::-1] - cols), beyond)
    # squares up to 2 * beyond^2 fit int16 for any cap below 100
    squared = np.full((n, height + 2 * cap, width), beyond * beyond, dtype=np.int16)
    squared[:, cap : cap + height] = in_row * in_row
    best = squared[:, cap : cap + height].copy()
    for dy in range(1, cap + 1):
        for rows in (slice(cap - dy, cap - dy + height), slice(cap + dy, cap + dy + height)):
            np.minimum(best, squared[:, rows] + np.int16(dy * dy), out=best)
    return np.minimum(np.sqrt(best.astype(np.float64)), cap)


def canny_edges(images: np.ndarray, low: int, high: int) -> np.ndarray:
    """Boolean edge maps of uint8 images (N, H, W), following ``cv2.Canny(img, low, high)``.

    Integer arithmetic throughout, as OpenCV's: Sobel sums of uint8 values are at most
    4 * 255 and the fixed-point sector tests stay below 2^27, so int32 holds them exactly.
    """
    dx, dy = _sobel(images)
    magnitude = np.abs(dx) + np.abs(dy)
    padded = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))  # zero magnitude outside the image

    def neighbour(drow: int, dcol: int) -> np.ndarray:
        h, w = magnitude.shape[1:]
        return padded[:, 1 + drow : 1 + drow + h, 1 + dcol : 1 + dcol + w]

    ax, ay = np.abs(dx), np.abs(dy) << 15
    tan22 = ax * _TAN_22_5
    horizontal = ay < tan22
    vertical = ~horizontal & (ay > tan22 + (ax << 16))
    diagonal = ~horizontal & ~vertical
    same_sign = (dx ^ dy) >= 0
    peak_h = (magnitude > neighbour(0, -1)) & (magnitude >= neighbour(0, 1))
    peak_v = (magnitude > neighbour(-1, 0)) & (magnitude >= neighbour(1, 0))
    # OpenCV compares with (row-1, col-s) and (row+1, col+s), s = +1 for same signs
    peak_d_same = (magnitude > neighbour(-1, -1)) & (magnitude > neighbour(1, 1))
    peak_d_diff = (magnitude > neighbour(-1, 1)) & (magnitude > neighbour(1, -1))
    peak_d = np.where(same_sign, peak_d_same, peak_d_diff)
    candidate = (magnitude > low) & (
        (horizontal & peak_h) | (vertical & peak_v) | (diagonal & peak_d)
    )
    labels, count = ndimage.label(candidate, structure=_EIGHT_CONNECTED_2D)
    strong = np.zeros(count + 1, dtype=bool)
    strong[labels[candidate & (magnitude > high)]] = True
    strong[0] = False
    return strong[labels]


def _sobel(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's 3x3 Sobel derivatives (x, y) of uint8 images, replicated border, int32."""
    padded = np.pad(images.astype(np.int32), ((0, 0), (1, 1), (1, 1)), mode="edge")
    height, width = images.shape[1:]

    def at(drow: int, dcol: int) -> np.ndarray:
        return padded[:, 1 + drow : 1 + drow + height, 1 + dcol : 1 + dcol + width]

    # [-1 0 1] across, [1 2 1] down for x; the transpose for y
    across = [at(row, 1) - at(row, -1) for row in (-1, 0, 1)]
    down = [at(1, col) - at(-1, col) for col in (-1, 0, 1)]
    return across[0] + 2 * across[1] + across[2], down[0] + 2 * down[1] + down[2]


def equalize_hist(images: np.ndarray) -> np.ndarray:
    """``cv2.equalizeHist`` for every uint8 image (N, H, W) of a batch."""
    n = len(images)
    flat = images.reshape(n, -1).astype(np.int64)
    hist = np.bincount((flat + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n)
    hist = hist.reshape(n, 256)
    total = flat.shape[1]
    lowest = np.argmax(hist > 0, axis=1)
    lowest_count = hist[np.arange(n), lowest]
    above = np.cumsum(hist, axis=1) - lowest_count[:, None]
    scale = np.float32(255) / np.maximum(total - lowest_count, 1).astype(np.float32)
    lut = np.clip(np.rint(above.astype(np.float32) * scale[:, None]), 0, 255)
    lut[np.arange(256)[None, :] <= lowest[:, None]] = 0
    single_level = lowest_count == total  # OpenCV leaves a flat image at its level
    lut[single_level] = np.arange(256)
    return np.take_along_axis(lut, flat, axis=1).astype(np.uint8).reshape(images.shape)
