"""One entry of a run (the baseline, a candidate, or a precision variant) as a typed record.

An entry is built by the measurement path (``edgeprune.measure``), cached as its folder's
``metrics.json``, assembled into ``results.json`` with its deltas and target estimate, and
read back by selection, report, CSV and CLI, always through these classes. What the task
measures (accuracy, calibration, corruption robustness for classification) is the task's
own typed ``quality``; everything here is the same for every task.

Latency keeps its batches apart from its metadata: ``entry.latency.at(1).p50_ms``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def known_and_rest(cls: type, data: dict) -> tuple[dict, dict]:
    """Split ``data`` into the keyword arguments of dataclass ``cls`` and everything else."""
    names = {f.name for f in dataclasses.fields(cls)}
    known = {k: v for k, v in data.items() if k in names}
    return known, {k: v for k, v in data.items() if k not in names}


def with_details(cls: type, data: dict):
    """``cls`` from its own fields in ``data``; every other key goes to its ``details``."""
    known, rest = known_and_rest(cls, data)
    known.pop("details", None)
    return cls(**known, details=rest)


def flat_with_details(record) -> dict:
    """The inverse of :func:`with_details`: the record's fields and its details, flat."""
    out = {
        f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "details"
    }
    return {**out, **record.details}


# A p99 more than this many times the p50 says something else ran while the figure was
# timed (a quiet machine keeps them within tens of percent for a fixed-size model).
BUSY_SPREAD = 2.0


@dataclass(frozen=True)
class LatencyStats:
    """Timing of one batch size: percentiles, throughput and how it was measured."""

    batch_size: int
    warmup: int
    iterations: int
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    throughput_ips: float
    timer: str = ""
    # per phase where the runtime separates them (h2d_ms, compute_ms, d2h_ms), tegrastats
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        """The spread says the machine was not quiet: a p99 past BUSY_SPREAD times the p50
        (0.44 against 56 ms was reported as measured, with no word)."""
        return self.p99_ms > BUSY_SPREAD * self.p50_ms

    @property
    def load_average(self) -> dict | None:
        return self.details.get("load_average")

    @property
    def modes(self) -> dict[str, LatencyStats]:
        """The same batch timed in a runtime's throughput modes (TensorRT's enqueue-ahead and
        CUDA graph, as trtexec times), beside this serial figure; a mode this machine could
        not run is left out (its reason stays in ``details``)."""
        return {
            mode: LatencyStats.from_dict(figure)
            for mode, figure in self.details.get("modes", {}).items()
            if "unsupported" not in figure
        }

    @classmethod
    def from_dict(cls, data: dict) -> LatencyStats:
        return with_details(cls, data)

    def to_dict(self) -> dict:
        return flat_with_details(self)


@dataclass(frozen=True)
class Latency:
    """Measured latency of an artifact, per batch size, and where and how it was measured."""

    where: str  # "host" or "device"
    runtime: str
    batches: dict[int, LatencyStats]
    measured: bool = True
    representative: bool = True  # False: the figure is not what the target would see
    note: str | None = None

    def at(self, batch: int) -> LatencyStats:
        return self.batches[batch]

    @property
    def batch_sizes(self) -> list[int]:
        return sorted(self.batches)

    @property
    def throughput_batch(self) -> int:
        """The largest batch timed (batch 1 when that is the only one)."""
        return max(self.batches)

    @classmethod
    def from_dict(cls, data: dict) -> Latency:
        return cls(
            where=data["where"],
            runtime=data["runtime"],
            batches={int(k): LatencyStats.from_dict(v) for k, v in data["batches"].items()},
            measured=data.get("measured", True),
            representative=data.get("representative", True),
            note=data.get("note"),
        )

    def to_dict(self) -> dict:
        return {
            "measured": self.measured,
            "where": self.where,
            "runtime": self.runtime,
            "representative": self.representative,
            "note": self.note,
            "batches": {str(b): s.to_dict() for b, s in sorted(self.batches.items())},
        }


@dataclass(frozen=True)
class Memory:
    where: str
    peak_rss_bytes: int
    measured: bool = True
    details: dict[str, Any] = field(default_factory=dict)  # session RSS, notes

    @classmethod
    def from_dict(cls, data: dict) -> Memory:
        return with_details(cls, data)

    def to_dict(self) -> dict:
        return flat_with_details(self)


