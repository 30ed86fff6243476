"""Latency measurement: warm-up, timed iterations, percentiles and throughput.

Each figure records how it was measured (batch size, warm-up, iterations, mode), as trtexec
does. The serial figure (``measure_latency``: one inference at a time, each waited for) is the
application's latency; a runtime that can also time trtexec's throughput modes (TensorRT:
several streams in flight, CUDA graphs) lists them in ``Runner.latency_modes`` and
``measure_modes`` times each, beside it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.targets.runners.base import Runner

PERCENTILES = (50, 90, 95, 99)
COMPONENTS = ("h2d_ms", "compute_ms", "d2h_ms", "enqueue_ms")
SERIAL_MODE = (
    "serial (application latency): one inference at a time on one stream (inputs in, run, "
    "outputs back), each waited for before the next; perf_counter around infer()"
)


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


@dataclass(frozen=True)
class TimedBatch:
    """One latency figure: the batch size it is reported at and the batch actually run."""

    reported: int  # images one call answers (the figure's batch size)
    run: int  # images fed to the artifact per call


def latency_plan(requested: Sequence[int], static_batch: int | None) -> list[TimedBatch]:
    """What to time for the requested batch sizes.

    An artifact with a static batch size N runs N images per call whatever is asked: one image
    costs a call of N (padded), and throughput is that of batch N. Its figures are reported at
    batch 1 and at N, never at a batch size it cannot run.
    """
    if not static_batch:
        return [TimedBatch(b, b) for b in requested]
    reported = sorted({1 if b == 1 else static_batch for b in requested})
    return [TimedBatch(b, static_batch) for b in reported]


def static_batch_note(static_batch: int | None) -> str | None:
    if not static_batch:
        return None
    if static_batch == 1:
        return "static batch 1: timed at batch 1 only (the artifact runs no larger batch)"
    return (
        f"static batch {static_batch}: every call runs {static_batch} images, so batch 1 is "
        f"one padded call and throughput is timed at batch {static_batch}"
    )


def measure_latency(
    runner: Runner,
    batch: np.ndarray,
    warmup: int,
    iterations: int,
    max_seconds: float,
    outputs: Sequence[str] | None = None,
    answers: int | None = None,
) -> dict[str, object]:
    """Time ``runner`` on one preprocessed batch.

    Runs ``warmup`` untimed inferences, then timed ones until ``iterations`` are done or
    ``max_seconds`` have passed (at least 10 timed iterations either way). ``answers``: the
    images one call answers when fewer than it runs (a padded static batch).
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
    images = answers or len(batch)
    result: dict[str, object] = {
        "batch_size": int(images),
        "warmup": warmup,
        "iterations": len(records),
        "timer": "perf_counter around infer()",
    }
    if images != len(batch):
        result["run_batch_size"] = int(len(batch))
    result.update(summarize_times([r["total_ms"] for r in records], images))
    for component in COMPONENTS:
        if records and component in records[0]:
            result[component] = summarize_times([r[component] for r in records], images)
    return result


def measure_modes(
    runner: Runner,
    batch: np.ndarray,
    warmup: int,
    iterations: int,
    max_seconds: float,
    outputs: Sequence[str] | None = None,
    answers: int | None = None,
) -> dict[str, dict[str, object]]:
    """Each of the runner's ``latency_modes`` on one batch, keyed by mode; a mode this machine
    cannot run (CUDA graphs through pycuda) is recorded as ``{"mode": ..., "unsupported":
    reason}`` rather than failing the evaluation."""
    feeds = {runner.input_names[0]: batch}
    figures: dict[str, dict[str, object]] = {}
    for mode in runner.latency_modes:
        try:
            figures[mode] = runner.time_mode(
                mode, feeds, list(outputs) if outputs else None, warmup, iterations,
                max_seconds, answers,
            )  # fmt: skip
        except EdgepruneError as exc:
            figures[mode] = {"mode": mode, "unsupported": str(exc)}
    return figures
