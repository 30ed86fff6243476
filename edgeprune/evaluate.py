"""``edgeprune evaluate``: one artifact (an ONNX file or a TensorRT engine), evaluated as
deployed, on a run's eval bundle or on a dataset, here or on a device over SSH.

The artifact goes through the same measurement path as every entry of ``compress``
(``edgeprune.measure``). Without the PyTorch model there is no parity check and no
explanation consistency; all the rest (the task's metrics, corruption robustness, latency,
memory, size, the target's estimates) is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprune.config import RunConfig
from edgeprune.errors import EdgepruneError
from edgeprune.files import write_json
from edgeprune.lock import hold
from edgeprune.measure import (
    Artifact,
    MeasureSetup,
    device_job,
    estimator_for,
    given_artifact,
    measure_entry,
)
from edgeprune.progress import Progress
from edgeprune.provenance import provenance
from edgeprune.results import Entry
from edgeprune.rundir import EntryLayout, RunLayout
from edgeprune.targets.bundle import EvalBundle
from edgeprune.targets.profile import TargetProfile, load_target
from edgeprune.tasks import TASKS, Task


@dataclass(frozen=True)
class ArtifactEvaluation:
    artifact: Path
    out: Path
    config: RunConfig  # its data, device and measure sections: the same options as compress
    bundle: Path | None = None  # a run's bundle folder, or
    from_data: bool = False  # a bundle built from the configuration's data and corruptions
    runtime: str = "auto"  # auto: from the artifact's suffix


def _bundle(request: ArtifactEvaluation, progress: Progress) -> EvalBundle:
    if request.bundle is not None:
        return EvalBundle(request.bundle)
    data = request.config.data
    if not request.from_data:
        raise EdgepruneError("evaluate needs --bundle (a run's bundle folder) or --data")
    from edgeprune.data.corruption_source import check_corruptions, parse_corruption_source
    from edgeprune.data.datasets import load_configured
    from edgeprune.pipeline import prepare_bundle

    progress(f"loading data {data.data}")
    dataset = load_configured(data)
    source = parse_corruption_source(data.corruptions, dataset.image_shape, len(dataset.test))
    check_corruptions(source, dataset)
    return prepare_bundle(request.config, dataset, RunLayout(request.out), source, progress)


def evaluate_artifact_file(request: ArtifactEvaluation, progress: Progress) -> Entry:
    config = request.config
    artifact = given_artifact(request.artifact, request.runtime, config.measure.precision)
    target = load_target(config.device.target)
    task = TASKS.get(config.data.task)
    with hold(request.out, "evaluation folder"):  # checks the folder before it writes
        return _evaluate(request, artifact, target, task, progress)


def _evaluate(
    request: ArtifactEvaluation,
    artifact: Artifact,
    target: TargetProfile,
    task: Task,
    progress: Progress,
) -> Entry:
    config = request.config
    bundle = _bundle(request, progress)
    setup = MeasureSetup(
        task=task,
        bundle=bundle,
        job=device_job(config.measure, task),
        estimator=estimator_for(target, config.measure),
        device=config.device.device or None,
        ssh_options=config.device.ssh_options,
    )
    progress(f"running {artifact.path.name} on {len(bundle.splits)} split(s)")
    layout = EntryLayout(request.out)
    identity = {"name": artifact.path.name, "kind": "artifact"}
    entry = measure_entry(artifact, layout, setup, identity, progress=progress, resume=False)
    # No baseline: the reference-free figures only (mPC and rPC, no mCE).
    entry.quality = task.summarize(entry.quality, None, bundle.meta.get("info", {}))
    entry.extra = {
        "bundle": str(bundle.path),
        "target": target.name,
        "provenance": provenance(),
    }
    write_json(layout.metrics, entry.to_dict())
    return entry
