"""TensorRT engines built and run for real: needs an NVIDIA GPU, TensorRT and cuda-python or
pycuda (``pip install 'edgeprune[tensorrt-cu12]' or '[tensorrt-cu13]'``); skips with the reason otherwise.

Engines are built for the GPU of the machine running the tests (no target profile), from the
digits model trained in conftest.py, and compared with ONNX Runtime on the CPU: the same
graph, so FP32 logits must agree closely (TF32 is off in FP32 engines), FP16 must keep the
top-1 class, and the INT8 engine of the QDQ model must predict what ONNX Runtime predicts
for that QDQ model on the host.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import numpy as np
import pytest

from edgeprune.export.quantize import HOST_RUNNER_OPTIONS, QuantizeSettings, quantize_int8
from edgeprune.export.tensorrt_build import (
    EngineSettings,
    build_engine,
    describe_builder,
    device_slug,
    parse_trtexec_summary,
)
from edgeprune.targets.latency import measure_latency
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner
from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner

pytestmark = [pytest.mark.gpu, pytest.mark.tensorrt]
if importlib.util.find_spec("tensorrt") is None:
    pytest.skip(
        "TensorRT is not installed (pip install 'edgeprune[tensorrt-cu12]' or '[tensorrt-cu13]')",
        allow_module_level=True,
    )

BATCH = (1, 64, 256)


@pytest.fixture(scope="session", autouse=True)
def gpu(cuda_gpu) -> dict:
    """This machine's GPU (conftest.py's cuda_gpu); autouse so that every test skips, before
    any training, where CUDA or TensorRT cannot use it."""
    return cuda_gpu


@pytest.fixture(scope="module")
def int8_capable(gpu) -> None:
    major, minor = (int(v) for v in gpu["compute_capability"].split("."))
    if (major, minor) < (6, 1):
        pytest.skip(f"{gpu['name']} has no INT8 instructions")


@pytest.fixture(scope="module")
def engines(gpu, trained_digits, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("engines")
    return {
        precision: build_engine(
            trained_digits.onnx, EngineSettings(precision=precision, batch=BATCH), out_dir=folder
        )
        for precision in ("fp32", "fp16")
    }


@pytest.fixture(scope="module")
def qdq_engine(int8_capable, trained_digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qdq")
    quantized = quantize_int8(
        trained_digits.onnx,
        folder / "model.int8.onnx",
        trained_digits.calibration,
        trained_digits.preprocess,
        QuantizeSettings(calibration_count=128),
    )
    built = build_engine(quantized.path, EngineSettings(precision="int8", batch=BATCH))
    return quantized, built


@pytest.fixture(scope="module")
def reference(trained_digits) -> dict:
    """ONNX Runtime CPU outputs of the FP32 model on the test images."""
    batch = trained_digits.preprocess(trained_digits.test_images)
    with OnnxRuntimeRunner(trained_digits.onnx) as runner:
        return runner.infer({"input": batch})


def _tensorrt_outputs(engine, images, preprocess) -> dict:
    with TensorRTRunner(engine.path) as runner:
        return runner.infer_batched(preprocess(images))


def test_engine_file_name_and_sidecar(engines, gpu):
    import tensorrt as trt

    major, minor = trt.__version__.split(".")[:2]
    built = engines["fp16"]
    assert built.path.name == f"model.{device_slug(gpu['name'])}.trt{major}.{minor}.fp16.engine"
    record = built.record
    assert record["tensorrt"] == trt.__version__ and record["gpu"] == gpu
    assert record["precision"] == "fp16" and record["build_seconds"] > 0
    assert record["inputs"] == {"input": [-1, 3, 32, 32]}
    assert record["outputs"] == ["logits", "features"]
    assert engines["fp32"].record["tf32"] is False


def test_fp32_engine_matches_onnx_runtime(engines, trained_digits, reference):
    out = _tensorrt_outputs(engines["fp32"], trained_digits.test_images, trained_digits.preprocess)
    scale = float(np.abs(reference["logits"]).max())
    np.testing.assert_allclose(out["logits"], reference["logits"], rtol=1e-3, atol=1e-3 * scale)
    fscale = float(np.abs(reference["features"]).max())
    np.testing.assert_allclose(
        out["features"], reference["features"], rtol=1e-3, atol=1e-3 * fscale
    )


def test_fp16_engine_keeps_the_top1_class(engines, trained_digits, reference):
    out = _tensorrt_outputs(engines["fp16"], trained_digits.test_images, trained_digits.preprocess)
    agreement = (out["logits"].argmax(1) == reference["logits"].argmax(1)).mean()
    assert agreement >= 0.99


def test_int8_engine_of_the_qdq_model_predicts_what_the_host_measured(
    qdq_engine, trained_digits, reference
):
    quantized, built = qdq_engine
    assert built.record["int8_quantization"] == "explicit"
    images, preprocess = trained_digits.test_images, trained_digits.preprocess
    out = _tensorrt_outputs(built, images, preprocess)
    with OnnxRuntimeRunner(quantized.path, **HOST_RUNNER_OPTIONS) as runner:
        host = runner.infer({"input": preprocess(images)})
    top1 = out["logits"].argmax(1)
    assert (top1 == host["logits"].argmax(1)).mean() >= 0.97
    assert (top1 == reference["logits"].argmax(1)).mean() >= 0.95


def test_implicit_int8_calibration_with_a_cache(int8_capable, trained_digits, reference, tmp_path):
    settings = EngineSettings(precision="int8", batch=BATCH, calibration_batch=16)
    built = build_engine(
        trained_digits.onnx,
        settings,
        calibration_images=trained_digits.calibration,
        preprocess=trained_digits.preprocess,
        out_dir=tmp_path,
    )
    assert built.record["int8_quantization"] == "implicit"
    assert (tmp_path / f"{built.path.name}.calib").is_file()
    out = _tensorrt_outputs(built, trained_digits.test_images, trained_digits.preprocess)
    assert (out["logits"].argmax(1) == reference["logits"].argmax(1)).mean() >= 0.9


def test_dynamic_batch_component_times_and_info(engines, trained_digits):
    images = trained_digits.preprocess(trained_digits.test_images)
    with TensorRTRunner(engines["fp16"].path) as runner:
        assert runner.fixed_batch is None and runner.max_batch == BATCH[2]
        for n in (1, 7, BATCH[2] + 44):  # the last one is split at the profile's maximum
            out = runner.infer({"input": images[:n]}, ["logits"])
            assert out["logits"].shape == (n, 10) and list(out) == ["logits"]
        record = runner.timings[0]
        assert {"total_ms", "h2d_ms", "compute_ms", "d2h_ms"} <= set(record)
        assert all(record[k] >= 0 for k in record)
        assert record["compute_ms"] <= record["total_ms"]
        info = runner.info
    assert info["engine_device_memory_bytes"] > 0 and info["batch_profile"][2][0] == BATCH[2]
    assert info["built"]["precision"] == "fp16"


def test_static_batch_engine_is_padded(gpu, trained_digits, tmp_path):
    import torch

    from edgeprune.export import ExportSettings, export_onnx
    from edgeprune.models.small_resnet import SmallResNet

    torch.manual_seed(0)
    exported = export_onnx(
        SmallResNet(10).eval(), tmp_path / "static.onnx", (3, 32, 32), ExportSettings(False)
    )
    built = build_engine(exported.path, EngineSettings(precision="fp32"))
    images = trained_digits.preprocess(trained_digits.test_images[:5])
    with TensorRTRunner(built.path) as runner:
        assert runner.fixed_batch == 1
        assert runner.infer_batched(images)["logits"].shape == (5, 10)


def test_sparse_weights_flag_builds(gpu, trained_digits, tmp_path):
    built = build_engine(
        trained_digits.onnx, EngineSettings(precision="fp16", sparse_weights=True), out_dir=tmp_path
    )
    assert ".sparse." in built.path.name and built.record["settings"]["sparse_weights"]


def test_dla_engine_where_the_device_has_one(gpu, trained_digits, tmp_path):
    if describe_builder()["dla_cores"] == 0:
        pytest.skip("no DLA on this GPU (Jetson Xavier / Orin AGX and NX have them)")
    built = build_engine(
        trained_digits.onnx,
        EngineSettings(precision="fp16", batch=(8, 8, 8), dla_core=0),
        out_dir=tmp_path,
    )
    with TensorRTRunner(built.path) as runner:
        images = trained_digits.preprocess(trained_digits.test_images[:8])
        assert runner.infer({"input": images})["logits"].shape == (8, 10)


def test_timing_modes_on_the_gpu(engines, trained_digits, reference):
    """trtexec's modes: several streams in flight (and CUDA graphs through cuda-python) give
    the serial loop's outputs, every output, and at least its throughput."""
    images = trained_digits.preprocess(trained_digits.test_images[:16])
    with TensorRTRunner(engines["fp32"].path, streams=2) as runner:
        serial = measure_latency(runner, images, warmup=5, iterations=30, max_seconds=1.0)
        for mode in runner.latency_modes:
            if mode == "cuda-graph" and not runner._cuda.supports_graphs:
                continue  # pycuda: no stream capture
            figure = runner.time_mode(mode, {"input": images}, None, 5, 30, 1.0)
            assert figure["iterations"] >= 10 and figure["streams"] == 2
            assert figure["cuda_graph"] == (mode == "cuda-graph")
            assert figure["compute_ms"]["p50_ms"] <= figure["p50_ms"]
            assert figure["enqueue_ms"]["p50_ms"] > 0
            for name in ("logits", "features"):
                scale = float(np.abs(reference[name][:16]).max())
                np.testing.assert_allclose(
                    runner.mode_outputs[name], reference[name][:16], rtol=1e-3, atol=1e-3 * scale
                )
            assert figure["throughput_ips"] >= 0.8 * serial["throughput_ips"], mode


