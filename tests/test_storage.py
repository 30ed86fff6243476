"""Concurrent runs, killed writers and a full disk: one clear line, never mixed or lost files."""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.files import storage_problem, write_npy_stream
from edgeprune.lock import LOCK_FILE, hold

_HOLD_AND_WAIT = textwrap.dedent(
    """
    import sys, time
    from edgeprune.lock import hold
    with hold(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
    """
)


def _holder(folder: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_WAIT, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with hold(tmp_path / "run"):
        with pytest.raises(EdgepruneError, match=rf"in use by PID {os.getpid()} on "):
            with hold(tmp_path / "run"):
                pass
    with hold(tmp_path / "run"):  # released on exit
        pass


def test_compress_on_a_directory_another_process_holds_fails_at_once(tmp_path, fast_flags, capsys):
    """Before, both processes did all the work and mixed their files into one result."""
    child = _holder(tmp_path / "run")
    try:
        started = time.perf_counter()
        assert main(["compress", "--out", str(tmp_path / "run"), *fast_flags]) == 2
        assert time.perf_counter() - started < 30  # refused, not after training
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"is in use by PID {child.pid}" in err[0]
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_FILE]
    finally:
        child.kill()
        child.wait()


def test_a_lock_of_a_killed_process_is_no_lock(tmp_path):
    child = _holder(tmp_path / "run")
    child.send_signal(signal.SIGKILL)
    child.wait()
    with hold(tmp_path / "run"):  # no stale lock to remove by hand
        pass


def test_temporaries_of_a_killed_writer_are_removed_on_the_next_start(tmp_path):
    run = tmp_path / "run"
    (run / "bundle" / "corruptions").mkdir(parents=True)
    (run / "plots").mkdir()
    left = [
        run / "bundle" / "corruptions" / ".glass_blur.npy.k2j4h_9a.tmp.npy",
        run / "plots" / ".reliability.png.0x1y2z3w.tmp.png",
        run / ".results.json.abcdefgh.tmp",
    ]
    kept = [run / ".gitignore", run / "plots" / "notes.tmp", run / "baseline.npy"]
    for path in left + kept:
        path.write_bytes(b"x")
    with hold(run):
        assert [p.exists() for p in left] == [False] * 3
        assert all(p.exists() for p in kept)


@pytest.mark.parametrize("where", ["an existing file", "under a file"])
def test_an_out_that_cannot_be_a_folder_is_one_line(tmp_path, fast_flags, capsys, where):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" if where == "an existing file" else tmp_path / "file" / "run"
    for command in (
        ["compress", "--out", str(out), *fast_flags],
        [
            "corrupt",
            "--data",
            "digits",
            "--limit",
            "5",
            "--corruptions",
            "contrast",
            "--out",
            str(out),
        ],
    ):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("existing file" in err[0] or "a parent is a file" in err[0])
    assert (tmp_path / "file").read_text() == "x"


