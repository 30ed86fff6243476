"""TensorRT plumbing that building an engine (``edgeprune.export.tensorrt_build``) and running
one (``edgeprune.targets.runners.tensorrt_runner``) share: the import with its install hint,
the version, and a logger that keeps TensorRT's error messages for one-line reports.

A leaf: it imports nothing of edgeprune but the error type and the install hint, so export
and runtime depend on it rather than on each other. Torch-free and Python 3.8-compatible.
"""

from __future__ import annotations

import sys

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.targets.runners.cuda_backend import INSTALL_HINT

GPU_NOT_USABLE = (
    "the GPU or its driver is not usable by TensorRT (check nvidia-smi, and that TensorRT's "
    "CUDA major version is one the driver supports)"
)


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
    """A TensorRT logger that also keeps the error and warning messages, for one-line error
    reports (TensorRT logs its own CUDA initialisation failure as a warning)."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.warnings: list[str] = []
            self.threshold = getattr(trt.ILogger.Severity, severity)

        def log(self, level, message) -> None:
            if int(level) <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(str(message))
            elif int(level) == int(trt.ILogger.Severity.WARNING):
                self.warnings.append(str(message))
            if int(level) <= int(self.threshold):
                print(f"[TensorRT] {message}", file=sys.stderr, flush=True)

    return _Logger()


def logged_reason(logger, default: str) -> str:
    """The last error TensorRT logged (else its last warning), on one line."""
    messages = getattr(logger, "errors", None) or getattr(logger, "warnings", None) or []
    return first_line(Exception(messages[-1])) if messages else default


def create_or_explain(what: str, logger, factory, *args, hint: str = GPU_NOT_USABLE):
    """``factory(*args)`` for a TensorRT object that reports failure by returning None or, for
    constructors, by pybind11's ``TypeError: ... factory function returned nullptr`` (TensorRT
    could not initialise CUDA): either becomes one EdgepruneError with TensorRT's logged reason.
    Other TypeErrors are bugs and keep their tracebacks."""
    cause = "TensorRT returned nothing and logged no reason"
    try:
        made = factory(*args)
    except TypeError as exc:
        if "nullptr" not in str(exc):
            raise
        made, cause = None, first_line(exc)
    if made is None:
        raise EdgepruneError(
            f"TensorRT could not create {what}: {logged_reason(logger, cause)}; {hint}"
        )
    return made
