"""One writer per folder: a run directory, a corrupted set, an evaluation's output.

Two ``compress`` processes on one ``--out`` would both do all the work, mix each other's
files into one results.json, and time latency while the other computes. The folder's lock
file is held with ``flock`` for as long as the command writes there: the kernel releases it
when the holder exits, however it exits (a crash, ``kill -9``), so a stale lock never
blocks a rerun. The file names its holder (PID, host, command, start time) for the message
a second process prints. (Linux maps ``flock`` on NFS to POSIX byte-range locks, so runs
on a shared filesystem exclude each other too.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.files import existing_parent, remove_stale_temporaries

LOCK_FILE = ".edgeprune.lock"


@contextlib.contextmanager
def hold(folder: str | os.PathLike, what: str = "run directory") -> Iterator[Path]:
    """Hold ``folder``'s lock (creating the folder) while the block runs; yields the folder.

    A second holder fails at once with one line naming the first. Once held, temporary
    files that killed writers left in the folder are removed.
    """
    folder = Path(folder)
    _make_folder(folder, what)
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise EdgepruneError(f"cannot write in {what} {folder}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EdgepruneError(
                f"{what} {folder} is in use by {_holder(path)}: wait for it to finish, or use "
                "another --out"
            ) from None
        _record_holder(fd)
        remove_stale_temporaries(folder)
        yield folder
    finally:
        os.close(fd)  # releases the lock; the file stays, so no second inode can be locked


def check_folder(folder: str | os.PathLike, what: str = "run directory") -> None:
    """Fail before any work when ``folder`` cannot become a folder this process writes in:
    an existing file, a path under a file, or a place without write permission."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise EdgepruneError(f"{what} {folder} is an existing file, not a folder")
    parent = existing_parent(folder)
    if not parent.is_dir():
        raise EdgepruneError(f"cannot make {what} {folder}: a parent is a file ({parent})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EdgepruneError(f"cannot write in {parent}: permission denied (for {what} {folder})")


def _make_folder(folder: Path, what: str) -> None:
    check_folder(folder, what)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise EdgepruneError(f"cannot make {what} {folder}: a parent is a file") from None
    except OSError as exc:
        raise EdgepruneError(f"cannot make {what} {folder}: {exc.strerror}") from None


def _record_holder(fd: int) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join(sys.argv[:1] + sys.argv[1:4])[:200],
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)


def _holder(path: Path) -> str:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return f"PID {record['pid']} on {record['host']} (since {record['started']}: {record['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another edgeprune process"
