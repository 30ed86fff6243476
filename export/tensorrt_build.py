"""ONNX -> TensorRT engine (FP32, FP16, INT8; 2:4 sparse weights; DLA), on the machine whose
GPU will run it.

    built = build_engine("model.onnx", EngineSettings(precision="fp16"), target=load_target("jetson-orin-nano"))
    # -> model.orin-nano.trt10.3.fp16.engine + model.orin-nano.trt10.3.fp16.engine.json

An engine holds kernels chosen for one GPU model and one TensorRT version, so the file name
carries the device, the TensorRT version and the precision, and a sidecar JSON records the
build settings, the GPU that built it and how long the build took. The runner reads that
sidecar to refuse, in one line, an engine from another GPU or TensorRT release.

INT8 comes two ways. A QDQ model (``edgeprune.export.quantize``) is *explicitly* quantized:
TensorRT keeps the Q/DQ scales, so the engine computes what ONNX Runtime computed on the host.
A plain FP32 model with calibration images is *implicitly* quantized with TensorRT's entropy
calibrator (deprecated since TensorRT 10.1, still supported), and the scales are cached.

TensorRT 8.x and 10.x differ where noted below; 11.x, which drops FP16/INT8 builder flags
and calibrators for strongly typed networks (and JetPack), is refused in one line. tensorrt
is imported only when an engine is built; this module needs no torch, so it runs on a Jetson.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.files import atomic_path, file_digest, write_json
from edgeprune.targets.bundle import Preprocess
from edgeprune.targets.environment import jetson_state
from edgeprune.targets.precision import PRECISIONS
from edgeprune.targets.runners.cuda_backend import load_cuda
from edgeprune.targets.tensorrt_support import (
    create_or_explain,
    import_tensorrt,
    logged_reason,
    make_logger,
    tensorrt_version,
)

if TYPE_CHECKING:  # annotations only: the builder needs neither the profiles nor the registry
    from edgeprune.targets.profile import TargetProfile
    from edgeprune.targets.runtimes import BuildRequest


@dataclass(frozen=True)
class EngineSettings:
    precision: str = "fp16"
    batch: tuple[int, int, int] = (1, 1, 64)  # min / opt / max of a dynamic batch dimension
    workspace_mb: int | None = None  # None: TensorRT's default (all device memory)
    sparse_weights: bool = False  # let TensorRT pick 2:4 sparse kernels (Ampere and later)
    dla_core: int | None = None  # run on this DLA core, layers it cannot run on the GPU
    gpu_fallback: bool = True  # with a DLA core: allow GPU fallback for unsupported layers
    int8_with_fp16: bool = True  # INT8 engines: unquantized layers in FP16 rather than FP32
    calibration_batch: int = 8  # implicit INT8 calibration batch size
    calibration_cache: str | None = None  # default: <engine>.calib beside the engine


@dataclass(frozen=True)
class BuiltEngine:
    path: Path
    sidecar: Path
    record: dict


def device_slug(name: str) -> str:
    """``jetson-orin-nano`` -> ``orin-nano``; ``NVIDIA H100 80GB HBM3`` -> ``h100-80gb-hbm3``."""
    slug = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")
    for prefix in ("nvidia-", "jetson-"):
        slug = slug[len(prefix) :] if slug.startswith(prefix) else slug
    return slug or "gpu"


def engine_filename(onnx_path: Path, device: str, version: str, settings: EngineSettings) -> str:
    stem = re.sub(r"\.(int8|qdq)$", "", onnx_path.stem)
    tags = ".sparse" if settings.sparse_weights else ""
    tags += f".dla{settings.dla_core}" if settings.dla_core is not None else ""
    return f"{stem}.{device}.trt{version}.{settings.precision}{tags}.engine"


def _check_request(settings: EngineSettings, target: TargetProfile | None, gpu: dict) -> str:
    """Validate the request against the GPU here; return the device name for the file name."""
    if settings.precision not in PRECISIONS:
        raise EdgepruneError(f"precision must be one of {', '.join(PRECISIONS)}")
    low, opt, high = settings.batch
    if not 1 <= low <= opt <= high:
        raise EdgepruneError(
            f"batch profile must satisfy 1 <= min <= opt <= max, got {settings.batch}"
        )
    major, minor = (int(v) for v in str(gpu["compute_capability"]).split("."))
    if settings.precision == "int8" and (major, minor) < (6, 1):
        raise EdgepruneError(
            f"{gpu['name']} (sm {major}.{minor}) has no INT8 instructions: build fp16 or fp32"
        )
    if target is None:
        return device_slug(str(gpu["name"]))
    if target.is_host or not target.gpu.compute_capability:
        raise EdgepruneError(f"target {target.name} has no GPU to build a TensorRT engine for")
    if target.gpu.compute_capability != gpu["compute_capability"]:
        raise EdgepruneError(
            f"this machine's GPU is {gpu['name']} (sm {gpu['compute_capability']}), target "
            f"{target.name} is sm {target.gpu.compute_capability}: an engine runs only on the GPU "
            "that built it, so build on the device, or leave the target out to build for this GPU"
        )
    if settings.dla_core is not None and settings.dla_core >= target.features.dla_cores:
        raise EdgepruneError(
            f"target {target.name} has {target.features.dla_cores} DLA cores, "
            f"DLA core {settings.dla_core} was asked for"
        )
    return device_slug(target.name)


def _network_flags(trt) -> int:
    # TensorRT 10 networks are always explicit-batch and the flag is deprecated; 8.x needs it.
    if tensorrt_version(trt) >= (10, 0):
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def _set_workspace(trt, config, megabytes: int | None) -> None:
    if megabytes is None:
        return
    if hasattr(config, "set_memory_pool_limit"):  # TensorRT 8.4+
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, megabytes << 20)
    else:
        config.max_workspace_size = megabytes << 20


def _share_profile(trt, config, notes: list[str]) -> None:
    """Let several execution contexts use optimization profile 0 at once, as the runner's
    enqueue-ahead timing (one context per stream) needs: TensorRT 8.6 allows it only for an
    engine built with the PROFILE_SHARING_0806 preview feature; 10.x always allows it, and
    before 8.6 each context in use needs a profile of its own."""
    if not (8, 6) <= tensorrt_version(trt) < (10, 0):
        return
    feature = getattr(getattr(trt, "PreviewFeature", None), "PROFILE_SHARING_0806", None)
    if feature is not None:
        config.set_preview_feature(feature, True)
        notes.append("optimization profile shared by execution contexts (PROFILE_SHARING_0806)")


def _has_qdq(trt, network) -> bool:
    kinds = (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
    return any(network.get_layer(i).type in kinds for i in range(network.num_layers))


def _batch_profiles(builder, network, settings: EngineSettings):
    """An optimisation profile for a dynamic batch dimension (None for a static model)."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    shapes = {t.name: tuple(t.shape) for t in inputs}
    for name, shape in shapes.items():
        if -1 in shape[1:]:
            raise EdgepruneError(
                f"input {name!r} has dynamic dimensions {shape} beyond the batch; "
                "export with a fixed image size"
            )
    if all(shape[0] != -1 for shape in shapes.values()):
        return None, shapes
    profile = builder.create_optimization_profile()
    for name, shape in shapes.items():
        low, opt, high = ((b, *shape[1:]) for b in settings.batch)
        profile.set_shape(name, low, opt, high)
    return profile, shapes


