"""Hand-built results for selection tests: every figure a selector reads is set by the test."""

from __future__ import annotations

import pytest

from edgeprune.config import SelectConfig
from edgeprune.results import Entry, Estimate, Latency, LatencyStats, Memory, RunResults, Size
from edgeprune.results.run import compare_with_baseline
from edgeprune.tasks import TASKS
from edgeprune.tasks.classification import ClassificationQuality, CorruptionSummary
from edgeprune.tasks.classification.quality import Calibration

TASK = TASKS.get("classification")


def _stats(p50: float) -> LatencyStats:
    return LatencyStats(1, 1, 10, p50, 0.0, p50, p50, p50, p50, p50, p50, 1e3 / p50)


def entry(
    name: str,
    ratio: float,
    *,
    accuracy: float,
    ece: float,
    macs: int = 1000,
    mpc: float | None = None,
    rpc: float | None = None,
    hcc: float | None = None,
    pe: float | None = None,
    host_ms: float = 1.0,
    target_ms: float = 1.0,
    memory_mb: float = 10.0,
    method: str | None = "l1-filter",
    variant_of: str | None = None,
    nonzero: int | None = None,
) -> Entry:
    corruption = None
    if mpc is not None:
        corruption = CorruptionSummary(complete=True, mpc=mpc, rpc=rpc, mce=1.0)
    calibration = Calibration(ece, ece, ece, ece, ece, 0.1, 0.1)
    explanation = None if hcc is None and pe is None else {"hcc": hcc, "pe": pe}
    return Entry(
        name=name,
        method=method if ratio else None,
        ratio=ratio,
        kind="structured" if ratio else "unpruned",
        precision="fp32",
        runtime="onnxruntime",
        quality=ClassificationQuality(accuracy, 360, calibration, {}, {}, corruption),
        fidelity={"top1_agreement": 1.0, "max_abs_logit_diff": 0.0},
        explanation=explanation,
        size=Size(macs, nonzero or macs, macs, 2 * macs, macs, 4 * macs),
        latency=Latency("host", "onnxruntime", {1: _stats(host_ms)}),
        memory=Memory("host", int(memory_mb * 2**20)),
        artifact={},
        environment={},
        variant_of=variant_of,
        estimate=Estimate(
            "t", "fp16", {1: {"latency_ms": target_ms}}, {"bytes": int(memory_mb * 2**20)}
        ),
    )


def results(baseline: Entry, *candidates: Entry, host_target: bool = False) -> RunResults:
    for e in [baseline, *candidates]:  # no corruption splits: keep the hand-set summaries
        e.vs_baseline = {}
    compare_with_baseline(TASK, baseline, list(candidates), {})
    target = {
        "name": "host-cpu" if host_target else "jetson-x",
        "kind": "host" if host_target else "jetson",
    }
    return RunResults(
        task="classification",
        run_dir="r",
        config={},
        target=target,
        measured_peaks=None,
        dataset={"num_classes": 10},
        model={},
        provenance={},
        baseline=baseline,
        candidates=list(candidates),
    )


@pytest.fixture
def make():
    """(entry, results, settings) builders; settings(**limits) is a SelectConfig."""

    def settings(**values) -> SelectConfig:
        return SelectConfig(**values)

    return entry, results, settings
