from __future__ import annotations

import math
import os

import numpy as np
import pytest

from edgeprune.files import atomic_path, read_json, write_json, write_npz


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("crash mid-write")
    assert read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_written_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


def test_json_turns_numpy_and_nan_into_plain_values(tmp_path):
    write_json(
        tmp_path / "x.json",
        {"n": np.int64(3), "f": np.float32(0.5), "a": np.arange(2), "nan": math.nan},
    )
    assert read_json(tmp_path / "x.json") == {"n": 3, "f": 0.5, "a": [0, 1], "nan": None}


def test_npz_round_trip(tmp_path):
    write_npz(tmp_path / "o.npz", {"logits/clean": np.ones((2, 3), np.float32)})
    with np.load(tmp_path / "o.npz") as data:
        assert data["logits/clean"].shape == (2, 3)
