"""INT8 post-training static quantization into a QDQ ONNX graph that runs on ONNX Runtime
CPU (so INT8 accuracy and calibration are measured on the host) and that TensorRT builds as
an explicitly quantized engine.

    q = quantize_int8("model.onnx", "model.int8.onnx", calibration_images, bundle.preprocess)

What TensorRT's explicit quantization needs, and so what this writes (``check_tensorrt_qdq``
checks every point against the graph written):

- INT8 QuantizeLinear / DequantizeLinear pairs, *symmetric* with an explicit INT8 zero point
  0 (TensorRT rejects any other; without one, ONNX means UINT8), constant positive FP32
  scales, activations per tensor, weights per output channel (axis 0 of a Conv weight, 1 of
  a ConvTranspose weight), opset 13 or later for per-channel scales;
- weights kept in FP32 behind a Q/DQ pair, the form TensorRT 8.x and 10.x both import
  (10.x also takes pre-quantized INT8 initializers, 8.x does not);
- biases left in FP32: TensorRT fuses the bias into the INT8 kernel itself and does not
  import INT32 bias DequantizeLinear nodes.

Where the Q/DQ pairs go (``PLACEMENT``) follows TensorRT's Q/DQ placement recommendations:

- on the inputs of weighted ops, Conv, ConvTranspose, Gemm and MatMul: the activation and
  the weight. That is where INT8 makes the op faster;
- not on their outputs. TensorRT fuses Conv + bias + ReLU (and a following Add) into one
  kernel; a Q/DQ pair between a Conv and its ReLU adds a rounding step inside that kernel,
  which the guidance advises against because it can keep TensorRT from fusing;
- on the residual input of an Add, and not on the input that comes straight from a weighted
  op: TensorRT fuses that op with the Add, reading the residual in INT8. Where both inputs
  come from weighted ops (a projection shortcut), the longer branch is the one fused, as
  NVIDIA's ModelOpt decides;
- nowhere else: not before ReLU, pooling, Flatten or the graph outputs. TensorRT runs them
  in float or moves Q/DQ across them itself. So ``logits`` (a Gemm output) and ``features``
  (the last ReLU) are float tensors, as they are in the engine.

ONNX Runtime's ``quantize_static`` places the pairs on the inputs of the nodes listed, and
the pairs on the fused Add inputs are removed after it.

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
from collections import Counter, deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.files import atomic_path
from edgeprune.targets.bundle import Preprocess
from edgeprune.targets.runtimes import RUNTIMES

METHODS = ("minmax", "entropy", "percentile")
METADATA_KEY = "edgeprune.quantization"
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
QUANTIZED_OPS = (*WEIGHTED_OPS, "Add")
PLACEMENT = (
    "tensorrt: inputs of Conv, ConvTranspose, Gemm and MatMul (activation and weight) "
    "and the residual input of Add"
)
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


def _placement(model) -> tuple[list[str], set[tuple[str, int]]]:
    """TensorRT's recommended Q/DQ placement for an FP32 graph: the nodes whose inputs get
    Q/DQ (weighted ops and residual Adds), and the Add inputs to leave in float."""
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    for number, node in enumerate(graph.node):  # the quantizer selects nodes by name
        node.name = node.name or f"{node.op_type}_{number}"

    def weighted(node) -> bool:
        return node.op_type in WEIGHTED_OPS and len(node.input) > 1 and node.input[1] in constants

    nodes, float_inputs = [n.name for n in graph.node if weighted(n)], set()
    for add in graph.node:
        sources = [producers.get(name) for name in add.input]
        if add.op_type != "Add" or len(sources) != 2 or None in sources:
            continue  # a bias or a scaling Add (constant operand), not a residual connection
        nodes.append(add.name)
        # The branch that ends in a weighted op stays float so that TensorRT fuses the op
        # with the Add (and the ReLU after it); the other branch, the residual, is quantized.
        # When both end in one (a projection shortcut), the main branch is the longer path
        # back to where the two split, as in NVIDIA's ModelOpt.
        main = [i for i, node in enumerate(sources) if weighted(node)]
        if len(main) == 2:
            up = [_upstream(node, producers) for node in sources]
            split = min(
                up[0].keys() & up[1].keys(), key=lambda n: up[0][n] + up[1][n], default=None
            )
            main = [0 if split is None or up[0][split] >= up[1][split] else 1]
        float_inputs.update((add.name, i) for i in main)
    return nodes, float_inputs


def _upstream(node, producers) -> dict[str, int]:
    """Every node above ``node`` (itself included), by its fewest hops from ``node``."""
    hops, queue = {}, deque([(node, 0)])
    while queue:
        current, distance = queue.popleft()
        if current is None or current.name in hops:
            continue
        hops[current.name] = distance
        queue.extend((producers.get(name), distance + 1) for name in current.input)
    return hops


def _unquantize_inputs(model, float_inputs: set[tuple[str, int]]) -> None:
    """Feed each (node, input) of ``float_inputs`` the float tensor before its Q/DQ pair, and
    drop the Q/DQ nodes and constants that nothing reads any more."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.name, index) not in float_inputs:
                continue
            dq = producers.get(name)
            is_dq = dq is not None and dq.op_type == "DequantizeLinear"
            q = producers.get(dq.input[0]) if is_dq else None
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[index] = q.input[0]
    while True:
        used = {name for node in graph.node for name in node.input}
        used |= {output.name for output in graph.output}
        orphans = [n for n in graph.node if n.op_type in QDQ_OPS and n.output[0] not in used]
        if not orphans:
            break
        for node in orphans:
            graph.node.remove(node)
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)


