"""``edgeprune corrupt --images DIR``: every image of a plain, unlabelled folder, corrupted at
its own size into image files a user can look at or feed to another tool.

Output: ``<out>/<corruption>/<severity>/<the image's path in DIR>.png`` (PNG: the
corruption is the only change), and ``corruptions.json``, which records what the folder
holds: the source images (names and bytes), the seed, the size and the generator's version,
and each corruption once all its images are written. A rerun keeps the corruptions it
records and makes the rest; a folder made from other images or settings is refused.

Each image is corrupted on its own, with the parameters of its own size, and with its index
in the sorted file list as its place in the random stream (``first_index``): the same
folder and seed always give the same files.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from edgeprune.data.corruptions import GENERATOR_VERSION, SEVERITIES, corrupt
from edgeprune.data.datasets import IMAGE_SUFFIXES, square
from edgeprune.data.images import open_rgb
from edgeprune.errors import EdgepruneError
from edgeprune.files import atomic_path, read_json, write_json
from edgeprune.lock import LOCK_FILE, hold
from edgeprune.progress import rate_and_time_left

META_FILE = "corruptions.json"
LAYOUT = "<corruption>/<severity>/<relative path>.png, one file per source image"


def image_files(folder: Path, limit: int | None = None) -> list[Path]:
    """The images under ``folder`` (recursively, sorted by path), the first ``limit``."""
    if not folder.is_dir():
        raise EdgepruneError(f"--images {folder}: no such directory")
    found = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not found:
        raise EdgepruneError(
            f"--images {folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in it"
        )
    return found[:limit] if limit else found


def _digest(folder: Path, files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _load(path: Path, input_size: int) -> np.ndarray:
    image = open_rgb(path)
    return np.asarray(square(image, input_size) if input_size else image)


def corrupt_folder(
    folder: Path,
    out: Path,
    corruptions: Sequence[str],
    seed: int = 0,
    input_size: int = 0,
    limit: int | None = None,
    frost_textures: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Corrupt every image of ``folder`` (native size; ``input_size``: a centre square of
    that side) at every severity into ``out``; returns how many images each file holds."""
    files = image_files(folder, limit)
    outputs: dict[Path, Path] = {}
    for path in files:  # an unreadable image or a clash fails before anything is written
        open_rgb(path)
        name = path.relative_to(folder).with_suffix(".png")
        if name in outputs:
            raise EdgepruneError(
                f"--images: {outputs[name]} and {path} would both be written as {name}; rename one"
            )
        outputs[name] = path
    source = {
        "folder": str(folder.resolve()),
        "images": len(files),
        "digest": _digest(folder, files),
        "seed": seed,
        "input_size": input_size or "native",
        "frost_textures": str(frost_textures) if frost_textures else "procedural",
        "generator_version": GENERATOR_VERSION,
    }
    with hold(out, "corrupted-image folder"):
        manifest = _manifest(out, source)
        done = set(manifest["corruptions"])
        todo = [name for name in corruptions if name not in done]
        started = time.perf_counter()
        for number, name in enumerate(todo, 1):
            for index, path in enumerate(files):
                image = _load(path, input_size)[None]
                relative = path.relative_to(folder).with_suffix(".png")
                for severity in SEVERITIES:
                    corrupted = corrupt(image, name, severity, seed=seed, first_index=index,
                                        frost_textures=frost_textures)  # fmt: skip
                    target = out / name / str(severity) / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(target, suffix=".png") as tmp:
                        Image.fromarray(corrupted[0]).save(tmp, format="PNG")
            manifest["corruptions"] = [c for c in corruptions if c in done | {name}]
            done.add(name)
            write_json(out / META_FILE, manifest)  # the corruption counts as made from here on
            if progress:
                each = len(files) * len(SEVERITIES)
                pace = rate_and_time_left(
                    number * each, len(todo) * each, time.perf_counter() - started
                )
                progress(
                    f"{name} ({number} of {len(todo)}): {len(files)} images x 5 severities; {pace}"
                )
    return len(files)


def _manifest(out: Path, source: dict) -> dict:
    """The folder's record: kept when it was made from the same source, else refused."""
    path = out / META_FILE
    if not path.exists():
        if any(p.name != LOCK_FILE for p in out.iterdir()):
            raise EdgepruneError(
                f"{out} is not empty and holds no {META_FILE}: use an empty or new --out"
            )
        return {"layout": LAYOUT, "source": source, "corruptions": []}
    try:
        manifest = read_json(path)
        before = manifest["source"]
    except (OSError, ValueError, KeyError, TypeError):
        raise EdgepruneError(f"{path} is damaged; delete {out} to make it again") from None
    changed = [
        "the images' content" if k == "digest" else f"{k} {before.get(k)!r} (now {v!r})"
        for k, v in source.items()
        if before.get(k) != v
    ]
    if changed:
        raise EdgepruneError(
            f"{out} was made from other images or settings: {'; '.join(changed)}; use another --out"
        )
    return manifest
