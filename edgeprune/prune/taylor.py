"""First-order Taylor importance (Molchanov et al. 2019, "Importance Estimation for Neural
Network Pruning"): removing a filter changes the loss by about |sum over its weights of
w * dL/dw|. The estimate is taken on each of a few training batches (cross-entropy, model in
eval mode so no BN statistic moves) and averaged over them; the paper squares the per-batch
term, this uses its magnitude, which ranks a layer's filters the same way up to averaging.
Scores are loss changes, comparable across layers, so global allocation can rank them
directly. Parameters are not changed; gradients are cleared afterwards.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeprune.prune.criteria import Criterion, precomputed
from edgeprune.prune.method import PruneContext
from edgeprune.prune.structured import PRUNABLE


def filter_rows(tensor: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """One flattened row per output filter (transposed convs keep outputs in dim 1)."""
    if getattr(layer, "transposed", False):
        tensor = tensor.transpose(0, 1)
    return tensor.flatten(1)


def taylor_scores(
    model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], loss_fn=F.cross_entropy
) -> dict[nn.Module, torch.Tensor]:
    """|sum_filter w * grad| per output filter of every conv/linear layer, batch-averaged."""
    layers = [m for m in model.modules() if isinstance(m, PRUNABLE) and m.weight.requires_grad]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals: dict[nn.Module, torch.Tensor] = {}
    try:
        for images, labels in batches:
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                loss = loss_fn(model(images.to(device)), labels.to(device))
                loss.backward()
            for layer in layers:
                if layer.weight.grad is None:  # not on the path to the logits
                    continue
                change = filter_rows(layer.weight.detach() * layer.weight.grad, layer).sum(1)
                totals[layer] = totals.get(layer, 0) + change.abs().cpu()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {layer: total / len(batches) for layer, total in totals.items()}


def taylor_criterion(model: nn.Module, context: PruneContext) -> Criterion:
    """Measure the Taylor importance of the model as it is now."""
    batches = context.training_batches("taylor", "labelled training batches for its gradients")
    return precomputed(taylor_scores(model, batches, context.loss or F.cross_entropy))
