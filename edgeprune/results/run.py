"""``results.json`` as a typed record: every entry of a run, its target and provenance.

Built once by :func:`assemble` from the entries the measurement path returned (deltas to
the baseline are computed here, with the task's own deltas), written by
:meth:`RunResults.to_dict`, and read back by :func:`edgeprune.results.load_results`, which
also opens version-1 files. Selection, report, CSV and CLI read a run only through this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgeprune.results.entry import Entry

SCHEMA = "edgeprune-results/2"


@dataclass
class RunResults:
    task: str
    run_dir: str
    config: dict[str, Any]  # flat keys, as the user writes them
    target: dict  # the profile as loaded (TargetProfile.summary())
    measured_peaks: dict | None
    dataset: dict
    model: dict
    provenance: dict
    baseline: Entry
    candidates: list[Entry]
    merged_from: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def entries(self) -> list[Entry]:
        """The baseline first, then every candidate in run order."""
        return [self.baseline, *self.candidates]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def target_name(self) -> str:
        return self.target["name"]

    @property
    def target_is_host(self) -> bool:
        return self.target.get("kind") == "host"

    def measured_on_target(self, where: str) -> bool:
        """Whether a figure measured ``where`` (host / device) was measured on the target."""
        return where == "device" or (where == "host" and self.target_is_host)

    def target_latency(self, entry: Entry) -> tuple[float, str]:
        """Batch-1 latency on the run's target: measured when the artifact ran there (and the
        figure is representative), else the estimate."""
        latency = entry.latency
        if self.measured_on_target(latency.where) and latency.representative:
            return latency.at(1).p50_ms, "measured"
        return entry.estimate.latency_ms(1), "estimated"

    def target_memory_mb(self, entry: Entry) -> tuple[float, str]:
        if self.measured_on_target(entry.memory.where):
            return entry.memory.peak_rss_bytes / 2**20, "measured (peak RSS of the runner)"
        return entry.estimate.memory_bytes / 2**20, "estimated (weights + activations)"

    @property
    def estimate_precision(self) -> str:
        return self.baseline.estimate.precision

    def to_dict(self) -> dict:
        out = {
            "schema": SCHEMA,
            "task": self.task,
            "run_dir": self.run_dir,
            "config": self.config,
            "target": self.target,
            "measured_peaks": self.measured_peaks,
            "dataset": self.dataset,
            "model": self.model,
            "provenance": self.provenance,
            "baseline": self.baseline.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
        }
        if self.merged_from is not None:
            out["merged_from"] = self.merged_from
        return {**out, **self.extra}


def generic_deltas(entry: Entry, base: Entry) -> dict[str, float | None]:
    """What every task reports against the baseline: size and host speed."""

    def reduction(value: int | None, reference: int | None) -> float | None:
        return None if value is None or not reference else 1 - value / reference

    return {
        "params_reduction": reduction(entry.size.params, base.size.params),
        "macs_reduction": reduction(entry.size.macs, base.size.macs),
        "nonzero_params_reduction": reduction(entry.size.nonzero_params, base.size.nonzero_params),
        "host_speedup_batch1": base.latency.at(1).p50_ms / entry.latency.at(1).p50_ms,
    }


def compare_with_baseline(task, baseline: Entry, candidates: list[Entry], context: dict) -> None:
    """Fill every entry's ``vs_baseline`` (the task's deltas first, then the generic ones) and
    let the task summarise its quality against the baseline's (mCE needs the reference)."""
    for entry in [baseline, *candidates]:
        entry.quality = task.summarize(entry.quality, baseline.quality, context)
        entry.vs_baseline = {**task.deltas(entry, baseline), **generic_deltas(entry, baseline)}
