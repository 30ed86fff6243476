"""He et al.'s CIFAR ResNets (option A) as users download them, and their pruning.

The reference network below is written as akamaster/pytorch_resnet_cifar10 writes it (a
``LambdaLayer`` that subsamples and zero-pads), so these tests compare edgeprune's fixed
1x1-convolution form with the original, not with itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from edgeprune.data.datasets import Split, load_dataset
from edgeprune.errors import EdgepruneError
from edgeprune.inference import Normalizer
from edgeprune.models import ModelSpec, create_model, load_model, save_model
from edgeprune.models.checkpoint import load_weights
from edgeprune.models.cifar_resnet import ZeroPadShortcut
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.prune.criteria import filter_norm
from edgeprune.train import TrainRecipe, train


class _LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class _ReferenceBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            pad = planes // 4
            self.shortcut = _LambdaLayer(
                lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ReferenceResNet(nn.Module):
    """akamaster's ``resnet.ResNet(BasicBlock, [n, n, n])``."""

    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(_ReferenceBlock(in_planes, planes, s))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


@torch.no_grad()
def _trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights with BN running statistics and affine terms, as a trained net has."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=g) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=g) + 0.5)
            module.weight.copy_(torch.rand(module.num_features, generator=g) + 0.5)
            module.bias.copy_(torch.randn(module.num_features, generator=g) * 0.1)
    return model.eval()


def _downloaded_checkpoint(reference: nn.Module, path) -> None:
    """Save as akamaster's trainer does: DataParallel keys, a wrapper, and no
    num_batches_tracked (saved before PyTorch 0.4.1)."""
    state = {f"module.{k}": v for k, v in reference.state_dict().items() if "num_batches" not in k}
    torch.save({"epoch": 200, "best_prec1": 91.78, "state_dict": state}, path)


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_the_downloaded_format_loads_and_computes_what_the_original_does(depth, tmp_path):
    torch.manual_seed(depth)
    reference = _trained_like(ReferenceResNet(depth), seed=depth)
    _downloaded_checkpoint(reference, tmp_path / "resnet.th")
    ours = load_weights(create_model(ModelSpec(f"resnet{depth}", 10)), tmp_path / "resnet.th", "r")
    ours.eval()
    learned = sum(p.numel() for p in ours.parameters() if p.requires_grad)
    assert learned == sum(p.numel() for p in reference.parameters())
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert (got - expected).abs().max() <= 1e-6 * max(1.0, float(expected.abs().max()))


def test_the_shortcut_is_option_a_exactly():
    shortcut = ZeroPadShortcut(16, 32)
    x = torch.randn(3, 16, 32, 32)
    assert torch.equal(shortcut(x), F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 8, 8)))
    assert not shortcut.weight.requires_grad


def test_a_checkpoint_of_another_network_is_refused_by_name(tmp_path):
    reference = ReferenceResNet(20)
    _downloaded_checkpoint(reference, tmp_path / "resnet20.th")
    with pytest.raises(EdgepruneError, match="does not fit model resnet56"):
        load_weights(create_model(ModelSpec("resnet56", 10)), tmp_path / "resnet20.th", "resnet56")


def test_option_b_model_files_saved_under_the_old_names_still_load(tmp_path):
    """Before the paper's networks took the names ``resnetN``, edgeprune's option-B ResNets
    had them; their model files load as ``resnetN-1x1``."""
    torch.manual_seed(0)
    option_b = _trained_like(create_model(ModelSpec("resnet20-1x1", 10)))
    save_model(tmp_path / "old.pt", option_b, ModelSpec("resnet20", 10))
    loaded, spec, _ = load_model(tmp_path / "old.pt")
    assert spec.name == "resnet20-1x1"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), option_b(x))


def _selection_is_intact(model: nn.Module) -> None:
    """Every shortcut copies each output channel from at most one input channel (or none)."""
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert shortcuts
    for shortcut in shortcuts:
        weight = shortcut.weight.detach()[:, :, 0, 0]
        assert set(weight.unique().tolist()) <= {0.0, 1.0}
        assert (weight.sum(1) <= 1).all() and (weight.sum(0) <= 1).all()


STRUCTURED = [m for m in METHODS.names() if METHODS.get(m).kind == "structured"]


def _batches():
    g = torch.Generator().manual_seed(0)
    data = [
        (torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g))
        for _ in range(2)
    ]
    return lambda: data


