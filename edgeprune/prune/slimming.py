"""Network slimming (Liu et al. 2017, "Learning Efficient Convolutional Networks through
Network Slimming"): a channel's importance is the magnitude of its BatchNorm scale |gamma|.

Optionally, once per sweep before any ratio is pruned, the model is trained with an L1
penalty on every BN scale (``--sparsity-epochs``, ``--sparsity-lambda``), which drives the
scales of dispensable channels towards zero; this is the ``prepare`` step. Scales are
comparable across layers (each BN normalises its input to unit variance first), which is why
the paper ranks channels globally (``--allocation global``); uniform allocation works too.
A group without an affine BN (a linear layer's outputs, squeeze-excitation convs) has no
scale to rank and is left unpruned.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch_pruning as tp

from edgeprune.errors import EdgepruneError
from edgeprune.prune.criteria import Criterion, group_mean
from edgeprune.prune.method import PruneContext
from edgeprune.prune.structured import PruneSettings

SMALL_SCALE = 1e-2  # |gamma| below this counts as driven to zero in the prepare record
BN_FNS = (tp.prune_batchnorm_out_channels,)


def batchnorm_scales(model: nn.Module) -> list[torch.Tensor]:
    """The scale parameter (gamma) of every affine BatchNorm layer."""
    return [
        m.weight
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine
    ]


def small_scale_fraction(model: nn.Module) -> float:
    scales = [s.detach().abs().flatten() for s in batchnorm_scales(model)]
    if not scales:
        return 0.0
    every = torch.cat(scales)
    return float((every < SMALL_SCALE).float().mean())


def bn_scale_criterion(model: nn.Module, context: PruneContext) -> Criterion:
    """|gamma| of the BN layers in the group, averaged per channel over them."""
    if not batchnorm_scales(model):
        raise EdgepruneError("bn-slimming ranks channels by BatchNorm scales; the model has none")

    def score(layer: nn.Module, idxs: list) -> torch.Tensor | None:
        if not getattr(layer, "affine", False):
            return None
        return layer.weight.detach().abs()[idxs]

    return lambda group: group_mean(group, score, BN_FNS)


def scale_l1_penalty(strength: float):
    """``strength`` x the L1 norm of all BN scales: the sparsity-training loss term."""

    def penalty(model: nn.Module, _x: torch.Tensor, _logits: torch.Tensor) -> torch.Tensor:
        return strength * sum(s.abs().sum() for s in batchnorm_scales(model))

    return penalty


def sparsity_training(model: nn.Module, settings: PruneSettings, context: PruneContext) -> dict:
    """The ``prepare`` step: train with the L1 penalty on BN scales, once per sweep."""
    before = small_scale_fraction(model)
    record = {
        "sparsity_epochs": settings.sparsity_epochs,
        "sparsity_lambda": settings.sparsity_lambda,
        "small_scale_threshold": SMALL_SCALE,
        "bn_channels": sum(s.numel() for s in batchnorm_scales(model)),
        "small_scale_fraction_before": before,
    }
    if settings.sparsity_epochs <= 0:
        return {**record, "small_scale_fraction_after": before, "training": None}
    if not batchnorm_scales(model):
        raise EdgepruneError("bn-slimming needs BatchNorm layers; the model has none")
    if context.train is None:
        raise EdgepruneError("bn-slimming sparsity training needs training data (context.train)")
    history = context.train(
        model, settings.sparsity_epochs, penalty=scale_l1_penalty(settings.sparsity_lambda)
    )
    return {
        **record,
        "small_scale_fraction_after": small_scale_fraction(model),
        "training": history,
    }
