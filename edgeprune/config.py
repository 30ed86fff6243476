"""Run configuration: one frozen dataclass whose fields are the CLI flags and the TOML keys.

``--config run.toml`` takes the same keys as the flags (``finetune-epochs = 3``); flags win.
Defaults live here only: the CLI parser reads them from the dataclass. The resolved
configuration is written to ``run.toml`` in the run directory, which is itself a valid
``--config`` file, so ``edgeprune compress --config runs/x/run.toml`` reproduces a run.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.errors import EdgepruneError


def _opt(default: Any, help: str, result: bool = False, kind: str = "") -> Any:
    """A config field. ``result=True``: changing it changes the candidates' results, so a
    finished run directory cannot be resumed under a different value."""
    metadata = {"help": help, "result": result, "kind": kind}
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    target: str = _opt(
        "host-cpu", "device profile name or path to a .toml profile (edgeprune targets)"
    )
    model: str = _opt(
        "small-resnet", "registered model, torchvision:<name>, or package.module:factory", True
    )
    weights: str = _opt(
        "",
        "checkpoint of the unpruned model (state dict; loaded with weights_only=True); empty: train one",
        True,
        "path",
    )
    data: str = _opt(
        "digits",
        "digits | cifar10:<dir> | imagefolder:<dir> (local folders, never downloaded)",
        True,
    )
    input_size: int = _opt(0, "input height and width (0: the dataset's default)", True)
    corruptions: str = _opt(
        "auto",
        "corruption evaluation: auto (generate:1000, or generate:100 above 64x64 pixels) | generate[:N] "
        "| cifar10-c:<dir> (CIFAR-10-C layout, read in place) | none",
        True,
    )
    frost_textures: str = _opt(
        "", "folder of frost texture images (default: procedural frost)", True, "path"
    )
    method: str = _opt("l1-filter", "pruning method (edgeprune methods lists them)", True)
    device: str = _opt(
        "",
        "user@host[:port] to evaluate on over SSH; local forces this machine (default: the profile's [device] ssh, else local)",
    )
    ssh_options: str = _opt(
        "",
        "extra OpenSSH client options for --device, e.g. '-i ~/.ssh/jetson' (default: the profile's)",
    )
    ratios: tuple = _opt(
        (0.25, 0.5, 0.75), "pruning ratios: 0.25,0.5,0.75 or start:stop:step", kind="ratios"
    )
    out: str = _opt("", "run directory (default: runs/<model>-<data>-<method>)", kind="path")
    seed: int = _opt(0, "seed for data split, training, fine-tuning and pruning", True)
    train_epochs: int = _opt(15, "epochs to train the baseline when no --weights are given", True)
    train_lr: float = _opt(0.1, "peak learning rate of baseline training", True)
    finetune_epochs: int = _opt(
        5, "fine-tuning epochs after pruning, identical for every ratio", True
    )
    finetune_lr: float = _opt(0.05, "fine-tuning learning rate, identical for every ratio", True)
    batch_size: int = _opt(64, "training and fine-tuning batch size", True)
    optimizer: str = _opt("sgd", "sgd | adamw", True)
    schedule: str = _opt("cosine", "cosine | onecycle | constant", True)
    round_to: int = _opt(
        0, "keep channel counts multiples of this (0: the target's channel multiple)", True
    )
    allocation: str = _opt(
        "uniform", "uniform (same rate per layer) | global (ranked across layers)", True
    )
    ignore_layers: tuple = _opt(
        (), "module names to leave unpruned, besides first conv and classifier", True, "list"
    )
    layer_ratios: tuple = _opt(
        (), "per-layer ratio overrides: module=ratio,module=ratio", True, "list"
    )
    prune_steps: int = _opt(1, "iterative pruning: reach each ratio in this many steps", True)
    sparsity_epochs: int = _opt(
        0,
        "bn-slimming: epochs of sparsity training (L1 on BN scales) before pruning, once per sweep",
        True,
    )
    sparsity_lambda: float = _opt(1e-4, "bn-slimming: weight of the L1 penalty on BN scales", True)
    distill: float = _opt(
        0.0, "fine-tune with distillation from the unpruned model: weight alpha (0: off)", True
    )
    distill_temperature: float = _opt(4.0, "distillation temperature", True)
    precision: str = _opt(
        "", "precision for device estimates: fp32 | fp16 | int8 (default: the target's)"
    )
    opset: int = _opt(17, "ONNX opset", True)
    onnx_cleanup: str = _opt(
        "none",
        "graph clean-up after export: none | onnxslim | onnxsim (installed separately)",
        True,
    )
    parity_atol: float = _opt(
        1e-4, "parity with PyTorch: a logit agrees when |artifact - torch| <= atol + rtol |torch|"
    )
    parity_rtol: float = _opt(1e-3, "parity with PyTorch: relative tolerance (see parity-atol)")
    precisions: str = _opt(
        "auto",
        "precision variants besides FP32 ONNX: fp32,fp16,int8 (auto: none on ONNX Runtime, the target's with TensorRT)",
    )
    runtime: str = _opt(
        "auto",
        "runtime of the variants: auto (TensorRT when importable here) | onnxruntime | tensorrt",
    )
    calibration_images: int = _opt(512, "INT8: training images used for calibration", True)
    calibration_method: str = _opt(
        "minmax", "INT8 activation calibration: minmax | entropy | percentile", True
    )
    explain_images: int = _opt(
        0, "test images explained per candidate for HCC and PE-score (0: all)", True
    )
    explain_target: str = _opt(
        "original", "class both models explain: original (unpruned prediction) | label | own", True
    )
    pe_ssim_window: int = _opt(7, "PE-score: SSIM window side (uniform window)", True)
    pe_iou_threshold: float = _opt(0.5, "PE-score: maps binarised at this value for the IoU", True)
    eval_batch_size: int = _opt(256, "batch size of the accuracy / calibration pass")
    latency_batch: int = _opt(64, "throughput batch size timed besides batch 1")
    latency_iterations: int = _opt(200, "timed iterations per latency figure (also bounded by 3 s)")
    latency_warmup: int = _opt(10, "untimed warm-up iterations before timing")
    max_acc_drop: float = _opt(1.0, "selection: largest accuracy drop allowed, in points")
    max_ece_increase: float = _opt(0.01, "selection: largest ECE increase allowed (absolute)")
    max_latency_ms: float = _opt(
        0.0, "selection: batch-1 latency budget on the target in ms (0: none)"
    )
    max_memory_mb: float = _opt(0.0, "selection: memory budget on the target in MB (0: none)")
    min_mpc: float = _opt(0.0, "selection: minimum mPC, a fraction (0: none)")
    min_rpc: float = _opt(0.0, "selection: minimum rPC (0: none)")
    min_hcc: float = _opt(0.0, "selection: minimum HCC (0: none)")
    min_pe: float = _opt(
        0.0, "selection: minimum PE-score (0: none; --select-by pe uses 0.85 when 0)"
    )
    objective: str = _opt("compression", "selection objective: compression | latency | accuracy")
    select_by: str = _opt(
        "constraints", "constraints | pe (Pachon et al.'s PE-guided rate selection)"
    )

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out).expanduser()
        data = self.data.split(":")[0]
        model = self.model.replace(":", "-").replace(".", "-")
        return Path("runs") / f"{model}-{data}-{self.method}"

    def to_toml(self) -> str:
        lines = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            lines.append(f"# {f.metadata['help']}")
            lines.append(f"{key_of(f.name)} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def constraints(self):
        """The selection constraints; 0 switches the optional ones off."""
        from edgeprune.select import Constraints

        def optional(value: float) -> float | None:
            return value or None

        return Constraints(
            max_acc_drop=self.max_acc_drop,
            max_ece_increase=self.max_ece_increase,
            max_latency_ms=optional(self.max_latency_ms),
            max_memory_mb=optional(self.max_memory_mb),
            min_mpc=optional(self.min_mpc),
            min_rpc=optional(self.min_rpc),
            min_hcc=optional(self.min_hcc),
            min_pe=optional(self.min_pe),
            objective=self.objective,
        )

    def result_keys(self) -> dict[str, Any]:
        """The values a finished candidate depends on."""
        return {
            key_of(f.name): getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata["result"]
        }


def key_of(field_name: str) -> str:
    return field_name.replace("_", "-")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


FIELDS = {key_of(f.name): f for f in dataclasses.fields(RunConfig)}


def parse_ratios(value: Any) -> tuple[float, ...]:
    """``[0.25, 0.5]``, ``"0.25,0.5"`` or ``"start:stop:step"`` (stop included)."""
    try:
        if isinstance(value, (list, tuple)):
            ratios = [float(v) for v in value]
        elif ":" in str(value):
            start, stop, step = (float(v) for v in str(value).split(":"))
            if step <= 0:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            ratios = [round(start + i * step, 6) for i in range(count)]
        else:
            ratios = [float(v) for v in str(value).split(",") if v.strip()]
    except (TypeError, ValueError):
        raise EdgepruneError(
            f"ratios: cannot read {value!r}; use 0.25,0.5,0.75 or start:stop:step"
        ) from None
    if not ratios or any(not 0 < r < 1 for r in ratios):
        raise EdgepruneError(f"ratios must lie strictly between 0 and 1, got {value!r}")
    return tuple(sorted(set(ratios)))


def _convert(key: str, value: Any) -> Any:
    f = FIELDS[key]
    kind = f.metadata["kind"]
    if kind == "ratios":
        return parse_ratios(value)
    if kind == "list":
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        return tuple(str(v).strip() for v in items if str(v).strip())
    target_type = type(f.default)
    if target_type is bool:
        if isinstance(value, bool):
            return value
        raise EdgepruneError(f"{key} must be true or false, got {value!r}")
    try:
        if target_type is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return target_type(value)
    except (TypeError, ValueError):
        raise EdgepruneError(f"{key} must be {target_type.__name__}, got {value!r}") from None


def _check_key(key: str, source: str) -> None:
    if key not in FIELDS:
        close = difflib.get_close_matches(key, FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EdgepruneError(f"{source}: unknown key {key!r}{hint}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path).expanduser()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise EdgepruneError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EdgepruneError(f"config file {path} is not valid TOML: {exc}") from None
    for key, value in data.items():
        _check_key(key, str(path))
        if isinstance(value, dict):
            raise EdgepruneError(f"{path}: {key!r} must be a value, not a table")
    return data


def build_config(
    file_values: dict[str, Any] | None = None, flag_values: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults, overridden by the config file, overridden by flags; validated."""
    merged: dict[str, Any] = {}
    for source in (file_values or {}, flag_values or {}):
        for key, value in source.items():
            _check_key(key, "configuration")
            merged[FIELDS[key].name] = _convert(key, value)
    config = RunConfig(**merged)
    _validate(config)
    return config


