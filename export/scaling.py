"""Fitted logit scaling as part of the deployed graph.

``append_scaling`` copies an ONNX graph (FP32, or its INT8 QDQ version) and ends its scored
output in the scaling: ``logits = logits_uncalibrated / T`` (one Div) or ``logits =
logits_uncalibrated * w + b`` (Mul, Add), in float32 after the last DequantizeLinear, so
every runtime that runs the graph, TensorRT included, ships the calibrated model. The output
keeps its name and shape; every other output (the ``features`` map the explanations use)
is untouched. The fit is recorded in the model's metadata.

Needs onnx, not torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.files import atomic_path

METADATA_KEY = "edgeprune.recalibration"


def append_scaling(source: Path, target: Path, fit, output: str = "logits") -> Path:
    """Write ``source`` with the fitted scaling (``edgeprune.recalibration.Fit``) applied to
    ``output``, as ``target``."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    if output not in [o.name for o in graph.output]:
        raise EdgepruneError(f"{source.name} has no output {output!r} to recalibrate")
    raw = f"{output}_uncalibrated"
    for node in graph.node:  # the producer of the output now produces the raw logits
        node.output[:] = [raw if name == output else name for name in node.output]
        node.input[:] = [raw if name == output else name for name in node.input]
    if fit.temperature is not None:
        divisor = numpy_helper.from_array(
            np.float32(fit.temperature).reshape(()), f"{output}_temperature"
        )
        graph.initializer.append(divisor)
        graph.node.append(
            helper.make_node("Div", [raw, divisor.name], [output], name="recalibration")
        )
    else:
        weight = numpy_helper.from_array(np.asarray(fit.weight, np.float32), f"{output}_weight")
        bias = numpy_helper.from_array(np.asarray(fit.bias, np.float32), f"{output}_bias")
        graph.initializer.extend([weight, bias])
        graph.node.extend([
            helper.make_node("Mul", [raw, weight.name], [f"{output}_weighted"], name="recalibration_mul"),
            helper.make_node("Add", [f"{output}_weighted", bias.name], [output], name="recalibration_add"),
        ])  # fmt: skip
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(fit.describe())
    onnx.checker.check_model(model)
    with atomic_path(target, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return target
