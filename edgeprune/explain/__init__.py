"""Class activation maps: closed form on the deployed artifact, or on a PyTorch model.

``import edgeprune.explain`` needs numpy only: the closed-form path (``cam_maps``,
``explain_from_features``) works from an artifact's feature-map output and the linear
weights. The PyTorch path lives in ``edgeprune.explain.torch_cam`` and is imported on first
use of one of its names (``explain_model``, ``raw_cam_maps``, ``default_target_layer``, ...).
"""

from __future__ import annotations

import importlib
from typing import Any

from edgeprune.explain.cam_weights import (
    GRADCAM_PLUSPLUS_EPS,
    gradcam_plusplus_weights,
    gradcam_weights,
    weighted_feature_sum,
)
from edgeprune.explain.closed_form import (
    CLOSED_FORM_METHODS,
    broadcast_target_classes,
    cam_maps,
    closed_form_weights,
    explain_from_features,
)
from edgeprune.explain.postprocess import (
    CamMaps,
    constant_maps,
    normalize_maps,
    postprocess_maps,
    resize_bilinear,
)

# Names served lazily from torch_cam so that this package imports without torch.
_TORCH_NAMES = (
    "TORCH_CAM_METHODS",
    "LayerCapture",
    "capture_activations_and_gradients",
    "default_target_layer",
    "explain_model",
    "raw_cam_maps",
    "resolve_layer",
    "score_cam_weights",
)


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module("edgeprune.explain.torch_cam"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLOSED_FORM_METHODS",
    "GRADCAM_PLUSPLUS_EPS",
    "CamMaps",
    "broadcast_target_classes",
    "cam_maps",
    "closed_form_weights",
    "constant_maps",
    "explain_from_features",
    "gradcam_plusplus_weights",
    "gradcam_weights",
    "normalize_maps",
    "postprocess_maps",
    "resize_bilinear",
    "weighted_feature_sum",
    *_TORCH_NAMES,
]
