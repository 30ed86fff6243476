"""Calibration metrics against docs/metrics.md's check vector and torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchmetrics.functional.classification as tmf

from edgeprune.metrics import (
    brier_score,
    calibration_summary,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
    rms_calibration_error,
    softmax,
)

CHECK_PROBS = np.array(
    [[0.25, 0.20, 0.55], [0.55, 0.05, 0.40], [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]]
)
CHECK_LABELS = np.array([0, 1, 2, 0])


def test_check_vector_of_metrics_md():
    assert expected_calibration_error(CHECK_PROBS, CHECK_LABELS, 3) == pytest.approx(
        0.2000, abs=5e-5
    )
    assert rms_calibration_error(CHECK_PROBS, CHECK_LABELS, 3) == pytest.approx(0.2082, abs=5e-5)
    assert maximum_calibration_error(CHECK_PROBS, CHECK_LABELS, 3) == pytest.approx(
        0.2333, abs=5e-5
    )


def _logits(seed: int, n: int = 4000, classes: int = 10, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) * scale
    logits[np.arange(n), labels] += rng.normal(1.5, 1.0, n)  # some signal, some errors
    return logits, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "norm, ours",
    [
        ("l1", expected_calibration_error),
        ("l2", rms_calibration_error),
        ("max", maximum_calibration_error),
    ],
)
def test_agrees_with_torchmetrics(seed, norm, ours):
    logits, labels = _logits(seed)
    reference = tmf.multiclass_calibration_error(
        torch.tensor(logits), torch.tensor(labels), num_classes=10, n_bins=15, norm=norm
    )
    assert ours(softmax(logits), labels, 15) == pytest.approx(float(reference), abs=1e-6)


def test_confidence_of_exactly_one_is_binned_like_torchmetrics():
    # float64 softmax of these logits is exactly 1.0 for the first rows.
    logits = np.array([[800.0, 0.0], [800.0, 0.0], [0.3, 0.0], [0.0, 2.0]])
    labels = np.array([0, 1, 0, 1])
    reference = tmf.multiclass_calibration_error(
        torch.tensor(logits), torch.tensor(labels), num_classes=2, n_bins=15
    )
    assert expected_calibration_error(softmax(logits), labels) == pytest.approx(
        float(reference), abs=1e-6
    )


def _three_class(confidences, correct):
    """Three-class probabilities with the given top-1 confidences (>= 0.5; class 0 predicted).
    Three classes, not two: netcal reads a two-column input as a binary problem."""
    confidences = np.asarray(confidences, dtype=np.float64)
    rest = (1.0 - confidences) / 2
    probs = np.stack([confidences, rest, rest], axis=1)
    correct = np.asarray(correct, dtype=bool)
    wrong = 1 + np.cumsum(~correct) % 2  # wrong ones alternate 1, 2: netcal sees 3 classes
    return probs, np.where(correct, 0, wrong)


def test_a_confidence_of_exactly_one_closes_the_top_bin_as_netcal_bins():
    """1.0 shares the top bin with 0.95 (Guo et al.; numpy histograms; netcal), so ECE is
    continuous at 1.0. torchmetrics gives 1.0 a bin of its own and differs here; that is
    its binning, not float32."""
    netcal = pytest.importorskip("netcal.metrics", reason="netcal is a test dependency")
    probs, labels = _three_class([1.0, 1.0, 0.95, 0.95, 0.7, 0.6], [1, 0, 1, 1, 0, 0])
    ours = expected_calibration_error(probs, labels, 15)
    assert ours == pytest.approx(netcal.ECE(bins=15).measure(probs, labels), abs=1e-12)
    nudged = expected_calibration_error(
        *_three_class([1 - 2**-53, 1 - 2**-53, 0.95, 0.95, 0.7, 0.6], [1, 0, 1, 1, 0, 0]), 15
    )
    assert ours == pytest.approx(nudged, abs=1e-12)  # one ulp below 1.0: the same bin
    torchmetrics = tmf.multiclass_calibration_error(
        torch.tensor(probs), torch.tensor(labels), num_classes=3, n_bins=15
    )
    assert abs(float(torchmetrics) - ours) > 0.01


@pytest.mark.parametrize("bins", [5, 10, 15])
def test_a_confidence_on_a_bin_edge_opens_the_bin_above_it(bins):
    """[m/M, (m+1)/M): a confidence equal to an edge belongs to the upper bin, as in
    netcal (numpy's histograms) and torchmetrics; bin assignment at edges moves ECE."""
    netcal = pytest.importorskip("netcal.metrics", reason="netcal is a test dependency")
    edges = np.linspace(0.0, 1.0, bins + 1)
    on_edges = edges[(edges >= 0.5) & (edges < 1.0)]
    confidences = np.concatenate([on_edges, on_edges + 0.01])
    correct = np.tile([1, 0], len(confidences))[: len(confidences)]
    probs, labels = _three_class(confidences, correct)
    ours = expected_calibration_error(probs, labels, bins)
    assert ours == pytest.approx(netcal.ECE(bins=bins).measure(probs, labels), abs=1e-12)
    reference = tmf.multiclass_calibration_error(
        torch.tensor(probs), torch.tensor(labels), num_classes=3, n_bins=bins
    )
    assert ours == pytest.approx(float(reference), abs=1e-6)


def test_nll_matches_torch_cross_entropy_even_for_extreme_logits():
    logits, labels = _logits(3, n=500, scale=40.0)
    reference = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels))
    assert negative_log_likelihood(logits, labels) == pytest.approx(float(reference), rel=1e-9)
    assert np.isfinite(negative_log_likelihood(logits, labels))


def test_brier_score_bounds_and_values():
    assert brier_score(np.eye(3), np.arange(3)) == 0.0
    assert brier_score(np.eye(3), np.array([1, 2, 0])) == pytest.approx(2.0)
    assert brier_score(CHECK_PROBS, CHECK_LABELS) == pytest.approx(
        np.mean(
            [
                0.75**2 + 0.2**2 + 0.55**2,
                0.55**2 + 0.95**2 + 0.4**2,
                0.1**2 + 0.3**2 + 0.4**2,
                0.1**2 + 0.05**2 + 0.05**2,
            ]
        )
    )


def test_reliability_diagram_counts_every_sample_once():
    logits, labels = _logits(4)
    diagram = reliability_diagram(softmax(logits), labels, 15)
    assert diagram["counts"].sum() == len(labels)
    filled = diagram["counts"] > 0
    weights = diagram["counts"][filled] / len(labels)
    ece = np.sum(weights * np.abs(diagram["accuracy"][filled] - diagram["confidence"][filled]))
    assert ece == pytest.approx(expected_calibration_error(softmax(logits), labels), abs=1e-12)


def test_summary_records_settings_next_to_values():
    logits, labels = _logits(5)
    summary = calibration_summary(logits, labels, 10)
    assert summary["settings"]["n_bins"] == 10
    assert set(summary) >= {"ece", "mce", "rmsce", "adaptive_ece", "classwise_ece", "nll", "brier"}
