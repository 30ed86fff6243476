"""The TensorRT build and run paths end to end on a machine without a GPU, against the
host-memory stand-in in fake_tensorrt.py, once as TensorRT 10.x and once as 8.6: builder
flags per precision, optimisation and calibration profiles, engine naming and sidecar, target
checks, the runner's buffers, both outputs, dynamic batch, chunking, padding and timing
components, and the device entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.export.tensorrt_build import EngineSettings, build_engine
from edgeprune.targets.profile import load_target
from edgeprune.targets.run import DeviceJob, evaluate_artifact
from edgeprune.targets.runners import create_runner


def _description(built) -> dict:
    return json.loads(built.path.read_bytes())  # the fake serializes what the builder was told


def _trt(fake) -> str:
    """The version in engine names: "10.3" or "8.6"."""
    return "{}.{}".format(*fake.__version__.split(".")[:2])


def test_fp16_build_names_the_engine_and_writes_the_sidecar(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], EngineSettings(batch=(1, 64, 256)), out_dir=tmp_path)
    assert built.path.name == f"model.fake-gpu.trt{_trt(fake_tensorrt)}.fp16.engine"
    assert built.sidecar.name == built.path.name + ".json"
    record = json.loads(built.sidecar.read_text())
    assert record["tensorrt"] == fake_tensorrt.__version__ and record["device"] == "fake-gpu"
    assert record["gpu"]["compute_capability"] == "8.7" and record["build_seconds"] >= 0
    assert record["inputs"] == {"input": [-1, 3, 32, 32]}
    assert record["outputs"] == ["logits", "features"]
    assert len(record["onnx_sha256"]) == 64 and record["int8_quantization"] is None
    engine = _description(built)
    assert "FP16" in engine["flags"] and "INT8" not in engine["flags"]
    assert engine["profile"]["input"] == [[1, 3, 32, 32], [64, 3, 32, 32], [256, 3, 32, 32]]


def test_fp32_turns_tf32_off(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], EngineSettings(precision="fp32"), out_dir=tmp_path)
    assert _description(built)["flags"] == []
    assert built.record["tf32"] is False


def test_int8_explicit_from_qdq_and_implicit_with_a_cache(fake_tensorrt, models, tmp_path):
    int8 = EngineSettings(precision="int8", calibration_batch=8)
    explicit = build_engine(models["qdq"], int8, out_dir=tmp_path)
    assert explicit.path.name == f"model.fake-gpu.trt{_trt(fake_tensorrt)}.int8.engine"
    assert explicit.record["int8_quantization"] == "explicit"
    assert {"INT8", "FP16"} <= set(_description(explicit)["flags"])
    with pytest.raises(EdgepruneError, match="needs a QDQ model .* or calibration images"):
        build_engine(models["dynamic"], int8, out_dir=tmp_path)
    images, preprocess = models["images"][:50], models["bundle"].preprocess
    implicit = build_engine(
        models["dynamic"], int8, calibration_images=images, preprocess=preprocess, out_dir=tmp_path
    )
    assert implicit.record["int8_quantization"] == "implicit"
    assert _description(implicit)["calibrated_images"] == 56  # 50 filled to whole batches of 8
    assert (tmp_path / f"{implicit.path.name}.calib").read_bytes() == b"fake-cache"
    again = build_engine(
        models["dynamic"], int8, calibration_images=images, preprocess=preprocess, out_dir=tmp_path
    )
    assert _description(again)["calibrated_images"] == 0  # read from the cache


def test_target_checks(fake_tensorrt, models, tmp_path):
    orin_nano = load_target("jetson-orin-nano")  # sm 8.7, as the fake GPU
    built = build_engine(models["dynamic"], target=orin_nano, out_dir=tmp_path)
    assert built.path.name == f"model.orin-nano.trt{_trt(fake_tensorrt)}.fp16.engine"
    assert built.record["target"] == "jetson-orin-nano"
    with pytest.raises(
        EdgepruneError, match="sm 8.7.*jetson-agx-xavier is sm 7.2.*build on the device"
    ):
        build_engine(models["dynamic"], target=load_target("jetson-agx-xavier"))
    with pytest.raises(EdgepruneError, match="host-cpu has no GPU"):
        build_engine(models["dynamic"], target=load_target("host-cpu"))
    with pytest.raises(EdgepruneError, match="has 0 DLA cores, DLA core 0 was asked for"):
        build_engine(models["dynamic"], EngineSettings(dla_core=0), target=orin_nano)
    agx = load_target("jetson-agx-orin-64gb")
    with pytest.raises(EdgepruneError, match="this device has 0 DLA cores"):  # the fake has none
        build_engine(models["dynamic"], EngineSettings(dla_core=1), target=agx)
    with pytest.raises(EdgepruneError, match="FP16 or INT8 only"):
        build_engine(models["dynamic"], EngineSettings(precision="fp32", dla_core=0), target=agx)


def test_dla_and_sparse_settings_reach_the_builder(fake_tensorrt, models, tmp_path):
    fake_tensorrt.Builder.num_DLA_cores = 2
    try:
        built = build_engine(
            models["dynamic"],
            EngineSettings(batch=(4, 4, 4), dla_core=1, sparse_weights=True),
            target=load_target("jetson-agx-orin-64gb"),
            out_dir=tmp_path,
        )
    finally:
        fake_tensorrt.Builder.num_DLA_cores = 0
    assert (
        built.path.name == f"model.agx-orin-64gb.trt{_trt(fake_tensorrt)}.fp16.sparse.dla1.engine"
    )
    engine = _description(built)
    assert engine["dla_core"] == 1 and {"GPU_FALLBACK", "SPARSE_WEIGHTS"} <= set(engine["flags"])


def test_build_errors(fake_tensorrt, models, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    with pytest.raises(EdgepruneError, match="cannot parse broken.onnx: In node 0"):
        build_engine(broken)
    with pytest.raises(EdgepruneError, match="min <= opt <= max"):
        build_engine(models["dynamic"], EngineSettings(batch=(8, 1, 64)))
    fake_tensorrt.__version__ = "11.4.0"
    with pytest.raises(EdgepruneError, match="strongly typed networks only.*tensorrt<11"):
        build_engine(models["dynamic"])


def test_runner_dynamic_batch_chunks_and_times(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], EngineSettings(batch=(1, 64, 256)), out_dir=tmp_path)
    preprocess = models["bundle"].preprocess
    with create_runner("tensorrt", str(built.path)) as runner:
        assert runner.input_names == ["input"] and runner.output_names == ["logits", "features"]
        assert runner.fixed_batch is None and runner.max_batch == 256
        for n in (1, 7, 300):  # 300 > the profile's 256: run as 256 + 44
            batch = preprocess(models["images"][:n])
            out = runner.infer({"input": batch})
            np.testing.assert_allclose(
                out["logits"], fake_tensorrt.reference_logits(batch), rtol=1e-5, atol=1e-5
            )
            expected = fake_tensorrt.reference_features(batch, (n, 64, 8, 8))
            np.testing.assert_allclose(out["features"], expected, rtol=1e-6)
            assert list(runner.infer({"input": batch}, ["logits"])) == ["logits"]
        assert {"total_ms", "h2d_ms", "compute_ms", "d2h_ms", "enqueue_ms"} <= set(
            runner.timings[-1]
        )
        info = runner.info
    assert info["runtime"] == "tensorrt" and info["version"] == fake_tensorrt.__version__
    assert info["engine_device_memory_bytes"] == 4096 and info["gpu"]["name"] == "Fake GPU"
    assert info["batch_profile"] == [[1, 3, 32, 32], [64, 3, 32, 32], [256, 3, 32, 32]]
    assert info["built"]["precision"] == "fp16"


def test_runner_pads_a_static_engine_and_checks_shapes(fake_tensorrt, models, tmp_path):
    built = build_engine(models["static"], EngineSettings(precision="fp32"), out_dir=tmp_path)
    batch = models["bundle"].preprocess(models["images"][:3])
    with create_runner("tensorrt", str(built.path)) as runner:
        assert runner.fixed_batch == 1
        logits = runner.infer_batched(batch)["logits"]
        np.testing.assert_allclose(logits, fake_tensorrt.reference_logits(batch), rtol=1e-5)
        for wrong in ((1, 3, 16, 16), (2, 3, 32, 32)):  # image size, and batch of a static engine
            with pytest.raises(EdgepruneError, match="has shape .* the engine expects"):
                runner.infer({"input": np.zeros(wrong, np.float32)})


def test_runner_refuses_what_it_cannot_run(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], out_dir=tmp_path)
    built_with = fake_tensorrt.__version__
    fake_tensorrt.__version__ = "10.7.0" if built_with.startswith("8") else "8.6.2"
    with pytest.raises(
        EdgepruneError, match=f"built with TensorRT {built_with} on fake-gpu.*rebuild"
    ):
        create_runner("tensorrt", str(built.path)).__enter__()
    corrupt = tmp_path / "corrupt.engine"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(EdgepruneError, match="cannot load corrupt.engine: Serialization"):
        create_runner("tensorrt", str(corrupt)).__enter__()
    with pytest.raises(EdgepruneError, match="is an ONNX model: build an engine first"):
        create_runner("tensorrt", str(models["dynamic"])).__enter__()


def test_device_entry_point_runs_an_engine(fake_tensorrt, models, tmp_path):
    built = build_engine(models["dynamic"], EngineSettings(batch=(1, 64, 128)), out_dir=tmp_path)
    bundle = models["bundle"]
    job = DeviceJob(runtime="tensorrt", batch_size=100, latency_batches=(1, 8), iterations=10)
    record = evaluate_artifact(built.path, bundle.path, tmp_path / "out", job)
    with np.load(tmp_path / "out" / "outputs.npz") as outputs:
        logits = outputs["logits/clean"]
    expected = fake_tensorrt.reference_logits(bundle.preprocess(np.asarray(bundle.images("clean"))))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert record["environment"]["runtime"]["runtime"] == "tensorrt"
    for size in ("1", "8"):
        latency = record["latency"][size]
        assert latency["iterations"] >= 10
        assert {"h2d_ms", "compute_ms", "d2h_ms"} <= set(latency)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_a_tensorrt_variant_is_built_through_the_runtime_registry(
    fake_tensorrt, models, tmp_path, precision
):
    """compress's variant loader asks the runtime for its builder; for TensorRT that is the
    engine, from the FP32 ONNX file or, for INT8, from its QDQ graph."""
    import shutil

    from edgeprune.measure import Variant, VariantInputs, build_variant
    from edgeprune.rundir import EntryLayout

    base = EntryLayout(tmp_path / "baseline")
    base.folder.mkdir()
    shutil.copyfile(models["dynamic"], base.onnx)
    variant = Variant("tensorrt", precision)
    layout = EntryLayout(tmp_path / variant.name("baseline"))
    inputs = VariantInputs(
        models["images"][:64], models["bundle"].preprocess, load_target("jetson-orin-nano")
    )
    artifact = build_variant(base, layout, variant, inputs)
    assert artifact.runtime == "tensorrt" and artifact.path.suffix == ".engine"
    assert artifact.path.name.endswith(f".trt{_trt(fake_tensorrt)}.{precision}.engine")
    assert artifact.graph == base.onnx and artifact.estimate_precision == precision
    info = json.loads(layout.variant_info.read_text())
    assert info["engine"]["precision"] == precision and info["artifact"] == artifact.path.name
    assert ("quantization" in info) == (precision == "int8")  # explicit INT8 from a QDQ graph
    assert artifact.build_request.onnx == artifact.source_onnx  # what a rebuild starts from
    again = build_variant(base, layout, variant, None)  # built once, then reused
    assert again.path == artifact.path and again.info == artifact.info


def test_a_recalibrated_tensorrt_variant_is_rebuilt_from_the_scaled_graph(
    fake_tensorrt, models, tmp_path
):
    """--recalibrate on a TensorRT variant: the fitted scaling is appended to the graph the
    engine came from (the QDQ graph for INT8) and the engine is built again from it."""
    import shutil

    import onnx

    from edgeprune.measure import Variant, VariantInputs, build_variant
    from edgeprune.measure.artifacts import recalibrated
    from edgeprune.recalibration import fit_temperature
    from edgeprune.rundir import EntryLayout

    base = EntryLayout(tmp_path / "baseline")
    base.folder.mkdir()
    shutil.copyfile(models["dynamic"], base.onnx)
    variant = Variant("tensorrt", "int8")
    layout = EntryLayout(tmp_path / variant.name("baseline"))
    inputs = VariantInputs(
        models["images"][:64], models["bundle"].preprocess, load_target("jetson-orin-nano")
    )
    built = build_variant(base, layout, variant, inputs)
    rng = np.random.default_rng(0)
    fit = fit_temperature(rng.normal(size=(100, 10)) * 5, rng.integers(0, 10, 100))
    shipped = recalibrated(built, layout, fit, "logits")
    assert shipped.path != built.path and shipped.path.name.startswith("model.calibrated.")
    assert shipped.path.suffix == ".engine" and shipped.source_onnx == layout.calibrated_onnx
    graph = onnx.load(str(layout.calibrated_onnx)).graph
    assert graph.node[-1].op_type == "Div"
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert shipped.info["recalibrated"]["engine"]["precision"] == "int8"
