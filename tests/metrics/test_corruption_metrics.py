from __future__ import annotations

import numpy as np
import pytest

from edgeprune.data.corruptions import BENCHMARK as DATA_BENCHMARK
from edgeprune.data.corruptions import HELD_OUT as DATA_HELD_OUT
from edgeprune.metrics.corruption import (
    BENCHMARK,
    HELD_OUT,
    SEVERITIES,
    corruption_summary,
    split_name,
)


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
