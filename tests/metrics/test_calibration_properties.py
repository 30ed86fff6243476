"""Calibration metrics: netcal agreement where it has the metric, and properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgeprune.metrics import (
    adaptive_calibration_error,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    rms_calibration_error,
    softmax,
)


def _sample(seed: int, n: int, classes: int, scale: float):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) * scale
    logits[np.arange(n), labels] += rng.normal(1.0, 1.0, n)
    return logits, labels


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_netcal_ece_and_mce(seed):
    netcal = pytest.importorskip("netcal.metrics", reason="netcal is a test dependency")
    logits, labels = _sample(seed, 3000, 10, 2.0)
    probs = softmax(logits)
    assert expected_calibration_error(probs, labels, 15) == pytest.approx(
        netcal.ECE(bins=15).measure(probs, labels), abs=1e-12
    )
    assert maximum_calibration_error(probs, labels, 15) == pytest.approx(
        netcal.MCE(bins=15).measure(probs, labels), abs=1e-12
    )


logit_sets = st.tuples(
    st.integers(0, 2**31 - 1), st.integers(2, 300), st.integers(2, 12), st.floats(0.01, 20.0)
)


# derandomize: the same examples on every run, so CI is deterministic; the properties hold
# for all inputs, so a fixed sample of them loses nothing but luck.
@settings(max_examples=60, deadline=None, derandomize=True)
@given(logit_sets, st.integers(2, 30))
def test_bounds_and_ordering(sample, n_bins):
    logits, labels = _sample(*sample)
    probs = softmax(logits)
    ece = expected_calibration_error(probs, labels, n_bins)
    rmsce = rms_calibration_error(probs, labels, n_bins)
    mce = maximum_calibration_error(probs, labels, n_bins)
    # power-mean inequality over the bin gaps: weighted L1 <= weighted L2 <= max
    assert 0.0 <= ece <= rmsce + 1e-12 <= mce + 2e-12 <= 1.0 + 2e-12
    assert 0.0 <= adaptive_calibration_error(probs, labels, n_bins) <= 1.0
    assert 0.0 <= classwise_calibration_error(probs, labels, n_bins) <= 1.0
    assert 0.0 <= brier_score(probs, labels) <= 2.0
    assert negative_log_likelihood(logits, labels) >= 0.0


@settings(max_examples=40, deadline=None, derandomize=True)
@given(logit_sets, st.integers(0, 2**31 - 1))
# Found by hypothesis (seed 6): reordering the classes makes one softmax confidence exactly
# 1.0 in float64 and 1 - 2^-53 in the other order. With 1.0 in a bin of its own, as
# torchmetrics bins, ECE moved from 0.696 to 0.727; with the closed top bin it cannot.
@example(sample=(197376287, 265, 3, 19.75), seed=1)
def test_invariant_to_sample_and_class_order(sample, seed):
    logits, labels = _sample(*sample)
    rng = np.random.default_rng(seed)
    rows, cols = rng.permutation(len(labels)), rng.permutation(logits.shape[1])
    inverse = np.argsort(cols)
    shuffled_logits, shuffled_labels = logits[rows][:, cols], inverse[labels[rows]]
    for metric in (
        expected_calibration_error,
        maximum_calibration_error,
        adaptive_calibration_error,
        classwise_calibration_error,
    ):
        a, b = metric(softmax(logits), labels), metric(softmax(shuffled_logits), shuffled_labels)
        assert a == pytest.approx(b, abs=1e-12), metric.__name__
    assert negative_log_likelihood(logits, labels) == pytest.approx(
        negative_log_likelihood(shuffled_logits, shuffled_labels)
    )


@pytest.mark.parametrize("n, bound", [(2_000, 0.06), (200_000, 0.006)])
def test_perfectly_calibrated_source_converges_to_zero(n, bound):
    """Predictions correct with probability equal to their confidence: ECE -> 0 as N grows."""
    rng = np.random.default_rng(0)
    classes = 10
    confidence = rng.uniform(1.0 / classes, 1.0, n)
    predicted = rng.integers(0, classes, n)
    correct = rng.random(n) < confidence
    other = (predicted + rng.integers(1, classes, n)) % classes
    labels = np.where(correct, predicted, other)
    probs = np.tile(((1 - confidence) / (classes - 1))[:, None], (1, classes))
    probs[np.arange(n), predicted] = confidence
    assert expected_calibration_error(probs, labels, 15) < bound
    assert adaptive_calibration_error(probs, labels, 15) < bound
