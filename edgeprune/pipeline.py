"""The compress sweep: prepare -> baseline -> (prune -> fine-tune -> export -> evaluate) per
ratio -> assemble results -> select -> report. Each step is a public function.

A finished candidate (its ``metrics.json`` exists) is never recomputed, so rerunning an
interrupted or finished command resumes; a run directory refuses a configuration whose
result-determining values differ from those it was made with.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from edgeprune.config import RunConfig, key_of, parse_layer_ratios, read_config_file
from edgeprune.data.corruption_source import parse_corruption_source, prepare_corruptions
from edgeprune.data.datasets import ImageDataset, load_dataset
from edgeprune.distill import distillation_penalty
from edgeprune.errors import EdgepruneError
from edgeprune.evaluate import ARTIFACT, EvaluationSetup, evaluate_model
from edgeprune.explain.consistency import (
    OVERLAY_IMAGES,
    ExplanationSettings,
    consistency,
    entry_maps,
    load_maps,
    save_maps,
)
from edgeprune.export import ExportSettings, cleanup_tool
from edgeprune.files import read_json, write_json, write_npz, write_text
from edgeprune.inference import Normalizer
from edgeprune.metrics.corruption import corruption_summary
from edgeprune.metrics.explanation import PESettings
from edgeprune.models import ModelSpec, create_model, load_model, load_weights, save_model
from edgeprune.models.zoo import check_model_name
from edgeprune.progress import Progress
from edgeprune.provenance import provenance
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.select import select_candidate
from edgeprune.targets.bundle import EvalBundle, write_bundle
from edgeprune.targets.estimate import MachinePeaks, estimate_latency, estimate_memory, peaks_for
from edgeprune.targets.execute import check_device, remote_target
from edgeprune.targets.graph_cost import graph_costs
from edgeprune.targets.profile import TargetProfile, load_target
from edgeprune.targets.run import OUTPUTS_FILE, DeviceJob
from edgeprune.train import TrainRecipe, train
from edgeprune.variants import Variant, VariantSetup, evaluate_variant, plan_variants

RESULTS_SCHEMA = "edgeprune-results/1"
MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
MAPS_FILE = "explanations.npz"


@dataclass
class Workspace:
    """What every step of a run shares."""

    config: RunConfig
    run_dir: Path
    target: TargetProfile
    dataset: ImageDataset
    spec: ModelSpec
    setup: EvaluationSetup
    progress: Progress
    variants: list[Variant]

    @property
    def round_to(self) -> int:
        return self.config.round_to or self.target.features.channel_multiple

    @property
    def precision(self) -> str:
        return self.config.precision or self.target.runtime.precision


def candidate_name(method: str, ratio: float) -> str:
    # "2:4" would put a colon into a folder name, which scp and rsync read as "host:path".
    return f"{method.replace(':', 'of')}-{ratio:.2f}"


def sweep_ratios(config: RunConfig, progress: Progress) -> tuple[float, ...]:
    """The ratios the sweep prunes at: the configured ones, or, for a method with a fixed
    ratio (2:4), that one, since every configured ratio would give the same candidate."""
    fixed = METHODS.get(config.method).fixed_ratio
    if fixed is None:
        return tuple(config.ratios)
    if tuple(config.ratios) != (fixed,):
        progress(
            f"{config.method} always removes {fixed:.0%} of the weights it covers: "
            f"one candidate instead of ratios {', '.join(f'{r:g}' for r in config.ratios)}"
        )
    return (fixed,)


def open_run_dir(config: RunConfig) -> Path:
    """Create the run directory, or check that an existing one was made compatibly."""
    run_dir = config.run_dir
    stored_path = run_dir / "run.toml"
    if stored_path.exists():
        stored = read_config_file(stored_path)
        changed = [
            f"{key} = {stored.get(key)!r} (now {value!r})"
            for key, value in config.result_keys().items()
            if _normalise(stored.get(key)) != _normalise(value)
        ]
        if changed:
            raise EdgepruneError(
                f"{run_dir} was made with different settings: {'; '.join(changed)}; "
                "use another --out, or delete that directory to start over"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(
        stored_path,
        f"# edgeprune run configuration; reuse with: edgeprune compress --config {stored_path}\n"
        + config.to_toml(),
    )
    return run_dir


def _normalise(value: object) -> object:
    return list(value) if isinstance(value, (list, tuple)) else value


def prepare(config: RunConfig, progress: Progress) -> Workspace:
    """Resolve target, data and model; write the eval bundle once."""
    # Names and paths are checked before the run directory is touched.
    target = load_target(config.target)
    variants, runtime = plan_variants(config.precisions, config.runtime, target)
    remote = remote_target(config.device or None, target)[0] is not None
    if remote and runtime == "tensorrt":
        raise EdgepruneError(
            "TensorRT engines only run where they were built: run edgeprune on the device itself for "
            "engines, or evaluate the ONNX artifacts there over SSH with --runtime onnxruntime"
        )
    METHODS.get(config.method)
    check_model_name(config.model)
    cleanup_tool(config.onnx_cleanup)
    if config.weights and not Path(config.weights).expanduser().is_file():
        raise EdgepruneError(f"checkpoint not found: {config.weights}")
    if remote:  # an unreachable device should fail now, not after training the baseline
        progress("checking the device over SSH")
        found = check_device(DeviceJob().runtime, config.device or None, target, config.ssh_options)
        progress(f"device: Python {found['python']}, {found['versions']}")
    progress(f"loading data {config.data}")
    dataset = load_dataset(config.data, config.input_size or None, config.seed)
    run_dir = open_run_dir(config)
    h, w, c = dataset.image_shape
    spec = ModelSpec(config.model, dataset.num_classes, c, (h, w))
    bundle = prepare_bundle(config, dataset, run_dir / "bundle", progress)
    job = DeviceJob(
        batch_size=config.eval_batch_size,
        latency_batches=(1, config.latency_batch),
        warmup=config.latency_warmup,
        iterations=config.latency_iterations,
        feature_splits=("clean",),
        feature_limit=config.explain_images or None,
    )
    setup = EvaluationSetup(
        bundle,
        job,
        ExportSettings(opset=config.opset, cleanup=config.onnx_cleanup),
        Normalizer(dataset.mean, dataset.std),
        device=config.device or None,
        profile=target,
        ssh_options=config.ssh_options,
        parity_tolerance=(config.parity_atol, config.parity_rtol),
    )
    progress(
        f"target {target.name}; data {dataset.name}: {len(dataset.train)} train / {len(dataset.val)} val / "
        f"{len(dataset.test)} test, {h}x{w}x{c}, {dataset.num_classes} classes"
    )
    if variants:
        progress(f"precision variants: {', '.join(v.suffix for v in variants)} ({runtime})")
    return Workspace(config, run_dir, target, dataset, spec, setup, progress, variants)


def prepare_bundle(
    config: RunConfig, dataset: ImageDataset, bundle_dir: Path, progress: Progress
) -> EvalBundle:
    """The eval bundle: the clean test split plus its corrupted versions, written once.

    ``bundle.json`` is written after the corrupted images, so an interrupted generation is
    resumed (per corruption file) rather than mistaken for a finished bundle.
    """
    if (bundle_dir / "bundle.json").exists():
        return EvalBundle(bundle_dir)
    source = parse_corruption_source(config.corruptions, dataset.image_shape, len(dataset.test))
    if source.kind != "none":
        progress(f"corruptions: {source.describe()}")
    splits, info = prepare_corruptions(
        source,
        dataset,
        bundle_dir,
        config.seed,
        config.frost_textures,
        progress.scoped("corruptions"),
    )
    return write_bundle(
        bundle_dir,
        {"clean": (dataset.test.images, dataset.test.labels)},
        dataset.mean,
        dataset.std,
        dataset.num_classes,
        dataset.class_names,
        external_splits=splits,
        info={"dataset": dataset.describe(), "corruptions": info},
    )


def _train_on_run(ws: Workspace, model: nn.Module, recipe: TrainRecipe, **hooks) -> dict:
    """Train ``model`` on the run's training split, normalised and augmented like the run
    (``hooks``: penalty, after_step, progress)."""
    return train(model, ws.dataset.train, ws.setup.normalize, recipe, ws.dataset.augment, **hooks)


def _recipe(ws: Workspace, epochs: int, lr: float) -> TrainRecipe:
    c = ws.config
    return TrainRecipe(
        epochs=epochs,
        lr=lr,
        batch_size=c.batch_size,
        optimizer=c.optimizer,
        schedule=c.schedule,
        seed=c.seed,
    )


def baseline_model(ws: Workspace) -> nn.Module:
    """The unpruned model: the user's weights, or trained here (and cached)."""
    path = ws.run_dir / "baseline" / MODEL_FILE
    if path.exists():
        return load_model(path)[0]
    torch.manual_seed(ws.config.seed)
    model = create_model(ws.spec)
    if ws.config.weights:
        ws.progress(f"baseline: loading weights {ws.config.weights}")
        load_weights(model, ws.config.weights, ws.spec.name)
        history = {"weights": ws.config.weights}
    else:
        recipe = _recipe(ws, ws.config.train_epochs, ws.config.train_lr)
        ws.progress(f"baseline: training {ws.spec.name} for {recipe.epochs} epochs")
        history = _train_on_run(ws, model, recipe, progress=ws.progress.scoped("baseline"))
    save_model(path, model.eval(), ws.spec, {"training": history})
    return model.eval()


