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
    PLACEMENT,
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


def test_outputs_are_the_float_outputs_of_their_ops(quantized):
    # no Q/DQ after the Gemm or the last ReLU: the engine computes both in float too
    model = onnx.load(str(quantized.path))
    by_output = {o: n for n in model.graph.node for o in n.output}
    assert [o.name for o in model.graph.output] == ["logits", "features"]
    assert by_output["logits"].op_type == "Gemm"
    assert by_output["features"].op_type == "Relu"


def test_qdq_placement_follows_tensorrt_guidance(quantized):
    """Q/DQ on the inputs of weighted ops and on the residual input of each Add; never
    between a Conv and its ReLU, nor before pooling or Flatten."""
    model = onnx.load(str(quantized.path))
    nodes = model.graph.node
    by_output = {o: n for n in nodes for o in n.output}
    dequantized = {n.output[0] for n in nodes if n.op_type == "DequantizeLinear"}
    readers = {n.op_type for n in nodes if dequantized.intersection(n.input)}
    assert readers == {"Conv", "Gemm", "Add"}
    for node in nodes:
        if node.op_type in ("Conv", "Gemm"):  # activation and weight both dequantized
            assert [by_output[i].op_type for i in node.input[:2]] == ["DequantizeLinear"] * 2
    adds = [n for n in nodes if n.op_type == "Add"]
    for add in adds:  # main branch float (fuses with the Add), residual quantized
        main, residual = sorted((by_output[i] for i in add.input), key=lambda n: n.op_type)
        assert (main.op_type, residual.op_type) == ("Conv", "DequantizeLinear")
        assert "conv2" in main.name  # the longer branch, also where the shortcut is a Conv
    assert quantized.description["placement"] == PLACEMENT
    assert quantized.description["quantized_ops"] == {"Add": 3, "Conv": 9, "Gemm": 1}
    assert quantized.description["add_inputs_left_float"] == 3


def test_description_is_recorded_in_the_model(quantized):
    model = onnx.load(str(quantized.path))
    stored = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert stored["method"] == "minmax" and stored["calibration_count"] == 128
    assert stored["per_channel"] is True
    assert {"Conv", "Gemm", "Add"} == set(stored["quantized_ops"])
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


def _qdq_graph(op="Conv", weight=(4, 3, 1, 1), axis=0, **op_attributes):
    """x -> Q/DQ (per tensor) -> op <- Q/DQ (per channel on ``axis``) <- FP32 weight: the form
    TensorRT takes. Tensors: x_scale, zero, w, w_scale, w_zero; nodes: x_q, x_dq, w_q, w_dq."""
    from onnx import TensorProto, helper

    count = weight[axis]
    tensors = {
        "x_scale": np.float32(0.1),
        "zero": np.int8(0),
        "w": np.ones(weight, np.float32),
        "w_scale": np.full(count, 0.01, np.float32),
        "w_zero": np.zeros(count, np.int8),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "zero"], ["xq"], "x_q"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "zero"], ["xd"], "x_dq"),
        helper.make_node("QuantizeLinear", ["w", "w_scale", "w_zero"], ["wq"], "w_q", axis=axis),
        helper.make_node(
            "DequantizeLinear", ["wq", "w_scale", "w_zero"], ["wd"], "w_dq", axis=axis
        ),
        helper.make_node(op, ["xd", "wd"], ["y"], "op", **op_attributes),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in tensors.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _with(model, **tensors):
    for name, value in tensors.items():
        old = next(t for t in model.graph.initializer if t.name == name)
        old.CopyFrom(numpy_helper.from_array(np.asarray(value), name))
    return model


def _node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def _without_zero_points(model):
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            del node.input[2:]
    return model


def _scale_from_graph_input(model):
    _node(model, "x_q").input[1] = "x"
    return model


def _per_channel_activation(model):
    _with(model, x_scale=np.full(3, 0.1, np.float32), zero=np.zeros(3, np.int8))
    return model


def _bias_dequantized(model):
    from onnx import helper

    model.graph.initializer.append(numpy_helper.from_array(np.zeros(4, np.int32), "b"))
    model.graph.node.append(
        helper.make_node("DequantizeLinear", ["b", "w_scale", "w_zero"], ["bd"], "b_dq")
    )
    _node(model, "op").input.append("bd")
    return model


