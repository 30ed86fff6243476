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
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from edgeprune.candidates import (
    CandidatePlan,
    TrainingSetup,
    plan_candidates,
    prepare_method,
)
from edgeprune.config import FIELDS, RESULT_KEYS, RunConfig, read_config_file
from edgeprune.data.corruption_source import (
    CorruptionSource,
    check_corruptions,
    parse_corruption_source,
    prepare_corruptions,
)
from edgeprune.data.datasets import ImageDataset, balanced_order, load_configured
from edgeprune.errors import EdgepruneError, first_line
from edgeprune.executors import EXECUTORS
from edgeprune.executors.board import SweepBoard
from edgeprune.export import ExportSettings, cleanup_tool
from edgeprune.files import read_json, write_json, write_text
from edgeprune.inference import Normalizer
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
from edgeprune.progress import Progress
from edgeprune.provenance import provenance
from edgeprune.prune import METHODS
from edgeprune.recalibration import NONE
from edgeprune.results import Entry, RunResults, compare_with_baseline
from edgeprune.rundir import BASELINE, RunLayout
from edgeprune.runs import write_decision
from edgeprune.selection import Decision, decide
from edgeprune.targets.bundle import CLEAN, VALIDATION, EvalBundle, bundle_written, write_bundle
from edgeprune.targets.execute import LOCAL, check_device, pool_devices
from edgeprune.targets.pool import DevicePool
from edgeprune.targets.profile import TargetProfile, load_target
from edgeprune.targets.run import DeviceJob
from edgeprune.targets.runtimes import RUNTIMES
from edgeprune.tasks import TASKS, Task


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
    training: TrainingSetup  # what pruning and fine-tuning read, for any executor

    @property
    def round_to(self) -> int:
        return channel_multiple(self.config, self.target)

    @property
    def precision(self) -> str:
        return self.config.measure.precision or self.target.runtime.precision


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
    runtime_note: str | None = None  # why --runtime auto passed over a runtime installed here

    @property
    def round_to(self) -> int:
        return channel_multiple(self.config, self.target)


