"""The runtime registry: what every runtime-dependent step asks instead of comparing strings."""

from __future__ import annotations

import importlib.util

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.measure import Variant, plan_variants
from edgeprune.measure.artifacts import VariantPlan, auto_runtime
from edgeprune.targets.profile import load_target
from edgeprune.targets.run import DeviceJob
from edgeprune.targets.runners import create_runner
from edgeprune.targets.runtimes import RUNTIMES, Runtime, runtime_for_artifact

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_the_registry_names_both_runtimes_and_what_each_needs():
    assert RUNTIMES.names() == ["onnxruntime", "pytorch", "tensorrt"]
    ort, trt = RUNTIMES.get("onnxruntime"), RUNTIMES.get("tensorrt")
    assert ort.import_name == "onnxruntime" and trt.import_name == "tensorrt"
    assert ort.variant_precisions == ("int8",) and trt.variant_precisions == (
        "fp32",
        "fp16",
        "int8",
    )
    assert ort.builder is None and trt.builder.endswith(":engine_for_variant")
    assert trt.runs_where_built and not ort.runs_where_built
    assert ort.available()  # a dependency of edgeprune


def test_unknown_runtime_is_one_clear_error_listing_the_known():
    with pytest.raises(
        EdgepruneError, match="unknown runtime 'tflite'.*known: onnxruntime, pytorch, tensorrt"
    ):
        create_runner("tflite", "model.tflite")


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_a_runtime_that_is_not_installed_says_what_to_install():
    with pytest.raises(EdgepruneError, match="TensorRT is not installed: pip install 'edgeprune"):
        RUNTIMES.get("tensorrt").create("model.engine")
    assert auto_runtime(load_target("jetson-orin-nano")) == (RUNTIMES.get("onnxruntime"), None)


def test_artifact_suffixes_pick_the_runtime():
    assert runtime_for_artifact("runs/x/model.onnx").name == "onnxruntime"
    assert runtime_for_artifact("model.orin.trt10.3.fp16.ENGINE").name == "tensorrt"
    with pytest.raises(EdgepruneError, match="cannot tell the runtime of model.bin"):
        runtime_for_artifact("model.bin")


def test_variant_names_and_options_come_from_the_runtime():
    assert Variant("onnxruntime", "int8").name("baseline") == "baseline@int8"
    assert Variant("tensorrt", "fp16").name("l1-filter-0.50") == "l1-filter-0.50@trt-fp16"
    from edgeprune.export.quantize import HOST_RUNNER_OPTIONS

    assert dict(RUNTIMES.get("onnxruntime").variant_options["int8"]) == HOST_RUNNER_OPTIONS


def test_job_settings_reach_only_the_runtimes_that_take_them():
    job = DeviceJob(threads=2, providers=("CPUExecutionProvider",))
    assert job.runner_options() == {"threads": 2, "providers": ["CPUExecutionProvider"]}
    trt_job = DeviceJob(runtime="tensorrt", threads=2, engine_options=(("log_level", "ERROR"),))
    assert trt_job.runner_options() == {"log_level": "ERROR"}


def test_plan_variants_asks_the_runtime():
    target = load_target("jetson-orin-nano")
    assert plan_variants("auto", "onnxruntime", target) == VariantPlan([], "onnxruntime")
    planned = plan_variants("int8,fp32", "onnxruntime", target)
    assert planned.variants == [Variant("onnxruntime", "int8")]
    assert planned.runtime == "onnxruntime"
    with pytest.raises(EdgepruneError, match="fp16 needs PyTorch or TensorRT: --runtime pytorch"):
        plan_variants("fp16", "onnxruntime", target)
    # PyTorch runs on this CPU, not on the Orin's GPU: FP32, what a CPU runs natively
    assert plan_variants("auto", "pytorch", target) == VariantPlan(
        [Variant("pytorch", "fp32")], "pytorch"
    )
    with pytest.raises(EdgepruneError, match="PyTorch fp16 variants run on a GPU.*emulated"):
        plan_variants("fp16", "pytorch", target)
    assert Variant("pytorch", "fp16").name("baseline") == "baseline@pt-fp16"


@pytest.fixture
def tensorrt_importable(monkeypatch):
    """TensorRT imports here (a wheel on a machine whose GPU may or may not be usable)."""
    real = Runtime.importable
    monkeypatch.setattr(Runtime, "importable", lambda self: self.name == "tensorrt" or real(self))


def test_auto_never_picks_tensorrt_for_a_cpu_target(tensorrt_importable, monkeypatch):
    # Bug: --runtime auto chose TensorRT wherever it imported, so the default run (target
    # host-cpu) planned an FP32 engine that build_engine then refused ("has no GPU").
    planned = plan_variants("auto", "auto", load_target("host-cpu"))
    assert planned.runtime == "onnxruntime" and planned.variants == []
    assert "TensorRT is installed here, but target host-cpu has no GPU" in planned.note
    assert "--target local-gpu" in planned.note


def test_auto_picks_tensorrt_only_for_a_target_whose_gpu_is_here(tensorrt_importable, monkeypatch):
    orin = load_target("jetson-orin-nano")
    monkeypatch.setattr("edgeprune.targets.local_gpu.runs_here", lambda target: False)
    planned = plan_variants("auto", "auto", orin)  # e.g. on a workstation with an RTX GPU
    assert planned.runtime == "onnxruntime" and "build its engines on the device" in planned.note
    monkeypatch.setattr("edgeprune.targets.local_gpu.runs_here", lambda target: True)
    planned = plan_variants("auto", "auto", orin)  # on the Orin Nano itself
    assert planned == VariantPlan([Variant("tensorrt", "fp16")], "tensorrt")


def test_a_new_runtime_is_one_entry(tmp_path, monkeypatch):
    """Registered like this, a runtime is a config choice, an evaluate runtime, a device check
    and a runner: nothing else names it."""
    from edgeprune.config import build_config
    from edgeprune.registry import Registry

    registry = Registry("runtime")
    for name in RUNTIMES.names():
        registry.register(name, RUNTIMES.get(name))
    registry.register(
        "ort-copy",
        Runtime(
            name="ort-copy",
            display="ONNX Runtime (copy)",
            runner="edgeprune.targets.runners.onnxruntime_runner:OnnxRuntimeRunner",
            import_name="onnxruntime",
            install="pip install onnxruntime",
            suffixes=(".ortcopy",),
            variant_precisions=(),
        ),
    )
    monkeypatch.setattr("edgeprune.targets.runtimes.RUNTIMES", registry)
    assert build_config({}, {"runtime": "ort-copy"}).export.runtime == "ort-copy"
    assert runtime_for_artifact("m.ortcopy").name == "ort-copy"
    runner = create_runner("ort-copy", str(tmp_path / "absent.onnx"))
    assert type(runner).__name__ == "OnnxRuntimeRunner"
