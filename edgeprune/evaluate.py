"""Evaluate one model as deployed: export it, run the artifact on the eval bundle through the
runner, and compute every metric on the host from the artifact's outputs.

Each step leaves a file (``model.onnx``, ``export.json``, ``device/outputs.npz``,
``device/run.json``) and is skipped when its file exists, so an interrupted evaluation
resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn as nn

from edgeprune.export import ExportSettings, export_onnx
from edgeprune.files import read_json, write_json, write_npz
from edgeprune.inference import Normalizer, predict_logits
from edgeprune.metrics import accuracy, calibration_summary, fidelity, reliability_diagram, softmax
from edgeprune.progress import Progress, silent
from edgeprune.targets.bundle import EvalBundle
from edgeprune.targets.execute import execute_job
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.targets.profile import TargetProfile
from edgeprune.targets.run import OUTPUTS_FILE, RUN_FILE, DeviceJob

ARTIFACT = "model.onnx"
EXPORT_INFO = "export.json"
DEVICE_DIR = "device"
HEAD_FILE = "cam_head.npz"
CLEAN = "clean"
# FP32 ONNX must agree with PyTorch on at least this fraction of top-1 labels (METRICS.md).
FP32_MIN_AGREEMENT = 0.999


@dataclass(frozen=True)
class EvaluationSetup:
    bundle: EvalBundle
    job: DeviceJob
    export: ExportSettings
    normalize: Normalizer
    n_bins: int = 15
    device: str | None = None  # None: the profile's ssh entry, else this machine; see execute_job
    profile: TargetProfile | None = None
    ssh_options: str = ""
    parity_tolerance: tuple[float, float] = (1e-4, 1e-3)  # (atol, rtol) against PyTorch


def export_artifact(model: nn.Module, folder: Path, setup: EvaluationSetup) -> dict:
    """``model.onnx`` (+ the CAM head weights when the head is GAP + linear), once."""
    info_path = folder / EXPORT_INFO
    if info_path.exists() and (folder / ARTIFACT).exists():
        return read_json(info_path)
    h, w, c = setup.bundle.image_shape
    exported = export_onnx(model, folder / ARTIFACT, (c, h, w), setup.export)
    if exported.cam_head is not None:
        write_npz(
            folder / HEAD_FILE, {"weight": exported.cam_head.weight, "bias": exported.cam_head.bias}
        )
    info = exported.describe()
    info["path"] = ARTIFACT
    write_json(info_path, info)
    return info


def run_artifact(
    folder: Path, setup: EvaluationSetup, progress: Progress | None = None
) -> tuple[dict, dict]:
    """The runner's outputs and record for ``folder/model.onnx``, running it if needed."""
    device_dir = folder / DEVICE_DIR
    if not ((device_dir / OUTPUTS_FILE).exists() and (device_dir / RUN_FILE).exists()):
        execute_job(
            setup.job,
            folder / ARTIFACT,
            setup.bundle.path,
            device_dir,
            setup.device,
            setup.profile,
            progress or silent,
            setup.ssh_options,
        )
    with np.load(device_dir / OUTPUTS_FILE) as data:
        outputs = {key: data[key] for key in data.files}
    return outputs, read_json(device_dir / RUN_FILE)


def size_metrics(model: nn.Module, artifact: Path) -> dict:
    """Parameters (PyTorch), MACs and weights (from the ONNX graph), bytes on disk."""
    summary = graph_summary(graph_costs(artifact, batch_size=1))
    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return {
        "params": int(params),
        "nonzero_params": int(nonzero),
        "macs": summary["macs"],
        "flops": summary["flops"],
        "artifact_weight_elements": summary["weight_elements"],
        "artifact_bytes": artifact.stat().st_size,
        "macs_source": "ONNX graph at batch 1",
    }


def classification_metrics(logits: np.ndarray, labels: np.ndarray, n_bins: int) -> dict:
    return {
        "accuracy": accuracy(logits, labels),
        "n": int(len(labels)),
        "calibration": calibration_summary(logits, labels, n_bins),
        "reliability": reliability_diagram(softmax(logits), labels, n_bins),
    }


def split_metrics(outputs: dict, bundle: EvalBundle, n_bins: int) -> dict:
    """Accuracy and the calibration family of every split other than the clean one."""
    result = {}
    for name in bundle.splits:
        if name == CLEAN:
            continue
        logits, labels = outputs[f"logits/{name}"], bundle.labels(name)
        summary = calibration_summary(logits, labels, n_bins)
        del summary["settings"]  # the same for every split; recorded once with the clean metrics
        result[name] = {"accuracy": accuracy(logits, labels), "n": int(len(labels)), **summary}
    return result


def measured_where(record: dict) -> str:
    """``device`` when the runner ran on a device (over SSH, or here on a Jetson), else ``host``."""
    on_device = record.get("where") == "remote" or "jetson" in record.get("environment", {})
    return "device" if on_device else "host"


def artifact_metrics(outputs: dict, record: dict, bundle: EvalBundle, n_bins: int) -> dict:
    """Everything computed from an artifact's outputs and its runner record alone."""
    labels = bundle.labels(CLEAN)
    metrics = classification_metrics(outputs[f"logits/{CLEAN}"], labels, n_bins)
    metrics["corruption_splits"] = split_metrics(outputs, bundle, n_bins)
    where = measured_where(record)
    metrics.update(
        {
            "latency": {
                "measured": True,
                "where": where,
                "runtime": record["environment"]["runtime"]["runtime"],
                **record["latency"],
            },
            "memory": {"measured": True, "where": where, **record["memory"]},
            "environment": record["environment"],
            "evaluation": record.get("evaluation"),
        }
    )
    return metrics


def parity_with_torch(model: nn.Module, outputs: dict, setup: EvaluationSetup) -> dict:
    """Fidelity of an artifact's clean logits to ``model``'s on the same images, with the
    run's tolerances."""
    reference = predict_logits(model, np.asarray(setup.bundle.images(CLEAN)), setup.normalize)
    atol, rtol = setup.parity_tolerance
    return fidelity(
        reference, outputs[f"logits/{CLEAN}"], setup.bundle.labels(CLEAN), atol=atol, rtol=rtol
    )


def evaluate_model(
    model: nn.Module, folder: Path, setup: EvaluationSetup, progress: Progress | None = None
) -> dict:
    """Export, run and measure ``model``; returns the metrics of its deployed artifact."""
    progress = progress or silent
    folder.mkdir(parents=True, exist_ok=True)
    progress("exporting to ONNX")
    export_info = export_artifact(model, folder, setup)
    progress("running the artifact on the eval bundle")
    outputs, record = run_artifact(folder, setup, progress)
    metrics = artifact_metrics(outputs, record, setup.bundle, setup.n_bins)
    parity = parity_with_torch(model, outputs, setup)
    parity["passed"] = parity["top1_agreement"] >= FP32_MIN_AGREEMENT
    parity["required_top1_agreement"] = FP32_MIN_AGREEMENT
    metrics.update(
        {
            "fidelity": parity,
            "size": size_metrics(model, folder / ARTIFACT),
            "artifact": export_info,
            "precision": "fp32",
        }
    )
    return metrics
