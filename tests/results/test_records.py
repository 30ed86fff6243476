"""The typed records' contract: immutable, defaults that older files rely on, and the
fields their JSON form promises (docs/results-schema.md)."""

from __future__ import annotations

import dataclasses

import pytest

from edgeprune.results import Estimate, Latency, LatencyStats, Memory, Size

STATS = LatencyStats(1, 2, 10, 1.0, 0.1, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1000.0)
RECORDS = [
    STATS,
    Latency("host", "onnxruntime", {1: STATS}),
    Memory("host", 1024),
    Size(10, 8, 100, 200, 10, 40),
    Estimate(
        "jetson-orin-nano", "fp16", {1: {"latency_ms": 0.5}, 8: {"latency_ms": 2.0}}, {"bytes": 9}
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_are_immutable(record):
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_timings_without_a_measured_flag_were_measured_and_representative():
    """Files written before the flags existed held measured figures only."""
    latency = Latency.from_dict(
        {"where": "host", "runtime": "onnxruntime", "batches": {"1": STATS.to_dict()}}
    )
    assert latency.measured and latency.representative and latency.note is None
    assert Latency("device", "tensorrt", {}).measured
    assert Memory.from_dict({"where": "host", "peak_rss_bytes": 5}).measured
    assert Memory("host", 5).measured


def test_an_estimate_says_it_is_one_and_reads_batch_one_by_default():
    estimate = RECORDS[-1]
    assert estimate.to_dict()["estimated"] is True
    assert estimate.latency_ms() == 0.5 and estimate.latency_ms(8) == 2.0
    assert Estimate.from_dict(estimate.to_dict()) == estimate


def test_a_size_without_a_node_count_writes_none():
    assert "nodes" not in Size(10, 8, 100, 200, 10, 40).to_dict()
    counted = Size(10, 8, 100, 200, 10, 40, nodes=12).to_dict()
    assert counted["nodes"] == 12 and Size.from_dict(counted).nodes == 12


def test_decisions_are_immutable_and_default_to_nothing_to_confirm():
    from edgeprune.results.decision import Check, Decision, Verdict

    check = Check("accuracy drop", 0.5, 1.0, "max", True, 0.0, "measured", "")
    verdict = Verdict("a", "l1-filter", 0.5, "fp32", True, [])
    decision = Decision("constraints", {}, "largest compression", "a", "", [verdict])
    for record in (check, verdict, decision):
        field = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
    assert verdict.total_excess == 0.0 and not decision.needs_confirmation
    again = Decision.from_dict(decision.to_dict())
    assert not again.needs_confirmation and again.verdicts[0].total_excess == 0.0
