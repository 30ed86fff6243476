"""Corruption robustness (Hendrycks & Dietterich 2019; Michaelis et al. 2019).

Inputs are per-split results keyed ``"<corruption>/<severity>"`` with at least an
``accuracy`` (and, for per-severity calibration, an ``ece``). Only the 15 benchmark
corruptions enter mPC and mCE; held-out ones are reported beside them.

- mPC = mean accuracy over the 15 corruptions x 5 severities; rPC = mPC / clean accuracy.
- CE_c = sum_s E_{s,c} / sum_s E^ref_{s,c}; mCE = mean over the 15. On CIFAR there is no
  AlexNet reference, so the unpruned model is the reference (the baseline has mCE 1.0).
- Relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^ref_{s,c} - E^ref_clean).
- The unnormalised mean corruption error is the mean of E over the 75 benchmark splits.
(mCE is the corruption error; MCE in calibration.py is the maximum calibration error.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

BENCHMARK = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression",
)  # fmt: skip
HELD_OUT = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
SEVERITIES = (1, 2, 3, 4, 5)


def split_name(corruption: str, severity: int) -> str:
    return f"{corruption}/{severity}"


def _error(split: Mapping) -> float:
    return 1.0 - float(split["accuracy"])


def _present(per_split: Mapping[str, Mapping], corruptions: Sequence[str]) -> list[str]:
    return [c for c in corruptions if all(split_name(c, s) in per_split for s in SEVERITIES)]


def corruption_errors(
    per_split: Mapping[str, Mapping],
    reference: Mapping[str, Mapping],
    clean_error: float,
    reference_clean_error: float,
) -> dict[str, dict[str, float]]:
    """Per corruption: CE and relative CE against the reference model's errors."""
    out = {}
    for c in _present(per_split, BENCHMARK + HELD_OUT):
        if not all(split_name(c, s) in reference for s in SEVERITIES):
            continue
        errors = np.array([_error(per_split[split_name(c, s)]) for s in SEVERITIES])
        ref = np.array([_error(reference[split_name(c, s)]) for s in SEVERITIES])
        relative_den = np.sum(ref - reference_clean_error)
        out[c] = {
            "ce": float(errors.sum() / ref.sum()) if ref.sum() > 0 else float("nan"),
            "relative_ce": float(np.sum(errors - clean_error) / relative_den)
            if relative_den > 0
            else float("nan"),
        }
    return out


def corruption_summary(
    per_split: Mapping[str, Mapping],
    clean_accuracy: float,
    reference: Mapping[str, Mapping] | None = None,
    reference_clean_accuracy: float | None = None,
) -> dict:
    """mPC, rPC, mCE, relative mCE, mean corruption error, and accuracy/ECE per severity.

    ``reference`` (per-split results of the unpruned model) is needed for mCE; without it
    only the reference-free figures are returned.
    """
    bench = _present(per_split, BENCHMARK)
    held = _present(per_split, HELD_OUT)
    acc = {
        c: [float(per_split[split_name(c, s)]["accuracy"]) for s in SEVERITIES]
        for c in bench + held
    }
    summary: dict = {
        "corruptions": bench,
        "held_out": {c: float(np.mean(acc[c])) for c in held},
        "complete": len(bench) == len(BENCHMARK),
    }
    if not bench:
        return summary
    mpc = float(np.mean([acc[c] for c in bench]))
    summary.update(
        {
            "mPC": mpc,
            "rPC": mpc / clean_accuracy if clean_accuracy > 0 else float("nan"),
            "mean_corruption_error": 1.0 - mpc,
            "per_corruption_accuracy": {c: float(np.mean(acc[c])) for c in bench},
            "per_severity": {},
        }
    )
    for i, s in enumerate(SEVERITIES):
        row = {"accuracy": float(np.mean([acc[c][i] for c in bench]))}
        eces = [per_split[split_name(c, s)].get("ece") for c in bench]
        if all(e is not None for e in eces):
            row["ece"] = float(np.mean(eces))
        summary["per_severity"][str(s)] = row
    if reference is not None and reference_clean_accuracy is not None:
        ces = corruption_errors(
            per_split, reference, 1.0 - clean_accuracy, 1.0 - reference_clean_accuracy
        )
        bench_ces = [ces[c] for c in bench if c in ces]
        if len(bench_ces) == len(bench):
            summary["mCE"] = float(np.mean([v["ce"] for v in bench_ces]))
            summary["relative_mCE"] = float(np.mean([v["relative_ce"] for v in bench_ces]))
            summary["ce"] = {c: ces[c] for c in bench}
            summary["mCE_reference"] = "the unpruned baseline (mCE 1.0 by definition)"
    return summary
