"""FPGM (He et al. 2019, "Filter Pruning via Geometric Median for Deep Convolutional Neural
Networks Acceleration"): filters near the geometric median of their layer's filters can be
represented by the others, so they are the redundant ones; importance is the distance to it.

The paper approximates the median by the filter with the least summed distance to the
others; this computes the median itself (Weiszfeld's algorithm) and each filter's Euclidean
distance to it, per layer. Distances are divided by the layer's mean distance, so coupled
layers of a group weigh alike when averaged and global allocation compares layers by
relative redundancy rather than by weight scale.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeprune.prune.criteria import Criterion, group_mean, output_filters
from edgeprune.prune.method import PruneContext

WEISZFELD_ITERATIONS = 200
WEISZFELD_TOLERANCE = 1e-7  # relative change of the estimate that ends the iterations


def geometric_median(points: torch.Tensor) -> torch.Tensor:
    """The point minimising the summed Euclidean distance to the rows of ``points``."""
    points = points.double()
    median = points.mean(0)
    for _ in range(WEISZFELD_ITERATIONS):
        # A distance of zero (the estimate sits on a filter) would divide by zero; clamping
        # keeps that filter's pull finite, which is the usual Weiszfeld safeguard.
        weights = 1.0 / (points - median).norm(dim=1).clamp_min(1e-12)
        updated = (weights[:, None] * points).sum(0) / weights.sum()
        moved = (updated - median).norm()
        median = updated
        if moved <= WEISZFELD_TOLERANCE * (median.norm() + WEISZFELD_TOLERANCE):
            break
    return median


def median_distances(layer: nn.Module) -> torch.Tensor:
    """Each output filter's distance to the layer's geometric median, over the mean one."""
    filters = output_filters(layer, slice(None)).double()
    distances = (filters - geometric_median(filters)).norm(dim=1)
    mean = distances.mean()
    return (distances / mean if mean > 0 else distances).float()


def fpgm_criterion(model: nn.Module, context: PruneContext) -> Criterion:
    """Per layer within the group, averaged over coupled layers."""

    def score(layer: nn.Module, idxs: list) -> torch.Tensor:
        return median_distances(layer)[idxs]

    return lambda group: group_mean(group, score)
