"""Calibration metrics (Guo et al. 2017; Naeini et al. 2015; Kull et al. 2019).

Pure numpy functions of class probabilities (or logits, for NLL) and integer labels.
Equal-width bins: bin m holds confidences in [m/M, (m+1)/M), and the top bin is closed,
[(M-1)/M, 1], as in Guo et al. 2017, numpy's histograms and netcal (to which edgeprune agrees
to 1e-12). torchmetrics' ``MulticlassCalibrationError`` gives a confidence of exactly 1.0 a
bin of its own (``torch.bucketize(..., right=True)``); that makes the metric jump between
1 - 2^-53 and 1.0, so that the order of the classes, which changes the softmax's last bit,
could change MCE from 0.81 to 1.00. edgeprune does not follow it there. torchmetrics also
computes in float32, where confidences above 1 - 6e-8 become exactly 1.0: on ResNet-20's
CIFAR-10 test predictions its ECE is 5.8e-6 and its RMSCE 3.0e-3 from edgeprune's float64
figures, which equal netcal's (docs/metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.metrics.classification import log_softmax, softmax

DEFAULT_BINS = 15


@dataclass(frozen=True)
class CalibrationBins:
    """Per-bin statistics of a reliability diagram; empty bins have NaN accuracy/confidence."""

    edges: np.ndarray  # (n_bins + 1,) lower edges of each bin and the top of the last
    counts: np.ndarray  # samples per bin
    accuracy: np.ndarray  # fraction correct per bin
    confidence: np.ndarray  # mean confidence per bin
    scheme: str  # "uniform" (equal width) or "adaptive" (equal mass)

    @property
    def gaps(self) -> np.ndarray:
        return np.abs(self.accuracy - self.confidence)

    @property
    def weights(self) -> np.ndarray:
        return self.counts / max(self.counts.sum(), 1)

    def as_dict(self) -> dict:
        return {
            "scheme": self.scheme,
            "edges": self.edges,
            "counts": self.counts,
            "accuracy": self.accuracy,
            "confidence": self.confidence,
        }


def _uniform_bin_index(confidences: np.ndarray, n_bins: int) -> np.ndarray:
    # [m/M, (m+1)/M): a confidence on an edge opens the bin above it; 1.0 closes the top bin.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.minimum(np.searchsorted(edges, confidences, side="right") - 1, n_bins - 1)


def _aggregate(index: np.ndarray, confidences: np.ndarray, correct: np.ndarray, size: int):
    counts = np.bincount(index, minlength=size).astype(np.float64)
    conf_sum = np.bincount(index, weights=confidences, minlength=size)
    hit_sum = np.bincount(index, weights=correct, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts, hit_sum / counts, conf_sum / counts


def calibration_bins(
    confidences: np.ndarray,
    correct: np.ndarray,
    n_bins: int = DEFAULT_BINS,
    scheme: str = "uniform",
) -> CalibrationBins:
    """Bin top-1 confidences and their correctness.

    ``uniform``: M equal-width bins over [0, 1], the top one closed. ``adaptive``: M bins
    with (nearly) equal counts after sorting by confidence.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if scheme == "uniform":
        index = _uniform_bin_index(confidences, n_bins)
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        counts, acc, conf = _aggregate(index, confidences, correct, n_bins)
        return CalibrationBins(edges, counts, acc, conf, scheme)
    if scheme == "adaptive":
        order = np.argsort(confidences, kind="stable")
        index = np.empty(len(order), dtype=np.int64)
        for m, chunk in enumerate(np.array_split(order, n_bins)):
            index[chunk] = m
        counts, acc, conf = _aggregate(index, confidences, correct, n_bins)
        sorted_conf = confidences[order]
        bounds = [c[0] for c in np.array_split(sorted_conf, n_bins) if len(c)]
        edges = np.array(bounds + [sorted_conf[-1]]) if len(sorted_conf) else np.zeros(1)
        return CalibrationBins(edges, counts, acc, conf, scheme)
    raise ValueError(f"unknown binning scheme {scheme!r}")


