"""Pruning methods, one registry: ``--method NAME``.

A method is a small entry: the kind of sparsity it produces, a ``prune`` callable and an
optional once-per-sweep ``prepare``. Structured methods are built from an importance
criterion (a callable from a Torch-Pruning group to per-channel scores) by
:func:`structured_method`; masking methods (unstructured, 2:4) return a per-step hook that
keeps their masks fixed while fine-tuning. ``prune_model`` is the one entry point.
"""

from __future__ import annotations

import torch.nn as nn

from edgeprune.prune.criteria import filter_norm, random_scores
from edgeprune.prune.fpgm import fpgm_criterion
from edgeprune.prune.hrank import hrank_criterion
from edgeprune.prune.method import (
    BetweenSteps,
    Penalty,
    PrepareFn,
    PruneContext,
    PruneFn,
    PruneResult,
    PruningMethod,
    StepHook,
    TrainFn,
    structured_method,
)
from edgeprune.prune.semi_structured import PATTERN_RATIO, prune_two_four
from edgeprune.prune.slimming import bn_scale_criterion, sparsity_training
from edgeprune.prune.structured import PruneSettings, channel_counts
from edgeprune.prune.taylor import taylor_criterion
from edgeprune.prune.unstructured import magnitude_prune
from edgeprune.registry import Registry

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
        "bn-slimming",
        "structured",
        "|gamma| of the BN after each conv, after optional L1 sparsity training "
        "(network slimming, Liu et al. 2017; best with --allocation global)",
        structured_method(bn_scale_criterion),
        prepare=sparsity_training,
    )
)
register_method(
    PruningMethod(
        "hrank",
        "structured",
        "average rank of each filter's ReLU(BN) output maps on training batches "
        "(HRank, Lin et al. 2020)",
        structured_method(hrank_criterion),
    )
)
register_method(
    PruningMethod(
        "taylor",
        "structured",
        "first-order Taylor estimate |sum w * grad| of each filter on training batches "
        "(Molchanov et al. 2019)",
        structured_method(taylor_criterion),
    )
)
register_method(
    PruningMethod(
        "fpgm",
        "structured",
        "distance of each filter to its layer's geometric median (FPGM, He et al. 2019)",
        structured_method(fpgm_criterion),
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
register_method(
    PruningMethod(
        "unstructured-global",
        "unstructured",
        "smallest-magnitude weights under one threshold across layers, masks kept while "
        "fine-tuning (Han et al. 2015; Mitra et al. 2024)",
        magnitude_prune(global_threshold=True),
    )
)
register_method(
    PruningMethod(
        "unstructured-layer",
        "unstructured",
        "smallest-magnitude weights, the same fraction in every layer, masks kept while "
        "fine-tuning (Han et al. 2015; Mitra et al. 2024)",
        magnitude_prune(global_threshold=False),
    )
)
register_method(
    PruningMethod(
        "2:4",
        "semi-structured",
        "2 largest of every 4 weights along the input channels, the Ampere sparse tensor-core "
        "pattern (NVIDIA ASP, Mishra et al. 2021); always 50 %: one candidate whatever --ratios says",
        prune_two_four,
        fixed_ratio=PATTERN_RATIO,
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
    "BetweenSteps",
    "Penalty",
    "PrepareFn",
    "PruneContext",
    "PruneFn",
    "PruneResult",
    "PruneSettings",
    "PruningMethod",
    "StepHook",
    "TrainFn",
    "channel_counts",
    "prune_model",
    "register_method",
    "structured_method",
]
