"""Pruning methods, one registry: ``--method NAME``.

Each method is a small entry: what kind of sparsity it produces and how it scores
channels (structured) or weights (unstructured). ``prune_model`` is the one entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from edgeprune.prune.criteria import Criterion, filter_norm, random_scores
from edgeprune.prune.structured import PruneSettings, channel_counts, structured_prune
from edgeprune.registry import Registry


@dataclass(frozen=True)
class PruneContext:
    """What a data-driven criterion may use: an example input and a few training batches."""

    example_input: torch.Tensor
    batches: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]] | None = None
    seed: int = 0


@dataclass(frozen=True)
class PruningMethod:
    name: str
    kind: str  # "structured" (channels removed), "unstructured" or "semi-structured" (masks)
    description: str
    criterion: Callable[[nn.Module, PruneContext], Criterion] | None = None


METHODS: Registry[PruningMethod] = Registry("pruning method")


def _register(method: PruningMethod) -> None:
    METHODS.register(method.name, method)


_register(
    PruningMethod(
        "l1-filter",
        "structured",
        "L1 norm of each filter (Li et al. 2017)",
        lambda model, ctx: filter_norm(1),
    )
)
_register(
    PruningMethod(
        "l2-filter",
        "structured",
        "L2 norm of each filter (the 'Weight' criterion of Pachon et al.)",
        lambda model, ctx: filter_norm(2),
    )
)
_register(
    PruningMethod(
        "random",
        "structured",
        "uniformly random channels: the baseline a criterion must beat",
        lambda model, ctx: random_scores(ctx.seed),
    )
)


def prune_model(
    model: nn.Module,
    method: str,
    ratio: float,
    settings: PruneSettings,
    context: PruneContext,
    between_steps: Callable[[nn.Module, int], None] | None = None,
) -> dict:
    """Prune ``model`` in place with a registered method; returns what was done."""
    entry = METHODS.get(method)
    criterion = entry.criterion(model, context)
    report = structured_prune(
        model, ratio, criterion, settings, context.example_input, between_steps
    )
    return {"method": method, "kind": entry.kind, "nominal_ratio": ratio, **report}


__all__ = [
    "METHODS",
    "PruneContext",
    "PruneSettings",
    "PruningMethod",
    "channel_counts",
    "prune_model",
]
