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
from pathlib import Path

import numpy as np

from edgeprune.files import file_digest, read_json, write_json, write_npz
from edgeprune.measure.artifacts import Artifact, declared_output_shapes, recalibrated
from edgeprune.measure.setup import MeasureSetup
from edgeprune.progress import Progress, silent
from edgeprune.recalibration import NONE, Fit
from edgeprune.results import Entry, Latency, Memory, Size, load_entry
from edgeprune.rundir import EntryLayout
from edgeprune.targets.bundle import CLEAN, VALIDATION
from edgeprune.targets.execute import execute_job
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.targets.run import OUTPUTS_FILE, RUN_FILE
from edgeprune.tasks import ExplainRequest


def measured_on(record: dict) -> str:
    """The device that ran the job: its SSH destination, or ``local``."""
    return (record.get("remote") or {}).get("host") or "local"


def measured_where(record: dict) -> str:
    """``device`` when the runner ran on a device: over SSH, here on a Jetson, or on this
    machine's GPU (its runner says so: a runtime runs on a GPU only for a target whose GPU
    is here, ``measure.artifacts.auto_runtime`` and the PyTorch builder), else ``host``."""
    environment = record.get("environment", {})
    on_gpu = "gpu" in environment.get("runtime", {})
    on_device = record.get("where") == "remote" or "jetson" in environment or on_gpu
    return "device" if on_device else "host"


def stored_outputs(device_dir: Path) -> dict[str, np.ndarray] | None:
    """The outputs a finished device job left in ``device_dir`` (None: none there)."""
    path = device_dir / OUTPUTS_FILE
    if not path.exists():
        return None
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def interval_deltas(task, layouts: list[EntryLayout], entries: list[Entry], bundle) -> None:
    """Add the paired-bootstrap intervals of every entry's changes against the first (the
    baseline) to its ``vs_baseline``, from the outputs each left on disk. An entry whose
    outputs are gone (a deleted device folder) keeps its point figures without intervals."""

    def replicates(folder: Path):
        outputs = stored_outputs(folder)
        return None if outputs is None else task.replicates(outputs, bundle)

    base_layout = layouts[0]
    reference = replicates(base_layout.device)
    reference_raw = replicates(base_layout.uncalibrated_device) or reference
    if reference is None:
        return
    for layout, entry in zip(layouts, entries):
        mine = reference if layout is base_layout else replicates(layout.device)
        if mine is None:
            continue
        entry.vs_baseline.update(task.interval_deltas(mine, reference))
        if entry.quality.uncalibrated is not None:
            raw = replicates(layout.uncalibrated_device)
            if raw is not None and reference_raw is not None:
                before = task.interval_deltas(raw, reference_raw)
                entry.vs_baseline.update(
                    {f"uncalibrated_{k}": v for k, v in before.items() if k.startswith("ece")}
                )


def run_artifact(
    artifact: Artifact,
    device_dir: Path,
    setup: MeasureSetup,
    progress: Progress = silent,
    resume: bool = True,
    **job_changes,
) -> tuple[dict[str, np.ndarray], dict]:
    """The runner's outputs and record for ``artifact`` in ``device_dir`` (the job's output
    folder), running it unless both exist; ``job_changes`` adjust the setup's job."""
    outputs_file, record_file = device_dir / OUTPUTS_FILE, device_dir / RUN_FILE
    if not (resume and outputs_file.exists() and record_file.exists()):
        job = replace(
            setup.job,
            runtime=artifact.runtime,
            outputs=setup.task.outputs,
            engine_options=artifact.runner_options or setup.job.engine_options,
            **job_changes,
        )

        def on(device: str) -> dict:
            return execute_job(
                job,
                artifact.path,
                setup.bundle.path,
                device_dir,
                device,
                setup.profile,
                progress,
                setup.ssh_options,
            )

        # a free device of the pool; another one if it drops out
        setup.pool.run(on, progress)
    return stored_outputs(device_dir), read_json(record_file)


def recalibrate(
    artifact: Artifact,
    layout: EntryLayout,
    setup: MeasureSetup,
    progress: Progress,
    resume: bool,
) -> tuple[Artifact, dict[str, np.ndarray], Fit]:
    """``--recalibrate``: run the artifact as built on every split (the validation split too,
    no timing), fit the task's scaling to its own validation outputs, and return the artifact
    that ships (the scaling in its graph) with the uncalibrated outputs and the fit."""
    progress("running the uncalibrated artifact (validation split included)")
    raw, _ = run_artifact(
        artifact, layout.uncalibrated_device, setup, progress, resume, latency_batches=()
    )
    if resume and layout.recalibration.exists():
        fit = Fit.from_dict(read_json(layout.recalibration))
    else:
        fit = setup.task.fit_recalibration(raw, setup.bundle, setup.recalibration)
        write_json(layout.recalibration, fit.describe())
    progress(
        f"recalibrated ({fit.method}): validation NLL {fit.nll_before:.4f} -> {fit.nll_after:.4f}"
    )
    shipped = recalibrated(artifact, layout, fit, setup.task.outputs[0])
    return shipped, raw, fit


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
        nodes=summary["nodes"],
    )


