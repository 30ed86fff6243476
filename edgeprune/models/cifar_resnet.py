"""CIFAR-style ResNets (He et al. 2016, section 4.2) and the CIFAR variant of ResNet-18.

ResNet-20/56/110: 3 stages of n BasicBlocks with 16/32/64 channels, 6n+2 layers. Shortcuts
that change shape use a 1x1 convolution (option B), which exports to ONNX and prunes
cleanly, unlike option A's zero-padding.
ResNet-18-CIFAR: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool, the
usual form for 32x32 inputs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from edgeprune.models.small_resnet import BasicBlock


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        blocks_per_stage = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        layers, channels = [], 16
        for stage, width in enumerate((16, 32, 64)):
            blocks = []
            for b in range(blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model
