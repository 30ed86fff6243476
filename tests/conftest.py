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
