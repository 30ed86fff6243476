"""HRank (Lin et al. 2020, "HRank: Filter Pruning using High-Rank Feature Map"): a filter
whose output feature maps have a low matrix rank carries little information; the average
rank over a few batches is stable across inputs, so a few training batches suffice.

Which map is ranked: HRank ranks the activation maps after BN and ReLU. Here, for each
conv/linear layer, the map is ReLU(BN(output)) when a BatchNorm directly reads the layer's
output, else ReLU(output). ReLU is applied even where the network uses another activation
(SiLU, Hardswish in EfficientNet / MobileNetV3): the positive part then stands in for the
activation, which keeps the criterion the same for every architecture. A linear layer's
output is a 1x1 map per unit, whose rank is 1 when the unit is active and 0 otherwise.

Scores are ranks divided by the full rank min(H, W), so layers at different resolutions are
comparable under global allocation; coupled layers of a group are averaged like filter norms.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeprune.prune.criteria import Criterion, precomputed
from edgeprune.prune.method import PruneContext
from edgeprune.prune.structured import PRUNABLE


@torch.no_grad()
def following_batchnorms(
    model: nn.Module, example_input: torch.Tensor
) -> dict[nn.Module, nn.Module]:
    """Conv/linear layer -> the BatchNorm that takes its output as input, from one forward
    pass that records which tensor each layer produced."""
    produced_by: dict[int, tuple[torch.Tensor, nn.Module]] = {}
    pairs: dict[nn.Module, nn.Module] = {}

    def after_layer(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        produced_by[id(output)] = (output, module)

    def before_batchnorm(module: nn.Module, inputs: tuple) -> None:
        entry = produced_by.get(id(inputs[0]))
        if entry is not None and entry[0] is inputs[0]:  # same object, not a reused id
            pairs[entry[1]] = module

    hooks = [
        m.register_forward_hook(after_layer) for m in model.modules() if isinstance(m, PRUNABLE)
    ]
    hooks += [
        m.register_forward_pre_hook(before_batchnorm)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    try:
        model(example_input)
    finally:
        for h in hooks:
            h.remove()
    return pairs


def channel_ranks(maps: torch.Tensor, channels_last: bool) -> tuple[torch.Tensor, int, int]:
    """Per channel: the summed rank of the rectified maps, the number of maps, and the full
    rank. All N*C maps go to one batched ``matrix_rank`` call."""
    maps = maps.detach().float().relu()
    if channels_last:  # linear outputs (..., C): every position is a 1x1 map
        planes = maps.reshape(-1, maps.shape[-1], 1, 1)
    else:  # conv outputs (N, C, H, W)
        planes = maps
    count, channels = planes.shape[:2]
    ranks = torch.linalg.matrix_rank(planes.reshape(count * channels, *planes.shape[2:]))
    return ranks.view(count, channels).sum(0).float(), count, min(planes.shape[2:])


@torch.no_grad()
def average_ranks(
    model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], example_input: torch.Tensor
) -> dict[nn.Module, torch.Tensor]:
    """Average relative rank of every conv/linear layer's output channels over ``batches``."""
    was_training = model.training
    model.eval()  # BN with its running statistics, as deployed; no statistics updated
    device = next(model.parameters()).device
    bn_after = following_batchnorms(model, example_input.to(device))
    totals: dict[nn.Module, torch.Tensor] = {}
    counts: dict[nn.Module, int] = {}

    def recorder(layer: nn.Module):
        def record(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            ranks, count, full = channel_ranks(output, isinstance(layer, nn.Linear))
            totals[layer] = totals.get(layer, 0) + ranks.cpu() / full
            counts[layer] = counts.get(layer, 0) + count

        return record

    layers = [m for m in model.modules() if isinstance(m, PRUNABLE)]
    # Hook the BN after a layer where there is one: its output is what ReLU sees. The rank
    # is taken inside the hook, before an in-place activation can change the tensor.
    hooks = [bn_after.get(layer, layer).register_forward_hook(recorder(layer)) for layer in layers]
    try:
        for images, _labels in batches:
            model(images.to(device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {layer: totals[layer] / counts[layer] for layer in totals}


def hrank_criterion(model: nn.Module, context: PruneContext) -> Criterion:
    """Measure the average feature-map ranks of the model as it is now."""
    batches = context.training_batches("hrank", "training batches to rank feature maps")
    return precomputed(average_ranks(model, batches, context.example_input))
