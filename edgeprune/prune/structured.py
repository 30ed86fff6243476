"""Structured pruning through Torch-Pruning's dependency graph: channels are removed
physically, coupled layers (BN, residual partners, the next conv's inputs) shrink with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch_pruning as tp

from edgeprune.errors import EdgepruneError
from edgeprune.models.fixed import is_fixed
from edgeprune.prune.criteria import Criterion

PRUNABLE = (nn.Conv2d, nn.Linear)


# "uniform": the same rate in every layer (UPR); "global": filters ranked across layers (APR)
ALLOCATIONS = ("uniform", "global")


@dataclass(frozen=True)
class PruneSettings:
    """How a ratio is spread over layers; identical for every candidate of a sweep."""

    allocation: str = "uniform"  # one of ALLOCATIONS
    round_to: int = 1  # keep channel counts multiples of this (tensor-core alignment)
    ignore: tuple[
        str, ...
    ] = ()  # extra module names left intact (first conv and classifier always are)
    layer_ratios: tuple[tuple[str, float], ...] = ()  # per-layer overrides: (module name, ratio)
    steps: int = 1  # iterative pruning: the ratio is reached in this many steps
    max_layer_ratio: float = 0.95  # never strip a layer further than this (global allocation)
    sparsity_epochs: int = 0  # bn-slimming: sparsity training before pruning
    sparsity_lambda: float = 1e-4  # bn-slimming: L1 weight on BN scales
    seed: int = 0

    def describe(self) -> dict:
        return {
            "allocation": self.allocation,
            "round_to": self.round_to,
            "ignore": list(self.ignore),
            "layer_ratios": dict(self.layer_ratios),
            "steps": self.steps,
            "max_layer_ratio": self.max_layer_ratio,
            "sparsity_epochs": self.sparsity_epochs,
            "sparsity_lambda": self.sparsity_lambda,
        }


def execution_order(model: nn.Module, example_input: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers in the order the forward pass runs them."""
    names = {m: n for n, m in model.named_modules()}
    order: list[tuple[str, nn.Module]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _i, _o: order.append((names[mod], mod)))
        for m in model.modules()
        if isinstance(m, PRUNABLE)
    ]
    try:
        with torch.no_grad():
            model.eval()(example_input)
    finally:
        for h in hooks:
            h.remove()
    seen, unique = set(), []
    for name, module in order:
        if module not in seen:
            seen.add(module)
            unique.append((name, module))
    return unique


def protected_layers(
    model: nn.Module, example_input: torch.Tensor, extra: tuple[str, ...]
) -> list[nn.Module]:
    """First conv (its input is the image) and the layer producing the logits, plus ``extra``."""
    order = execution_order(model, example_input)
    if not order:
        raise EdgepruneError("the model has no Conv2d or Linear layer to prune")
    modules = dict(model.named_modules())
    unknown = [n for n in extra if n not in modules]
    if unknown:
        raise EdgepruneError(f"--ignore-layers names unknown modules: {', '.join(unknown)}")
    protected = [order[0][1], order[-1][1]] + [modules[n] for n in extra]
    return list({id(m): m for m in protected}.values())


def channel_counts(model: nn.Module) -> dict[str, list[int]]:
    """[in, out] channels (features) of every conv and linear layer."""
    counts = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            counts[name] = [module.in_channels, module.out_channels]
        elif isinstance(module, nn.Linear):
            counts[name] = [module.in_features, module.out_features]
    return counts


def aligned_keep(kept: int, current: int, multiple: int) -> int:
    """Channels to keep, rounded half-up to the nearest multiple but never to zero."""
    aligned = max(multiple, (2 * kept + multiple) // (2 * multiple) * multiple)
    return min(aligned, current)


class AlignedPruner(tp.pruner.BasePruner):
    """Torch-Pruning rounds the kept channels *down* to ``round_to``; a small layer then
    rounds to zero and is silently left unpruned (16 channels at ratio 0.75 keep 4 -> 0).
    Round to the nearest multiple, never below one, instead.

    Global ranking may also put every channel of a group below the threshold, and
    Torch-Pruning's ``max_pruning_ratio`` only stops a group that is already past it from
    shrinking further: keep at least ``1 - max_pruning_ratio`` of the channels in each step.
    (Torch-Pruning calls this method whenever ``round_to`` is set, so it is always set.)"""

    def _round_to(self, n_pruned: int, current_channels: int, round_to: int) -> int:
        floor = math.ceil((1 - self.max_pruning_ratio) * current_channels - 1e-9)
        kept = max(current_channels - n_pruned, floor)
        return current_channels - aligned_keep(kept, current_channels, round_to)


def refreeze_fixed_layers(model: nn.Module) -> None:
    """Torch-Pruning rebuilds a pruned layer's parameters with ``requires_grad=True``; a
    fixed layer's stay out of the optimiser."""
    for module in model.modules():
        if is_fixed(module):
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(False)


def structured_prune(
    model: nn.Module,
    ratio: float,
    criterion: Criterion,
    settings: PruneSettings,
    example_input: torch.Tensor,
    between_steps: Callable[[nn.Module, int], None] | None = None,
) -> dict:
    """Remove ``ratio`` of the channels of every prunable group, in place.

    ``between_steps(model, step)`` runs after each step but the last (iterative pruning with
    fine-tuning in between).
    """
    before = channel_counts(model)
    modules = dict(model.named_modules())
    overrides = {}
    for name, layer_ratio in settings.layer_ratios:
        if name not in modules:
            raise EdgepruneError(f"per-layer ratio names unknown module {name!r}")
        overrides[modules[name]] = layer_ratio
    pruner = AlignedPruner(
        model,
        example_input,
        importance=criterion,
        pruning_ratio=ratio,
        pruning_ratio_dict=overrides or None,
        global_pruning=settings.allocation == "global",
        max_pruning_ratio=settings.max_layer_ratio,
        iterative_steps=settings.steps,
        ignored_layers=protected_layers(model, example_input, settings.ignore),
        round_to=max(1, settings.round_to),
    )
    for step in range(settings.steps):
        pruner.step()
        refreeze_fixed_layers(model)
        if between_steps is not None and step < settings.steps - 1:
            between_steps(model, step)
    after = channel_counts(model)
    conv_names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return {
        "channels": {name: {"before": before[name], "after": after.get(name)} for name in before},
        "filters": {
            "before": sum(before[n][1] for n in conv_names),
            "after": sum(after[n][1] for n in conv_names),
        },
        **settings.describe(),
    }
