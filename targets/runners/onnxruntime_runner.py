"""ONNX Runtime runner: CPU, CUDA or TensorRT execution providers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.targets.runners.base import Runner


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(
        self,
        artifact: str | Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.artifact = Path(artifact)
        self.providers = list(providers) if providers else ["CPUExecutionProvider"]
        self.threads = threads
        self.session = None

    def _activate(self) -> None:
        import onnxruntime as ort

        if not self.artifact.is_file():
            raise EdgepruneError(f"artifact not found: {self.artifact}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
        available = ort.get_available_providers()
        missing = [p for p in self.providers if p not in available]
        if missing:
            raise EdgepruneError(
                f"ONNX Runtime here lacks {', '.join(missing)}; available: {', '.join(available)}"
            )
        try:
            self.session = ort.InferenceSession(
                str(self.artifact), options, providers=self.providers
            )
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
