"""The task seam: a second task, defined here and nowhere in edgeprune, goes through the one
measurement path, the results model, selection and the report without any of them changing.

The toy task scores an artifact by its mean top-1 softmax confidence; it stands in for what
a detection task would bring (its own quality record, deltas, limits, table cells)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from edgeprune.metrics import softmax
from edgeprune.tasks import TASKS, Limit, Task


@dataclass(frozen=True)
class Confidence:
    mean_confidence: float
    n: int

    @classmethod
    def from_dict(cls, data: dict) -> Confidence:
        return cls(data["mean_confidence"], data["n"])

    def to_dict(self) -> dict:
        return {"mean_confidence": self.mean_confidence, "n": self.n}


class ConfidenceTask(Task):
    name = "confidence"
    quality_type = Confidence
    primary_name = "confidence"
    outputs = ("logits",)
    limits = (
        Limit(
            "confidence drop",
            "max_acc_drop",
            "max",
            lambda e, r, s: (e.delta("confidence_drop"), "measured"),
            always=True,
        ),
    )
    pareto_label = "confidence"

    def loss(self, outputs, labels, label_smoothing=0.0):
        raise AssertionError("not trained here")

    def quality(self, outputs, bundle):
        probs = softmax(outputs["logits/clean"])
        return Confidence(float(probs.max(1).mean()), len(probs))

    def reference_outputs(self, model, images, normalize):
        from edgeprune.inference import predict_logits

        return {"logits": predict_logits(model, images, normalize)}

    def parity(self, reference, outputs, bundle, tolerance, required):
        agree = float(np.mean(reference["logits"].argmax(1) == outputs["logits/clean"].argmax(1)))
        return {"agreement": agree, "passed": None if required is None else agree >= required}

    def deltas(self, entry, baseline):
        return {"confidence_drop": baseline.quality.mean_confidence - entry.quality.mean_confidence}

    def primary_score(self, entry):
        return entry.quality.mean_confidence

    def pareto_objectives(self, entry):
        return (-entry.quality.mean_confidence,)

    def change_summary(self, entry, settings=None):
        return f"confidence {-entry.delta('confidence_drop'):+.3f}"

    def summary_cells(self, entry):
        return {"confidence": f"{entry.quality.mean_confidence:.3f}"}


@pytest.fixture
def toy(monkeypatch):
    task = ConfidenceTask()
    monkeypatch.setitem(TASKS._entries, task.name, task)
    return task


def test_a_new_task_runs_through_measurement_results_selection_and_report(toy, fast_run, tmp_path):
    from edgeprune.config import SelectConfig
    from edgeprune.inference import Normalizer
    from edgeprune.measure import Estimator, MeasureSetup, export_fp32, measure_entry
    from edgeprune.models import load_model
    from edgeprune.report import write_reports
    from edgeprune.results import RunResults, compare_with_baseline, load_results
    from edgeprune.rundir import RunLayout
    from edgeprune.runs import read_run
    from edgeprune.selection import decide
    from edgeprune.targets.bundle import EvalBundle
    from edgeprune.targets.profile import load_target
    from edgeprune.targets.run import DeviceJob

    source = RunLayout(fast_run)
    bundle = EvalBundle(source.bundle)
    setup = MeasureSetup(
        task=toy,
        bundle=bundle,
        job=DeviceJob(splits=("clean",), latency_batches=(1,), iterations=10, warmup=1),
        estimator=Estimator(load_target("jetson-orin-nano"), "fp16", (1,)),
        normalize=Normalizer(tuple(bundle.meta["mean"]), tuple(bundle.meta["std"])),
    )
    layout = RunLayout(tmp_path / "toy")
    entries = []
    for name in ("baseline", "l1-filter-0.50"):
        model = load_model(source.entry(name).model)[0]
        artifact = export_fp32(model, layout.entry(name), bundle.image_shape, setup.export)
        identity = {"name": name, "ratio": 0.0 if name == "baseline" else 0.5}
        entries.append(measure_entry(artifact, layout.entry(name), setup, identity, model=model))
    base, candidate = entries
    assert isinstance(base.quality, Confidence) and 0 < base.quality.mean_confidence <= 1
    assert base.fidelity["agreement"] == 1.0 and base.explanation is None
    compare_with_baseline(toy, base, [candidate], bundle.meta["info"])
    results = RunResults(
        toy.name, str(layout.root), {"seed": 0, "model": "m", "data": "digits", "method": "l1"},
        load_target("jetson-orin-nano").summary(), None, {"source": "digits"}, {},
        {"created": "now", "platform": "p", "versions": {}, "command": []}, base, [candidate],
    )  # fmt: skip
    decision = decide(results, SelectConfig(max_acc_drop=1.0))
    assert decision.verdicts[0].checks[0].name == "confidence drop"
    assert "confidence" in decision.explanation or decision.chosen is None
    written = write_reports(layout, results, decision)
    assert "confidence" in written["markdown"].read_text()
    from edgeprune.files import write_json

    write_json(layout.results, results.to_dict())
    again = load_results(results.to_dict() | {"schema": "edgeprune-results/2"}, TASKS)
    assert again.baseline.quality == base.quality
    assert read_run(layout.root).results.candidates[0].delta("confidence_drop") == pytest.approx(
        candidate.delta("confidence_drop")
    )
    # the cached entry is read back with the task's own record
    reread = measure_entry(artifact, layout.entry("l1-filter-0.50"), setup, {"name": "x"})
    assert reread.quality == replace(candidate.quality)
