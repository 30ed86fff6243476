"""Constraint-based selection on hand-built results: every limit, every objective, the Pareto
front, the closest candidates when nothing qualifies, measured against estimated figures."""

from __future__ import annotations

import dataclasses

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.selection import SELECTORS, decide, limits_for, pareto_front
from edgeprune.tasks import TASKS

TASK = TASKS.get("classification")


@pytest.fixture
def sweep(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02, macs=1000, mpc=0.80, rpc=0.84,
                 hcc=1.0, pe=1.0, target_ms=1.0, memory_mb=10)  # fmt: skip
    a = entry("a", 0.25, accuracy=0.948, ece=0.025, macs=700, mpc=0.79, rpc=0.83,
              hcc=0.97, pe=0.90, target_ms=0.8, memory_mb=8)  # fmt: skip
    b = entry("b", 0.50, accuracy=0.940, ece=0.040, macs=400, mpc=0.74, rpc=0.79,
              hcc=0.90, pe=0.80, target_ms=0.6, memory_mb=6)  # fmt: skip
    c = entry("c", 0.75, accuracy=0.900, ece=0.090, macs=200, mpc=0.60, rpc=0.67,
              hcc=0.70, pe=0.60, target_ms=0.5, memory_mb=4)  # fmt: skip
    return results(base, a, b, c), settings


def _chosen(results, settings, **limits):
    return decide(results, settings(**limits))


def test_the_default_limits_pick_the_most_compressed_within_them(sweep):
    results, settings = sweep
    decision = _chosen(results, settings)  # acc drop <= 1 pp, ECE increase <= 0.01
    assert decision.chosen == "a" and decision.selector == "constraints"
    by_name = {v.name: v for v in decision.verdicts}
    assert by_name["b"].binding == "ECE increase" and not by_name["b"].feasible
    assert by_name["c"].reasons == [
        "accuracy drop 5pp > 1pp allowed".replace("5pp", "5 pp").replace("1pp", "1 pp"),
        "ECE increase 0.07 > 0.01 allowed",
    ]
    assert by_name["c"].binding == "ECE increase"  # 6x over its limit against 4x
    assert "MACs -30.0 %, accuracy -0.20 pp, ECE +0.0050, 0.800 ms on jetson-x, estimated" in (
        decision.explanation
    )


@pytest.mark.parametrize(
    "limits, feasible",
    [
        ({"max_acc_drop": 1.0, "max_ece_increase": 1.0}, {"a", "b"}),
        ({"max_acc_drop": 100, "max_ece_increase": 0.02}, {"a", "b"}),
        ({"max_acc_drop": 100, "max_ece_increase": 1, "max_latency_ms": 0.6}, {"b", "c"}),
        ({"max_acc_drop": 100, "max_ece_increase": 1, "max_memory_mb": 7}, {"b", "c"}),
        ({"max_acc_drop": 100, "max_ece_increase": 1, "min_mpc": 0.75}, {"a"}),
        ({"max_acc_drop": 100, "max_ece_increase": 1, "min_rpc": 0.70}, {"a", "b"}),
        ({"max_acc_drop": 100, "max_ece_increase": 1, "min_hcc": 0.95}, {"a"}),
        ({"max_acc_drop": 100, "max_ece_increase": 1, "min_pe": 0.8}, {"a", "b"}),
    ],
    ids=["accuracy", "ece", "latency", "memory", "mpc", "rpc", "hcc", "pe"],
)
def test_every_limit_decides_feasibility(sweep, limits, feasible):
    results, settings = sweep
    decision = _chosen(results, settings, **limits)
    assert {v.name for v in decision.verdicts if v.feasible} == feasible
    # a limit off (0) is not checked; one on is recorded with its value
    for option, value in limits.items():
        assert decision.settings[option] == value


def test_a_limit_at_zero_is_off_except_the_two_that_always_apply(sweep):
    results, settings = sweep
    decision = _chosen(results, settings, max_acc_drop=0, max_ece_increase=0)
    assert decision.settings["max_acc_drop"] == 0 and decision.settings["min_pe"] is None
    assert decision.chosen is None  # every candidate loses accuracy and ECE


@pytest.mark.parametrize(
    "objective, chosen", [("compression", "c"), ("latency", "c"), ("accuracy", "a")]
)
def test_every_objective(sweep, objective, chosen):
    results, settings = sweep
    decision = _chosen(results, settings, max_acc_drop=100, max_ece_increase=1, objective=objective)
    assert decision.chosen == chosen
    assert decision.objective.startswith(
        {
            "compression": "largest compression",
            "latency": "lowest latency",
            "accuracy": "highest accuracy",
        }[objective]  # fmt: skip
    )


