"""PE-guided rate selection (Pachon et al. 2023).

With identical fine-tuning across rates: if accuracy and PE-score both fall monotonically
with the rate, choose the largest rate within the allowed accuracy drop. If accuracy
fluctuates while PE falls, accuracy alone is not a trustworthy guide: flag it and choose
the largest rate whose PE-score stays above a threshold, i.e. whose maps still match the
original. Either way, side-by-side overlays (input, original map, pruned map at each rate)
are written for the user to confirm.
"""

from __future__ import annotations

from pathlib import Path

from edgeprune.errors import EdgepruneError


def _non_increasing(values: list[float], tolerance: float) -> bool:
    return all(b <= a + tolerance for a, b in zip(values, values[1:]))


def select_by_pe(
    results: dict, max_acc_drop: float, min_pe: float, run_dir: Path | None = None
) -> dict:
    # Rates compared under identical fine-tuning, as deployed in FP32; precision variants are
    # a separate axis (constraint-based selection weighs them).
    candidates = sorted(
        (c for c in results["candidates"] if "variant_of" not in c), key=lambda c: c["ratio"]
    )
    if not candidates or any("explanation" not in c for c in candidates):
        raise EdgepruneError(
            "PE-guided selection needs PE-scores for every candidate (rerun compress)"
        )
    methods = {c["method"] for c in candidates}
    if len(methods) > 1:
        raise EdgepruneError(
            f"PE-guided selection compares rates of one method; this run has {sorted(methods)}"
        )
    base = results["baseline"]
    accuracy = [base["accuracy"]] + [c["accuracy"] for c in candidates]
    pe = [1.0] + [c["explanation"]["pe"] for c in candidates]
    # One test image of accuracy is noise, not a trend.
    tolerance = 1.0 / max(base["n"], 1)
    accuracy_falls, pe_falls = _non_increasing(accuracy, tolerance), _non_increasing(pe, 1e-6)
    within_drop = [
        c for c in candidates if c["vs_baseline"]["accuracy_drop_points"] <= max_acc_drop + 1e-12
    ]
    trustworthy = [c for c in candidates if c["explanation"]["pe"] >= min_pe]
    if accuracy_falls and pe_falls:
        case = "accuracy and PE-score both fall monotonically: the largest rate within the allowed accuracy drop"
        pool = within_drop
    elif pe_falls:
        case = (
            "accuracy fluctuates while PE-score falls: accuracy is no reliable guide, so the largest rate "
            f"whose PE-score stays >= {min_pe:g}; confirm on the overlays"
        )
        pool = trustworthy
    else:
        case = (
            "PE-score does not fall monotonically: the largest rate meeting both the accuracy drop and "
            f"PE-score >= {min_pe:g}; confirm on the overlays"
        )
        pool = [c for c in within_drop if c in trustworthy]
    chosen = max(pool, key=lambda c: c["ratio"], default=None)
    overlays = write_overlays(run_dir, results) if run_dir is not None else None
    explanation = (
        f"{chosen['name']}: " if chosen else "no rate qualifies; keep the unpruned baseline: "
    ) + case
    return {
        "by": "pe",
        "constraints": {"max_acc_drop": max_acc_drop, "min_pe": min_pe},
        "objective": "PE-guided rate selection (Pachon et al. 2023)",
        "accuracy_monotonic": accuracy_falls,
        "pe_monotonic": pe_falls,
        "needs_confirmation": not (accuracy_falls and pe_falls),
        "chosen": chosen["name"] if chosen else None,
        "explanation": explanation,
        "overlays": overlays,
        "candidates": [
            {
                "name": c["name"],
                "ratio": c["ratio"],
                "accuracy_drop_points": c["vs_baseline"]["accuracy_drop_points"],
                "pe": c["explanation"]["pe"],
                "feasible": c in pool,
                "reasons": ([] if c in pool else _reasons(c, max_acc_drop, min_pe)),
            }
            for c in candidates
        ],
    }


def _reasons(candidate: dict, max_acc_drop: float, min_pe: float) -> list[str]:
    reasons = []
    drop, pe = candidate["vs_baseline"]["accuracy_drop_points"], candidate["explanation"]["pe"]
    if drop > max_acc_drop:
        reasons.append(f"accuracy drop {drop:.2f} pp > {max_acc_drop:g} pp allowed")
    if pe < min_pe:
        reasons.append(f"PE-score {pe:.3f} < {min_pe:g}")
    return reasons or ["not selected by the rule that applies (see the explanation)"]


def write_overlays(run_dir: Path, results: dict, count: int = 8) -> str | None:
    """PNG grid: per image, the input, the unpruned model's Grad-CAM++ map and each rate's."""
    from edgeprune.report.overlays import overlay_grid

    return overlay_grid(run_dir, results, count)
