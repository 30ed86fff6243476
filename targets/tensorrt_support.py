"""TensorRT plumbing that building an engine (``edgeprune.export.tensorrt_build``) and running
one (``edgeprune.targets.runners.tensorrt_runner``) share: the import with its install hint,
the version, and a logger that keeps TensorRT's error messages for one-line reports.

A leaf: it imports nothing of edgeprune but the error type and the install hint, so export
and runtime depend on it rather than on each other. Torch-free and Python 3.8-compatible.
"""

from __future__ import annotations

import sys

from edgeprune.errors import EdgepruneError
from edgeprune.targets.runners.cuda_backend import INSTALL_HINT


def import_tensorrt():
    """The ``tensorrt`` module, or one clear error naming what to install."""
    try:
        import tensorrt
    except ImportError:
        raise EdgepruneError(f"TensorRT is not installed: {INSTALL_HINT}") from None
    return tensorrt


def tensorrt_version(trt) -> tuple[int, int]:
    major, minor = trt.__version__.split(".")[:2]
    return int(major), int(minor)


def make_logger(trt, severity: str = "WARNING"):
    """A TensorRT logger that also keeps the error messages, for one-line error reports."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.threshold = getattr(trt.ILogger.Severity, severity)

        def log(self, level, message) -> None:
            if int(level) <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(str(message))
            if int(level) <= int(self.threshold):
                print(f"[TensorRT] {message}", file=sys.stderr, flush=True)

    return _Logger()
