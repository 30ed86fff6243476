"""Selection at its edges: a figure exactly at a limit, ties, and what ranks candidates that
differ in one figure only. Written from the mutants that survived tools/mutation.py."""

from __future__ import annotations

import dataclasses

import pytest

from edgeprune.selection import SELECTORS, decide, pareto_front
from edgeprune.selection.limits import check
from edgeprune.tasks import TASKS
from edgeprune.tasks.base import Limit

TASK = TASKS.get("classification")


def _limit(kind: str, measured: float) -> Limit:
    return Limit("figure", "max_acc_drop", kind, lambda e, r, s: (measured, "measured"))


@pytest.mark.parametrize("kind", ["max", "min"])
def test_a_figure_exactly_at_its_limit_meets_it(kind):
    held = check(_limit(kind, 0.25), None, None, 0.25, None)
    assert held.ok and held.excess == 0.0


def test_a_failed_limit_reports_its_relative_excess():
    above = check(_limit("max", 0.26), None, None, 0.25, None)
    below = check(_limit("min", 0.20), None, None, 0.25, None)
    assert not above.ok and above.excess == pytest.approx(0.04)
    assert not below.ok and below.excess == pytest.approx(0.2)


def test_failing_a_limit_of_zero_is_measured_in_the_figure_s_own_units():
    failed = check(_limit("max", 0.003), None, None, 0.0, None)
    assert not failed.ok and failed.excess == pytest.approx(0.003)


def test_the_closest_are_at_most_three(make):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02)
    failing = [entry(f"m-{r}", r, accuracy=0.95 - r / 10, ece=0.02) for r in (0.2, 0.4, 0.6, 0.8)]
    decision = decide(results(base, *failing), settings(max_acc_drop=0.5))
    assert decision.chosen is None and decision.closest == ["m-0.2", "m-0.4", "m-0.6"]


def test_zeroed_weights_alone_are_no_gain_on_the_target(make):
    """A mask keeps the baseline's MACs, bytes and target latency on a dense runtime: it was
    chosen as the "largest compression" (2of4-0.50, MACs -0 %, the baseline's estimate)."""
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02)
    sparser = entry("u-0.25", 0.25, accuracy=0.9, ece=0.02, nonzero=500)
    denser = entry("u-0.50", 0.50, accuracy=0.9, ece=0.02, nonzero=800)
    decision = decide(results(base, sparser, denser), settings())
    assert decision.chosen is None
    assert decision.verdict("u-0.25").reasons == [
        "gains nothing on jetson-x over the baseline: MACs -0.0 %, the same artifact bytes, "
        "1.000 ms estimated against 1.000"
    ]


def test_a_mask_the_target_runs_faster_is_a_gain_and_ranks_by_it(make):
    """Where the target's latency says the zeros pay (a sparse runtime), the mask gains."""
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02, target_ms=1.0)
    some = entry("u-0.25", 0.25, accuracy=0.9, ece=0.02, nonzero=800, target_ms=0.9)
    more = entry("u-0.50", 0.50, accuracy=0.9, ece=0.02, nonzero=500, target_ms=0.7)
    noise = entry("u-0.75", 0.75, accuracy=0.9, ece=0.02, nonzero=300, target_ms=0.995)
    decision = decide(results(base, some, more, noise), settings())
    assert decision.chosen == "u-0.50"
    assert not decision.verdict("u-0.75").feasible  # 0.5 % below an estimate: no gain


def test_identical_entries_both_stay_on_the_pareto_front(make):
    entry, results, _ = make
    base = entry("baseline", 0.0, accuracy=0.95, ece=0.02, macs=1000)
    twin_a = entry("a", 0.5, accuracy=0.94, ece=0.03, macs=500, target_ms=0.5)
    twin_b = entry("b", 0.5, accuracy=0.94, ece=0.03, macs=500, target_ms=0.5)
    run = results(base, twin_a, twin_b)
    front = pareto_front(run.entries, run, TASK)
    assert {"a", "b"} <= set(front)


# ------------------------------------------------------------------ PE-guided selection


