"""A limit: one selectable figure, where to read it and how to judge it.

The task declares its limits (accuracy drop, ECE increase, mPC, HCC, ... for
classification); the target's are generic (latency and memory on the target, measured where
the artifact ran there, else estimated). Each names the ``select`` option that sets it, so
making a new metric selectable is one ``Limit`` and one option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeprune.results import Entry, RunResults
from edgeprune.selection.decision import Check

# Checks are listed by what they protect: the task's quality, the target's budget, then
# robustness and explanations.
GROUPS = ("quality", "target", "robustness", "explanation")


@dataclass(frozen=True)
class Limit:
    name: str  # how checks and reasons name it
    option: str  # the SelectConfig field that sets it
    kind: str  # "max" or "min"
    read: Callable[[Entry, RunResults], tuple[float | None, str]]  # value, how obtained
    unit: str = ""
    group: str = "quality"
    always: bool = False  # False: 0 switches it off
    long_name: str = ""  # how the report's constraint line names it (default: ``name``)

    def limit_from(self, settings: object) -> float | None:
        value = getattr(settings, self.option)
        return value if self.always or value else None

    def check(self, entry: Entry, results: RunResults, limit: float) -> Check:
        value, source = self.read(entry, results)
        if value is None:
            return Check(
                self.name, None, limit, self.kind, False, float("inf"), source,
                f"{self.name} not measured for this entry (required: {self.kind} {limit:g})",
            )  # fmt: skip
        ok = value <= limit + 1e-12 if self.kind == "max" else value >= limit - 1e-12
        scale = max(abs(limit), 1e-9)
        excess = 0.0 if ok else abs(value - limit) / scale
        sign = ">" if self.kind == "max" else "<"
        text = f"{self.name} {value:.4g}{self.unit} {sign} {limit:g}{self.unit} allowed" + (
            f" ({source})" if source != "measured" else ""
        )
        return Check(self.name, value, limit, self.kind, ok, excess, source, text)

    @property
    def label(self) -> str:
        """``latency on the target <= 4 ms`` style, for the report's constraint line."""
        return f"{self.long_name or self.name} {'<=' if self.kind == 'max' else '>='}"


def _latency(entry: Entry, results: RunResults) -> tuple[float, str]:
    return results.target_latency(entry)


def _memory(entry: Entry, results: RunResults) -> tuple[float, str]:
    return results.target_memory_mb(entry)


TARGET_LIMITS = (
    Limit(
        "latency",
        "max_latency_ms",
        "max",
        _latency,
        " ms",
        "target",
        long_name="latency on the target",
    ),
    Limit(
        "memory", "max_memory_mb", "max", _memory, " MB", "target", long_name="memory on the target"
    ),
)


def limits_for(task) -> list[Limit]:
    """The task's limits and the target's, in check order."""
    limits = [*task.limits, *TARGET_LIMITS]
    return sorted(limits, key=lambda limit: GROUPS.index(limit.group))


def active_limits(task, settings: object) -> list[tuple[Limit, float]]:
    """The limits switched on in ``settings`` (a SelectConfig), with their values."""
    out = []
    for limit in limits_for(task):
        value = limit.limit_from(settings)
        if value is not None:
            out.append((limit, value))
    return out