def test_compression_ranks_by_macs_then_bytes_then_latency_on_the_target(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02)
    int8 = entry("b@int8", 0.0, accuracy=0.9, ece=0.02)  # same MACs, a quarter of the bytes
    int8.size = dataclasses.replace(int8.size, artifact_bytes=1000)
    pruned = entry("p-0.25", 0.25, accuracy=0.9, ece=0.02, macs=900)
    run = results(base, int8, pruned)
    assert decide(run, settings()).chosen == "p-0.25"  # MACs first
    assert decide(results(base, int8), settings()).chosen == "b@int8"  # bytes are a gain


def test_nothing_feasible_keeps_the_baseline_and_names_the_closest(sweep):
    results, settings = sweep
    decision = _chosen(results, settings, max_acc_drop=0.1, max_ece_increase=0.001)
    assert decision.chosen is None and "keep the unpruned baseline" in decision.explanation
    assert decision.closest == ["a", "b", "c"]  # smallest total relative excess first
    assert "closest: a, b, c" in decision.explanation


def test_a_figure_that_was_not_measured_fails_its_limit(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02)
    bare = entry("a", 0.5, accuracy=0.9, ece=0.02, macs=500)  # no corruption, no explanations
    decision = decide(results(base, bare), settings(min_mpc=0.5))
    verdict = decision.verdicts[0]
    assert not verdict.feasible and verdict.reasons == [
        "mPC not measured for this entry (required: min 0.5)"
    ]


def test_latency_is_measured_on_a_host_target_and_estimated_elsewhere(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02, host_ms=2.0, target_ms=1.0)
    cand = entry("a", 0.5, accuracy=0.9, ece=0.02, macs=500, host_ms=1.5, target_ms=0.7)
    on_jetson = decide(results(base, cand), settings(max_latency_ms=0.8))
    assert on_jetson.verdicts[0].latency_source == "estimated" and on_jetson.chosen == "a"
    on_host = decide(results(base, cand, host_target=True), settings(max_latency_ms=0.8))
    check = next(c for c in on_host.verdicts[0].checks if c.name == "latency")
    assert on_host.verdicts[0].latency_source == "measured" and on_host.chosen is None
    assert check.name == "latency" and check.value == 1.5 and "(estimated)" not in check.text


def test_the_pareto_front_keeps_only_undominated_entries(make):
    entry, results, _ = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02, target_ms=1.0)
    better = entry("better", 0.25, accuracy=0.95, ece=0.02, target_ms=0.8)  # dominates base
    worse = entry("worse", 0.5, accuracy=0.90, ece=0.05, target_ms=0.9)  # dominated by better
    fast = entry("fast", 0.75, accuracy=0.80, ece=0.10, target_ms=0.3)
    run = results(base, better, worse, fast)
    assert pareto_front(run.entries, run, TASK) == ["better", "fast"]


def test_checks_come_in_the_order_of_what_they_protect():
    names = [limit.name for limit in limits_for(TASK)]
    assert names == ["accuracy drop", "accuracy", "chance p-value", "ECE increase", "latency",
                     "memory", "mPC", "rPC", "HCC", "PE-score"]  # fmt: skip


def _near_chance(make):
    """torchvision's MobileNet-V2 from random weights on 359 ten-class images: 13.4 %, and
    its l1-filter-0.50 at 12.8 %, which was selected in a green box."""
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=48 / 359, ece=0.02, macs=1000)
    half = entry("l1-filter-0.50", 0.5, accuracy=46 / 359, ece=0.02, macs=400)
    for e in (base, half):
        e.quality = dataclasses.replace(e.quality, n=359)
    return results(base, half), settings


def test_a_model_at_chance_is_never_selected_and_the_baseline_is_named(make):
    run, settings = _near_chance(make)
    decision = decide(run, settings())
    assert decision.chosen is None
    assert decision.verdict("l1-filter-0.50").reasons == ["chance p-value 0.04936 > 0.01 allowed"]
    (warning,) = decision.notes["warnings"]
    assert warning.startswith(
        "the unpruned baseline reaches 13.4 % on 359 images, not above chance (10.0 % for 10 classes)"
    )
    # switched off, the old behaviour: selected, but the baseline still carries its warning
    decision = decide(run, settings(max_chance_p=0))
    assert decision.chosen == "l1-filter-0.50"
    assert "warnings" not in decision.notes  # off means off
    # the PE rule applies the same guard
    for e in run.entries:
        e.explanation = {"hcc": 0.9, "pe": 0.9}
    decision = decide(run, settings(select_by="pe"))
    assert decision.chosen is None
    assert decision.verdict("l1-filter-0.50").reasons[0] == "chance p-value 0.04936 > 0.01 allowed"


