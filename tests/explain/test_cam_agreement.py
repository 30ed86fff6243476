"""edgeprune's CAMs against pytorch-grad-cam, and the closed form against the torch path.

Models are randomly initialised (seeded) with batch-norm statistics set on random data;
see conftest.py. Constant maps (all zero after the ReLU) have no defined correlation:
they are required to be constant on both sides, counted, and excluded from the
correlation check, and at least half of each batch must be non-constant.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from edgeprune.explain.cam_weights import gradcam_plusplus_weights, gradcam_weights
from edgeprune.explain.closed_form import cam_maps, explain_from_features
from edgeprune.explain.postprocess import postprocess_maps
from edgeprune.explain.torch_cam import (
    capture_activations_and_gradients,
    explain_model,
    raw_cam_maps,
)

MIN_CORRELATION = 0.999
REFERENCE_CAMS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "scorecam": ScoreCAM}


def per_map_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b)])


def target_classes(model, inputs: torch.Tensor, seed: int = 3) -> np.ndarray:
    """Explicit targets: the model's prediction for even images, a random class for odd ones.

    A random-weight net predicts nearly one class for random inputs, and for a random class
    the map is often all negative (constant zero after the ReLU); mixing both covers
    several classes and keeps at least half of the maps informative.
    """
    with torch.no_grad():
        predicted = model(inputs).argmax(dim=1).numpy()
    classes = np.random.default_rng(seed).integers(0, 10, size=len(inputs))
    classes[::2] = predicted[::2]
    return classes


def reference_maps(model, layer_name: str, inputs, classes, method: str) -> np.ndarray:
    """pytorch-grad-cam's maps for explicit targets at the same layer."""
    reference_cls = REFERENCE_CAMS[method]
    targets = [ClassifierOutputTarget(int(c)) for c in classes]
    with reference_cls(model=model, target_layers=[model.get_submodule(layer_name)]) as cam:
        return cam(input_tensor=inputs, targets=targets)


