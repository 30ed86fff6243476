"""Fidelity of an artifact to its PyTorch model (Polygraphy's rule |a - r| <= atol + rtol |r|)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.metrics import expected_calibration_error, softmax
from edgeprune.metrics.fidelity import fidelity


def test_figures_by_hand():
    ref = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    art = ref + np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -1e-5], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    report = fidelity(ref, art, atol=1e-4, rtol=1e-3)
    assert report["n"] == 4
    assert report["top1_agreement"] == 0.75  # image 2 now prefers class 1
    assert report["max_abs_logit_diff"] == 2.0
    assert report["mean_abs_logit_diff"] == pytest.approx((2.0 + 1e-5) / 12)
    assert report["fraction_within_tolerance"] == 11 / 12
    assert (report["atol"], report["rtol"]) == (1e-4, 1e-3)


def test_the_tolerance_is_absolute_plus_relative_and_inclusive():
    ref = np.array([[100.0, 0.0]])
    # 100 * 1e-3 + 1e-4 = 0.1001: a difference of 0.1 is within, 0.1002 is not
    assert fidelity(ref, ref + [[0.1, 0.0]])["fraction_within_tolerance"] == 1.0
    assert fidelity(ref, ref + [[0.1002, 0.0]])["fraction_within_tolerance"] == 0.5
    assert fidelity(ref, ref - [[0.1002, 0.0]])["fraction_within_tolerance"] == 0.5
    exact = np.array([[0.5, 0.25]])
    edge = fidelity(exact, exact + [[0.0, 0.25]], atol=0.25, rtol=0.0)  # exactly atol: within
    assert edge["fraction_within_tolerance"] == 1.0


def test_the_default_tolerances_are_polygraphys():
    report = fidelity(np.zeros((1, 2)), np.zeros((1, 2)))
    assert (report["atol"], report["rtol"]) == (1e-4, 1e-3)
    assert fidelity(np.ones((1, 1)), np.ones((1, 1)) + 1.05e-3)["fraction_within_tolerance"] == 1.0
    assert fidelity(np.ones((1, 1)), np.ones((1, 1)) + 1.2e-3)["fraction_within_tolerance"] == 0.0


def test_ece_difference_is_artifact_minus_reference():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 2, (300, 4))
    art = ref * 1.5  # sharper: a different ECE
    labels = rng.integers(0, 4, 300)
    report = fidelity(ref, art, labels)
    expected = expected_calibration_error(softmax(art), labels) - expected_calibration_error(
        softmax(ref), labels
    )
    assert report["ece_difference"] == pytest.approx(expected) and expected != 0
    assert "ece_difference" not in fidelity(ref, art)


def test_empty_outputs_and_mismatched_shapes():
    empty = fidelity(np.zeros((0, 3)), np.zeros((0, 3)))
    assert empty["max_abs_logit_diff"] == 0.0 and empty["mean_abs_logit_diff"] == 0.0
    assert empty["fraction_within_tolerance"] == 1.0 and empty["n"] == 0
    with pytest.raises(ValueError, match="logit shapes differ"):
        fidelity(np.zeros((2, 3)), np.zeros((2, 4)))
