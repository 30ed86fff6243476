"""Confidence intervals: the exact binomial interval, the bootstrap's resamples (shared by
every entry scoring the same images), their coverage, and the paired change interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from edgeprune.metrics import expected_calibration_error, softmax
from edgeprune.metrics import intervals as ci


def _predictions(n: int, accuracy: float, seed: int):
    """Logits whose top-1 is right with probability ``accuracy`` (labels 0..9)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10))
    right = rng.random(n) < accuracy
    logits[np.arange(n), labels] += np.where(right, 6.0, -6.0)
    return logits, labels


@pytest.mark.parametrize("correct,n", [(0, 36), (35, 36), (250, 360), (8665, 10000)])
def test_the_binomial_interval_is_the_exact_clopper_pearson_one(correct, n):
    expected = binomtest(correct, n).proportion_ci(0.95, method="exact")
    assert ci.binomial_interval(correct, n) == pytest.approx((expected.low, expected.high))


def test_one_image_in_36_is_a_wide_interval_and_one_in_360_a_narrower_one():
    low, high = ci.binomial_interval(30, 36)
    assert high - low > 0.2  # 83 % on 36 images says little
    low, high = ci.binomial_interval(300, 360)
    assert 0.05 < high - low < 0.1


def test_the_resamples_are_a_function_of_the_number_of_images():
    first = np.concatenate(list(ci.resample_counts(50)))
    again = np.concatenate(list(ci.resample_counts(50)))
    other = np.concatenate(list(ci.resample_counts(51)))
    assert first.shape == (ci.RESAMPLES, 50) and np.array_equal(first, again)
    assert (first.sum(axis=1) == 50).all() and other.shape == (ci.RESAMPLES, 51)


def test_the_resampled_ece_equals_the_ece_of_the_resampled_images():
    logits, labels = _predictions(300, 0.7, 1)
    probs = softmax(logits)
    replicates = ci.resampled_ece(ci.ece_terms(probs, labels, 15))
    counts = next(ci.resample_counts(300))
    for b in range(5):  # the resample as an explicit list of images, counts[b] times each
        index = np.repeat(np.arange(300), counts[b].astype(int))
        assert replicates[b] == pytest.approx(
            expected_calibration_error(probs[index], labels[index], 15), abs=1e-12
        )
    # and the whole sample is the ECE itself
    assert np.abs(ci.ece_terms(probs, labels, 15).sum(axis=0)).sum() / 300 == pytest.approx(
        expected_calibration_error(probs, labels, 15), abs=1e-12
    )


def test_the_bootstrap_interval_of_accuracy_covers_the_truth_about_95_percent_of_the_time():
    covered = 0
    trials = 200
    for seed in range(trials):
        correct = (np.random.default_rng(1000 + seed).random(200) < 0.8).astype(float)
        low, high = ci.percentile_interval(ci.resampled_mean(correct))
        covered += low <= 0.8 <= high
    assert 0.89 <= covered / trials <= 0.99


def test_a_matrix_of_splits_is_resampled_jointly_by_image():
    rng = np.random.default_rng(3)
    column = (rng.random(400) < 0.6).astype(float)
    same = np.stack([column] * 5, axis=1)  # five splits that agree image by image
    assert np.allclose(ci.resampled_mean(same), ci.resampled_mean(column))


def test_the_paired_change_interval_is_narrower_than_two_separate_intervals():
    rng = np.random.default_rng(4)
    base = (rng.random(360) < 0.85).astype(float)
    pruned = base.copy()
    pruned[rng.choice(360, 4, replace=False)] = 0.0  # a few images lost, the rest the same
    mine, reference = ci.resampled_mean(pruned), ci.resampled_mean(base)
    low, high = ci.change_interval(reference, mine, 100)
    separate = 100 * (ci.percentile_interval(reference)[1] - ci.percentile_interval(mine)[0])
    assert 0 <= low <= 100 * (base.mean() - pruned.mean()) <= high
    assert high - low < separate / 2
    assert ci.change_interval(mine, None) is None