@pytest.mark.parametrize("allocation", ["uniform", "global"])
@pytest.mark.parametrize("method", STRUCTURED)
def test_every_structured_method_prunes_option_a(method, allocation, tmp_path):
    torch.manual_seed(0)
    model = _trained_like(create_model(ModelSpec("resnet20", 10)))
    example = torch.zeros(1, 3, 32, 32)
    macs_before, _ = tp.utils.count_ops_and_params(model, example)
    settings = PruneSettings(allocation=allocation)
    prune_model(model, method, 0.5, settings, PruneContext(example, _batches()))
    model.eval()
    macs_after, _ = tp.utils.count_ops_and_params(model, example)
    assert macs_after < 0.7 * macs_before
    _selection_is_intact(model)
    assert all(
        not m.weight.requires_grad for m in model.modules() if isinstance(m, ZeroPadShortcut)
    )
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    assert torch.isfinite(logits).all()
    save_model(tmp_path / "m.pt", model, ModelSpec("resnet20", 10))
    again, _, _ = load_model(tmp_path / "m.pt")
    with torch.no_grad():
        assert torch.equal(again(x), logits)


def test_pruning_criteria_do_not_score_the_constant_shortcut():
    """The 0/1 shortcut rows would add 1 to the importance of the channels it copies into
    and 0 to the padded ones: scores must not depend on it."""
    model = _trained_like(create_model(ModelSpec("resnet20", 10)))
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 32, 32))
    shortcut = model.layer2[0].shortcut
    group = graph.get_pruning_group(shortcut, tp.prune_conv_out_channels, idxs=list(range(32)))
    criterion = filter_norm(1)
    before = criterion(group)
    with torch.no_grad():
        shortcut.weight.mul_(100.0)
    assert torch.equal(criterion(group), before)


@pytest.mark.parametrize("method", ["unstructured-global", "2:4"])
def test_masks_leave_the_shortcut_alone(method):
    model = _trained_like(create_model(ModelSpec("resnet20", 10)))
    before = {
        n: m.weight.detach().clone()
        for n, m in model.named_modules()
        if isinstance(m, ZeroPadShortcut)
    }
    context = PruneContext(torch.zeros(1, 3, 32, 32), _batches())
    report = prune_model(model, method, 0.9, PruneSettings(), context).report
    after = {
        n: m.weight.detach() for n, m in model.named_modules() if isinstance(m, ZeroPadShortcut)
    }
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert report["layers"] and not any("shortcut" in name for name in report["layers"])


def test_fine_tuning_leaves_the_shortcut_a_constant():
    model = create_model(ModelSpec("resnet20", 10))
    prune_model(
        model,
        "l1-filter",
        0.5,
        PruneSettings(),
        PruneContext(torch.zeros(1, 3, 32, 32), _batches()),
    )
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    before = [m.weight.detach().clone() for m in shortcuts]
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    labels = np.random.default_rng(1).integers(0, 10, 32)
    recipe = TrainRecipe(epochs=1, lr=0.1, batch_size=16, weight_decay=5e-4)
    train(model, Split(images, labels), Normalizer((0.5,) * 3, (0.25,) * 3), recipe)
    assert all(torch.equal(b, m.weight.detach()) for b, m in zip(before, shortcuts))


# ResNet-56 takes three times as long on 10,000 images: a slow test
@pytest.mark.parametrize("name", ["resnet20", pytest.param("resnet56", marks=pytest.mark.slow)])
def test_real_checkpoints_reach_their_accuracy_on_the_jpeg_test_set(name, pretrained, cifar10_dir):
    """akamaster's checkpoints on the JPEG copies of the CIFAR-10 test set with ImageNet
    normalisation, as their README says: the top-1 measured when the data was shared
    (81.0 / 83.2 %; the JPEG shift costs about 10 points against the paper's)."""
    if name not in pretrained:
        pytest.skip(f"no {name} checkpoint")
    path, expected = pretrained[name]
    test = load_dataset(f"cifar10:{cifar10_dir}").test
    model = load_weights(create_model(ModelSpec(name, 10)), path, name).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test), 1000):
            batch = torch.from_numpy(test.images[start : start + 1000])
            x = batch.permute(0, 3, 1, 2).float() / 255
            predicted = model((x - mean) / std).argmax(1).numpy()
            correct += int((predicted == test.labels[start : start + 1000]).sum())
    assert correct / len(test) == pytest.approx(expected, abs=0.005)
