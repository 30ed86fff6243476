"""Importance criteria for structured pruning: small callables from a Torch-Pruning group to
one score per prunable channel (higher = keep).

A group couples every layer whose channels must be removed together (a conv's filters, its
BN, the next conv's input channels, residual partners). Filter criteria score the output
filters of each coupled conv/linear and average per channel, as Torch-Pruning's magnitude
criteria do with ``group_reduction="mean"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch_pruning as tp

from edgeprune.models.fixed import is_fixed

Criterion = Callable[[object], "torch.Tensor | None"]  # Torch-Pruning group -> scores
LayerScore = Callable[[nn.Module, list], "torch.Tensor | None"]  # (layer, filter idxs) -> scores

OUT_CHANNEL_FNS = (tp.prune_conv_out_channels, tp.prune_linear_out_channels)


def output_filters(layer: nn.Module, idxs: list) -> torch.Tensor:
    """The chosen output filters of a conv or linear layer, one flattened row each."""
    weight = layer.weight.data
    if getattr(layer, "transposed", False):
        weight = weight.transpose(0, 1)
    return weight[idxs].flatten(1)


def group_mean(
    group, layer_score: LayerScore, pruning_fns: tuple = OUT_CHANNEL_FNS
) -> torch.Tensor | None:
    """Average ``layer_score`` over the group's layers pruned by one of ``pruning_fns`` (by
    default the output-channel convs and linears), per root channel. Fixed layers (option
    A's 0/1 shortcut) are constants of the architecture, not learned filters: they are
    pruned with their group but never scored."""
    total = count = None
    for i, (dep, idxs) in enumerate(group):
        if dep.pruning_fn not in pruning_fns or is_fixed(dep.layer):
            continue
        scores = layer_score(dep.layer, idxs)
        if scores is None:
            continue
        root = torch.as_tensor(group[i].root_idxs, dtype=torch.long)
        if total is None:
            size = len(group[0].root_idxs)
            total, count = torch.zeros(size), torch.zeros(size)
        total.index_add_(0, root, scores.detach().float().cpu())
        count.index_add_(0, root, torch.ones(len(root)))
    return None if total is None else total / count.clamp(min=1)


def precomputed(scores: dict[nn.Module, torch.Tensor]) -> Criterion:
    """A criterion from per-layer scores measured beforehand (one per output channel of each
    layer), averaged over the group's output-channel layers."""

    def score(layer: nn.Module, idxs: list) -> torch.Tensor | None:
        layer_scores = scores.get(layer)
        return None if layer_scores is None else layer_scores[idxs]

    return lambda group: group_mean(group, score)


def filter_norm(p: int) -> Criterion:
    """Li et al. 2017: the Lp norm of each filter (``l1-filter``; ``l2-filter`` with p=2)."""

    def score(layer: nn.Module, idxs: list) -> torch.Tensor:
        return output_filters(layer, idxs).norm(p=p, dim=1)

    return lambda group: group_mean(group, score)


def random_scores(seed: int) -> Criterion:
    """Uniform random scores: the baseline every criterion must beat."""
    generator = torch.Generator().manual_seed(seed)

    def criterion(group) -> torch.Tensor:
        return torch.rand(len(group[0].root_idxs), generator=generator)

    return criterion