def _make_calibrator(trt, cuda, batches: list[np.ndarray], cache: Path):
    """TensorRT's entropy calibrator (v2) over preprocessed batches, with a cache file."""

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.pending = list(batches)
            self.device = cuda.device_buffer(batches[0].nbytes)

        def get_batch_size(self) -> int:
            return int(batches[0].shape[0])

        def get_batch(self, names, *args):
            if not self.pending:
                return None
            cuda.copy_to_device(self.device, self.pending.pop(0))
            cuda.synchronize()
            return [self.device] * len(names)

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data) -> None:
            with atomic_path(cache) as tmp:
                tmp.write_bytes(bytes(data))

    return _EntropyCalibrator()


def _calibration_batches(
    images: np.ndarray, preprocess: Preprocess, batch_size: int
) -> list[np.ndarray]:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise EdgepruneError("calibration images must be a non-empty uint8 (N, H, W, C) array")
    if len(images) % batch_size:  # TensorRT calibrates whole batches: repeat images to fill
        images = np.resize(images, (-(-len(images) // batch_size) * batch_size, *images.shape[1:]))
    return [
        np.ascontiguousarray(preprocess(images[i : i + batch_size]), dtype=np.float32)
        for i in range(0, len(images), batch_size)
    ]


def _platform_has(builder, kind: str) -> bool:
    # platform_has_fast_fp16/int8 are deprecated in TensorRT 10 (still present up to 10.x);
    # where they are gone, the sm check in _check_request stands alone.
    return bool(getattr(builder, f"platform_has_fast_{kind}", True))


def _configure_precision(trt, builder, network, config, settings, calibration, gpu, notes):
    """Precision flags; returns "explicit"/"implicit" for INT8, else None.

    TensorRT refuses a build that asks for FP16 or INT8 kernels the GPU has no fast path for
    (``platform_has_fast_fp16`` / ``_int8``), so this refuses first, in one line."""
    if settings.precision == "fp32":
        # Ampere's TF32 is on by default and rounds FP32 matmuls to 10-bit mantissas.
        if hasattr(trt.BuilderFlag, "TF32"):
            config.clear_flag(trt.BuilderFlag.TF32)
        return None
    fast_fp16 = _platform_has(builder, "fp16")
    where = f"{gpu['name']} (sm {gpu['compute_capability']})"
    if settings.precision == "fp16" and not fast_fp16:
        raise EdgepruneError(f"{where} has no fast FP16: TensorRT builds fp32 (or int8) here")
    if settings.precision == "int8" and not _platform_has(builder, "int8"):
        raise EdgepruneError(f"{where} has no fast INT8: TensorRT builds fp32 or fp16 here")
    if settings.precision == "fp16" or (settings.int8_with_fp16 and fast_fp16):
        config.set_flag(trt.BuilderFlag.FP16)
    elif settings.int8_with_fp16:
        notes.append("no fast FP16 here: layers left unquantized run in FP32")
    if settings.precision == "fp16":
        return None
    config.set_flag(trt.BuilderFlag.INT8)  # weakly-typed networks need it for Q/DQ too
    if _has_qdq(trt, network):
        if calibration is not None:
            notes.append("calibration images ignored: the model carries its own Q/DQ scales")
        return "explicit"
    if calibration is None:
        raise EdgepruneError(
            "INT8 needs a QDQ model (edgeprune.export.quantize_int8) or calibration images"
        )
    return "implicit"


def _configure_calibration(
    trt, cuda, builder, config, settings, input_shapes, images, preprocess, path, notes
) -> Path:
    """Implicit INT8: TensorRT's entropy calibrator at one shape, the calibration batch."""
    if len(input_shapes) != 1:
        raise EdgepruneError("implicit INT8 calibration supports single-input models only")
    name, shape = next(iter(input_shapes.items()))
    batch_size = shape[0] if shape[0] > 0 else settings.calibration_batch
    batches = _calibration_batches(images, preprocess, batch_size)
    cache = Path(settings.calibration_cache or f"{path}.calib")
    config.int8_calibrator = _make_calibrator(trt, cuda, batches, cache)
    if shape[0] == -1:
        fixed = (batch_size, *shape[1:])
        profile = builder.create_optimization_profile()
        profile.set_shape(name, fixed, fixed, fixed)
        config.set_calibration_profile(profile)
    notes.append(f"implicit INT8: entropy calibration on {sum(len(b) for b in batches)} images")
    return cache


def _configure_sparsity_and_dla(
    trt, builder, config, settings, target, gpu, dynamic: bool, notes
) -> None:
    if settings.sparse_weights:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        if (target and not target.features.sparsity_2_4) or float(gpu["compute_capability"]) < 8:
            notes.append("2:4 sparse kernels need Ampere or later: this GPU runs the weights dense")
    if settings.dla_core is None:
        return
    if settings.precision == "fp32":
        raise EdgepruneError("the DLA runs FP16 or INT8 only: build fp16 or int8 for it")
    if settings.dla_core >= builder.num_DLA_cores:
        raise EdgepruneError(
            f"this device has {builder.num_DLA_cores} DLA cores; core {settings.dla_core} "
            "was asked for"
        )
    if dynamic and len(set(settings.batch)) > 1:
        if not settings.gpu_fallback:  # TensorRT fails the build: nothing may fall back
            raise EdgepruneError(
                "the DLA runs static shapes only: give a fixed batch (min = opt = max) or "
                "allow GPU fallback"
            )
        notes.append("the DLA runs static shapes only: dynamic-batch layers fall back to the GPU")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = settings.dla_core
    if settings.gpu_fallback:
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def build_engine(
    onnx_path: str | Path,
    settings: EngineSettings = EngineSettings(),
    target: TargetProfile | None = None,
    calibration_images: np.ndarray | None = None,
    preprocess: Preprocess | None = None,
    out_dir: str | Path | None = None,
) -> BuiltEngine:
    """Build and serialize an engine for this machine's GPU; ``target`` names and checks it.

    ``calibration_images`` (uint8 NHWC) with the bundle's ``preprocess`` are needed only for
    implicit INT8 calibration of a model without Q/DQ nodes.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise EdgepruneError(f"ONNX model not found: {onnx_path}")
    if (calibration_images is None) != (preprocess is None):
        raise EdgepruneError("calibration needs both the images and their preprocessing")
    trt = import_tensorrt()
    cuda = load_cuda()
    try:
        return _build(
            trt, cuda, onnx_path, settings, target, calibration_images, preprocess, out_dir
        )
    finally:
        cuda.close()


def engine_for_variant(request: BuildRequest) -> tuple[Path, dict]:
    """The TensorRT runtime's builder of a precision variant (``edgeprune.targets.runtimes``):
    the engine for the request's ONNX graph (FP32, or INT8 QDQ) in its folder, and its
    build record."""
    settings = EngineSettings(precision=request.precision, sparse_weights=request.sparse_weights)
    built = build_engine(
        request.onnx,
        settings,
        request.target,
        request.calibration_images,
        request.preprocess,
        request.folder,
    )
    return built.path, {"engine": built.record}


def _check_version(trt) -> None:
    version = tensorrt_version(trt)
    if version >= (11, 0):  # weak typing (FP16/INT8 flags, calibrators) was removed in 11.0
        raise EdgepruneError(
            f"TensorRT {trt.__version__} builds strongly typed networks only; edgeprune builds "
            "with TensorRT 8.x-10.x, the releases JetPack 5/6 ship: pip install 'tensorrt<11'"
        )
    if version < (8, 0):
        raise EdgepruneError(f"TensorRT {trt.__version__} is too old: edgeprune needs 8.0 or later")


def _open_builder(trt, logger):
    """Builder, empty network and config; TensorRT's own CUDA initialisation failure (raised
    by pybind11 as "factory function returned nullptr") becomes one EdgepruneError."""
    builder = create_or_explain("a builder", logger, trt.Builder, logger)
    network = create_or_explain("a network", logger, builder.create_network, _network_flags(trt))
    config = create_or_explain("a builder config", logger, builder.create_builder_config)
    return builder, network, config


def _parse(trt, network, logger, onnx_path: Path) -> None:
    parser = create_or_explain("an ONNX parser", logger, trt.OnnxParser, network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        reason = errors[0] if errors else logged_reason(logger, "no reason given")
        raise EdgepruneError(f"TensorRT cannot parse {onnx_path.name}: {reason}")


def describe_builder() -> dict[str, object]:
    """What TensorRT's builder says about this machine's GPU (a quick check that TensorRT,
    not only CUDA, works here): version, DLA cores, fast FP16 / INT8, TF32 default."""
    trt = import_tensorrt()
    _check_version(trt)
    logger = make_logger(trt, "ERROR")
    builder, _, config = _open_builder(trt, logger)
    tf32 = hasattr(trt.BuilderFlag, "TF32") and bool(config.get_flag(trt.BuilderFlag.TF32))
    return {
        "tensorrt": trt.__version__,
        "dla_cores": int(builder.num_DLA_cores),
        "fast_fp16": _platform_has(builder, "fp16"),
        "fast_int8": _platform_has(builder, "int8"),
        "tf32_default": tf32,
    }


def _build(trt, cuda, onnx_path, settings, target, images, preprocess, out_dir) -> BuiltEngine:
    _check_version(trt)
    gpu = cuda.device_properties()
    device = _check_request(settings, target, gpu)
    version = "{}.{}".format(*tensorrt_version(trt))
    out_dir = Path(out_dir) if out_dir is not None else onnx_path.parent
    path = out_dir / engine_filename(onnx_path, device, version, settings)
    logger = make_logger(trt)
    builder, network, config = _open_builder(trt, logger)
    _parse(trt, network, logger, onnx_path)
    _set_workspace(trt, config, settings.workspace_mb)
    notes: list[str] = []
    calibration = (images, preprocess) if images is not None else None
    int8_mode = _configure_precision(
        trt, builder, network, config, settings, calibration, gpu, notes
    )
    profile, input_shapes = _batch_profiles(builder, network, settings)
    if profile is not None:
        config.add_optimization_profile(profile)
        _share_profile(trt, config, notes)
    cache = None
    if int8_mode == "implicit":
        cache = _configure_calibration(
            trt, cuda, builder, config, settings, input_shapes, images, preprocess, path, notes
        )
    dynamic = profile is not None
    _configure_sparsity_and_dla(trt, builder, config, settings, target, gpu, dynamic, notes)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - started
    if serialized is None:  # TensorRT logs why and returns None
        reason = logged_reason(logger, "see the TensorRT log above")
        raise EdgepruneError(f"TensorRT could not build {path.name}: {reason}")
    with atomic_path(path, suffix=".engine") as tmp:
        tmp.write_bytes(bytes(serialized))
    record = {
        "engine": path.name,
        "onnx": str(onnx_path),
        "onnx_sha256": file_digest(onnx_path),
        "device": device,
        "target": target.name if target else None,
        "tensorrt": trt.__version__,
        "gpu": gpu,
        "jetson": jetson_state(),
        "precision": settings.precision,
        "int8_quantization": int8_mode,
        "calibration_cache": str(cache) if cache else None,
        "tf32": settings.precision != "fp32",
        "settings": asdict(settings),
        "inputs": {name: list(shape) for name, shape in input_shapes.items()},
        "outputs": [network.get_output(i).name for i in range(network.num_outputs)],
        "network_layers": network.num_layers,
        "engine_bytes": path.stat().st_size,
        "build_seconds": seconds,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "notes": notes,
    }
    sidecar = Path(f"{path}.json")
    write_json(sidecar, record)
    return BuiltEngine(path, sidecar, record)


_TRTEXEC_SECTIONS = {
    "Latency": "latency_ms",
    "Enqueue Time": "enqueue_ms",
    "H2D Latency": "h2d_ms",
    "GPU Compute Time": "gpu_compute_ms",
    "D2H Latency": "d2h_ms",
}
_TRTEXEC_LINE = re.compile(
    r"(?:^|\]\s*)(" + "|".join(map(re.escape, _TRTEXEC_SECTIONS)) + r"):(.*)$"
)
_TRTEXEC_STAT = re.compile(
    r"(min|max|mean|median|percentile\(([\d.]+)%\))\s*=?\s*([\d.eE+-]+)\s*ms"
)


def parse_trtexec_summary(text: str) -> dict[str, object]:
    """The "Performance summary" of ``trtexec`` output, in milliseconds.

    Lines look like ``[I] GPU Compute Time: min = 5.34 ms, max = 13.3 ms, mean = 7.58 ms,
    median = 7.14 ms, percentile(90%) = 10.3 ms, ...`` (older releases drop some ``=``).
    """
    result: dict[str, object] = {}
    for line in text.splitlines():
        match = _TRTEXEC_LINE.search(line.strip())
        if match:
            stats = {}
            for name, quantile, value in _TRTEXEC_STAT.findall(match.group(2)):
                stats[f"p{quantile}" if quantile else name] = float(value)
            result[_TRTEXEC_SECTIONS[match.group(1)]] = stats
        throughput = re.search(r"Throughput:\s*([\d.eE+-]+)\s*qps", line)
        if throughput:
            result["throughput_qps"] = float(throughput.group(1))
    return result
