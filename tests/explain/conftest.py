"""Tiny randomly initialised classifiers for the CAM tests (no weights are downloaded).

Every model has a global-average-pooling + linear head. Batch-norm statistics are set by
a few forward passes in train mode on random data before the model is put in eval mode:
with the default statistics (mean 0, variance 1) activations of a random deep net drift,
and many maps come out constant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torchvision
from torch import nn


@dataclass
class CamCase:
    """A model with its input size, target-layer name and linear head."""

    name: str
    model: nn.Module
    input_size: int
    layer: str
    classifier: str


def _vgg16_bn_style(num_classes: int = 10, width_divisor: int = 4) -> nn.Module:
    """VGG-16-BN with narrower layers, three poolings (4x4 maps at 32x32) and a GAP + linear head."""
    config = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, 512, 512, 512]
    layers: list[nn.Module] = []
    in_channels = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        out_channels = int(item) // width_divisor
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels

    class SmallVGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(in_channels, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.pool(self.features(x)).flatten(1))

    return SmallVGG()


def cifar_resnet18(num_classes: int = 10) -> nn.Module:
    """torchvision ResNet-18 adapted to 32x32: 3x3 stride-1 stem, no max-pool (4x4 at layer4)."""
    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def _calibrate_batchnorm(model: nn.Module, input_size: int, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, input_size, input_size, generator=generator))
    return model.eval()


def build_case(name: str) -> CamCase:
    """``name`` is a model, optionally with ``@<input size>`` (torchvision models: 128 px)."""
    torch.manual_seed(0)
    model_name, _, size = name.partition("@")
    if model_name == "resnet18":
        # stock stem downsamples by 32: 128x128 inputs give 4x4 maps at layer4, 64x64 give 2x2
        model = torchvision.models.resnet18(num_classes=10)
        case = CamCase(name, model, int(size or 128), "layer4", "fc")
    elif model_name == "resnet18-cifar":
        case = CamCase(name, cifar_resnet18(), 32, "layer4", "fc")
    elif model_name == "vgg16bn-small":
        case = CamCase(name, _vgg16_bn_style(), 32, "features", "fc")
    elif model_name == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(num_classes=10)
        case = CamCase(name, model, int(size or 128), "features", "classifier.1")
    else:
        raise KeyError(name)
    _calibrate_batchnorm(case.model, case.input_size, seed=1)
    return case


# The CIFAR-style cases run at 32 px. The torchvision models downsample by 32, so at 32 px
# their last feature map is 1x1 and every map is constant: the default suite runs them at
# 64 px (2x2 maps, the smallest that says anything) and the slow suite at 128 px (4x4),
# which took minutes on a loaded 2-core machine.
GAP_LINEAR_CASES = [
    pytest.param("resnet18", marks=pytest.mark.slow),
    "resnet18@64",
    "resnet18-cifar",
    "vgg16bn-small",
    pytest.param("mobilenet_v2", marks=pytest.mark.slow),
    "mobilenet_v2@64",
]


def random_batch(case: CamCase, n_images: int = 8, seed: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_images, 3, case.input_size, case.input_size, generator=generator)


@pytest.fixture(scope="session")
def get_cam_case() -> Callable[[str], CamCase]:
    """Build each model once per session (building and calibrating takes a moment)."""
    cache: dict[str, CamCase] = {}

    def get(name: str) -> CamCase:
        if name not in cache:
            cache[name] = build_case(name)
        return cache[name]

    return get


@pytest.fixture(params=GAP_LINEAR_CASES)
def cam_case(request: pytest.FixtureRequest, get_cam_case: Callable[[str], CamCase]) -> CamCase:
    return get_cam_case(request.param)


@pytest.fixture(scope="session")
def make_batch() -> Callable[..., torch.Tensor]:
    """``make_batch(case, n_images=8, seed=2)``: seeded random inputs at the case's size."""
    return random_batch
