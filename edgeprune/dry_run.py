"""``edgeprune compress --dry-run``: the plan of a run, resolved and validated, in words.

Everything :func:`edgeprune.pipeline.resolve` checks is checked (names, paths, the
checkpoint against the model, the model against the data, the corrupted folder, the run
directory against its settings, the device over SSH); nothing is written, trained or run.
"""

from __future__ import annotations

from edgeprune.candidates import plan_candidates
from edgeprune.pipeline import Plan
from edgeprune.progress import Progress, silent
from edgeprune.rundir import BASELINE, RunLayout
from edgeprune.selection.limits import limits_for


def _finished(layout: RunLayout, name: str) -> bool:
    return layout.entry(name).metrics.is_file()


def describe(plan: Plan, progress: Progress = silent) -> list[str]:
    """The lines ``--dry-run`` prints: where, on what, which candidates, what is kept."""
    config, target, dataset = plan.config, plan.target, plan.dataset
    layout = RunLayout(config.run_dir)
    methods = ", ".join(config.methods)
    names = [plan.name for plan in plan_candidates(config, progress)]
    entries = [BASELINE, *names]
    finished = [n for n in entries if _finished(layout, n)]
    if not layout.root.exists():
        where = f"{layout.root} (new)"
    elif finished:
        where = f"{layout.root} (exists; finished and kept: {', '.join(finished)})"
    else:
        where = f"{layout.root} (exists, no finished entry: made again)"
    h, w, c = dataset.image_shape
    train = config.train
    if train.weights:
        model = f"{plan.spec.name} from {train.weights}" + (
            f", adapted {_epochs(train.adapt_epochs)}" if train.adapt_epochs else ", used as it is"
        )
    else:
        model = f"{plan.spec.name}, trained {_epochs(train.train_epochs)}"
    variants = ", ".join(v.suffix for v in plan.variants) or "none"
    to_do = [n for n in entries if n not in finished]
    measure = config.measure
    limits = ", ".join(
        f"{limit.label} {value:g}{limit.unit}"
        for limit in limits_for(plan.task)
        if (value := limit.limit_from(config.select)) is not None
    )
    explain = config.explain.explain_images or len(dataset.test)
    # what --target auto (the default) resolved to on this machine
    chosen = " (--target auto)" if config.device.target == "auto" else ""
    return [
        "dry run: everything resolved and checked; nothing written, trained or run",
        f"run directory: {where}",
        f"target: {target.name}{chosen} ({target.runtime.default} "
        f"{measure.precision or target.runtime.precision} estimates; channels pruned to "
        f"multiples of {plan.round_to}); artifacts run by {plan.runtime} {_where(plan)}"
        + (f"; note: {plan.runtime_note}" if plan.runtime_note else ""),
        f"data: {dataset.name}: {len(dataset.train)} train / {len(dataset.val)} val / "
        f"{len(dataset.test)} test, {h}x{w}x{c}, {dataset.num_classes} classes",
        f"model: {model}",
        f"corruptions: {plan.corruptions.describe()}",
        f"candidates ({len(names)}): {', '.join(names)}; {methods}, fine-tuned "
        f"{_epochs(train.finetune_epochs)} each; precision variants: {variants}",
        f"executor: {_executor(config)}; {plan_threads(config)} CPU thread(s) per candidate",
        f"explanations: {explain} images per entry; latency: batch 1 and {measure.latency_batch}, "
        f"{measure.latency_iterations} iterations after {measure.latency_warmup} warm-up",
        f"selection: {config.select.select_by}, objective {config.select.objective}; {limits}; "
        f"limits judged on the {config.select.limit_at}",
        f"to do: {', '.join(to_do) if to_do else 'nothing (every entry finished); the report is written again'}",
    ]


def _epochs(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def _executor(config) -> str:
    sweep = config.sweep
    if sweep.executor != "ray":
        return "local, one candidate after another"
    where = sweep.ray_address or "a local Ray cluster started for the run"
    at_once = f"{sweep.workers} at once" if sweep.workers else "as many at once as its CPUs allow"
    return f"ray on {where}, {at_once}"


def plan_threads(config) -> int:
    import torch

    return config.sweep.worker_cpus or torch.get_num_threads()


def _where(plan: Plan) -> str:
    from edgeprune.targets.execute import LOCAL, pool_devices

    devices = pool_devices(plan.device, plan.target)
    if devices == [LOCAL]:
        return "here"
    if len(devices) == 1:
        return f"on {devices[0]}"
    return f"on a pool of {len(devices)} devices, one job each at a time: {', '.join(devices)}"
