"""Every pruning method on every model family: pruning at 0.5 runs, the model still runs,
parameters or non-zero weights and MACs change as the method implies, the ONNX export agrees
with PyTorch in ONNX Runtime, and the model saves and reloads exactly.

The full matrix is slow; the default run covers each method and each fast family once.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from edgeprune.export import INPUT_NAME, LOGITS, export_onnx
from edgeprune.models import ModelSpec, create_model, load_model, save_model
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

USER_MODULE = "edgeprune_test_user_models"
USER_MODEL = f"{USER_MODULE}:user_net"


class UserNet(nn.Module):
    """A user's own model: plain convs with BN, a depthwise conv, a hidden linear layer
    between pooling and classifier (so no closed-form CAM head)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(),
        )
        self.hidden = nn.Linear(128, 64)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean((2, 3))
        return self.head(F.relu(self.hidden(pooled)))


@pytest.fixture(autouse=True)
def user_model_module(monkeypatch):
    """Make ``edgeprune_test_user_models:user_net`` importable, as a user's file would be."""
    module = types.ModuleType(USER_MODULE)
    module.user_net = lambda num_classes: UserNet(num_classes)
    monkeypatch.setitem(sys.modules, USER_MODULE, module)


FAST_FAMILIES = [
    "small-resnet",
    "resnet20",
    "vgg16-bn-cifar",
    "resnet18-cifar",
    "torchvision:resnet18",
    "torchvision:mobilenet_v2",
    "torchvision:mobilenet_v3_small",
    "torchvision:efficientnet_b0",
    USER_MODEL,
]
SLOW_FAMILIES = ["resnet56", "resnet110", "torchvision:resnet50"]
# The default run: every method once, every fast family at least once; the costlier
# data-driven criteria on the smaller models.
FAST_PAIRS = [
    ("hrank", USER_MODEL),
    ("taylor", "small-resnet"),
    ("unstructured-layer", "small-resnet"),
    ("2:4", "resnet20"),
    ("l1-filter", "vgg16-bn-cifar"),
    ("unstructured-global", "resnet18-cifar"),
    ("l2-filter", "torchvision:resnet18"),
    ("bn-slimming", "torchvision:mobilenet_v2"),
    ("random", "torchvision:mobilenet_v3_small"),
    ("fpgm", "torchvision:efficientnet_b0"),
]
SLOW_PAIRS = [
    (method, family)
    for family in FAST_FAMILIES + SLOW_FAMILIES
    for method in METHODS.names()
    if (method, family) not in FAST_PAIRS
]


def test_the_default_run_covers_every_method_and_fast_family():
    assert {m for m, _ in FAST_PAIRS} == set(METHODS.names())
    assert {f for _, f in FAST_PAIRS} == set(FAST_FAMILIES)


def random_batches():
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g))
        for _ in range(2)
    ]
    return lambda: batches


def macs_and_params(model: nn.Module) -> tuple[int, int]:
    macs, params = tp.utils.count_ops_and_params(model, torch.zeros(1, 3, 32, 32))
    return int(macs), int(params)


@torch.no_grad()
def with_batchnorm_statistics(model: nn.Module) -> nn.Module:
    """Give the BN layers running statistics, as a trained model has. Freshly initialised
    torchvision MobileNets and EfficientNets otherwise return logits of about 1e-10 in eval
    mode, where every class ties and no comparison of outputs means anything."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches below
    model.train()
    g = torch.Generator().manual_seed(2)
    model(torch.randn(32, 3, 32, 32, generator=g))
    return model.eval()


def onnx_zero_weights(path) -> int:
    graph = onnx.load(str(path)).graph
    return sum(int((onnx.numpy_helper.to_array(t) == 0).sum()) for t in graph.initializer)


def check_method_on_family(method: str, family: str, tmp_path) -> None:
    spec = ModelSpec(family, 10)
    kind = METHODS.get(method).kind
    torch.manual_seed(0)
    model = with_batchnorm_statistics(create_model(spec))
    macs_before, params_before = macs_and_params(model)
    nonzero_before = sum(int((p != 0).sum()) for p in model.parameters())
    context = PruneContext(torch.zeros(1, 3, 32, 32), random_batches())
    report = prune_model(model, method, 0.5, PruneSettings(), context).report
    model.eval()

    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()

    macs, params = macs_and_params(model)
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    exported = export_onnx(model, tmp_path / "model.onnx", (3, 32, 32))
    if kind == "structured":
        # Channels leave conv/linear layers on both sides: well past half of both.
        assert params < 0.6 * params_before, (params, params_before)
        assert macs < 0.6 * macs_before, (macs, macs_before)
        # The artifact computes what the pruned model does (ONNX counts only conv/matmul).
        assert graph_summary(graph_costs(exported.path))["macs"] <= macs
    else:
        # Masks keep dense shapes: same parameters and MACs, fewer non-zero weights, and the
        # zeros are in the exported weights too (BN folding scales them, zero stays zero).
        assert params == params_before and macs == macs_before
        assert nonzero <= nonzero_before - 0.45 * report["masked_weights"]
        assert report["sparsity"] == pytest.approx(0.5, abs=0.02)
        assert onnx_zero_weights(exported.path) >= report["zero_weights"]

    with OnnxRuntimeRunner(exported.path) as runner:
        ort_logits = runner.infer({INPUT_NAME: x.numpy()})[LOGITS]
    reference = logits.numpy()
    scale = float(np.abs(reference).max()) + 1e-6
    assert np.abs(ort_logits - reference).max() <= 1e-4 * scale + 1e-5
    top2 = np.sort(reference, axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 1e-3 * scale  # a near tie may flip either way
    assert decided.any()
    assert (ort_logits.argmax(1) == reference.argmax(1))[decided].all()

    save_model(tmp_path / "model.pt", model, spec, {"pruning": report})
    again, _, metadata = load_model(tmp_path / "model.pt")
    assert metadata["pruning"]["method"] == method
    saved, loaded = model.state_dict(), again.state_dict()
    assert saved.keys() == loaded.keys()  # plain weights: no mask parametrisation left
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    with torch.no_grad():
        assert torch.equal(again(x), logits)


@pytest.mark.parametrize("method, family", FAST_PAIRS)
def test_method_on_family(method, family, tmp_path):
    check_method_on_family(method, family, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("method, family", SLOW_PAIRS)
def test_method_on_family_full_matrix(method, family, tmp_path):
    check_method_on_family(method, family, tmp_path)
