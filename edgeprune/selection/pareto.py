"""The Pareto front: entries no other entry beats on every objective at once.

The objectives are the target latency (lower is better) and the task's own, each oriented
so that lower is better (classification: accuracy, ECE, mPC where measured).
"""

from __future__ import annotations

from edgeprune.results import Entry, RunResults


def pareto_front(entries: list[Entry], results: RunResults, task) -> list[str]:
    """Names of the entries not dominated by any other (entries with fewer objectives, e.g.
    no corruption figures, are compared only with their like)."""
    points = {e.name: (results.target_latency(e)[0], *task.pareto_objectives(e)) for e in entries}
    front = []
    for name, p in points.items():
        dominated = any(
            len(q) == len(p)
            and all(a <= b for a, b in zip(q, p))
            and any(a < b for a, b in zip(q, p))
            for other, q in points.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return front
