"""ONNX Runtime runner: CPU, CUDA or TensorRT execution providers.

Provider options travel as ``{provider: {key: value}}`` (or that dict as JSON text, the form
the device command line carries), e.g. TensorRT's FP16 / INT8 switches and engine cache:
``tensorrt_provider_options("fp16", "cache/")``. ``graph_optimization`` picks ONNX
Runtime's optimisation level; "basic" runs a QDQ INT8 graph as written (see
``edgeprune.export.quantize``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.targets.precision import PRECISIONS
from edgeprune.targets.runners.base import Runner

OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def tensorrt_provider_options(
    precision: str = "fp16", engine_cache: str | Path | None = None
) -> dict[str, dict[str, object]]:
    """Options for ONNX Runtime's TensorRT execution provider.

    "int8" expects a QDQ model: TensorRT then uses its Q/DQ scales and needs no calibration
    table. FP16 stays enabled with INT8 so that unquantized layers do not fall back to FP32.
    """
    if precision not in PRECISIONS:
        raise EdgepruneError(
            f"TensorRT provider precision must be fp32, fp16 or int8, got {precision!r}"
        )
    options: dict[str, object] = {
        "trt_fp16_enable": precision in ("fp16", "int8"),
        "trt_int8_enable": precision == "int8",
    }
    if engine_cache is not None:
        options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(engine_cache))
    return {"TensorrtExecutionProvider": options}


def _parse_provider_options(value: object) -> dict[str, dict[str, object]]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # the device command line: --engine-option provider_options=JSON
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise EdgepruneError(f"provider_options is not valid JSON: {exc}") from None
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise EdgepruneError("provider_options must map provider names to option tables")
    return {str(k): dict(v) for k, v in value.items()}


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(
        self,
        artifact: str | Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        provider_options: Mapping[str, Mapping[str, object]] | str | None = None,
        graph_optimization: str = "all",
    ) -> None:
        super().__init__()
        self.artifact = Path(artifact)
        self.provider_options = _parse_provider_options(provider_options)
        default = list(self.provider_options) + ["CPUExecutionProvider"]
        self.providers = list(providers) if providers else list(dict.fromkeys(default))
        self.threads = threads
        if graph_optimization not in OPTIMIZATION_LEVELS:
            raise EdgepruneError(
                f"graph_optimization must be one of {', '.join(OPTIMIZATION_LEVELS)}, "
                f"got {graph_optimization!r}"
            )
        self.graph_optimization = graph_optimization
        unused = [p for p in self.provider_options if p not in self.providers]
        if unused:
            raise EdgepruneError(f"options given for providers not in use: {', '.join(unused)}")
        self.session = None

    def _activate(self) -> None:
        import onnxruntime as ort

        if not self.artifact.is_file():
            raise EdgepruneError(f"artifact not found: {self.artifact}")
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[self.graph_optimization]
        )
        if self.threads:
            options.intra_op_num_threads = self.threads
        available = ort.get_available_providers()
        missing = [p for p in self.providers if p not in available]
        if missing:
            raise EdgepruneError(
                f"ONNX Runtime here lacks {', '.join(missing)}; available: {', '.join(available)}"
            )
        providers = [
            (p, self.provider_options[p]) if p in self.provider_options else p
            for p in self.providers
        ]
        try:
            self.session = ort.InferenceSession(str(self.artifact), options, providers=providers)
        except Exception as exc:  # ORT raises its own types for malformed models
            raise EdgepruneError(
                f"ONNX Runtime cannot load {self.artifact}: {first_line(exc)}"
            ) from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        batch_dim = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None
        self.info = {
            "runtime": "onnxruntime",
            "version": ort.__version__,
            "providers": self.session.get_providers(),
            "provider_options": self.provider_options,
            "graph_optimization": self.graph_optimization,
            "intra_op_threads": self.threads or "default",
            "input_shape": [
                d if isinstance(d, int) else str(d) for d in self.session.get_inputs()[0].shape
            ],
        }

    def _deactivate(self) -> None:
        self.session = None

    def _infer(self, feeds: dict[str, np.ndarray], outputs: list[str]):
        values = self.session.run(outputs, feeds)
        return dict(zip(outputs, values)), {}