def parse_layer_ratios(items: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``("layer1.0.conv1=0.3", ...)`` -> ``(("layer1.0.conv1", 0.3), ...)``."""
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        try:
            ratio = float(value)
        except ValueError:
            ratio = -1.0
        if not sep or not name or not 0 <= ratio < 1:
            raise EdgepruneError(
                f"layer-ratios: expected module=ratio with 0 <= ratio < 1, got {item!r}"
            )
        pairs.append((name.strip(), ratio))
    return tuple(pairs)


def _validate(config: RunConfig) -> None:
    parse_layer_ratios(config.layer_ratios)
    checks = [
        (config.train_epochs >= 0, "train-epochs must be >= 0"),
        (config.finetune_epochs >= 0, "finetune-epochs must be >= 0"),
        (config.train_lr > 0 and config.finetune_lr > 0, "learning rates must be > 0"),
        (
            config.batch_size > 0 and config.eval_batch_size > 0 and config.latency_batch > 0,
            "batch sizes must be > 0",
        ),
        (config.latency_iterations >= 10, "latency-iterations must be >= 10"),
        (config.latency_warmup >= 0, "latency-warmup must be >= 0"),
        (config.prune_steps >= 1, "prune-steps must be >= 1"),
        (config.round_to >= 0, "round-to must be >= 0"),
        (
            config.sparsity_epochs >= 0 and config.sparsity_lambda >= 0,
            "sparsity-epochs and sparsity-lambda must be >= 0",
        ),
        (
            config.distill >= 0 and config.distill_temperature > 0,
            "distill must be >= 0 and distill-temperature > 0",
        ),
        (config.input_size >= 0, "input-size must be >= 0"),
        (config.max_acc_drop >= 0, "max-acc-drop must be >= 0"),
        (config.allocation in ("uniform", "global"), "allocation must be uniform or global"),
        (config.explain_images >= 0, "explain-images must be >= 0"),
        (
            config.onnx_cleanup in ("none", "onnxslim", "onnxsim"),
            "onnx-cleanup must be none, onnxslim or onnxsim",
        ),
        (
            config.parity_atol >= 0 and config.parity_rtol >= 0,
            "parity-atol and parity-rtol must be >= 0",
        ),
        (
            config.explain_target in ("original", "label", "own"),
            "explain-target must be original, label or own",
        ),
        (
            config.pe_ssim_window >= 3 and config.pe_ssim_window % 2 == 1,
            "pe-ssim-window must be an odd number >= 3",
        ),
        (0 < config.pe_iou_threshold < 1, "pe-iou-threshold must lie in (0, 1)"),
        (
            config.objective in ("compression", "latency", "accuracy"),
            "objective must be compression, latency or accuracy",
        ),
        (config.select_by in ("constraints", "pe"), "select-by must be constraints or pe"),
        (
            config.runtime in ("auto", "onnxruntime", "tensorrt"),
            "runtime must be auto, onnxruntime or tensorrt",
        ),
        (config.calibration_images >= 1, "calibration-images must be >= 1"),
        (
            config.calibration_method in ("minmax", "entropy", "percentile"),
            "calibration-method must be minmax, entropy or percentile",
        ),
        (
            min(
                config.max_latency_ms,
                config.max_memory_mb,
                config.min_mpc,
                config.min_rpc,
                config.min_pe,
            )
            >= 0,
            "budgets and minimums must be >= 0",
        ),
        (config.precision in ("", "fp32", "fp16", "int8"), "precision must be fp32, fp16 or int8"),
        (config.optimizer in ("sgd", "adamw"), "optimizer must be sgd or adamw"),
        (
            config.schedule in ("cosine", "onecycle", "constant"),
            "schedule must be cosine, onecycle or constant",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise EdgepruneError(message)
