"""What a pruning method is: its kind, a ``prune`` callable and an optional once-per-sweep
``prepare``; what it may use (:class:`PruneContext`) and what it returns (:class:`PruneResult`).

Kept apart from the registry in ``__init__`` so that each method family's module can use
these types without importing the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from edgeprune.errors import EdgepruneError
from edgeprune.prune.criteria import Criterion
from edgeprune.prune.structured import PruneSettings, structured_prune

# (model, x, logits) -> extra loss term, and (model) -> None after every optimiser step: the
# same hook types as edgeprune.train uses, repeated here so this package needs no training code.
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
    # The task's training loss (outputs, labels) -> loss, for gradient-based criteria;
    # None: cross-entropy (image classification).
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def training_batches(
        self, method: str, purpose: str
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The batches a data-driven criterion measures on; one clear error when there are
        none (``purpose``: what ``method`` needs them for)."""
        if self.batches is None:
            raise EdgepruneError(f"{method} needs {purpose}")
        batches = self.batches()
        if not batches:
            raise EdgepruneError(f"{method} needs at least one training batch")
        return batches


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

# Relative size of the random offset that separates tied scores (see ``tie_broken``).
TIE_BREAK = 1e-6

# Builds a criterion for the model as it is now. Data-driven criteria measure the model
# (feature maps, gradients) when they are built.
CriterionFactory = Callable[[nn.Module, PruneContext], Criterion]


@dataclass(frozen=True)
class PruningMethod:
    name: str
    kind: str  # "structured" (channels removed), "unstructured" or "semi-structured" (masks)
    description: str
    prune: PruneFn
    prepare: PrepareFn | None = None
    # A fixed pattern (2:4) removes the same fraction whatever ratio it is given: a sweep
    # then has this one ratio, since every other would give the same candidate.
    fixed_ratio: float | None = None


def tie_broken(criterion: Criterion, generator: torch.Generator) -> Criterion:
    """Torch-Pruning's global ranking (and a per-layer override under it) removes every
    channel scoring at or below the threshold, so tied scores (HRank's whole-number ranks,
    untrained BN scales, zero gradients) would remove more channels than asked. A seeded
    offset of 1e-6 of the largest score separates ties and leaves the order of scores that
    differ by more than that unchanged."""

    def separated(group) -> torch.Tensor | None:
        scores = criterion(group)
        if scores is None:
            return None
        scale = float(scores.abs().max()) if scores.numel() else 0.0
        offset = torch.rand(scores.shape, generator=generator) * TIE_BREAK * (scale or 1.0)
        return scores + offset.to(scores.device)

    return separated


def structured_method(make_criterion: CriterionFactory) -> PruneFn:
    """A ``prune`` callable that removes channels ranked by a criterion.

    The criterion is built again after every iterative step: by then the model has lost
    channels and been fine-tuned, so feature-map ranks or gradients measured before that
    step no longer describe it.
    """

    def prune(model, ratio, settings, context, between_steps=None) -> PruneResult:
        generator = torch.Generator().manual_seed(context.seed)
        current = [make_criterion(model, context)]

        def criterion(group) -> torch.Tensor | None:
            return tie_broken(current[0], generator)(group)

        def between(m: nn.Module, step: int) -> None:
            if between_steps is not None:
                between_steps(m, step)
            current[0] = make_criterion(m, context)

        report = structured_prune(model, ratio, criterion, settings, context.example_input, between)
        return PruneResult(report)

    return prune
