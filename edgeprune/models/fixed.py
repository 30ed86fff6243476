"""Fixed layers: constants of an architecture that are written as ordinary layers.

A model marks such a layer with a class attribute ``fixed = True`` (He et al.'s option-A
shortcut, ``cifar_resnet.ZeroPadShortcut``, a 0/1 convolution). It is a layer to the
dependency graph, so pruning shrinks it with the channels it ties, but it is never trained,
scored by a pruning criterion or masked, and a checkpoint may lack its tensors.
"""

from __future__ import annotations

import torch.nn as nn


def is_fixed(layer: nn.Module) -> bool:
    return bool(getattr(layer, "fixed", False))
