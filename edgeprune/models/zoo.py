"""Model constructors by name: edgeprune's own, torchvision's (``torchvision:<name>``) and a
user's factory (``package.module:factory``). Weights are never downloaded."""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch.nn as nn

from edgeprune.errors import EdgepruneError
from edgeprune.models.cifar_resnet import (
    OPTION_B_DEPTHS,
    PAPER_DEPTHS,
    CifarResNet,
    PaperResNet,
    resnet18_cifar,
)
from edgeprune.models.small_resnet import SmallResNet
from edgeprune.models.vgg_cifar import VGGCifar
from edgeprune.registry import Registry

ModelFactory = Callable[..., nn.Module]  # (num_classes, in_channels) -> module

MODELS: Registry[ModelFactory] = Registry("model")
MODELS.register(
    "small-resnet", lambda num_classes, in_channels: SmallResNet(num_classes, in_channels)
)
for _depth in PAPER_DEPTHS:  # He et al.'s networks, as the downloaded checkpoints hold them
    MODELS.register(
        f"resnet{_depth}",
        lambda num_classes, in_channels, depth=_depth: PaperResNet(depth, num_classes, in_channels),
    )
for _depth in OPTION_B_DEPTHS:  # the learned 1x1-convolution shortcut
    MODELS.register(
        f"resnet{_depth}-1x1",
        lambda num_classes, in_channels, depth=_depth: CifarResNet(depth, num_classes, in_channels),
    )
MODELS.register("resnet18-cifar", resnet18_cifar)
MODELS.register(
    "vgg16-bn-cifar", lambda num_classes, in_channels: VGGCifar(num_classes, in_channels)
)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build the unpruned architecture again."""

    name: str  # a registered name, torchvision:<name>, or package.module:factory
    num_classes: int
    in_channels: int = 3
    input_size: tuple[int, int] = (32, 32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        return cls(
            data["name"],
            int(data["num_classes"]),
            int(data["in_channels"]),
            tuple(data["input_size"]),
        )


def _torchvision_model(name: str, num_classes: int, in_channels: int) -> nn.Module:
    import torchvision

    if in_channels != 3:
        raise EdgepruneError(
            f"torchvision:{name} takes 3-channel input, the data has {in_channels}"
        )
    _check_torchvision_name(name)
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def _check_torchvision_name(name: str) -> None:
    import torchvision

    known = torchvision.models.list_models(torchvision.models)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean torchvision:{close[0]}?)" if close else ""
        raise EdgepruneError(
            f"unknown torchvision model {name!r}{hint}; classification models: {', '.join(known)}"
        )


def _factory(target: str) -> Callable[..., object]:
    """The user's ``package.module:factory``, imported from the working directory too."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise EdgepruneError(f"model {target!r}: expected package.module:factory")
    if os.getcwd() not in sys.path:  # a console script does not see the user's own files
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EdgepruneError(f"cannot import model factory module {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise EdgepruneError(f"{module_name!r} has no callable {attr!r} to build the model")
    return factory


def _user_factory(target: str, num_classes: int, in_channels: int) -> nn.Module:
    factory = _factory(target)
    params = inspect.signature(factory).parameters
    kwargs = {
        k: v for k, v in (("num_classes", num_classes), ("in_channels", in_channels)) if k in params
    }
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise EdgepruneError(f"{target} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def check_model_name(name: str) -> None:
    """Fail on a name that cannot build a model before any work is done: a registered-name
    typo, an unknown torchvision model, a factory module that does not import."""
    if name.startswith("torchvision:"):
        _check_torchvision_name(name.split(":", 1)[1])
    elif ":" in name:
        _factory(name)
    elif name not in MODELS:
        raise EdgepruneError(
            MODELS.unknown_message(name) + ", torchvision:<name>, or package.module:factory"
        )


def create_model(spec: ModelSpec) -> nn.Module:
    """Build the unpruned architecture with random weights."""
    if spec.name.startswith("torchvision:"):
        return _torchvision_model(spec.name.split(":", 1)[1], spec.num_classes, spec.in_channels)
    if ":" in spec.name:
        return _user_factory(spec.name, spec.num_classes, spec.in_channels)
    check_model_name(spec.name)
    return MODELS.get(spec.name)(num_classes=spec.num_classes, in_channels=spec.in_channels)
