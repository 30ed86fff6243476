"""Fidelity of an artifact against its PyTorch model on the same inputs.

Polygraphy-style comparison: an element passes when |a - r| <= atol + rtol * |r|.
"""

from __future__ import annotations

import numpy as np

from edgeprune.metrics.calibration import expected_calibration_error
from edgeprune.metrics.classification import softmax


def fidelity(
    reference_logits: np.ndarray,
    artifact_logits: np.ndarray,
    labels: np.ndarray | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-3,
) -> dict:
    """Top-1 agreement, logit differences and (with labels) the ECE difference."""
    ref = np.asarray(reference_logits, dtype=np.float64)
    art = np.asarray(artifact_logits, dtype=np.float64)
    if ref.shape != art.shape:
        raise ValueError(f"logit shapes differ: reference {ref.shape}, artifact {art.shape}")
    diff = np.abs(art - ref)
    within = diff <= atol + rtol * np.abs(ref)
    report = {
        "n": int(ref.shape[0]),
        "top1_agreement": float(np.mean(ref.argmax(1) == art.argmax(1))),
        "max_abs_logit_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
        "fraction_within_tolerance": float(within.mean()) if within.size else 1.0,
        "atol": atol,
        "rtol": rtol,
    }
    if labels is not None:
        report["ece_difference"] = expected_calibration_error(
            softmax(art), labels
        ) - expected_calibration_error(softmax(ref), labels)
    return report