def check_tensorrt_qdq(model) -> list[str]:
    """Why TensorRT 8.6 or 10 would reject this QDQ graph, or build an engine that computes
    something else than ONNX Runtime does on the host (empty when it is fine).

    It follows the ONNX parser's QuantizeLinear / DequantizeLinear importer, and what
    edgeprune builds: INT8 only (TensorRT 10 also takes FP8 and INT4; edgeprune writes
    neither); constant float32 scales, finite and positive; a constant INT8 zero point of
    zeros, one per scale (without a zero point ONNX means UINT8, which TensorRT 8.6 rejects
    and TensorRT 10 reads as INT8 while ONNX Runtime computes UINT8); per-channel scales only
    on a weight, along its output channels, one per channel; no INT32 (bias) dequantization;
    a DequantizeLinear with the scale and zero point of the QuantizeLinear that feeds it.
    """
    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    problems = []
    for node in graph.node:
        if node.op_type in QDQ_OPS:
            where = f"{node.op_type} {node.name or node.output[0]!r}"
            found = _qdq_problems(node, constants, producers, consumers)
            problems += [f"{where}: {problem}" for problem in found]
    return problems


def _qdq_problems(node, constants, producers, consumers) -> list[str]:
    from onnx import TensorProto, numpy_helper

    def constant(index: int):
        present = len(node.input) > index and node.input[index] in constants
        return numpy_helper.to_array(constants[node.input[index]]) if present else None

    scale, zero = constant(1), constant(2)
    if scale is None:
        return ["scale is not a constant initializer (TensorRT needs it at build time)"]
    problems = []
    if constants[node.input[1]].data_type != TensorProto.FLOAT:
        problems.append(f"scale is {scale.dtype}, not float32")
    if scale.size == 0 or not np.all(np.isfinite(scale) & (scale > 0)):
        problems.append("scale has values that are not finite and positive")
    if len(node.input) < 3 or not node.input[2]:
        problems.append("no zero point: ONNX then means UINT8, and TensorRT quantizes to INT8")
    elif zero is None:
        problems.append("zero point is not a constant initializer")
    elif zero.dtype != np.int8:
        problems.append(f"zero point is {zero.dtype}: edgeprune builds INT8 only")
    elif zero.any():
        problems.append("zero point is not 0 (TensorRT quantizes symmetrically only)")
    elif zero.size != scale.size:
        problems.append(f"{zero.size} zero points for {scale.size} scales")
    source = producers.get(node.input[0])
    if node.op_type == "DequantizeLinear":
        data = constants.get(node.input[0])
        if data is not None and data.data_type == TensorProto.INT32:
            problems.append("INT32 (bias) dequantization: TensorRT takes the bias in float")
        if source is not None and source.op_type == "QuantizeLinear":
            if _parameters(node, constants) != _parameters(source, constants):
                problems.append(f"scale, zero point or axis differ from those of {source.name!r}")
    if scale.size > 1:
        problems += _channel_problems(node, scale.size, constants, producers, consumers)
    return problems


