"""Shared test fixtures. Tests are tiny and offline; markers: slow, gpu, tensorrt."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/ sits beside the checkout in this project's workspace and CI; elsewhere tests
# that need it skip with a message.
SHARED_DIR = REPO_ROOT.parent / "shared"

# A compress run small enough for tests: seconds, not minutes.
FAST_FLAGS = [
    "--train-epochs",
    "4",
    "--finetune-epochs",
    "1",
    "--ratios",
    "0.25,0.5",
    "--latency-iterations",
    "10",
    "--latency-warmup",
    "2",
    "--latency-batch",
    "8",
    "--quiet",
]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared reference folder not found at {SHARED_DIR}")
    return SHARED_DIR


# The pretrained CIFAR-10 ResNets of ../shared/data/weights (akamaster/pytorch_resnet_cifar10)
# and the top-1 measured on the JPEG test set when they were shared (its README).
PRETRAINED = {
    "resnet20": ("resnet20-12fca82f.th", 0.810),
    "resnet56": ("resnet56-4bfd9763.th", 0.832),
}


@pytest.fixture(scope="session")
def cifar10_dir(shared_dir) -> Path:
    """The shared JPEG CIFAR-10, prepared once (``prepare_cifar10.py``, idempotent) into
    ``$EDGEPRUNE_CIFAR10`` or ``~/.cache/edgeprune-data/cifar10``."""
    import os
    import subprocess
    import sys

    script = shared_dir / "data" / "prepare_cifar10.py"
    if not script.is_file():
        pytest.skip(f"{script} not found")
    dest = Path(os.environ.get("EDGEPRUNE_CIFAR10", "~/.cache/edgeprune-data/cifar10"))
    dest = dest.expanduser()
    subprocess.run([sys.executable, str(script), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def pretrained(shared_dir) -> dict[str, tuple[Path, float]]:
    """model name -> (checkpoint as downloaded, top-1 on the JPEG test set per the README)."""
    folder = shared_dir / "data" / "weights"
    found = {n: (folder / f, acc) for n, (f, acc) in PRETRAINED.items() if (folder / f).is_file()}
    if not found:
        pytest.skip(f"no pretrained CIFAR-10 checkpoints in {folder}")
    return found


@pytest.fixture(scope="session")
def fast_flags() -> list[str]:
    return list(FAST_FLAGS)


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory) -> Path:
    """A finished small compress run on the digits, shared by tests that only read it."""
    from edgeprune.cli import main

    out = tmp_path_factory.mktemp("runs") / "fast"
    assert main(["compress", "--target", "host-cpu", "--out", str(out), *FAST_FLAGS]) == 0
    return out
