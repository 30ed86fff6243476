"""Confidence intervals of accuracy, ECE and mPC, and of their changes against the baseline.

One test image is 0.28 points on the 360-image demo and 2.8 points on a 36-image set: a
figure without its interval cannot be signed. Accuracy gets the exact (Clopper-Pearson)
binomial interval. ECE, mPC and every change against the baseline get percentile bootstrap
intervals over the test images (Efron & Tibshirani 1993, ch. 13).

The resamples are a fixed function of the number of images (``RESAMPLES`` multinomial
draws from ``SEED``), so every entry of a run that scores the same images is resampled
with the same draws: a change against the baseline is the percentile interval of the
per-resample differences, a paired bootstrap, far narrower than two separate intervals
would suggest when both models get the same images right. Each resample is a vector of
counts (how often each image was drawn), so a statistic is a matrix product, not a loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
_CHUNK = 100  # resamples per matrix product: bounds the count matrix to 100 x N


def binomial_interval(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact two-sided (Clopper-Pearson) interval of a proportion of ``correct`` in ``n``."""
    from scipy.stats import beta

    if n <= 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low = 0.0 if correct == 0 else float(beta.ppf(tail, correct, n - correct + 1))
    high = 1.0 if correct == n else float(beta.ppf(1 - tail, correct + 1, n - correct))
    return low, high


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> Iterator[np.ndarray]:
    """The bootstrap's draws over ``n`` images, ``_CHUNK`` resamples at a time: rows of
    counts summing to ``n``. The same ``n`` always gives the same draws."""
    rng = np.random.default_rng([seed, n])
    done = 0
    while done < resamples:
        size = min(_CHUNK, resamples - done)
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        done += size


def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    finite = replicates[np.isfinite(replicates)]
    if not finite.size:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def ece_terms(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> np.ndarray:
    """(N, bins): image i's (correct - confidence) in the column of its equal-width bin. The
    ECE of a resample with counts w is sum over bins |w @ terms| / N, the same binning as
    ``expected_calibration_error`` (the top bin closed)."""
    from edgeprune.metrics.calibration import _uniform_bin_index

    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    terms = np.zeros((len(probs), n_bins))
    terms[np.arange(len(probs)), _uniform_bin_index(confidence, n_bins)] = correct - confidence
    return terms


def resampled_mean(values: np.ndarray) -> np.ndarray:
    """(RESAMPLES,): the mean of ``values`` over each resample of its rows; a (N, S) matrix
    (one column per corrupted split, rows the same images) is averaged over its columns
    too, so the S splits are resampled jointly, as the images they share."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    means = [counts @ values / n for counts in resample_counts(n)]
    out = np.concatenate(means)
    return out.mean(axis=1) if out.ndim == 2 else out


def resampled_ece(terms: np.ndarray) -> np.ndarray:
    """(RESAMPLES,): the ECE of each resample, from :func:`ece_terms`."""
    n = len(terms)
    return np.concatenate([np.abs(counts @ terms).sum(axis=1) / n for counts in resample_counts(n)])


def change_interval(
    minuend: np.ndarray | None, subtrahend: np.ndarray | None, scale: float = 1.0
) -> list[float] | None:
    """Interval of ``scale * (minuend - subtrahend)``, resample by resample: both must come
    from the same images (entries of one run, scored on one bundle). None when either side
    has no replicates."""
    if minuend is None or subtrahend is None:
        return None
    return list(percentile_interval(scale * (np.asarray(minuend) - np.asarray(subtrahend))))
