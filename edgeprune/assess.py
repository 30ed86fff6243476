"""``edgeprune evaluate``: one artifact (an ONNX file or a TensorRT engine), evaluated as
deployed, on a run's eval bundle or on a dataset, here or on a device over SSH.

Without the PyTorch model there is no fidelity check and no explanation consistency; all
the rest (accuracy, calibration, corruption robustness, latency, memory, size, the
target's estimates) is the same as in ``compress``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprune.data.datasets import load_dataset
from edgeprune.errors import EdgepruneError
from edgeprune.evaluate import artifact_metrics
from edgeprune.files import write_json
from edgeprune.metrics.corruption import corruption_summary
from edgeprune.progress import Progress
from edgeprune.provenance import provenance
from edgeprune.targets.bundle import EvalBundle
from edgeprune.targets.estimate import estimate_latency, estimate_memory, peaks_for
from edgeprune.targets.execute import execute_job
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.targets.profile import load_target
from edgeprune.targets.run import DeviceJob


@dataclass(frozen=True)
class ArtifactEvaluation:
    artifact: Path
    out: Path
    target: str = "host-cpu"
    bundle: Path | None = None  # a run's bundle folder; else one is built from ``data``
    data: str = ""
    corruptions: str = "none"
    input_size: int = 0
    seed: int = 0
    device: str | None = None
    ssh_options: str = ""
    runtime: str = "onnxruntime"
    precision: str = ""  # for the target estimate; default: the target's
    job: DeviceJob = DeviceJob()


def _bundle(request: ArtifactEvaluation, progress: Progress) -> EvalBundle:
    if request.bundle is not None:
        return EvalBundle(request.bundle)
    if not request.data:
        raise EdgepruneError("evaluate needs --bundle (a run's bundle folder) or --data")
    from edgeprune.config import build_config
    from edgeprune.pipeline import prepare_bundle

    progress(f"loading data {request.data}")
    dataset = load_dataset(request.data, request.input_size or None, request.seed)
    config = build_config(
        {}, {"data": request.data, "corruptions": request.corruptions, "seed": str(request.seed)}
    )
    return prepare_bundle(config, dataset, request.out / "bundle", progress)


def evaluate_artifact_file(request: ArtifactEvaluation, progress: Progress) -> dict:
    artifact = request.artifact.expanduser()
    if not artifact.is_file():
        raise EdgepruneError(f"artifact not found: {artifact}")
    target = load_target(request.target)
    bundle = _bundle(request, progress)
    job = DeviceJob(**{**request.job.__dict__, "runtime": request.runtime})
    progress(f"running {artifact.name} on {len(bundle.splits)} split(s)")
    started = time.perf_counter()
    record = execute_job(
        job,
        artifact,
        bundle.path,
        request.out / "device",
        request.device,
        target,
        progress,
        request.ssh_options,
    )
    with np.load(request.out / "device" / "outputs.npz") as stored:
        outputs = {k: stored[k] for k in stored.files}
    metrics = artifact_metrics(outputs, record, bundle, 15)
    if metrics["corruption_splits"]:
        metrics["corruption"] = corruption_summary(
            metrics["corruption_splits"], metrics["accuracy"]
        )
    if artifact.suffix == ".onnx":
        precision = request.precision or target.runtime.precision
        peaks = None
        if target.is_host:
            from edgeprune.targets.host_peaks import measure_host_peaks

            peaks = measure_host_peaks()
        costs = graph_costs(artifact, 1)
        metrics["size"] = {**graph_summary(costs), "artifact_bytes": artifact.stat().st_size}
        metrics["target_estimate"] = {
            "target": target.name,
            "estimated": True,
            "latency": {"1": estimate_latency(costs, target, precision, peaks_for(target, peaks))},
            "memory": estimate_memory(costs, precision),
        }
    metrics.update({
        "artifact": str(artifact),
        "bundle": str(bundle.path),
        "target": target.name,
        "evaluate_seconds": time.perf_counter() - started,
        "provenance": provenance(),
    })  # fmt: skip
    write_json(request.out / "metrics.json", metrics)
    return metrics
