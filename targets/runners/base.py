"""The runner interface: a context manager with ``infer(feeds) -> outputs`` that records timings.

One runner per runtime (ONNX Runtime, TensorRT) gives one evaluation path: every metric is
computed on the host from what a runner returned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from edgeprune.errors import EdgepruneError


class Runner:
    """Base class. Subclasses implement ``_activate``, ``_deactivate`` and ``_infer``.

    ``_infer`` returns the outputs and, where the runtime can separate them, a dict of
    component times in milliseconds (``h2d_ms``, ``compute_ms``, ``d2h_ms``) as trtexec reports.
    """

    runtime = "base"
    # Timing modes beyond the serial one that this runtime can run (``time_mode``), e.g.
    # TensorRT's "enqueue-ahead" and "cuda-graph"; none by default.
    latency_modes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self.fixed_batch: int | None = None  # set when the artifact has a static batch size
        self.timings: list[dict[str, float]] = []
        self.info: dict[str, object] = {}

    def __enter__(self) -> Runner:
        self._activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self._deactivate()

    def infer(
        self, feeds: dict[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run one inference; ``outputs`` restricts which outputs are fetched."""
        start = time.perf_counter()
        result, components = self._infer(feeds, list(outputs) if outputs else self.output_names)
        record = {"total_ms": (time.perf_counter() - start) * 1e3}
        record.update(components)
        self.timings.append(record)
        return result

    def infer_batched(
        self, batch: np.ndarray, outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Infer one batch through the first input, padding to a static batch size if needed."""
        n = len(batch)
        if self.fixed_batch and n != self.fixed_batch:
            if n > self.fixed_batch:
                parts = [
                    self.infer_batched(batch[i : i + self.fixed_batch], outputs)
                    for i in range(0, n, self.fixed_batch)
                ]
                return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            pad = np.zeros((self.fixed_batch - n,) + batch.shape[1:], dtype=batch.dtype)
            result = self.infer({self.input_names[0]: np.concatenate([batch, pad])}, outputs)
            return {k: v[:n] for k, v in result.items()}
        return self.infer({self.input_names[0]: batch}, outputs)

    def time_mode(
        self,
        mode: str,
        feeds: dict[str, np.ndarray],
        outputs: list[str] | None = None,
        warmup: int = 10,
        iterations: int = 200,
        max_seconds: float = 3.0,
        answers: int | None = None,
    ) -> dict[str, object]:
        """Time one of ``latency_modes``: a summary shaped like ``latency.summarize_times``
        plus ``mode`` (how it was measured), ``throughput_ips``, ``enqueue_ms``, ``streams``,
        ``cuda_graph`` and ``spin_wait``."""
        raise EdgepruneError(f"the {self.runtime} runner has no timing mode {mode!r}")

    def _activate(self) -> None:
        raise NotImplementedError

    def _deactivate(self) -> None:
        pass

    def _infer(self, feeds: dict[str, np.ndarray], outputs: list[str]):
        raise NotImplementedError
