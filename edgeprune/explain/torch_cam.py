"""Grad-CAM, Grad-CAM++, CAM and Score-CAM on a PyTorch model, batched (needs torch).

One forward and one backward per batch, no loop over images. A forward hook on the target
layer replaces the layer's output by a detached copy that requires grad, so the backward
pass only runs through the part of the network after the layer (the head, for the default
layer) and works for frozen parameters too. The hooked copy is passed on through a
``clone`` so that an in-place operation after the layer (``ReLU(inplace=True)``) cannot
overwrite the captured activations.

The channel-weight formulas are the numpy ones of ``edgeprune.explain.cam_weights``, the
same that the closed-form path uses; this module only captures ``A`` and ``dy^c/dA``.
Grad-CAM and Grad-CAM++ agree with pytorch-grad-cam's ``GradCAM`` / ``GradCAMPlusPlus``
with ``ClassifierOutputTarget`` (tests/explain/test_cam_agreement.py).

The model is run in eval mode (batch-norm statistics fixed, so images of a batch do not
influence each other) and its previous mode is restored afterwards.

References: Zhou et al. 2016 (CAM), Selvaraju et al. 2017 (Grad-CAM), Chattopadhay et al.
2018 (Grad-CAM++), Wang et al. 2020 (Score-CAM).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.explain.cam_weights import weighted_feature_sum
from edgeprune.explain.closed_form import broadcast_target_classes
from edgeprune.explain.methods import CAM_METHODS
from edgeprune.explain.postprocess import CamMaps, postprocess_maps

TORCH_CAM_METHODS = tuple(CAM_METHODS.names())


class LayerCapture(NamedTuple):
    """What one forward (+ backward) pass recorded, as float64 numpy arrays."""

    logits: np.ndarray
    """``(N, C)`` model outputs."""
    activations: np.ndarray
    """``(N, K, h, w)`` output of the target layer."""
    gradients: np.ndarray | None
    """``(N, K, h, w)`` d(target logit)/d(activations), or None for a gradient-free pass."""


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """Return the target layer: a module of ``model``, a dotted name, or None for the default."""
    if layer is None:
        return default_target_layer(model)
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as error:
            raise EdgepruneError(f"model has no layer named {layer!r}") from error
    if not any(module is layer for module in model.modules()):
        raise EdgepruneError(f"target layer {type(layer).__name__} is not a module of the model")
    return layer


def _has_head_module(module: nn.Module) -> bool:
    head_types = (nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten)
    return any(isinstance(sub, head_types) for sub in module.modules())


def default_target_layer(model: nn.Module) -> nn.Module:
    """The last convolutional block: the layer whose output is the last conv feature map.

    Rule: take the last ``nn.Conv2d`` in registration order and climb to its outermost
    ancestor that contains no head module (``Linear``, adaptive pooling, ``Flatten``). For
    torchvision ResNets that is ``layer4``, for MobileNet / EfficientNet / VGG ``features``
    -- the layers pytorch-grad-cam's documentation recommends (``layer4[-1]`` and
    ``features[-1]`` give the same output). If every ancestor holds the head (a flat
    ``Sequential``), the last convolution itself is returned.
    """
    named = dict(model.named_modules())
    conv_names = [name for name, module in named.items() if isinstance(module, nn.Conv2d)]
    if not conv_names:
        raise EdgepruneError(
            f"{type(model).__name__} has no Conv2d layer; pass the target layer explicitly"
        )
    last_conv = conv_names[-1]
    parts = last_conv.split(".")
    # ancestors from the outermost (below the model itself) to the conv
    for depth in range(1, len(parts) + 1):
        candidate = named[".".join(parts[:depth])]
        if not _has_head_module(candidate):
            return candidate
    return named[last_conv]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # restore each module's own flag: a model in train mode may hold frozen eval-mode parts
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def _capture_output(layer: nn.Module, make_leaf: bool) -> Iterator[list[torch.Tensor]]:
    """Record the layer's output; with ``make_leaf`` cut the graph there (see module doc)."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor | None:
        if not isinstance(output, torch.Tensor):
            raise EdgepruneError(
                f"target layer {type(layer).__name__} returns {type(output).__name__}, "
                "not a tensor; choose a layer that outputs a feature map"
            )
        if not make_leaf:
            captured.append(output.detach().clone())
            return None
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def _single_capture(captured: list[torch.Tensor]) -> torch.Tensor:
    if len(captured) != 1:
        raise EdgepruneError(
            f"the target layer ran {len(captured)} times in one forward pass; "
            "choose a layer that runs once"
        )
    activations = captured[0]
    if activations.ndim != 4:
        raise EdgepruneError(
            f"target layer output must be a (N, K, h, w) feature map; got {tuple(activations.shape)}"
        )
    return activations


def capture_activations_and_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    target_classes: int | Sequence[int] | np.ndarray,
    layer: nn.Module | str | None = None,
) -> LayerCapture:
    """One forward and one backward pass: logits, ``A`` and ``dy^c/dA`` for every image.

    The backward pass differentiates ``sum_n y^{c_n}_n``; images are independent in eval
    mode, so this gives each image the gradient of its own target logit.
    """
    target_layer = resolve_layer(model, layer)
    with _eval_mode(model), torch.enable_grad(), _capture_output(target_layer, True) as captured:
        logits = model(inputs)
        activations = _single_capture(captured)
        classes = broadcast_target_classes(target_classes, logits.shape[0], logits.shape[1])
        index = torch.as_tensor(classes, device=logits.device)[:, None]
        target_logits = logits.gather(1, index).sum()
        (gradients,) = torch.autograd.grad(target_logits, activations)
    return LayerCapture(
        logits.detach().double().cpu().numpy(),
        activations.detach().double().cpu().numpy(),
        gradients.double().cpu().numpy(),
    )


