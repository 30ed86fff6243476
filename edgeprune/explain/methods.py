"""CAM methods by name: how each weights the channels of the target layer's feature map.

Every method ends in ``L = ReLU(sum_k w_k A^k)``; they differ in the weights ``w_k``:

- ``closed_form(features, class_weights)``: the weights for a GAP + linear head from the
  feature map and the rows of the linear weight of the explained classes, without a
  backward pass (``edgeprune.explain.closed_form``). A method with a closed form explains
  the deployed artifact itself; the others run on the PyTorch model.
- ``from_gradients(activations, gradients)``: the weights from a captured forward and
  backward pass on the PyTorch model (``edgeprune.explain.torch_cam``); CAM takes the
  classifier rows instead and Score-CAM scores masked inputs.

The configuration's ``hcc-method`` and ``pe-method`` choices are the names registered here.
numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeprune.explain.cam_weights import (
    GRADCAM_PLUSPLUS_EPS,
    gradcam_plusplus_weights,
    gradcam_weights,
)
from edgeprune.registry import Registry

ClosedForm = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (features, class rows) -> w
FromGradients = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (activations, grads) -> w


@dataclass(frozen=True)
class CamMethod:
    name: str
    display: str  # how reports name it
    reference: str  # the paper
    closed_form: ClosedForm | None = None
    from_gradients: FromGradients | None = None


def _cam_closed_form(features: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    return class_weights


def _gradcam_closed_form(features: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    height, width = features.shape[2:]
    return class_weights / (height * width)  # the constant dy^c/dA^k_ij, averaged


def _gradcam_plusplus_closed_form(features: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    height, width = features.shape[2:]
    grad = class_weights / (height * width)
    activation_sums = features.sum(axis=(2, 3))
    grad_squared = grad**2
    alpha = grad_squared / (
        2.0 * grad_squared + activation_sums * grad_squared * grad + GRADCAM_PLUSPLUS_EPS
    )
    alpha = np.where(grad != 0.0, alpha, 0.0)
    # sum_ij a_ij ReLU(g_ij) over h*w identical terms
    return (height * width) * alpha * np.maximum(grad, 0.0)


CAM_METHODS: Registry[CamMethod] = Registry("CAM method")
CAM_METHODS.register(
    "cam", CamMethod("cam", "CAM", "Zhou et al. 2016", closed_form=_cam_closed_form)
)
CAM_METHODS.register(
    "gradcam",
    CamMethod(
        "gradcam",
        "Grad-CAM",
        "Selvaraju et al. 2017",
        closed_form=_gradcam_closed_form,
        from_gradients=lambda activations, gradients: gradcam_weights(gradients),
    ),
)
CAM_METHODS.register(
    "gradcam++",
    CamMethod(
        "gradcam++",
        "Grad-CAM++",
        "Chattopadhay et al. 2018",
        closed_form=_gradcam_plusplus_closed_form,
        from_gradients=gradcam_plusplus_weights,
    ),
)
CAM_METHODS.register("scorecam", CamMethod("scorecam", "Score-CAM", "Wang et al. 2020"))


def closed_form_names() -> tuple[str, ...]:
    """The methods that explain a deployed artifact directly (GAP + linear heads)."""
    return tuple(n for n in CAM_METHODS.names() if CAM_METHODS.get(n).closed_form is not None)
