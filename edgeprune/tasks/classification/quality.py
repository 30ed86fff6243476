"""What image classification measures on an artifact's outputs, as typed records.

Clean-split accuracy and the calibration family, the reliability diagram, the same figures
per corrupted split, and (once the run is assembled against its baseline) the corruption
summary: mPC, rPC, mCE. Pure numpy: the metrics are ``edgeprune.metrics``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeprune.metrics import accuracy, calibration_summary, reliability_diagram, softmax
from edgeprune.metrics import intervals as ci
from edgeprune.metrics.corruption import BENCHMARK, SEVERITIES, split_name
from edgeprune.results.entry import known_and_rest
from edgeprune.targets.bundle import CLEAN, RESERVED_SPLITS, EvalBundle

LOGITS = "logits"


@dataclass(frozen=True)
class Calibration:
    ece: float
    mce: float
    rmsce: float
    adaptive_ece: float
    classwise_ece: float
    nll: float
    brier: float
    settings: dict[str, Any] = field(default_factory=dict)  # bins, binning of each figure

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        known, _ = known_and_rest(cls, data)
        return cls(**known)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CorruptionSummary:
    """mPC, rPC, mCE and the per-severity / per-corruption views (Hendrycks & Dietterich)."""

    complete: bool
    mpc: float | None = None
    rpc: float | None = None
    mce: float | None = None  # against the unpruned baseline (mCE 1.0 by definition)
    relative_mce: float | None = None
    per_severity: dict[str, dict] = field(default_factory=dict)  # "1".."5": accuracy, ece
    per_corruption_accuracy: dict[str, float] = field(default_factory=dict)
    held_out: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # source, CE per corruption, ...

    _KEYS = {"mpc": "mPC", "rpc": "rPC", "mce": "mCE", "relative_mce": "relative_mCE"}

    def ece_by_severity(self) -> list[float | None]:
        """Mean ECE over the benchmark corruptions at severities 1..5 (None: not measured)."""
        return [self.per_severity.get(str(s), {}).get("ece") for s in range(1, 6)]

    @property
    def corruptions(self) -> list[str]:
        return list(self.details.get("corruptions", []))

    @classmethod
    def from_dict(cls, data: dict) -> CorruptionSummary:
        renamed = {k: data[v] for k, v in cls._KEYS.items() if v in data}
        known, rest = known_and_rest(cls, {**data, **renamed})
        rest = {k: v for k, v in rest.items() if k not in cls._KEYS.values()}
        known.pop("details", None)
        known.setdefault("complete", False)
        return cls(**known, details=rest)

    def to_dict(self) -> dict:
        out: dict[str, Any] = dict(self.details)
        out.update({"held_out": self.held_out, "complete": self.complete})
        # mPC and rPC exist with benchmark corruptions, mCE and relative mCE with a reference
        # too; a figure that is undefined (NaN) is kept as null, not dropped.
        if self.mpc is not None or self.rpc is not None:
            out.update({"mPC": self.mpc, "rPC": self.rpc})
        if self.mce is not None or self.relative_mce is not None:
            out.update({"mCE": self.mce, "relative_mCE": self.relative_mce})
        if self.per_corruption_accuracy:
            out["per_corruption_accuracy"] = self.per_corruption_accuracy
            out["per_severity"] = self.per_severity
        return out


@dataclass(frozen=True)
class ClassificationQuality:
    accuracy: float  # top-1 on the clean test split, a fraction
    n: int
    calibration: Calibration
    reliability: dict  # equal-width bins: edges, counts, accuracy, confidence
    splits: dict[str, dict]  # "<corruption>/<severity>": accuracy, n, the calibration family
    corruption: CorruptionSummary | None = None
    # 95 % intervals of accuracy (exact binomial), ECE and mPC (bootstrap): Intervals.to_dict
    intervals: dict = field(default_factory=dict)
    # "1".."5": the reliability diagram pooled over the benchmark corruptions at that severity
    reliability_by_severity: dict[str, dict] = field(default_factory=dict)
    # With --recalibrate: the same figures of the artifact before its logits were scaled
    # (this record is then the shipped, recalibrated artifact's).
    uncalibrated: ClassificationQuality | None = None

    @property
    def before_scaling(self) -> ClassificationQuality:
        """The uncalibrated figures: these themselves when nothing was recalibrated."""
        return self.uncalibrated or self

    @property
    def ece(self) -> float:
        return self.calibration.ece

    @property
    def mpc(self) -> float | None:
        return self.corruption.mpc if self.corruption else None

    @classmethod
    def from_dict(cls, data: dict) -> ClassificationQuality:
        corruption = data.get("corruption")
        uncalibrated = data.get("uncalibrated")
        return cls(
            accuracy=data["accuracy"],
            n=data["n"],
            calibration=Calibration.from_dict(data["calibration"]),
            reliability=data["reliability"],
            splits=data.get("splits") or {},
            corruption=CorruptionSummary.from_dict(corruption) if corruption else None,
            uncalibrated=cls.from_dict(uncalibrated) if uncalibrated else None,
            intervals=data.get("intervals") or {},
            reliability_by_severity=data.get("reliability_by_severity") or {},
        )

    def to_dict(self) -> dict:
        out = {
            "accuracy": self.accuracy,
            "n": self.n,
            "calibration": self.calibration.to_dict(),
            "reliability": self.reliability,
            "splits": self.splits,
            "corruption": self.corruption.to_dict() if self.corruption else None,
            "intervals": self.intervals,
            "reliability_by_severity": self.reliability_by_severity,
        }
        if self.uncalibrated is not None:
            out["uncalibrated"] = self.uncalibrated.to_dict()
        return out


def measure_quality(outputs: dict[str, np.ndarray], bundle: EvalBundle, n_bins: int):
    """Accuracy and calibration on every split of the bundle, from the artifact's logits."""
    labels = bundle.labels(CLEAN)
    logits = outputs[f"{LOGITS}/{CLEAN}"]
    splits = {}
    for name in bundle.splits:
        if name in RESERVED_SPLITS:  # clean is scored above; validation fits, never scores
            continue
        split_logits, split_labels = outputs[f"{LOGITS}/{name}"], bundle.labels(name)
        summary = calibration_summary(split_logits, split_labels, n_bins)
        del summary["settings"]  # the same for every split; recorded once with the clean metrics
        splits[name] = {
            "accuracy": accuracy(split_logits, split_labels),
            "n": int(len(split_labels)),
            **summary,
        }
    correct = int(_correct(logits, labels).sum())
    replicates = resampled(outputs, bundle, n_bins)
    intervals = {
        "level": ci.LEVEL,
        "resamples": ci.RESAMPLES,
        "accuracy": list(ci.binomial_interval(correct, len(labels))),
        "ece": list(ci.percentile_interval(replicates["ece"])),
        "mpc": None
        if replicates["mpc"] is None
        else list(ci.percentile_interval(replicates["mpc"])),
        "methods": {
            "accuracy": "exact (Clopper-Pearson) binomial",
            "ece": "percentile bootstrap over the test images",
            "mpc": "percentile bootstrap over the corrupted images, every split resampled jointly",
        },
    }
    return ClassificationQuality(
        accuracy=accuracy(logits, labels),
        n=int(len(labels)),
        calibration=Calibration.from_dict(calibration_summary(logits, labels, n_bins)),
        reliability=reliability_diagram(softmax(logits), labels, n_bins),
        splits=splits,
        intervals=intervals,
        reliability_by_severity=reliability_by_severity(outputs, bundle, n_bins),
    )


