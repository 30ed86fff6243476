"""Choosing by constraints: every limit against the baseline and the device budget, then the
best feasible candidate by the objective; the Pareto front; the closest candidates when
nothing qualifies.

Every figure a decision uses says whether it was measured on the target or estimated.
"""

from __future__ import annotations

from edgeprune.errors import EdgepruneError
from edgeprune.results import Entry, RunResults
from edgeprune.results.decision import Check, Decision, Verdict
from edgeprune.selection.limits import active_limits, check, limits_for
from edgeprune.selection.pareto import pareto_front
from edgeprune.selection.registry import OBJECTIVES, Selector


def _objective_key(entry: Entry, results: RunResults, objective: str, task):
    if objective == "latency":
        return -results.target_latency(entry)[0]
    if objective == "accuracy":
        return task.primary_score(entry)
    # Nonzero parameters rank masking methods, whose MACs do not change.
    return (
        entry.delta("macs_reduction"),
        entry.delta("nonzero_params_reduction") or 0.0,
        entry.ratio,
    )


def _objective_text(objective: str, task) -> str:
    return {
        "compression": "largest compression (MAC reduction) within the constraints",
        "latency": "lowest latency on the target within the constraints",
        "accuracy": f"highest {task.primary_name} within the constraints",
    }[objective]


def settings_record(task, settings, results: RunResults) -> dict:
    """Every limit's value in force (None: not checked), the objective, and, where an entry
    was recalibrated, which ECE the ECE limit read."""
    record = {limit.option: limit.limit_from(settings) for limit in limits_for(task)}
    if any(e.recalibration for e in results.entries):
        record["ece_of"] = settings.ece_of
    return {**record, "objective": settings.objective}


def verdict(entry: Entry, results: RunResults, checks: list[Check]) -> Verdict:
    failed = [c for c in checks if not c.ok]
    latency, latency_source = results.target_latency(entry)
    return Verdict(
        name=entry.name,
        method=entry.method,
        ratio=entry.ratio,
        precision=entry.precision,
        feasible=not failed,
        reasons=[c.text for c in failed],
        binding=max(failed, key=lambda c: c.excess).name if failed else None,
        checks=checks,
        latency_ms=latency,
        latency_source=latency_source,
        total_excess=sum(min(c.excess, 1e6) for c in failed),
    )


def select_by_constraints(results: RunResults, settings, task) -> Decision:
    """The best candidate by the objective among those meeting every limit in ``settings``
    (a SelectConfig). With none feasible the unpruned baseline is kept, and the closest
    candidates (smallest total relative excess over their limits) are named."""
    if settings.objective not in OBJECTIVES:
        raise EdgepruneError(
            f"objective must be one of {', '.join(OBJECTIVES)}, got {settings.objective!r}"
        )
    limits = active_limits(task, settings)
    verdicts = [
        verdict(
            entry,
            results,
            [check(limit, entry, results, value, settings) for limit, value in limits],
        )
        for entry in results.candidates
    ]
    feasible = [e for e, v in zip(results.candidates, verdicts) if v.feasible]
    chosen = max(
        feasible, key=lambda e: _objective_key(e, results, settings.objective, task), default=None
    )
    closest = (
        [] if feasible else [v.name for v in sorted(verdicts, key=lambda v: v.total_excess)[:3]]
    )
    objective_text = _objective_text(settings.objective, task)
    if chosen is None:
        explanation = "no candidate meets the constraints; keep the unpruned baseline" + (
            f" (closest: {', '.join(closest)})" if closest else ""
        )
    else:
        latency, kind = results.target_latency(chosen)
        explanation = (
            f"{chosen.name}: {objective_text} (MACs -{100 * chosen.delta('macs_reduction'):.1f} %, "
            f"{task.change_summary(chosen, settings)}, {latency:.3f} ms on {results.target_name}, {kind})"
        )
    return Decision(
        selector="constraints",
        settings=settings_record(task, settings, results),
        objective=objective_text,
        chosen=chosen.name if chosen else None,
        explanation=explanation,
        verdicts=verdicts,
        pareto_front=pareto_front(results.entries, results, task),
        closest=closest,
    )


SELECTOR = Selector(
    select_by_constraints, "limits against the baseline and the budget, then an objective"
)