def test_a_disk_error_from_the_machine_is_one_line(monkeypatch, capsys):
    def disk_full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/results.json")

    import edgeprune.cli as cli

    monkeypatch.setattr(cli, "cmd_targets", disk_full)
    assert main(["targets"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "edgeprune: error: no space left on the device writing /runs/x/results.json: free some "
        "space or use another --out; finished results are kept, rerun to resume"
    ]
    assert storage_problem(OSError(errno.EIO, "I/O error")) is None  # not ours to hide


# A private mount namespace with a 3 MB filesystem: what a full disk does, without root on the
# host and without touching any real filesystem.
def _small_disk_available() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


small_disk = pytest.mark.skipif(
    not _small_disk_available(), reason="needs unshare -rm and mount (user namespaces)"
)


def _on_small_disk(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    mount = tmp_path / "small"
    mount.mkdir()
    shell = f"mount -t tmpfs -o size=3m tmpfs {mount} && {script.format(disk=mount)}; ls -A {mount}"
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=300
    )


@small_disk
def test_corrupt_onto_a_full_disk_is_one_line_twice_and_leaves_nothing(tmp_path):
    """Before: SIGBUS from the memory-mapped write (exit -7, nothing printed), a 5.5 MB
    temporary file left behind, and an OSError traceback on the rerun."""
    edgeprune = Path(sys.executable).with_name("edgeprune")
    command = (
        f"{edgeprune} corrupt --data digits --corruptions glass_blur --quiet --out {{disk}}/set"
    )
    done = _on_small_disk(f"{command}; echo rc=$?; {command}; echo rc=$?", tmp_path)
    assert done.stdout.count("rc=2") == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all("not enough free space" in line for line in lines), lines
    assert "Traceback" not in done.stderr
    listed = done.stdout.split("rc=2")[-1].split()
    assert listed == ["set"]  # no temporary file on the disk


@small_disk
def test_a_write_that_outgrows_the_disk_fails_with_enospc_not_sigbus(tmp_path):
    script = (
        f'{sys.executable} -c "import numpy as np, sys; from edgeprune.files import write_npy_stream as w; '
        "from pathlib import Path\n"
        "try:\n"
        "    w(Path('{disk}/a.npy'), (8, 1024, 1024), np.uint8, (np.zeros((1, 1024, 1024), np.uint8) for _ in range(8)))\n"
        "except OSError as e:\n"
        "    print('errno', e.errno)\""
    )
    done = _on_small_disk(script, tmp_path)
    assert f"errno {errno.ENOSPC}" in done.stdout, done.stdout + done.stderr
    assert done.stdout.split()[-1] == str(errno.ENOSPC)  # ls -A: the disk is empty again


def test_streamed_arrays_read_back_as_written(tmp_path):
    parts = [np.full((2, 3, 4), i, np.uint8) for i in range(5)]
    write_npy_stream(tmp_path / "a.npy", (10, 3, 4), np.uint8, iter(parts))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.concatenate(parts))
    with pytest.raises(ValueError, match="wrote 24 bytes of 120"):
        write_npy_stream(tmp_path / "b.npy", (10, 3, 4), np.uint8, iter(parts[:1]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_free_space_needs_the_margin_too(tmp_path, monkeypatch):
    from collections import namedtuple

    import edgeprune.files as files

    usage = namedtuple("usage", "total used free")
    asked = []

    def disk_usage(path):
        asked.append(Path(path))
        return usage(0, 0, 1000 + files.FREE_SPACE_MARGIN)

    monkeypatch.setattr(files.shutil, "disk_usage", disk_usage)
    target = tmp_path / "not" / "yet" / "there"
    files.ensure_free_space(target, 1000, "x")  # exactly enough
    assert asked == [tmp_path]  # measured on the nearest existing folder
    with pytest.raises(EdgepruneError, match=r"needs 0.0 MB \(\+16.0 MB margin\)"):
        files.ensure_free_space(target, 1001, "x")


def test_writes_make_missing_folders_and_reserve_their_size_first(tmp_path):
    from edgeprune.files import write_json

    write_json(tmp_path / "a" / "b" / "c.json", {"x": 1})
    assert (tmp_path / "a" / "b" / "c.json").read_text() == '{\n  "x": 1\n}\n'
    sizes = []

    def chunks():
        for i in range(3):
            if i:  # the temporary file already has its final size before the second chunk
                (temporary,) = [p for p in tmp_path.iterdir() if p.name.startswith(".s.npy.")]
                sizes.append(temporary.stat().st_size)
            yield np.full((4, 8), i, np.uint8)

    write_npy_stream(tmp_path / "s.npy", (12, 8), np.uint8, chunks())
    exact = io.BytesIO()
    np.save(exact, np.zeros((12, 8), np.uint8))  # np.save's own file: header and data, no more
    assert sizes == [len(exact.getvalue())] * 2 == [(tmp_path / "s.npy").stat().st_size] * 2
