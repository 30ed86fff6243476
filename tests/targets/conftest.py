from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgeprune.export import export_onnx
from edgeprune.targets.bundle import write_bundle


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.bn(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """A small exported model, its PyTorch module and a bundle of 40 random 16x16 images."""
    torch.manual_seed(0)
    model = TinyNet().eval()
    folder = tmp_path_factory.mktemp("tiny")
    exported = export_onnx(model, folder / "model.onnx", (3, 16, 16))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 40)
    bundle = write_bundle(
        folder / "bundle", {"clean": (images, labels)}, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4
    )
    return model, exported, bundle
