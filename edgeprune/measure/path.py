"""The one measurement path: artifact -> run it (here, over SSH, or on the device) ->
outputs -> the task's metrics -> parity with PyTorch -> size -> explanations -> estimates
-> cache.

``compress`` calls it for the baseline, every candidate and every precision variant;
``edgeprune evaluate`` calls it for a file. Each step leaves a file and is skipped when its
file exists (the device job's outputs, then the entry's ``metrics.json``, written last), so
an interrupted measurement resumes where it stopped. Every metric is computed on the host
from the artifact's outputs: one implementation serves every runtime.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from edgeprune.files import read_json, write_json, write_npz
from edgeprune.measure.artifacts import Artifact
from edgeprune.measure.setup import MeasureSetup
from edgeprune.progress import Progress, silent
from edgeprune.results import Entry, Latency, Memory, Size, load_entry
from edgeprune.rundir import EntryLayout
from edgeprune.targets.execute import execute_job
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.tasks import ExplainRequest

CLEAN = "clean"


def measured_where(record: dict) -> str:
    """``device`` when the runner ran on a device (over SSH, or here on a Jetson), else ``host``."""
    on_device = record.get("where") == "remote" or "jetson" in record.get("environment", {})
    return "device" if on_device else "host"


def run_artifact(
    artifact: Artifact,
    layout: EntryLayout,
    setup: MeasureSetup,
    progress: Progress = silent,
    resume: bool = True,
) -> tuple[dict[str, np.ndarray], dict]:
    """The runner's outputs and record for ``artifact``, running it unless both exist."""
    done = layout.outputs.exists() and layout.run_record.exists()
    if not (resume and done):
        job = replace(
            setup.job,
            runtime=artifact.runtime,
            outputs=setup.task.outputs,
            engine_options=artifact.runner_options or setup.job.engine_options,
        )
        execute_job(
            job,
            artifact.path,
            setup.bundle.path,
            layout.device,
            setup.device,
            setup.profile,
            progress,
            setup.ssh_options,
        )
    with np.load(layout.outputs) as stored:
        outputs = {key: stored[key] for key in stored.files}
    return outputs, read_json(layout.run_record)


def size_of(artifact: Artifact, model=None) -> Size | None:
    """Parameters (PyTorch), MACs and weights (the ONNX graph), the artifact's bytes."""
    if artifact.graph is None:
        return None
    summary = graph_summary(graph_costs(artifact.graph, batch_size=1))
    params = nonzero = None
    if model is not None:
        params = int(sum(p.numel() for p in model.parameters()))
        nonzero = int(sum(int((p != 0).sum()) for p in model.parameters()))
    return Size(
        params=params,
        nonzero_params=nonzero,
        macs=summary["macs"],
        flops=summary["flops"],
        artifact_weight_elements=summary["weight_elements"],
        artifact_bytes=artifact.path.stat().st_size,
    )


def _timings(record: dict, artifact: Artifact) -> tuple[Latency, Memory]:
    where = measured_where(record)
    latency = Latency.from_dict(
        {
            "where": where,
            "runtime": record["environment"]["runtime"]["runtime"],
            "batches": record["latency"],
            "representative": artifact.latency_note is None,
            "note": artifact.latency_note,
        }
    )
    return latency, Memory.from_dict({"where": where, **record["memory"]})


def _drop_explanation_outputs(layout: EntryLayout, output: str | None) -> None:
    """Feature maps are only needed until the explanation metrics exist; they can take
    hundreds of MB per entry, so they leave outputs.npz once metrics.json is written."""
    if output is None:
        return
    with np.load(layout.outputs) as stored:
        if not any(k.startswith(f"{output}/") for k in stored.files):
            return
        kept = {k: stored[k] for k in stored.files if not k.startswith(f"{output}/")}
    write_npz(layout.outputs, kept)


def measure_entry(
    artifact: Artifact,
    layout: EntryLayout,
    setup: MeasureSetup,
    identity: dict,
    *,
    model=None,
    reference=None,
    required_parity: float | None = None,
    progress: Progress = silent,
    resume: bool = True,
) -> Entry:
    """Measure one deployed artifact; ``identity`` names the entry (name, method, ratio, kind,
    and how it was pruned and fine-tuned). ``model``: the PyTorch model it came from, for
    parity and explanations (None: the artifact alone). ``reference``: the baseline's
    explanation maps (None for the baseline itself). ``resume=False`` measures afresh."""
    task = setup.task
    if resume and layout.metrics.exists():
        entry = load_entry(read_json(layout.metrics), task)
        # The target may differ on a rerun (a new --target); the estimate is cheap to redo.
        entry.estimate = setup.estimator.estimate(artifact.graph, artifact.estimate_precision)
        return entry
    started = time.perf_counter()
    progress("running the artifact on the eval bundle")
    outputs, record = run_artifact(artifact, layout, setup, progress, resume)
    parity = explanation = None
    if model is not None:
        images = np.asarray(setup.bundle.images(CLEAN))
        reference_outputs = task.reference_outputs(model, images, setup.normalize)
        parity = task.parity(
            reference_outputs, outputs, setup.bundle, setup.parity_tolerance, required_parity
        )
        if setup.explanation is not None:
            progress("explanation consistency (HCC, PE-score)")
            clean = {k: v for k, v in outputs.items() if k.endswith(f"/{CLEAN}")}
            request = ExplainRequest(
                layout, clean, setup.bundle, model, setup.normalize, setup.explanation, reference
            )
            explanation = task.explain(request)
    latency, memory = _timings(record, artifact)
    entry = Entry(
        **{
            "method": None,
            "ratio": 0.0,
            "kind": "unpruned",
            **identity,
            "precision": artifact.precision,
            "runtime": artifact.runtime,
            "quality": task.quality(outputs, setup.bundle),
            "fidelity": parity,
            "explanation": explanation,
            "size": size_of(artifact, model),
            "latency": latency,
            "memory": memory,
            "artifact": artifact.info,
            "environment": record["environment"],
            "evaluation": record.get("evaluation"),
        }
    )
    entry.estimate = setup.estimator.estimate(artifact.graph, artifact.estimate_precision)
    entry.evaluate_seconds = time.perf_counter() - started
    write_json(layout.metrics, entry.to_dict())  # written last: the entry is finished
    _drop_explanation_outputs(layout, task.explanation_output)
    return entry
