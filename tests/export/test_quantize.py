"""INT8 QDQ quantization: the graph TensorRT's explicit quantization accepts, run on ONNX
Runtime CPU, with INT8 predictions checked against FP32 on a trained model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeprune.errors import EdgepruneError
from edgeprune.export.quantize import (
    HOST_RUNNER_OPTIONS,
    METADATA_KEY,
    QuantizeSettings,
    check_tensorrt_qdq,
    quantize_int8,
)
from edgeprune.targets.run import DeviceJob, evaluate_artifact
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner


@pytest.fixture(scope="module")
def quantized(trained_digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    return quantize_int8(
        trained_digits.onnx,
        out,
        trained_digits.calibration,
        trained_digits.preprocess,
        QuantizeSettings(calibration_count=128),
    )


def _run(path, images, preprocess, graph_optimization="all"):
    with OnnxRuntimeRunner(path, graph_optimization=graph_optimization) as runner:
        return runner.infer({"input": preprocess(images)})


def test_graph_is_symmetric_int8_qdq_with_float_weights_and_bias(quantized):
    model = onnx.load(str(quantized.path))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 10 and ops.count("DequantizeLinear") >= 10
    assert check_tensorrt_qdq(model) == []
    initializers = {t.name: t for t in model.graph.initializer}
    zero_points = [
        numpy_helper.to_array(initializers[n.input[2]])
        for n in model.graph.node
        if n.op_type in ("QuantizeLinear", "DequantizeLinear")
    ]
    assert all(z.dtype == np.int8 and not z.any() for z in zero_points)
    # Conv weights: FP32 initializer -> QuantizeLinear (per output channel, axis 0).
    by_output = {o: n for n in model.graph.node for o in n.output}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    weight_dq = by_output[conv.input[1]]
    weight_q = by_output[weight_dq.input[0]]
    assert weight_q.op_type == "QuantizeLinear"
    assert initializers[weight_q.input[0]].data_type == onnx.TensorProto.FLOAT
    scale = numpy_helper.to_array(initializers[weight_q.input[1]])
    assert scale.shape == (initializers[weight_q.input[0]].dims[0],)
    assert all(a.i == 0 for a in weight_q.attribute if a.name == "axis")


def test_outputs_logits_unquantized_and_features_from_dequantize(quantized):
    model = onnx.load(str(quantized.path))
    by_output = {o: n for n in model.graph.node for o in n.output}
    assert [o.name for o in model.graph.output] == ["logits", "features"]
    assert by_output["logits"].op_type == "Gemm"
    assert by_output["features"].op_type == "DequantizeLinear"
    assert quantized.description["unquantized_outputs"] == ["logits"]


def test_description_is_recorded_in_the_model(quantized):
    model = onnx.load(str(quantized.path))
    stored = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert stored["method"] == "minmax" and stored["calibration_count"] == 128
    assert stored["per_channel"] is True
    assert {"Conv", "Gemm"} <= set(stored["quantized_op_types"])
    assert stored["onnxruntime"] and stored["host_runner_options"] == HOST_RUNNER_OPTIONS
    json.dumps(quantized.describe())  # JSON-able


def test_int8_agrees_with_fp32_on_onnx_runtime_cpu(trained_digits, quantized):
    images, labels = trained_digits.test_images, trained_digits.test_labels
    fp32 = _run(trained_digits.onnx, images, trained_digits.preprocess)
    int8 = _run(quantized.path, images, trained_digits.preprocess, **HOST_RUNNER_OPTIONS)
    top1_fp32, top1_int8 = fp32["logits"].argmax(1), int8["logits"].argmax(1)
    agreement = float((top1_fp32 == top1_int8).mean())
    accuracy_fp32 = float((top1_fp32 == labels).mean())
    accuracy_int8 = float((top1_int8 == labels).mean())
    print(f"fp32 acc {accuracy_fp32:.4f} int8 acc {accuracy_int8:.4f} agreement {agreement:.4f}")
    assert accuracy_fp32 > 0.8  # the model learned something, so agreement means something
    assert agreement >= 0.95
    assert accuracy_int8 >= accuracy_fp32 - 0.03
    # the feature map keeps its scale: within a few INT8 steps of the FP32 map
    scale = np.abs(fp32["features"]).max() / 127
    assert np.abs(fp32["features"] - int8["features"]).mean() < 2 * scale


def test_qdq_model_runs_through_the_device_runner(trained_digits, quantized, tmp_path):
    job = DeviceJob(
        splits=("clean",),
        latency_batches=(1,),
        iterations=10,
        warmup=1,
        engine_options=tuple((k, v) for k, v in HOST_RUNNER_OPTIONS.items()),
    )
    record = evaluate_artifact(quantized.path, trained_digits.bundle.path, tmp_path, job)
    assert record["environment"]["runtime"]["graph_optimization"] == "basic"
    with np.load(tmp_path / "outputs.npz") as outputs:
        assert outputs["logits/clean"].shape == (len(trained_digits.test_labels), 10)


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods(trained_digits, tmp_path, method):
    result = quantize_int8(
        trained_digits.onnx,
        tmp_path / "m.onnx",
        trained_digits.calibration,
        trained_digits.preprocess,
        QuantizeSettings(method=method, calibration_count=64, batch_size=16),
    )
    assert result.description["method"] == method
    assert result.description["calibration_count"] == 64
    assert check_tensorrt_qdq(onnx.load(str(result.path))) == []
    images = trained_digits.test_images[:200]
    fp32 = _run(trained_digits.onnx, images, trained_digits.preprocess)["logits"].argmax(1)
    int8 = _run(result.path, images, trained_digits.preprocess, **HOST_RUNNER_OPTIONS)
    assert (fp32 == int8["logits"].argmax(1)).mean() >= 0.9


def test_user_mistakes_are_one_line_errors(trained_digits, quantized, tmp_path):
    calibration, preprocess = trained_digits.calibration, trained_digits.preprocess
    with pytest.raises(EdgepruneError, match="uint8"):
        quantize_int8(
            trained_digits.onnx, tmp_path / "a.onnx", calibration.astype(float), preprocess
        )
    with pytest.raises(EdgepruneError, match="unknown calibration method"):
        quantize_int8(
            trained_digits.onnx,
            tmp_path / "b.onnx",
            calibration,
            preprocess,
            QuantizeSettings("kl"),
        )
    with pytest.raises(EdgepruneError, match="already quantized"):
        quantize_int8(quantized.path, tmp_path / "c.onnx", calibration, preprocess)
    with pytest.raises(EdgepruneError, match="not found"):
        quantize_int8(tmp_path / "absent.onnx", tmp_path / "d.onnx", calibration, preprocess)


def test_checker_flags_what_tensorrt_rejects(quantized):
    model = onnx.load(str(quantized.path))
    zero = next(t for t in model.graph.initializer if t.name.endswith("zero_point"))
    zero.CopyFrom(numpy_helper.from_array(np.full(zero.dims, 3, np.int8), zero.name))
    assert any("not 0" in problem for problem in check_tensorrt_qdq(model))
