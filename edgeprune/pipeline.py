"""The compress sweep: prepare -> baseline -> (prune -> fine-tune -> measure) per ratio ->
assemble results -> select -> report. Each step is a public function.

Measuring an entry (export, run, metrics, parity, explanations, estimates) is the one
measurement path of ``edgeprune.measure``; this module decides what to measure. A finished
entry (its ``metrics.json`` exists) is never recomputed, so rerunning an interrupted or
finished command resumes; a run directory refuses a configuration whose result-determining
values differ from those it was made with.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from edgeprune.config import FIELDS, RESULT_KEYS, RunConfig, parse_layer_ratios, read_config_file
from edgeprune.data.corruption_source import (
    CorruptionSource,
    check_corruptions,
    parse_corruption_source,
    prepare_corruptions,
)
from edgeprune.data.datasets import ImageDataset, balanced_order, load_configured
from edgeprune.distill import distillation_penalty
from edgeprune.errors import EdgepruneError, first_line
from edgeprune.export import ExportSettings, cleanup_tool
from edgeprune.files import read_json, write_json, write_text
from edgeprune.inference import Normalizer, to_tensor
from edgeprune.lock import check_folder, hold
from edgeprune.measure import (
    FP32_MIN_AGREEMENT,
    MeasureSetup,
    Variant,
    VariantInputs,
    build_variant,
    built_sparse,
    device_job,
    estimator_for,
    export_fp32,
    interval_deltas,
    measure_entry,
    plan_variants,
)
from edgeprune.models import ModelSpec, create_model, load_model, load_weights, save_model
from edgeprune.models.checkpoint import check_checkpoint
from edgeprune.models.zoo import check_model_name
from edgeprune.progress import Progress, duration
from edgeprune.provenance import provenance
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.recalibration import NONE
from edgeprune.results import Entry, RunResults, compare_with_baseline
from edgeprune.rundir import BASELINE, RunLayout, candidate_name
from edgeprune.runs import write_decision
from edgeprune.selection import Decision, decide
from edgeprune.targets.bundle import CLEAN, VALIDATION, EvalBundle, bundle_written, write_bundle
from edgeprune.targets.execute import check_device, remote_target
from edgeprune.targets.profile import TargetProfile, load_target
from edgeprune.targets.run import DeviceJob
from edgeprune.targets.runtimes import RUNTIMES
from edgeprune.tasks import TASKS, Task
from edgeprune.train import TrainRecipe, train


@dataclass
class Workspace:
    """What every step of a run shares."""

    config: RunConfig
    layout: RunLayout
    target: TargetProfile
    task: Task
    dataset: ImageDataset
    spec: ModelSpec
    setup: MeasureSetup
    progress: Progress
    variants: list[Variant]

    @property
    def round_to(self) -> int:
        return channel_multiple(self.config, self.target)

    @property
    def precision(self) -> str:
        return self.config.measure.precision or self.target.runtime.precision


def sweep_ratios(config: RunConfig, progress: Progress) -> tuple[float, ...]:
    """The ratios the sweep prunes at: the configured ones, or, for a method with a fixed
    ratio (2:4), that one, since every configured ratio would give the same candidate."""
    method, ratios = config.prune.method, tuple(config.prune.ratios)
    fixed = METHODS.get(method).fixed_ratio
    if fixed is None:
        return ratios
    if ratios != (fixed,):
        progress(
            f"{method} always removes {fixed:.0%} of the weights it covers: "
            f"one candidate instead of ratios {', '.join(f'{r:g}' for r in ratios)}"
        )
    return (fixed,)


def channel_multiple(config: RunConfig, target: TargetProfile) -> int:
    """The multiple channel counts are pruned to: ``--round-to``, else the target's."""
    return config.prune.round_to or target.features.channel_multiple


