"""What TensorRT refuses, and how edgeprune says so in one line, against the stand-in: its own
CUDA initialisation failing (pybind11's "factory function returned nullptr"), objects it
returns as None, builds it fails (FP16/INT8 without a fast path, DLA rules, Q/DQ rules), and
the TensorRT 8.4 / 8.2 branches (bindings API, max_workspace_size) end to end."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeprune.errors import EdgepruneError
from edgeprune.export.tensorrt_build import EngineSettings, build_engine, describe_builder
from edgeprune.targets.latency import measure_modes
from edgeprune.targets.profile import load_target
from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner

NULLPTR = "pybind11::init(): factory function returned nullptr"


def _cuda_init_fails(fake, cls) -> None:
    """TensorRT's constructor as it behaves when it cannot initialise CUDA: a warning logged,
    then pybind11's TypeError."""

    def fail(self, logger):
        logger.log(fake.ILogger.Severity.WARNING, "CUDA initialization failure with error: 35")
        raise TypeError(NULLPTR)

    cls.__init__ = fail


def test_tensorrt_without_cuda_is_one_clear_error(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], out_dir=tmp_path)
    _cuda_init_fails(fake_tensorrt, fake_tensorrt.Builder)
    _cuda_init_fails(fake_tensorrt, fake_tensorrt.Runtime)
    expected = "could not create a (builder|runtime): CUDA initialization failure with error: 35"
    for attempt in (
        lambda: build_engine(models["dynamic"], out_dir=tmp_path),
        describe_builder,
        lambda: TensorRTRunner(built.path).__enter__(),
    ):
        with pytest.raises(EdgepruneError, match=expected) as info:
            attempt()
        assert "GPU or its driver is not usable" in str(info.value)
        assert "\n" not in str(info.value)


def test_objects_tensorrt_returns_as_none(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], out_dir=tmp_path)
    fake_tensorrt._Engine.create_execution_context = lambda self: None
    with pytest.raises(EdgepruneError, match="could not create an execution context.*memory"):
        TensorRTRunner(built.path).__enter__()
    fake_tensorrt.Builder.create_network = lambda self, flags=0: None
    with pytest.raises(EdgepruneError, match="could not create a network"):
        build_engine(models["dynamic"], out_dir=tmp_path)


def test_a_failed_build_reports_what_tensorrt_logged(fake_tensorrt, models, tmp_path):
    fake_tensorrt.Builder.platform_has_fast_fp16 = False
    settings = EngineSettings(precision="fp16")
    with pytest.raises(EdgepruneError, match=r"Fake GPU \(sm 8.7\) has no fast FP16"):
        build_engine(models["dynamic"], settings, out_dir=tmp_path)
    # INT8 still builds there, its unquantized layers in FP32 rather than FP16
    int8 = build_engine(models["qdq"], EngineSettings(precision="int8"), out_dir=tmp_path)
    assert "FP16" not in json.loads(int8.path.read_bytes())["flags"]
    assert any("no fast FP16" in note for note in int8.record["notes"])
    fake_tensorrt.Builder.platform_has_fast_int8 = False
    with pytest.raises(EdgepruneError, match="has no fast INT8"):
        build_engine(models["qdq"], EngineSettings(precision="int8"), out_dir=tmp_path)
    # whatever edgeprune does not foresee: TensorRT's None and its logged error
    fake_tensorrt.Builder._refusal = lambda self, network, config: "Internal Error (out of tactics)"
    with pytest.raises(EdgepruneError, match=r"could not build .*: \[builder\] Internal Error"):
        build_engine(models["dynamic"], EngineSettings(precision="fp32"), out_dir=tmp_path)


def test_dla_rules(fake_tensorrt, models, tmp_path):
    fake_tensorrt.Builder.num_DLA_cores = 2
    agx = load_target("jetson-agx-orin-64gb")
    fake_tensorrt.HostCuda.compute_capability = "8.7"
    dynamic = EngineSettings(batch=(1, 8, 16), dla_core=0, gpu_fallback=False)
    with pytest.raises(EdgepruneError, match="DLA runs static shapes only"):
        build_engine(models["dynamic"], dynamic, agx, out_dir=tmp_path)
    fallback = build_engine(
        models["dynamic"], EngineSettings(batch=(1, 8, 16), dla_core=0), agx, out_dir=tmp_path
    )
    assert any("fall back to the GPU" in note for note in fallback.record["notes"])
    static = EngineSettings(batch=(8, 8, 8), dla_core=0, gpu_fallback=False)
    assert build_engine(models["dynamic"], static, agx, out_dir=tmp_path).record["settings"]


def _with_initializer(model, name: str, values: np.ndarray):
    for k, tensor in enumerate(model.graph.initializer):
        if tensor.name == name:
            model.graph.initializer[k].CopyFrom(numpy_helper.from_array(values, name))
    return model


