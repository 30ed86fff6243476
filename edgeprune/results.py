"""results.json across runs: merging several runs (e.g. one per method) for one decision."""

from __future__ import annotations

from edgeprune.errors import EdgepruneError

# What must agree for candidates of different runs to be compared against one baseline.
SAME_BASELINE_KEYS = ("model", "weights", "data", "seed", "train-epochs", "train-lr", "corruptions")


def merge_results(runs: list[dict], labels: list[str]) -> dict:
    """One results dict whose candidates come from every run, named ``<run>/<candidate>``."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    for label, run in zip(labels[1:], runs[1:]):
        differ = [k for k in SAME_BASELINE_KEYS if run["config"].get(k) != first["config"].get(k)]
        if run["target"]["name"] != first["target"]["name"]:
            differ.append("target")
        if differ:
            raise EdgepruneError(
                f"runs {labels[0]} and {label} differ in {', '.join(differ)}: their candidates have "
                "different baselines or targets and cannot be selected together"
            )
    merged = dict(first)
    merged["candidates"] = [
        {**candidate, "name": f"{label}/{candidate['name']}", "run": label}
        for label, run in zip(labels, runs)
        for candidate in run["candidates"]
    ]
    merged["merged_from"] = list(labels)
    return merged
