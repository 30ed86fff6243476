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
# --limit-at: a limit judges its point estimate, or the unfavourable end of its interval
LIMIT_AT = ("estimate", "bound")


def _read(limit: Limit, entry: Entry, results: RunResults, settings) -> tuple[float | None, str]:
    """The figure a limit judges, and how it was obtained; with ``--limit-at bound`` the
    unfavourable end of its 95 % interval where the figure has one."""
    measured, source = limit.read(entry, results, settings)
    if getattr(settings, "limit_at", "estimate") != "bound" or limit.interval is None:
        return measured, source
    side = "upper" if limit.kind == "max" else "lower"
    bound = limit.bound(entry, results, settings)
    if measured is None:
        return None, source
    if bound is None:
        return None, "no 95 % interval was measured for this entry"
    return bound, f"{side} 95 % bound; estimate {measured:.4g}{limit.unit}"


def check(limit: Limit, entry: Entry, results: RunResults, value: float, settings) -> Check:
    """``limit`` at ``value`` applied to ``entry``: whether it holds, by how much it fails."""
    measured, source = _read(limit, entry, results, settings)
    if measured is None:
        return Check(
            limit.name, None, value, limit.kind, False, float("inf"), source,
            f"{limit.name} not measured for this entry (required: {limit.kind} {value:g})"
            + (f": {source}" if source.startswith("no ") else ""),
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


def unsettled(entry: Entry, results: RunResults, settings, task) -> list[str]:
    """The limits ``entry`` passes on the estimate whose 95 % interval reaches past them:
    the pass is not established at that level (the decision says so; ``--limit-at bound``
    would refuse it)."""
    found = []
    for limit, value in active_limits(task, settings):
        measured, _ = limit.read(entry, results, settings)
        interval = limit.interval(entry, results, settings) if limit.interval else None
        bound = limit.bound(entry, results, settings)
        if measured is None or bound is None:
            continue
        passes = measured <= value + 1e-12 if limit.kind == "max" else measured >= value - 1e-12
        holds = bound <= value + 1e-12 if limit.kind == "max" else bound >= value - 1e-12
        if passes and not holds:
            low, high = interval
            found.append(
                f"{entry.name}'s {limit.name} {measured:.4g}{limit.unit} "
                f"(95 % interval {low:.4g} to {high:.4g}{limit.unit}) reaches past the "
                f"{value:g}{limit.unit} limit: the pass is not established at 95 % "
                "(--limit-at bound judges the bound)"
            )
    return found