def _pe_run(make, accuracy, pe, n=360):
    entry, results, settings = make
    base = entry("baseline", 0.0, accuracy=accuracy[0], ece=0.02, hcc=1.0, pe=1.0)
    rates = (0.25, 0.5, 0.75)
    candidates = [
        entry(f"m-{r:.2f}", r, accuracy=a, ece=0.02, hcc=0.9, pe=p, macs=round(1000 * (1 - r)))
        for r, a, p in zip(rates, accuracy[1:], pe)
    ]
    for e in [base, *candidates]:
        e.quality = dataclasses.replace(e.quality, n=n)
    return results(base, *candidates), settings


def test_a_rise_of_exactly_one_test_image_is_still_a_fall(make):
    # 4 images: accuracy steps of exactly 0.25, no rounding
    run, settings = _pe_run(make, (1.0, 0.75, 1.0, 0.5), (0.95, 0.9, 0.8), n=4)
    decision = decide(run, settings(select_by="pe", max_acc_drop=100))
    assert decision.notes["accuracy_monotonic"]


def test_a_rise_of_two_test_images_is_a_fluctuation(make):
    run, settings = _pe_run(make, (0.95, 0.94, 0.94 + 2 / 360, 0.90), (0.95, 0.9, 0.8))
    decision = decide(run, settings(select_by="pe", max_acc_drop=100))
    assert not decision.notes["accuracy_monotonic"]


def test_an_accuracy_drop_exactly_at_the_limit_is_within_it(make):
    # 0.95 - 0.94 is 1.0000000000000009 points in floating point: still "1 pp"
    run, settings = _pe_run(make, (0.95, 0.945, 0.94, 0.90), (0.95, 0.9, 0.8))
    decision = decide(run, settings(select_by="pe", max_acc_drop=1.0))
    assert decision.chosen == "m-0.50"


def test_a_pe_score_exactly_at_the_threshold_is_trustworthy(make):
    # accuracy fluctuates, PE falls: the largest rate whose PE is >= min-pe
    run, settings = _pe_run(make, (0.95, 0.93, 0.92, 0.94), (0.95, 0.85, 0.70))
    decision = decide(run, settings(select_by="pe", max_acc_drop=1.0, min_pe=0.85))
    assert decision.chosen == "m-0.50"
    reasons = {v.name: v.reasons for v in decision.rejected}
    # m-0.75 fails on PE only: its drop of exactly 1 pp is not a reason (it was: the rule
    # allowed 1.0000000000000009 points while the reasons called it over the limit)
    assert reasons["m-0.75"] == ["PE-score 0.700 < 0.85 required"]


def test_a_rejected_rate_names_only_what_it_misses(make):
    # both fall; m-0.75 misses the drop, its PE of exactly 0.85 is no reason
    run, settings = _pe_run(make, (0.95, 0.948, 0.945, 0.90), (0.95, 0.90, 0.85))
    decision = decide(run, settings(select_by="pe", max_acc_drop=1.0, min_pe=0.85))
    assert {v.name: v.reasons for v in decision.rejected} == {
        "m-0.75": ["accuracy drop 5.00 pp > 1 pp allowed"]
    }


def test_pe_selection_asks_for_the_overlays_and_constraints_do_not():
    assert SELECTORS.get("pe").confirm_on_overlays
    assert not SELECTORS.get("constraints").confirm_on_overlays


# ------------------------------------------------------------- what selection reads


def test_memory_on_a_host_target_is_the_measured_peak_in_mib(make):
    entry, results, _ = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02, memory_mb=10)
    small = entry("a", 0.5, accuracy=0.9, ece=0.02, memory_mb=2.5)
    run = results(base, small, host_target=True)
    assert run.target_memory_mb(small) == (2.5, "measured (peak RSS of the runner)")


def test_deltas_to_the_baseline(make):
    entry, results, _ = make
    base = entry("baseline", 0.0, accuracy=0.9, ece=0.02, macs=1000, host_ms=2.0)
    half = entry("a", 0.5, accuracy=0.9, ece=0.02, macs=250, host_ms=0.5)
    half.size = dataclasses.replace(half.size, params=None)  # an artifact evaluated alone
    results(base, half)
    assert half.delta("macs_reduction") == 0.75
    assert half.delta("host_speedup_batch1") == 4.0
    assert half.delta("params_reduction") is None


