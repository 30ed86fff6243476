"""Runner paths that run without a GPU: ONNX Runtime provider options, the TensorRT runner's
clear errors (TensorRT or a GPU missing, an engine from another GPU or TensorRT release)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import onnxruntime
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets.runners import create_runner
from edgeprune.targets.runners.onnxruntime_runner import (
    OnnxRuntimeRunner,
    tensorrt_provider_options,
)
from edgeprune.targets.runners.tensorrt_runner import _check_built_here, load_cuda, read_sidecar

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_CUDA_PYTHON = importlib.util.find_spec("cuda") is not None and (
    importlib.util.find_spec("cuda.bindings") is not None
    or importlib.util.find_spec("cuda.cudart") is not None
)


def test_tensorrt_provider_options():
    assert tensorrt_provider_options("fp16") == {
        "TensorrtExecutionProvider": {"trt_fp16_enable": True, "trt_int8_enable": False}
    }
    int8 = tensorrt_provider_options("int8", "cache/")["TensorrtExecutionProvider"]
    assert int8["trt_int8_enable"] and int8["trt_fp16_enable"]  # QDQ + FP16 for the rest
    assert int8["trt_engine_cache_enable"] and int8["trt_engine_cache_path"] == "cache/"
    with pytest.raises(EdgepruneError, match="fp32, fp16 or int8"):
        tensorrt_provider_options("bf16")


def test_provider_options_put_their_provider_first():
    runner = OnnxRuntimeRunner("m.onnx", provider_options=tensorrt_provider_options("fp16"))
    assert runner.providers == ["TensorrtExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(EdgepruneError, match="not in use: TensorrtExecutionProvider"):
        OnnxRuntimeRunner(
            "m.onnx",
            providers=["CPUExecutionProvider"],
            provider_options=tensorrt_provider_options("fp16"),
        )
    with pytest.raises(EdgepruneError, match="not valid JSON"):
        OnnxRuntimeRunner("m.onnx", provider_options="{fp16")
    with pytest.raises(EdgepruneError, match="graph_optimization must be one of"):
        OnnxRuntimeRunner("m.onnx", graph_optimization="max")


@pytest.mark.skipif(
    "TensorrtExecutionProvider" in onnxruntime.get_available_providers(),
    reason="this ONNX Runtime has the TensorRT provider",
)
def test_absent_tensorrt_provider_is_a_clear_error(tiny_artifact):
    _, exported, _ = tiny_artifact
    runner = OnnxRuntimeRunner(exported.path, provider_options=tensorrt_provider_options("int8"))
    with pytest.raises(EdgepruneError, match="lacks TensorrtExecutionProvider"):
        runner.__enter__()


def test_provider_options_reach_onnx_runtime_from_the_command_line_form(tiny_artifact):
    model, exported, bundle = tiny_artifact
    options = json.dumps({"CPUExecutionProvider": {"arena_extend_strategy": "kSameAsRequested"}})
    # DeviceJob.engine_options arrive as strings, so the options come as JSON text.
    runner = create_runner(
        "onnxruntime", str(exported.path), provider_options=options, graph_optimization="basic"
    )
    with runner:
        batch = next(bundle.batches("clean", 4))
        logits = runner.infer({"input": batch})["logits"]
    assert runner.info["graph_optimization"] == "basic"
    assert runner.info["provider_options"]["CPUExecutionProvider"]
    import torch

    with torch.no_grad():
        np.testing.assert_allclose(logits, model(torch.from_numpy(batch)).numpy(), atol=1e-5)


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_tensorrt_runner_without_tensorrt_is_one_clear_error(tmp_path):
    engine = tmp_path / "model.x.trt10.3.fp16.engine"
    engine.write_bytes(b"\0")
    with pytest.raises(EdgepruneError, match="TensorRT is not installed") as info:
        with create_runner("tensorrt", str(engine)):
            pass
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not HAS_CUDA_PYTHON, reason="cuda-python is not installed")
def test_cuda_without_a_gpu_is_a_clear_error():
    try:
        cuda = load_cuda("cuda-python")
    except EdgepruneError as exc:
        assert "CUDA call failed" in str(exc) and "\n" not in str(exc)
    else:  # a machine with a GPU: the helper works instead
        assert cuda.device_properties()["compute_capability"]
        cuda.close()
    with pytest.raises(EdgepruneError, match="unknown CUDA backend"):
        load_cuda("opencl")


def test_engine_from_another_gpu_or_release_is_refused(tmp_path):
    engine = tmp_path / "model.orin-nano.trt10.3.fp16.engine"
    built = {
        "device": "orin-nano",
        "tensorrt": "10.3.0",
        "gpu": {"name": "Orin", "compute_capability": "8.7"},
    }
    (tmp_path / f"{engine.name}.json").write_text(json.dumps(built))
    assert read_sidecar(engine) == built
    orin = {"name": "Orin", "compute_capability": "8.7"}
    _check_built_here(engine, built, "10.3.0", orin)  # same GPU and release: fine
    _check_built_here(engine, {}, "8.6.1", orin)  # no sidecar: TensorRT itself decides
    with pytest.raises(EdgepruneError, match="built with TensorRT 10.3.0 on orin-nano"):
        _check_built_here(engine, built, "8.6.2", orin)
    h100 = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
    with pytest.raises(EdgepruneError, match="built on Orin .sm 8.7.*rebuild the engine here"):
        _check_built_here(engine, built, "10.3.0", h100)