def check_run_dir(
    config: RunConfig, layout: RunLayout, round_to: int | None = None, sparse_2_4: bool = False
) -> list[str]:
    """Whether ``config`` may run in ``layout``, writing nothing: an existing directory made
    with other result-determining settings is refused when it holds work; returns those
    changed settings otherwise (a corrected rerun of a run that stopped before any work).

    ``round_to`` is the channel multiple this run prunes to (``--round-to``, else the
    target's): another target can change it without changing any option, and finished
    candidates pruned to another multiple must not be kept as if they were this run's.
    ``sparse_2_4``: whether the target runs 2:4 sparse kernels, which decides how a
    semi-structured candidate's engines are built; engines built otherwise are refused too."""
    other_sparsity = _built_for_another_sparsity(layout, sparse_2_4)
    if other_sparsity:
        raise EdgepruneError(
            f"{layout.root} holds engines built {'without' if sparse_2_4 else 'with'} 2:4 sparse "
            f"kernels ({', '.join(other_sparsity)}); this run's target (--target "
            f"{config.device.target}) {'runs' if sparse_2_4 else 'does not run'} them: use "
            "another --out, or the target they were built for"
        )
    if round_to is not None:
        other = _pruned_to_another_multiple(layout, round_to)
        if other:
            raise EdgepruneError(
                f"{layout.root} holds candidates pruned to channel multiples of "
                f"{', '.join(f'{m} ({names})' for m, names in other.items())}; this run prunes "
                f"to multiples of {round_to} (--target {config.device.target}, --round-to "
                f"{config.prune.round_to or 'from the target'}): use another --out, or the "
                "target or --round-to they were made for"
            )
    if not layout.config.exists():
        return []
    stored = read_config_file(layout.config)
    changed = []
    for key in RESULT_KEYS:
        # A key added since the run was made: it ran with the option's default.
        before = _normalise(stored.get(key, FIELDS[key].default))
        if before != _normalise(config.value(key)):
            changed.append(f"{key} = {before!r} (now {config.value(key)!r})")
    if changed and _holds_work(layout):
        raise EdgepruneError(
            f"{layout.root} was made with different settings: {'; '.join(changed)}; "
            "use another --out, or delete that directory to start over"
        )
    return changed


def open_run_dir(
    config: RunConfig,
    held: contextlib.ExitStack,
    round_to: int | None = None,
    sparse_2_4: bool = False,
) -> RunLayout:
    """Create the run directory, or check that an existing one was made compatibly
    (:func:`check_run_dir`); its lock is held until ``held`` closes, so a second process on
    it fails with one line."""
    layout = RunLayout(config.run_dir)
    held.enter_context(hold(layout.root))
    if check_run_dir(config, layout, round_to, sparse_2_4):  # a corrected rerun, no work yet:
        shutil.rmtree(layout.bundle, ignore_errors=True)  # its bundle may be of other data
    write_text(  # the folder exists: hold() made it to put its lock there
        layout.config,
        f"# edgeprune run configuration; reuse with: edgeprune compress --config {layout.config}\n"
        + config.to_toml(),
    )
    return layout


def _holds_work(layout: RunLayout) -> bool:
    """Whether a run directory holds a model or a finished entry: work a changed setting
    would mix with (anything else, run.toml and the bundle, is made again in seconds)."""
    return any(
        path.name in ("model.pt", "metrics.json")
        for folder in layout.root.iterdir()
        if folder.is_dir() and folder != layout.bundle
        for path in folder.iterdir()
    )


def _pruned_to_another_multiple(layout: RunLayout, round_to: int) -> dict[int, str]:
    """Finished structured candidates of ``layout`` pruned to a channel multiple other than
    ``round_to``: multiple -> their names."""
    found: dict[int, list[str]] = {}
    if not layout.root.is_dir():
        return {}
    for folder in sorted(p for p in layout.root.iterdir() if p.is_dir()):
        metrics = layout.entry(folder.name).metrics
        if not metrics.is_file():
            continue
        pruning = read_json(metrics).get("pruning") or {}
        multiple = pruning.get("round_to")
        if pruning.get("kind") == "structured" and multiple is not None and multiple != round_to:
            found.setdefault(int(multiple), []).append(folder.name)
    return {m: ", ".join(names) for m, names in found.items()}


def _built_for_another_sparsity(layout: RunLayout, sparse_2_4: bool) -> list[str]:
    """Variants of ``layout`` whose engines were built with 2:4 sparse kernels where this
    target builds them dense, or the other way round (a semi-structured candidate's engine
    is built sparse exactly where the target runs 2:4 sparsity)."""
    found = []
    if not layout.root.is_dir():
        return found
    for folder in sorted(p for p in layout.root.iterdir() if p.is_dir()):
        info_path = layout.entry(folder.name).variant_info
        if not info_path.is_file():
            continue
        sparse = built_sparse(read_json(info_path))
        base = layout.entry(folder.name.split("@")[0]).metrics
        semi = base.is_file() and read_json(base).get("kind") == "semi-structured"
        if sparse is not None and sparse != (semi and sparse_2_4):
            found.append(folder.name)
    return found


