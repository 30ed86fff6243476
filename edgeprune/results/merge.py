"""Merging several runs (e.g. one per method) into one set of candidates for one decision.

Candidates of different runs can only be compared against one baseline when every option
that shapes the baseline or its measurement agrees (the configuration's options marked
``baseline``: model, weights, data, seed, the whole training recipe, input size, corruption
source, export and explanation settings; ``edgeprune.config.baseline_options``), the task
and the target.
"""

from __future__ import annotations

import dataclasses

from edgeprune.errors import EdgepruneError
from edgeprune.results.run import RunResults


def _differences(first: RunResults, other: RunResults, baseline: dict[str, object]) -> list[str]:
    def value(run: RunResults, key: str):
        # Older runs lack keys added since; they ran with the option's default.
        stored = run.config.get(key, baseline[key])
        return list(stored) if isinstance(stored, (list, tuple)) else stored

    differ = [k for k in baseline if value(other, k) != value(first, k)]
    if other.target_name != first.target_name:
        differ.append("target")
    if other.task != first.task:
        differ.append("task")
    return differ


def merge_results(
    runs: list[RunResults], labels: list[str], baseline: dict[str, object]
) -> RunResults:
    """One results record whose candidates come from every run, named ``<run>/<candidate>``.

    ``baseline``: the options that must agree, with their defaults for older runs."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    for label, run in zip(labels[1:], runs[1:]):
        differ = _differences(first, run, baseline)
        if differ:
            raise EdgepruneError(
                f"runs {labels[0]} and {label} differ in {', '.join(differ)}: their candidates have "
                "different baselines or targets and cannot be selected together"
            )
    candidates = [
        dataclasses.replace(
            candidate,
            name=f"{label}/{candidate.name}",
            extra={**candidate.extra, "run": label},
        )
        for label, run in zip(labels, runs)
        for candidate in run.candidates
    ]
    return dataclasses.replace(first, candidates=candidates, merged_from=list(labels))
