"""Versions and settings that a result depends on, recorded with every run."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

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


def source_commit() -> dict[str, object] | None:
    """The git commit edgeprune runs from, and whether its tree had uncommitted changes;
    None for an installed copy outside a git checkout (its version says what it is)."""
    folder = Path(edgeprune.__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                                  text=True, timeout=10)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "uncommitted_changes": bool(changed)}


def provenance(command: list[str] | None = None) -> dict:
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "edgeprune_source": source_commit(),
        "platform": platform.platform(),
        "command": command or sys.argv,
    }
