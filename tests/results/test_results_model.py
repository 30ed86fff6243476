"""The typed results model: version 2 round trips, and the version-1 reader opens what the
previous edgeprune wrote (real files, tests/results/data) with every figure carried over."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.files import write_json
from edgeprune.results import (
    SCHEMA,
    Decision,
    Latency,
    load_entry,
    load_results,
    read_results,
)
from edgeprune.tasks import TASKS

DATA = Path(__file__).with_name("data")
CLASSIFICATION = TASKS.get("classification")


def _load(name: str) -> dict:
    with gzip.open(DATA / name) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def v1() -> dict:
    return _load("v1-results.json.gz")


def test_version_1_opens_with_every_figure_where_version_2_keeps_it(v1):
    results = load_results(v1, TASKS)
    assert results.task == "classification"
    assert [e.name for e in results.entries] == [
        v1["baseline"]["name"],
        *[c["name"] for c in v1["candidates"]],
    ]
    for entry, old in zip(results.entries, [v1["baseline"], *v1["candidates"]]):
        q = entry.quality
        assert q.accuracy == old["accuracy"] and q.n == old["n"]
        assert q.calibration.ece == old["calibration"]["ece"]
        assert q.calibration.brier == old["calibration"]["brier"]
        assert q.splits == old["corruption_splits"]
        assert q.corruption.mpc == old["corruption"]["mPC"]
        assert q.corruption.mce == old["corruption"]["mCE"]
        assert q.corruption.per_severity == old["corruption"]["per_severity"]
        # latency batches apart from their metadata
        batches = sorted(int(k) for k in old["latency"] if k.isdigit())
        assert entry.latency.batch_sizes == batches
        assert entry.latency.at(1).p50_ms == old["latency"]["1"]["p50_ms"]
        assert entry.latency.where == old["latency"]["where"]
        assert entry.estimate.latency_ms(1) == old["target_estimate"]["latency"]["1"]["latency_ms"]
        assert entry.estimate.precision == old["target_estimate"]["precision"]
        renamed = dict(old["vs_baseline"])  # the relative ECE change: today's name and sign
        renamed["ece_relative_change_percent"] = -renamed.pop("ece_change_relative_percent") + 0.0
        assert entry.vs_baseline == renamed
        assert entry.explanation == old["explanation"]
        assert entry.fidelity == old["fidelity"]
        assert entry.size.macs == old["size"]["macs"]
        assert entry.precision == old.get("precision", "fp32")
    int8 = results.entry("l1-filter-0.50@int8")
    assert int8.is_variant and int8.variant_of == "l1-filter-0.50" and int8.series == "int8"
    assert int8.latency.representative is False and int8.latency.note


def test_the_relative_ece_change_has_the_sign_of_the_ece_increase(v1):
    """It had the opposite sign to the report's column: an ECE that rose was negative."""
    results = load_results(v1, TASKS)
    candidates = [e for e in results.entries if e.delta("ece_increase")]
    assert candidates
    for entry in candidates:
        relative = entry.delta("ece_relative_change_percent")
        base_ece = results.baseline.quality.calibration.ece
        assert relative == pytest.approx(100 * entry.delta("ece_increase") / base_ece, rel=1e-6)
    written = CLASSIFICATION.deltas(candidates[0], results.baseline)
    assert "ece_change_relative_percent" not in written
    assert written["ece_relative_change_percent"] == pytest.approx(
        candidates[0].delta("ece_relative_change_percent")
    )


def test_version_2_round_trips_without_loss(v1):
    results = load_results(v1, TASKS)
    written = json.loads(json.dumps(results.to_dict(), default=float))
    assert written["schema"] == SCHEMA
    again = load_results(written, TASKS)
    assert again.to_dict() == written
    # what the model writes is what it reads: no field lost or renamed on the way
    for entry in written["candidates"]:
        assert set(entry["quality"]["corruption"]) >= {"mPC", "rPC", "mCE", "relative_mCE"}
        assert set(entry["latency"]["batches"]) == {"1", "4"}


def test_a_cached_version_1_metrics_file_reads_as_an_entry():
    entry = load_entry(_load("v1-metrics.json.gz"), CLASSIFICATION)
    assert entry.name == "l1-filter-0.50" and entry.method == "l1-filter"
    assert entry.pruning["kind"] == "structured" and entry.finetune["recipe"]["epochs"] == 1
    assert entry.estimate is None  # version 1 cached the measurement, not the estimate