def test_merged_results_name_their_runs_and_single_runs_do_not(make):
    entry, results, _ = make
    run = results(entry("baseline", 0.0, accuracy=0.9, ece=0.02))
    assert "merged_from" not in run.to_dict()
    run.merged_from = ["a", "b"]
    assert run.to_dict()["merged_from"] == ["a", "b"]


# ------------------------------------------------------------------- merging runs


def _two_runs(make, **second):
    entry, results, _ = make
    runs = []
    for config in ({"seed": 0}, {"seed": 0, **second}):
        run = results(entry("baseline", 0.0, accuracy=0.9, ece=0.02),
                      entry("m-0.50", 0.5, accuracy=0.9, ece=0.02))  # fmt: skip
        run.config = config
        runs.append(run)
    return runs


def test_runs_that_agree_merge_with_every_candidate_named_by_its_run(make):
    from edgeprune.results import merge_results

    first, second = _two_runs(make)
    merged = merge_results([first, second], ["a", "b"], {"seed": 0})
    assert [c.name for c in merged.candidates] == ["a/m-0.50", "b/m-0.50"]
    assert [c.extra["run"] for c in merged.candidates] == ["a", "b"]
    assert merged.merged_from == ["a", "b"] and merged.baseline is first.baseline
    assert merge_results([first], ["a"], {"seed": 0}) is first  # one run: itself


@pytest.mark.parametrize("differ", ["seed", "target", "task"])
def test_runs_that_differ_in_what_shapes_the_baseline_are_refused(make, differ):
    from edgeprune.errors import EdgepruneError
    from edgeprune.results import merge_results

    first, second = _two_runs(make, **({"seed": 1} if differ == "seed" else {}))
    if differ == "target":
        second.target = {**second.target, "name": "jetson-other"}
    if differ == "task":
        second.task = "detection"
    with pytest.raises(EdgepruneError, match=f"runs a and b differ in {differ}"):
        merge_results([first, second], ["a", "b"], {"seed": 0})


def test_a_key_an_older_run_lacks_counts_as_its_default(make):
    from edgeprune.results import merge_results

    first, second = _two_runs(make)
    second.config = {}  # written before "seed" was recorded
    merge_results([first, second], ["a", "b"], {"seed": 0})
    with pytest.raises(Exception, match="differ in seed"):
        merge_results([first, second], ["a", "b"], {"seed": 7})


def test_a_measured_latency_counts_only_out_of_the_noise(make):
    """A dense-run unstructured candidate (no MAC, no byte saved) was chosen on a host target
    for 0.159 against the baseline's 0.289 ms, timed while Ray workers trained beside it."""
    from edgeprune.results import LatencyStats

    entry, results, settings = make

    def timed(e, p50, p90, p99):
        stats = LatencyStats(1, 1, 10, p50, 0.0, p50, p99, p50, p90, p90, p99, 1e3 / p50)
        e.latency = dataclasses.replace(e.latency, batches={1: stats})
        return e

    base = timed(entry("baseline", 0.0, accuracy=0.9, ece=0.02), 0.289, 0.31, 0.9)  # busy
    masked = timed(entry("u-0.25", 0.25, accuracy=0.9, ece=0.02, nonzero=800), 0.159, 0.17, 0.2)
    int8 = timed(entry("baseline@int8", 0.0, accuracy=0.9, ece=0.02), 0.159, 0.17, 0.2)
    int8.precision = "int8"  # the same graph's size in this hand-made record; another precision
    run = results(base, masked, int8, host_target=True)
    decision = decide(run, settings())
    assert decision.chosen is None  # the baseline was timed busy: no gain to trust
    assert "gains nothing on host-cpu" in decision.verdict("u-0.25").reasons[0]
    timed(base, 0.289, 0.30, 0.31)  # a quiet baseline: 0.17 ms at p90 is clearly faster...
    decision = decide(run, settings())
    assert decision.chosen == "baseline@int8"  # ...for what runs otherwise,
    assert not decision.verdict("u-0.25").feasible  # not for a mask a dense runtime ignores
    timed(int8, 0.27, 0.29, 0.3)  # p90 above 95 % of the baseline's p50: within the noise
    assert decide(run, settings()).chosen is None
