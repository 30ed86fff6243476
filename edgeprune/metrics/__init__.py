"""Metrics as pure numpy functions of model outputs and labels (no torch import here).

One implementation serves PyTorch, ONNX Runtime and TensorRT outputs alike; see
docs/metrics.md in the project documentation for every definition.
"""

from edgeprune.metrics.calibration import (
    DEFAULT_BINS,
    CalibrationBins,
    adaptive_calibration_error,
    brier_score,
    calibration_bins,
    calibration_summary,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
    rms_calibration_error,
)
from edgeprune.metrics.classification import (
    accuracy,
    log_softmax,
    per_class_accuracy,
    softmax,
    topk_accuracy,
)
from edgeprune.metrics.fidelity import fidelity

__all__ = [
    "DEFAULT_BINS",
    "CalibrationBins",
    "accuracy",
    "adaptive_calibration_error",
    "brier_score",
    "calibration_bins",
    "calibration_summary",
    "classwise_calibration_error",
    "expected_calibration_error",
    "fidelity",
    "log_softmax",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "per_class_accuracy",
    "reliability_diagram",
    "rms_calibration_error",
    "softmax",
    "topk_accuracy",
]