@pytest.mark.parametrize(
    "change, message",
    [
        ("zero point 3", "zero point must be 0"),
        ("uint8 zero point", "only INT8 quantization"),
        ("negative scale", "scale must be positive"),
        ("weight axis 1", "not the weight's output-channel axis 0"),
    ],
)
def test_the_parser_refuses_qdq_tensorrt_cannot_import(
    fake_tensorrt, models, tmp_path, change, message
):
    model = onnx.load(str(models["qdq"]))
    nodes = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    per_tensor = next(n for n in nodes if n.input[0] == "input")
    weight = next(n for n in nodes if n.input[0].startswith("onnx::Conv"))
    if change == "zero point 3":
        _with_initializer(model, per_tensor.input[2], np.array(3, np.int8))
    elif change == "uint8 zero point":
        _with_initializer(model, per_tensor.input[2], np.array(0, np.uint8))
    elif change == "negative scale":
        _with_initializer(model, per_tensor.input[1], np.array(-0.1, np.float32))
    else:
        next(a for a in weight.attribute if a.name == "axis").i = 1
    path = tmp_path / "model.int8.onnx"
    onnx.save(model, str(path))
    with pytest.raises(EdgepruneError, match=f"cannot parse model.int8.onnx: .*{message}"):
        build_engine(path, EngineSettings(precision="int8"), out_dir=tmp_path)


@pytest.mark.parametrize("version", ["8.4.3", "8.2.5"])
def test_tensorrt_before_named_tensors_builds_and_runs(
    make_fake_tensorrt, models, tmp_path, version
):
    """The bindings API (num_bindings, set_binding_shape, execute_async_v2, get_profile_shape)
    and, before 8.4, max_workspace_size: the branches TensorRT 10 no longer has."""
    fake = make_fake_tensorrt(version)
    assert not hasattr(fake._Engine, "num_io_tensors")
    settings = EngineSettings(precision="fp16", batch=(1, 8, 32), workspace_mb=64)
    built = build_engine(models["dynamic"], settings, out_dir=tmp_path)
    assert built.path.name == f"model.fake-gpu.trt{version[:3]}.fp16.engine"
    batch = models["bundle"].preprocess(models["images"][:40])  # 40 > 32: two engine calls
    with TensorRTRunner(built.path, streams=2) as runner:
        assert runner._tensors[0].index == 0 and runner.max_batch == 32
        out = runner.infer({"input": batch})
        np.testing.assert_allclose(out["logits"], fake.reference_logits(batch), rtol=1e-5)
        expected = fake.reference_features(batch, (40, 64, 8, 8))
        np.testing.assert_allclose(out["features"], expected, rtol=1e-6)
        # Before 8.6 a second context gets no optimization profile: no streams side by side
        # (TensorRT's rule; the contexts of an 8.6 or 10 engine share profile 0).
        figures = measure_modes(runner, batch[:8], 2, 12, 1.0)
        assert "needs TensorRT 8.6 or later" in figures["enqueue-ahead"]["unsupported"]
        out = runner.infer({"input": batch[:8]})  # the serial figure is still timed
        np.testing.assert_allclose(out["logits"], fake.reference_logits(batch[:8]), rtol=1e-5)
        with pytest.raises(EdgepruneError, match="does not accept shape"):
            runner.set_input_shape("input", (33, 3, 32, 32))


@pytest.mark.parametrize("shared", [True, False])
def test_tensorrt_86_streams_side_by_side_need_the_shared_profile(
    make_fake_tensorrt, models, tmp_path, monkeypatch, shared
):
    """TensorRT 8.6 gives a second execution context optimization profile 0 only when the
    engine was built with PROFILE_SHARING_0806 and the context asks for it: enqueue-ahead
    timing (a context per stream) failed on every dynamic 8.6 engine before."""
    import edgeprune.export.tensorrt_build as build

    fake = make_fake_tensorrt("8.6.1")
    if not shared:  # an engine built as before: without the preview feature
        monkeypatch.setattr(build, "_share_profile", lambda trt, config, notes: None)
    built = build_engine(models["dynamic"], EngineSettings(precision="fp16"), out_dir=tmp_path)
    batch = models["bundle"].preprocess(models["images"][:4])
    with TensorRTRunner(built.path, streams=2) as runner:
        figures = measure_modes(runner, batch, 2, 12, 1.0)
    if shared:
        assert "optimization profile shared" in " ".join(built.record["notes"])
        assert figures["enqueue-ahead"]["iterations"] == 12
        np.testing.assert_allclose(
            runner.mode_outputs["logits"], fake.reference_logits(batch), rtol=1e-5
        )
    else:
        assert "needs TensorRT 8.6 or later" in figures["enqueue-ahead"]["unsupported"]
