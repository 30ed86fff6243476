"""Numeric precisions an artifact can run at, and what each costs per element.

The one list of precision names: profiles, estimates, the TensorRT builder, ONNX Runtime's
TensorRT provider options, the precision variants and the configuration all read it.
Torch-free and Python 3.8-compatible.
"""

from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "int8")
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1}
