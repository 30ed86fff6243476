"""Compare the figures of two run directories, timings aside.

    python tools/diff_results.py RUN_A RUN_B [--tolerance 0]

Both ``results.json`` files are compared as written, a version-1 file (``edgeprune-results/1``,
an older edgeprune) upgraded to the version-2 layout with its figures untouched, so a figure
that the typed results model failed to write shows as a difference; ``selection.json`` is
read through the decision type, which opens both versions. Fields that only B has (added
since A) are listed, not counted as differences; a field only A has is one. Every figure is compared
except what depends on the moment or the machine: measured latencies and memory, wall
times, the machine description, provenance and paths. Differences are printed one per
line with their path; the exit status is 1 when there are any, 0 when the runs agree.

This is how a restructuring of edgeprune shows that it changed no figure: run the demo
with the old and the new code and diff the two run directories.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Entry fields that are measured timings or describe the machine, never figures of the model.
TIMING_FIELDS = {"latency", "memory", "evaluation", "environment", "evaluate_seconds",
                 "prune_seconds"}  # fmt: skip
# Result-level fields that name the moment, the paths or the machine.
CONTEXT_FIELDS = {"provenance", "run_dir", "measured_peaks", "config", "schema"}


def _skip(path: tuple[str, ...], host_target: bool) -> bool:
    key = path[-1] if path else ""
    if key in ("seconds", "host_speedup_batch1"):  # training wall time; a ratio of latencies
        return True
    if path[:1] == ("target",) and key == "source":  # where the profile file is installed
        return True
    if "artifact" in path and key == "path":  # where an artifact was written
        return True
    return host_target and key == "estimate"  # host estimates use this machine's peaks


@dataclass
class Found:
    differences: list[str] = field(default_factory=list)  # a figure changed or was dropped
    added: list[str] = field(default_factory=list)  # a field only B has: new, not changed


def compare(a, b, path: tuple[str, ...], out: Found, tolerance: float, host: bool) -> int:
    """Record how ``b`` differs from ``a`` in ``out``; returns the number of values compared."""
    if _skip(path, host):
        return 0
    where = "/".join(path) or "(root)"
    if isinstance(a, dict) and isinstance(b, dict):
        count = 0
        for key in sorted(set(a) | set(b), key=str):
            if key not in b:
                out.differences.append(f"{where}/{key}: only in A")
                continue
            if key not in a:
                out.added.append(f"{where}/{key}")
                continue
            count += compare(a[key], b[key], (*path, str(key)), out, tolerance, host)
        return count
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            out.differences.append(f"{where}: {len(a)} items in A, {len(b)} in B")
            return 1
        return sum(
            compare(x, y, (*path, str(i)), out, tolerance, host)
            for i, (x, y) in enumerate(zip(a, b))
        )
    if isinstance(a, float) and isinstance(b, float):
        same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance * max(1.0, abs(a))
    else:
        same = a == b
    if not same:
        out.differences.append(f"{where}: A {a!r} != B {b!r}")
    return 1


def _prune_nulls(value):
    """Drop null values: a key absent in one version and null in the other is the same."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _raw_results(layout) -> dict:
    """results.json as written, in the version-2 layout (version 1 upgraded, figures as they
    are): read raw rather than through the typed model, so that a field the model dropped
    shows as a difference instead of vanishing on both sides."""
    from edgeprune.files import read_json
    from edgeprune.results import SCHEMA_V1, upgrade_results

    data = read_json(layout.results)
    return upgrade_results(data) if data.get("schema") == SCHEMA_V1 else data


def _entries(results: dict) -> dict[str, dict]:
    """Each entry by name, timings aside, with its deltas under today's names (a renamed
    delta is converted the way the results model reads it, not reported as dropped)."""
    from edgeprune.results.entry import current_deltas

    entries = [results["baseline"], *results["candidates"]]
    return {
        e["name"]: _prune_nulls(
            {
                k: current_deltas(v) if k == "vs_baseline" else v
                for k, v in e.items()
                if k not in TIMING_FIELDS
            }
        )
        for e in entries
    }


def diff_runs(run_a: Path, run_b: Path, tolerance: float = 0.0) -> tuple[list[str], int, list[str]]:
    """(differences, values compared, notes on the configurations) of two run directories."""
    from edgeprune.files import read_json
    from edgeprune.rundir import RunLayout
    from edgeprune.selection import Decision

    a_layout, b_layout = RunLayout(run_a), RunLayout(run_b)
    for layout in (a_layout, b_layout):
        if not layout.results.is_file():
            from edgeprune.errors import EdgepruneError

            raise EdgepruneError(f"{layout.root} has no results.json")
    a, b = _raw_results(a_layout), _raw_results(b_layout)
    host = a["target"].get("kind") == "host" or b["target"].get("kind") == "host"
    found = Found()
    count = 0
    skip = CONTEXT_FIELDS | {"baseline", "candidates"}
    top_a = _prune_nulls({k: v for k, v in a.items() if k not in skip})
    top_b = _prune_nulls({k: v for k, v in b.items() if k not in skip})
    count += compare(top_a, top_b, (), found, tolerance, host)
    count += compare(_entries(a), _entries(b), ("entries",), found, tolerance, host)
    decision_a = Decision.from_dict(read_json(a_layout.selection)).to_dict()
    decision_b = Decision.from_dict(read_json(b_layout.selection)).to_dict()
    if host:  # measured latencies enter the verdicts of a host target
        for decision in (decision_a, decision_b):
            for verdict in decision["verdicts"]:
                verdict.pop("latency_ms", None)
    count += compare(decision_a, decision_b, ("selection",), found, tolerance, host)
    notes = []
    keys_a, keys_b = set(a["config"]), set(b["config"])
    if keys_b - keys_a:
        notes.append(
            f"options only in B (defaults added since A): {', '.join(sorted(keys_b - keys_a))}"
        )
    if keys_a - keys_b:
        notes.append(f"options only in A: {', '.join(sorted(keys_a - keys_b))}")
    for key in sorted(keys_a & keys_b):
        va, vb = a["config"][key], b["config"][key]
        if va != vb and key != "out":
            found.differences.append(f"config/{key}: A {va!r} != B {vb!r}")
    if found.added:
        fields = sorted(
            {"/".join(p.split("/")[2:]) if p.startswith("entries/") else p for p in found.added}
        )
        notes.append(f"fields only in B (added, not compared): {', '.join(fields)}")
    return found.differences, count, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="relative tolerance for floats (default: exact)",
    )
    args = parser.parse_args(argv)
    from edgeprune.errors import EdgepruneError

    try:
        differences, count, notes = diff_runs(args.run_a, args.run_b, args.tolerance)
    except EdgepruneError as exc:
        print(f"diff_results: error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}")
    for line in differences:
        print(line)
    verdict = "identical" if not differences else f"{len(differences)} differences"
    print(f"{verdict}: {count} figures compared (timings, machine and provenance left out)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
