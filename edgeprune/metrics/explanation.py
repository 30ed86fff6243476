"""Explanation consistency between an original and a pruned model: HCC and PE-score.

Pure numpy functions of heatmaps (``(N, H, W)``, normally Grad-CAM / Grad-CAM++ maps
min-max normalised to [0, 1] and resized to the input size, both models explaining the
same class per image) and of the class confidences. See docs/metrics.md, sections HCC and
PE-score.

References:
    Mantowsky et al. 2023, "DNN Pruning and Its Effects on Robustness" (HCC).
    Pachon et al. 2023, "Is My Pruned Model Trustworthy? PE-Score" (PE-score).
    Selvaraju et al. 2017 (Grad-CAM); Chattopadhay et al. 2018 (Grad-CAM++).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.metrics.ssim import gaussian_window_size, ssim


def _map_pair(maps_original: np.ndarray, maps_pruned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    original = np.asarray(maps_original, dtype=np.float64)
    pruned = np.asarray(maps_pruned, dtype=np.float64)
    if original.ndim != 3 or original.shape != pruned.shape:
        raise EdgepruneError(
            "heatmaps of the original and the pruned model must both have shape (N, H, W); "
            f"got {original.shape} and {pruned.shape}"
        )
    n_images, height, width = original.shape
    return original.reshape(n_images, height * width), pruned.reshape(n_images, height * width)


# ----------------------------------------------------------------------------------- HCC


def hcc_per_image(maps_original: np.ndarray, maps_pruned: np.ndarray) -> np.ndarray:
    """Per-image Pearson correlation over pixels between two heatmaps.

    ``r_i = sum_p (x_p - mean x)(y_p - mean y) / sqrt(sum_p (x_p - mean x)^2 sum_p (y_p - mean y)^2)``

    Returns:
        ``(N,)`` float64, NaN where either map is constant (the correlation is undefined).
    """
    original, pruned = _map_pair(maps_original, maps_pruned)
    # decided on the raw values: centring a constant map need not give exact zeros
    constant = (np.ptp(original, axis=1) == 0) | (np.ptp(pruned, axis=1) == 0)
    original = original - original.mean(axis=1, keepdims=True)
    pruned = pruned - pruned.mean(axis=1, keepdims=True)
    norms = np.sqrt((original**2).sum(axis=1) * (pruned**2).sum(axis=1))
    safe_norms = np.where(constant, 1.0, norms)
    correlation = (original * pruned).sum(axis=1) / safe_norms
    # rounding can push |r| a hair past 1 for identical maps
    correlation = np.clip(correlation, -1.0, 1.0)
    return np.where(constant, np.nan, correlation)


def hcc(maps_original: np.ndarray, maps_pruned: np.ndarray) -> dict[str, float | int]:
    """Heatmap-based correlation coefficient (Mantowsky et al. 2023; exact form provisional).

    HCC = mean over images of the per-image Pearson correlation (``hcc_per_image``), taken
    over the images whose two maps are both non-constant; the others are counted in
    ``n_undefined``. Spread: median, population standard deviation, 5th / 95th percentile.

    Returns:
        dict with ``hcc``, ``median``, ``std``, ``p05``, ``p95`` (NaN when no image has a
        defined correlation), ``n``, ``n_defined``, ``n_undefined``.
    """
    correlations = hcc_per_image(maps_original, maps_pruned)
    defined = correlations[~np.isnan(correlations)]
    summary: dict[str, float | int] = {
        "n": int(correlations.size),
        "n_defined": int(defined.size),
        "n_undefined": int(correlations.size - defined.size),
    }
    if defined.size == 0:
        stats = dict.fromkeys(("hcc", "median", "std", "p05", "p95"), float("nan"))
    else:
        stats = {
            "hcc": float(defined.mean()),
            "median": float(np.median(defined)),
            "std": float(defined.std()),
            "p05": float(np.percentile(defined, 5)),
            "p95": float(np.percentile(defined, 95)),
        }
    return {**stats, **summary}


# ------------------------------------------------------------------------------ PE-score


def _mean_of_ssim_and_iou(ssim_: np.ndarray, iou_: np.ndarray, dconf: np.ndarray) -> np.ndarray:
    return 0.5 * (ssim_ + iou_) * (1.0 - dconf)


def _product(ssim_: np.ndarray, iou_: np.ndarray, dconf: np.ndarray) -> np.ndarray:
    return ssim_ * iou_ * (1.0 - dconf)


PE_COMBINATIONS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    # docs/metrics.md's provisional default: ((S + I) / 2) * (1 - dC)
    "mean_ssim_iou_times_confidence": _mean_of_ssim_and_iou,
    # a stricter alternative: S * I * (1 - dC)
    "product_ssim_iou_confidence": _product,
}
"""Per-image combinations ``PE_i = f(S, I, dC)``; both are provisional forms."""


@dataclass(frozen=True)
class PESettings:
    """Every setting of the PE-score; recorded next to each reported value.

    The per-image form is provisional (the paper's exact formula could not be confirmed).
    """

    data_range: float = 1.0
    """SSIM data range (maps are in [0, 1])."""
    win_size: int | None = 7
    """SSIM window side; None: skimage's default (7, or 11 for a Gaussian with sigma 1.5)."""
    gaussian_weights: bool = False
    """Gaussian (True) or uniform (False) SSIM window."""
    sigma: float = 1.5
    """Standard deviation of the Gaussian SSIM window."""
    use_sample_covariance: bool = True
    """SSIM (co)variances scaled by NP / (NP - 1), as skimage's default."""
    K1: float = 0.01
    K2: float = 0.03
    iou_threshold: float = 0.5
    """Maps are binarised as ``M >= iou_threshold`` for the IoU."""
    clip_ssim: bool = True
    """Clip S to [0, 1] (SSIM is in [-1, 1]) so that PE stays in [0, 1]."""
    combination: str = "mean_ssim_iou_times_confidence"
    """Name of the per-image combination in ``PE_COMBINATIONS``."""

    def __post_init__(self) -> None:
        if self.combination not in PE_COMBINATIONS:
            raise EdgepruneError(
                f"unknown PE combination {self.combination!r}; known: {', '.join(PE_COMBINATIONS)}"
            )

    def record(self) -> dict[str, Any]:
        """All settings as a plain dict, with the effective SSIM window and the form."""
        recorded = asdict(self)
        if self.win_size is None:
            recorded["win_size"] = gaussian_window_size(self.sigma) if self.gaussian_weights else 7
        recorded["ssim_window"] = "gaussian" if self.gaussian_weights else "uniform"
        recorded["form"] = "provisional"
        return recorded


def iou(maps_original: np.ndarray, maps_pruned: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Per-image IoU of the thresholded maps ``M >= threshold``; 1 where both are empty."""
    original, pruned = _map_pair(maps_original, maps_pruned)
    original_mask, pruned_mask = original >= threshold, pruned >= threshold
    intersection = (original_mask & pruned_mask).sum(axis=1)
    union = (original_mask | pruned_mask).sum(axis=1)
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def _confidence(values: np.ndarray, name: str, n_images: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n_images,):
        raise EdgepruneError(
            f"{name} must hold one probability per image, shape ({n_images},); got {values.shape}"
        )
    if np.any(~np.isfinite(values)) or values.min(initial=0.0) < 0 or values.max(initial=0.0) > 1:
        raise EdgepruneError(f"{name} must be probabilities in [0, 1]")
    return values


def pe_components(
    maps_original: np.ndarray,
    maps_pruned: np.ndarray,
    conf_original: np.ndarray,
    conf_pruned: np.ndarray,
    *,
    settings: PESettings = PESettings(),
) -> dict[str, np.ndarray]:
    """Per-image terms of the PE-score (provisional per-image form).

    ``S = SSIM(M_o, M_p)`` (clipped to [0, 1] if ``settings.clip_ssim``),
    ``I = IoU(M_o >= t, M_p >= t)`` (1 if both empty), ``dC = |p_o(c) - p_p(c)|``,
    ``PE_i = ((S + I) / 2) * (1 - dC)`` for the default combination.

    Args:
        maps_original: ``(N, H, W)`` maps in [0, 1] of the original model.
        maps_pruned: ``(N, H, W)`` maps in [0, 1] of the pruned model, same classes.
        conf_original: ``(N,)`` softmax probability of the explained class c, original model.
        conf_pruned: ``(N,)`` probability of the same class c under the pruned model.
        settings: SSIM, IoU and combination settings.

    Returns:
        dict of ``(N,)`` arrays: ``ssim``, ``iou``, ``confidence_change``, ``pe``.
    """
    n_images = np.asarray(maps_original).shape[0]
    p_original = _confidence(conf_original, "conf_original", n_images)
    p_pruned = _confidence(conf_pruned, "conf_pruned", n_images)
    structural = ssim(
        maps_original,
        maps_pruned,
        data_range=settings.data_range,
        win_size=settings.win_size,
        gaussian_weights=settings.gaussian_weights,
        sigma=settings.sigma,
        use_sample_covariance=settings.use_sample_covariance,
        K1=settings.K1,
        K2=settings.K2,
    )
    if settings.clip_ssim:
        structural = np.clip(structural, 0.0, 1.0)
    overlap = iou(maps_original, maps_pruned, settings.iou_threshold)
    confidence_change = np.abs(p_original - p_pruned)
    combine = PE_COMBINATIONS[settings.combination]
    return {
        "ssim": structural,
        "iou": overlap,
        "confidence_change": confidence_change,
        "pe": combine(structural, overlap, confidence_change),
    }


def pe_score(
    maps_original: np.ndarray,
    maps_pruned: np.ndarray,
    conf_original: np.ndarray,
    conf_pruned: np.ndarray,
    classes: np.ndarray,
    *,
    settings: PESettings = PESettings(),
) -> dict[str, Any]:
    """PE-score (Pachon et al. 2023): per-class mean of ``PE_i``, weighted by class share.

    ``PE = sum_k (N_k / N) * mean_{i in class k} PE_{k,i}`` with ``PE_i`` from
    ``pe_components`` (provisional per-image form). With weights ``N_k / N`` this equals
    the plain mean of ``PE_i`` over all images; the per-class scores are what the class
    grouping adds. PE is in [0, 1] and is 1 for an unchanged model.

    Args:
        maps_original: ``(N, H, W)`` maps in [0, 1] of the original model.
        maps_pruned: ``(N, H, W)`` maps in [0, 1] of the pruned model, same classes.
        conf_original: ``(N,)`` probability of the explained class, original model.
        conf_pruned: ``(N,)`` probability of the same class, pruned model.
        classes: ``(N,)`` class each image is grouped under (normally the explained class).
        settings: all settings; recorded in the result.

    Returns:
        dict with ``pe_score``, ``per_class`` (class -> score), ``class_counts``,
        ``class_weights``, ``mean_ssim``, ``mean_iou``, ``mean_confidence_change``, ``n``
        and ``settings`` (every setting, the effective window and ``form: provisional``).
    """
    terms = pe_components(maps_original, maps_pruned, conf_original, conf_pruned, settings=settings)
    classes = np.asarray(classes)
    n_images = terms["pe"].size
    if classes.shape != (n_images,):
        raise EdgepruneError(f"classes must have shape ({n_images},); got {classes.shape}")
    if n_images == 0:
        raise EdgepruneError("PE-score needs at least one image")
    labels, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    class_means = np.bincount(inverse, weights=terms["pe"]) / counts
    class_weights = counts / n_images
    return {
        "pe_score": float(np.sum(class_weights * class_means)),
        "per_class": {_key(k): float(v) for k, v in zip(labels, class_means)},
        "class_counts": {_key(k): int(v) for k, v in zip(labels, counts)},
        "class_weights": {_key(k): float(v) for k, v in zip(labels, class_weights)},
        "mean_ssim": float(terms["ssim"].mean()),
        "mean_iou": float(terms["iou"].mean()),
        "mean_confidence_change": float(terms["confidence_change"].mean()),
        "n": int(n_images),
        "settings": settings.record(),
    }


def _key(label: Any) -> Any:
    """A class label as a plain Python value (int for integer labels) for JSON reports."""
    return label.item() if isinstance(label, np.generic) else label
