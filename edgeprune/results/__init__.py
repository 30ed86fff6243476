"""The typed records of a run: entries and ``results.json`` (version 2, reading version 1),
the decision of ``selection.json``, and merging several runs for one decision."""

from __future__ import annotations

from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.results.decision import Check, Decision, Verdict
from edgeprune.results.entry import Entry, Estimate, Latency, LatencyStats, Memory, Size
from edgeprune.results.merge import merge_results
from edgeprune.results.run import SCHEMA, RunResults, compare_with_baseline
from edgeprune.results.v1 import SCHEMA_V1, upgrade_entry, upgrade_results


def load_results(data: dict, tasks) -> RunResults:
    """A parsed ``results.json`` of version 1 or 2 as a :class:`RunResults`; ``tasks``: the
    task registry (``edgeprune.tasks.TASKS``), whose task types each entry's quality."""
    schema = data.get("schema")
    if schema == SCHEMA_V1:
        data = upgrade_results(data)
    elif schema != SCHEMA:
        raise EdgepruneError(
            f"results schema {schema!r} is not one this edgeprune reads ({SCHEMA_V1}, {SCHEMA})"
        )
    task = tasks.get(data["task"])
    known = {
        "baseline": load_entry(data["baseline"], task),
        "candidates": [load_entry(c, task) for c in data["candidates"]],
    }
    names = (
        "task",
        "run_dir",
        "config",
        "target",
        "measured_peaks",
        "dataset",
        "model",
        "provenance",
    )
    fields = {k: data.get(k) for k in names}
    extra = {k: v for k, v in data.items() if k not in {*names, *known, "schema", "merged_from"}}
    return RunResults(**fields, **known, merged_from=data.get("merged_from"), extra=extra)


def load_entry(data: dict, task) -> Entry:
    """An entry of either version (a cached ``metrics.json`` of an older run included)."""
    return Entry.from_dict(upgrade_entry(data), task.quality_type)


def read_results(path: str | Path, tasks) -> RunResults:
    """``results.json`` of a run directory, with one clear error when it is not one."""
    from edgeprune.files import damaged_file, malformed_as_damaged, read_json

    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(
            f"{path.parent} has no {path.name} (is it a finished edgeprune run directory?)"
        )
    # The run's entries keep their own metrics.json: compress rebuilds results.json from
    # them without measuring anything again.
    rebuild = f"rerun edgeprune compress with --out {path.parent} to rebuild it from its entries"
    data = read_json(path, rebuild)
    if not isinstance(data, dict) or "schema" not in data:
        raise damaged_file(path, "no 'schema': not an edgeprune results file", rebuild)
    with malformed_as_damaged(path, rebuild):
        return load_results(data, tasks)


__all__ = [
    "SCHEMA",
    "SCHEMA_V1",
    "Check",
    "Decision",
    "Entry",
    "Estimate",
    "Latency",
    "LatencyStats",
    "Memory",
    "RunResults",
    "Size",
    "Verdict",
    "compare_with_baseline",
    "load_entry",
    "load_results",
    "merge_results",
    "read_results",
]