@dataclass(frozen=True)
class Size:
    params: int | None  # from the PyTorch model; None for an artifact evaluated alone
    nonzero_params: int | None
    macs: int
    flops: int
    artifact_weight_elements: int
    artifact_bytes: int
    macs_source: str = "ONNX graph at batch 1"
    nodes: int | None = None  # layers in the graph
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Size:
        known, rest = known_and_rest(cls, data)
        known.pop("details", None)
        known.setdefault("params", None)
        known.setdefault("nonzero_params", known.get("params"))
        return cls(**known, details=rest)

    def to_dict(self) -> dict:
        out = flat_with_details(self)
        if out["nodes"] is None:  # not counted (older entries)
            del out["nodes"]
        return out


@dataclass(frozen=True)
class Estimate:
    """Latency and memory on the target, **estimated** from the graph and the profile."""

    target: str
    precision: str
    latency: dict[int, dict]  # per batch: the roofline record (latency_ms, assumptions, ...)
    memory: dict

    def latency_ms(self, batch: int = 1) -> float:
        return self.latency[batch]["latency_ms"]

    @property
    def memory_bytes(self) -> int:
        return self.memory["bytes"]

    @classmethod
    def from_dict(cls, data: dict) -> Estimate:
        return cls(
            target=data["target"],
            precision=data["precision"],
            latency={int(k): v for k, v in data["latency"].items()},
            memory=data["memory"],
        )

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "precision": self.precision,
            "estimated": True,
            "latency": {str(b): v for b, v in sorted(self.latency.items())},
            "memory": self.memory,
        }


@dataclass
class Entry:
    """Everything measured about one deployed artifact, and how it came to be."""

    name: str
    method: str | None
    ratio: float
    kind: str  # unpruned, structured, unstructured, semi-structured
    precision: str
    runtime: str
    quality: Any  # the task's record (``Task.quality_type``)
    fidelity: dict | None  # the task's comparison with PyTorch; None without a model
    explanation: dict | None
    size: Size | None  # None: no ONNX graph to count (a TensorRT engine evaluated alone)
    latency: Latency
    memory: Memory
    artifact: dict
    environment: dict
    evaluation: dict | None = None
    variant_of: str | None = None
    estimate: Estimate | None = None  # set when results are assembled
    vs_baseline: dict[str, float | None] = field(default_factory=dict)  # idem
    pruning: dict | None = None
    finetune: dict | None = None
    prune_seconds: float | None = None
    evaluate_seconds: float | None = None
    recalibration: dict | None = None  # the fitted logit scaling the artifact ships with
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. ``run`` in merged results

    @property
    def is_variant(self) -> bool:
        return self.variant_of is not None

    @property
    def series(self) -> str:
        """How it is deployed beside its FP32 entry: "" or the variant suffix (``int8``)."""
        return self.name.split("@", 1)[1] if self.is_variant else ""

    def delta(self, name: str) -> float | None:
        return self.vs_baseline.get(name)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "method": self.method,
            "ratio": self.ratio,
            "kind": self.kind,
            "precision": self.precision,
            "runtime": self.runtime,
            "variant_of": self.variant_of,
            "quality": self.quality.to_dict(),
            "fidelity": self.fidelity,
            "explanation": self.explanation,
            "size": self.size.to_dict() if self.size else None,
            "latency": self.latency.to_dict(),
            "memory": self.memory.to_dict(),
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "vs_baseline": self.vs_baseline,
            "artifact": self.artifact,
            "environment": self.environment,
            "evaluation": self.evaluation,
            "pruning": self.pruning,
            "finetune": self.finetune,
            "prune_seconds": self.prune_seconds,
            "evaluate_seconds": self.evaluate_seconds,
            "recalibration": self.recalibration,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict, quality_type: type) -> Entry:
        """Read an entry written by this version (``metrics.json`` or ``results.json``)."""
        known, rest = known_and_rest(cls, data)
        known.pop("extra", None)
        estimate = known.pop("estimate", None)
        return cls(
            **{
                **known,
                "quality": quality_type.from_dict(data["quality"]),
                "size": Size.from_dict(data["size"]) if data.get("size") else None,
                "latency": Latency.from_dict(data["latency"]),
                "memory": Memory.from_dict(data["memory"]),
                "estimate": Estimate.from_dict(estimate) if estimate else None,
                "vs_baseline": current_deltas(data.get("vs_baseline") or {}),
            },
            extra=rest,
        )


def current_deltas(deltas: dict) -> dict:
    """Deltas under today's names: results written before 2026-12 stored the relative ECE
    change with the opposite sign (an improvement positive) as ``ece_change_relative_percent``;
    today's ``ece_relative_change_percent`` is positive when ECE rose, like ``ece_increase``."""
    old = deltas.get("ece_change_relative_percent", _MISSING)
    if old is _MISSING:
        return deltas
    current = {k: v for k, v in deltas.items() if k != "ece_change_relative_percent"}
    current.setdefault("ece_relative_change_percent", None if old is None else -old + 0.0)
    return current


_MISSING = object()