def _benchmark_splits(bundle: EvalBundle) -> list[str]:
    """The benchmark corruptions' splits present at every severity, in benchmark order."""
    names = set(bundle.splits)
    present = [c for c in BENCHMARK if all(split_name(c, s) in names for s in SEVERITIES)]
    return [split_name(c, s) for c in present for s in SEVERITIES]


def _correct(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (np.asarray(logits).argmax(axis=1) == np.asarray(labels)).astype(np.float64)


def resampled(outputs: dict[str, np.ndarray], bundle: EvalBundle, n_bins: int) -> dict:
    """The bootstrap replicates of accuracy, ECE and mPC (``edgeprune.metrics.intervals``):
    a fixed function of the outputs, so two entries of one run share their resamples. mPC
    is None unless every benchmark split holds the same labels in one order (the same
    images corrupted, as edgeprune and CIFAR-10-C write them)."""
    labels = bundle.labels(CLEAN)
    logits = outputs[f"{LOGITS}/{CLEAN}"]
    out = {
        "accuracy": ci.resampled_mean(_correct(logits, labels)),
        "ece": ci.resampled_ece(ci.ece_terms(softmax(logits), labels, n_bins)),
        "mpc": None,
    }
    splits = _benchmark_splits(bundle)
    if splits:
        first = bundle.labels(splits[0])
        if all(np.array_equal(bundle.labels(name), first) for name in splits[1:]):
            matrix = np.stack([_correct(outputs[f"{LOGITS}/{n}"], first) for n in splits], axis=1)
            out["mpc"] = ci.resampled_mean(matrix)
    return out


def reliability_by_severity(outputs, bundle: EvalBundle, n_bins: int) -> dict[str, dict]:
    """Per severity, the reliability diagram of every benchmark corruption's images pooled."""
    splits = _benchmark_splits(bundle)
    out = {}
    for severity in SEVERITIES:
        names = [n for n in splits if n.endswith(f"/{severity}")]
        if names:
            probs = np.concatenate([softmax(outputs[f"{LOGITS}/{n}"]) for n in names])
            labels = np.concatenate([bundle.labels(n) for n in names])
            out[str(severity)] = reliability_diagram(probs, labels, n_bins)
    return out