def test_latency_accessors():
    latency = Latency.from_dict(
        {
            "where": "host",
            "runtime": "onnxruntime",
            "batches": {
                "8": {**_stats(8), "compute_ms": {"p50_ms": 1.0}},
                "1": _stats(1),
            },
        }
    )
    assert latency.batch_sizes == [1, 8] and latency.throughput_batch == 8
    assert latency.at(8).details == {"compute_ms": {"p50_ms": 1.0}}
    assert latency.to_dict()["batches"]["8"]["compute_ms"] == {"p50_ms": 1.0}
    only_one = Latency.from_dict({"where": "host", "runtime": "x", "batches": {"1": _stats(1)}})
    assert only_one.throughput_batch == 1  # --latency-batch 1: batch 1 is the throughput batch


def _stats(batch: int) -> dict:
    return {
        "batch_size": batch, "warmup": 1, "iterations": 10, "mean_ms": 1.0, "std_ms": 0.1,
        "min_ms": 0.9, "max_ms": 1.2, "p50_ms": 1.0, "p90_ms": 1.1, "p95_ms": 1.1, "p99_ms": 1.2,
        "throughput_ips": batch * 1000.0,
    }  # fmt: skip


def test_unknown_schema_and_missing_file_are_one_clear_error(tmp_path, v1):
    with pytest.raises(EdgepruneError, match="results schema 'edgeprune-results/9'"):
        load_results({**v1, "schema": "edgeprune-results/9"}, TASKS)
    with pytest.raises(EdgepruneError, match="has no results.json"):
        read_results(tmp_path / "results.json", TASKS)


@pytest.mark.parametrize("name", ["v1-selection-constraints.json.gz", "v1-selection-pe.json.gz"])
def test_version_1_selection_reads_as_a_decision(name):
    old = _load(name)
    decision = Decision.from_dict(old)
    assert decision.chosen == old["chosen"] and decision.explanation == old["explanation"]
    assert [v.name for v in decision.verdicts] == [c["name"] for c in old["candidates"]]
    assert [v.feasible for v in decision.verdicts] == [c["feasible"] for c in old["candidates"]]
    if old.get("by") == "pe":
        assert (
            decision.selector == "pe"
            and decision.settings["min_pe"] == old["constraints"]["min_pe"]
        )
        assert decision.notes["pe_monotonic"] == old["pe_monotonic"]
        assert decision.verdicts[0].details["pe"] == old["candidates"][0]["pe"]
    else:
        assert decision.selector == "constraints" and decision.pareto_front == old["pareto_front"]
        assert decision.verdicts[0].checks[0].kind == "max"  # accuracy drop
    assert Decision.from_dict(decision.to_dict()) == decision


def test_a_version_1_entry_takes_its_runtime_from_the_entry_or_else_its_latency():
    from edgeprune.results.v1 import upgrade_entry

    old = _load("v1-metrics.json.gz")
    old["latency"]["runtime"] = "tensorrt"
    assert "runtime" not in old and upgrade_entry(old)["runtime"] == "tensorrt"
    assert upgrade_entry({**old, "runtime": "onnxruntime"})["runtime"] == "onnxruntime"


def test_a_version_1_selection_without_later_keys_reads_with_their_defaults():
    """The earliest version-1 files had no total_excess and no needs_confirmation."""
    old = _load("v1-selection-constraints.json.gz")
    old.pop("needs_confirmation", None)
    for row in old["candidates"]:
        row.pop("total_excess", None)
    decision = Decision.from_dict(old)
    assert decision.needs_confirmation is False
    assert all(v.total_excess == 0.0 for v in decision.verdicts)


def test_select_and_report_open_a_version_1_run_directory(tmp_path, v1, capsys):
    from edgeprune.cli import main
    from edgeprune.runs import read_run

    run = tmp_path / "old"
    run.mkdir()
    write_json(run / "results.json", v1)
    write_json(run / "selection.json", _load("v1-selection-constraints.json.gz"))
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").is_file() and (run / "results.csv").is_file()
    assert main(["select", str(run), "--max-acc-drop", "100", "--max-ece-increase", "1"]) == 0
    decision = read_run(run).decision
    assert decision.chosen is not None and "selected:" in capsys.readouterr().out
    shutil.rmtree(run)


