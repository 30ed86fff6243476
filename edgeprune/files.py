"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or Ctrl-C in the middle of a write never leaves a half file that looks finished,
which is what lets an interrupted sweep resume by checking which files exist. The
temporaries of a killed writer are removed on the next start (``remove_stale_temporaries``),
and a full disk is one place's concern: ``ensure_free_space`` before a large write,
``write_npy_stream`` for arrays too large to hold (ENOSPC instead of an mmap's SIGBUS), and
``storage_problem`` for the command line's one-line message.
Torch-free and Python 3.8-compatible: the device runner uses it too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    ``suffix`` keeps an extension that writers insist on (``np.savez`` appends ``.npz``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _jsonable(obj: Any) -> Any:
    """Numpy scalars and arrays become Python values; NaN and infinity become null."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON; NaN is written as null so any JSON reader can load it."""
    write_text(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


# What to do about a damaged file when its reader has nothing more specific to say: every
# file edgeprune reads back is one it writes again when it is missing.
REBUILD_BY_DELETING = "delete it and rerun: edgeprune writes it again"


def damaged_file(path: str | os.PathLike, problem: str, rebuild: str | None = None):
    """The one-line error for a file edgeprune wrote that no longer reads (truncated by a
    crash or a full disk, edited by hand): which file, what is wrong, how to rebuild it."""
    from edgeprune.errors import EdgepruneError

    return EdgepruneError(f"{path} is damaged ({problem}); {rebuild or REBUILD_BY_DELETING}")


@contextlib.contextmanager
def malformed_as_damaged(path: str | os.PathLike, rebuild: str | None = None) -> Iterator[None]:
    """Read the parsed content of ``path`` inside this block: a key missing or a value of
    the wrong type (KeyError, TypeError, ValueError) becomes the file's damaged-file error."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged_file(path, f"missing or malformed {exc}", rebuild) from None


def read_json(path: str | os.PathLike, rebuild: str | None = None) -> Any:
    """A JSON file edgeprune wrote; a damaged one is one error line naming it (``rebuild``:
    how to get it back, when deleting it is not the way)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise damaged_file(path, where, rebuild) from None
    except UnicodeDecodeError:
        raise damaged_file(path, "not UTF-8 text", rebuild) from None


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Save arrays uncompressed (logits compress poorly; loading stays fast)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


# The temporary names atomic_path makes: ".<name>.<8 random characters>.tmp[<suffix>]".
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete what killed writers left behind under ``folder`` (their temporary files).

    Only safe while holding the folder's lock (``edgeprune.lock``): then no live writer owns
    one of them. Returns the paths removed.
    """
    removed = []
    for root, _, names in os.walk(folder):
        for name in names:
            if _TEMPORARY.match(name):
                path = Path(root) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed


# Below this much free space after a write, the next small write (a JSON, a plot) may fail.
FREE_SPACE_MARGIN = 16 * 2**20


def ensure_free_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Refuse a large write that cannot fit, before any of it is written."""
    from edgeprune.errors import EdgepruneError

    free = shutil.disk_usage(existing_parent(Path(folder))).free
    if free < needed + FREE_SPACE_MARGIN:
        raise EdgepruneError(
            f"not enough free space for {what} in {folder}: needs {_mb(needed)} "
            f"(+{_mb(FREE_SPACE_MARGIN)} margin), {_mb(free)} free; free some space or use "
            "another --out"
        )


def existing_parent(path: Path) -> Path:
    """``path`` itself when it exists, else its nearest ancestor that does."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def storage_problem(exc: BaseException) -> str | None:
    """One line for an OSError that the machine, not edgeprune, caused while writing (a full
    disk, a quota, a read-only or forbidden folder); None for anything else."""
    if not isinstance(exc, OSError):
        return None
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device{where}: free some space or use another --out"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{exc.strerror.lower()}{where}: use an --out where you can write"
    return None


def write_npy_stream(path: Path, shape: tuple[int, ...], dtype: np.dtype, chunks) -> None:
    """Write an ``.npy`` file of ``shape`` from ``chunks`` (arrays, in row order), atomically.

    Plain writes rather than a memory map: a full disk then fails the write with ENOSPC,
    which can be reported, instead of killing the process with SIGBUS. The space is
    reserved first, so a disk that cannot hold the file fails before any work.
    """
    dtype = np.dtype(dtype)
    total = int(np.prod(shape)) * dtype.itemsize
    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "r+b") as handle:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        np.lib.format.write_array_header_1_0(handle, {**header, "shape": tuple(shape)})
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(handle.fileno(), 0, handle.tell() + total)
        written = 0
        for chunk in chunks:
            data = np.ascontiguousarray(chunk, dtype=dtype)
            handle.write(data.tobytes())
            written += data.nbytes
        if written != total:
            raise ValueError(f"{path}: wrote {written} bytes of {total}")
        handle.flush()
        os.fsync(handle.fileno())


DIGEST_CHUNK = 1 << 26  # bytes hashed per update: bounded memory, same digest at any size


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's content: its dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    flat = array.reshape(-1).view(np.uint8)
    for start in range(0, len(flat), DIGEST_CHUNK):  # bounded memory for large sets
        h.update(flat[start : start + DIGEST_CHUNK].data)
    return h.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
