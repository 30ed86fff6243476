"""Image classification: (N, C) logits, integer labels, cross-entropy; accuracy, the
calibration family and corruption robustness of the deployed artifact; HCC and PE-score
from CAM maps; top-1 agreement with PyTorch as parity.

Everything the rest of edgeprune needs to know about classification is reached through
:class:`ClassificationTask`; the report sections and plots live beside it.
"""

from __future__ import annotations

import numpy as np

from edgeprune.metrics import fidelity
from edgeprune.targets.bundle import VALIDATION
from edgeprune.tasks.base import ExplainRequest, Limit, Task
from edgeprune.tasks.classification.quality import (
    CLEAN,
    LOGITS,
    ClassificationQuality,
    CorruptionSummary,
    measure_quality,
    resampled,
)

FEATURES = "features"  # the exported feature map feeding global average pooling
N_BINS = 15  # equal-width calibration bins (docs/metrics.md)
OVERLAY_IMAGES = 16  # maps a candidate keeps for the side-by-side overlays


def _measured(value: float | None) -> tuple[float | None, str]:
    return value, "measured"


def _explanation(entry, key: str) -> float | None:
    value = (entry.explanation or {}).get(key)
    return None if value is None else float(value)


def _corruption(entry, name: str) -> float | None:
    summary = entry.quality.corruption
    return getattr(summary, name) if summary else None


# Which ECE the ECE limit reads (--ece-of): the shipped artifact's, or its uncalibrated one's.
ECE_OF = ("shipped", "uncalibrated")


def _ece_increase(entry, results, settings) -> tuple[float | None, str]:
    if getattr(settings, "ece_of", "shipped") == "uncalibrated":
        if entry.quality.uncalibrated is None:  # nothing recalibrated: the shipped ECE is it
            return entry.delta("ece_increase"), "measured"
        return entry.delta("uncalibrated_ece_increase"), "measured, uncalibrated"
    return entry.delta("ece_increase"), "measured"


def chance_p_value(entry, results) -> float | None:
    """One-sided binomial p-value of the entry's accuracy if it were guessing (1 / classes):
    small when the accuracy is clearly above chance. A random-weight MobileNet-V2 at 13.4 %
    on 359 ten-class images, and a candidate of it at 12.8 %, get p = 0.024 and 0.049."""
    from scipy.stats import binomtest

    classes = (results.dataset or {}).get("num_classes")
    n = entry.quality.n
    if not classes or not n:
        return None
    correct = int(round(entry.quality.accuracy * n))
    return float(binomtest(correct, n, 1.0 / classes, alternative="greater").pvalue)


def _chance(entry, results, settings) -> tuple[float | None, str]:
    return _measured(chance_p_value(entry, results))


def _ece_increase_interval(entry, results, settings) -> list[float] | None:
    uncalibrated = getattr(settings, "ece_of", "shipped") == "uncalibrated"
    if uncalibrated and entry.quality.uncalibrated is not None:
        return entry.delta("uncalibrated_ece_increase_interval")
    return entry.delta("ece_increase_interval")


def _interval(entry, name: str) -> list[float] | None:
    return entry.quality.intervals.get(name)


LIMITS = (
    Limit(
        "accuracy drop",
        "max_acc_drop",
        "max",
        lambda e, r, s: _measured(e.delta("accuracy_drop_points")),
        " pp",
        always=True,
        interval=lambda e, r, s: e.delta("accuracy_drop_points_interval"),
    ),
    Limit("accuracy", "min_accuracy", "min", lambda e, r, s: _measured(e.quality.accuracy),
          interval=lambda e, r, s: _interval(e, "accuracy")),
    Limit(
        "chance p-value",
        "max_chance_p",
        "max",
        _chance,
        long_name="p-value of the accuracy under guessing",
    ),
    Limit("ECE increase", "max_ece_increase", "max", _ece_increase, always=True,
          interval=_ece_increase_interval),
    Limit("mPC", "min_mpc", "min", lambda e, r, s: _measured(_corruption(e, "mpc")), group="robustness",
          interval=lambda e, r, s: _interval(e, "mpc")),
    Limit("rPC", "min_rpc", "min", lambda e, r, s: _measured(_corruption(e, "rpc")), group="robustness"),
    Limit("HCC", "min_hcc", "min", lambda e, r, s: _measured(_explanation(e, "hcc")), group="explanation"),
    Limit("PE-score", "min_pe", "min", lambda e, r, s: _measured(_explanation(e, "pe")), group="explanation"),
)  # fmt: skip


def _check_logits_shape(shape: tuple, classes: int, what: str) -> None:
    """(N, C) logits with C >= the data's classes (a larger head, e.g. an ImageNet model on a
    subset of its classes, is accepted: every label indexes a logit)."""
    from edgeprune.errors import EdgepruneError

    dims = ["?" if d is None else str(d) for d in shape]
    shown = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    if len(shape) != 2:
        raise EdgepruneError(
            f"the artifact's {what} shape {shown}, not (N, classes) logits: "
            "classification needs one score per class and image"
        )
    if shape[1] is not None and shape[1] < classes:
        raise EdgepruneError(
            f"the artifact's {what} {shape[1]} classes, the data has {classes}: "
            "a model trained for another dataset?"
        )