def _timings(record: dict, artifact: Artifact) -> tuple[Latency, Memory]:
    where = measured_where(record)
    latency = Latency.from_dict(
        {
            "where": where,
            "runtime": record["environment"]["runtime"]["runtime"],
            "batches": record["latency"],
            "representative": artifact.latency_note is None,
            # how the artifact limits timing (a static batch), and what the host says of it
            "note": "; ".join(n for n in (record.get("latency_note"), artifact.latency_note) if n)
            or None,
        }
    )
    return latency, Memory.from_dict({"where": where, **record["memory"]})


def _drop_explanation_outputs(device_dir: Path, output: str | None) -> None:
    """Feature maps are only needed until the explanation metrics exist; they can take
    hundreds of MB per entry, so they leave outputs.npz once metrics.json is written."""
    path = device_dir / OUTPUTS_FILE
    if output is None or not path.exists():
        return
    with np.load(path) as stored:
        if not any(k.startswith(f"{output}/") for k in stored.files):
            return
        kept = {k: stored[k] for k in stored.files if not k.startswith(f"{output}/")}
    write_npz(path, kept)


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
        cached = read_json(layout.metrics)
        entry = load_entry(cached, task)
        outdated = "intervals" not in cached.get("quality", {})
        # read only when needed: a full CIFAR-10-C entry's outputs are tens of MB
        outputs = stored_outputs(layout.device) if outdated else None
        if outputs is not None:
            # An entry measured before its figures carried intervals (or of edgeprune-results/1,
            # whose ECE gave a confidence of exactly 1.0 a bin of its own): its figures are
            # computed again from its outputs, so that one run never compares two binnings
            # and every entry has its intervals. The outputs are what the artifact returned.
            entry.quality = _quality(
                task, outputs, stored_outputs(layout.uncalibrated_device), setup.bundle
            )
        # The target may differ on a rerun (a new --target); the estimate is cheap to redo.
        entry.estimate = setup.estimator.estimate(artifact.graph, artifact.estimate_precision)
        return entry
    # an artifact that cannot give this task's outputs is refused before it runs
    task.check_output_shapes(declared_output_shapes(artifact), setup.bundle)
    started = time.perf_counter()
    raw = fit = None
    # The validation split is only in a bundle that recalibrates; only the scaling sees it.
    scored = [n for n in setup.bundle.splits if n != VALIDATION]
    only = {"splits": tuple(scored)} if VALIDATION in setup.bundle.splits else {}
    if setup.recalibration != NONE:
        artifact, raw, fit = recalibrate(artifact, layout, setup, progress, resume)
    progress("running the artifact on the eval bundle")
    outputs, record = run_artifact(
        artifact,
        layout.device,
        setup,
        progress,
        resume,
        **only,
        # the explanations come from the uncalibrated run where there is one: the scaling
        # leaves the feature maps alone and must not change what the maps are compared on
        **({"feature_splits": ()} if raw is not None else {}),
    )
    explained = raw if raw is not None else outputs
    parity = explanation = None
    if model is not None:
        images = np.asarray(setup.bundle.images(CLEAN))
        reference_outputs = task.reference_outputs(model, images, setup.normalize)
        if fit is not None:  # parity of the recalibrated graph with the same scaling in numpy
            reference_outputs = task.recalibrated_reference(reference_outputs, fit)
        parity = task.parity(
            reference_outputs, outputs, setup.bundle, setup.parity_tolerance, required_parity
        )
        if setup.explanation is not None:
            progress("explanation consistency (HCC, PE-score)")
            clean = {k: v for k, v in explained.items() if k.endswith(f"/{CLEAN}")}
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
            "quality": _quality(task, outputs, raw, setup.bundle),
            "fidelity": parity,
            "explanation": explanation,
            "size": size_of(artifact, model),
            "latency": latency,
            "memory": memory,
            "artifact": {**artifact.info, "sha256": file_digest(artifact.path)},
            # which device of the pool produced these figures
            "environment": {**record["environment"], "device": measured_on(record)},
            "evaluation": record.get("evaluation"),
            "recalibration": fit.describe() if fit is not None else None,
        }
    )
    entry.estimate = setup.estimator.estimate(artifact.graph, artifact.estimate_precision)
    entry.evaluate_seconds = time.perf_counter() - started
    write_json(layout.metrics, entry.to_dict())  # written last: the entry is finished
    for device_dir in (layout.device, layout.uncalibrated_device):
        _drop_explanation_outputs(device_dir, task.explanation_output)
    return entry


def _quality(task, outputs: dict, raw: dict | None, bundle):
    """The task's record of the shipped artifact; with the uncalibrated one inside it."""
    quality = task.quality(outputs, bundle)
    if raw is None:
        return quality
    return replace(quality, uncalibrated=task.quality(raw, bundle))
