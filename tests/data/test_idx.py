"""IDX files and the datasets read from them: Fashion-MNIST (Debian's package) and idx:<dir>."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from edgeprune.data.datasets import FASHION_MNIST_DIR, load_dataset
from edgeprune.data.idx import read_idx
from edgeprune.errors import EdgepruneError


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def _mnist_style(folder: Path, compress: bool, n_train: int = 200, n_test: int = 50) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(
            folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress
        )
        _write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folders_load_as_a_dataset(tmp_path, compress):
    _mnist_style(tmp_path / "set", compress)
    data = load_dataset(f"idx:{tmp_path / 'set'}", None, seed=0)
    assert data.image_shape == (32, 32, 3) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (180, 20, 50)
    again = load_dataset(f"idx:{tmp_path / 'set'}", 28, seed=0)
    assert again.image_shape == (28, 28, 3)
    np.testing.assert_array_equal(again.test.images[..., 0], again.test.images[..., 2])


def test_a_bad_idx_file_is_one_clear_error(tmp_path):
    (tmp_path / "x").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(EdgepruneError, match="not an IDX file"):
        read_idx(tmp_path / "x")
    _write_idx(tmp_path / "y", np.zeros((4, 2, 2)), compress=False)
    (tmp_path / "y").write_bytes((tmp_path / "y").read_bytes()[:-3])
    with pytest.raises(EdgepruneError, match="the header says"):
        read_idx(tmp_path / "y")
    with pytest.raises(EdgepruneError, match="has no train-images-idx3-ubyte"):
        load_dataset(f"idx:{tmp_path}", None, 0)


def test_a_missing_fashion_mnist_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr("edgeprune.data.datasets.FASHION_MNIST_DIR", str(tmp_path / "none"))
    with pytest.raises(EdgepruneError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", None, 0)


@pytest.fixture(scope="module")
def fashion():
    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    return load_dataset("fashion-mnist", None, seed=0)


def test_fashion_mnist_is_the_real_set(fashion):
    assert (len(fashion.train), len(fashion.val), len(fashion.test)) == (55_000, 5_000, 10_000)
    assert fashion.class_names[9] == "Ankle boot"
    assert np.bincount(fashion.test.labels).tolist() == [1000] * 10


def test_compress_trains_and_compresses_on_fashion_mnist(fashion, tmp_path):
    """Real data in the default suite: a 3,000-image training subset, temperature scaling."""
    from edgeprune.cli import main
    from edgeprune.runs import read_run

    out = tmp_path / "fashion"
    flags = [
        "compress", "--data", "fashion-mnist", "--train-images", "3000", "--train-epochs", "3",
        "--finetune-epochs", "1", "--ratios", "0.5", "--corruptions", "generate:100",
        "--explain-images", "64", "--latency-iterations", "10", "--latency-batch", "8",
        "--recalibrate", "temperature", "--out", str(out), "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    results = read_run(out).results
    base = results.baseline
    assert results.dataset["sizes"] == {"train": 3000, "val": 5000, "test": 10000}
    assert base.quality.n == 10_000 and base.quality.accuracy > 0.7
    assert base.recalibration["n"] == 5000
    assert base.quality.calibration.nll <= base.quality.uncalibrated.calibration.nll + 1e-3
    assert results.candidates[0].quality.mpc is not None
