"""The measurement path (``path.measure_entry``), the loaders that make artifacts
(``artifacts``) and what a run's measurements share (``setup``)."""

from edgeprune.measure.artifacts import (
    Artifact,
    Variant,
    VariantInputs,
    build_variant,
    built_sparse,
    export_fp32,
    given_artifact,
    plan_variants,
)
from edgeprune.measure.path import (
    interval_deltas,
    measure_entry,
    measured_where,
    run_artifact,
    size_of,
    stored_outputs,
)
from edgeprune.measure.setup import (
    FP32_MIN_AGREEMENT,
    Estimator,
    MeasureSetup,
    device_job,
    estimator_for,
    latency_batches,
)

__all__ = [
    "FP32_MIN_AGREEMENT",
    "Artifact",
    "Estimator",
    "MeasureSetup",
    "Variant",
    "VariantInputs",
    "build_variant",
    "built_sparse",
    "device_job",
    "estimator_for",
    "export_fp32",
    "given_artifact",
    "interval_deltas",
    "latency_batches",
    "measure_entry",
    "measured_where",
    "plan_variants",
    "run_artifact",
    "size_of",
    "stored_outputs",
]
