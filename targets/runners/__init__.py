"""Runners, one per runtime; heavy runtimes are imported only when their runner is created."""

from __future__ import annotations

from edgeprune.errors import EdgepruneError
from edgeprune.targets.runners.base import Runner

RUNTIMES = ("onnxruntime", "tensorrt")


def create_runner(runtime: str, artifact: str, **options: object) -> Runner:
    """A runner for ``artifact`` on ``runtime``; a missing runtime is one clear error."""
    if runtime == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise EdgepruneError("onnxruntime is not installed: pip install onnxruntime") from None
        from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(artifact, **options)
    if runtime == "tensorrt":
        from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner

        return TensorRTRunner(artifact, **options)
    raise EdgepruneError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")


__all__ = ["RUNTIMES", "Runner", "create_runner"]
