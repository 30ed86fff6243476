"""Corrupted test sets in the CIFAR-10-C layout, written by edgeprune or downloaded by the user.

Layout: one ``<corruption>.npy`` per corruption, shape (N * 5, H, W, 3) uint8, severity-major
(rows [(s-1) N, s N) are severity s, in the clean test set's order), and ``labels.npy``
(N * 5,). The real CIFAR-10-C folder has exactly this layout, so both are read the same
way: memory-mapped, by row range, never loaded whole.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from edgeprune.data.corruptions import (
    ALL,
    GENERATOR_VERSION,
    SEVERITIES,
    corrupt,
    parameter_set_for,
)
from edgeprune.data.corruptions.frost_textures import texture_files
from edgeprune.errors import EdgepruneError
from edgeprune.files import (
    array_digest,
    atomic_path,
    ensure_free_space,
    read_json,
    write_json,
    write_npy_stream,
)
from edgeprune.lock import hold
from edgeprune.metrics.corruption import split_name
from edgeprune.progress import rate_and_time_left
from edgeprune.targets.bundle import Split

LABELS_FILE = "labels.npy"
META_FILE = "corruptions.json"
CHUNK = 1024  # images corrupted per call: bounded memory, and a multiple of the seeding block
LAYOUT = "CIFAR-10-C: <corruption>.npy (N*5, H, W, 3) uint8, severity-major; labels.npy"


def write_corrupted_set(
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: str | Path,
    corruptions: Sequence[str] = ALL,
    seed: int = 0,
    frost_textures: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Corrupt ``images`` at every severity into ``out_dir``; resumable per corruption.

    A corruption file is kept only when everything that made it matches this call: the
    images (by content), the seed, its parameters, the frost textures and the generator's
    version, as ``corruptions.json`` records per file; otherwise it is generated again.
    Files of other corruptions that no longer match are refused, never left inconsistent.
    """
    out_dir = Path(out_dir)
    with hold(out_dir, "corrupted-set folder"):
        _write_corrupted_set(
            images, labels, out_dir, tuple(corruptions), seed, frost_textures, progress
        )
    return out_dir


def _write_corrupted_set(
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: Path,
    corruptions: tuple[str, ...],
    seed: int,
    frost_textures: str | Path | None,
    progress: Callable[[str], None] | None,
) -> None:
    n = len(images)
    shape = (n * len(SEVERITIES), *images.shape[1:])
    label_dtype = np.uint8 if labels.max(initial=0) < 256 else np.int64
    labels = np.tile(np.asarray(labels, dtype=label_dtype), len(SEVERITIES))
    source = {"images": array_digest(images), "labels": array_digest(labels), "count": n}
    recipes = {
        name: _recipe(name, source["images"], images.shape[1:3], seed, frost_textures)
        for name in ALL
    }
    manifest = _read_manifest(out_dir)
    finished = {name for name in ALL if _is_finished(out_dir, name, recipes[name], manifest)}
    _refuse_stale(out_dir, set(corruptions), finished, manifest, source, seed)
    todo = [name for name in corruptions if name not in finished]
    file_bytes = int(np.prod(shape))
    ensure_free_space(out_dir, file_bytes * len(todo), f"{len(todo)} corruption file(s)")
    kept = {name: manifest["files"][name] for name in finished}
    manifest = {
        "layout": LAYOUT,
        "images_per_severity": n,
        "source": source,
        "seed": seed,
        "generator": GENERATOR_SOURCE,
        "files": kept,
        "corruptions": sorted(kept, key=ALL.index),
    }
    if not _same_file(out_dir / LABELS_FILE, labels):
        with atomic_path(out_dir / LABELS_FILE, suffix=".npy") as tmp:
            np.save(tmp, labels)
    write_json(out_dir / META_FILE, manifest)
    to_make = [name for name in corruptions if name not in finished]
    made, making_started = 0, time.perf_counter()
    for name in corruptions:
        if name in finished:
            if progress:
                progress(f"{name}: present, kept")
            continue
        path = out_dir / f"{name}.npy"
        write_npy_stream(
            path, shape, np.uint8, _corrupted_chunks(images, name, seed, frost_textures)
        )
        manifest["files"][name] = {**recipes[name], "bytes": path.stat().st_size}
        manifest["corruptions"] = sorted(manifest["files"], key=ALL.index)
        write_json(out_dir / META_FILE, manifest)  # the file counts as finished from here on
        made += 1
        if progress:
            per_file = n * len(SEVERITIES)
            pace = rate_and_time_left(  # pragma: no mutate (printed only)
                made * per_file, len(to_make) * per_file, time.perf_counter() - making_started
            )
            progress(
                f"{name} ({made} of {len(to_make)}): {n} images x {len(SEVERITIES)} severities; {pace}"
            )