def _unequal_pair(model):
    model.graph.initializer.append(numpy_helper.from_array(np.float32(0.2), "x_scale_2"))
    _node(model, "x_dq").input[1] = "x_scale_2"
    return model


def _default_axis(model):
    for name in ("w_q", "w_dq"):
        del _node(model, name).attribute[:]  # ONNX's default axis is 1, not Conv's 0
    return _with(model, w_scale=np.full(3, 0.01, np.float32), w_zero=np.zeros(3, np.int8))


@pytest.mark.parametrize(
    ("op", "weight", "axis", "attributes"),
    [
        ("Conv", (4, 3, 1, 1), 0, {}),
        ("ConvTranspose", (3, 4, 1, 1), 1, {}),
        ("Gemm", (4, 3), 0, {"transB": 1}),
        ("Gemm", (3, 4), 1, {}),
        ("MatMul", (3, 4), 1, {}),
    ],
)
def test_checker_passes_weights_quantized_along_their_output_channels(op, weight, axis, attributes):
    assert check_tensorrt_qdq(_qdq_graph(op, weight, axis, **attributes)) == []


def _scales(*values):
    return np.array(values, np.float32)


# Each graph differs from a valid one in one thing that TensorRT rejects or computes otherwise
# than ONNX Runtime: (graph, the node named, what the problem says). The checker that only
# looked at zero points and INT32 biases caught the UINT8 zero point and the bias, no other.
REJECTED = {
    "negative scale": (lambda: _with(_qdq_graph(), x_scale=np.float32(-0.1)), "x_q", "positive"),
    "infinite scale": (lambda: _with(_qdq_graph(), x_scale=np.float32(np.inf)), "x_dq", "finite"),
    "zero channel scale": (
        lambda: _with(_qdq_graph(), w_scale=_scales(1, 0, 1, 1)),
        "w_q",
        "positive",
    ),
    "float16 scale": (lambda: _with(_qdq_graph(), x_scale=np.float16(0.1)), "x_q", "not float32"),
    "computed scale": (lambda: _scale_from_graph_input(_qdq_graph()), "x_q", "not a constant"),
    "no zero point": (lambda: _without_zero_points(_qdq_graph()), "x_q", "no zero point"),
    "uint8 zero point": (lambda: _with(_qdq_graph(), zero=np.uint8(0)), "x_dq", "is uint8"),
    "one zero point": (lambda: _with(_qdq_graph(), w_zero=np.int8(0)), "w_q", "1 zero points"),
    "per-channel activation": (
        lambda: _per_channel_activation(_qdq_graph()),
        "x_q",
        "per-channel scales on an activation",
    ),
    "Conv axis 1": (lambda: _qdq_graph("Conv", (4, 3, 1, 1), 1), "w_q", "Conv 'op' are on axis 0"),
    "default axis": (lambda: _default_axis(_qdq_graph()), "w_dq", "per-channel axis 1"),
    "ConvTranspose axis 0": (
        lambda: _qdq_graph("ConvTranspose", (3, 4, 1, 1), 0),
        "w_dq",
        "ConvTranspose 'op' are on axis 1",
    ),
    "Gemm axis 0": (lambda: _qdq_graph("Gemm", (3, 4), 0), "w_q", "Gemm 'op' are on axis 1"),
    "scale count": (lambda: _with(_qdq_graph(), w_scale=_scales(1, 1, 1)), "w_q", "3 scales for 4"),
    "INT32 bias": (lambda: _bias_dequantized(_qdq_graph()), "b_dq", "INT32 (bias)"),
    "unequal pair": (lambda: _unequal_pair(_qdq_graph()), "x_dq", "differ from those of 'x_q'"),
}


@pytest.mark.parametrize(("make", "node", "expected"), REJECTED.values(), ids=REJECTED.keys())
def test_checker_flags_what_tensorrt_rejects_in_hand_made_graphs(make, node, expected):
    problems = check_tensorrt_qdq(make())
    assert any(p.split(":")[0].endswith(f"'{node}'") and expected in p for p in problems), problems
