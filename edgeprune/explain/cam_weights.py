"""Channel weights of Grad-CAM and Grad-CAM++ from activations and gradients (numpy only).

These are the general formulas, for any head: the gradient ``g = dy^c / dA^k_ij`` may vary
over the map. ``edgeprune.explain.closed_form`` specialises them to a GAP + linear head,
where ``g`` is constant per channel; ``edgeprune.explain.torch_cam`` feeds them the
activations and gradients it captures from a PyTorch model. Keeping one implementation of
each formula means both paths agree by construction.

References:
    Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization" (Grad-CAM, eq. 1-2).
    Chattopadhay et al. 2018, "Grad-CAM++: Improved Visual Explanations for Deep
    Convolutional Networks" (Grad-CAM++, eq. 19 with the ReLU of eq. 7).
"""

from __future__ import annotations

import numpy as np

from edgeprune.errors import EdgepruneError

# The eps of pytorch-grad-cam's GradCAMPlusPlus (grad_cam_plusplus.py). It is not negligible:
# for a GAP head g = W_ck / (h*w) is small, so g^2 is often within an order of magnitude of
# eps. Using the same value is what makes the maps agree with the reference implementation.
GRADCAM_PLUSPLUS_EPS = 1e-6


def _check_activations_and_gradients(activations: np.ndarray, gradients: np.ndarray) -> None:
    if activations.ndim != 4:
        raise EdgepruneError(
            f"activations must have shape (N, K, h, w); got shape {activations.shape}"
        )
    if gradients.shape != activations.shape:
        raise EdgepruneError(
            f"gradients must have the shape of the activations {activations.shape}; "
            f"got {gradients.shape}"
        )


def gradcam_weights(gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM channel weights ``alpha_k = mean_ij dy^c/dA^k_ij``.

    Args:
        gradients: ``(N, K, h, w)`` gradients of the target logit w.r.t. the feature map.

    Returns:
        ``(N, K)`` float64 weights.
    """
    gradients = np.asarray(gradients, dtype=np.float64)
    if gradients.ndim != 4:
        raise EdgepruneError(f"gradients must have shape (N, K, h, w); got {gradients.shape}")
    return gradients.mean(axis=(2, 3))


def gradcam_plusplus_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM++ channel weights.

    With ``g = dy^c/dA^k_ij``::

        a_ij = g^2 / (2 g^2 + sum_ab A^k_ab * g^3 + eps)    (0 where g = 0)
        w_k  = sum_ij a_ij * ReLU(g)

    ``eps = 1e-6`` and the unrectified activation sum follow pytorch-grad-cam.

    Args:
        activations: ``(N, K, h, w)`` feature map ``A`` of the target layer.
        gradients: ``(N, K, h, w)`` gradients of the target logit w.r.t. ``A``.

    Returns:
        ``(N, K)`` float64 weights.
    """
    activations = np.asarray(activations, dtype=np.float64)
    gradients = np.asarray(gradients, dtype=np.float64)
    _check_activations_and_gradients(activations, gradients)
    grads_squared = gradients**2
    activation_sums = activations.sum(axis=(2, 3), keepdims=True)
    alpha = grads_squared / (
        2.0 * grads_squared + activation_sums * grads_squared * gradients + GRADCAM_PLUSPLUS_EPS
    )
    alpha = np.where(gradients != 0.0, alpha, 0.0)
    return (alpha * np.maximum(gradients, 0.0)).sum(axis=(2, 3))


def weighted_feature_sum(activations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Raw class activation map ``L = ReLU(sum_k w_k A^k)``.

    Args:
        activations: ``(N, K, h, w)`` feature map.
        weights: ``(N, K)`` channel weights.

    Returns:
        ``(N, h, w)`` float64 maps, rectified but not normalised.
    """
    activations = np.asarray(activations, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != activations.shape[:2]:
        raise EdgepruneError(
            f"weights must have shape {activations.shape[:2]} (N, K); got {weights.shape}"
        )
    return np.maximum(np.einsum("nk,nkhw->nhw", weights, activations), 0.0)
