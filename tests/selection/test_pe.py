"""PE-guided rate selection (Pachon et al. 2023) on hand-built results: each branch of the rule."""

from __future__ import annotations

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.selection import decide


def _run(make, accuracy, pe, **extra):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02, hcc=1.0, pe=1.0)
    candidates = [
        entry(
            f"m-{r:.2f}",
            r,
            accuracy=a,
            ece=0.02,
            hcc=0.9,
            pe=p,
            macs=round(1000 * (1 - r)),
            **extra,
        )
        for r, a, p in zip((0.25, 0.5, 0.75), accuracy, pe)
    ]
    return results(base, *candidates), settings


def test_both_falling_picks_the_largest_rate_within_the_accuracy_drop(make):
    run, settings = _run(make, (0.948, 0.945, 0.90), (0.95, 0.90, 0.70))
    decision = decide(run, settings(select_by="pe", max_acc_drop=1.0))
    assert decision.chosen == "m-0.50" and not decision.needs_confirmation
    assert decision.notes["accuracy_monotonic"] and decision.notes["pe_monotonic"]
    rejected = {v.name: v.reasons for v in decision.rejected}
    # this case reads the accuracy drop alone: PE is not a reason, and not a recorded setting
    # (it was both: "PE-score 0.700 < 0.85" rejected a rate the rule never tested on PE)
    assert rejected == {"m-0.75": ["accuracy drop 5.00 pp > 1 pp allowed"]}
    assert decision.settings == {"max_acc_drop": 1.0, "max_chance_p": 0.01}  # and the guard


def test_fluctuating_accuracy_with_falling_pe_trusts_the_maps(make):
    # accuracy goes up again at 0.75 (more than one test image): no monotone trend
    run, settings = _run(make, (0.93, 0.92, 0.94), (0.95, 0.88, 0.70))
    decision = decide(run, settings(select_by="pe", max_acc_drop=1.0, min_pe=0.85))
    assert not decision.notes["accuracy_monotonic"] and decision.notes["pe_monotonic"]
    assert decision.chosen == "m-0.50"  # the largest rate with PE >= 0.85, accuracy aside
    assert decision.needs_confirmation and "confirm on the overlays" in decision.explanation


def test_pe_not_monotonic_needs_both_conditions(make):
    run, settings = _run(make, (0.948, 0.946, 0.944), (0.90, 0.95, 0.86))
    decision = decide(run, settings(select_by="pe", max_acc_drop=0.5, min_pe=0.88))
    assert not decision.notes["pe_monotonic"] and decision.needs_confirmation
    assert decision.chosen == "m-0.50"  # m-0.75 fails PE, m-0.25 is a smaller rate
    assert decision.verdict("m-0.75").reasons == [
        "accuracy drop 0.60 pp > 0.5 pp allowed",
        "PE-score 0.860 < 0.88 required",
    ]


def test_a_one_image_wiggle_is_not_a_fluctuation(make):
    one_image = 1 / 360
    run, settings = _run(make, (0.94, 0.94 + one_image / 2, 0.93), (0.95, 0.90, 0.80))
    decision = decide(run, settings(select_by="pe", max_acc_drop=100))
    assert decision.notes["accuracy_monotonic"]


def test_nothing_qualifies_keeps_the_baseline(make):
    run, settings = _run(make, (0.93, 0.92, 0.94), (0.80, 0.70, 0.60))
    decision = decide(run, settings(select_by="pe", min_pe=0.85))
    assert decision.chosen is None and "keep the unpruned baseline" in decision.explanation


def test_pe_needs_scores_and_one_method(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02)
    no_maps = entry("m-0.50", 0.5, accuracy=0.94, ece=0.02)
    with pytest.raises(EdgepruneError, match="needs PE-scores for every candidate"):
        decide(results(base, no_maps), settings(select_by="pe"))
    a = entry("a-0.50", 0.5, accuracy=0.94, ece=0.02, pe=0.9, method="l1-filter")
    b = entry("b-0.50", 0.5, accuracy=0.94, ece=0.02, pe=0.9, method="fpgm")
    with pytest.raises(EdgepruneError, match="compares rates of one method"):
        decide(results(base, a, b), settings(select_by="pe"))


def test_variants_are_left_to_constraint_selection(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02, pe=1.0)
    fp32 = entry("m-0.50", 0.5, accuracy=0.948, ece=0.02, pe=0.9, macs=500)
    int8 = entry("m-0.50@int8", 0.5, accuracy=0.90, ece=0.02, pe=0.5, variant_of="m-0.50")
    decision = decide(results(base, fp32, int8), settings(select_by="pe"))
    assert [v.name for v in decision.verdicts] == ["m-0.50"] and decision.chosen == "m-0.50"


def test_the_limits_the_rule_does_not_apply_are_named(make):
    """select --by pe dropped the ECE limit the chosen rate fails without a word."""
    run, settings = _run(make, (0.948, 0.945, 0.90), (0.95, 0.90, 0.70))
    decision = decide(run, settings(select_by="pe", max_acc_drop=1.0, max_ece_increase=0.01))
    assert decision.notes["not_applied"] == ["ECE increase <= 0.01"]
    assert decision.explanation.endswith("; not applied by this rule: ECE increase <= 0.01")
    fluctuating, settings = _run(make, (0.93, 0.92, 0.94), (0.95, 0.88, 0.70))
    decision = decide(fluctuating, settings(select_by="pe", min_pe=0.85))
    assert decision.settings == {"min_pe": 0.85, "max_chance_p": 0.01}  # accuracy no guide
    assert "accuracy drop" not in " ".join(decision.verdict("m-0.75").reasons)


def test_undefined_pe_scores_are_refused_and_warned_about(make):
    run, settings = _run(make, (0.948, 0.945, 0.90), (0.95, 0.90, 0.70))
    flat = run.entry("m-0.75")
    flat.explanation = {"hcc": None, "pe": None,
                        "undefined": ["PE-score: every gradcam++ map pair has a constant map"]}  # fmt: skip
    with pytest.raises(EdgepruneError, match="undefined for m-0.75 .*select by constraints"):
        decide(run, settings(select_by="pe"))
    decision = decide(run, settings())
    assert decision.notes["warnings"] == [
        "m-0.75: PE-score: every gradcam++ map pair has a constant map, so they are undefined"
    ]