def _normalise(value: object) -> object:
    return list(value) if isinstance(value, (list, tuple)) else value


@dataclass
class Plan:
    """Everything a run resolves and validates before it writes anything."""

    config: RunConfig
    target: TargetProfile
    task: Task
    variants: list[Variant]
    runtime: str
    device: str | None
    dataset: ImageDataset
    spec: ModelSpec
    corruptions: CorruptionSource

    @property
    def round_to(self) -> int:
        return channel_multiple(self.config, self.target)


def resolve(config: RunConfig, progress: Progress) -> Plan:
    """Resolve target, runtime, data, model and corruptions and check each, writing nothing:
    every mistake that can be found before the run directory exists is found here."""
    target = load_target(config.device.target)
    task = TASKS.get(config.data.task)
    variants, runtime = plan_variants(config.export.precisions, config.export.runtime, target)
    device = config.device.device or None
    remote = remote_target(device, target)[0] is not None
    if remote and RUNTIMES.get(runtime).runs_where_built:
        raise EdgepruneError(
            f"{RUNTIMES.get(runtime).display} artifacts only run where they were built: run "
            "edgeprune on the device itself for them, or evaluate the ONNX artifacts there over "
            "SSH with --runtime onnxruntime"
        )
    METHODS.get(config.prune.method)
    check_folder(config.run_dir)
    check_model_name(config.train.model)
    cleanup_tool(config.export.onnx_cleanup)
    if config.train.weights:
        check_checkpoint(config.train.weights)
    if remote:  # an unreachable device should fail now, not after training the baseline
        progress("checking the device over SSH")
        found = check_device(DeviceJob().runtime, device, target, config.device.ssh_options)
        progress(f"device: Python {found['python']}, {found['versions']}")
    progress(f"loading data {config.data.data}")
    dataset = load_configured(config.data)
    h, w, c = dataset.image_shape
    spec = ModelSpec(config.train.model, dataset.num_classes, c, (h, w))
    check_model_fits(spec, config.train.weights, task)
    source = parse_corruption_source(
        config.data.corruptions, dataset.image_shape, len(dataset.test)
    )
    check_corruptions(source, dataset)  # a folder that does not fit fails before any write
    check_run_dir(
        config,
        RunLayout(config.run_dir),
        channel_multiple(config, target),
        target.features.sparsity_2_4,
    )
    return Plan(config, target, task, variants, runtime, device, dataset, spec, source)


def prepare(config: RunConfig, progress: Progress, held: contextlib.ExitStack) -> Workspace:
    """Resolve and check everything (:func:`resolve`), then open the run directory and
    write the eval bundle once. The run directory stays locked until ``held`` closes."""
    plan = resolve(config, progress)
    target, task, dataset = plan.target, plan.task, plan.dataset
    layout = open_run_dir(config, held, plan.round_to, plan.target.features.sparsity_2_4)
    bundle = prepare_bundle(config, dataset, layout, plan.corruptions, progress)
    job = device_job(config.measure, task, config.explain.explain_images or None, explain=True)
    setup = MeasureSetup(
        task=task,
        bundle=bundle,
        job=job,
        estimator=estimator_for(target, config.measure),
        export=ExportSettings(opset=config.export.opset, cleanup=config.export.onnx_cleanup),
        normalize=Normalizer(dataset.mean, dataset.std),
        explanation=task.explanation_settings(config.explain),
        device=plan.device,
        ssh_options=config.device.ssh_options,
        parity_tolerance=(config.export.parity_atol, config.export.parity_rtol),
        recalibration=config.export.recalibrate,
    )
    h, w, c = dataset.image_shape
    progress(
        f"target {target.name}; data {dataset.name}: {len(dataset.train)} train / {len(dataset.val)} val / "
        f"{len(dataset.test)} test, {h}x{w}x{c}, {dataset.num_classes} classes"
    )
    if plan.variants:
        progress(
            f"precision variants: {', '.join(v.suffix for v in plan.variants)} ({plan.runtime})"
        )
    return Workspace(
        config, layout, target, task, dataset, plan.spec, setup, progress, plan.variants
    )


