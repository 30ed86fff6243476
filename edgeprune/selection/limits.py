"""Applying limits (``edgeprune.tasks.Limit``): the task's, and the target's, which every
task shares (latency and memory on the target, measured where the artifact ran there, else
estimated)."""

from __future__ import annotations

from edgeprune.results import Entry, RunResults
from edgeprune.results.decision import Check
from edgeprune.tasks.base import Limit

# Checks are listed by what they protect: the task's quality, the target's budget, then
# robustness and explanations.
GROUPS = ("quality", "target", "robustness", "explanation")


def check(limit: Limit, entry: Entry, results: RunResults, value: float, settings) -> Check:
    """``limit`` at ``value`` applied to ``entry``: whether it holds, by how much it fails."""
    measured, source = limit.read(entry, results, settings)
    if measured is None:
        return Check(
            limit.name, None, value, limit.kind, False, float("inf"), source,
            f"{limit.name} not measured for this entry (required: {limit.kind} {value:g})",
        )  # fmt: skip
    ok = measured <= value + 1e-12 if limit.kind == "max" else measured >= value - 1e-12
    # relative to the limit; a limit of 0 (no ECE increase at all) has no scale: absolute
    excess = 0.0 if ok else abs(measured - value) / (abs(value) if value else 1.0)
    # the text states what was found: "0.28 pp <= 1 pp allowed" passes, "> 1 pp" fails
    if limit.kind == "max":
        sign, word = ("<=" if ok else ">"), "allowed"
    else:
        sign, word = (">=" if ok else "<"), "required"
    text = f"{limit.name} {measured:.4g}{limit.unit} {sign} {value:g}{limit.unit} {word}" + (
        f" ({source})" if source != "measured" else ""
    )
    return Check(limit.name, measured, value, limit.kind, ok, excess, source, text)


def _latency(entry: Entry, results: RunResults, settings) -> tuple[float, str]:
    return results.target_latency(entry)


def _memory(entry: Entry, results: RunResults, settings) -> tuple[float, str]:
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
