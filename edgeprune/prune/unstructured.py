"""Unstructured magnitude pruning (Han et al. 2015; the "unstructured weight pruning" of
Mitra et al. 2024): the smallest-magnitude weights are set to zero and stay zero while
fine-tuning.

``unstructured-global`` ranks the weights of all masked layers together (one threshold,
so layers end up with different sparsities); ``unstructured-layer`` removes the same
fraction from every layer. Masked layers are the conv layers and, with
:data:`MASK_LINEAR_LAYERS`, the linear layers, except the protected ones (first conv,
classifier, ``--ignore-layers``). Weights keep their dense shapes: dense runtimes gain no
speed; the report gives the sparsity actually present in the weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from edgeprune.errors import EdgepruneError
from edgeprune.prune.masks import Masks, apply_masks, keep_masks, maskable_layers, sparsity_report
from edgeprune.prune.method import BetweenSteps, PruneContext, PruneResult
from edgeprune.prune.structured import PruneSettings

# Mask the linear layers besides the convs (the classifier never: it is protected).
MASK_LINEAR_LAYERS = True


def smallest_removed(magnitudes: torch.Tensor, count: int) -> torch.Tensor:
    """A flat mask keeping all but the ``count`` smallest of the flat ``magnitudes``."""
    keep = torch.ones(magnitudes.numel(), dtype=torch.bool)
    if count > 0:
        keep[torch.argsort(magnitudes)[:count]] = False
    return keep


def global_counts(
    magnitudes: dict[str, torch.Tensor], ratio: float, max_layer_ratio: float
) -> dict[str, int]:
    """How many weights each layer loses under one magnitude threshold across all layers
    that removes ``ratio`` of them, never more than ``max_layer_ratio`` of a layer."""
    if not magnitudes:
        return {}
    every = torch.cat(list(magnitudes.values()))
    total = round(ratio * every.numel())
    if total == 0:
        return {name: 0 for name in magnitudes}
    threshold = every.kthvalue(total).values
    return {
        name: min(int((m <= threshold).sum()), math.floor(max_layer_ratio * m.numel()))
        for name, m in magnitudes.items()
    }


def magnitude_masks(
    layers: list[tuple[str, nn.Module]],
    ratio: float,
    overrides: dict[str, float],
    global_threshold: bool,
    max_layer_ratio: float,
) -> Masks:
    """Masks removing ``ratio`` of the weights (``overrides`` per layer name)."""
    magnitudes = {name: m.weight.detach().abs().flatten().cpu() for name, m in layers}
    counts = {name: round(overrides[name] * magnitudes[name].numel()) for name in overrides}
    ranked = {name: m for name, m in magnitudes.items() if name not in overrides}
    if global_threshold:
        counts.update(global_counts(ranked, ratio, max_layer_ratio))
    else:
        counts.update({name: round(ratio * m.numel()) for name, m in ranked.items()})
    return {
        name: smallest_removed(magnitudes[name], counts[name]).view(module.weight.shape)
        for name, module in layers
    }


def _overrides(settings: PruneSettings, layers: list[tuple[str, nn.Module]]) -> dict[str, float]:
    maskable = {name for name, _ in layers}
    for name, _ in settings.layer_ratios:
        if name not in maskable:
            raise EdgepruneError(
                f"per-layer ratio names {name!r}, which is not a layer unstructured pruning "
                "masks (unknown, protected, or not a conv/linear layer)"
            )
    return dict(settings.layer_ratios)


def magnitude_prune(global_threshold: bool):
    """The ``prune`` callable of ``unstructured-global`` (True) or ``unstructured-layer``."""

    def prune(
        model: nn.Module,
        ratio: float,
        settings: PruneSettings,
        context: PruneContext,
        between_steps: BetweenSteps | None = None,
    ) -> PruneResult:
        types = (nn.Conv2d, nn.Linear) if MASK_LINEAR_LAYERS else (nn.Conv2d,)
        layers = maskable_layers(model, context.example_input, settings.ignore, types)
        overrides = _overrides(settings, layers)
        masks: Masks = {}
        for step in range(settings.steps):
            # Iterative pruning: reach the ratio linearly. The weights masked so far are zeroed
            # first (a fine-tune in between may have moved them), so as the smallest they stay
            # masked and each step's mask lies inside the previous one.
            apply_masks(model, masks)
            fraction = (step + 1) / settings.steps
            masks = magnitude_masks(
                layers,
                ratio * fraction,
                {name: r * fraction for name, r in overrides.items()},
                global_threshold,
                settings.max_layer_ratio,
            )
            apply_masks(model, masks)
            if between_steps is not None and step < settings.steps - 1:
                between_steps(model, step)
        report = {
            "allocation": "global threshold" if global_threshold else "per-layer threshold",
            "masked_types": [t.__name__ for t in types],
            "unmasked_layers": sorted(
                name
                for name, m in model.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear)) and name not in dict(layers)
            ),
            "ignore": list(settings.ignore),
            "layer_ratios": dict(settings.layer_ratios),
            "steps": settings.steps,
            **sparsity_report(model, [name for name, _ in layers]),
        }
        return PruneResult(report, keep_masks(masks))

    return prune