def check_model_fits(spec: ModelSpec, weights: str, task) -> None:
    """Build the model, load ``weights`` into it and run one image through it, so that a
    checkpoint that does not fit or a head for another class count fails before the run
    directory is written (they need the data's class count, so they come after loading it)."""
    model = create_model(spec)
    if weights:
        load_weights(model, weights, spec.name)
    h, w = spec.input_size
    try:
        with torch.no_grad():
            output = model.eval()(torch.zeros(1, spec.in_channels, h, w))
    except (RuntimeError, ValueError, TypeError) as exc:  # its forward refuses the data's images
        raise EdgepruneError(
            f"model {spec.name} fails on one {h}x{w} image with {spec.in_channels} channel(s): "
            f"{first_line(exc)}"
        ) from None
    task.check_model_output(output, spec.num_classes)


def prepare_bundle(
    config: RunConfig,
    dataset: ImageDataset,
    layout: RunLayout,
    source: CorruptionSource,
    progress: Progress,
) -> EvalBundle:
    """The eval bundle: the clean test split plus its corrupted versions, written once.

    ``bundle.json`` is written after the corrupted images, so an interrupted generation is
    resumed (per corruption file) rather than mistaken for a finished bundle.
    """
    if bundle_written(layout.bundle):
        return EvalBundle(layout.bundle)
    data = config.data
    # Class-balanced order: every prefix of the clean split (the images explained) keeps
    # each class's share, whatever order the dataset stores its test images in.
    test = dataset.test.take(balanced_order(dataset.test.labels))
    arrays = {CLEAN: (test.images, test.labels)}
    if config.export.recalibrate != NONE:  # what the logit scaling is fitted on
        arrays[VALIDATION] = (dataset.val.images, dataset.val.labels)
    if source.kind != "none":
        progress(f"corruptions: {source.describe()}")
    splits, info = prepare_corruptions(
        source,
        dataset,
        layout.generated_corruptions,
        layout.bundle,
        data.seed,
        data.frost_textures,
        progress.scoped("corruptions"),
    )
    return write_bundle(
        layout.bundle,
        arrays,
        dataset.mean,
        dataset.std,
        dataset.num_classes,
        dataset.class_names,
        external_splits=splits,
        info={"dataset": dataset.describe(), "corruptions": info},
    )


# ------------------------------------------------------------------ training and pruning


def _train_on_run(ws: Workspace, model: nn.Module, recipe: TrainRecipe, **hooks) -> dict:
    """Train ``model`` on the run's training split with the task's loss, normalised and
    augmented like the run (``hooks``: penalty, after_step, progress)."""
    return train(
        model,
        ws.dataset.train,
        ws.setup.normalize,
        recipe,
        ws.dataset.augment,
        loss_fn=ws.task.loss,
        **hooks,
    )


def _recipe(ws: Workspace, epochs: int, lr: float) -> TrainRecipe:
    t = ws.config.train
    return TrainRecipe(
        epochs=epochs,
        lr=lr,
        batch_size=t.batch_size,
        optimizer=t.optimizer,
        schedule=t.schedule,
        seed=ws.config.data.seed,
    )


def baseline_model(ws: Workspace) -> nn.Module:
    """The unpruned model: the user's weights, or trained here (and cached)."""
    path = ws.layout.baseline.model
    if path.exists():
        return load_model(path)[0]
    torch.manual_seed(ws.config.data.seed)
    model = create_model(ws.spec)
    t = ws.config.train
    if t.weights:
        ws.progress(f"baseline: loading weights {t.weights}")
        load_weights(model, t.weights, ws.spec.name)
        history = {"weights": t.weights}
        if t.adapt_epochs:
            recipe = _recipe(ws, t.adapt_epochs, t.adapt_lr)
            ws.progress(
                f"baseline: adapting the weights to {ws.dataset.name} for {recipe.epochs} epochs"
            )
            scoped = ws.progress.scoped("baseline")
            history["adaptation"] = _train_on_run(ws, model, recipe, progress=scoped)
    else:
        recipe = _recipe(ws, t.train_epochs, t.train_lr)
        ws.progress(f"baseline: training {ws.spec.name} for {recipe.epochs} epochs")
        history = _train_on_run(ws, model, recipe, progress=ws.progress.scoped("baseline"))
    save_model(path, model.eval(), ws.spec, {"training": history})
    return model.eval()