@pytest.mark.slow
def test_compute_time_agrees_with_trtexec(gpu, tmp_path):
    """Our CUDA-event compute time against trtexec's "GPU Compute Time" on the same engine."""
    trtexec = shutil.which("trtexec")
    if trtexec is None:
        pytest.skip("trtexec is not on the PATH")
    import torchvision

    from edgeprune.export import ExportSettings, export_onnx

    batch = 16  # long enough kernels that host enqueue time does not decide the comparison
    model = torchvision.models.resnet18(weights=None).eval()
    exported = export_onnx(model, tmp_path / "resnet18.onnx", (3, 224, 224), ExportSettings())
    built = build_engine(exported.path, EngineSettings(precision="fp16", batch=(batch,) * 3))
    images = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    with TensorRTRunner(built.path) as runner:
        ours = measure_latency(runner, images, warmup=50, iterations=300, max_seconds=5.0)
    done = subprocess.run(
        [
            trtexec,
            f"--loadEngine={built.path}",
            f"--shapes=input:{batch}x3x224x224",
            "--warmUp=500",
            "--iterations=300",
            "--duration=3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    theirs = parse_trtexec_summary(done.stdout)["gpu_compute_ms"]["median"]
    our_p50 = ours["compute_ms"]["p50_ms"]
    print(f"compute p50: edgeprune {our_p50:.3f} ms, trtexec median {theirs:.3f} ms")
    assert abs(our_p50 - theirs) <= 0.3 * theirs
