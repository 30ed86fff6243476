from __future__ import annotations

import numpy as np
import pytest

from edgeprune.data.corruptions import BENCHMARK as DATA_BENCHMARK
from edgeprune.data.corruptions import HELD_OUT as DATA_HELD_OUT
from edgeprune.metrics.corruption import (
    BENCHMARK,
    HELD_OUT,
    corruption_summary,
    split_name,
)

SEVERITIES = (1, 2, 3, 4, 5)  # CIFAR-10-C's, written out: the module's own must agree


def _per_split(accuracy_of, ece=0.05):
    return {
        split_name(c, s): {"accuracy": accuracy_of(c, s), "ece": ece * s}
        for c in BENCHMARK + HELD_OUT
        for s in SEVERITIES
    }


def test_names_agree_with_the_corruption_suite():
    assert BENCHMARK == DATA_BENCHMARK and HELD_OUT == DATA_HELD_OUT


def test_mpc_rpc_and_per_severity():
    per_split = _per_split(lambda c, s: 0.9 - 0.1 * s)
    summary = corruption_summary(per_split, clean_accuracy=0.9)
    assert summary["mPC"] == pytest.approx(np.mean([0.9 - 0.1 * s for s in SEVERITIES]))
    assert summary["rPC"] == pytest.approx(summary["mPC"] / 0.9)
    assert summary["per_severity"]["3"] == {
        "accuracy": pytest.approx(0.6),
        "ece": pytest.approx(0.15),
    }
    assert summary["complete"] and "mCE" not in summary


def test_held_out_corruptions_never_enter_mpc():
    per_split = _per_split(lambda c, s: 0.0 if c in HELD_OUT else 0.5)
    summary = corruption_summary(per_split, clean_accuracy=0.9)
    assert summary["mPC"] == pytest.approx(0.5)
    assert summary["held_out"] == {c: 0.0 for c in HELD_OUT}


def test_mce_against_the_reference_model():
    reference = _per_split(lambda c, s: 0.8)  # error 0.2 everywhere, clean error 0.1
    worse = _per_split(lambda c, s: 0.6)  # error 0.4 everywhere, clean error 0.1
    assert corruption_summary(reference, 0.9, reference, 0.9)["mCE"] == pytest.approx(1.0)
    summary = corruption_summary(worse, 0.9, reference, 0.9)
    assert summary["mCE"] == pytest.approx(2.0)
    # relative: (0.4 - 0.1) / (0.2 - 0.1) = 3
    assert summary["relative_mCE"] == pytest.approx(3.0)
    assert summary["mean_corruption_error"] == pytest.approx(0.4)


def test_incomplete_sets_are_reported_not_averaged():
    per_split = {split_name("fog", s): {"accuracy": 0.5} for s in SEVERITIES}
    summary = corruption_summary(per_split, 0.9)
    assert summary["corruptions"] == ["fog"] and not summary["complete"]


def test_errors_of_a_perfect_reference_and_a_zero_accuracy_are_undefined_not_zero():
    """CE divides by the reference's errors and rPC by the clean accuracy: where those are
    zero the figure is NaN, never a division by zero or a silent 0."""
    perfect = _per_split(lambda c, s: 1.0)
    summary = corruption_summary(_per_split(lambda c, s: 0.5), 1.0, perfect, 1.0)
    assert np.isnan(summary["mCE"]) and np.isnan(summary["relative_mCE"])
    assert np.isnan(corruption_summary(_per_split(lambda c, s: 0.0), 0.0)["rPC"])


def test_ce_is_the_ratio_of_summed_errors():
    reference = _per_split(lambda c, s: 1.0 - 0.1 * s)  # errors 0.1 .. 0.5, sum 1.5
    model = _per_split(lambda c, s: 1.0 - 0.05 * s)  # errors 0.05 .. 0.25, sum 0.75
    summary = corruption_summary(model, 0.95, reference, 0.95)
    assert summary["ce"]["fog"]["ce"] == pytest.approx(0.5)
    # relative: (0.75 - 5 * 0.05) / (1.5 - 5 * 0.05) = 0.5 / 1.25
    assert summary["ce"]["fog"]["relative_ce"] == pytest.approx(0.4)


def test_mce_needs_both_the_reference_and_its_clean_accuracy():
    reference = _per_split(lambda c, s: 0.8)
    assert "mCE" not in corruption_summary(reference, 0.9, reference, None)
    assert "mCE" not in corruption_summary(reference, 0.9, None, 0.9)
