"""Weight masks in dense-shaped tensors, shared by unstructured and 2:4 pruning.

A mask is applied by zeroing weights in place: the model keeps plain parameters (no
``torch.nn.utils.prune`` parametrisation), so it saves, reloads and exports to ONNX exactly
like an unpruned one, and the zeros are the mask. During fine-tuning the per-step hook
zeroes the masked weights again after every optimiser step, so the pattern stays fixed.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeprune.models.fixed import is_fixed
from edgeprune.prune.structured import PRUNABLE, protected_layers

Masks = dict[str, torch.Tensor]  # module name -> bool tensor shaped like its weight (True = kept)


def maskable_layers(
    model: nn.Module,
    example_input: torch.Tensor,
    ignore: tuple[str, ...],
    types: tuple[type[nn.Module], ...] = PRUNABLE,
) -> list[tuple[str, nn.Module]]:
    """Layers of ``types`` whose weights may be masked: all but the protected ones (first
    conv, classifier and ``ignore``), as for structured pruning, and the fixed ones."""
    protected = {id(m) for m in protected_layers(model, example_input, ignore)}
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, types) and id(module) not in protected and not is_fixed(module)
    ]


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Zero every masked weight in place. Modules are looked up by name, so the hook also
    works on a copy of the model it was made for."""
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        weight = modules[name].weight
        weight.mul_(mask.to(weight.device))


def keep_masks(masks: Masks):
    """The ``after_step`` hook: the optimiser step (momentum, weight decay) may move masked
    weights away from zero; put them back after every step."""

    def after_step(model: nn.Module) -> None:
        apply_masks(model, masks)

    return after_step


def zero_counts(model: nn.Module, names: list[str]) -> dict[str, dict]:
    """Per layer: weight elements, how many are exactly zero, and their fraction."""
    modules = dict(model.named_modules())
    counts = {}
    for name in names:
        weight = modules[name].weight.detach()
        zeros = int((weight == 0).sum())
        counts[name] = {
            "weights": weight.numel(),
            "zeros": zeros,
            "sparsity": zeros / max(1, weight.numel()),
        }
    return counts


def sparsity_report(model: nn.Module, masked: list[str]) -> dict:
    """The sparsity actually present in the weights (zeros counted, not mask entries): per
    masked layer, over all masked layers, and over every conv/linear weight of the model."""
    layers = zero_counts(model, masked)
    weights = sum(v["weights"] for v in layers.values())
    zeros = sum(v["zeros"] for v in layers.values())
    every = zero_counts(model, [n for n, m in model.named_modules() if isinstance(m, PRUNABLE)])
    every_weights = sum(v["weights"] for v in every.values())
    every_zeros = sum(v["zeros"] for v in every.values())
    return {
        "layers": layers,
        "masked_weights": weights,
        "zero_weights": zeros,
        "sparsity": zeros / max(1, weights),
        "model_weight_sparsity": every_zeros / max(1, every_weights),
    }
