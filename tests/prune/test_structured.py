from __future__ import annotations

import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models import ModelSpec, create_model
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.prune.structured import aligned_keep

X = torch.zeros(1, 3, 32, 32)


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_channels_are_removed_physically_and_protected_layers_kept():
    model = create_model(ModelSpec("small-resnet", 10))
    before = _params(model)
    report = prune_model(model, "l1-filter", 0.5, PruneSettings(), PruneContext(X)).report
    channels = report["channels"]
    assert channels["stem.0"]["after"] == [3, 16]  # first conv keeps its filters...
    assert channels["fc"]["after"][1] == 10  # ...and the classifier its outputs
    assert channels["stages.2.conv1"]["after"] == [16, 32]
    assert _params(model) < 0.4 * before  # both in and out channels shrink: far more than 50 %
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("kept, expected", [(1, 8), (4, 8), (11, 8), (12, 16), (16, 16), (20, 24)])
def test_alignment_rounds_to_the_nearest_multiple_never_to_zero(kept, expected):
    assert aligned_keep(kept, 64, 8) == expected


def test_alignment_keeps_small_layers_pruned():
    # Torch-Pruning's own rounding would turn 16 -> 4 channels into 0 and skip the layer.
    model = create_model(ModelSpec("small-resnet", 10))
    report = prune_model(
        model, "l1-filter", 0.75, PruneSettings(round_to=8), PruneContext(X)
    ).report
    counts = [v["after"][1] for k, v in report["channels"].items() if k.endswith("conv1")]
    assert counts == [8, 8, 16]
    assert all(c % 8 == 0 for c in counts)


def test_l1_filter_keeps_the_filters_with_the_largest_l1_norm():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),  # first conv: protected, so conv 2 keeps its inputs
        torch.nn.Conv2d(8, 16, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 8, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    )
    weights = model[2].weight.detach().clone()
    largest = set(torch.argsort(weights.abs().flatten(1).sum(1), descending=True)[:8].tolist())
    prune_model(model, "l1-filter", 0.5, PruneSettings(), PruneContext(X))
    kept = {
        i for i in range(16) if any(torch.equal(weights[i], w) for w in model[2].weight.detach())
    }
    assert model[2].weight.shape == (8, 8, 3, 3)
    assert kept == largest


def test_unknown_method_and_layer_names():
    with pytest.raises(EdgepruneError, match="unknown pruning method"):
        METHODS.get("l1_filter")
    with pytest.raises(EdgepruneError, match="unknown modules: nope"):
        prune_model(
            create_model(ModelSpec("small-resnet", 10)),
            "l1-filter",
            0.5,
            PruneSettings(ignore=("nope",)),
            PruneContext(X),
        )


def test_ignored_layers_stay_intact():
    model = create_model(ModelSpec("small-resnet", 10))
    report = prune_model(
        model, "l1-filter", 0.5, PruneSettings(ignore=("stages.2.conv1",)), PruneContext(X)
    ).report
    assert report["channels"]["stages.2.conv1"]["after"][1] == 64
