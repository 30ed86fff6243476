"""CIFAR-style ResNets (He et al. 2016, section 4.2) and the CIFAR variant of ResNet-18.

``resnet20`` / ``32`` / ``44`` / ``56`` / ``110`` (:class:`PaperResNet`) are the paper's
networks: 3 stages of n basic blocks with 16/32/64 channels, 6n+2 layers, and the
parameter-free "option A" shortcut where a stage changes shape (the input subsampled by 2
and zero-padded with planes/4 channels on each side). Their parameter names are those of
the checkpoints people download (akamaster/pytorch_resnet_cifar10: ``conv1``, ``bn1``,
``layer{1,2,3}.{i}.conv1/bn1/conv2/bn2``, ``linear``), so such a checkpoint loads as it is.

Structured pruning needs to know how the zero padding ties channels across stages. The
shortcut is therefore written as what it is, exactly: a fixed 1x1 convolution of stride 2
whose weight is the 0/1 matrix that copies input channel c to output channel c + planes/4
(:class:`ZeroPadShortcut`). Torch-Pruning's dependency graph then couples it like any conv;
removing channels removes rows and columns of the matrix, which stays a 0/1 selection, so a
pruned network is still "subsample and copy some channels". The layer is a constant
(``fixed``): it is never trained, scored by a pruning criterion or masked.

``resnet20-1x1`` / ``56-1x1`` / ``110-1x1`` (:class:`CifarResNet`) use a learned 1x1
convolution + BN where the shape changes ("option B"); edgeprune used this form under the
plain names before, and model files saved then still load (``checkpoint.load_model``).
ResNet-18-CIFAR: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool, the
usual form for 32x32 inputs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from edgeprune.models.small_resnet import BasicBlock

PAPER_DEPTHS = (20, 32, 44, 56, 110)
OPTION_B_DEPTHS = (20, 56, 110)


def _blocks_per_stage(depth: int) -> int:
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
    return (depth - 2) // 6


class ZeroPadShortcut(nn.Conv2d):
    """Option A's shortcut, ``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))`` with
    ``p = (out - in) // 2``, as the 1x1 stride-2 convolution that computes it exactly: every
    output is 1.0 times one input value plus zeros."""

    fixed = True  # a constant of the architecture: not trained, scored or masked

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__(in_channels, out_channels, 1, stride=stride, bias=False)
        pad = (out_channels - in_channels) // 2
        selection = torch.zeros(out_channels, in_channels, 1, 1)
        channels = torch.arange(in_channels)
        selection[pad + channels, channels, 0, 0] = 1.0
        self.weight = nn.Parameter(selection, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # detached: pruning tools rebuild parameters with requires_grad=True, and this
        # layer must stay the constant it is whatever state its parameter is in
        return F.conv2d(x, self.weight.detach(), None, self.stride)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint of the paper's network has no tensor for a parameter-free shortcut:
        # the unpruned selection is the constant built above
        key = prefix + "weight"
        if key not in state_dict and self.weight.shape[:2] == (
            self.out_channels,
            self.in_channels,
        ):
            state_dict = {**state_dict, key: self.weight.detach().clone()}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class PaperBlock(BasicBlock):
    """He et al.'s basic block with option A's shortcut where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, stride)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)


class PaperResNet(nn.Module):
    """He et al. 2016's CIFAR ResNet (option A), named as the downloaded checkpoints are."""

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        blocks_per_stage = _blocks_per_stage(depth)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, channels = [], 16
        for stage, width in enumerate((16, 32, 64)):
            blocks = []
            for b in range(blocks_per_stage):
                blocks.append(PaperBlock(channels, width, 2 if stage > 0 and b == 0 else 1))
                channels = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class CifarResNet(nn.Module):
    """The option-B variant: a learned 1x1 convolution + BN where a stage changes shape."""

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        blocks_per_stage = _blocks_per_stage(depth)
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
