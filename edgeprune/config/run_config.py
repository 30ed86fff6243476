"""A run's configuration: sections of options, one flat set of flags and TOML keys.

``--config run.toml`` takes the same keys as the flags (``finetune-epochs = 3``); flags win.
Defaults live in the option fields only: the CLI parser reads them from there. The resolved
configuration is written to ``run.toml`` in the run directory, itself a valid ``--config``
file, so ``edgeprune compress --config runs/x/run.toml`` reproduces a run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.config.options import choices_of, full_help, key_of, one_of, option
from edgeprune.config.sections import (
    DataConfig,
    DeviceConfig,
    ExplainConfig,
    ExportConfig,
    MeasureConfig,
    PruneConfig,
    SelectConfig,
    SweepConfig,
    TrainConfig,
)
from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    out: str = option(
        "", "run directory (default: runs/<model>-<data>-<method>[+<method>...])", kind="path"
    )

    @property
    def methods(self) -> tuple[str, ...]:
        """The pruning methods of the run: ``--methods``, else ``--method`` alone."""
        return tuple(self.prune.methods) or (self.prune.method,)

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out).expanduser()
        data = self.data.data.split(":")[0]
        model = self.train.model.replace(":", "-").replace(".", "-")
        return Path("runs") / f"{model}-{data}-{'+'.join(self.methods)}"

    def value(self, key: str) -> Any:
        """The value of the flat key ``key`` (``"finetune-epochs"``)."""
        ref = OPTIONS[key]
        holder = getattr(self, ref.section) if ref.section else self
        return getattr(holder, ref.field.name)

    def flat(self) -> dict[str, Any]:
        """Every option by its flat key, in the order of the sections."""
        return {key: self.value(key) for key in OPTIONS}

    def replace(self, values: dict[str, Any]) -> RunConfig:
        """A copy with some flat keys changed (values already converted)."""
        sections: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for key, value in values.items():
            ref = OPTIONS[key]
            target = sections.setdefault(ref.section, {}) if ref.section else top
            target[ref.field.name] = value
        changed = {
            name: dataclasses.replace(getattr(self, name), **fields)
            for name, fields in sections.items()
        }
        return dataclasses.replace(self, **changed, **top)

    def to_toml(self) -> str:
        lines = []
        for key, ref in OPTIONS.items():
            lines.append(f"# {full_help(ref.field)}")
            lines.append(f"{key} = {_toml_value(self.value(key))}")
        return "\n".join(lines) + "\n"

    def result_values(self) -> dict[str, Any]:
        """The values a finished candidate depends on."""
        return {key: self.value(key) for key in RESULT_KEYS}


@dataclass(frozen=True)
class OptionRef:
    section: str  # "" for a top-level option
    field: dataclasses.Field


def _index() -> dict[str, OptionRef]:
    refs: dict[str, OptionRef] = {}
    for section in dataclasses.fields(RunConfig):
        if dataclasses.is_dataclass(section.default_factory):  # a section
            for f in dataclasses.fields(section.default_factory):
                refs[key_of(f.name)] = OptionRef(section.name, f)
        else:
            refs[key_of(section.name)] = OptionRef("", section)
    return refs


OPTIONS: dict[str, OptionRef] = _index()
FIELDS = {key: ref.field for key, ref in OPTIONS.items()}
RESULT_KEYS = tuple(k for k, ref in OPTIONS.items() if ref.field.metadata["result"])
# What must agree for candidates of different runs to be compared against one baseline.
BASELINE_KEYS = tuple(k for k, ref in OPTIONS.items() if ref.field.metadata["baseline"])


def baseline_options() -> dict[str, Any]:
    """The options runs must share to be selected together, with their defaults (what an
    older run that lacks one of them ran with)."""
    return {key: FIELDS[key].default for key in BASELINE_KEYS}


def section_keys(section: str) -> tuple[str, ...]:
    """The flat keys of one section (``select``: what ``edgeprune select`` may change)."""
    return tuple(k for k, ref in OPTIONS.items() if ref.section == section)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# More candidates than this in one run is a typo (a step of 1e-8), not a sweep: each one is a
# fine-tuned model, and the list alone would fill memory before the first is pruned.
MAX_RATIOS = 100
# Seeds numpy, torch and Python's random all take without folding: 32 bits.
MAX_SEED = 2**32 - 1


def parse_ratios(value: Any) -> tuple[float, ...]:
    """``[0.25, 0.5]``, ``"0.25,0.5"`` or ``"start:stop:step"`` (stop included)."""
    try:
        if isinstance(value, (list, tuple)):
            ratios = [float(v) for v in value]
        elif ":" in str(value):
            start, stop, step = (float(v) for v in str(value).split(":"))
            if not step > 0 or not math.isfinite(start + stop + step):
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            _check_ratio_count(count, value)
            ratios = [round(start + i * step, 6) for i in range(count)]
        else:
            ratios = [float(v) for v in str(value).split(",") if v.strip()]
    except (TypeError, ValueError, OverflowError):
        raise EdgepruneError(
            f"ratios: cannot read {value!r}; use 0.25,0.5,0.75 or start:stop:step"
        ) from None
    _check_ratio_count(len(ratios), value)
    if not ratios or any(not 0 < r < 1 for r in ratios):
        raise EdgepruneError(f"ratios must lie strictly between 0 and 1, got {value!r}")
    return tuple(sorted(set(ratios)))


def _check_ratio_count(count: int, value: Any) -> None:
    if count > MAX_RATIOS:
        raise EdgepruneError(
            f"ratios {value!r} give {count:,} candidates; at most {MAX_RATIOS} per run "
            "(each is pruned and fine-tuned): use a larger step"
        )


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
    if isinstance(value, bool):  # TOML's true is not the number 1
        raise EdgepruneError(f"{key} must be {target_type.__name__}, got {value!r}")
    try:
        if target_type is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        converted = target_type(value)
    except (TypeError, ValueError, OverflowError):
        raise EdgepruneError(f"{key} must be {target_type.__name__}, got {value!r}") from None
    if target_type is float and not math.isfinite(converted):
        raise EdgepruneError(f"{key} must be a finite number, got {value!r}")
    return converted


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
    except IsADirectoryError:
        raise EdgepruneError(
            f"config file {path} is a folder; give the run.toml inside it"
        ) from None
    except UnicodeDecodeError:
        raise EdgepruneError(
            f"config file {path} is not UTF-8 text (binary?), so not TOML"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise EdgepruneError(f"config file {path} is not valid TOML: {exc}") from None
    for key, value in data.items():
        _check_key(key, str(path))
        if isinstance(value, dict):
            raise EdgepruneError(f"{path}: {key!r} must be a value, not a table")
    return data


# --quick: a first look at the demo in well under a minute on 2 cores (the README gives the
# time measured): fewer epochs, one ratio, 100 corrupted images per corruption and severity.
QUICK_PRESET = {
    "train-epochs": "4",
    "finetune-epochs": "1",
    "ratios": "0.5",
    "corruptions": "generate:100",
    "explain-images": "50",
    "latency-iterations": "20",
    "latency-warmup": "2",
}


def build_config(
    file_values: dict[str, Any] | None = None, flag_values: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults, overridden by the config file, overridden by flags; validated."""
    merged: dict[str, Any] = {}
    for source in (file_values or {}, flag_values or {}):
        for key, value in source.items():
            _check_key(key, "configuration")
            merged[key] = _convert(key, value)
    config = RunConfig().replace(merged)
    validate(config)
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


