"""Versions and settings that a result depends on, recorded with every run."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import sys

import edgeprune

PACKAGES = ("torch", "torchvision", "torch-pruning", "onnx", "onnxruntime", "numpy", "tensorrt")


def package_versions() -> dict[str, str]:
    versions = {"edgeprune": edgeprune.__version__, "python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(command: list[str] | None = None) -> dict:
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "platform": platform.platform(),
        "command": command or sys.argv,
    }
