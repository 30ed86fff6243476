"""Choosing what to ship. A selector maps a run's results and the ``select`` settings to one
:class:`Decision`; selectors are registered by name (``--select-by``).

- ``constraints``: every limit (the task's and the target's) against the baseline and the
  budget, the best feasible candidate by the objective, the Pareto front;
- ``pe``: Pachon et al.'s PE-guided rate selection (image classification).

Selection reads results and writes nothing; the report draws what a decision asks for.
"""

from __future__ import annotations

import dataclasses

from edgeprune.errors import EdgepruneError
from edgeprune.results import RunResults
from edgeprune.results.decision import Check, Decision, Verdict
from edgeprune.selection.constraints import select_by_constraints
from edgeprune.selection.limits import limits_for, unsettled
from edgeprune.selection.pareto import pareto_front
from edgeprune.selection.pe import select_by_pe
from edgeprune.selection.registry import OBJECTIVES, SELECTORS, Selector


def decide(results: RunResults, settings) -> Decision:
    """The decision of the selector ``settings.select_by`` (``settings``: a SelectConfig)."""
    from edgeprune.tasks import TASKS  # a light registry: no cycle through the task's modules

    selector = SELECTORS.get(settings.select_by)
    if selector.tasks is not None and results.task not in selector.tasks:
        raise EdgepruneError(
            f"--select-by {settings.select_by} works for {', '.join(selector.tasks)}, "
            f"not for task {results.task}"
        )
    task = TASKS.get(results.task)
    decision = selector.decide(results, settings, task)
    chosen = results.entry(decision.chosen) if decision.chosen else None
    warnings = task.warnings(results, settings, chosen)
    if chosen is not None and chosen is not results.baseline:
        warnings += unsettled(chosen, results, settings, task)
    if warnings:  # printed, reported and kept in selection.json with the decision
        decision = dataclasses.replace(decision, notes={**decision.notes, "warnings": warnings})
    return decision


__all__ = [
    "OBJECTIVES",
    "SELECTORS",
    "Check",
    "Decision",
    "Selector",
    "Verdict",
    "decide",
    "limits_for",
    "pareto_front",
    "select_by_constraints",
    "select_by_pe",
]
