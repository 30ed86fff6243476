"""Latency measurement: warm-up, timed iterations, percentiles and throughput.

Each figure records how it was measured (batch size, warm-up, iterations), as trtexec does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from edgeprune.targets.runners.base import Runner

PERCENTILES = (50, 90, 95, 99)


def summarize_times(times_ms: Sequence[float], batch_size: int) -> dict[str, float]:
    t = np.asarray(times_ms, dtype=np.float64)
    stats = {
        "mean_ms": float(t.mean()),
        "std_ms": float(t.std(ddof=1)) if len(t) > 1 else 0.0,
        "min_ms": float(t.min()),
        "max_ms": float(t.max()),
    }
    for q in PERCENTILES:
        stats[f"p{q}_ms"] = float(np.percentile(t, q))
    # Throughput from the median, which a stray scheduler hiccup does not move.
    stats["throughput_ips"] = batch_size * 1e3 / stats["p50_ms"]
    return stats


def measure_latency(
    runner: Runner,
    batch: np.ndarray,
    warmup: int,
    iterations: int,
    max_seconds: float,
    outputs: Sequence[str] | None = None,
) -> dict[str, object]:
    """Time ``runner`` on one preprocessed batch.

    Runs ``warmup`` untimed inferences, then timed ones until ``iterations`` are done or
    ``max_seconds`` have passed (at least 10 timed iterations either way).
    """
    feeds = {runner.input_names[0]: batch}
    for _ in range(warmup):
        runner.infer(feeds, outputs)
    runner.timings.clear()
    deadline = time.perf_counter() + max_seconds
    while len(runner.timings) < iterations and (
        len(runner.timings) < 10 or time.perf_counter() < deadline
    ):
        runner.infer(feeds, outputs)
    records = list(runner.timings)
    runner.timings.clear()
    result: dict[str, object] = {
        "batch_size": int(len(batch)),
        "warmup": warmup,
        "iterations": len(records),
        "timer": "perf_counter around infer()",
    }
    result.update(summarize_times([r["total_ms"] for r in records], len(batch)))
    for component in ("h2d_ms", "compute_ms", "d2h_ms"):
        if records and component in records[0]:
            result[component] = summarize_times([r[component] for r in records], len(batch))
    return result
