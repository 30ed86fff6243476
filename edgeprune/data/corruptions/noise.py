"""Noise corruptions: gaussian_noise, shot_noise, impulse_noise and speckle_noise.

All four draw independent noise for every pixel and channel, in [0, 1] units, exactly as
the generator describes them; only the way the random numbers are drawn is batched.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

from edgeprune.data.corruptions.filters import to_unit, unit_to_uint8
from edgeprune.data.corruptions.params import severity_params

_GUIDE_BINS = 1024  # guide-table resolution for the Poisson inverse transform


def gaussian_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of standard deviation c: x + N(0, c^2)."""
    scale = severity_params("gaussian_noise", severity, *images.shape[1:3])
    x = to_unit(images)
    return unit_to_uint8(x + rng.normal(scale=scale, size=x.shape))


def speckle_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative Gaussian noise: x + x * N(0, c^2)."""
    scale = severity_params("speckle_noise", severity, *images.shape[1:3])
    x = to_unit(images)
    return unit_to_uint8(x + x * rng.normal(scale=scale, size=x.shape))


def impulse_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise: a fraction c of values becomes 0 or 1 with equal odds.

    Same distribution as ``skimage.util.random_noise(mode="s&p", amount=c)``: every value
    is replaced independently with probability c, then is salt or pepper with probability
    1/2. One uniform draw decides both (u < c/2 salt, c/2 <= u < c pepper).
    """
    amount = severity_params("impulse_noise", severity, *images.shape[1:3])
    x = to_unit(images)
    draw = rng.random(x.shape)
    x = np.where(draw < amount, (draw < amount / 2).astype(x.dtype), x)
    return unit_to_uint8(x)


def shot_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Poisson (photon) noise: Poisson(x * c) / c.

    ``rng.poisson`` on an array of rates sets its sampler up again for every element, so
    the draws are made by inverse transform instead: the input has only 256 levels, so the
    Poisson CDF of each level's rate is tabulated once (float64) and every value is found
    from one uniform number with a guide table and a short bisection. The distribution is
    the Poisson one up to float64 rounding of the CDF; on 32x32 batches this is 1-3x
    faster than ``rng.poisson``.
    """
    rate_scale = severity_params("shot_noise", severity, *images.shape[1:3])
    counts = _poisson_by_level(images, float(rate_scale), rng)
    return unit_to_uint8(counts / rate_scale)


@lru_cache(maxsize=16)
def _poisson_tables(rate_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """CDF (256, K) of Poisson((v / 255) * rate_scale) and its guide table (256, bins + 1)."""
    rates = (np.arange(256) / 255.0) * rate_scale
    support = int(rate_scale + 12 * np.sqrt(rate_scale) + 30)
    # P(X <= k) = Q(k + 1, rate), the regularised upper incomplete gamma function
    cdf = special.gammaincc(np.arange(1, support + 1)[None, :], rates[:, None])
    cdf[:, -1] = 1.0  # the tail beyond ~12 standard deviations is far below float64 resolution
    # guide[v, j] is the smallest k with cdf[v, k] > j / bins, so a uniform u in bin j
    # has its answer in [guide[v, j], guide[v, j + 1]]
    thresholds = np.arange(_GUIDE_BINS + 1) / _GUIDE_BINS
    guide = np.stack([np.searchsorted(row, thresholds, side="right") for row in cdf])
    return cdf, np.minimum(guide, support - 1).astype(np.int32)


def _poisson_by_level(
    images: np.ndarray, rate_scale: float, rng: np.random.Generator
) -> np.ndarray:
    cdf, guide = _poisson_tables(rate_scale)
    cdf_flat, guide_flat = cdf.ravel(), guide.ravel()
    levels = images.reshape(-1).astype(np.intp)
    uniform = rng.random(levels.size)
    guide_index = levels * (_GUIDE_BINS + 1) + (uniform * _GUIDE_BINS).astype(np.intp)
    low = guide_flat.take(guide_index)
    high = guide_flat.take(guide_index + 1)
    row_start = levels * cdf.shape[1]
    # bisection for the smallest k in [low, high] with cdf[k] > u; most bins hold a single
    # candidate, only the extreme tails take the full ~10 halvings
    pending = np.flatnonzero(low < high)
    while pending.size:
        lo, hi = low[pending], high[pending]
        mid = (lo + hi) // 2
        above = cdf_flat.take(row_start[pending] + mid) > uniform[pending]
        low[pending] = np.where(above, lo, mid + 1)
        high[pending] = np.where(above, mid, hi)
        pending = pending[low[pending] < high[pending]]
    return low.reshape(images.shape)
