"""The eval bundle: uint8 images and labels on disk, memory-mapped, plus how to preprocess them.

A bundle is a folder with ``bundle.json`` and ``.npy`` files. Each named *split* ("clean",
"gaussian_noise/3", ...) is a row range of an images file (N, H, W, C) uint8 and of a labels
file; a split may point at files outside the folder (the real CIFAR-10-C files are read in
place, never copied). The runner turns uint8 NHWC into the model's float32 NCHW input with
the bundle's mean and std, so the artifact stays the plain model a user deploys.

Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.files import (
    atomic_path,
    damaged_file,
    malformed_as_damaged,
    read_json,
    write_json,
)

BUNDLE_FORMAT = "edgeprune-bundle/1"
META_FILE = "bundle.json"
CLEAN = "clean"  # the test split every metric starts from
# The validation split, in a bundle only when a run recalibrates: what the logit scaling is
# fitted on, never scored. Every other split is a corrupted copy of the clean one.
VALIDATION = "val"
RESERVED_SPLITS = (CLEAN, VALIDATION)


@dataclass(frozen=True)
class Preprocess:
    """uint8 NHWC -> float32 NCHW: x / 255, minus mean, divided by std, per channel."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        # Two passes into one preallocated NCHW array, reading the uint8 images through a
        # transposed view: ~10x faster than astype / subtract / divide / transpose copies,
        # which cost more than inference for small models. Same arithmetic, same results.
        channels = images.shape[3]
        scale = (np.asarray(self.std, dtype=np.float32) * 255.0).reshape(1, channels, 1, 1)
        offset = (np.asarray(self.mean, dtype=np.float32) * 255.0).reshape(1, channels, 1, 1)
        n, h, w = images.shape[0], images.shape[1], images.shape[2]
        out = np.empty((n, channels, h, w), dtype=np.float32)
        np.subtract(images.transpose(0, 3, 1, 2), offset, out=out)
        np.divide(out, scale, out=out)
        return out


@dataclass(frozen=True)
class Split:
    name: str
    images: str  # file path, relative to the bundle folder or absolute
    labels: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def bundle_written(path: str | os.PathLike) -> bool:
    """Whether a finished bundle is at ``path`` (its ``bundle.json`` is written last)."""
    return (Path(path) / META_FILE).is_file()


class EvalBundle:
    """A bundle opened for reading; arrays are memory-mapped on access, never loaded whole."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        meta_path = self.path / META_FILE
        if not meta_path.is_file():
            raise EdgepruneError(f"not an eval bundle (no {META_FILE}): {self.path}")
        # A run's bundle is made again from its data when the folder is gone.
        rebuild = f"delete {self.path} and rerun edgeprune compress to rebuild the bundle"
        self.meta = read_json(meta_path, rebuild)
        if not isinstance(self.meta, dict) or "format" not in self.meta:
            raise damaged_file(meta_path, "no 'format': not an eval bundle's", rebuild)
        if self.meta["format"] != BUNDLE_FORMAT:
            raise EdgepruneError(
                f"eval bundle {self.path} has format {self.meta['format']!r}, "
                f"this edgeprune reads {BUNDLE_FORMAT!r}"
            )
        with malformed_as_damaged(meta_path, rebuild):
            self.preprocess = Preprocess(tuple(self.meta["mean"]), tuple(self.meta["std"]))
            self.num_classes = int(self.meta["num_classes"])
            self.image_shape = tuple(self.meta["image_shape"])  # (H, W, C)
            self.splits = {
                name: Split(name, s["images"], s["labels"], int(s["start"]), int(s["stop"]))
                for name, s in self.meta["splits"].items()
            }

    def _resolve(self, file: str) -> Path:
        path = Path(file)
        return path if path.is_absolute() else self.path / path

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise EdgepruneError(
                f"eval bundle {self.path} has no split {name!r}; it has: {', '.join(self.splits)}"
            )
        return self.splits[name]

    def images(self, name: str) -> np.ndarray:
        split = self.split(name)
        array = np.load(self._resolve(split.images), mmap_mode="r")
        return array[split.start : split.stop]

    def labels(self, name: str) -> np.ndarray:
        split = self.split(name)
        array = np.load(self._resolve(split.labels), mmap_mode="r")
        return np.asarray(array[split.start : split.stop], dtype=np.int64)

    def batches(self, name: str, batch_size: int) -> Iterator[np.ndarray]:
        """Preprocessed float32 NCHW batches of one split, streamed from the memory map."""
        images = self.images(name)
        for start in range(0, len(images), batch_size):
            yield self.preprocess(np.asarray(images[start : start + batch_size]))

    def files(self) -> list[Path]:
        """Every file a device needs to read this bundle (for copying it to a device)."""
        paths = {self.path / META_FILE}
        for split in self.splits.values():
            paths.add(self._resolve(split.images))
            paths.add(self._resolve(split.labels))
        return sorted(paths)


def _save_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def write_bundle(
    path: str | os.PathLike,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    class_names: Sequence[str] = (),
    external_splits: Sequence[Split] = (),
    info: dict[str, object] | None = None,
) -> EvalBundle:
    """Write a bundle: each entry of ``arrays`` is ``name -> (images uint8 NHWC, labels)``.

    ``external_splits`` reference existing ``.npy`` files in place (e.g. CIFAR-10-C).
    ``bundle.json`` is written last, so a bundle without it is an unfinished one.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    splits = {}
    image_shape = None
    for name, (images, labels) in arrays.items():
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise EdgepruneError(
                f"bundle split {name!r}: images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}"
            )
        if len(labels) != len(images):
            raise EdgepruneError(
                f"bundle split {name!r}: {len(images)} images but {len(labels)} labels"
            )
        stem = name.replace("/", "_s")
        _save_array(path / f"{stem}.images.npy", images)
        _save_array(path / f"{stem}.labels.npy", np.asarray(labels, dtype=np.int64))
        splits[name] = {
            "images": f"{stem}.images.npy",
            "labels": f"{stem}.labels.npy",
            "start": 0,
            "stop": len(images),
        }
        image_shape = image_shape or list(images.shape[1:])
    for split in external_splits:
        splits[split.name] = {
            "images": split.images,
            "labels": split.labels,
            "start": split.start,
            "stop": split.stop,
        }
    if image_shape is None:
        raise EdgepruneError("an eval bundle needs at least one split with images")
    meta = {
        "format": BUNDLE_FORMAT,
        "layout": "NHWC",
        "dtype": "uint8",
        "image_shape": image_shape,
        "mean": list(mean),
        "std": list(std),
        "num_classes": num_classes,
        "class_names": list(class_names),
        "splits": splits,
        "info": info or {},
    }
    write_json(path / META_FILE, meta)
    return EvalBundle(path)
