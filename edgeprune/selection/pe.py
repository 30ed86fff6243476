"""PE-guided rate selection (Pachon et al. 2023), for image classification.

With identical fine-tuning across rates: if accuracy and PE-score both fall monotonically
with the rate, choose the largest rate within the allowed accuracy drop. If accuracy
fluctuates while PE falls, accuracy alone is not a trustworthy guide: flag it and choose
the largest rate whose PE-score stays above a threshold, i.e. whose maps still match the
original. Either way the decision asks for confirmation on side-by-side overlays (input,
original map, pruned map at each rate), which the report draws; this module draws nothing.
"""

from __future__ import annotations

from edgeprune.errors import EdgepruneError
from edgeprune.results import Entry, RunResults
from edgeprune.results.decision import Decision, Verdict
from edgeprune.selection.constraints import gain_check
from edgeprune.selection.limits import active_limits, check
from edgeprune.selection.registry import Selector

DEFAULT_MIN_PE = 0.85  # --min-pe 0 means "the rule's default"
# Limits every selector applies, the paper's rule included: a model at chance or below the
# user's accuracy floor is never worth shipping, whatever its maps look like.
GUARDS = ("min_accuracy", "max_chance_p")


def _non_increasing(values: list[float], tolerance: float) -> bool:
    return all(b <= a + tolerance for a, b in zip(values, values[1:]))


def _within_drop(drop: float, max_acc_drop: float) -> bool:
    # 0.95 - 0.94 is 1.0000000000000009 points: floating-point noise is not a drop
    return drop <= max_acc_drop + 1e-12


def _pe(entry: Entry) -> float:
    return entry.explanation["pe"]


def select_by_pe(results: RunResults, settings, task) -> Decision:
    max_acc_drop = settings.max_acc_drop
    min_pe = settings.min_pe or DEFAULT_MIN_PE
    # Rates compared under identical fine-tuning, as deployed in FP32; precision variants are
    # a separate axis (constraint-based selection weighs them).
    candidates = sorted((c for c in results.candidates if not c.is_variant), key=lambda c: c.ratio)
    if not candidates or any(not c.explanation for c in candidates):
        raise EdgepruneError(
            "PE-guided selection needs PE-scores for every candidate (rerun compress)"
        )
    undefined = [c.name for c in candidates if c.explanation.get("pe") is None]
    if undefined:
        raise EdgepruneError(
            f"PE-guided selection needs a PE-score for every candidate; it is undefined for "
            f"{', '.join(undefined)} (their maps are constant: explanations at this input size "
            "carry no information); select by constraints instead"
        )
    methods = {c.method for c in candidates}
    if len(methods) > 1:
        raise EdgepruneError(
            f"PE-guided selection compares rates of one method; this run has {sorted(methods)}"
        )
    base = results.baseline
    accuracy = [task.primary_score(base)] + [task.primary_score(c) for c in candidates]
    pe = [1.0] + [_pe(c) for c in candidates]
    # One test image of accuracy is noise, not a trend.
    tolerance = 1.0 / max(base.quality.n, 1)
    accuracy_falls, pe_falls = _non_increasing(accuracy, tolerance), _non_increasing(pe, 1e-6)
    drop = {c.name: c.delta("accuracy_drop_points") for c in candidates}
    within_drop = [c for c in candidates if _within_drop(drop[c.name], max_acc_drop)]
    trustworthy = [c for c in candidates if _pe(c) >= min_pe]
    # The guards against a useless model hold whatever the rule: a rate they refuse is out,
    # and so is one that gains nothing on the target.
    guards = [
        (limit, value) for limit, value in active_limits(task, settings) if limit.option in GUARDS
    ]
    refused = {
        c.name: [
            k.text
            for k in [check(limit, c, results, value, settings) for limit, value in guards]
            + [gain_check(c, results)]
            if not k.ok
        ]
        for c in candidates
    }
    within_drop = [c for c in within_drop if not refused[c.name]]
    trustworthy = [c for c in trustworthy if not refused[c.name]]
    # Each case reads its own conditions, and only those are reported and recorded.
    if accuracy_falls and pe_falls:
        case = "accuracy and PE-score both fall monotonically: the largest rate within the allowed accuracy drop"
        pool, applied = within_drop, {"max_acc_drop": max_acc_drop}
    elif pe_falls:
        case = (
            "accuracy fluctuates while PE-score falls: accuracy is no reliable guide, so the largest rate "
            f"whose PE-score stays >= {min_pe:g}; confirm on the overlays"
        )
        pool, applied = trustworthy, {"min_pe": min_pe}
    else:
        case = (
            "PE-score does not fall monotonically: the largest rate meeting both the accuracy drop and "
            f"PE-score >= {min_pe:g}; confirm on the overlays"
        )
        pool = [c for c in within_drop if c in trustworthy]
        applied = {"max_acc_drop": max_acc_drop, "min_pe": min_pe}
    # The rule is the paper's: the other limits the user set are not applied, and said so.
    ignored = [
        f"{limit.label} {value:g}{limit.unit}"
        for limit, value in active_limits(task, settings)
        if limit.option not in ("max_acc_drop", "min_pe", *GUARDS)
    ]
    if getattr(settings, "limit_at", "estimate") == "bound":
        ignored.append("--limit-at bound (the rule reads the accuracy drop's point estimate)")
    applied.update({limit.option: value for limit, value in guards})
    chosen = max(pool, key=lambda c: c.ratio, default=None)
    explanation = (
        (f"{chosen.name}: " if chosen else "no rate qualifies; keep the unpruned baseline: ")
        + case
        + (f"; not applied by this rule: {', '.join(ignored)}" if ignored else "")
    )
    verdicts = [
        Verdict(
            name=c.name,
            method=c.method,
            ratio=c.ratio,
            precision=c.precision,
            feasible=c in pool,
            reasons=[]
            if c in pool
            else (refused[c.name] + _reasons(drop[c.name], _pe(c), applied))
            or ["a larger rate qualifies (the rule takes the largest)"],
            details={"accuracy_drop_points": drop[c.name], "pe": _pe(c)},
        )
        for c in candidates
    ]
    return Decision(
        selector="pe",
        settings=applied,
        objective="PE-guided rate selection (Pachon et al. 2023)",
        chosen=chosen.name if chosen else None,
        explanation=explanation,
        verdicts=verdicts,
        needs_confirmation=not (accuracy_falls and pe_falls),
        notes={
            "accuracy_monotonic": accuracy_falls,
            "pe_monotonic": pe_falls,
            "case": case,
            "not_applied": ignored,
        },
    )


def _reasons(drop: float, pe: float, applied: dict[str, float]) -> list[str]:
    """What a rate misses of the conditions the applied case reads (``applied``)."""
    reasons = []
    max_acc_drop, min_pe = applied.get("max_acc_drop"), applied.get("min_pe")
    if max_acc_drop is not None and not _within_drop(drop, max_acc_drop):  # the rule's test
        reasons.append(f"accuracy drop {drop:.2f} pp > {max_acc_drop:g} pp allowed")
    if min_pe is not None and pe < min_pe:
        reasons.append(f"PE-score {pe:.3f} < {min_pe:g} required")
    return reasons


SELECTOR = Selector(
    select_by_pe,
    "PE-guided rate selection (Pachon et al. 2023)",
    ("classification",),
    confirm_on_overlays=True,
)