def test_an_entry_without_a_graph_has_no_size(v1):
    """A TensorRT engine evaluated alone has no ONNX graph to count (found in review: its
    entry could not be written)."""
    entry = load_results(v1, TASKS).baseline
    entry.size = None
    again = load_entry(json.loads(json.dumps(entry.to_dict(), default=float)), CLASSIFICATION)
    assert again.size is None and again.quality == entry.quality


def test_resuming_a_version_1_entry_scores_its_outputs_again(fast_run, tmp_path):
    """A cached version-1 metrics.json binned a confidence of exactly 1.0 apart; on resume
    its figures are computed again from its outputs, so one run never mixes binnings."""
    from edgeprune.measure import Estimator, MeasureSetup, measure_entry
    from edgeprune.rundir import EntryLayout, RunLayout
    from edgeprune.targets.bundle import EvalBundle
    from edgeprune.targets.profile import load_target
    from edgeprune.targets.run import DeviceJob

    source = RunLayout(fast_run)
    folder = tmp_path / "old"
    shutil.copytree(source.entry("l1-filter-0.50").folder, folder)
    layout = EntryLayout(folder)
    v2 = json.loads(layout.metrics.read_text())
    true_ece = v2["quality"]["calibration"]["ece"]
    v1_entry = {k: v for k, v in v2.items() if k not in ("quality", "estimate")}
    v1_entry.update({k: v for k, v in v2["quality"].items() if k != "splits"})
    v1_entry["corruption_splits"] = v2["quality"]["splits"]
    v1_entry["latency"] = {**{k: v for k, v in v2["latency"].items() if k != "batches"},
                           **v2["latency"]["batches"]}  # fmt: skip
    v1_entry["calibration"] = {**v1_entry["calibration"], "ece": 0.5}  # what v1 had cached
    write_json(layout.metrics, v1_entry)
    bundle = EvalBundle(source.bundle)
    setup = MeasureSetup(
        task=CLASSIFICATION,
        bundle=bundle,
        job=DeviceJob(),
        estimator=Estimator(load_target("jetson-orin-nano"), "fp16", (1,)),
    )
    from edgeprune.measure import given_artifact

    entry = measure_entry(given_artifact(layout.onnx), layout, setup, {"name": "x"})
    assert entry.quality.ece == pytest.approx(true_ece) and entry.name == "l1-filter-0.50"


def test_the_per_corruption_table_shows_the_held_out_four_too(v1):
    """They were measured and averaged, but missing from the per-corruption table."""
    from edgeprune.document import Table
    from edgeprune.tasks.classification.report import corruption_section

    results = load_results(v1, TASKS)
    section = corruption_section(results, {})
    grid = [b for b in section.blocks if isinstance(b, Table) and b.headers[0] == "corruption"][0]
    names = [row[0] for row in grid.rows]
    assert names[-4:] == [
        f"{n} (held out)" for n in ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    ]
    assert len(names) == 19
    candidate = results.candidates[0]
    column = 1 + [e.name for e in results.entries if e.quality.corruption].index(candidate.name)
    assert grid.rows[-1][column] == f"{100 * candidate.quality.corruption.held_out['saturate']:.1f}"


def test_a_latency_timed_on_a_busy_machine_is_marked_where_it_is_shown(v1):
    """0.44 ms p50 against 56 ms p99 under a loaded machine was reported as measured."""
    import dataclasses

    from edgeprune.report.content import latency_section
    from edgeprune.report.table import busy_note, summary_rows

    results = load_results(v1, TASKS)
    assert busy_note(results) is None
    entry = results.candidates[0]
    quiet = entry.latency.at(1)
    busy = dataclasses.replace(
        quiet, p50_ms=0.44, p99_ms=56.0, details={"load_average": {"before": [3.9, 2.1, 1.0]}}
    )
    assert busy.busy and not quiet.busy and busy.load_average["before"][0] == 3.9
    entry.latency.batches[1] = busy
    rows = summary_rows(results, read_decision_free(results), CLASSIFICATION)
    row = next(r for r in rows if r["candidate"].startswith(entry.name))
    assert row["host p50 ms (measured, b1)"] == "0.440 !" and busy_note(results).startswith(
        "! host latency"
    )
    section = latency_section(results)
    table = section.blocks[1]
    cells = next(r for r in table.rows if r[0] == entry.name and r[1] == "1")
    assert cells[2] == "serial" and cells[9] == "127.3 busy" and cells[12] == "3.90"
    assert f"{entry.name} b1" in section.blocks[-1] and "busy machine" in section.blocks[-1]


