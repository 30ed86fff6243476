"""Precision variants of an entry: the same pruned model deployed as INT8 (a QDQ graph, measured
on the host with ONNX Runtime) or as TensorRT engines (FP32 / FP16 / INT8, built and measured
where TensorRT runs). Each variant is an entry of its own, ``<name>@int8`` or
``<name>@trt-fp16``, compared with the FP32 baseline like every candidate.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch.nn as nn

from edgeprune.errors import EdgepruneError
from edgeprune.evaluate import (
    ARTIFACT,
    DEVICE_DIR,
    HEAD_FILE,
    EvaluationSetup,
    artifact_metrics,
    parity_with_torch,
    size_metrics,
)
from edgeprune.files import read_json, write_json
from edgeprune.progress import Progress, silent
from edgeprune.targets.execute import execute_job
from edgeprune.targets.profile import TargetProfile
from edgeprune.targets.run import OUTPUTS_FILE, RUN_FILE

PRECISIONS = ("fp32", "fp16", "int8")
VARIANT_INFO = "variant.json"


@dataclass(frozen=True)
class Variant:
    runtime: str  # "onnxruntime" or "tensorrt"
    precision: str

    @property
    def suffix(self) -> str:
        return self.precision if self.runtime == "onnxruntime" else f"trt-{self.precision}"

    def name(self, base: str) -> str:
        return f"{base}@{self.suffix}"


def tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def plan_variants(
    precisions: str, runtime: str, target: TargetProfile
) -> tuple[list[Variant], str]:
    """The variants to build besides the FP32 ONNX entries, and the runtime they run on.

    ``precisions``: ``auto`` (none on ONNX Runtime; the target's precision with TensorRT) or a
    comma-separated list. ``runtime``: ``auto`` (TensorRT when it is importable here),
    ``onnxruntime`` or ``tensorrt``.
    """
    if runtime == "auto":
        runtime = "tensorrt" if tensorrt_available() else "onnxruntime"
    if runtime == "tensorrt" and not tensorrt_available():
        raise EdgepruneError(
            "--runtime tensorrt: TensorRT is not importable here (pip install 'edgeprune[tensorrt]')"
        )
    if precisions == "auto":
        wanted = [target.runtime.precision] if runtime == "tensorrt" else []
    else:
        wanted = [p.strip() for p in precisions.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PRECISIONS]
    if unknown:
        raise EdgepruneError(f"unknown precision {unknown[0]!r}; known: {', '.join(PRECISIONS)}")
    if runtime == "onnxruntime":
        if "fp16" in wanted:
            raise EdgepruneError(
                "fp16 needs TensorRT: run on a machine with TensorRT (--runtime tensorrt)"
            )
        return [Variant("onnxruntime", "int8")] if "int8" in wanted else [], runtime
    return [Variant("tensorrt", p) for p in dict.fromkeys(wanted)], runtime


@dataclass(frozen=True)
class VariantSetup:
    """What building a variant needs beside the evaluation setup."""

    setup: EvaluationSetup
    calibration_images: np.ndarray  # uint8 NHWC training images for INT8 calibration
    calibration_method: str = "minmax"
    sparse_weights: bool = False  # TensorRT: allow 2:4 sparse kernels (target benefits)


def _build_artifact(
    base: Path, folder: Path, variant: Variant, vs: VariantSetup
) -> tuple[Path, dict]:
    """The variant's artifact in ``folder`` (once) and a description of how it was made."""
    info_path = folder / VARIANT_INFO
    if info_path.exists():
        info = read_json(info_path)
        return folder / info["artifact"], info
    folder.mkdir(parents=True, exist_ok=True)
    from edgeprune.export.quantize import QuantizeSettings, quantize_int8

    source, info = base / ARTIFACT, {"runtime": variant.runtime, "precision": variant.precision}
    if variant.precision == "int8":
        settings = QuantizeSettings(method=vs.calibration_method)
        quantized = quantize_int8(
            source, folder / ARTIFACT, vs.calibration_images, vs.setup.bundle.preprocess, settings
        )
        info["quantization"] = quantized.describe()
        source = folder / ARTIFACT
    if variant.runtime == "tensorrt":
        from edgeprune.export.tensorrt_build import EngineSettings, build_engine

        settings = EngineSettings(precision=variant.precision, sparse_weights=vs.sparse_weights)
        built = build_engine(
            source,
            settings,
            vs.setup.profile,
            vs.calibration_images,
            vs.setup.bundle.preprocess,
            folder,
        )
        info["engine"] = built.record
        artifact = built.path
    else:
        artifact = source
    info["artifact"] = artifact.name
    if (base / HEAD_FILE).exists():  # the same linear head explains the variant's feature maps
        shutil.copyfile(base / HEAD_FILE, folder / HEAD_FILE)
    write_json(info_path, info)
    return artifact, info


def evaluate_variant(
    model: nn.Module,
    base: Path,
    folder: Path,
    variant: Variant,
    vs: VariantSetup,
    progress: Progress | None = None,
) -> dict:
    """Build the variant of ``base``'s artifact, run it and measure it like the FP32 entry."""
    progress = progress or silent
    progress(f"building the {variant.suffix} artifact")
    artifact, info = _build_artifact(base, folder, variant, vs)
    setup = vs.setup
    job = replace(setup.job, runtime=variant.runtime)
    if variant.runtime == "onnxruntime" and variant.precision == "int8":
        from edgeprune.export.quantize import HOST_RUNNER_OPTIONS

        job = replace(job, engine_options=tuple(HOST_RUNNER_OPTIONS.items()))
    device_dir = folder / DEVICE_DIR
    if not ((device_dir / OUTPUTS_FILE).exists() and (device_dir / RUN_FILE).exists()):
        progress(f"running the {variant.suffix} artifact")
        execute_job(
            job,
            artifact,
            setup.bundle.path,
            device_dir,
            setup.device,
            setup.profile,
            progress,
            setup.ssh_options,
        )
    with np.load(device_dir / OUTPUTS_FILE) as stored:
        outputs = {k: stored[k] for k in stored.files}
    metrics = artifact_metrics(
        outputs, read_json(device_dir / RUN_FILE), setup.bundle, setup.n_bins
    )
    parity = parity_with_torch(model, outputs, setup)
    parity["passed"] = (
        None  # only FP32 has a required agreement; here it measures the precision's cost
    )
    size = size_metrics(model, base / ARTIFACT)
    size["artifact_bytes"] = artifact.stat().st_size
    if variant.runtime == "onnxruntime" and variant.precision == "int8":
        metrics["latency"]["representative"] = False
        metrics["latency"]["note"] = (
            "INT8 QDQ graph run at ONNX Runtime's basic optimisation level (quantize-dequantize in FP32 "
            "arithmetic, as TensorRT computes it): accuracy and calibration are INT8's, the time is not"
        )
    metrics.update(
        {"fidelity": parity, "size": size, "artifact": info, "precision": variant.precision}
    )
    return metrics
