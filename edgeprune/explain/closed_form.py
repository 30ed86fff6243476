"""CAM, Grad-CAM and Grad-CAM++ in closed form for a GAP + linear head (numpy only).

For a head ``y = W @ GAP(A) + b`` the gradient of the logit ``y^c`` w.r.t. the feature map
is constant over the map::

    dy^c / dA^k_ij = W_ck / (h * w)

so the three maps follow from the feature map ``A`` (N, K, h, w) and the linear weights
``W`` (C, K) alone, with no backward pass. This is how edgeprune explains the deployed
artifact: the exported ONNX / TensorRT graph returns ``A`` as a second output and the maps
are computed on the host (DESIGN.md, "Explanations on the deployed artifact").

With ``g_k = W_ck / (h*w)`` and ``S_k = sum_ij A^k_ij``:

- CAM (Zhou et al. 2016):    ``w_k = W_ck``
- Grad-CAM (Selvaraju 2017): ``w_k = g_k``  (= CAM / (h*w); the maps differ only in scale)
- Grad-CAM++ (Chattopadhay 2018): ``w_k = h*w * a_k * ReLU(g_k)`` with
  ``a_k = g_k^2 / (2 g_k^2 + S_k g_k^3 + eps)``, ``a_k = 0`` where ``g_k = 0``,
  ``eps = 1e-6`` as in pytorch-grad-cam.

and ``L = ReLU(sum_k w_k A^k)`` in every case. The Grad-CAM++ form is the general formula
of ``cam_weights.gradcam_plusplus_weights`` with a constant gradient summed over the
``h*w`` positions; it is evaluated here without materialising the (N, K, h, w) gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.explain.cam_weights import weighted_feature_sum
from edgeprune.explain.methods import CAM_METHODS, ClosedForm, closed_form_names
from edgeprune.explain.postprocess import CamMaps, postprocess_maps

CLOSED_FORM_METHODS = closed_form_names()


def broadcast_target_classes(
    target_class: int | Sequence[int] | np.ndarray, n_images: int, n_classes: int | None = None
) -> np.ndarray:
    """Return one int64 target class per image, checked against the number of classes.

    Args:
        target_class: one class for every image, or one class per image.
        n_images: batch size N.
        n_classes: number of classes C, or ``None`` to skip the range check.
    """
    classes = np.asarray(target_class)
    if classes.ndim == 0:
        classes = np.full(n_images, int(classes), dtype=np.int64)
    if classes.shape != (n_images,) or not np.issubdtype(classes.dtype, np.integer):
        raise EdgepruneError(
            f"target classes must be one integer or {n_images} integers (one per image); "
            f"got an array of shape {classes.shape} and dtype {classes.dtype}"
        )
    if n_classes is not None and classes.size and (classes.min() < 0 or classes.max() >= n_classes):
        raise EdgepruneError(
            f"target classes must lie in [0, {n_classes}); got values from "
            f"{classes.min()} to {classes.max()}"
        )
    return classes.astype(np.int64, copy=False)


def closed_form_weights(
    features: np.ndarray,
    fc_weight: np.ndarray,
    target_class: int | Sequence[int] | np.ndarray,
    method: str = "gradcam++",
) -> np.ndarray:
    """Channel weights ``w_k`` of CAM / Grad-CAM / Grad-CAM++ for a GAP + linear head.

    Args:
        features: ``(N, K, h, w)`` feature map that enters global average pooling.
        fc_weight: ``(C, K)`` weight of the linear layer after the pooling.
        target_class: class explained, one for all images or one per image.
        method: ``"cam"``, ``"gradcam"`` or ``"gradcam++"``.

    Returns:
        ``(N, K)`` float64 weights.
    """
    features = np.asarray(features, dtype=np.float64)
    fc_weight = np.asarray(fc_weight, dtype=np.float64)
    if features.ndim != 4:
        raise EdgepruneError(f"features must have shape (N, K, h, w); got {features.shape}")
    if fc_weight.ndim != 2 or fc_weight.shape[1] != features.shape[1]:
        raise EdgepruneError(
            f"fc_weight must have shape (C, {features.shape[1]}) to match the "
            f"{features.shape[1]} feature channels; got {fc_weight.shape}"
        )
    classes = broadcast_target_classes(target_class, features.shape[0], fc_weight.shape[0])
    return _closed_form(method)(features, fc_weight[classes])  # W_ck for each image's class


def _closed_form(method: str) -> ClosedForm:
    known = CAM_METHODS.get(method) if method in CAM_METHODS else None
    if known is None or known.closed_form is None:
        raise EdgepruneError(
            f"unknown closed-form CAM method {method!r}; known: {', '.join(CLOSED_FORM_METHODS)}"
        )
    return known.closed_form


def cam_maps(
    features: np.ndarray,
    fc_weight: np.ndarray,
    target_class: int | Sequence[int] | np.ndarray,
    method: str = "gradcam++",
) -> np.ndarray:
    """Raw CAM / Grad-CAM / Grad-CAM++ maps ``ReLU(sum_k w_k A^k)`` for a GAP + linear head.

    Computed in float64. The maps are rectified but neither normalised nor resized; see
    ``postprocess_maps`` or ``explain_from_features`` for the [0, 1] maps at input size.

    Args:
        features: ``(N, K, h, w)`` feature map that enters global average pooling.
        fc_weight: ``(C, K)`` weight of the linear layer after the pooling.
        target_class: class explained, one for all images or one per image.
        method: ``"cam"``, ``"gradcam"`` or ``"gradcam++"``.

    Returns:
        ``(N, h, w)`` float64 maps.
    """
    weights = closed_form_weights(features, fc_weight, target_class, method)
    return weighted_feature_sum(features, weights)


def explain_from_features(
    features: np.ndarray,
    fc_weight: np.ndarray,
    target_class: int | Sequence[int] | np.ndarray,
    method: str = "gradcam++",
    output_size: tuple[int, int] | None = None,
    dtype: np.dtype | type = np.float32,
) -> CamMaps:
    """Closed-form maps, bilinearly resized to ``output_size`` and min-max normalised to [0, 1].

    This is the whole explanation step for a deployed artifact that returns its last
    feature map: ``cam_maps`` followed by ``postprocess_maps``.

    Args:
        features: ``(N, K, h, w)`` feature map that enters global average pooling.
        fc_weight: ``(C, K)`` weight of the linear layer after the pooling.
        target_class: class explained, one for all images or one per image.
        method: ``"cam"``, ``"gradcam"`` or ``"gradcam++"``.
        output_size: ``(H, W)`` of the model input; ``None`` keeps the feature-map size.
        dtype: dtype of the returned maps.

    Returns:
        ``CamMaps(maps, constant)``: ``(N, H, W)`` maps and a boolean mask of the maps
        that were constant (returned as all zeros).
    """
    raw = cam_maps(features, fc_weight, target_class, method)
    return postprocess_maps(raw, output_size, dtype=dtype)
