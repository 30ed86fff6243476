"""The compress pipeline end to end: the README's demo command, resume, and re-selection."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchmetrics.functional.classification as tmf

import edgeprune.candidates as candidates
import edgeprune.executors.local as local_executor
import edgeprune.pipeline as pipeline
from edgeprune.cli import main
from edgeprune.files import read_json
from edgeprune.rundir import RunLayout
from edgeprune.runs import read_run
from edgeprune.selection import Decision
from edgeprune.targets.bundle import VALIDATION, EvalBundle


def _results(run_dir: Path):
    return read_run(run_dir).results


def _decision(run_dir: Path) -> Decision:
    return read_run(run_dir).decision


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    """The README's first command, exactly: `edgeprune compress --target jetson-orin-nano`."""
    workdir = tmp_path_factory.mktemp("demo")
    script = Path(sys.executable).with_name("edgeprune")
    done = subprocess.run(
        [str(script), "compress", "--target", "jetson-orin-nano"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir / "runs" / "small-resnet-digits-l1-filter", done.stdout


def test_demo_writes_the_complete_run_directory(demo_run):
    run_dir, _ = demo_run
    for name in ("run.toml", "results.json", "selection.json", "report.md", "bundle/bundle.json"):
        assert (run_dir / name).is_file(), name
    for entry in ("baseline", "l1-filter-0.25", "l1-filter-0.50", "l1-filter-0.75"):
        for name in (
            "model.pt",
            "model.onnx",
            "metrics.json",
            "device/outputs.npz",
            "device/run.json",
        ):
            assert (run_dir / entry / name).is_file(), f"{entry}/{name}"


def test_demo_ratios_shrink_parameters_and_macs_and_parity_holds(demo_run):
    results = _results(demo_run[0])
    base = results.baseline
    params = [c.size.params for c in results.candidates]
    macs = [c.size.macs for c in results.candidates]
    assert params == sorted(params, reverse=True) and params[0] < base.size.params
    assert macs == sorted(macs, reverse=True) and macs[0] < base.size.macs
    assert base.quality.accuracy > 0.95  # the demo baseline trains to a useful model
    for entry in results.entries:
        assert entry.fidelity["top1_agreement"] >= 0.999 and entry.fidelity["passed"]
        assert entry.fidelity["max_abs_logit_diff"] < 1e-3
        assert entry.to_dict()["estimate"]["estimated"] is True
        assert entry.latency.measured is True


def test_demo_ece_matches_torchmetrics_on_the_artifact_logits(demo_run):
    run_dir, _ = demo_run
    labels = EvalBundle(run_dir / "bundle").labels("clean")
    for entry in ("baseline", "l1-filter-0.50"):
        with np.load(run_dir / entry / "device" / "outputs.npz") as data:
            logits = data["logits/clean"].astype(np.float64)
        reference = tmf.multiclass_calibration_error(
            torch.tensor(logits), torch.tensor(labels), num_classes=10, n_bins=15
        )
        metrics = read_json(RunLayout(run_dir).entry(entry).metrics)
        assert metrics["quality"]["calibration"]["ece"] == pytest.approx(float(reference), abs=1e-6)


def test_demo_selection_obeys_its_constraints(demo_run):
    run_dir, stdout = demo_run
    results, decision = _results(run_dir), _decision(run_dir)
    limits = decision.settings
    ok = {
        c.name: c.delta("accuracy_drop_points") <= limits["max_acc_drop"]
        and c.delta("ece_increase") <= limits["max_ece_increase"]
        for c in results.candidates
    }
    assert {v.name: v.feasible for v in decision.verdicts} == ok
    feasible = [c for c in results.candidates if ok[c.name]]
    if feasible:
        best = max(feasible, key=lambda c: c.delta("macs_reduction"))
        assert decision.chosen == best.name
    else:
        assert decision.chosen is None
    assert "estimated" in stdout and "selected:" in stdout


def _files_of(root: Path, folders: list[str]) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root/<folder>``, by content and modification time."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for folder in folders
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def _interrupt_at_second_candidate(monkeypatch) -> list[float]:
    """Ctrl-C when the sweep starts its second candidate; the ratios it was asked for."""
    real_candidate = local_executor.make_candidate
    calls: list[float] = []

    def interrupt_second(setup, source, plan, *args, **kwargs):
        calls.append(plan.ratio)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_candidate(setup, source, plan, *args, **kwargs)

    monkeypatch.setattr(local_executor, "make_candidate", interrupt_second)
    return calls


def test_interrupted_run_resumes_without_recomputing(tmp_path, monkeypatch, fast_flags):
    out = tmp_path / "run"
    real_candidate = local_executor.make_candidate
    calls = _interrupt_at_second_candidate(monkeypatch)
    flags = ["compress", "--target", "host-cpu", "--out", str(out), *fast_flags]
    assert main(flags) == 130
    finished = out / "l1-filter-0.25" / "metrics.json"
    assert finished.exists() and not (out / "l1-filter-0.50" / "metrics.json").exists()
    stamp = finished.stat().st_mtime_ns

    finished_files = _files_of(out, ["baseline", "l1-filter-0.25"])
    trained: list[int] = []
    real_train = candidates.train
    monkeypatch.setattr(
        candidates, "train", lambda *a, **k: trained.append(1) or real_train(*a, **k)
    )
    import edgeprune.export as export_package
    import edgeprune.measure.path as measure_path

    ran, exported = [], []
    real_execute, real_export = measure_path.execute_job, export_package.export_onnx
    monkeypatch.setattr(
        measure_path, "execute_job", lambda *a, **k: ran.append(a[1]) or real_execute(*a, **k)
    )
    monkeypatch.setattr(
        export_package, "export_onnx", lambda *a, **k: exported.append(a[1]) or real_export(*a, **k)
    )
    calls.clear()
    monkeypatch.setattr(
        local_executor,
        "make_candidate",
        lambda *a, **k: calls.append(a[2].ratio) or real_candidate(*a, **k),
    )
    assert main(flags) == 0
    assert calls == [0.5]  # only the unfinished candidate was built
    assert trained == [1]  # its fine-tune; the baseline was not trained again
    # the artifact runner ran once, for the unfinished entry only, and only it was exported
    assert [Path(p).parent.name for p in ran] == ["l1-filter-0.50"]
    assert [Path(p).parent.name for p in exported] == ["l1-filter-0.50"]
    assert finished.stat().st_mtime_ns == stamp
    now = {n: ((out / n).read_bytes(), (out / n).stat().st_mtime_ns) for n in finished_files}
    assert now == finished_files  # nothing finished was rewritten, not even identically
    assert len(read_json(out / "results.json")["candidates"]) == 2
    for entry in _results(out).candidates:
        assert entry.finetune["distillation"] is None  # --distill 0 (the default) is off


def test_resumed_sweep_with_preparation_variants_and_recalibration_recomputes_nothing(
    fast_run, tmp_path, monkeypatch, capsys
):
    """Everything a sweep can cache: the once-per-sweep preparation (bn-slimming's sparsity
    training), distilled fine-tunes, INT8 variants, temperature scaling, generated
    corruptions. Interrupted at the second candidate, the resumed run redoes none of it for
    what finished (checked by file identity and by counting the work), and its log does not
    claim work it skips."""
    import edgeprune.export as export_package
    import edgeprune.measure.path as measure_path

    out = tmp_path / "run"
    flags = [
        "compress", "--target", "jetson-orin-nano", "--out", str(out),
        "--weights", str(fast_run / "baseline" / "model.pt"), "--method", "bn-slimming",
        "--sparsity-epochs", "1", "--ratios", "0.25,0.5", "--finetune-epochs", "1",
        "--distill", "0.5", "--corruptions", "generate:40", "--precisions", "int8",
        "--calibration-images", "64", "--recalibrate", "temperature", "--explain-images", "16",
        "--latency-iterations", "10", "--latency-batch", "8",
    ]  # fmt: skip
    real_candidate = local_executor.make_candidate
    calls = _interrupt_at_second_candidate(monkeypatch)
    started = time.perf_counter()
    assert main(flags) == 130
    first_wall = time.perf_counter() - started
    first_log = capsys.readouterr().err
    assert "corruptions: generate" in first_log  # the source is announced when there is one
    assert "bn-slimming: preparing the unpruned model once for every ratio" in first_log
    finished = ["bundle", "baseline", "baseline@int8", "bn-slimming-prepared"]
    finished += ["bn-slimming-0.25", "bn-slimming-0.25@int8"]
    for folder in finished[1:]:
        assert (out / folder).is_dir(), folder
    assert not (out / "bn-slimming-0.50" / "metrics.json").exists()
    before = _files_of(out, finished)

    counts: dict[str, list[str]] = {"train": [], "run": [], "export": [], "variant": []}
    real_train, real_execute = candidates.train, measure_path.execute_job
    real_export, real_variant = export_package.export_onnx, pipeline.build_variant
    monkeypatch.setattr(
        candidates, "train", lambda *a, **k: counts["train"].append("t") or real_train(*a, **k)
    )
    monkeypatch.setattr(
        measure_path,
        "execute_job",
        lambda *a, **k: counts["run"].append(Path(a[1]).parent.name) or real_execute(*a, **k),
    )
    monkeypatch.setattr(
        export_package,
        "export_onnx",
        lambda *a, **k: counts["export"].append(Path(a[1]).parent.name) or real_export(*a, **k),
    )
    monkeypatch.setattr(
        pipeline,
        "build_variant",
        lambda base, layout, *a: (
            counts["variant"].append(layout.folder.name) or real_variant(base, layout, *a)
        ),
    )
    from edgeprune.tasks.classification import ClassificationTask

    scored: list[int] = []  # figures computed from outputs (a finished entry's are read)
    real_quality = ClassificationTask.quality
    monkeypatch.setattr(
        ClassificationTask,
        "quality",
        lambda self, *a: scored.append(1) or real_quality(self, *a),
    )
    calls.clear()
    monkeypatch.setattr(
        local_executor,
        "make_candidate",
        lambda *a, **k: calls.append(a[2].ratio) or real_candidate(*a, **k),
    )
    assert main(flags) == 0
    resumed_log = capsys.readouterr().err
    assert calls == [0.5]
    # scored twice per new entry (as built and as shipped), never for a finished one
    assert len(scored) == 4
    assert counts["train"] == ["t"]  # the unfinished candidate's fine-tune, nothing else
    assert counts["export"] == ["bn-slimming-0.50"]
    # the runner evaluates the unfinished FP32 entry and its INT8 variant, twice each: as
    # built (to fit the temperature) and as shipped (the scaling in the graph)
    assert sorted(counts["run"]) == ["bn-slimming-0.50"] * 2 + ["bn-slimming-0.50@int8"] * 2
    # variants are looked up for every entry, but only the new one is given build inputs
    assert "bn-slimming-0.50@int8" in counts["variant"]
    assert _files_of(out, finished) == before  # nothing finished was rewritten
    assert "preparing the unpruned model" not in resumed_log
    for entry in finished[1:]:
        assert f"{entry}: exporting" not in resumed_log, entry
        assert f"{entry}: building" not in resumed_log, entry
    assert "bn-slimming-0.50@int8: building the int8 artifact" in resumed_log

    results = _results(out)
    assert [e.name for e in results.candidates] == [
        "baseline@int8", "bn-slimming-0.25", "bn-slimming-0.25@int8",
        "bn-slimming-0.50", "bn-slimming-0.50@int8",
    ]  # fmt: skip
    assert results.baseline.ratio == 0.0 and results.baseline.method is None
    for name in ("bn-slimming-0.25", "bn-slimming-0.50"):
        entry = results.entry(name)
        assert entry.finetune["distillation"] == {"alpha": 0.5, "temperature": 4.0}
        assert 0 < entry.prune_seconds < first_wall  # a duration, measured start to end
        assert results.entry(name + "@int8").recalibration["method"] == "temperature"
    for entry in results.entries:
        assert 0 < entry.evaluate_seconds < first_wall + 120, entry.name
        assert entry.fidelity is not None and entry.explanation is not None, entry.name
        assert entry.explanation["path"].startswith("artifact"), entry.name
        if not entry.is_variant:
            assert entry.fidelity["passed"], entry.name
        # only the fitted scaling sees the validation split: the shipped run never scores it
        with np.load(RunLayout(out).entry(entry.name).outputs) as shipped:
            assert not any(key.endswith(f"/{VALIDATION}") for key in shipped.files), entry.name


def test_every_entry_records_the_sha256_of_the_artifact_it_measured(fast_run):
    from edgeprune.files import file_digest

    results = _results(fast_run)
    for entry in results.entries:
        assert entry.artifact["sha256"] == file_digest(fast_run / entry.name / "model.onnx")
    assert len(results.dataset["test_sha256"]["images"]) == 64


def test_select_redecides_without_recomputing(fast_run, capsys):
    before = (fast_run / "results.json").stat().st_mtime_ns
    history = sorted((fast_run / "selections").glob("*.json"))
    assert history and history[0].name == "001-constraints.json"  # compress's own decision
    kept = {p: p.read_bytes() for p in history}
    assert main(["select", str(fast_run), "--max-acc-drop", "100", "--max-ece-increase", "1"]) == 0
    selection = read_json(fast_run / "selection.json")
    assert (
        selection["chosen"] == "l1-filter-0.50"
    )  # everything is feasible: the most compressed wins
    assert main(["select", str(fast_run), "--min-mpc", "1"]) == 0  # no error at all: nobody
    assert read_json(fast_run / "selection.json")["chosen"] is None
    assert (fast_run / "results.json").stat().st_mtime_ns == before
    # each decision is kept: select overwrote the one before it (selection.json) and no more
    after = sorted((fast_run / "selections").glob("*.json"))
    assert len(after) == len(history) + 2 and all(p.read_bytes() == b for p, b in kept.items())
    assert read_json(after[-2])["chosen"] == "l1-filter-0.50"
    assert after[-1].read_bytes() == (fast_run / "selection.json").read_bytes()
    assert main(["select", str(fast_run), "--min-mpc", "1"]) == 0  # the same decision again
    assert len(sorted((fast_run / "selections").glob("*.json"))) == len(after)
    assert "selected:" in capsys.readouterr().out


def test_demo_reports_corruption_and_explanation_metrics(demo_run):
    results = _results(demo_run[0])
    base = results.baseline
    assert base.quality.corruption.mce == pytest.approx(1.0)
    assert base.explanation["hcc"] == pytest.approx(1.0)
    assert base.explanation["pe"] == pytest.approx(1.0)
    for entry in results.candidates:
        corruption, explanation = entry.quality.corruption, entry.explanation
        assert corruption.complete and 0 < corruption.mpc <= 1
        assert set(corruption.per_severity) == {"1", "2", "3", "4", "5"}
        assert all("ece" in row for row in corruption.per_severity.values())
        assert {"mPC", "rPC", "mCE", "relative_mCE"} <= set(corruption.to_dict())
        assert explanation["path"].startswith("artifact") and -1 <= explanation["hcc"] <= 1
        assert 0 <= explanation["pe"] <= 1
    # feature maps are dropped from outputs.npz once the metrics exist
    with np.load(demo_run[0] / "l1-filter-0.50" / "device" / "outputs.npz") as data:
        assert not any(k.startswith("features/") for k in data.files)


def test_pe_guided_selection_follows_its_rule_and_writes_overlays(fast_run, capsys):
    assert (
        main(["select", str(fast_run), "--by", "pe", "--max-acc-drop", "100", "--min-pe", "0.5"])
        == 0
    )
    decision = _decision(fast_run)
    assert decision.selector == "pe" and RunLayout(fast_run).plot("pe_overlays").is_file()
    rows = decision.verdicts
    if decision.notes["accuracy_monotonic"] and decision.notes["pe_monotonic"]:
        expected = max(
            (r for r in rows if r.details["accuracy_drop_points"] <= 100), key=lambda r: r.ratio
        )
    else:
        expected = max(
            (r for r in rows if r.details["pe"] >= 0.5), key=lambda r: r.ratio, default=None
        )
    assert decision.chosen == (expected.name if expected else None)
    assert "overlays to confirm" in capsys.readouterr().out
    assert "](plots/pe_overlays.png)" in (fast_run / "report.md").read_text()  # shown in the report


def test_merging_runs_requires_one_baseline(fast_run):
    import dataclasses

    from edgeprune.config import baseline_options
    from edgeprune.errors import EdgepruneError
    from edgeprune.results import merge_results

    def run(method, **changed):
        results = _results(fast_run)
        config = {**results.config, "method": method, **changed}
        candidates = [dataclasses.replace(c, method=method) for c in results.candidates[:1]]
        return dataclasses.replace(results, config=config, candidates=candidates)

    merged = merge_results([run("l1-filter"), run("fpgm")], ["a", "b"], baseline_options())
    assert [c.name for c in merged.candidates] == ["a/l1-filter-0.25", "b/l1-filter-0.25"]
    assert [c.extra["run"] for c in merged.candidates] == ["a", "b"]
    with pytest.raises(EdgepruneError, match="differ in seed"):
        merge_results([run("l1-filter"), run("fpgm", seed=1)], ["a", "b"], baseline_options())
    # Found in review: these did not count as another baseline, and such runs merged silently.
    for key, value in (("batch-size", 32), ("optimizer", "adamw"), ("schedule", "constant"),
                       ("input-size", 48)):  # fmt: skip
        with pytest.raises(EdgepruneError, match=f"differ in {key}"):
            merge_results(
                [run("l1-filter"), run("fpgm", **{key: value})], ["a", "b"], baseline_options()
            )


def test_int8_variants_are_entries_measured_on_the_host(fast_run, tmp_path):
    out = tmp_path / "int8"
    flags = [
        "compress", "--target", "jetson-orin-nano", "--out", str(out), "--weights", str(fast_run / "baseline" / "model.pt"),
        "--ratios", "0.5", "--finetune-epochs", "1", "--corruptions", "none", "--precisions", "int8",
        "--calibration-images", "128", "--latency-iterations", "10", "--latency-batch", "8", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    results = _results(out)
    names = [c.name for c in results.candidates]
    assert names == ["baseline@int8", "l1-filter-0.50", "l1-filter-0.50@int8"]
    for entry in results.candidates:
        if entry.name.endswith("@int8"):
            assert entry.precision == "int8" and entry.variant_of == entry.name.split("@")[0]
            assert entry.fidelity["top1_agreement"] >= 0.95  # INT8 against the FP32 PyTorch model
            assert entry.latency.representative is False
            assert entry.estimate.precision == "int8"
            assert entry.artifact["quantization"]["calibration_count"] == 128
            assert entry.explanation["path"].startswith("artifact")
            fp32 = results.entry(entry.variant_of)
            assert entry.size.params == fp32.size.params
    decision = _decision(out)
    assert {v.latency_source for v in decision.verdicts} == {"estimated"}  # a Jetson target


def _zero_fraction_of_weights(onnx_path: Path) -> float:
    """Zeros among the ONNX file's weight matrices and kernels (initializers of rank >= 2).
    The exporter folds BN into the convs and renames them; folding scales each filter, so a
    zero stays a zero and the count is comparable with the PyTorch weights'."""
    import onnx
    import onnx.numpy_helper

    arrays = [onnx.numpy_helper.to_array(i) for i in onnx.load(str(onnx_path)).graph.initializer]
    weights = [a for a in arrays if a.ndim >= 2 and a.dtype == np.float32]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)


@pytest.mark.parametrize(
    ("method", "ratios", "folders"),
    [
        ("unstructured-global", "0.5", ["unstructured-global-0.50"]),
        ("2:4", "0.25,0.5", ["2of4-0.50"]),
    ],
)
def test_masking_methods_keep_their_zeros_through_fine_tuning_into_the_onnx_file(
    fast_run, tmp_path, capsys, method, ratios, folders
):
    out = tmp_path / "masks"
    flags = [
        "compress", "--target", "jetson-orin", "--out", str(out), "--weights", str(fast_run / "baseline" / "model.pt"),
        "--method", method, "--ratios", ratios, "--finetune-epochs", "1", "--corruptions", "none",
        "--explain-images", "0", "--latency-iterations", "10", "--latency-batch", "8",
    ]  # fmt: skip
    assert main(flags) == 0
    results = _results(out)
    assert [c.name for c in results.candidates] == folders  # 2:4: one candidate
    entry = results.candidates[0]
    pruning = entry.pruning
    assert pruning["layers"] and entry.kind == pruning["kind"]
    assert pruning["sparsity"] == pytest.approx(0.5, abs=0.01)  # of the masked layers
    # Zeros counted in the exported weights after the fine-tune: the masks held through it.
    exported = _zero_fraction_of_weights(RunLayout(out).entry(folders[0]).onnx)
    assert exported == pytest.approx(pruning["model_weight_sparsity"], abs=1e-4)
    assert exported > 0.3
    assert entry.size.params == results.baseline.size.params  # dense shapes
    if method == "2:4":
        assert "jetson-agx-orin-64gb does benefit" in pruning["note"]
        assert "one candidate instead of ratios 0.25, 0.5" in capsys.readouterr().err
    else:
        assert "no faster" in pruning["note"]


def test_latency_batch_1_runs_and_its_report_can_be_written_again(fast_run, tmp_path, capsys):
    """Found in review: --latency-batch 1 passed validation, then the summary table raised a
    bare StopIteration after results.json was written, so every rerun and report crashed."""
    out = tmp_path / "b1"
    flags = [
        "compress", "--out", str(out), "--weights", str(fast_run / "baseline" / "model.pt"),
        "--ratios", "0.5", "--finetune-epochs", "1", "--corruptions", "none",
        "--explain-images", "16", "--latency-iterations", "10", "--latency-batch", "1", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    assert "host img/s (measured, b1)" in capsys.readouterr().out
    assert main(flags) == 0  # the rerun reuses everything and prints the table again
    assert main(["report", str(out)]) == 0
    results = _results(out)
    assert results.baseline.latency.batch_sizes == [1]
    assert sorted(results.baseline.estimate.latency) == [1]


@pytest.fixture(scope="module")
def recalibrated_runs(fast_run, tmp_path_factory):
    """The same sweep without and with temperature scaling (INT8 variants included)."""
    runs = {}
    for method in ("none", "temperature"):
        out = tmp_path_factory.mktemp("recal") / method
        flags = [
            "compress", "--target", "jetson-orin-nano", "--out", str(out),
            "--weights", str(fast_run / "baseline" / "model.pt"), "--ratios", "0.5",
            "--finetune-epochs", "1", "--corruptions", "generate:40", "--precisions", "int8",
            "--calibration-images", "64", "--latency-iterations", "10", "--latency-batch", "8",
            "--recalibrate", method, "--quiet",
        ]  # fmt: skip
        assert main(flags) == 0
        runs[method] = out
    return runs


def test_recalibration_is_fitted_per_artifact_and_changes_only_calibration(recalibrated_runs):
    plain, scaled = (_results(recalibrated_runs[m]) for m in ("none", "temperature"))
    assert [e.name for e in scaled.entries] == [e.name for e in plain.entries]
    for entry, same in zip(scaled.entries, plain.entries):
        fit, q, u = entry.recalibration, entry.quality, entry.quality.uncalibrated
        assert fit["method"] == "temperature" and fit["nll_after"] <= fit["nll_before"]
        assert fit["n"] == 179  # the digits validation split, never the test split
        # the uncalibrated artifact is the one the plain run shipped: the same figures
        assert u.accuracy == same.quality.accuracy and u.ece == pytest.approx(same.quality.ece)
        assert q.accuracy == same.quality.accuracy  # a temperature keeps every argmax
        assert q.calibration.nll <= u.calibration.nll + 0.05  # fitted on validation, not test
        assert entry.explanation["hcc"] == same.explanation["hcc"]  # maps untouched
        assert entry.explanation["pe"] == same.explanation["pe"]
        if not entry.is_variant:
            assert entry.fidelity["passed"]  # parity of the recalibrated graph
    fp32, int8 = scaled.entry("l1-filter-0.50"), scaled.entry("l1-filter-0.50@int8")
    # the INT8 artifact is fitted from its own INT8 outputs
    assert int8.recalibration["nll_before"] != fp32.recalibration["nll_before"]
    assert scaled.baseline.delta("uncalibrated_ece_increase") == 0.0


def test_the_scaling_ships_in_the_graph_and_the_report_shows_before_and_after(
    recalibrated_runs, capsys
):
    import onnx

    run = recalibrated_runs["temperature"]
    layout = RunLayout(run).entry("l1-filter-0.50@int8")
    graph = onnx.load(str(layout.calibrated_onnx))
    assert graph.graph.node[-1].op_type == "Div" and graph.graph.output[0].name == "logits"
    assert any(n.op_type == "QuantizeLinear" for n in graph.graph.node)  # built on the INT8 graph
    report = (run / "report.md").read_text()
    assert "## Recalibration" in report and "(plots/recalibration.png)" in report
    assert "read the **shipped** artifact's ECE" in report
    assert read_run(run).decision.settings["ece_of"] == "shipped"
    assert main(["select", str(run), "--ece-of", "uncalibrated", "--max-ece-increase", "0"]) == 0
    decision = read_run(run).decision
    checks = [c for v in decision.verdicts for c in v.checks if c.name == "ECE increase"]
    assert checks and all(c.source == "measured, uncalibrated" for c in checks)
    assert all(c.text.endswith("(measured, uncalibrated)") for c in checks)
    printed = capsys.readouterr().out  # a rejection prints its failing checks with their source
    assert all(c.text in printed for c in checks if not c.ok)