def test_an_accuracy_floor_the_user_sets(sweep):
    results, settings = sweep
    decision = decide(results, settings(min_accuracy=0.945, max_ece_increase=1))
    assert decision.chosen == "a"  # b at 94.0 % is below the floor, c too
    assert decision.verdict("b").reasons == ["accuracy 0.94 < 0.945 required"]


def test_unknown_selector_and_objective_are_user_errors(sweep):
    results, settings = sweep
    with pytest.raises(EdgepruneError, match="unknown selector 'pareto'"):
        decide(results, settings(select_by="pareto"))
    with pytest.raises(EdgepruneError, match="objective must be one of"):
        decide(results, settings(objective="speed"))
    assert SELECTORS.names() == ["constraints", "pe"]


def test_a_check_reads_as_what_was_found_passing_or_failing(sweep):
    """A passing check said "accuracy drop 0.2 pp > 1 pp allowed" before: failure-shaped."""
    results, settings = sweep
    decision = _chosen(results, settings, min_mpc=0.75)
    by_name = {v.name: v for v in decision.verdicts}
    texts = {c.name: c.text for c in by_name["a"].checks}
    assert texts["accuracy drop"] == "accuracy drop 0.2 pp <= 1 pp allowed"
    assert texts["mPC"] == "mPC 0.79 >= 0.75 required"
    assert {c.name: c.text for c in by_name["b"].checks}["mPC"] == "mPC 0.74 < 0.75 required"
    for verdict in decision.verdicts:
        for c in verdict.checks:
            assert (" > " in c.text or " < " in c.text) == (not c.ok), c.text


def test_limit_at_bound_judges_the_unfavourable_end_of_each_interval(sweep):
    results, settings = sweep
    a = results.entry("a")
    # a loses 0.2 pp on average, but its paired 95 % interval reaches 1.4 pp
    a.vs_baseline["accuracy_drop_points_interval"] = [-0.6, 1.4]
    a.vs_baseline["ece_increase_interval"] = [0.001, 0.009]
    assert decide(results, settings()).chosen == "a"  # the estimate is within 1 pp
    decision = decide(results, settings(limit_at="bound"))
    verdict = {v.name: v for v in decision.verdicts}["a"]
    assert decision.chosen is None and verdict.binding == "accuracy drop"
    assert (
        "accuracy drop 1.4 pp > 1 pp allowed (upper 95 % bound; estimate 0.2 pp)" in verdict.reasons
    )
    assert decision.settings["limit_at"] == "bound"
    # a figure without an interval fails under bound, and says why
    # b has no interval
    decision = decide(results, settings(limit_at="bound", max_acc_drop=2, max_ece_increase=0.05))
    reasons = {v.name: v for v in decision.verdicts}["b"].reasons
    assert any("no 95 % interval was measured" in r for r in reasons), reasons
    # a minimum reads the low end: mPC 0.79 whose interval starts at 0.77
    a.quality.intervals["mpc"] = [0.77, 0.81]
    a.vs_baseline["accuracy_drop_points_interval"] = [-0.6, 0.9]
    assert decide(results, settings(limit_at="bound", min_mpc=0.78)).chosen is None
    assert decide(results, settings(limit_at="bound", min_mpc=0.77)).chosen == "a"


def test_a_choice_whose_interval_reaches_past_a_limit_is_chosen_with_a_warning(sweep):
    results, settings = sweep
    results.entry("a").vs_baseline["accuracy_drop_points_interval"] = [-0.6, 1.4]
    decision = decide(results, settings())
    assert decision.chosen == "a"
    (warning,) = decision.notes["warnings"]
    assert warning.startswith("a's accuracy drop 0.2 pp (95 % interval -0.6 to 1.4 pp)")
    assert "not established at 95 %" in warning
    results.entry("a").vs_baseline["accuracy_drop_points_interval"] = [-0.6, 0.9]
    assert "warnings" not in decide(results, settings()).notes