def _top1(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    return probs.max(axis=1), (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)


def _weighted_gap(bins: CalibrationBins, norm: str) -> float:
    nonempty = bins.counts > 0
    gaps, weights = bins.gaps[nonempty], bins.weights[nonempty]
    if norm == "l1":
        return float(np.sum(weights * gaps))
    if norm == "l2":
        return float(np.sqrt(np.sum(weights * gaps**2)))
    if norm == "max":
        return float(gaps.max()) if gaps.size else 0.0
    raise ValueError(f"unknown norm {norm!r}")


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS, norm: str = "l1"
) -> float:
    """ECE = sum_m |B_m|/N * |acc(B_m) - conf(B_m)| over equal-width bins (``norm="l1"``).

    ``norm="l2"`` gives RMSCE and ``norm="max"`` gives MCE (max gap over non-empty bins).
    """
    confidences, correct = _top1(probs, labels)
    return _weighted_gap(calibration_bins(confidences, correct, n_bins, "uniform"), norm)


def maximum_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    return expected_calibration_error(probs, labels, n_bins, norm="max")


def rms_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    return expected_calibration_error(probs, labels, n_bins, norm="l2")


def adaptive_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    """ECE over equal-mass bins (confidences sorted, split into ``n_bins`` near-equal counts)."""
    confidences, correct = _top1(probs, labels)
    return _weighted_gap(calibration_bins(confidences, correct, n_bins, "adaptive"), "l1")


def classwise_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    """Classwise ECE (Kull et al. 2019): equal-width bins over p_ik for each class k, averaged.

    In each bin the "accuracy" is the fraction of samples whose label is k.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    errors = []
    for k in range(probs.shape[1]):
        bins = calibration_bins(probs[:, k], (labels == k).astype(np.float64), n_bins, "uniform")
        errors.append(_weighted_gap(bins, "l1"))
    return float(np.mean(errors))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray) -> float:
    """NLL = -mean log p_{i, y_i}, from log-softmax of the logits (never log of a rounded p)."""
    logp = log_softmax(logits)
    return float(-np.mean(logp[np.arange(len(logp)), np.asarray(labels)]))


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over samples of sum_k (p_ik - 1[y_i = k])^2, in [0, 2]."""
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(probs)), np.asarray(labels)] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def reliability_diagram(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> dict:
    """Per-bin accuracy, confidence and count of the equal-width bins of the ECE."""
    confidences, correct = _top1(probs, labels)
    index = _uniform_bin_index(confidences, n_bins)
    counts, acc, conf = _aggregate(index, confidences, correct, n_bins)
    return {
        "n_bins": n_bins,
        "edges": np.linspace(0.0, 1.0, n_bins + 1),
        "counts": counts,
        "accuracy": acc,
        "confidence": conf,
    }


def calibration_summary(logits: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> dict:
    """Every calibration metric of one set of logits, each with its settings next to it."""
    probs = softmax(logits)
    return {
        "ece": expected_calibration_error(probs, labels, n_bins),
        "mce": maximum_calibration_error(probs, labels, n_bins),
        "rmsce": rms_calibration_error(probs, labels, n_bins),
        "adaptive_ece": adaptive_calibration_error(probs, labels, n_bins),
        "classwise_ece": classwise_calibration_error(probs, labels, n_bins),
        "nll": negative_log_likelihood(logits, labels),
        "brier": brier_score(probs, labels),
        "settings": {
            "n_bins": n_bins,
            "ece": "equal-width bins, L1, torchmetrics bin edges",
            "mce": "max gap over non-empty equal-width bins",
            "rmsce": "equal-width bins, L2",
            "adaptive_ece": "equal-mass bins, L1",
            "classwise_ece": "equal-width bins over every class probability, mean over classes",
            "softmax": "float64 on the host",
        },
    }
