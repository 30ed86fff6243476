"""Artifacts that run on the device: ONNX (with parity checks), INT8 QDQ ONNX and TensorRT engines.

Names are imported on first use (PEP 562): ``onnx_export`` needs torch, ``tensorrt_build``
needs TensorRT and runs on a Jetson that has no torch, so importing one must not import the
others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "FEATURES": "onnx_export",
    "INPUT_NAME": "onnx_export",
    "LOGITS": "onnx_export",
    "CamHead": "onnx_export",
    "ExportSettings": "onnx_export",
    "ExportedModel": "onnx_export",
    "export_onnx": "onnx_export",
    "find_cam_head": "onnx_export",
    "cleanup_tool": "onnx_export",
    "HOST_RUNNER_OPTIONS": "quantize",
    "QuantizeSettings": "quantize",
    "QuantizedModel": "quantize",
    "check_tensorrt_qdq": "quantize",
    "quantize_int8": "quantize",
    "BuiltEngine": "tensorrt_build",
    "EngineSettings": "tensorrt_build",
    "build_engine": "tensorrt_build",
    "parse_trtexec_summary": "tensorrt_build",
}

if TYPE_CHECKING:
    from edgeprune.export.onnx_export import (
        FEATURES,
        INPUT_NAME,
        LOGITS,
        CamHead,
        ExportedModel,
        ExportSettings,
        cleanup_tool,
        export_onnx,
        find_cam_head,
    )
    from edgeprune.export.quantize import (
        HOST_RUNNER_OPTIONS,
        QuantizedModel,
        QuantizeSettings,
        check_tensorrt_qdq,
        quantize_int8,
    )
    from edgeprune.export.tensorrt_build import (
        BuiltEngine,
        EngineSettings,
        build_engine,
        parse_trtexec_summary,
    )


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "FEATURES",
    "HOST_RUNNER_OPTIONS",
    "INPUT_NAME",
    "LOGITS",
    "BuiltEngine",
    "CamHead",
    "EngineSettings",
    "ExportSettings",
    "ExportedModel",
    "QuantizeSettings",
    "QuantizedModel",
    "build_engine",
    "check_tensorrt_qdq",
    "cleanup_tool",
    "export_onnx",
    "find_cam_head",
    "parse_trtexec_summary",
    "quantize_int8",
]