def _classifier_weight(model: nn.Module, classifier: nn.Module | str | None) -> np.ndarray:
    if classifier is None:
        raise EdgepruneError(
            "CAM needs the linear layer after global average pooling: pass classifier="
        )
    linear = resolve_layer(model, classifier)
    if not isinstance(linear, nn.Linear):
        raise EdgepruneError(f"CAM classifier must be an nn.Linear; got {type(linear).__name__}")
    return linear.weight.detach().double().cpu().numpy()


def score_cam_weights(
    model: nn.Module,
    inputs: torch.Tensor,
    activations: np.ndarray,
    target_classes: np.ndarray,
    chunk_size: int = 256,
) -> np.ndarray:
    """Score-CAM channel weights (Wang et al. 2020), gradient-free, as pytorch-grad-cam.

    Each channel ``A^k`` is upsampled to the input size (bilinear, ``align_corners=True``),
    min-max normalised (``+1e-8``) into a mask ``H^k``; the weight is the target logit of
    ``X * H^k``, softmax-normalised over the channels. The N*K masked images are run in
    chunks of ``chunk_size``; there is no loop over images.
    """
    n_images, n_channels = activations.shape[:2]
    dtype, device = inputs.dtype, inputs.device
    with torch.inference_mode():
        upsampled = nn.functional.interpolate(
            torch.as_tensor(activations, dtype=dtype, device=device),
            size=tuple(inputs.shape[-2:]),
            mode="bilinear",
            align_corners=True,
        )
        flat = upsampled.flatten(2)
        low = flat.min(dim=-1).values[:, :, None, None]
        high = flat.max(dim=-1).values[:, :, None, None]
        masks = (upsampled - low) / (high - low + 1e-8)
        masked = (inputs[:, None] * masks[:, :, None]).flatten(0, 1)  # (N*K, 3, H, W)
        classes = torch.as_tensor(np.repeat(target_classes, n_channels), device=device)
        scores = torch.empty(masked.shape[0], dtype=torch.float64)
        for start in range(0, masked.shape[0], chunk_size):
            logits = model(masked[start : start + chunk_size])
            chunk_classes = classes[start : start + chunk_size, None]
            scores[start : start + chunk_size] = (
                logits.gather(1, chunk_classes)[:, 0].double().cpu()
            )
        return torch.softmax(scores.view(n_images, n_channels), dim=-1).numpy()


def raw_cam_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    target_classes: int | Sequence[int] | np.ndarray,
    method: str = "gradcam",
    layer: nn.Module | str | None = None,
    classifier: nn.Module | str | None = None,
) -> np.ndarray:
    """Rectified, unnormalised ``(N, h, w)`` float64 maps at the target layer's resolution.

    Args:
        model: a classifier returning ``(N, C)`` logits.
        inputs: ``(N, 3, H, W)`` batch on the model's device.
        target_classes: class explained, one for all images or one per image.
        method: ``"gradcam"``, ``"gradcam++"``, ``"cam"`` (GAP + linear heads only; pass
            ``classifier``, the linear layer) or ``"scorecam"``.
        layer: target layer (module or dotted name); default ``default_target_layer``.
        classifier: the linear layer after global average pooling, for ``"cam"``.
    """
    if method not in TORCH_CAM_METHODS:
        raise EdgepruneError(
            f"unknown CAM method {method!r}; known: {', '.join(TORCH_CAM_METHODS)}"
        )
    cam = CAM_METHODS.get(method)
    if cam.from_gradients is not None:
        capture = capture_activations_and_gradients(model, inputs, target_classes, layer)
        weights = cam.from_gradients(capture.activations, capture.gradients)
        return weighted_feature_sum(capture.activations, weights)

    target_layer = resolve_layer(model, layer)
    with (
        _eval_mode(model),
        torch.inference_mode(),
        _capture_output(target_layer, False) as captured,
    ):
        logits = model(inputs)
        activations = _single_capture(captured).double().cpu().numpy()
    classes = broadcast_target_classes(target_classes, logits.shape[0], logits.shape[1])
    if cam.closed_form is not None:  # CAM: the classifier rows of the explained classes
        weights = cam.closed_form(activations, _classifier_weight(model, classifier)[classes])
    else:  # Score-CAM: forward passes on masked inputs
        with _eval_mode(model):
            weights = score_cam_weights(model, inputs, activations, classes)
    return weighted_feature_sum(activations, weights)


def explain_model(
    model: nn.Module,
    inputs: torch.Tensor,
    target_classes: int | Sequence[int] | np.ndarray,
    method: str = "gradcam",
    layer: nn.Module | str | None = None,
    classifier: nn.Module | str | None = None,
) -> CamMaps:
    """Maps at input size, min-max normalised to [0, 1], with the constant ones flagged.

    ``raw_cam_maps`` followed by ``postprocess_maps``; arguments as for ``raw_cam_maps``.
    """
    raw = raw_cam_maps(model, inputs, target_classes, method, layer, classifier)
    return postprocess_maps(raw, tuple(inputs.shape[-2:]))