def _training_batches(ws: Workspace, count: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A few fixed training batches for data-driven pruning criteria."""
    from edgeprune.inference import to_tensor

    order = np.random.default_rng(ws.config.seed).permutation(len(ws.dataset.train))
    batches = []
    for i in range(count):
        index = order[i * ws.config.batch_size : (i + 1) * ws.config.batch_size]
        if len(index):
            images = ws.setup.normalize(to_tensor(ws.dataset.train.images[index]))
            batches.append((images, torch.from_numpy(ws.dataset.train.labels[index])))
    return batches


def prune_settings(ws: Workspace) -> PruneSettings:
    c = ws.config
    return PruneSettings(
        allocation=c.allocation,
        round_to=ws.round_to,
        ignore=c.ignore_layers,
        layer_ratios=parse_layer_ratios(c.layer_ratios),
        steps=c.prune_steps,
        sparsity_epochs=c.sparsity_epochs,
        sparsity_lambda=c.sparsity_lambda,
        seed=c.seed,
    )


def prune_context(ws: Workspace) -> PruneContext:
    """Example input, fixed training batches, and training with the run's fine-tune recipe."""
    recipe = _recipe(ws, ws.config.finetune_epochs, ws.config.finetune_lr)

    def train_for(m: nn.Module, epochs: int, penalty=None, after_step=None) -> dict:
        steps = dataclasses.replace(recipe, epochs=epochs)
        return _train_on_run(ws, m, steps, penalty=penalty, after_step=after_step)

    h, w = ws.spec.input_size
    example = torch.zeros(1, ws.spec.in_channels, h, w)
    return PruneContext(example, lambda: _training_batches(ws), train_for, ws.config.seed)


def prepared_model(ws: Workspace, baseline: nn.Module) -> nn.Module:
    """The model every ratio is pruned from: the baseline, or the baseline after the method's
    once-per-sweep preparation (e.g. sparsity training), cached in ``<method>-prepared/``."""
    method = METHODS.get(ws.config.method)
    if method.prepare is None:
        return baseline
    path = ws.run_dir / f"{method.name}-prepared" / MODEL_FILE
    if path.exists():
        return load_model(path)[0]
    ws.progress(f"{method.name}: preparing the unpruned model once for every ratio")
    model = copy.deepcopy(baseline)
    record = method.prepare(model, prune_settings(ws), prune_context(ws))
    save_model(path, model.eval(), ws.spec, {"prepare": record})
    return model.eval()


def _sparsity_note(kind: str, target: TargetProfile) -> str | None:
    if kind == "unstructured":
        return (
            "zeros stay in dense weight tensors: dense runtimes (ONNX Runtime CPU, TensorRT) "
            "run no faster and the artifact is no smaller; the sparsity is real in the weights only"
        )
    if kind == "semi-structured":
        pays = "does" if target.features.sparsity_2_4 else "does not"
        return (
            f"2:4 pattern kept in dense-shaped weights; TensorRT's sparse tensor cores use it when the "
            f"engine is built with sparsity enabled; {target.name} {pays} benefit (profile); ONNX Runtime "
            "on the host runs it dense"
        )
    return None


def candidate_model(ws: Workspace, source: nn.Module, ratio: float) -> tuple[nn.Module, dict]:
    """Prune a copy of ``source`` at ``ratio`` and fine-tune it (cached as model.pt).

    Every ratio gets the same fine-tuning recipe; a method's per-step hook (e.g. fixed
    unstructured masks) and optional distillation from the unpruned model apply during it.
    """
    name = candidate_name(ws.config.method, ratio)
    path = ws.run_dir / name / MODEL_FILE
    if path.exists():
        model, _, metadata = load_model(path)
        return model, metadata
    progress = ws.progress.scoped(name)
    model = copy.deepcopy(source)
    settings, context = prune_settings(ws), prune_context(ws)
    recipe = _recipe(ws, ws.config.finetune_epochs, ws.config.finetune_lr)

    def finetune_between(m: nn.Module, step: int) -> None:
        progress(f"fine-tuning after step {step + 1}/{settings.steps}")
        context.train(m, recipe.epochs)

    started = time.perf_counter()
    progress(f"pruning {ratio:.0%} with {ws.config.method}")
    pruned = prune_model(model, ws.config.method, ratio, settings, context, finetune_between)
    prune_seconds = time.perf_counter() - started
    penalty = None
    if ws.config.distill > 0:
        penalty = distillation_penalty(source, ws.config.distill, ws.config.distill_temperature)
    progress(f"fine-tuning {recipe.epochs} epochs" + (" with distillation" if penalty else ""))
    history = _train_on_run(
        ws, model, recipe, penalty=penalty, after_step=pruned.after_step, progress=progress
    )
    history["distillation"] = (
        {"alpha": ws.config.distill, "temperature": ws.config.distill_temperature}
        if penalty
        else None
    )
    report = dict(pruned.report)
    note = _sparsity_note(report["kind"], ws.target)
    if note:
        report["note"] = note
    metadata = {"pruning": report, "finetune": history, "prune_seconds": prune_seconds}
    save_model(path, model.eval(), ws.spec, metadata)
    return model.eval(), metadata


def explanation_settings(ws: Workspace) -> ExplanationSettings:
    c = ws.config
    return ExplanationSettings(
        images=c.explain_images,
        target=c.explain_target,
        pe=PESettings(win_size=c.pe_ssim_window, iou_threshold=c.pe_iou_threshold),
    )


def explain_entry(ws: Workspace, model: nn.Module, name: str, reference: dict | None) -> dict:
    """HCC and PE-score of an entry against the unpruned model's maps (the baseline stores
    its maps as the reference; a candidate keeps a few maps for overlays)."""
    folder = ws.run_dir / name
    with np.load(folder / "device" / OUTPUTS_FILE) as stored:
        outputs = {k: stored[k] for k in stored.files if k.endswith("/clean")}
    bundle, settings = ws.setup.bundle, explanation_settings(ws)
    data = entry_maps(
        folder,
        outputs,
        bundle.labels("clean"),
        np.asarray(bundle.images("clean")),
        model,
        ws.setup.normalize,
        settings,
        reference,
    )
    save_maps(folder / MAPS_FILE, data, None if reference is None else OVERLAY_IMAGES)
    return consistency(reference or data, data, settings)


def _drop_feature_maps(folder: Path) -> None:
    """Feature maps are only needed until the explanation metrics exist; they can take
    hundreds of MB per candidate, so they leave outputs.npz once metrics.json is written."""
    path = folder / "device" / OUTPUTS_FILE
    with np.load(path) as stored:
        if not any(k.startswith("features/") for k in stored.files):
            return
        kept = {k: stored[k] for k in stored.files if not k.startswith("features/")}
    write_npz(path, kept)


def evaluate_entry(
    ws: Workspace, model: nn.Module, name: str, extra: dict, reference: dict | None = None
) -> dict:
    """Metrics of one model's artifact, cached in ``<name>/metrics.json``."""
    path = ws.run_dir / name / METRICS_FILE
    if path.exists():
        return read_json(path)
    started = time.perf_counter()
    metrics = evaluate_model(model, ws.run_dir / name, ws.setup, ws.progress.scoped(name))
    ws.progress(f"{name}: explanation consistency (HCC, PE-score)")
    metrics["explanation"] = explain_entry(ws, model, name, reference)
    metrics.update({"name": name, "evaluate_seconds": time.perf_counter() - started, **extra})
    write_json(path, metrics)  # written last: its presence marks the candidate finished
    _drop_feature_maps(ws.run_dir / name)
    return metrics


def variant_entries(
    ws: Workspace, base: str, model: Callable[[], nn.Module], base_entry: dict, reference: dict
) -> list[dict]:
    """The precision variants of one entry, each evaluated once and cached in its folder."""
    entries = []
    for variant in ws.variants:
        name = variant.name(base)
        path = ws.run_dir / name / METRICS_FILE
        if path.exists():
            entries.append(read_json(path))
            continue
        started = time.perf_counter()
        progress = ws.progress.scoped(name)
        sample = np.random.default_rng(ws.config.seed).permutation(len(ws.dataset.train))[
            : ws.config.calibration_images
        ]
        vs = VariantSetup(
            ws.setup,
            ws.dataset.train.images[np.sort(sample)],
            ws.config.calibration_method,
            sparse_weights=base_entry.get("kind") == "semi-structured"
            and ws.target.features.sparsity_2_4,
        )
        source = model()
        metrics = evaluate_variant(
            source, ws.run_dir / base, ws.run_dir / name, variant, vs, progress
        )
        progress("explanation consistency (HCC, PE-score)")
        metrics["explanation"] = explain_entry(ws, source, name, reference)
        metrics.update({
            "name": name,
            "variant_of": base,
            "runtime": variant.runtime,
            "method": base_entry.get("method"),
            "ratio": base_entry["ratio"],
            "kind": base_entry.get("kind"),
            "pruning": base_entry.get("pruning"),
            "evaluate_seconds": time.perf_counter() - started,
        })  # fmt: skip
        write_json(path, metrics)
        _drop_feature_maps(ws.run_dir / name)
        entries.append(metrics)
    return entries


def device_estimates(ws: Workspace, entry: dict, peaks: MachinePeaks | None) -> dict:
    """Estimated latency (batch 1 and the throughput batch) and memory on the target.

    FP32 entries are estimated at the run's precision (the target's default), a precision
    variant at its own; both from the FP32 ONNX graph, whose costs the roofline scales.
    """
    artifact = ws.run_dir / entry.get("variant_of", entry["name"]) / ARTIFACT
    precision = entry["precision"] if "variant_of" in entry else ws.precision
    peaks = peaks_for(ws.target, peaks)
    estimates = {"target": ws.target.name, "precision": precision, "estimated": True, "latency": {}}
    for batch in (1, ws.config.latency_batch):
        costs = graph_costs(artifact, batch)
        estimates["latency"][str(batch)] = estimate_latency(costs, ws.target, precision, peaks)
        if batch == 1:
            estimates["memory"] = estimate_memory(costs, precision)
    return estimates


def _versus(entry: dict, base: dict) -> dict:
    ece, ece0 = entry["calibration"]["ece"], base["calibration"]["ece"]
    p50, p50_0 = entry["latency"]["1"]["p50_ms"], base["latency"]["1"]["p50_ms"]
    return {
        "accuracy_drop_points": 100 * (base["accuracy"] - entry["accuracy"]),
        "ece_increase": ece - ece0,
        "ece_change_relative_percent": 100 * (ece0 - ece) / ece0 if ece0 > 0 else None,
        "params_reduction": 1 - entry["size"]["params"] / base["size"]["params"],
        "macs_reduction": 1 - entry["size"]["macs"] / base["size"]["macs"],
        "nonzero_params_reduction": 1
        - entry["size"]["nonzero_params"] / base["size"]["nonzero_params"],
        "host_speedup_batch1": p50_0 / p50,
    }


def assemble_results(
    ws: Workspace, baseline: dict, candidates: list[dict], peaks: MachinePeaks | None
) -> dict:
    """``results.json``: every entry with its deltas to the baseline, target estimates and provenance."""
    for entry in [baseline, *candidates]:
        entry["vs_baseline"] = _versus(entry, baseline)
        entry["target_estimate"] = device_estimates(ws, entry, peaks)
        if entry.get("corruption_splits"):
            entry["corruption"] = {
                **ws.setup.bundle.meta["info"].get("corruptions", {}),
                **corruption_summary(
                    entry["corruption_splits"],
                    entry["accuracy"],
                    baseline["corruption_splits"],
                    baseline["accuracy"],
                ),
            }
    return {
        "schema": RESULTS_SCHEMA,
        "run_dir": str(ws.run_dir),
        "config": {key_of(k): v for k, v in ws.config.__dict__.items()},
        "target": ws.target.summary(),
        "measured_peaks": peaks.__dict__ if peaks else None,
        "dataset": ws.dataset.describe(),
        "model": ws.spec.to_dict(),
        "provenance": provenance(),
        "baseline": baseline,
        "candidates": candidates,
    }


def decide(results: dict, config: RunConfig, run_dir: Path | None = None) -> dict:
    """The selection of ``config.select_by``: constraints, or PE-guided rate selection."""
    if config.select_by == "pe":
        from edgeprune.select_pe import select_by_pe

        return select_by_pe(
            results, config.max_acc_drop, config.min_pe or 0.85, Path(results["run_dir"])
        )
    return select_candidate(results, config.constraints())


def compress(config: RunConfig, progress: Progress | None = None) -> tuple[dict, dict]:
    """Run the whole sweep; returns (results, selection) and writes them into the run dir."""
    from edgeprune.report import write_reports

    progress = progress or Progress()
    ws = prepare(config, progress)
    baseline = baseline_model(ws)
    source = prepared_model(ws, baseline)
    base_metrics = evaluate_entry(
        ws, baseline, "baseline", {"method": None, "ratio": 0.0, "kind": "unpruned"}
    )
    reference = load_maps(ws.run_dir / "baseline" / MAPS_FILE)
    candidates = variant_entries(ws, "baseline", lambda: baseline, base_metrics, reference)
    for ratio in sweep_ratios(config, progress):
        name = candidate_name(config.method, ratio)
        model: nn.Module | None = None
        if (ws.run_dir / name / METRICS_FILE).exists():
            progress(f"{name}: finished earlier, kept")
            entry = read_json(ws.run_dir / name / METRICS_FILE)
        else:
            model, metadata = candidate_model(ws, source, ratio)
            extra = {
                "method": config.method,
                "ratio": ratio,
                "kind": metadata["pruning"]["kind"],
                **metadata,
            }
            entry = evaluate_entry(ws, model, name, extra, reference)
        candidates.append(entry)

        def load(name: str = name, model: nn.Module | None = model) -> nn.Module:
            return model if model is not None else load_model(ws.run_dir / name / MODEL_FILE)[0]

        candidates += variant_entries(ws, name, load, entry, reference)
    peaks = None
    if ws.target.is_host:
        from edgeprune.targets.host_peaks import measure_host_peaks

        progress("measuring this machine's peak GEMM rate and memory bandwidth for estimates")
        peaks = measure_host_peaks()
    results = assemble_results(ws, base_metrics, candidates, peaks)
    selection = decide(results, config)
    write_json(ws.run_dir / "results.json", results)
    write_json(ws.run_dir / "selection.json", selection)
    write_reports(ws.run_dir, results, selection)
    return results, selection