def test_each_latency_figure_says_which_timing_mode_produced_it(v1):
    """TensorRT's enqueue-ahead / CUDA-graph figures sit beside the serial (application)
    latency, each on a row naming its mode; a mode this machine could not run is left out."""
    import dataclasses

    from edgeprune.report.content import latency_section

    results = load_results(v1, TASKS)
    entry = results.candidates[0]
    serial = entry.latency.at(1)
    ahead = {**serial.to_dict(), "p50_ms": 0.031, "throughput_ips": 30000.0, "streams": 2}
    modes = {"enqueue-ahead": ahead, "cuda-graph": {"mode": "cuda-graph", "unsupported": "pycuda"}}
    entry.latency.batches[1] = dataclasses.replace(
        serial, details={**serial.details, "modes": modes}
    )
    assert list(entry.latency.at(1).modes) == ["enqueue-ahead"]
    assert entry.latency.at(1).modes["enqueue-ahead"].details["streams"] == 2
    rows = [
        r for r in latency_section(results).blocks[1].rows if r[0] == entry.name and r[1] == "1"
    ]
    assert [r[2] for r in rows] == ["serial", "enqueue-ahead"]
    assert rows[1][5] == "0.031" and rows[1][11] == "30000"


def read_decision_free(results):
    """A decision that chose nothing, for tables that mark the choice."""
    from edgeprune.results.decision import Decision

    return Decision("constraints", {}, "", None, "", [])


def test_provenance_names_the_code_the_data_and_every_artifact(v1):
    from edgeprune.document import Table
    from edgeprune.provenance import provenance, source_commit
    from edgeprune.report.content import provenance_section

    here = source_commit()  # the tests run from a git checkout of edgeprune
    assert here is None or len(here["commit"]) == 40
    results = load_results(v1, TASKS)
    old = provenance_section(results)  # a run from before: says what it lacks, no error
    assert "edgeprune from an installed copy" in old.blocks[1]
    table = next(b for b in old.blocks if isinstance(b, Table))
    assert table.rows[0][-1] == "`not recorded`" and len(table.rows) == len(results.entries)
    results.provenance = {
        **results.provenance,
        **{"edgeprune_source": {"commit": "a" * 40, "uncommitted_changes": True}},
    }
    results.dataset = {**results.dataset, "test_sha256": {"images": "b" * 64, "labels": "c" * 64}}
    results.baseline.artifact = {**results.baseline.artifact, "sha256": "d" * 64}
    section = provenance_section(results)
    assert f"git commit `{'a' * 40}` with uncommitted changes" in section.blocks[1]
    assert f"test images sha256 `{'b' * 64}`" in section.blocks[2]
    table = next(b for b in section.blocks if isinstance(b, Table))
    assert table.rows[0] == [
        results.baseline.name,
        results.baseline.runtime,
        results.baseline.precision,
        f"`{'d' * 64}`",
    ]
    assert "edgeprune_source" in provenance()


def test_the_latency_axis_starts_at_zero(v1, tmp_path, monkeypatch):
    """An axis fitted to the points made a 7 us difference of estimates look large."""
    import matplotlib.pyplot as plt

    from edgeprune.report.plots import latency_score_plot
    from edgeprune.rundir import RunLayout

    results = load_results(v1, TASKS)
    captured, original = {}, plt.Figure.savefig

    def keep_axes(fig, *args, **kwargs):
        captured["xlim"] = fig.axes[0].get_xlim()
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", keep_axes)
    latency_score_plot(results, read_decision_free(results), RunLayout(tmp_path), CLASSIFICATION)
    low, high = captured["xlim"]
    assert low == 0 and high >= max(results.target_latency(e)[0] for e in results.entries)


def test_the_csv_names_mce_and_mce_apart():
    """'mce' (calibration) stood beside 'mce_corruption' (robustness): MCE and mCE."""
    from edgeprune.tasks.classification.report import CSV_COLUMNS

    assert "max_calibration_error" in CSV_COLUMNS and "mce_corruption" in CSV_COLUMNS
    assert "mce" not in CSV_COLUMNS