def _axis(node) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)  # ONNX's default is 1


def _parameters(node, constants) -> tuple:
    from onnx import numpy_helper

    tensors = [constants.get(name) for name in node.input[1:3]]
    values = [None if t is None else numpy_helper.to_array(t).tolist() for t in tensors]
    return (*values, _axis(node))


def _channel_problems(node, count: int, constants, producers, consumers) -> list[str]:
    """Per-channel scales: TensorRT takes them only as one per output channel of a weight."""
    if node.op_type == "QuantizeLinear":
        weight = node.input[0]
        dequantizers = consumers.get(node.output[0], [])
    else:
        q = producers.get(node.input[0])
        weight = q.input[0] if q is not None and q.op_type == "QuantizeLinear" else node.input[0]
        dequantizers = [node]
    if weight not in constants:
        return ["per-channel scales on an activation: TensorRT quantizes those per tensor"]
    dims = list(constants[weight].dims) or [1]
    axis = _axis(node) % len(dims)
    problems = []
    if dims[axis] != count:
        problems.append(f"{count} scales for {dims[axis]} channels on axis {axis}")
    users = [n for dq in dequantizers for n in consumers.get(dq.output[0], [])]
    for user in users:
        expected = _output_channel_axis(user, len(dims))
        if expected is None:
            problems.append(f"per-channel scales on an input of {user.op_type} {user.name!r}")
        elif axis != expected:
            problems.append(
                f"per-channel axis {axis}, but the output channels of the weight of "
                f"{user.op_type} {user.name!r} are on axis {expected}"
            )
    return problems


def _output_channel_axis(user, rank: int) -> int | None:
    if user.op_type == "Conv":
        return 0  # (out, in, kH, kW)
    if user.op_type == "ConvTranspose":
        return 1  # (in, out, kH, kW)
    if user.op_type == "Gemm":
        transposed = next((a.i for a in user.attribute if a.name == "transB"), 0)
        return 0 if transposed else 1  # B is (out, in) when transposed, (in, out) when not
    if user.op_type == "MatMul":
        return rank - 1  # (..., in, out)
    return None


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
        fp32 = onnx.load(str(prepared))
        nodes, float_inputs = _placement(fp32)
        if not nodes:
            raise EdgepruneError(
                f"{model_path.name} has no {', '.join(WEIGHTED_OPS)} with constant weights to quantize"
            )
        onnx.save(fp32, str(prepared))  # every node named, for nodes_to_quantize
        initializer_names = {t.name for t in fp32.graph.initializer}
        input_name = next(i.name for i in fp32.graph.input if i.name not in initializer_names)
        extra = {
            "ActivationSymmetric": True,  # zero point 0: TensorRT is symmetric only
            "WeightSymmetric": True,
            "AddQDQPairToWeight": True,  # FP32 weights + Q/DQ: TensorRT 8.x and 10.x import it
            "QuantizeBias": False,  # TensorRT takes FP32 bias; no INT32 DequantizeLinear
            # Q/DQ on inputs only: an output Q/DQ of a Conv sits between it and its ReLU,
            # which TensorRT's guidance says not to do
            "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS),
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
                op_types_to_quantize=list(QUANTIZED_OPS),
                nodes_to_quantize=nodes,
                extra_options=extra,
            )
        except Exception as exc:  # the quantizer raises many types for graphs it cannot handle
            raise EdgepruneError(
                f"INT8 quantization of {model_path.name} failed: {first_line(exc)}"
            ) from None
        model = onnx.load(str(quantized))
    _unquantize_inputs(model, float_inputs)
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
        "placement": PLACEMENT,
        "quantized_ops": _quantized_ops(model),
        "add_inputs_left_float": len(float_inputs),
        "qdq_pairs": sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear"),
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


def _quantized_ops(model) -> dict[str, int]:
    """How many nodes of each op type read at least one dequantized (INT8) input."""
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    counts = Counter(
        n.op_type
        for n in model.graph.node
        if n.op_type not in QDQ_OPS and any(i in dequantized for i in n.input)
    )
    return dict(sorted(counts.items()))
