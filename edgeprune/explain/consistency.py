"""Explanation consistency of a candidate with the unpruned model: HCC and PE-score.

Maps come from the deployed artifact where its head allows (the exported feature map and
the linear head give CAM / Grad-CAM / Grad-CAM++ in closed form); otherwise from the
PyTorch model after the parity check, and the result says which path was used. Both
models explain the same class (default: the unpruned model's prediction).
Settings: HCC on Grad-CAM maps (Mantowsky et al. 2023), PE-score on Grad-CAM++ maps
(Pachon et al. 2023, provisional per-image form; see ``edgeprune.metrics.explanation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.explain.closed_form import explain_from_features
from edgeprune.explain.methods import closed_form_names
from edgeprune.files import write_npz
from edgeprune.metrics.classification import softmax
from edgeprune.metrics.explanation import PESettings, hcc, pe_score

HCC_METHOD = "gradcam"  # defaults; the run's explain settings choose (hcc-method, pe-method)
PE_METHOD = "gradcam++"
TARGETS = ("original", "label", "own")
ARTIFACT_PATH = "artifact: closed form from the exported feature map and the linear head"
PYTORCH_PATH = (
    "pytorch: the head is not GAP + linear (or a CAM method has no closed form), maps from the "
    "PyTorch model after the parity check"
)


@dataclass(frozen=True)
class ExplanationSettings:
    images: int = 0  # the first N images of the clean split (class-balanced order); 0: all
    target: str = "original"  # which class both models explain
    pe: PESettings = field(default_factory=PESettings)
    hcc_method: str = HCC_METHOD
    pe_method: str = PE_METHOD

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.hcc_method, self.pe_method)))

    def describe(self) -> dict:
        return {
            "images": self.images or "all",
            "target": self.target,
            "hcc_method": self.hcc_method,
            "pe_method": self.pe_method,
            "layer": "the feature map feeding global average pooling (last conv block)",
            "pe": self.pe.record(),
        }


def _targets(
    setting: str, logits: np.ndarray, labels: np.ndarray, reference: dict | None
) -> np.ndarray:
    if setting == "label":
        return labels
    if setting == "own" or reference is None:
        return logits.argmax(1)
    if setting == "original":
        return reference["targets"]
    raise EdgepruneError(f"explain-target must be one of {', '.join(TARGETS)}, got {setting!r}")


def _torch_maps(
    model, images: np.ndarray, normalize, targets: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    from edgeprune.explain.torch_cam import explain_model
    from edgeprune.inference import to_tensor

    maps, constant = [], []
    for start in range(0, len(images), 128):
        batch = normalize(to_tensor(images[start : start + 128]))
        result = explain_model(model, batch, targets[start : start + 128], method=method)
        maps.append(result.maps)
        constant.append(result.constant)
    return np.concatenate(maps).astype(np.float32), np.concatenate(constant)


def entry_maps(
    head: Path,
    outputs: dict,
    labels: np.ndarray,
    images: np.ndarray,
    model,
    normalize,
    settings: ExplanationSettings,
    reference: dict | None,
) -> dict:
    """Targets, confidences and the HCC and PE maps of one entry at input size.

    From the artifact's feature map when its head is GAP + linear (``head``: the linear
    weights the export wrote) and both methods have a closed form; else from ``model``.
    """
    n = len(labels) if not settings.images else min(settings.images, len(labels))
    logits = outputs["logits/clean"][:n]
    targets = _targets(settings.target, logits, labels[:n], reference)[:n]
    confidence = softmax(logits)[np.arange(n), targets]
    size = images.shape[1:3]
    data = {"targets": targets, "confidence": confidence, "predictions": logits.argmax(1)}
    closed_form = all(m in closed_form_names() for m in settings.methods)
    if head.exists() and "features/clean" in outputs and closed_form:
        with np.load(head) as w:
            weight = w["weight"]
        features = outputs["features/clean"][:n]
        for method in settings.methods:
            result = explain_from_features(
                features, weight, targets, method=method, output_size=size
            )
            data[method], data[f"{method}/constant"] = (
                result.maps.astype(np.float32),
                result.constant,
            )
        data["path"] = ARTIFACT_PATH
    else:
        for method in settings.methods:
            data[method], data[f"{method}/constant"] = _torch_maps(
                model, images[:n], normalize, targets, method
            )
        data["path"] = PYTORCH_PATH
    return data


def save_maps(path: Path, data: dict, limit: int | None = None) -> None:
    arrays = {k: (v[:limit] if limit else v) for k, v in data.items() if isinstance(v, np.ndarray)}
    arrays["path"] = np.array(data["path"])
    write_npz(path, arrays)


def load_maps(path: Path) -> dict:
    with np.load(path) as stored:
        data = {k: stored[k] for k in stored.files}
    data["path"] = str(data["path"])
    return data


def consistency(reference: dict, data: dict, settings: ExplanationSettings) -> dict:
    """HCC (Grad-CAM by default) and PE-score (Grad-CAM++) of an entry against the reference."""
    n = min(len(reference["targets"]), len(data["targets"]))
    hcc_method, pe_method = settings.hcc_method, settings.pe_method
    hcc_stats = hcc(reference[hcc_method][:n], data[hcc_method][:n])
    # A constant map carries no information about where the model looks: PE is computed on
    # the images whose two maps both vary, and is undefined when none does (a small input to
    # a deep network can leave every map constant), never a number made from flat maps.
    informative = ~(_constant(reference, pe_method, n) | _constant(data, pe_method, n))
    pe = None
    if informative.any():
        pe = pe_score(
            reference[pe_method][:n][informative],
            data[pe_method][:n][informative],
            reference["confidence"][:n][informative],
            data["confidence"][:n][informative],
            reference["targets"][:n][informative],
            settings=settings.pe,
        )
    undefined = []
    if np.isnan(hcc_stats["hcc"]):
        undefined.append(f"HCC: every {hcc_method} map pair has a constant map")
    if pe is None:
        undefined.append(f"PE-score: every {pe_method} map pair has a constant map")
    return {
        "hcc": None if np.isnan(hcc_stats["hcc"]) else hcc_stats["hcc"],
        "pe": None if pe is None else pe["pe_score"],
        "hcc_stats": hcc_stats,
        "pe_details": {
            **(pe or {}),
            "n_defined": int(informative.sum()),
            "n_undefined": int(n - informative.sum()),
        },
        "undefined": undefined,
        "path": data["path"],
        "reference_path": reference["path"],
        "n_images": n,
        "constant_maps": {m: int(np.sum(data[f"{m}/constant"][:n])) for m in settings.methods},
        "settings": settings.describe(),
    }


def _constant(maps: dict, method: str, n: int) -> np.ndarray:
    """Which of the first ``n`` maps of ``method`` are constant (recorded when they were
    made; maps saved before that flag are checked directly)."""
    flags = maps.get(f"{method}/constant")
    if flags is not None:
        return np.asarray(flags[:n], dtype=bool)
    values = np.asarray(maps[method][:n]).reshape(n, -1)
    return np.ptp(values, axis=1) == 0


__all__ = ["ExplanationSettings", "consistency", "entry_maps", "load_maps", "save_maps"]
