"""2:4 semi-structured sparsity: in every group of 4 consecutive weights along the input
channels, the 2 largest in magnitude stay (Mishra et al. 2021, "Accelerating Sparse Deep
Neural Networks"; the pattern of NVIDIA's Automatic SParsity, apex.contrib.sparsity).

The grouping follows ASP's ``create_mask``: a conv weight (O, I, kh, kw) is viewed as
(kh, kw, O, I), a linear weight as (O, I), and groups run along I, the dimension Ampere's
sparse tensor cores (and TensorRT's sparse kernels) compress. Like ASP, a layer is covered
only when its weight fits tensor-core tiles (O a multiple of 8, I a multiple of 16, I counted
per conv group, so depthwise convs are skipped); skipped layers are reported with the reason.
The pattern always removes half of the covered weights: the ratio argument does not apply.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeprune.prune.masks import Masks, apply_masks, keep_masks, maskable_layers, sparsity_report
from edgeprune.prune.method import BetweenSteps, PruneContext, PruneResult
from edgeprune.prune.structured import PruneSettings

GROUP = 4  # consecutive input-channel weights per group
KEPT = 2  # of which this many keep their value
PATTERN_RATIO = 1 - KEPT / GROUP  # the fraction of a covered layer's weights it removes
# ASP's tensor-core compatibility check (apex/contrib/sparsity/asp.py): weights (O, I, ...)
# with O % 8 or I % 16 non-zero are left dense.
OUT_MULTIPLE = 8
IN_MULTIPLE = 16


def two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """Keep the 2 largest-magnitude weights of every 4 consecutive input channels, for
    every output channel and kernel position. ``weight.shape[1]`` must be a multiple of 4."""
    magnitude = weight.detach().abs().cpu()
    along_inputs = magnitude.movedim(1, -1)  # (O, kh, kw, I): groups of 4 lie along I
    groups = along_inputs.reshape(-1, GROUP)
    kept = groups.topk(KEPT, dim=1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, kept, True)
    return mask.view(along_inputs.shape).movedim(-1, 1)


def skip_reason(module: nn.Module) -> str | None:
    """Why a conv/linear stays dense under 2:4 (None when it is covered)."""
    out_dim, in_dim = module.weight.shape[:2]
    if in_dim % IN_MULTIPLE or out_dim % OUT_MULTIPLE:
        return (
            f"weight {tuple(module.weight.shape)}: needs output channels a multiple of "
            f"{OUT_MULTIPLE} and input channels per group a multiple of {IN_MULTIPLE}"
        )
    return None


def prune_two_four(
    model: nn.Module,
    ratio: float,
    settings: PruneSettings,
    context: PruneContext,
    between_steps: BetweenSteps | None = None,
) -> PruneResult:
    """Apply the 2:4 pattern to every covered conv/linear; ``ratio``, allocation, per-layer
    ratios and iterative steps do not apply to a fixed pattern."""
    layers = maskable_layers(model, context.example_input, settings.ignore)
    skipped = {name: reason for name, m in layers if (reason := skip_reason(m)) is not None}
    masks: Masks = {
        name: two_four_mask(module.weight) for name, module in layers if name not in skipped
    }
    apply_masks(model, masks)
    report = {
        "pattern": f"{KEPT}:{GROUP} along input channels",
        "ratio_applied": False,
        "note": (
            f"the ratio is ignored: 2:4 always zeroes half of the weights of covered layers "
            f"(nominal {ratio:g})"
        ),
        "covered_layers": sorted(masks),
        "skipped_layers": skipped,
        "ignore": list(settings.ignore),
        **sparsity_report(model, sorted(masks)),
    }
    return PruneResult(report, keep_masks(masks))
