"""A finished run directory, opened: its layout, typed results, task and decision.

    run = read_run("runs/resnet18")
    run.results.baseline.quality.accuracy, run.decision.chosen

This is how the CLI's ``select`` and ``report``, the tools and a user's own scripts read a
run; the results model itself (``edgeprune.results``) is told the task registry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.files import malformed_as_damaged, read_json, write_json
from edgeprune.results import RunResults, read_results
from edgeprune.rundir import RunLayout
from edgeprune.selection import Decision
from edgeprune.tasks import TASKS, Task


@dataclass
class Run:
    layout: RunLayout
    results: RunResults

    @property
    def task(self) -> Task:
        return TASKS.get(self.results.task)

    @property
    def decision(self) -> Decision:
        path = self.layout.selection
        if not path.is_file():
            raise EdgepruneError(
                f"{self.layout.root} has no {path.name}: rerun edgeprune select {self.layout.root}"
            )
        rebuild = f"rerun edgeprune select {self.layout.root} to decide again"
        data = read_json(path, rebuild)
        with malformed_as_damaged(path, rebuild):
            return Decision.from_dict(data)


def read_run(run_dir: str | Path) -> Run:
    layout = RunLayout(Path(run_dir))
    return Run(layout, read_results(layout.results, TASKS))


def write_decision(layout: RunLayout, decision: Decision) -> Path:
    """Write ``decision`` as the run's ``selection.json`` and keep it, numbered, under
    ``selections/`` unless it repeats the last one: a ``select`` with other limits must not
    erase the decision made before it. Returns the history file that holds it."""
    write_json(layout.selection, decision.to_dict())
    made = layout.selection.read_bytes()
    history = sorted(layout.selections.glob("[0-9][0-9][0-9]-*.json"))
    if history and history[-1].read_bytes() == made:
        return history[-1]
    number = int(history[-1].name[:3]) + 1 if history else 1
    kept = layout.selections / f"{number:03d}-{decision.selector}.json"
    write_json(kept, decision.to_dict())
    return kept
