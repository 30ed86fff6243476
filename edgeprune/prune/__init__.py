"""Pruning methods, one registry: ``--method NAME``.

A method is a small entry: the kind of sparsity it produces and a ``prune`` callable.
Structured methods are built from an importance criterion (a callable from a
Torch-Pruning group to per-channel scores) by :func:`structured_method`; masking methods
(unstructured, 2:4) return a per-step hook that keeps their masks fixed while fine-tuning.
``prune_model`` is the one entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from edgeprune.prune.criteria import Criterion, filter_norm, random_scores
from edgeprune.prune.structured import PruneSettings, channel_counts, structured_prune
from edgeprune.registry import Registry

# (model) -> extra loss term, and (model) -> None after every optimiser step: the same
# hook types as edgeprune.train uses, repeated here so this package needs no training code.
Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
StepHook = Callable[[nn.Module], None]
TrainFn = Callable[..., dict]  # (model, epochs, penalty=None, after_step=None) -> history
BetweenSteps = Callable[[nn.Module, int], None]


@dataclass(frozen=True)
class PruneContext:
    """What a method may use besides the model.

    ``batches`` returns a few fixed, normalised training batches (data-driven criteria);
    ``train`` trains a model on the run's training data with the run's fine-tuning recipe
    (sparsity-training phases, iterative pruning).
    """

    example_input: torch.Tensor
    batches: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]] | None = None
    train: TrainFn | None = None
    seed: int = 0


@dataclass(frozen=True)
class PruneResult:
    report: dict  # what was done, JSON-able
    after_step: StepHook | None = None  # run after every fine-tuning step (keeps masks fixed)


PruneFn = Callable[
    [nn.Module, float, PruneSettings, PruneContext, "BetweenSteps | None"], PruneResult
]


# Runs once per sweep on a copy of the unpruned model before any ratio is pruned (e.g.
# network slimming's sparsity training); returns a JSON-able record. The pipeline caches
# the prepared model, so every ratio starts from the same one.
PrepareFn = Callable[[nn.Module, PruneSettings, PruneContext], dict]


@dataclass(frozen=True)
class PruningMethod:
    name: str
    kind: str  # "structured" (channels removed), "unstructured" or "semi-structured" (masks)
    description: str
    prune: PruneFn
    prepare: PrepareFn | None = None


def structured_method(make_criterion: Callable[[nn.Module, PruneContext], Criterion]) -> PruneFn:
    """A ``prune`` callable that removes channels ranked by a criterion."""

    def prune(model, ratio, settings, context, between_steps=None) -> PruneResult:
        criterion = make_criterion(model, context)
        return PruneResult(
            structured_prune(
                model, ratio, criterion, settings, context.example_input, between_steps
            )
        )

    return prune


METHODS: Registry[PruningMethod] = Registry("pruning method")


def register_method(method: PruningMethod) -> PruningMethod:
    METHODS.register(method.name, method)
    return method


register_method(
    PruningMethod(
        "l1-filter",
        "structured",
        "L1 norm of each filter (Li et al. 2017)",
        structured_method(lambda model, ctx: filter_norm(1)),
    )
)
register_method(
    PruningMethod(
        "l2-filter",
        "structured",
        "L2 norm of each filter (the 'Weight' criterion of Pachon et al. 2023)",
        structured_method(lambda model, ctx: filter_norm(2)),
    )
)
register_method(
    PruningMethod(
        "random",
        "structured",
        "uniformly random channels: the baseline every criterion must beat",
        structured_method(lambda model, ctx: random_scores(ctx.seed)),
    )
)


def prune_model(
    model: nn.Module,
    method: str,
    ratio: float,
    settings: PruneSettings,
    context: PruneContext,
    between_steps: BetweenSteps | None = None,
) -> PruneResult:
    """Prune ``model`` in place with a registered method."""
    entry = METHODS.get(method)
    result = entry.prune(model, ratio, settings, context, between_steps)
    report = {"method": method, "kind": entry.kind, "nominal_ratio": ratio, **result.report}
    return PruneResult(report, result.after_step)


__all__ = [
    "METHODS",
    "PruneContext",
    "PruneResult",
    "PruneSettings",
    "PruningMethod",
    "channel_counts",
    "prune_model",
    "register_method",
    "structured_method",
]
