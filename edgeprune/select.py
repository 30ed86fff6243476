"""Choosing the pruning ratio: constraints against the unpruned baseline, and why each
candidate was accepted or rejected."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Constraints:
    max_acc_drop: float = 1.0  # points of accuracy below the baseline
    max_ece_increase: float = 0.01  # absolute ECE above the baseline

    def describe(self) -> dict:
        return asdict(self)


def violations(candidate: dict, constraints: Constraints) -> list[str]:
    """Every constraint the candidate breaks, each as a readable sentence."""
    delta = candidate["vs_baseline"]
    reasons = []
    if delta["accuracy_drop_points"] > constraints.max_acc_drop + 1e-12:
        reasons.append(
            f"accuracy drop {delta['accuracy_drop_points']:.2f} points > {constraints.max_acc_drop:g} allowed"
        )
    if delta["ece_increase"] > constraints.max_ece_increase + 1e-12:
        reasons.append(
            f"ECE increase {delta['ece_increase']:+.4f} > {constraints.max_ece_increase:g} allowed"
        )
    return reasons


def select_candidate(results: dict, constraints: Constraints) -> dict:
    """The most compressed candidate within the constraints (largest real MAC reduction,
    then nominal ratio); the unpruned baseline when none qualifies."""
    rows = []
    for candidate in results["candidates"]:
        reasons = violations(candidate, constraints)
        rows.append(
            {
                "name": candidate["name"],
                "ratio": candidate["ratio"],
                "feasible": not reasons,
                "reasons": reasons,
            }
        )
    feasible = [c for c, row in zip(results["candidates"], rows) if row["feasible"]]
    chosen = max(
        feasible,
        key=lambda c: (c["vs_baseline"]["macs_reduction"], c["ratio"]),
        default=None,
    )
    if chosen is None:
        explanation = "no candidate meets the constraints; keep the unpruned baseline"
    else:
        d = chosen["vs_baseline"]
        explanation = (
            f"{chosen['name']}: the most compressed candidate within the constraints "
            f"(MACs -{100 * d['macs_reduction']:.1f} %, params -{100 * d['params_reduction']:.1f} %, "
            f"accuracy {d['accuracy_drop_points']:+.2f} points below baseline, ECE {d['ece_increase']:+.4f})"
        )
    return {
        "constraints": constraints.describe(),
        "objective": "largest compression (MAC reduction) within the constraints",
        "chosen": chosen["name"] if chosen else None,
        "explanation": explanation,
        "candidates": rows,
    }
