"""Choosing what to ship. A selector maps a run's results and the ``select`` settings to one
:class:`Decision`; selectors are registered by name (``--select-by``).

- ``constraints``: every limit (the task's and the target's) against the baseline and the
  budget, the best feasible candidate by the objective, the Pareto front;
- ``pe``: Pachon et al.'s PE-guided rate selection (image classification).

Selection reads results and writes nothing; the report draws what a decision asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeprune.errors import EdgepruneError
from edgeprune.registry import Registry
from edgeprune.results import RunResults
from edgeprune.selection.constraints import OBJECTIVES, select_by_constraints
from edgeprune.selection.decision import Check, Decision, Verdict
from edgeprune.selection.limits import Limit, limits_for
from edgeprune.selection.pareto import pareto_front
from edgeprune.selection.pe import select_by_pe


@dataclass(frozen=True)
class Selector:
    decide: Callable[..., Decision]  # (results, SelectConfig, task) -> Decision
    description: str
    tasks: tuple[str, ...] | None = None  # None: every task


SELECTORS: Registry[Selector] = Registry("selector")
SELECTORS.register(
    "constraints",
    Selector(
        select_by_constraints, "limits against the baseline and the budget, then an objective"
    ),
)
SELECTORS.register(
    "pe",
    Selector(select_by_pe, "PE-guided rate selection (Pachon et al. 2023)", ("classification",)),
)


def decide(results: RunResults, settings) -> Decision:
    """The decision of the selector ``settings.select_by`` (``settings``: a SelectConfig)."""
    from edgeprune.tasks import TASKS

    selector = SELECTORS.get(settings.select_by)
    if selector.tasks is not None and results.task not in selector.tasks:
        raise EdgepruneError(
            f"--select-by {settings.select_by} works for {', '.join(selector.tasks)}, "
            f"not for task {results.task}"
        )
    return selector.decide(results, settings, TASKS.get(results.task))


__all__ = [
    "OBJECTIVES",
    "SELECTORS",
    "Check",
    "Decision",
    "Limit",
    "Selector",
    "Verdict",
    "decide",
    "limits_for",
    "pareto_front",
    "select_by_constraints",
    "select_by_pe",
]
