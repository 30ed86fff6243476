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


def find_runs(folder: Path, depth: int = 2) -> list[Path]:
    """Run directories (those with a ``run.toml``) under ``folder``, down to ``depth``
    levels (``runs/<name>`` and ``runs/<study>/<part>``), in name order."""
    found: list[Path] = []
    if not folder.is_dir():
        raise EdgepruneError(f"no such folder: {folder}")
    level = [folder]
    for _ in range(depth):
        level = sorted(p for parent in level for p in parent.iterdir() if p.is_dir())
        found += [p for p in level if RunLayout(p).config.is_file()]
    return sorted(found)


def run_summary(run_dir: Path) -> dict[str, str]:
    """One row of ``edgeprune runs``: what the run is and what it decided, or why it cannot
    say (unfinished: no results.json yet; damaged: the file named)."""
    layout = RunLayout(run_dir)
    row = {"run": str(run_dir), "model": "", "data": "", "method": "", "target": "",
           "candidates": "", "selected": ""}  # fmt: skip
    if not layout.results.is_file():
        return {**row, "selected": "unfinished (no results.json yet)"}
    try:
        run = read_run(run_dir)
        decision = run.decision if layout.selection.is_file() else None
    except EdgepruneError as exc:
        return {**row, "selected": f"unreadable: {exc}"}
    config, results = run.results.config, run.results
    methods = sorted({c.method for c in results.candidates if c.method})
    chosen = "-" if decision is None else decision.chosen or "baseline kept"
    return {
        **row,
        "model": str(config.get("model", results.model.get("name", ""))),
        "data": str(config.get("data", "")),
        "method": ", ".join(methods),
        "target": str(results.target.get("name", "")),
        "candidates": str(len(results.candidates)),
        "selected": chosen,
    }


def compare_rows(runs: list[Run], every_entry: bool = False) -> list[dict[str, str]]:
    """``edgeprune compare``: each run's baseline and its choice (``every_entry``: all its
    entries) in one table, the task's figures and the target latency side by side; a figure
    one run lacks is blank."""
    rows = []
    for run in runs:
        results, chosen = (
            run.results,
            run.decision.chosen if run.layout.selection.is_file() else None,
        )
        for entry in results.entries:
            if not every_entry and entry is not results.baseline and entry.name != chosen:
                continue
            latency, kind = results.target_latency(entry)
            rows.append({
                "run": run.layout.root.name,
                "entry": entry.name + (" *" if entry.name == chosen else ""),
                "MACs": f"{entry.size.macs / 1e6:.2f}M",
                **run.task.summary_cells(entry),
                "target": results.target_name,
                "target ms (b1)": f"{latency:.3f} {kind}",
            })  # fmt: skip
    headers = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key, "") for key in headers} for row in rows]
