"""Artifacts that run on the device: ONNX (with parity checks) and, where available, TensorRT."""

from edgeprune.export.onnx_export import (
    FEATURES,
    INPUT_NAME,
    LOGITS,
    CamHead,
    ExportedModel,
    ExportSettings,
    export_onnx,
    find_cam_head,
)

__all__ = [
    "FEATURES",
    "INPUT_NAME",
    "LOGITS",
    "CamHead",
    "ExportSettings",
    "ExportedModel",
    "export_onnx",
    "find_cam_head",
]