def resolve(config: RunConfig, progress: Progress) -> Plan:
    """Resolve target, runtime, data, model and corruptions and check each, writing nothing:
    every mistake that can be found before the run directory exists is found here."""
    target = load_target(config.device.target)
    task = TASKS.get(config.data.task)
    planned = plan_variants(config.export.precisions, config.export.runtime, target)
    variants, runtime = planned.variants, planned.runtime
    device = config.device.device or None
    devices = pool_devices(device, target)  # one, or a pool of several
    DevicePool(devices)  # a device named twice fails here
    remote = devices != [LOCAL]
    if remote and RUNTIMES.get(runtime).runs_where_built:
        raise EdgepruneError(
            f"{RUNTIMES.get(runtime).display} artifacts only run where they were built: run "
            "edgeprune on the device itself for them, or evaluate the ONNX artifacts there over "
            "SSH with --runtime onnxruntime"
        )
    for method in config.methods:
        METHODS.get(method)
    if config.sweep.executor == "ray":  # Ray is optional: its absence is one line, now
        from edgeprune.executors.ray_executor import import_ray

        import_ray()
    check_folder(config.run_dir)
    check_model_name(config.train.model)
    cleanup_tool(config.export.onnx_cleanup)
    if config.train.weights:
        check_checkpoint(config.train.weights)
    for name in devices if remote else []:  # unreachable: fail now, not after training
        progress(f"checking {name} over SSH")
        found = check_device(DeviceJob().runtime, name, target, config.device.ssh_options)
        progress(f"{name}: Python {found['python']}, {found['versions']}")
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
    return Plan(
        config, target, task, variants, runtime, device, dataset, spec, source, planned.note
    )


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
    if plan.runtime_note:
        progress(f"note: {plan.runtime_note}")
    if plan.variants:
        progress(
            f"precision variants: {', '.join(v.suffix for v in plan.variants)} ({plan.runtime})"
        )
    training = training_setup(config, plan.spec, task, dataset, target)
    return Workspace(
        config, layout, target, task, dataset, plan.spec, setup, progress, plan.variants, training
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


def training_setup(
    config: RunConfig, spec: ModelSpec, task: Task, dataset: ImageDataset, target: TargetProfile
) -> TrainingSetup:
    """What training, pruning and fine-tuning read of the run (``edgeprune.candidates``)."""
    return TrainingSetup(
        config=config,
        spec=spec,
        task=task.name,
        train=dataset.train,
        augment=dataset.augment,
        mean=tuple(dataset.mean),
        std=tuple(dataset.std),
        round_to=channel_multiple(config, target),
        target=target.name,
        sparsity_2_4=target.features.sparsity_2_4,
        threads=config.sweep.worker_cpus or torch.get_num_threads(),
    )


def baseline_model(ws: Workspace) -> nn.Module:
    """The unpruned model: the user's weights, or trained here (and cached)."""
    path = ws.layout.baseline.model
    if path.exists():
        return load_model(path)[0]
    torch.manual_seed(ws.config.data.seed)
    model = create_model(ws.spec)
    t, training = ws.config.train, ws.training
    if t.weights:
        ws.progress(f"baseline: loading weights {t.weights}")
        load_weights(model, t.weights, ws.spec.name)
        history = {"weights": t.weights}
        if t.adapt_epochs:
            recipe = training.recipe(t.adapt_epochs, t.adapt_lr)
            ws.progress(
                f"baseline: adapting the weights to {ws.dataset.name} for {recipe.epochs} epochs"
            )
            scoped = ws.progress.scoped("baseline")
            history["adaptation"] = training.train_model(model, recipe, progress=scoped)
    else:
        recipe = training.recipe(t.train_epochs, t.train_lr)
        ws.progress(f"baseline: training {ws.spec.name} for {recipe.epochs} epochs")
        history = training.train_model(model, recipe, progress=ws.progress.scoped("baseline"))
    save_model(path, model.eval(), ws.spec, {"training": history})
    return model.eval()


def prepared_model(ws: Workspace, baseline: nn.Module, method: str) -> nn.Module:
    """The model every ratio of ``method`` is pruned from: the baseline, or the baseline
    after the method's once-per-sweep preparation (e.g. sparsity training), cached in
    ``<method>-prepared/``."""
    path = ws.layout.prepared(method).model
    if path.exists():
        return load_model(path)[0]
    prepared = prepare_method(ws.training, baseline, method, ws.progress)
    if prepared is None:
        return baseline
    model, record = prepared
    save_model(path, model, ws.spec, {"prepare": record})
    return model


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
        torch_mode=ws.config.export.torch_mode,
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
    plans = plan_candidates(config, progress)
    executor = EXECUTORS.get(config.sweep.executor)
    # a cluster starts while the baseline is measured (nothing to make: none is started)
    unmade = [p for p in plans if not ws.layout.entry(p.name).model.exists()]
    executor.start(config.sweep, ws.training.threads, len(unmade))
    try:
        baseline = baseline_model(ws)
        base_entry = measure_fp32(ws, BASELINE, baseline, {})
        reference = ws.task.explanation_reference(ws.layout.baseline)
        variants = measure_variants(ws, base_entry, lambda: baseline, reference)
        entries = measure_candidates(ws, plans, baseline, reference)
    finally:
        executor.stop()
    candidates = variants + [e for plan in plans for e in entries[plan.name]]
    results = assemble_results(ws, base_entry, candidates)
    decision = decide(results, config.select)
    write_json(ws.layout.results, results.to_dict())
    write_decision(ws.layout, decision)
    progress("writing the report (report.html, report.md)")
    write_reports(ws.layout, results, decision)
    return results, decision


def measure_candidates(
    ws: Workspace, plans: list[CandidatePlan], baseline: nn.Module, reference
) -> dict[str, list[Entry]]:
    """Every candidate's entries (FP32, then its variants), by name: those finished earlier
    as they are, those pruned earlier measured now, the rest made by the run's executor and
    measured here as each arrives. A candidate that fails leaves the others to finish, then
    the run stops with one line naming it; a rerun makes only what is missing."""
    board = SweepBoard([p.name for p in plans], ws.progress)
    entries: dict[str, list[Entry]] = {}

    def measure(plan: CandidatePlan, model: nn.Module | None, metadata: dict | None) -> None:
        layout = ws.layout.entry(plan.name)
        identity = {}
        if metadata is not None:
            kind = metadata["pruning"]["kind"]
            identity = {"method": plan.method, "ratio": plan.ratio, "kind": kind, **metadata}
        entry = measure_fp32(ws, plan.name, model, identity, reference)

        def load(model: nn.Module | None = model) -> nn.Module:
            return model if model is not None else load_model(layout.model)[0]

        entries[plan.name] = [entry, *measure_variants(ws, entry, load, reference)]

    # With a pool of devices, entries are measured side by side, one job per device.
    measuring = ThreadPoolExecutor(max_workers=len(ws.setup.pool))
    pending = []

    def submit(plan: CandidatePlan, model, metadata, made: bool = False) -> None:
        def job() -> None:
            measure(plan, model, metadata)
            if made:
                board.finished(plan.name)

        if len(ws.setup.pool) == 1:
            job()
        else:
            pending.append(measuring.submit(job))

    try:
        to_make = []
        for plan in plans:
            layout = ws.layout.entry(plan.name)
            if layout.metrics.exists():
                board.kept(plan.name)
                measure(plan, None, None)
            elif layout.model.exists():  # pruned and fine-tuned before an interruption
                model, _, metadata = load_model(layout.model)
                submit(plan, model, metadata)
            else:
                to_make.append(plan)
        sources: dict[str, nn.Module] = {}

        def source(method: str) -> nn.Module:  # prepared once per method, when first needed
            if method not in sources:
                sources[method] = prepared_model(ws, baseline, method)
            return sources[method]

        executor = EXECUTORS.get(ws.config.sweep.executor)
        board.echo_states = executor.name != "local"
        failed = []
        for made in executor.run(to_make, source, ws.training, board):
            name = made.plan.name
            if made.error is not None:
                board.failed(name, made.error)
                failed.append(f"{name} ({made.error})")
                continue
            # where it was fine-tuned, beside how: the executor never changes a figure
            finetune = {**made.metadata["finetune"], "made_by": made.where}
            metadata = {**made.metadata, "finetune": finetune}
            save_model(ws.layout.entry(name).model, made.model, ws.spec, metadata)
            board.state(name, "exporting and evaluating")
            submit(made.plan, made.model, metadata, made=True)
        for future in pending:
            future.result()  # a measurement's error, raised here
    finally:
        measuring.shutdown(wait=True, cancel_futures=True)
    if failed:
        raise EdgepruneError(
            f"{len(failed)} candidate(s) failed: {'; '.join(failed)}; the others are finished "
            "and kept: rerun the same command to make the missing ones"
        )
    return entries
