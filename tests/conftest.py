"""Shared test fixtures. Tests are tiny and offline; markers: slow, gpu, tensorrt."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/ sits beside the checkout in this project's workspace and CI; elsewhere tests
# that need it skip with a message.
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared reference folder not found at {SHARED_DIR}")
    return SHARED_DIR