class ClassificationTask(Task):
    name = "classification"
    quality_type = ClassificationQuality
    primary_name = "accuracy"
    outputs = (LOGITS,)
    explanation_output = FEATURES
    limits = LIMITS
    pareto_label = "accuracy, ECE, mPC"
    n_bins = N_BINS

    # ---------------------------------------------------------------- training
    def loss(self, outputs, labels, label_smoothing: float = 0.0):
        import torch.nn.functional as F

        return F.cross_entropy(outputs, labels, label_smoothing=label_smoothing)

    def warnings(self, results, settings, chosen) -> list[str]:
        """The unpruned model, or the one chosen, could be guessing (--max-chance-p); the
        explanation metrics are undefined (constant maps)."""
        found = [
            f"{e.name}: {'; '.join(e.explanation['undefined'])}, so they are undefined"
            for e in results.entries
            if e.explanation and e.explanation.get("undefined")
        ]
        limit = getattr(settings, "max_chance_p", 0.0)
        if not limit:
            return found
        classes = results.dataset.get("num_classes")
        named = [(results.baseline, "the unpruned baseline")]
        if chosen is not None and chosen is not results.baseline:
            named.append((chosen, f"the chosen {chosen.name}"))
        for entry, who in named:
            p = chance_p_value(entry, results)
            if p is not None and p > limit:
                found.append(
                    f"{who} reaches {100 * entry.quality.accuracy:.1f} % on {entry.quality.n} "
                    f"images, not above chance ({100 / classes:.1f} % for {classes} classes) at "
                    f"p <= {limit:g} (p = {p:.2g}): check its training, weights and --normalize "
                    "before trusting any figure"
                )
        return found

    def check_model_output(self, output, num_classes: int) -> None:
        from edgeprune.errors import EdgepruneError

        shape = tuple(output.shape) if hasattr(output, "shape") else None
        if shape is None or len(shape) != 2:
            raise EdgepruneError(
                f"the model gives {'a ' + type(output).__name__ if shape is None else f'outputs of shape {shape}'} "
                "for a batch of one image, not (1, classes) logits"
            )
        if shape[1] != num_classes:
            raise EdgepruneError(
                f"the model gives {shape[1]} scores per image, the data has {num_classes} classes: "
                "a model built for another dataset? (a factory is called with num_classes when it takes it)"
            )

    # ---------------------------------------------------------------- measurement
    def check_output_shapes(self, shapes, bundle) -> None:
        name = LOGITS if LOGITS in shapes else next(iter(shapes), None)
        if name is not None:
            _check_logits_shape(shapes[name], bundle.num_classes, f"output {name!r} declares")

    def quality(self, outputs, bundle) -> ClassificationQuality:
        for key, logits in outputs.items():
            if key.startswith(f"{LOGITS}/"):
                _check_logits_shape(logits.shape, bundle.num_classes, f"{key} came out")
        return measure_quality(outputs, bundle, self.n_bins)

    def reference_outputs(self, model, images, normalize):
        from edgeprune.inference import predict_logits

        return {LOGITS: predict_logits(model, images, normalize)}

    def parity(self, reference, outputs, bundle, tolerance, required):
        atol, rtol = tolerance
        report = fidelity(
            reference[LOGITS],
            outputs[f"{LOGITS}/{CLEAN}"],
            bundle.labels(CLEAN),
            atol=atol,
            rtol=rtol,
        )
        # Only FP32 has a required agreement; a variant's parity measures its precision's cost.
        report["passed"] = None if required is None else report["top1_agreement"] >= required
        if required is not None:
            report["required_top1_agreement"] = required
        return report

    def fit_recalibration(self, outputs, bundle, method):
        from edgeprune.recalibration import RECALIBRATIONS

        if VALIDATION not in bundle.splits:
            from edgeprune.errors import EdgepruneError

            raise EdgepruneError(
                f"{bundle.path} has no validation split to recalibrate on (a bundle made "
                "without --recalibrate): use a new --out"
            )
        return RECALIBRATIONS.get(method).fit(
            outputs[f"{LOGITS}/{VALIDATION}"], bundle.labels(VALIDATION)
        )

    def recalibrated_reference(self, reference, fit):
        return {**reference, LOGITS: fit.apply(reference[LOGITS])}

    def explanation_settings(self, explain):
        from edgeprune.explain.consistency import ExplanationSettings
        from edgeprune.metrics.explanation import PESettings

        return ExplanationSettings(
            images=explain.explain_images,
            target=explain.explain_target,
            pe=PESettings(win_size=explain.pe_ssim_window, iou_threshold=explain.pe_iou_threshold),
            hcc_method=explain.hcc_method,
            pe_method=explain.pe_method,
        )

    def explain(self, request: ExplainRequest) -> dict | None:
        """HCC and PE-score against the unpruned model's maps; the baseline stores its maps
        as the reference, a candidate keeps a few for the overlays."""
        if request.model is None or request.settings is None:
            return None  # an artifact alone has no unpruned model to be compared with
        from edgeprune.explain.consistency import consistency, entry_maps, save_maps

        bundle, layout = request.bundle, request.layout
        data = entry_maps(
            layout.cam_head,
            request.outputs,
            bundle.labels(CLEAN),
            np.asarray(bundle.images(CLEAN)),
            request.model,
            request.normalize,
            request.settings,
            request.reference,
        )
        limit = None if request.reference is None else OVERLAY_IMAGES
        save_maps(layout.maps, data, limit)
        return consistency(request.reference or data, data, request.settings)

    def explanation_reference(self, layout):
        from edgeprune.explain.consistency import load_maps

        return load_maps(layout.maps) if layout.maps.exists() else None

    # ---------------------------------------------------------------- comparison
    def summarize(self, quality, baseline, context):
        from dataclasses import replace

        from edgeprune.metrics.corruption import corruption_summary

        if quality.uncalibrated is not None:  # before scaling, against the baseline's before
            reference = baseline.before_scaling if baseline is not None else None
            quality = replace(
                quality, uncalibrated=self.summarize(quality.uncalibrated, reference, context)
            )
        if not quality.splits:
            return quality
        summary = corruption_summary(
            quality.splits,
            quality.accuracy,
            baseline.splits if baseline is not None else None,
            baseline.accuracy if baseline is not None else None,
        )
        info = (context or {}).get("corruptions", {})
        return replace(quality, corruption=CorruptionSummary.from_dict({**info, **summary}))

    def deltas(self, entry, baseline):
        ece, ece0 = entry.quality.ece, baseline.quality.ece
        deltas = {
            "accuracy_drop_points": 100 * (baseline.quality.accuracy - entry.quality.accuracy),
            "ece_increase": ece - ece0,
            # positive when ECE rose, like ece_increase and the report's column
            "ece_relative_change_percent": 100 * (ece - ece0) / ece0 if ece0 > 0 else None,
        }
        if entry.quality.uncalibrated is not None:
            before, before0 = entry.quality.before_scaling, baseline.quality.before_scaling
            deltas["uncalibrated_ece_increase"] = before.ece - before0.ece
            # what the scaling did to this entry itself
            deltas["recalibration_ece_change"] = entry.quality.ece - before.ece
        return deltas

    def replicates(self, outputs, bundle):
        return resampled(outputs, bundle, self.n_bins)

    def interval_deltas(self, mine, reference):
        from edgeprune.metrics.intervals import change_interval

        return {
            "accuracy_drop_points_interval": change_interval(
                reference["accuracy"], mine["accuracy"], 100
            ),
            "ece_increase_interval": change_interval(mine["ece"], reference["ece"]),
            "mpc_drop_points_interval": change_interval(reference["mpc"], mine["mpc"], 100),
        }

    def primary_score(self, entry) -> float:
        return entry.quality.accuracy

    def pareto_objectives(self, entry) -> tuple[float, ...]:
        values = (-entry.quality.accuracy, entry.quality.ece)
        mpc = entry.quality.mpc
        return values + ((-mpc,) if mpc is not None else ())

    def change_summary(self, entry, settings=None) -> str:
        """The accuracy change and the ECE change the ECE limit read (``--ece-of``)."""
        drop = entry.delta("accuracy_drop_points")
        ece, source = _ece_increase(entry, None, settings)
        which = " uncalibrated" if source.endswith("uncalibrated") else ""
        return f"accuracy {-drop + 0.0:+.2f} pp, ECE{which} {ece:+.4f}"

    # ---------------------------------------------------------------- presentation
    def summary_cells(self, entry):
        from edgeprune.tasks.classification.report import summary_cells

        return summary_cells(entry)

    def fidelity_cells(self, entry):
        from edgeprune.tasks.classification.report import fidelity_cells

        return fidelity_cells(entry)

    @property
    def csv_columns(self) -> tuple[str, ...]:
        from edgeprune.tasks.classification.report import CSV_COLUMNS

        return CSV_COLUMNS

    def csv_cells(self, entry):
        from edgeprune.tasks.classification.report import csv_cells

        return csv_cells(entry)

    def report_sections(self, results, decision, plots):
        from edgeprune.tasks.classification.report import report_sections

        return report_sections(results, decision, plots)

    def plots(self, results, decision, layout):
        from edgeprune.tasks.classification.plots import make_plots

        return make_plots(results, decision, layout)


__all__ = ["ClassificationQuality", "ClassificationTask", "CorruptionSummary"]
