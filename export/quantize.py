"""INT8 post-training static quantization into a QDQ ONNX graph that runs on ONNX Runtime
CPU (so INT8 accuracy and calibration are measured on the host) and that TensorRT builds as
an explicitly quantized engine.

    q = quantize_int8("model.onnx", "model.int8.onnx", calibration_images, bundle.preprocess)

What TensorRT's explicit quantization needs, and so what this writes:

- INT8 QuantizeLinear / DequantizeLinear pairs, *symmetric* with zero point 0 (TensorRT
  rejects any other zero point), activations per tensor, weights per output channel (axis 0
  of a Conv weight), opset 13 or later for per-channel scales;
- weights kept in FP32 behind a Q/DQ pair, the form TensorRT 8.x and 10.x both import
  (10.x also takes pre-quantized INT8 initializers, 8.x does not);
- biases left in FP32: TensorRT fuses the bias into the INT8 kernel itself and does not
  import INT32 bias DequantizeLinear nodes.

The ``logits`` output is left unquantized (a Q/DQ pair that feeds only a graph output changes
the numbers and speeds nothing up). The ``features`` output stays a float tensor, the output
of its DequantizeLinear: it carries the same INT8 rounding as the engine's feature map, which
is what closed-form CAMs of the deployed model should see, so it is not excluded.

Running the result on the host: ONNX Runtime's CPU provider, at its default optimisation
level, fuses Q/DQ into integer kernels whose u8 x s8 products can saturate on x86 without
VNNI (observed: top-1 agreement with FP32 fell from 99 % to 71 % on the digits model). TensorRT
accumulates in INT32 and never saturates there, so host measurements run the QDQ graph at
the "basic" level (Q/DQ executed as written, convolutions in FP32): ``HOST_RUNNER_OPTIONS``.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.files import atomic_path
from edgeprune.targets.bundle import Preprocess
from edgeprune.targets.runtimes import RUNTIMES

METHODS = ("minmax", "entropy", "percentile")
METADATA_KEY = "edgeprune.quantization"
# OnnxRuntimeRunner options that reproduce TensorRT's INT8 arithmetic on a CPU (see above).
# How ONNX Runtime runs a QDQ graph on the host: the runtime registry's INT8 variant options.
HOST_RUNNER_OPTIONS = dict(RUNTIMES.get("onnxruntime").variant_options["int8"])


@dataclass(frozen=True)
class QuantizeSettings:
    method: str = "minmax"  # activation range calibration: minmax, entropy or percentile
    calibration_count: int = 512  # images used from the calibration subset (at most)
    batch_size: int = 32
    per_channel: bool = True  # per-output-channel weight scales
    percentile: float = 99.999  # for method="percentile"
    preprocess_graph: bool = True  # run quant_pre_process (shape inference, BN folding) first


@dataclass(frozen=True)
class QuantizedModel:
    path: Path
    description: dict

    def describe(self) -> dict:
        return dict(self.description, path=str(self.path))


class _Batches:
    """ONNX Runtime's CalibrationDataReader protocol over uint8 NHWC images."""

    def __init__(self, name: str, images: np.ndarray, preprocess: Preprocess, batch: int) -> None:
        self.feeds = (
            {name: preprocess(np.asarray(images[i : i + batch]))}
            for i in range(0, len(images), batch)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def _calibrate_method(settings: QuantizeSettings):
    from onnxruntime.quantization import CalibrationMethod

    if settings.method not in METHODS:
        raise EdgepruneError(
            f"unknown calibration method {settings.method!r}; known: {', '.join(METHODS)}"
        )
    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[settings.method]


def _prepare(source: Path, folder: Path, settings: QuantizeSettings) -> tuple[Path, str]:
    """Shape inference and BN folding before quantization, as ONNX Runtime recommends."""
    import onnx

    model = onnx.load(str(source))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        raise EdgepruneError(
            f"{source.name} has opset {opset}: per-channel INT8 needs opset 13+; export again"
        )
    if any(n.op_type in ("QuantizeLinear", "QLinearConv") for n in model.graph.node):
        raise EdgepruneError(f"{source.name} is already quantized; quantize the FP32 model")
    target = folder / "prepared.onnx"
    if settings.preprocess_graph:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        try:
            quant_pre_process(str(source), str(target))
            return target, "quant_pre_process (symbolic + ONNX shape inference, basic optimisation)"
        except Exception as exc:  # symbolic shape inference gives up on some graphs
            reason = first_line(exc)
            onnx.save(onnx.shape_inference.infer_shapes(model), str(target))
            return target, f"ONNX shape inference (quant_pre_process failed: {reason})"
    onnx.save(onnx.shape_inference.infer_shapes(model), str(target))
    return target, "ONNX shape inference"


def _strip_output_qdq(model) -> list[str]:
    """Remove Q -> DQ pairs whose only use is to produce a graph output (the logits)."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    stripped = []
    for output in graph.output:
        dq = producers.get(output.name)
        if dq is None or dq.op_type != "DequantizeLinear" or consumers.get(output.name):
            continue
        q = producers.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or consumers.get(q.output[0]) != 1:
            continue
        source = q.input[0]
        if consumers.get(source) != 1 or source not in producers:
            continue
        producer = producers[source]
        producer.output[list(producer.output).index(source)] = output.name
        graph.node.remove(q)
        graph.node.remove(dq)
        stripped.append(output.name)
    used = {name for node in graph.node for name in node.input}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)  # the removed pair's scale and zero point
    return stripped


def check_tensorrt_qdq(model) -> list[str]:
    """Why TensorRT would reject this QDQ graph (empty when it is fine)."""
    from onnx import TensorProto, numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    problems = []
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if len(node.input) > 2 and node.input[2]:
            zero = initializers.get(node.input[2])
            if zero is None:
                problems.append(f"{node.name}: zero point is not a constant")
            elif zero.data_type != TensorProto.INT8:
                problems.append(f"{node.name}: zero point type is not int8")
            elif np.any(numpy_helper.to_array(zero) != 0):
                problems.append(f"{node.name}: zero point is not 0 (TensorRT is symmetric only)")
        source = initializers.get(node.input[0])
        if node.op_type == "DequantizeLinear" and source is not None:
            if source.data_type == TensorProto.INT32:
                problems.append(f"{node.name}: INT32 (bias) dequantization")
    return problems


def quantize_int8(
    model_path: str | Path,
    output_path: str | Path,
    calibration_images: np.ndarray,
    preprocess: Preprocess,
    settings: QuantizeSettings = QuantizeSettings(),
) -> QuantizedModel:
    """Quantize ``model_path`` to a QDQ INT8 model, calibrating on uint8 NHWC images."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    model_path, output_path = Path(model_path), Path(output_path)
    if not model_path.is_file():
        raise EdgepruneError(f"ONNX model not found: {model_path}")
    images = np.asarray(calibration_images)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise EdgepruneError("calibration images must be a non-empty uint8 (N, H, W, C) array")
    images = images[: settings.calibration_count]
    method = _calibrate_method(settings)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgeprune-quant-") as folder:
        prepared, preparation = _prepare(model_path, Path(folder), settings)
        graph_inputs = onnx.load(str(prepared), load_external_data=False).graph
        initializer_names = {t.name for t in graph_inputs.initializer}
        input_name = next(i.name for i in graph_inputs.input if i.name not in initializer_names)
        extra = {
            "ActivationSymmetric": True,  # zero point 0: TensorRT is symmetric only
            "WeightSymmetric": True,
            "AddQDQPairToWeight": True,  # FP32 weights + Q/DQ: TensorRT 8.x and 10.x import it
            "QuantizeBias": False,  # TensorRT takes FP32 bias; no INT32 DequantizeLinear
        }
        if settings.method == "percentile":
            extra["CalibPercentile"] = settings.percentile
        quantized = Path(folder) / "quantized.onnx"
        try:
            quantize_static(
                str(prepared),
                str(quantized),
                _Batches(input_name, images, preprocess, settings.batch_size),
                quant_format=QuantFormat.QDQ,
                per_channel=settings.per_channel,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=method,
                extra_options=extra,
            )
        except Exception as exc:  # the quantizer raises many types for graphs it cannot handle
            raise EdgepruneError(
                f"INT8 quantization of {model_path.name} failed: {first_line(exc)}"
            ) from None
        model = onnx.load(str(quantized))
    stripped = _strip_output_qdq(model)
    problems = check_tensorrt_qdq(model)
    if problems:  # would be a bug in the settings above, not a user mistake
        raise AssertionError(f"QDQ graph not TensorRT-compatible: {problems[:3]}")
    description = {
        "format": "QDQ",
        "method": settings.method,
        "percentile": settings.percentile if settings.method == "percentile" else None,
        "calibration_count": int(len(images)),
        "calibration_batch_size": settings.batch_size,
        "per_channel": settings.per_channel,
        "activations": "int8 symmetric per tensor (zero point 0)",
        "weights": "int8 symmetric "
        + ("per output channel" if settings.per_channel else "per tensor"),
        "bias": "fp32",
        "quantized_op_types": _quantized_op_types(model),
        "qdq_pairs": sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear"),
        "unquantized_outputs": stripped,
        "graph_preparation": preparation,
        "onnxruntime": onnxruntime.__version__,
        "host_runner_options": HOST_RUNNER_OPTIONS,
        "seconds": time.perf_counter() - started,
        "settings": asdict(settings),
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description)
    onnx.checker.check_model(model)
    with atomic_path(output_path, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return QuantizedModel(output_path, description)


def _quantized_op_types(model) -> list[str]:
    """Op types that read at least one dequantized (INT8) input."""
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return sorted(
        {
            n.op_type
            for n in model.graph.node
            if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
            and any(i in dequantized for i in n.input)
        }
    )