def assert_maps_agree(ours, reference: np.ndarray, min_non_constant: int) -> float:
    """Same constant maps on both sides; per-map Pearson >= 0.999 on the rest."""
    reference_constant = np.ptp(reference.reshape(len(reference), -1), axis=1) == 0
    np.testing.assert_array_equal(ours.constant, reference_constant)
    keep = ~ours.constant
    assert keep.sum() >= min_non_constant, f"only {keep.sum()} non-constant maps"
    correlations = per_map_correlation(ours.maps[keep], reference[keep])
    assert correlations.min() >= MIN_CORRELATION, correlations
    # same normalisation, so the values themselves agree too
    np.testing.assert_allclose(ours.maps, reference, atol=1e-3)
    return float(correlations.min())


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_torch_cam_matches_pytorch_grad_cam(cam_case, make_batch, method):
    inputs = make_batch(cam_case)
    classes = target_classes(cam_case.model, inputs)
    ours = explain_model(cam_case.model, inputs, classes, method, layer=cam_case.layer)
    reference = reference_maps(cam_case.model, cam_case.layer, inputs, classes, method)
    assert ours.maps.shape == reference.shape == (len(inputs), *inputs.shape[-2:])
    assert_maps_agree(ours, reference, min_non_constant=len(inputs) // 2)


@pytest.mark.parametrize(
    ("case_name", "layer"),
    [
        ("resnet18-cifar", "layer3"),
        ("resnet18-cifar", "layer2.1"),
        ("vgg16bn-small", "features.29"),
    ],
)
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_intermediate_layer_matches_pytorch_grad_cam(
    get_cam_case, make_batch, case_name, layer, method
):
    # Inside the body the gradient varies over the map: this exercises the general formulas.
    case = get_cam_case(case_name)
    inputs = make_batch(case, n_images=6)
    classes = target_classes(case.model, inputs, seed=4)
    capture = capture_activations_and_gradients(case.model, inputs, classes, layer)
    assert np.ptp(capture.gradients, axis=(2, 3)).max() > 0, "gradient should vary over the map"
    ours = explain_model(case.model, inputs, classes, method, layer=layer)
    reference = reference_maps(case.model, layer, inputs, classes, method)
    assert_maps_agree(ours, reference, min_non_constant=len(inputs) // 2)


def test_gap_gradient_is_constant_fc_weight_over_area(cam_case, make_batch):
    inputs = make_batch(cam_case)
    classes = target_classes(cam_case.model, inputs)
    capture = capture_activations_and_gradients(cam_case.model, inputs, classes, cam_case.layer)
    fc_weight = cam_case.model.get_submodule(cam_case.classifier).weight.detach().double().numpy()
    height, width = capture.activations.shape[2:]
    expected = np.broadcast_to(
        fc_weight[classes][:, :, None, None] / (height * width), capture.gradients.shape
    )
    np.testing.assert_allclose(capture.gradients, expected, rtol=1e-5, atol=1e-9)


def test_closed_form_matches_torch_gradients(cam_case, make_batch):
    inputs = make_batch(cam_case)
    classes = target_classes(cam_case.model, inputs)
    capture = capture_activations_and_gradients(cam_case.model, inputs, classes, cam_case.layer)
    features = capture.activations.astype(np.float32)  # what an ONNX second output holds
    fc_weight = cam_case.model.get_submodule(cam_case.classifier).weight.detach().numpy()

    # Grad-CAM: equal up to float rounding, raw maps included
    torch_gradcam = postprocess_maps(
        raw_cam_maps(cam_case.model, inputs, classes, "gradcam", layer=cam_case.layer), None
    )
    closed_gradcam_raw = cam_maps(features, fc_weight, classes, "gradcam")
    torch_gradcam_raw = np.maximum(
        np.einsum("nk,nkhw->nhw", gradcam_weights(capture.gradients), capture.activations), 0
    )
    scale = max(torch_gradcam_raw.max(), 1e-12)
    np.testing.assert_allclose(closed_gradcam_raw, torch_gradcam_raw, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(
        postprocess_maps(closed_gradcam_raw, None).maps, torch_gradcam.maps, atol=1e-5
    )

    # Grad-CAM++: correlation >= 0.999 at input size
    torch_plusplus_raw = np.maximum(
        np.einsum(
            "nk,nkhw->nhw",
            gradcam_plusplus_weights(capture.activations, capture.gradients),
            capture.activations,
        ),
        0,
    )
    size = tuple(inputs.shape[-2:])
    closed_plusplus = explain_from_features(features, fc_weight, classes, "gradcam++", size)
    assert_maps_agree(
        closed_plusplus, postprocess_maps(torch_plusplus_raw, size).maps, len(inputs) // 2
    )


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_closed_form_matches_pytorch_grad_cam(cam_case, make_batch, method):
    # The deployed-artifact path against the independent reference, end to end.
    inputs = make_batch(cam_case)
    classes = target_classes(cam_case.model, inputs)
    capture = capture_activations_and_gradients(cam_case.model, inputs, classes, cam_case.layer)
    fc_weight = cam_case.model.get_submodule(cam_case.classifier).weight.detach().numpy()
    ours = explain_from_features(
        capture.activations.astype(np.float32), fc_weight, classes, method, tuple(inputs.shape[-2:])
    )
    reference = reference_maps(cam_case.model, cam_case.layer, inputs, classes, method)
    assert_maps_agree(ours, reference, min_non_constant=len(inputs) // 2)


def test_cam_equals_scaled_gradcam_and_torch_cam(cam_case, make_batch):
    inputs = make_batch(cam_case, n_images=4)
    classes = target_classes(cam_case.model, inputs)
    capture = capture_activations_and_gradients(cam_case.model, inputs, classes, cam_case.layer)
    fc_weight = cam_case.model.get_submodule(cam_case.classifier).weight.detach().numpy()
    closed_cam = cam_maps(capture.activations, fc_weight, classes, "cam")
    torch_cam = raw_cam_maps(
        cam_case.model, inputs, classes, "cam", layer=cam_case.layer, classifier=cam_case.classifier
    )
    height, width = capture.activations.shape[2:]
    closed_gradcam = cam_maps(capture.activations, fc_weight, classes, "gradcam")
    np.testing.assert_allclose(closed_cam, torch_cam, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(closed_cam, closed_gradcam * height * width, rtol=1e-12, atol=1e-12)


def test_scorecam_matches_pytorch_grad_cam(get_cam_case, make_batch):
    case = get_cam_case("vgg16bn-small")  # 128 channels: 2 images x 128 masked forwards
    inputs = make_batch(case, n_images=2, seed=5)
    classes = target_classes(case.model, inputs, seed=6)
    ours = explain_model(case.model, inputs, classes, "scorecam", layer=case.layer)
    reference = reference_maps(case.model, case.layer, inputs, classes, "scorecam")
    assert_maps_agree(ours, reference, min_non_constant=1)


def test_batch_gives_the_same_maps_as_single_images(get_cam_case, make_batch):
    case = get_cam_case("resnet18-cifar")
    inputs = make_batch(case, n_images=4)
    classes = target_classes(case.model, inputs)
    batched = explain_model(case.model, inputs, classes, "gradcam++")
    for i in range(len(inputs)):
        single = explain_model(case.model, inputs[i : i + 1], classes[i : i + 1], "gradcam++")
        np.testing.assert_allclose(single.maps[0], batched.maps[i], atol=1e-5)


def test_model_mode_parameters_and_hooks_are_left_alone(get_cam_case, make_batch):
    case = get_cam_case("resnet18-cifar")
    model = case.model
    model.zero_grad(set_to_none=True)  # the reference CAM backpropagates into the parameters
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model.bn1.eval()  # a frozen part inside a training model keeps its own mode
    try:
        explain_model(model, make_batch(case, n_images=2), 1, "gradcam++")
        explain_model(model, make_batch(case, n_images=2), 1, "cam", classifier="fc")
        assert model.training and model.layer1.training and not model.bn1.training
    finally:
        model.eval()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state_before[key], rtol=0, atol=0)
    assert all(not module._forward_hooks for module in model.modules())
    assert all(p.grad is None for p in model.parameters())
