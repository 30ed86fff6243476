"""Device profiles: one TOML file per device, loaded into a frozen dataclass and validated.

Shipped profiles live in ``profiles/`` beside this file; a user passes a path to their own.
Every figure in a shipped profile carries its public source in a comment. Unknown keys are
errors, so a typo in a user's profile never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.errors import EdgepruneError
from edgeprune.targets.precision import PRECISIONS
from edgeprune.targets.runtimes import RUNTIMES

PROFILES_DIR = Path(__file__).with_name("profiles")
KINDS = ("jetson", "host", "gpu")


@dataclass(frozen=True)
class GpuSpec:
    architecture: str = ""
    compute_capability: str = ""
    cuda_cores: int = 0
    tensor_cores: int = 0
    max_clock_mhz: float = 0.0
    multiprocessors: int = 0
    device_name: str = ""  # the CUDA device name, in a profile of a GPU edgeprune can run on


@dataclass(frozen=True)
class Peaks:
    """Dense peak throughput of the compute unit that runs the model, in TFLOP/s (TOP/s for int8).

    A missing figure (``None``) means "measure it on this machine" (the ``host-cpu`` profile).
    """

    fp32_tflops: float | None = None
    fp16_tflops: float | None = None
    int8_tops: float | None = None

    def for_precision(self, precision: str) -> float | None:
        return {"fp32": self.fp32_tflops, "fp16": self.fp16_tflops, "int8": self.int8_tops}[
            precision
        ]


@dataclass(frozen=True)
class MemorySpec:
    size_gb: float = 0.0
    bandwidth_gbps: float | None = None  # None: measure on this machine


@dataclass(frozen=True)
class Features:
    dla_cores: int = 0
    sparsity_2_4: bool = False  # does 2:4 semi-structured sparsity pay off on this GPU
    channel_multiple: int = 1  # channel counts that keep tensor cores / SIMD lanes busy


@dataclass(frozen=True)
class RuntimeSpec:
    default: str = "onnxruntime"
    precision: str = "fp32"
    jetpack: str = ""
    tensorrt: str = ""


@dataclass(frozen=True)
class EstimateModel:
    """How the roofline estimator turns peaks into time; assumptions, stated in the profile."""

    compute_efficiency: dict[str, float] = field(default_factory=dict)  # per precision, 0..1
    memory_efficiency: float = 0.7
    layer_overhead_us: float = 5.0  # kernel launch and scheduling per executed layer
    fixed_overhead_us: float = 20.0  # per inference: enqueue, synchronise
    fused_ops: tuple[str, ...] = ()  # ONNX op types the runtime fuses into the previous layer
    # Multiplier on compute efficiency for convs whose channel counts are not multiples of
    # [features] channel_multiple (blocked SIMD layouts, tensor-core tiles fall back).
    misaligned_efficiency: float = 1.0


@dataclass(frozen=True)
class DeviceAccess:
    ssh: str = ""  # user@host of a reachable device
    python: str = "python3"  # interpreter on the device
    workdir: str = "/tmp/edgeprune"
    ssh_options: str = ""  # extra OpenSSH client options, e.g. "-i ~/.ssh/jetson -J gateway"


@dataclass(frozen=True)
class TargetProfile:
    name: str
    description: str
    kind: str
    aliases: tuple[str, ...] = ()
    gpu: GpuSpec = GpuSpec()
    peak: Peaks = Peaks()
    memory: MemorySpec = MemorySpec()
    features: Features = Features()
    runtime: RuntimeSpec = RuntimeSpec()
    estimate: EstimateModel = EstimateModel()
    device: DeviceAccess = DeviceAccess()
    source: str = ""  # the file it was loaded from

    @property
    def is_host(self) -> bool:
        return self.kind == "host"

    def summary(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {
    "gpu": GpuSpec,
    "peak": Peaks,
    "memory": MemorySpec,
    "features": Features,
    "runtime": RuntimeSpec,
    "estimate": EstimateModel,
    "device": DeviceAccess,
}
_TOP_LEVEL = {"name", "description", "kind", "aliases"}


def _check_type(where: str, value: Any, expected: Any) -> Any:
    """Validate one TOML value against a dataclass field's annotation (written as a string)."""
    text = str(expected)
    if text.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise EdgepruneError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise EdgepruneError(f"{where} must be a table, got {value!r}")
        return {k: _check_type(f"{where}.{k}", v, "float") for k, v in value.items()}
    if "float" in text:
        if value is None and "None" in text:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EdgepruneError(f"{where} must be a number, got {value!r}")
        if value < 0:
            raise EdgepruneError(f"{where} must not be negative, got {value!r}")
        return float(value)
    if text == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EdgepruneError(f"{where} must be a non-negative integer, got {value!r}")
        return value
    if text == "bool":
        if not isinstance(value, bool):
            raise EdgepruneError(f"{where} must be true or false, got {value!r}")
        return value
    if text == "str":
        if not isinstance(value, str):
            raise EdgepruneError(f"{where} must be a string, got {value!r}")
        return value
    raise AssertionError(f"unhandled field type {text}")


