"""Corrupted test sets in the CIFAR-10-C layout, written by edgeprune or downloaded by the user.

Layout: one ``<corruption>.npy`` per corruption, shape (N * 5, H, W, 3) uint8, severity-major
(rows [(s-1) N, s N) are severity s, in the clean test set's order), and ``labels.npy``
(N * 5,). The real CIFAR-10-C folder has exactly this layout, so both are read the same
way: memory-mapped, by row range, never loaded whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgeprune.data.corruptions import ALL, SEVERITIES, corrupt
from edgeprune.errors import EdgepruneError
from edgeprune.files import atomic_path, write_json
from edgeprune.metrics.corruption import split_name
from edgeprune.targets.bundle import Split

LABELS_FILE = "labels.npy"
META_FILE = "corruptions.json"
CHUNK = 1024  # images corrupted per call: bounded memory, and a multiple of the seeding block


def write_corrupted_set(
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: str | Path,
    corruptions: Sequence[str] = ALL,
    seed: int = 0,
    frost_textures: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Corrupt ``images`` at every severity into ``out_dir``; resumable per corruption."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(images)
    shape = (n * len(SEVERITIES), *images.shape[1:])
    label_dtype = np.uint8 if labels.max(initial=0) < 256 else np.int64
    with atomic_path(out_dir / LABELS_FILE, suffix=".npy") as tmp:
        np.save(tmp, np.tile(np.asarray(labels, dtype=label_dtype), len(SEVERITIES)))
    for name in corruptions:
        path = out_dir / f"{name}.npy"
        if path.exists() and np.load(path, mmap_mode="r").shape == shape:
            if progress:
                progress(f"{name}: present, kept")
            continue
        started = time.perf_counter()
        with atomic_path(path, suffix=".npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            for s in SEVERITIES:
                for start in range(0, n, CHUNK):
                    stop = min(start + CHUNK, n)
                    rows = slice((s - 1) * n + start, (s - 1) * n + stop)
                    out[rows] = corrupt(
                        images[start:stop],
                        name,
                        s,
                        seed=seed,
                        first_index=start,
                        frost_textures=frost_textures,
                    )
            out.flush()
            del out
        if progress:
            rate = n * len(SEVERITIES) / (time.perf_counter() - started)
            progress(f"{name}: {n} images x {len(SEVERITIES)} severities ({rate:,.0f} images/s)")
    write_json(
        out_dir / META_FILE,
        {
            "layout": "CIFAR-10-C: <corruption>.npy (N*5, H, W, 3) uint8, severity-major; labels.npy",
            "images_per_severity": n,
            "corruptions": list(corruptions),
            "seed": seed,
            "generator": "edgeprune.data.corruptions (parameters of hendrycks/robustness make_cifar_c.py / make_imagenet_c.py)",
        },
    )
    return out_dir


def corrupted_splits(
    folder: str | Path,
    image_shape: Sequence[int],
    limit: int | None = None,
    relative_to: Path | None = None,
) -> tuple[list[Split], list[str]]:
    """Bundle splits ``<corruption>/<severity>`` over a CIFAR-10-C-layout folder.

    Returns the splits and the names of corruptions absent from the folder. ``limit`` keeps
    the first images of each severity; ``relative_to`` stores paths relative to that folder.
    """
    folder = Path(folder).expanduser()
    labels_path = folder / LABELS_FILE
    if not labels_path.is_file():
        raise EdgepruneError(
            f"{folder} is not a CIFAR-10-C-layout folder: {LABELS_FILE} is missing"
        )
    labels = np.load(labels_path, mmap_mode="r")
    if len(labels) % len(SEVERITIES):
        raise EdgepruneError(
            f"{labels_path}: {len(labels)} labels is not 5 severities of equal size"
        )
    n = len(labels) // len(SEVERITIES)
    keep = n if limit is None else min(limit, n)
    splits, missing = [], []
    for name in ALL:
        path = folder / f"{name}.npy"
        if not path.is_file():
            missing.append(name)
            continue
        array = np.load(path, mmap_mode="r")
        if array.dtype != np.uint8 or tuple(array.shape) != (len(labels), *image_shape):
            raise EdgepruneError(
                f"{path}: expected uint8 {(len(labels), *image_shape)}, found {array.dtype} {tuple(array.shape)} "
                "(images must match the model's input size)"
            )
        stored = str(path.relative_to(relative_to)) if relative_to else str(path.resolve())
        label_file = (
            str(labels_path.relative_to(relative_to)) if relative_to else str(labels_path.resolve())
        )
        for s in SEVERITIES:
            start = (s - 1) * n
            splits.append(Split(split_name(name, s), stored, label_file, start, start + keep))
    if not splits:
        raise EdgepruneError(
            f"{folder} holds none of the corruption files ({', '.join(ALL[:3])}, ...)"
        )
    return splits, missing
