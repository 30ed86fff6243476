"""A small trained model for the export tests: SmallResNet on sklearn's digits (seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.targets.bundle import EvalBundle, Preprocess, write_bundle


@dataclass(frozen=True)
class TrainedDigits:
    onnx: Path  # FP32, dynamic batch, outputs logits + features
    bundle: EvalBundle  # "calib" (validation images) and "clean" (test images) splits
    preprocess: Preprocess
    calibration: np.ndarray  # uint8 NHWC
    test_images: np.ndarray
    test_labels: np.ndarray


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory) -> TrainedDigits:
    from edgeprune.data.datasets import load_digits
    from edgeprune.export import export_onnx
    from edgeprune.inference import Normalizer
    from edgeprune.models.small_resnet import SmallResNet
    from edgeprune.train import TrainRecipe, train

    torch.manual_seed(0)
    data = load_digits("", None, 0)
    model = SmallResNet(10)
    train(model, data.train, Normalizer(data.mean, data.std), TrainRecipe(epochs=3, lr=0.05))
    folder = tmp_path_factory.mktemp("digits")
    exported = export_onnx(model, folder / "model.onnx", (3, 32, 32))
    bundle = write_bundle(
        folder / "bundle",
        {
            "calib": (data.val.images, data.val.labels),
            "clean": (data.test.images, data.test.labels),
        },
        data.mean,
        data.std,
        10,
    )
    return TrainedDigits(
        exported.path,
        bundle,
        bundle.preprocess,
        np.asarray(data.val.images),
        np.asarray(data.test.images),
        np.asarray(data.test.labels),
    )


@pytest.fixture
def fake_tensorrt(monkeypatch):
    """``tensorrt`` and the CUDA helper replaced by host-memory stand-ins (fake_tensorrt.py)."""
    import importlib.util
    import sys

    import edgeprune.export.tensorrt_build as build
    import edgeprune.targets.runners.tensorrt_runner as runner

    spec = importlib.util.spec_from_file_location(
        "tensorrt", Path(__file__).with_name("fake_tensorrt.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(build, "load_cuda", lambda *args, **kwargs: module.HostCuda())
    monkeypatch.setattr(runner, "load_cuda", lambda *args, **kwargs: module.HostCuda())
    return module
