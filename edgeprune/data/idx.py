"""IDX files (LeCun's format of MNIST and Fashion-MNIST), plain or gzip-compressed.

An IDX file is a big-endian header (two zero bytes, a type code, the number of
dimensions, each dimension as a 32-bit integer) followed by the array. MNIST-style sets
ship four of them: ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise EdgepruneError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise EdgepruneError(f"{path} is not an IDX file (bad magic number)")
    dims = data[3]
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    dtype = np.dtype(_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise EdgepruneError(
            f"{path}: the header says {shape} ({expected} bytes), the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def find_idx(folder: Path, split: str, kind: str) -> Path:
    stem = NAMES[(split, kind)]
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(stem)


def read_idx_set(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": (images, labels)}`` from the four files."""
    out = {}
    for split in ("train", "test"):
        images = read_idx(find_idx(folder, split, "images"))
        labels = read_idx(find_idx(folder, split, "labels")).astype(np.int64)
        if images.ndim != 3 or len(images) != len(labels):
            raise EdgepruneError(
                f"{folder}: {split} images {images.shape} and labels {labels.shape} do not pair up"
            )
        out[split] = (np.asarray(images, dtype=np.uint8), labels)
    return out
