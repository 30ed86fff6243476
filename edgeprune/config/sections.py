"""The sections of a run's configuration, one frozen dataclass each.

The user sees one flat set of flags and TOML keys; the code reads them by section
(``config.train.finetune_epochs``). Choices come from the registries that own them and are
looked up only when values are checked or help is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.config.options import deferred, option, owned_by
from edgeprune.targets.run import DeviceJob

# What other modules own, named by import path and looked up when values are checked or
# help is shown (pruning methods and training need torch; tasks and selectors import more).
_TASKS = owned_by("edgeprune.tasks:TASKS")
_OPTIMIZERS = owned_by("edgeprune.train:OPTIMIZERS")
_SCHEDULES = owned_by("edgeprune.train:SCHEDULES")
_ALLOCATIONS = owned_by("edgeprune.prune.structured:ALLOCATIONS")
_CLEANUP_TOOLS = owned_by("edgeprune.export.onnx_export:CLEANUP_TOOLS")
_RUNTIMES = owned_by("edgeprune.targets.runtimes:RUNTIMES", "auto")
_TORCH_MODES = owned_by("edgeprune.targets.runners.pytorch_runner:MODES")
_CALIBRATION_METHODS = owned_by("edgeprune.export.quantize:METHODS")
_PRECISIONS = owned_by("edgeprune.targets.precision:PRECISIONS", "")  # "": the target's
_EXPLAIN_TARGETS = owned_by("edgeprune.explain.consistency:TARGETS")
_CAM_METHODS = owned_by("edgeprune.explain.methods:CAM_METHODS")
_OBJECTIVES = owned_by("edgeprune.selection.registry:OBJECTIVES")
_SELECTORS = owned_by("edgeprune.selection.registry:SELECTORS")
_RECALIBRATIONS = owned_by("edgeprune.recalibration:RECALIBRATIONS", "none")
_ECE_OF = owned_by("edgeprune.tasks.classification:ECE_OF")
_LIMIT_AT = owned_by("edgeprune.selection.limits:LIMIT_AT")
_CORRUPTION_SOURCES = deferred("edgeprune.data.corruption_source:source_syntax")
_CHECK_CORRUPTIONS = deferred("edgeprune.data.corruption_source:check_source_name")


def _check_precisions(value: str) -> None:
    from edgeprune.errors import EdgepruneError
    from edgeprune.targets.precision import PRECISIONS

    if value == "auto":
        return
    unknown = [p for p in (p.strip() for p in value.split(",")) if p and p not in PRECISIONS]
    if unknown:
        raise EdgepruneError(f"unknown precision {unknown[0]!r}; known: {', '.join(PRECISIONS)}")


# The device job's defaults are the measurement defaults: one set for compress, evaluate
# and the device-side runner.
_JOB = DeviceJob()


@dataclass(frozen=True)
class DataConfig:
    task: str = option("classification", "what the model does", baseline=True, choices=_TASKS)
    data: str = option(
        "digits",
        "digits | cifar10:<dir> | fashion-mnist[:<dir>] | idx:<dir> | imagefolder:<dir> "
        "(local files, never downloaded)",
        baseline=True,
    )
    input_size: int = option(0, "input height and width (0: the dataset's default)", baseline=True)
    normalize: str = option(
        "dataset",
        "input normalisation the model expects: dataset (the training split's mean and std), "
        "imagenet (a pretrained checkpoint's usual one), none, or MEAN/STD per channel",
        baseline=True,
        check=deferred("edgeprune.data.datasets:check_normalization"),
    )
    train_images: int = option(
        0,
        "train and fine-tune on this many training images, drawn at random (0: all)",
        baseline=True,
    )
    corruptions: str = option(
        "auto",
        "corruption evaluation",
        baseline=True,
        describe=_CORRUPTION_SOURCES,
        check=_CHECK_CORRUPTIONS,
    )
    frost_textures: str = option(
        "", "folder of frost texture images (default: procedural frost)", baseline=True, kind="path"
    )
    seed: int = option(0, "seed for data split, training, fine-tuning and pruning", baseline=True)


@dataclass(frozen=True)
class TrainConfig:
    model: str = option(
        "small-resnet",
        "registered model, torchvision:<name>, or package.module:factory",
        baseline=True,
    )
    weights: str = option(
        "",
        "checkpoint of the unpruned model (state dict; loaded with weights_only=True); empty: train one",
        baseline=True,
        kind="path",
    )
    train_epochs: int = option(
        15, "epochs to train the baseline when no --weights are given", baseline=True
    )
    train_lr: float = option(0.1, "peak learning rate of baseline training", baseline=True)
    adapt_epochs: int = option(
        0,
        "fine-tune the --weights checkpoint on this data for this many epochs before pruning "
        "(a checkpoint trained on other images, e.g. lossless CIFAR-10 for JPEG copies); "
        "0: use it as it is",
        baseline=True,
    )
    adapt_lr: float = option(0.01, "peak learning rate of that fine-tune", baseline=True)
    batch_size: int = option(64, "training and fine-tuning batch size", baseline=True)
    optimizer: str = option("sgd", "optimiser", baseline=True, choices=_OPTIMIZERS)
    schedule: str = option("cosine", "learning-rate schedule", baseline=True, choices=_SCHEDULES)
    finetune_epochs: int = option(
        5, "fine-tuning epochs after pruning, identical for every ratio", result=True
    )
    finetune_lr: float = option(
        0.05, "fine-tuning learning rate, identical for every ratio", result=True
    )
    distill: float = option(
        0.0,
        "fine-tune with distillation from the unpruned model: weight alpha (0: off)",
        result=True,
    )
    distill_temperature: float = option(4.0, "distillation temperature", result=True)


@dataclass(frozen=True)
class PruneConfig:
    method: str = option("l1-filter", "pruning method (edgeprune methods lists them)", result=True)
    methods: tuple = option(
        (),
        "several pruning methods in one run, each at every ratio, sharing one baseline, bundle "
        "and report: l1-filter,hrank,unstructured-global (default: none, --method alone)",
        result=True,
        kind="list",
    )
    ratios: tuple = option(
        (0.25, 0.5, 0.75), "pruning ratios: 0.25,0.5,0.75 or start:stop:step", kind="ratios"
    )
    allocation: str = option(
        "uniform",
        "uniform (same rate per layer) or global (ranked across layers)",
        result=True,
        choices=_ALLOCATIONS,
    )
    round_to: int = option(
        0, "keep channel counts multiples of this (0: the target's channel multiple)", result=True
    )
    ignore_layers: tuple = option(
        (),
        "module names to leave unpruned, besides first conv and classifier",
        result=True,
        kind="list",
    )
    layer_ratios: tuple = option(
        (), "per-layer ratio overrides: module=ratio,module=ratio", result=True, kind="list"
    )
    prune_steps: int = option(
        1, "iterative pruning: reach each ratio in this many steps", result=True
    )
    sparsity_epochs: int = option(
        0,
        "bn-slimming: epochs of sparsity training (L1 on BN scales) before pruning, once per sweep",
        result=True,
    )
    sparsity_lambda: float = option(
        1e-4, "bn-slimming: weight of the L1 penalty on BN scales", result=True
    )


@dataclass(frozen=True)
class ExportConfig:
    opset: int = option(17, "ONNX opset", baseline=True)
    onnx_cleanup: str = option(
        "none",
        "graph clean-up after export (onnxslim, onnxsim: installed separately)",
        baseline=True,
        choices=_CLEANUP_TOOLS,
    )
    parity_atol: float = option(
        1e-4, "parity with PyTorch: a logit agrees when |artifact - torch| <= atol + rtol |torch|"
    )
    parity_rtol: float = option(1e-3, "parity with PyTorch: relative tolerance (see parity-atol)")
    precisions: str = option(
        "auto",
        "precision variants besides FP32 ONNX, comma-separated (auto: none on ONNX Runtime, the target's with TensorRT)",
        check=_check_precisions,
    )
    runtime: str = option(
        "auto",
        "runtime of the variants (auto: the target's where it runs here: TensorRT or PyTorch "
        "on this machine's GPU, ONNX Runtime otherwise)",
        choices=_RUNTIMES,
    )
    torch_mode: str = option(
        "eager",
        "how the PyTorch runtime runs its variants: eager, compile (torch.compile) or "
        "cuda-graph (CUDA only)",
        result=True,
        choices=_TORCH_MODES,
    )
    calibration_images: int = option(512, "INT8: training images used for calibration", result=True)
    calibration_method: str = option(
        "minmax", "INT8 activation calibration", result=True, choices=_CALIBRATION_METHODS
    )
    recalibrate: str = option(
        "none",
        "post-hoc logit scaling, fitted per artifact on the validation split and built into "
        "the deployed graph",
        baseline=True,
        choices=_RECALIBRATIONS,
    )


@dataclass(frozen=True)
class MeasureConfig:
    """How artifacts are timed. The defaults are the device job's (``DeviceJob``), which
    the device-side runner also uses: one set of latency defaults."""

    precision: str = option(
        "",
        "precision for device estimates (default: the target's)",
        choices=_PRECISIONS,
    )
    eval_batch_size: int = option(_JOB.batch_size, "batch size of the accuracy / calibration pass")
    latency_batch: int = option(
        _JOB.latency_batches[-1], "throughput batch size timed besides batch 1"
    )
    latency_iterations: int = option(
        _JOB.iterations,
        f"timed iterations per latency figure (also bounded by {_JOB.max_seconds:g} s)",
    )
    latency_warmup: int = option(_JOB.warmup, "untimed warm-up iterations before timing")


@dataclass(frozen=True)
class ExplainConfig:
    explain_images: int = option(
        0,
        "test images explained per candidate for HCC and PE-score, each class its share (0: all)",
        baseline=True,
    )
    explain_target: str = option(
        "original",
        "class both models explain: original (unpruned prediction), label or own",
        baseline=True,
        choices=_EXPLAIN_TARGETS,
    )
    hcc_method: str = option(
        "gradcam", "CAM method of the HCC maps", baseline=True, choices=_CAM_METHODS
    )
    pe_method: str = option(
        "gradcam++", "CAM method of the PE-score maps", baseline=True, choices=_CAM_METHODS
    )
    pe_ssim_window: int = option(7, "PE-score: SSIM window side (uniform window)", baseline=True)
    pe_iou_threshold: float = option(
        0.5, "PE-score: maps binarised at this value for the IoU", baseline=True
    )


@dataclass(frozen=True)
class SelectConfig:
    """What ``select`` decides with; 0 switches an optional limit off."""

    max_acc_drop: float = option(1.0, "selection: largest accuracy drop allowed, in points")
    min_accuracy: float = option(
        0.0, "selection: lowest accuracy allowed, a fraction (0.8 means 80 %) (0: none)"
    )
    max_chance_p: float = option(
        0.01,
        "selection: a model whose accuracy could be chance is refused: the one-sided binomial "
        "p-value of its accuracy under guessing (1 / classes) must be <= this (0: off)",
    )
    max_ece_increase: float = option(0.01, "selection: largest ECE increase allowed (absolute)")
    max_latency_ms: float = option(
        0.0, "selection: batch-1 latency budget on the target in ms (0: none)"
    )
    max_memory_mb: float = option(0.0, "selection: memory budget on the target in MB (0: none)")
    min_mpc: float = option(0.0, "selection: minimum mPC, a fraction (0: none)")
    min_rpc: float = option(0.0, "selection: minimum rPC (0: none)")
    min_hcc: float = option(0.0, "selection: minimum HCC (0: none)")
    min_pe: float = option(
        0.0, "selection: minimum PE-score (0: none; --select-by pe uses 0.85 when 0)"
    )
    ece_of: str = option(
        "shipped",
        "which ECE the ECE limit reads: the shipped artifact's (after recalibration when it is "
        "on) or the uncalibrated one's",
        choices=_ECE_OF,
    )
    limit_at: str = option(
        "estimate",
        "selection: judge the limits that have a 95 % confidence interval (accuracy drop, "
        "accuracy, ECE increase, mPC) on their point estimate, or on the unfavourable end of "
        "the interval: with bound, a drop passes only when its upper bound is within the limit",
        choices=_LIMIT_AT,
    )
    objective: str = option("compression", "selection objective", choices=_OBJECTIVES)
    select_by: str = option(
        "constraints",
        "constraints, or pe (Pachon et al.'s PE-guided rate selection)",
        choices=_SELECTORS,
    )


_EXECUTORS = owned_by("edgeprune.executors:EXECUTORS")


@dataclass(frozen=True)
class SweepConfig:
    """Where a sweep's candidates are pruned and fine-tuned: here one after another, or as
    tasks on a Ray cluster. The executor never changes a figure; the threads a candidate
    trains with do (the order of floating-point sums), so they are part of the results."""

    executor: str = option(
        "local",
        "where candidates are pruned and fine-tuned: local (here, one after another) or ray "
        "(tasks on a Ray cluster; pip install -e '.[ray]')",
        choices=_EXECUTORS,
    )
    ray_address: str = option(
        "", "address of an existing Ray cluster (default: none, a local Ray started for the run)"
    )
    workers: int = option(
        0,
        "candidates pruned and fine-tuned at once on Ray (0: as many as the cluster's CPUs "
        "allow; a local cluster gets workers x worker-cpus CPUs)",
    )
    worker_cpus: int = option(
        0,
        "CPU threads each candidate is pruned and fine-tuned with, here and on Ray workers; "
        "they decide the order of floating-point sums, so the same value gives the same "
        "figures on every executor (0: PyTorch's default on this machine)",
        result=True,
    )
    worker_gpus: float = option(
        0.0,
        "GPUs each candidate task asks Ray for, so that a cluster places candidates on its GPU "
        "nodes; fine-tuning runs on the --worker-cpus threads (0: none asked)",
    )


@dataclass(frozen=True)
class DeviceConfig:
    target: str = option(
        "auto",
        "device profile name or path to a .toml profile (edgeprune targets); local-gpu: this "
        "machine's GPU; auto: that GPU where a runtime here runs on it, else host-cpu",
    )
    device: str = option(
        "",
        "user@host[:port] to evaluate on over SSH; several (the flag repeated, or "
        "comma-separated) make a pool: entries are evaluated on them side by side, one job "
        "per device; local forces this machine (default: the profile's [device] ssh, else local)",
        check=deferred("edgeprune.targets.remote:check_device_option"),
        repeatable=True,
    )
    ssh_options: str = option(
        "",
        "extra OpenSSH client options for --device, e.g. '-i ~/.ssh/jetson' (default: the profile's)",
        check=deferred("edgeprune.targets.remote:split_ssh_options"),
    )
