"""Layer selection, argument checks and import boundaries of edgeprune.explain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.explain.torch_cam import default_target_layer, explain_model, resolve_layer

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_default_layer_of_torchvision_models():
    resnet = torchvision.models.resnet18(num_classes=10)
    assert default_target_layer(resnet) is resnet.layer4
    mobilenet = torchvision.models.mobilenet_v2(num_classes=10)
    assert default_target_layer(mobilenet) is mobilenet.features
    vgg = torchvision.models.vgg11_bn(num_classes=10)
    assert default_target_layer(vgg) is vgg.features


def test_default_layer_of_flat_sequential_is_the_last_conv():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.Conv2d(4, 8, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    assert default_target_layer(model) is model[2]


def test_layer_by_dotted_name_and_module():
    model = torchvision.models.resnet18(num_classes=10)
    assert resolve_layer(model, "layer3.1") is model.layer3[1]
    assert resolve_layer(model, model.layer2) is model.layer2
    with pytest.raises(EdgepruneError, match="no layer named"):
        resolve_layer(model, "layer9")
    with pytest.raises(EdgepruneError, match="not a module of the model"):
        resolve_layer(model, nn.Conv2d(1, 1, 1))
    with pytest.raises(EdgepruneError, match="no Conv2d"):
        default_target_layer(nn.Sequential(nn.Linear(2, 2)))


def test_argument_errors_are_user_errors():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).eval()
    inputs = torch.randn(2, 3, 8, 8)
    with pytest.raises(EdgepruneError, match="unknown CAM method"):
        explain_model(model, inputs, 0, "eigencam")
    with pytest.raises(EdgepruneError, match="classifier"):
        explain_model(model, inputs, 0, "cam", layer="1")
    with pytest.raises(EdgepruneError, match=r"\[0, 3\)"):
        explain_model(model, inputs, [0, 3], "gradcam", layer="1")
    with pytest.raises(EdgepruneError, match="one per image"):
        explain_model(model, inputs, [0, 1, 2], "gradcam", layer="1")
    maps = explain_model(model, inputs, np.array([0, 2]), "cam", layer="1", classifier="4")
    assert maps.maps.shape == (2, 8, 8)


def test_explain_and_metrics_import_without_torch():
    code = (
        "import sys; import edgeprune.explain as e; import edgeprune.metrics.explanation; "
        "import edgeprune.metrics.ssim; assert 'torch' not in sys.modules, 'torch imported'; "
        "assert callable(e.explain_from_features)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_torch_names_are_served_lazily_from_the_package():
    import edgeprune.explain as explain

    assert explain.explain_model is explain_model
    with pytest.raises(AttributeError):
        explain.no_such_name  # noqa: B018
