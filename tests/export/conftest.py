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


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict:
    """Untrained SmallResNet exports for the stand-in tests: dynamic and static batch, and
    the dynamic one quantized to QDQ INT8; 300 random images in a bundle."""
    from edgeprune.export import ExportSettings, export_onnx
    from edgeprune.export.quantize import QuantizeSettings, quantize_int8
    from edgeprune.models.small_resnet import SmallResNet

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("fake")
    model = SmallResNet(10).eval()
    dynamic = export_onnx(model, folder / "model.onnx", (3, 32, 32)).path
    static = export_onnx(
        model, folder / "static.onnx", (3, 32, 32), ExportSettings(dynamic_batch=False)
    ).path
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    bundle = write_bundle(
        folder / "bundle",
        {"clean": (images, rng.integers(0, 10, 300))},
        (0.5,) * 3,
        (0.25,) * 3,
        10,
    )
    qdq = quantize_int8(
        dynamic,
        folder / "model.int8.onnx",
        images,
        bundle.preprocess,
        QuantizeSettings(calibration_count=64),
    ).path
    return {"dynamic": dynamic, "static": static, "qdq": qdq, "images": images, "bundle": bundle}


# The TensorRT generations the stand-in models (fake_tensorrt.configure): 10.x has named
# tensors only, 8.6 has them and the bindings API; "8.4.3" (bindings only) and "8.2.5" (no
# memory pools) are for tests of the older branches, through make_fake_tensorrt.
GENERATIONS = ("10.3.0", "8.6.1")


def load_fake_tensorrt(monkeypatch, version: str = "10.3.0"):
    """``tensorrt`` and the CUDA helper replaced by host-memory stand-ins (fake_tensorrt.py),
    as TensorRT ``version`` has them; a fresh module each time, so its state is the test's."""
    import importlib.util
    import sys

    import edgeprune.export.tensorrt_build as build
    import edgeprune.targets.runners.tensorrt_runner as runner

    spec = importlib.util.spec_from_file_location(
        "tensorrt", Path(__file__).with_name("fake_tensorrt.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.configure(version)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(build, "load_cuda", lambda *args, **kwargs: module.HostCuda())
    monkeypatch.setattr(runner, "load_cuda", lambda *args, **kwargs: module.HostCuda())
    return module


@pytest.fixture(params=GENERATIONS)
def fake_tensorrt(request, monkeypatch):
    """The stand-in, once per TensorRT generation (10.x and 8.6)."""
    return load_fake_tensorrt(monkeypatch, request.param)


@pytest.fixture
def make_fake_tensorrt(monkeypatch):
    """``make_fake_tensorrt("8.4.3")``: the stand-in as one given TensorRT release."""
    return lambda version: load_fake_tensorrt(monkeypatch, version)


@pytest.fixture(scope="session")
def cuda_gpu() -> dict:
    """This machine's GPU, or a skip saying why there is none usable: CUDA through
    cuda-python or pycuda, and TensorRT's own builder (which initialises CUDA itself and can
    fail where cuda-python works: a driver too old for TensorRT's CUDA)."""
    from edgeprune.errors import EdgepruneError
    from edgeprune.export.tensorrt_build import describe_builder
    from edgeprune.targets.runners.cuda_backend import load_cuda

    try:
        cuda = load_cuda()
    except EdgepruneError as exc:
        pytest.skip(f"no usable CUDA GPU here: {exc}")
    try:
        properties = cuda.device_properties()
    finally:
        cuda.close()
    try:
        describe_builder()
    except EdgepruneError as exc:
        pytest.skip(f"TensorRT cannot use this GPU: {exc}")
    return properties
