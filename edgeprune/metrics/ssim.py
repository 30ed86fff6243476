"""Structural similarity (SSIM) of a batch of single-channel maps (numpy + scipy).

For each pair of maps ``x``, ``y`` and local windows (uniform ``win_size x win_size`` or
Gaussian with ``sigma``)::

    SSIM(x, y) = mean over pixels of
                 (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))

with ``C1 = (K1 * R)^2``, ``C2 = (K2 * R)^2``, ``R`` the data range, local (co)variances
scaled by ``NP / (NP - 1)`` (``NP = win_size^2``) when ``use_sample_covariance``, and the
mean taken over the map minus a ``(win_size - 1) / 2`` border.

This reproduces ``skimage.metrics.structural_similarity`` (scikit-image 0.22-0.26) on each
map, batched: the same scipy.ndimage filters (``uniform_filter``; ``gaussian_filter`` with
``truncate=3.5``, ``mode='reflect'``) are applied over the two spatial axes of the whole
``(N, H, W)`` stack at once. The computation is float64 (skimage computes in float32 for
float32 inputs, which then differs from this in the 7th digit).

Reference: Wang, Bovik, Sheikh, Simoncelli 2004, "Image quality assessment: from error
visibility to structural similarity".
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

from edgeprune.errors import EdgepruneError

# skimage's truncation of the Gaussian window: an 11-tap filter for sigma = 1.5, as Wang
# et al. 2004.
GAUSSIAN_TRUNCATE = 3.5


def gaussian_window_size(sigma: float) -> int:
    """Window size skimage uses for a Gaussian window when none is given: ``2r + 1``."""
    return 2 * int(GAUSSIAN_TRUNCATE * sigma + 0.5) + 1


def _as_map_stack(maps: np.ndarray, name: str) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise EdgepruneError(f"{name} must have shape (N, H, W) or (H, W); got {maps.shape}")
    return maps


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float = 1.0,
    win_size: int | None = 7,
    gaussian_weights: bool = False,
    sigma: float = 1.5,
    use_sample_covariance: bool = True,
    K1: float = 0.01,
    K2: float = 0.03,
) -> np.ndarray:
    """Per-map SSIM of two stacks of maps, matching skimage on each map.

    Args:
        a: ``(N, H, W)`` maps (a single ``(H, W)`` map is treated as N = 1).
        b: maps of the same shape as ``a``.
        data_range: ``R``, the value range of the maps (1 for maps in [0, 1]).
        win_size: odd side of the window. ``None`` picks skimage's default: 7, or
            ``2 * int(3.5 * sigma + 0.5) + 1`` (11 for sigma 1.5) with Gaussian weights.
            With Gaussian weights the window size only sets the border that is left out
            and ``NP``; the filter itself is the truncated Gaussian (as in skimage).
        gaussian_weights: Gaussian instead of uniform window.
        sigma: standard deviation of the Gaussian window.
        use_sample_covariance: scale (co)variances by ``NP / (NP - 1)``.
        K1: constant of the luminance term.
        K2: constant of the contrast-structure term.

    Returns:
        ``(N,)`` float64 SSIM values in [-1, 1].
    """
    a = _as_map_stack(a, "a")
    b = _as_map_stack(b, "b")
    if a.shape != b.shape:
        raise EdgepruneError(f"SSIM needs maps of equal shape; got {a.shape} and {b.shape}")
    if K1 < 0 or K2 < 0:
        raise EdgepruneError(f"K1 and K2 must be non-negative; got {K1}, {K2}")
    if sigma <= 0:  # a Gaussian window of width 0 compares single pixels
        raise EdgepruneError(f"sigma must be positive; got {sigma}")
    if data_range <= 0:
        raise EdgepruneError(f"data_range must be positive; got {data_range}")
    if win_size is None:
        win_size = gaussian_window_size(sigma) if gaussian_weights else 7
    if win_size % 2 != 1 or win_size < 3:  # a 1x1 window has no variance to compare
        raise EdgepruneError(f"SSIM window size must be an odd number >= 3; got {win_size}")
    if min(a.shape[1:]) < win_size:
        raise EdgepruneError(
            f"SSIM window {win_size} exceeds the map size {a.shape[1:]}; pass a smaller odd "
            "win_size"
        )

    if gaussian_weights:

        def local_mean(x: np.ndarray) -> np.ndarray:
            # sigma 0 along the batch axis: no mixing between maps
            return gaussian_filter(
                x, sigma=(0.0, sigma, sigma), truncate=GAUSSIAN_TRUNCATE, mode="reflect"
            )

    else:

        def local_mean(x: np.ndarray) -> np.ndarray:
            return uniform_filter(x, size=(1, win_size, win_size))

    n_points = win_size**2
    cov_norm = n_points / (n_points - 1) if use_sample_covariance else 1.0
    mean_a, mean_b = local_mean(a), local_mean(b)
    var_a = cov_norm * (local_mean(a * a) - mean_a * mean_a)
    var_b = cov_norm * (local_mean(b * b) - mean_b * mean_b)
    cov_ab = cov_norm * (local_mean(a * b) - mean_a * mean_b)

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    numerator = (2 * mean_a * mean_b + c1) * (2 * cov_ab + c2)
    denominator = (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    ssim_map = numerator / denominator

    pad = (win_size - 1) // 2
    height, width = a.shape[1:]
    cropped = ssim_map[:, pad : height - pad, pad : width - pad]
    return cropped.mean(axis=(1, 2), dtype=np.float64)