def _training_batches(ws: Workspace, count: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A few fixed training batches for data-driven pruning criteria."""
    batch_size = ws.config.train.batch_size
    order = np.random.default_rng(ws.config.data.seed).permutation(len(ws.dataset.train))
    batches = []
    for i in range(count):
        index = order[i * batch_size : (i + 1) * batch_size]
        if len(index):
            images = ws.setup.normalize(to_tensor(ws.dataset.train.images[index]))
            batches.append((images, torch.from_numpy(ws.dataset.train.labels[index])))
    return batches


def prune_settings(ws: Workspace) -> PruneSettings:
    p = ws.config.prune
    return PruneSettings(
        allocation=p.allocation,
        round_to=ws.round_to,
        ignore=p.ignore_layers,
        layer_ratios=parse_layer_ratios(p.layer_ratios),
        steps=p.prune_steps,
        sparsity_epochs=p.sparsity_epochs,
        sparsity_lambda=p.sparsity_lambda,
        seed=ws.config.data.seed,
    )


def prune_context(ws: Workspace) -> PruneContext:
    """Example input, fixed training batches, and training with the run's fine-tune recipe."""
    t = ws.config.train
    recipe = _recipe(ws, t.finetune_epochs, t.finetune_lr)

    def train_for(m: nn.Module, epochs: int, penalty=None, after_step=None) -> dict:
        steps = dataclasses.replace(recipe, epochs=epochs)
        return _train_on_run(ws, m, steps, penalty=penalty, after_step=after_step)

    h, w = ws.spec.input_size
    example = torch.zeros(1, ws.spec.in_channels, h, w)
    return PruneContext(
        example, lambda: _training_batches(ws), train_for, ws.config.data.seed, ws.task.loss
    )


def prepared_model(ws: Workspace, baseline: nn.Module) -> nn.Module:
    """The model every ratio is pruned from: the baseline, or the baseline after the method's
    once-per-sweep preparation (e.g. sparsity training), cached in ``<method>-prepared/``."""
    method = METHODS.get(ws.config.prune.method)
    if method.prepare is None:
        return baseline
    path = ws.layout.prepared(method.name).model
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
    method = ws.config.prune.method
    name = candidate_name(method, ratio)
    path = ws.layout.entry(name).model
    if path.exists():
        model, _, metadata = load_model(path)
        return model, metadata
    progress = ws.progress.scoped(name)
    model = copy.deepcopy(source)
    settings, context = prune_settings(ws), prune_context(ws)
    t = ws.config.train
    recipe = _recipe(ws, t.finetune_epochs, t.finetune_lr)

    def finetune_between(m: nn.Module, step: int) -> None:
        progress(f"fine-tuning after step {step + 1}/{settings.steps}")
        context.train(m, recipe.epochs)

    started = time.perf_counter()
    progress(f"pruning {ratio:.0%} with {method}")
    pruned = prune_model(model, method, ratio, settings, context, finetune_between)
    prune_seconds = time.perf_counter() - started
    penalty = None
    if t.distill > 0:
        penalty = distillation_penalty(source, t.distill, t.distill_temperature)
    progress(f"fine-tuning {recipe.epochs} epochs" + (" with distillation" if penalty else ""))
    history = _train_on_run(
        ws, model, recipe, penalty=penalty, after_step=pruned.after_step, progress=progress
    )
    history["distillation"] = (
        {"alpha": t.distill, "temperature": t.distill_temperature} if penalty else None
    )
    report = dict(pruned.report)
    note = _sparsity_note(report["kind"], ws.target)
    if note:
        report["note"] = note
    metadata = {"pruning": report, "finetune": history, "prune_seconds": prune_seconds}
    save_model(path, model.eval(), ws.spec, metadata)
    return model.eval(), metadata


# ------------------------------------------------------------------ measuring entries


def measure_fp32(
    ws: Workspace, name: str, model: nn.Module | None, identity: dict, reference=None
) -> Entry:
    """The FP32 ONNX entry of ``model`` through the measurement path (cached)."""
    layout = ws.layout.entry(name)
    progress = ws.progress.scoped(name)
    if not layout.metrics.exists():
        progress("exporting to ONNX")
    artifact = export_fp32(model, layout, ws.setup.bundle.image_shape, ws.setup.export)
    return measure_entry(
        artifact,
        layout,
        ws.setup,
        {"name": name, **identity},
        model=model,
        reference=reference,
        required_parity=FP32_MIN_AGREEMENT,
        progress=progress,
    )


def _variant_inputs(ws: Workspace, base: Entry) -> VariantInputs:
    sample = np.random.default_rng(ws.config.data.seed).permutation(len(ws.dataset.train))
    sample = sample[: ws.config.export.calibration_images]
    return VariantInputs(
        calibration_images=ws.dataset.train.images[np.sort(sample)],
        preprocess=ws.setup.bundle.preprocess,
        target=ws.target,
        calibration_method=ws.config.export.calibration_method,
        sparse_weights=base.kind == "semi-structured" and ws.target.features.sparsity_2_4,
    )


def measure_variants(
    ws: Workspace, base: Entry, model: Callable[[], nn.Module], reference
) -> list[Entry]:
    """The precision variants of one entry, each built and measured once."""
    entries = []
    for variant in ws.variants:
        name = variant.name(base.name)
        layout = ws.layout.entry(name)
        progress = ws.progress.scoped(name)
        finished = layout.metrics.exists()
        if not finished:
            progress(f"building the {variant.suffix} artifact")
        inputs = None if finished else _variant_inputs(ws, base)
        artifact = build_variant(ws.layout.entry(base.name), layout, variant, inputs)
        identity = {
            "name": name,
            "variant_of": base.name,
            "method": base.method,
            "ratio": base.ratio,
            "kind": base.kind,
            "pruning": base.pruning,
        }
        entries.append(
            measure_entry(
                artifact,
                layout,
                ws.setup,
                identity,
                model=None if finished else model(),
                reference=reference,
                progress=progress,
            )
        )
    return entries


def assemble_results(ws: Workspace, baseline: Entry, candidates: list[Entry]) -> RunResults:
    """``results.json``: every entry with its deltas to the baseline, and provenance."""
    compare_with_baseline(ws.task, baseline, candidates, ws.setup.bundle.meta["info"])
    entries = [baseline, *candidates]
    layouts = [ws.layout.entry(e.name) for e in entries]
    interval_deltas(ws.task, layouts, entries, ws.setup.bundle)
    peaks = ws.setup.estimator.measured_peaks
    return RunResults(
        task=ws.task.name,
        run_dir=str(ws.layout.root),
        config=ws.config.flat(),
        target=ws.target.summary(),
        measured_peaks=peaks.__dict__ if peaks else None,
        dataset=ws.dataset.describe(),
        model=ws.spec.to_dict(),
        provenance=provenance(),
        baseline=baseline,
        candidates=candidates,
    )


def compress(config: RunConfig, progress: Progress | None = None) -> tuple[RunResults, Decision]:
    """Run the whole sweep; returns (results, decision) and writes them into the run dir."""
    progress = progress or Progress()
    with contextlib.ExitStack() as held:
        return _sweep(prepare(config, progress, held), progress)


def _sweep(ws: Workspace, progress: Progress) -> tuple[RunResults, Decision]:
    from edgeprune.report import write_reports

    config = ws.config
    baseline = baseline_model(ws)
    source = prepared_model(ws, baseline)
    base_entry = measure_fp32(ws, BASELINE, baseline, {})
    reference = ws.task.explanation_reference(ws.layout.baseline)
    candidates = measure_variants(ws, base_entry, lambda: baseline, reference)
    method = config.prune.method
    ratios = list(sweep_ratios(config, progress))
    made, making_started = 0, time.perf_counter()
    for number, ratio in enumerate(ratios, 1):
        name = candidate_name(method, ratio)
        layout = ws.layout.entry(name)
        model: nn.Module | None = None
        if layout.metrics.exists():
            progress(f"{name}: finished earlier, kept")
            entry = measure_fp32(ws, name, None, {})
        else:
            if made:  # the time left at this session's pace per candidate
                each = (time.perf_counter() - making_started) / made
                left = f", about {duration(each * (len(ratios) - number + 1))} left"
            else:
                left = ""
            progress(f"candidate {number} of {len(ratios)}: {name}{left}")
            made += 1
            model, metadata = candidate_model(ws, source, ratio)
            identity = {
                "method": method,
                "ratio": ratio,
                "kind": metadata["pruning"]["kind"],
                **metadata,
            }
            entry = measure_fp32(ws, name, model, identity, reference)
        candidates.append(entry)

        def load(layout=layout, model: nn.Module | None = model) -> nn.Module:
            return model if model is not None else load_model(layout.model)[0]

        candidates += measure_variants(ws, entry, load, reference)
    results = assemble_results(ws, base_entry, candidates)
    decision = decide(results, config.select)
    write_json(ws.layout.results, results.to_dict())
    write_decision(ws.layout, decision)
    progress("writing the report (report.html, report.md)")
    write_reports(ws.layout, results, decision)
    return results, decision