GENERATOR_SOURCE = (
    "edgeprune.data.corruptions (parameters of hendrycks/robustness make_cifar_c.py / "
    "make_imagenet_c.py)"
)


def _corrupted_chunks(
    images: np.ndarray, name: str, seed: int, frost_textures: str | Path | None
) -> Iterator[np.ndarray]:
    """The rows of one corruption file in order: severity-major, CHUNK images at a time."""
    n = len(images)
    for s in SEVERITIES:
        for start in range(0, n, CHUNK):
            yield corrupt(
                images[start : start + CHUNK],
                name,
                s,
                seed=seed,
                first_index=start,
                frost_textures=frost_textures,
            )


def _recipe(
    name: str,
    images_digest: str,
    size: tuple[int, int],
    seed: int,
    frost_textures: str | Path | None,
) -> dict:
    """Everything that decides the content of one corruption file."""
    params = parameter_set_for(*size)
    used = (
        params.name,
        params.reference_side,
        params.frost_texture_scale,
        params.elastic_length_unit,
        params.table[name],
    )
    recipe = {
        "images": images_digest,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "parameters": hashlib.sha256(repr(used).encode()).hexdigest(),
    }
    if name == "frost":
        recipe["frost_textures"] = (
            _folder_digest(frost_textures) if frost_textures else "procedural"
        )
    return recipe


def _folder_digest(folder: str | Path) -> str:
    """Of the texture images frost reads from ``folder`` (names and bytes)."""
    h = hashlib.sha256()
    for path in texture_files(Path(folder).expanduser()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _read_manifest(folder: Path) -> dict:
    path = folder / META_FILE
    if not path.exists():
        return {}
    try:
        manifest = read_json(path)
    except (OSError, ValueError):
        raise EdgepruneError(
            f"{path} is damaged (not JSON); delete {folder} to generate the set again"
        ) from None
    if not isinstance(manifest, dict):
        raise EdgepruneError(f"{path} is damaged; delete {folder} to generate the set again")
    manifest.setdefault("files", {})  # written before files were recorded: none counts
    return manifest


def recorded_source(folder: Path) -> dict:
    """What edgeprune recorded of the images a folder was made from (``images``: their
    content digest, ``labels``, ``count``); empty for a folder it did not write."""
    if not (folder / META_FILE).exists():
        return {}
    return _read_manifest(folder).get("source", {})


def _is_finished(folder: Path, name: str, recipe: dict, manifest: dict) -> bool:
    record = manifest.get("files", {}).get(name)
    path = folder / f"{name}.npy"
    if not record or not path.is_file():
        return False
    same = {k: v for k, v in record.items() if k != "bytes"} == recipe
    return same and path.stat().st_size == record.get("bytes")  # a truncated copy is unfinished


def _refuse_stale(
    folder: Path,
    requested: set[str],
    finished: set[str],
    manifest: dict,
    source: dict,
    seed: int,
) -> None:
    """Files this call would leave beside new labels although made from something else."""
    present = [name for name in ALL if (folder / f"{name}.npy").is_file()]
    if present and not (folder / META_FILE).exists():
        raise EdgepruneError(
            f"{folder} holds corruption files edgeprune did not record ({present[0]}.npy, ...; "
            f"no {META_FILE}): use another --out for a generated set"
        )
    stale = [name for name in present if name not in finished and name not in requested]
    if stale:
        before = manifest.get("source", {})
        raise EdgepruneError(
            f"{folder} holds {len(stale)} corruption(s) ({', '.join(stale[:3])}"
            f"{', ...' if len(stale) > 3 else ''}) made from other images or settings "
            f"({before.get('count', '?')} images, seed {manifest.get('seed', '?')}; now "
            f"{source['count']} images, seed {seed}) that this call would not regenerate: "
            "add them to --corruptions, or use another --out"
        )


def _same_file(path: Path, array: np.ndarray) -> bool:
    try:
        stored = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return stored.shape == array.shape and np.array_equal(stored, array)


def check_recorded(folder: Path) -> None:
    """A generated set's files are those its manifest records, whole (a copied or truncated
    file is refused); a folder without edgeprune's file records (the real CIFAR-10-C) is
    taken as it is."""
    manifest = _read_manifest(folder) if (folder / META_FILE).exists() else {}
    files = manifest.get("files")
    if not files:
        return
    for name in ALL:
        path = folder / f"{name}.npy"
        if not path.is_file():
            continue
        record = files.get(name)
        if record is None or path.stat().st_size != record.get("bytes"):
            raise EdgepruneError(
                f"{path} is not the file {META_FILE} records (unfinished, truncated or copied "
                f"in): generate it again with edgeprune corrupt --out {folder}"
            )


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
    check_recorded(folder)
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