def _range_rules(c: RunConfig) -> list[tuple[bool, str]]:
    """What a choice list cannot say: ranges and relations between values."""
    t, m, e, x, s = c.train, c.measure, c.export, c.explain, c.select
    return [
        (t.train_epochs >= 0, "train-epochs must be >= 0"),
        (t.finetune_epochs >= 0, "finetune-epochs must be >= 0"),
        (t.train_lr > 0 and t.finetune_lr > 0 and t.adapt_lr > 0, "learning rates must be > 0"),
        (t.adapt_epochs >= 0, "adapt-epochs must be >= 0"),
        (
            t.adapt_epochs == 0 or bool(t.weights),
            "adapt-epochs fine-tunes a --weights checkpoint; without one the baseline is "
            "trained for --train-epochs",
        ),
        (
            t.batch_size > 0 and m.eval_batch_size > 0 and m.latency_batch > 0,
            "batch sizes must be > 0",
        ),
        (m.latency_iterations >= 10, "latency-iterations must be >= 10"),
        (m.latency_warmup >= 0, "latency-warmup must be >= 0"),
        (c.prune.prune_steps >= 1, "prune-steps must be >= 1"),
        (c.sweep.workers >= 0, "workers must be >= 0"),
        (c.sweep.worker_cpus >= 0, "worker-cpus must be >= 0"),
        (c.sweep.worker_gpus >= 0, "worker-gpus must be >= 0"),
        (
            len(set(c.prune.methods)) == len(c.prune.methods),
            "methods: each method once",
        ),
        (c.prune.round_to >= 0, "round-to must be >= 0"),
        (
            c.prune.sparsity_epochs >= 0 and c.prune.sparsity_lambda >= 0,
            "sparsity-epochs and sparsity-lambda must be >= 0",
        ),
        (
            t.distill >= 0 and t.distill_temperature > 0,
            "distill must be >= 0 and distill-temperature > 0",
        ),
        (c.data.input_size >= 0, "input-size must be >= 0"),
        (c.data.train_images >= 0, "train-images must be >= 0"),
        (0 <= c.data.seed <= MAX_SEED, f"seed must lie in 0 .. {MAX_SEED} (2**32 - 1)"),
        (0 <= s.max_acc_drop <= 100, "max-acc-drop is in percentage points: 0 to 100"),
        (
            0 <= s.max_ece_increase <= 1,
            "max-ece-increase is an absolute change of ECE, which lies in [0, 1]: 0 to 1",
        ),
        (
            s.min_mpc <= 1,
            f"min-mpc is a fraction of the images (0.85 means 85 %), got {s.min_mpc:g}",
        ),
        (
            0 <= s.min_accuracy <= 1,
            f"min-accuracy is a fraction of the images (0.8 means 80 %), got {s.min_accuracy:g}",
        ),
        (0 <= s.max_chance_p < 1, "max-chance-p is a p-value: 0 (off) to below 1"),
        (0 <= s.min_hcc <= 1, "min-hcc is a correlation: 0 (none) to 1"),
        (s.min_pe <= 1, "min-pe is a PE-score: 0 (none) to 1"),
        (x.explain_images >= 0, "explain-images must be >= 0"),
        (e.parity_atol >= 0 and e.parity_rtol >= 0, "parity-atol and parity-rtol must be >= 0"),
        (
            x.pe_ssim_window >= 3 and x.pe_ssim_window % 2 == 1,
            "pe-ssim-window must be an odd number >= 3",
        ),
        (0 < x.pe_iou_threshold < 1, "pe-iou-threshold must lie in (0, 1)"),
        (e.calibration_images >= 1, "calibration-images must be >= 1"),
        (
            min(s.max_latency_ms, s.max_memory_mb, s.min_mpc, s.min_rpc, s.min_pe) >= 0,
            "budgets and minimums must be >= 0",
        ),
    ]


def validate(config: RunConfig) -> None:
    parse_layer_ratios(config.prune.layer_ratios)
    for key, f in FIELDS.items():
        value = config.value(key)
        choices = choices_of(f)
        if choices is not None and value not in choices:
            raise EdgepruneError(f"{key} must be {one_of(choices)}, got {value!r}")
        if f.metadata.get("check"):
            f.metadata["check"](value)
    for ok, message in _range_rules(config):
        if not ok:
            raise EdgepruneError(message)
