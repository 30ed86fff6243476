"""Calibration metrics against docs/metrics.md's check vector and torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchmetrics.functional.classification as tmf

import edgeprune.metrics.calibration as calibration
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


@pytest.mark.parametrize(
    "norm, ours", [("l1", expected_calibration_error), ("l2", rms_calibration_error)]
)
def test_agrees_with_torchmetrics_float32_within_its_rounding(norm, ours):
    """torchmetrics computes in float32 (the dtype a model's probabilities usually have);
    its per-bin sums then carry float32 rounding that grows like sqrt(N) ulps. Measured on
    ResNet-20's CIFAR-10 test predictions: ECE 5.8e-6 apart. The tolerance is 8 float32 ulps
    times sqrt(N): 9.5e-5 at N = 10,000, where edgeprune's own float64 error is ~1e-15."""
    logits, labels = _logits(3, n=10_000, scale=1.0)
    probs = softmax(logits)
    probs32 = torch.tensor(probs, dtype=torch.float32)
    assert not bool((probs32.max(dim=1).values == 1).any())  # no confidence rounds to 1.0
    reference = tmf.multiclass_calibration_error(
        probs32, torch.tensor(labels), num_classes=10, n_bins=15, norm=norm
    )
    tolerance = 8 * np.finfo(np.float32).eps * np.sqrt(len(labels))
    assert abs(ours(probs, labels, 15) - float(reference)) <= tolerance


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


# ------------------------------------------------ what mutation testing found unpinned


def test_the_default_is_fifteen_bins_as_documented():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4) * 0.4, size=500)
    labels = rng.integers(0, 4, 500)
    assert calibration.DEFAULT_BINS == 15  # docs/metrics.md: M = 15
    assert calibration.expected_calibration_error(probs, labels) == (
        calibration.expected_calibration_error(probs, labels, 15)
    )
    assert calibration.expected_calibration_error(probs, labels, 15) != (
        calibration.expected_calibration_error(probs, labels, 16)
    )
    assert len(calibration.reliability_diagram(probs, labels)["counts"]) == 15


@pytest.mark.parametrize("scheme", ["uniform", "adaptive"])
def test_bin_edges_bound_the_confidences_each_bin_holds(scheme):
    """The edges a reliability diagram draws are the ones the samples were binned by."""
    rng = np.random.default_rng(4)
    confidences = rng.uniform(0.3, 1.0, 400)
    correct = (rng.uniform(size=400) < confidences).astype(float)
    bins = calibration.calibration_bins(confidences, correct, 10, scheme)
    assert len(bins.edges) == 11 and bins.counts.sum() == 400
    if scheme == "uniform":
        np.testing.assert_allclose(bins.edges, np.arange(11) / 10)
        np.testing.assert_array_equal(np.histogram(confidences, bins.edges)[0], bins.counts)
    else:
        assert bins.edges[0] == confidences.min() and bins.edges[-1] == confidences.max()
    for m in np.flatnonzero(bins.counts):  # a bin's mean confidence lies between its edges
        assert bins.edges[m] <= bins.confidence[m] <= bins.edges[m + 1]


def test_the_reliability_diagram_draws_the_ece_bins():
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(3), size=300)
    labels = rng.integers(0, 3, 300)
    diagram = calibration.reliability_diagram(probs, labels, 12)
    np.testing.assert_allclose(diagram["edges"], np.linspace(0, 1, 13))
    counts = np.histogram(probs.max(axis=1), diagram["edges"])[0]
    np.testing.assert_array_equal(counts, diagram["counts"])


def test_no_samples_give_zero_errors_and_zero_weights():
    empty = np.zeros((0, 3))
    labels = np.zeros(0, dtype=int)
    assert calibration.maximum_calibration_error(empty, labels) == 0.0
    assert calibration.expected_calibration_error(empty, labels) == 0.0
    bins = calibration.calibration_bins(np.zeros(0), np.zeros(0), 5)
    np.testing.assert_array_equal(bins.weights, np.zeros(5))


def test_classwise_ece_by_hand():
    """Kull et al.: per class k, bins over p_ik whose "accuracy" is the fraction labelled k.
    Sample 0 is labelled 0, sample 1 is labelled 1; every probability sits alone in its bin
    except the two 0.10 of class 2."""
    probs = np.array([[0.72, 0.18, 0.10], [0.57, 0.33, 0.10]])
    labels = np.array([0, 1])
    class0 = 0.5 * abs(1 - 0.72) + 0.5 * abs(0 - 0.57)
    class1 = 0.5 * abs(0 - 0.18) + 0.5 * abs(1 - 0.33)
    class2 = abs(0 - 0.10)  # both in one bin, neither labelled 2
    expected = (class0 + class1 + class2) / 3
    assert calibration.classwise_calibration_error(probs, labels, 10) == pytest.approx(expected)


def test_calibration_bins_are_immutable_records():
    import dataclasses

    bins = calibration.calibration_bins(np.array([0.5]), np.array([1.0]), 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bins.scheme = "adaptive"
