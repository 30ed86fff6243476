"""VGG-16 with batch norm for 32x32 inputs (Simonyan & Zisserman 2015; the CIFAR variant used
by Li et al. 2017 and HRank): 13 conv-BN-ReLU layers, four max-pools (32 -> 2), then global
average pooling and one linear layer, so the last conv block keeps a 2x2 map for CAMs and
the head is GAP + linear.
"""

from __future__ import annotations

import torch
import torch.nn as nn

VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class VGGCifar(nn.Module):
    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, layout: tuple = VGG16_LAYOUT
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [
                    nn.Conv2d(channels, item, 3, padding=1, bias=False),
                    nn.BatchNorm2d(item),
                    nn.ReLU(inplace=True),
                ]
                channels = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
