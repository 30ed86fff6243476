"""Per-node cost of an ONNX graph: MACs, FLOPs, weight and activation elements.

Computed from the artifact itself (after ONNX shape inference at a given batch size), so
parameters and MACs describe what is deployed. Needs the ``onnx`` package (host side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Ops that only reinterpret metadata: no kernel, no memory traffic.
FREE_OPS = {
    "Constant",
    "Shape",
    "Identity",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Dropout",
}
# FLOPs per output element of common element-wise and normalisation ops.
ELEMENTWISE_FLOPS = {
    "Relu": 1,
    "Clip": 1,
    "LeakyRelu": 2,
    "Sigmoid": 4,
    "HardSigmoid": 3,
    "HardSwish": 4,
    "Add": 1,
    "Sub": 1,
    "Mul": 1,
    "Div": 1,
    "BatchNormalization": 2,
    "Tanh": 4,
    "Erf": 4,
    "Softmax": 5,
    "QuantizeLinear": 2,
    "DequantizeLinear": 2,
    "Cast": 1,
}


@dataclass(frozen=True)
class NodeCost:
    name: str
    op_type: str
    macs: int
    flops: int
    weight_elements: int  # elements of initializers the node reads
    input_elements: int  # elements of activations the node reads
    output_elements: int
    # Conv only: (input channels, output channels), for the alignment of SIMD / tensor-core
    # kernels; (0, 0) for other nodes.
    channels: tuple[int, int] = (0, 0)


def _dims(value_info) -> list[int]:
    return [
        d.dim_value if d.HasField("dim_value") else 0 for d in value_info.type.tensor_type.shape.dim
    ]


def _with_batch(model, batch_size: int):
    """A copy of the model with every symbolic batch dimension fixed, for shape inference."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch_size
    del model.graph.value_info[:]
    return onnx.shape_inference.infer_shapes(model, data_prop=True)


def graph_costs(artifact: str | Path, batch_size: int = 1) -> list[NodeCost]:
    import onnx

    model = _with_batch(onnx.load(str(artifact)), batch_size)
    graph = model.graph
    weights = {t.name: list(t.dims) for t in graph.initializer}
    shapes: dict[str, list[int]] = dict(weights)
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[value.name] = _dims(value)
    costs = []
    for node in graph.node:
        ins = [shapes.get(i, []) for i in node.input if i]
        out = shapes.get(node.output[0], []) if node.output else []
        out_elems = int(np.prod(out)) if out else 0
        macs = _node_macs(node, ins, out)
        flops = (
            2 * macs
            if macs
            else out_elems
            * ELEMENTWISE_FLOPS.get(node.op_type, 1 if node.op_type not in FREE_OPS else 0)
        )
        if node.op_type in (
            "MaxPool",
            "AveragePool",
            "GlobalAveragePool",
            "GlobalMaxPool",
            "ReduceMean",
        ):
            in_elems = int(np.prod(ins[0])) if ins and ins[0] else 0
            flops = max(in_elems, out_elems)
        costs.append(
            NodeCost(
                name=node.name or node.output[0],
                op_type=node.op_type,
                macs=macs,
                flops=flops,
                weight_elements=sum(int(np.prod(weights[i])) for i in node.input if i in weights),
                input_elements=sum(
                    int(np.prod(s)) for i, s in zip(node.input, ins) if i not in weights and s
                ),
                output_elements=out_elems,
                channels=_conv_channels(node, ins),
            )
        )
    return costs


def _conv_channels(node, ins: Sequence[list[int]]) -> tuple[int, int]:
    if node.op_type != "Conv" or len(ins) < 2 or not ins[1] or len(ins[1]) < 2:
        return (0, 0)
    groups = next((a.i for a in node.attribute if a.name == "group"), 1) or 1
    return (int(ins[1][1]) * groups, int(ins[1][0]))  # weight (M, C/groups, k...)


def _node_macs(node, ins: Sequence[list[int]], out: list[int]) -> int:
    if node.op_type == "Conv" and len(ins) >= 2 and ins[1] and out:
        # weight (M, C/groups, k...) ; out (N, M, spatial...)
        return int(np.prod(out) * np.prod(ins[1][1:]))
    if node.op_type == "ConvTranspose" and len(ins) >= 2 and ins[0] and ins[1]:
        return int(np.prod(ins[0]) * np.prod(ins[1][1:]))
    if node.op_type == "Gemm" and len(ins) >= 2 and ins[0] and out:
        transposed = any(a.name == "transA" and a.i for a in node.attribute)
        k = ins[0][0] if transposed else ins[0][-1]
        return int(np.prod(out) * k)
    if (
        node.op_type in ("MatMul", "MatMulInteger", "QLinearMatMul")
        and len(ins) >= 2
        and ins[0]
        and out
    ):
        return int(np.prod(out) * ins[0][-1])
    return 0


def graph_summary(costs: Sequence[NodeCost]) -> dict[str, int]:
    return {
        "macs": int(sum(c.macs for c in costs)),
        "flops": int(sum(c.flops for c in costs)),
        "weight_elements": int(sum(c.weight_elements for c in costs)),
        "nodes": len(costs),
    }