def _build_section(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise EdgepruneError(f"{where} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in fields:
            hint = difflib.get_close_matches(key, fields, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise EdgepruneError(f"{where}: unknown key {key!r}{extra}; known: {', '.join(fields)}")
        values[key] = _check_type(f"{where}.{key}", value, fields[key].type)
    return cls(**values)


def profile_from_dict(data: dict[str, Any], source: str = "<dict>") -> TargetProfile:
    """Validate a parsed TOML document and build the profile."""
    where = f"target profile {source}"
    for key in data:
        if key not in _TOP_LEVEL and key not in _SECTIONS:
            known = ", ".join(sorted(_TOP_LEVEL | set(_SECTIONS)))
            raise EdgepruneError(f"{where}: unknown key {key!r}; known: {known}")
    for key in ("name", "description", "kind"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise EdgepruneError(f"{where}: missing or empty string '{key}'")
    if data["kind"] not in KINDS:
        raise EdgepruneError(
            f"{where}: kind must be one of {', '.join(KINDS)}, got {data['kind']!r}"
        )
    sections = {
        name: _build_section(cls, data[name], f"{where} [{name}]")
        for name, cls in _SECTIONS.items()
        if name in data
    }
    if data["kind"] == "host" and "features" in sections:
        # channel_multiple = 0 in a host profile: this CPU's SIMD block, detected here.
        if sections["features"].channel_multiple == 0:
            sections["features"] = dataclasses.replace(
                sections["features"], channel_multiple=host_channel_block()
            )
    profile = TargetProfile(
        name=data["name"],
        description=data["description"],
        kind=data["kind"],
        aliases=_check_type(f"{where} aliases", data.get("aliases", []), "tuple[str, ...]"),
        source=source,
        **sections,
    )
    _check_consistency(profile, where)
    return profile


def host_channel_block() -> int:
    """The channel block of ONNX Runtime's blocked (NCHWc) convolution kernels on this CPU:
    16 with AVX-512, 8 with AVX2 on x86-64. Convs whose channel counts are multiples of it
    run in the blocked layout, fitted about 1.3x faster per FLOP than the others on an
    AVX2 host (docs/deployment.md). Elsewhere 1: no blocked layout is assumed."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return 1
    try:
        flags = next(
            (
                line.split(":", 1)[1].split()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            ),
            [],
        )
    except OSError:
        return 8
    return 16 if "avx512f" in flags else 8


def _check_consistency(profile: TargetProfile, where: str) -> None:
    runtime = profile.runtime
    if runtime.default not in RUNTIMES:
        raise EdgepruneError(
            f"{where}: [runtime] default must be one of {', '.join(RUNTIMES.names())}"
        )
    if runtime.precision not in PRECISIONS:
        raise EdgepruneError(f"{where}: [runtime] precision must be one of {', '.join(PRECISIONS)}")
    for precision, value in profile.estimate.compute_efficiency.items():
        if precision not in PRECISIONS or not 0 < value <= 1:
            raise EdgepruneError(
                f"{where}: [estimate] compute_efficiency.{precision} must name a precision "
                f"({', '.join(PRECISIONS)}) with a value in (0, 1]"
            )
    if not 0 < profile.estimate.memory_efficiency <= 1:
        raise EdgepruneError(f"{where}: [estimate] memory_efficiency must be in (0, 1]")
    if not 0 < profile.estimate.misaligned_efficiency <= 1:
        raise EdgepruneError(f"{where}: [estimate] misaligned_efficiency must be in (0, 1]")
    if profile.features.channel_multiple < 1:
        raise EdgepruneError(f"{where}: [features] channel_multiple must be at least 1")
    if not profile.is_host:
        peak = profile.peak.for_precision(runtime.precision)
        if not peak or not profile.memory.bandwidth_gbps:
            raise EdgepruneError(
                f"{where}: a {profile.kind} profile needs [peak] for its default precision "
                f"{runtime.precision!r} and [memory] bandwidth_gbps"
            )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise EdgepruneError(f"target profile {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise EdgepruneError(
            f"target profile {path} is not UTF-8 text (binary?), so not TOML"
        ) from None
    except OSError as exc:
        raise EdgepruneError(f"cannot read target profile {path}: {exc.strerror}") from None


def load_profile_file(path: str | Path) -> TargetProfile:
    path = Path(path).expanduser()
    if not path.is_file():
        raise EdgepruneError(f"target profile file not found: {path}")
    return profile_from_dict(_read_toml(path), source=str(path))


def shipped_profiles() -> dict[str, TargetProfile]:
    """All profiles shipped with edgeprune, by name."""
    profiles = {}
    for path in sorted(PROFILES_DIR.glob("*.toml")):
        profile = load_profile_file(path)
        profiles[profile.name] = profile
    return profiles


AUTO = "auto"


def load_target(name_or_path: str) -> TargetProfile:
    """A shipped profile by name or alias, a user's TOML file by path, ``local-gpu`` (this
    machine's GPU, ``edgeprune.targets.local_gpu``) or ``auto``: the local GPU where one is
    usable and a runtime here runs on it, else ``host-cpu``."""
    from edgeprune.targets import local_gpu

    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_profile_file(name_or_path)
    profiles = shipped_profiles()
    if name_or_path == local_gpu.LOCAL_GPU:
        return local_gpu.local_gpu_target(profiles)
    if name_or_path == AUTO:
        return local_gpu.auto_target(profiles)
    lookup = {alias: p for p in profiles.values() for alias in (p.name, *p.aliases)}
    if name_or_path in lookup:
        return lookup[name_or_path]
    close = difflib.get_close_matches(name_or_path, [*lookup, local_gpu.LOCAL_GPU, AUTO], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise EdgepruneError(
        f"unknown target {name_or_path!r}{hint}; known: {', '.join(sorted(profiles))}, "
        f"{local_gpu.LOCAL_GPU}, {AUTO} (or pass the path of your own .toml profile)"
    )
