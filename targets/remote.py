"""Run a device job on a remote device (a Jetson) over SSH, with the system OpenSSH client.

The host packs the torch-free runner into one zip file, streams it with the artifact and the
eval bundle into a fresh folder on the device, runs ``python -m edgeprune.targets.run``
there, pulls ``outputs.npz`` and ``run.json`` back into ``out_dir`` and removes the folder.
The device needs Python >= 3.8 with numpy and the runtime (onnxruntime, or tensorrt), plus
``sh`` and ``tar``; edgeprune itself is never installed there.

Files travel as one tar stream through ``ssh ... tar -x`` rather than ``scp``: the remote
layout is chosen per file (external split files from anywhere on the host land under
``bundle/external/``, ``bundle.json`` is rewritten in memory), one connection carries all
of them, no staging copy is made on the host, and only ``tar`` is needed on the device.

Every step is one ``ssh`` call: check (the device's Python and runtime; an ssh failure here
is reported as ``connect``), copy, run, fetch, and cleanup. A failure raises one
``EdgepruneError`` naming the step and the last meaningful line ssh or the runner printed;
``out_dir`` is only written after the results have fully arrived.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.files import atomic_path
from edgeprune.targets.bundle import META_FILE, EvalBundle
from edgeprune.targets.run import OUTPUTS_FILE, RUN_FILE, DeviceJob
from edgeprune.targets.runner_pack import pack_runner
from edgeprune.targets.runtimes import RUNTIMES

RUNNER_FILE = "edgeprune-runner.pyz"
DEFAULT_WORKDIR = "/tmp/edgeprune"
DEFAULT_TIMEOUT_S = 3600.0  # per step: a large bundle over Wi-Fi, or a long latency sweep
CONNECT_TIMEOUT_S = 15
# A link that stays silent for ALIVE_INTERVAL_S x ALIVE_COUNT seconds is declared dead.
ALIVE_INTERVAL_S = 10
ALIVE_COUNT = 3

# Before the caller's options: ssh keeps the first value it sees for an option, so neither
# the caller nor ~/.ssh/config can turn on prompts or turn off host-key checking.
_ENFORCED = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes")
# After the caller's options, which may override them. "-e none": the tar stream is binary,
# so no byte in it may be taken for an escape character.
_DEFAULTS = (
    "-o",
    f"ConnectTimeout={CONNECT_TIMEOUT_S}",
    "-o",
    f"ServerAliveInterval={ALIVE_INTERVAL_S}",
    "-o",
    f"ServerAliveCountMax={ALIVE_COUNT}",
    "-T",
    "-e",
    "none",
)

# --------------------------------------------------------------------------- ssh plumbing


# What an ssh destination may hold. OpenSSH refuses most shell syntax itself, but edgeprune
# names the device in messages and records, so it accepts only what a destination can be.
_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*\$?")
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?")  # a name, an alias, IPv4
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?")  # with an optional zone (%eth0)


def parse_device(device: str) -> tuple[str, int | None]:
    """``user@host``, ``user@host:port``, ``host`` or ``user@[::1]:22`` -> (destination, port)."""
    text = device.strip()
    problem = f"not an ssh destination: {device!r} (expected user@host or user@host:port)"
    user, at, rest = text.rpartition("@")
    port_text, ipv6 = "", False
    if rest.startswith("["):
        host, closed, tail = rest[1:].partition("]")
        if not closed or (tail and not tail.startswith(":")):
            raise EdgepruneError(problem)
        port_text, ipv6 = tail[1:], True
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        if not port_text:
            raise EdgepruneError(problem)
    elif ":" in rest:
        host, ipv6 = rest, True  # a bare IPv6 address
    else:
        host = rest
    valid = (
        (not at or _USER.fullmatch(user))
        and (_IPV6.fullmatch(host) if ipv6 else _HOST.fullmatch(host))
        and (not port_text or (port_text.isdigit() and 0 < int(port_text) < 65536))
    )
    if not valid:
        raise EdgepruneError(problem)
    return f"{user}{at}{host}", int(port_text) if port_text else None


def check_device_option(device: str) -> None:
    """``--device``: empty (the profile's), ``local``, or ssh destinations, comma-separated."""
    for name in (d.strip() for d in device.split(",")):
        if name not in ("", "local"):
            parse_device(name)


def split_ssh_options(options: str | Sequence[str]) -> list[str]:
    """``--ssh-options`` as the shell would split it."""
    if not isinstance(options, str):
        return list(options)
    try:
        return shlex.split(options)
    except ValueError as exc:  # an unbalanced quote
        raise EdgepruneError(f"ssh-options {options!r}: {exc} (quote as a shell would)") from None


SSH_FAILED = 255  # ssh's exit status for its own failure (no connection, or it broke)


class DeviceLost(EdgepruneError):
    """The device, not the job, failed: another device of a pool may run the job."""


@dataclass(frozen=True)
class _Link:
    """How to reach the device, and how long any one step may take."""

    device: str  # as the user wrote it: used in messages and in the record
    destination: str
    port: int | None
    options: tuple[str, ...]
    timeout: float

    def argv(self, command: str) -> list[str]:
        ssh = shutil.which("ssh")
        if ssh is None:
            raise EdgepruneError("the OpenSSH client (ssh) is not installed on this machine")
        port = ["-p", str(self.port)] if self.port else []
        return [ssh, *_ENFORCED, *self.options, *_DEFAULTS, *port, "--", self.destination, command]

    def error(self, step: str, detail: str, lost: bool = False) -> EdgepruneError:
        detail = " ".join(detail.split()) or "no message"
        kind = DeviceLost if lost else EdgepruneError
        return kind(f"remote evaluation on {self.device} failed at step '{step}': {detail}")


def _meaningful(lines: Sequence[str]) -> str:
    """The last line that says something: no progress line, banner rule or blank line."""
    for line in reversed(lines):
        text = line.strip()
        if text and text.strip("@*=-#") and not text.startswith("[runner]"):
            return text
    return ""


class _SshCall:
    """One running ``ssh`` command; its stderr tail is kept for the error message, and it is
    killed if it outlives the step's time limit."""

    def __init__(self, link: _Link, command: str, stdin: int, stdout: int) -> None:
        self.link = link
        self.tail: deque = deque(maxlen=40)
        self.timed_out = False
        self.proc = subprocess.Popen(
            link.argv(command), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE
        )
        self._timer = threading.Timer(link.timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        self._reader: threading.Thread | None = None

    def _expire(self) -> None:
        self.timed_out = True
        self.proc.kill()

    def stderr_lines(self) -> Iterator[str]:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self.tail.append(line)
            yield line

    def drain_stderr(self) -> None:
        """Read stderr on a thread, so a chatty ssh never blocks the stream in stdin/stdout."""
        self._reader = threading.Thread(target=self._consume_stderr, daemon=True)
        self._reader.start()

    def _consume_stderr(self) -> None:
        for _ in self.stderr_lines():
            pass

    def wait(self) -> int:
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # end of the tar stream, or of the run's watch pipe
        code = self.proc.wait()
        if self._reader:
            self._reader.join()
        self._timer.cancel()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()

    def failure(self, step: str, code: int, detail: str = "") -> EdgepruneError:
        """The step's error; a DeviceLost where the device itself failed: ssh's own exit
        status 255 (the connection could not be made or broke) or the time limit."""
        if self.timed_out:
            return self.link.error(step, f"timed out after {self.link.timeout:g} s", lost=True)
        lost = code == SSH_FAILED
        return self.link.error(step, f"{detail or _meaningful(self.tail)} (exit {code})", lost)


# --------------------------------------------------------------------------- the steps

# Runs on the device with the device's Python; kept parseable by Python 2, so that a
# `python` that is Python 2 (JetPack 4's default) gets this message, not a SyntaxError.
_CHECK = r"""
import json, os, sys
if sys.version_info < (3, 8):
    sys.exit("edgeprune needs Python >= 3.8 on the device; %s is Python %s"
             % (sys.executable, sys.version.split()[0]))
import importlib, shutil
workdir, name, runtime, needed = sys.argv[1:5]
versions = {}
for module in ("numpy", runtime):
    try:
        versions[module] = getattr(importlib.import_module(module), "__version__", "?")
    except ImportError as exc:
        sys.exit("%s on the device cannot import %s (%s): pip install %s"
                 % (sys.executable, module, exc, module))
root = os.path.abspath(os.path.expanduser(workdir))
os.makedirs(root, exist_ok=True)
free = shutil.disk_usage(root).free
if free < int(needed):
    sys.exit("%s has %d MB free, the job needs %d MB" % (root, free >> 20, int(needed) >> 20))
folder = os.path.join(root, name) if name else ""  # no name: a pre-flight check only
if folder:
    os.mkdir(folder)
print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable,
                  "folder": folder, "versions": versions}))
"""

# The ssh channel is this script's stdin. When the connection drops, or the host kills its
# ssh client (time limit, Ctrl-C), the watcher reads end-of-file and stops the runner, so no
# orphaned runner keeps the device busy and skews the next latency measurement. The runner
# gets a process group of its own (setsid), so that its helpers (tegrastats) stop with it.
_RUN = f"""
cd "$1" || exit 2
shift
exec 3<&0
group=
command -v setsid >/dev/null 2>&1 && group=setsid
PYTHONPATH="$PWD/{RUNNER_FILE}${{PYTHONPATH:+:$PYTHONPATH}}" $group "$@" </dev/null 3<&- &
runner=$!
stop() {{ kill -TERM -"$runner" 2>/dev/null || kill -TERM "$runner" 2>/dev/null; }}
{{ cat <&3 >/dev/null 2>&1; stop; }} >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$runner"
status=$?
kill "$watcher" 2>/dev/null
kill -TERM -"$runner" 2>/dev/null  # whatever the runner left behind in its group
exit "$status"
"""


def _check(
    link: _Link, python: str, workdir: str, runtime: str, needed: int, make_folder: bool = True
) -> dict:
    """Connect, check the device's Python, numpy, runtime and free space; make the run folder."""
    name = f"run-{uuid.uuid4().hex[:16]}" if make_folder else ""
    module = RUNTIMES.get(runtime).import_name  # what the device must import to run it
    command = shlex.join([python, "-c", _CHECK, workdir, name, module, str(needed)])
    call = _SshCall(link, command, subprocess.DEVNULL, subprocess.PIPE)
    call.drain_stderr()
    assert call.proc.stdout is not None
    stdout = call.proc.stdout.read().decode("utf-8", errors="replace")
    code = call.wait()
    if code == SSH_FAILED and not call.timed_out:  # ssh's own failure: never reached a shell
        raise call.failure("connect", code)
    if code == 127:
        raise call.failure("check", code, f"no Python {python!r} on the device")
    if code != 0:
        raise call.failure("check", code)
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        # The last line: a login script may print to stdout before it.
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise call.failure("check", code, f"unexpected answer {stdout[-200:]!r}") from None


def _add(archive: tarfile.TarFile, arcname: str, source: Path | bytes) -> None:
    if isinstance(source, bytes):
        info = tarfile.TarInfo(arcname)
        info.size, info.mtime = len(source), int(time.time())
        archive.addfile(info, io.BytesIO(source))
        return
    with source.open("rb") as handle:
        info = archive.gettarinfo(arcname=arcname, fileobj=handle)  # fstat: links followed
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        archive.addfile(info, handle)


def _copy(link: _Link, folder: str, plan: Sequence[tuple[str, Path | bytes]]) -> None:
    # -m: file times become "now" on the device, whose clock may be far off (no RTC battery).
    command = shlex.join(["tar", "-x", "-m", "-f", "-", "-C", folder])
    call = _SshCall(link, command, subprocess.PIPE, subprocess.DEVNULL)
    call.drain_stderr()
    try:
        with tarfile.open(fileobj=call.proc.stdin, mode="w|") as archive:
            for arcname, source in plan:
                _add(archive, arcname, source)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the remote side went away: ssh's stderr says why
    except OSError as exc:  # a local file could not be read
        call.kill()
        raise link.error("copy", first_line(exc)) from None
    except BaseException:
        call.kill()
        raise
    code = call.wait()
    if code != 0:
        raise call.failure("copy", code)


def _run(
    link: _Link,
    job: DeviceJob,
    python: str,
    folder: str,
    artifact: str,
    progress: Callable[[str], None] | None,
) -> None:
    runner = job.command(python, f"{folder}/{artifact}", f"{folder}/bundle", f"{folder}/out")
    command = shlex.join(["sh", "-c", _RUN, "edgeprune-run", folder, *runner])
    # stdin stays open and silent for the whole run: the device's watcher waits on it.
    call = _SshCall(link, command, subprocess.PIPE, subprocess.DEVNULL)
    try:
        for line in call.stderr_lines():
            if progress and line.startswith("[runner]"):
                progress(line[len("[runner] ") :])
    except BaseException:
        call.kill()
        raise
    code = call.wait()
    if code != 0:
        raise call.failure("run", code)


def _receive(call: _SshCall, temps: dict[str, Path]) -> str:
    """Copy the expected members of the tar stream into their temporary files; returns
    what went wrong, or an empty string."""
    stream = call.proc.stdout
    received = set()
    problem = ""
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if member.name in temps and member.isfile():
                    with temps[member.name].open("wb") as target:
                        shutil.copyfileobj(archive.extractfile(member), target)
                    received.add(member.name)
    except (tarfile.TarError, OSError) as exc:
        problem = f"incomplete download ({first_line(exc)})"
    # Read what is left (tar's end-of-archive padding, or the rest of a stream that broke
    # off), so that ssh never blocks on a full pipe while we wait for it to exit.
    with contextlib.suppress(OSError):
        while stream.read(1 << 16):
            pass
    missing = sorted(set(temps) - received)
    if not problem and missing:
        problem = f"results missing: {', '.join(missing)}"
    return problem


def _fetch(link: _Link, folder: str, out_dir: Path, extra: dict) -> dict:
    """Stream the two result files into temporary files in ``out_dir``, then rename them."""
    command = shlex.join(["tar", "-c", "-f", "-", "-C", f"{folder}/out", OUTPUTS_FILE, RUN_FILE])
    call = _SshCall(link, command, subprocess.DEVNULL, subprocess.PIPE)
    call.drain_stderr()
    created = not out_dir.exists()
    try:
        # Nested so that outputs.npz is renamed first and run.json last: a run counts as
        # finished when both exist, and a crash between the renames must not look finished.
        with atomic_path(out_dir / RUN_FILE) as run_tmp:
            with atomic_path(out_dir / OUTPUTS_FILE) as npz_tmp:
                problem = _receive(call, {RUN_FILE: run_tmp, OUTPUTS_FILE: npz_tmp})
                code = call.wait()
                if code != 0 or problem:
                    raise call.failure("fetch", code, "" if code else problem)
                try:
                    record = json.loads(run_tmp.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise link.error("fetch", f"run.json is not JSON ({exc})") from None
                record.update(extra)
                run_tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
                (out_dir / RUN_FILE).unlink(missing_ok=True)  # never half old, half new
        return record
    except BaseException:
        if call.proc.poll() is None:
            call.kill()
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if still empty
        raise


def _cleanup(link: _Link, folder: str) -> None:
    """Remove the run folder; a failure is a warning, never an error that hides another."""
    name = Path(folder).name
    if not (folder.startswith("/") and name.startswith("run-") and "/" not in name):
        warnings.warn(f"not removing unexpected remote folder {folder!r}", stacklevel=3)
        return
    try:
        command = shlex.join(["rm", "-rf", "--", folder])
        call = _SshCall(link, command, subprocess.DEVNULL, subprocess.DEVNULL)
        call.drain_stderr()
        code = call.wait()
        problem = "" if code == 0 else f"{_meaningful(call.tail)} (exit {code})"
    except Exception as exc:  # cleanup runs while another error may be on its way out
        problem = first_line(exc)
    if problem:
        warnings.warn(f"could not remove {link.device}:{folder}: {problem}", stacklevel=3)


# --------------------------------------------------------------------------- public API


def upload_plan(artifact: Path, bundle: Path) -> list[tuple[str, Path | bytes]]:
    """What goes into the remote run folder: (path in the folder, local file or content).

    Split files inside the bundle folder keep their relative path; files outside it (given
    by absolute path or by a relative one that leaves the folder) go to ``bundle/external/``.
    ``bundle.json`` is rewritten so that every split points into the copied folder. The
    artifact goes to ``artifact/``, with its ``<name>.json`` build record if it has one.
    """
    if not artifact.is_file():
        raise EdgepruneError(f"artifact not found: {artifact}")
    opened = EvalBundle(bundle)
    root = opened.path.resolve()
    meta = json.loads(json.dumps(opened.meta))  # a deep copy to rewrite
    placed: dict[Path, str] = {}
    externals = 0
    for split in meta["splits"].values():
        for key in ("images", "labels"):
            given = Path(split[key])
            local = (given if given.is_absolute() else root / given).resolve()
            if not local.is_file():
                raise EdgepruneError(f"eval bundle {bundle}: file not found: {local}")
            if local not in placed:
                if root in local.parents:
                    placed[local] = local.relative_to(root).as_posix()
                else:  # numbered: two external files may share a name
                    placed[local] = f"external/{externals}-{local.name}"
                    externals += 1
            split[key] = placed[local]
    meta_bytes = (json.dumps(meta, indent=2) + "\n").encode("utf-8")
    plan: list[tuple[str, Path | bytes]] = [
        (RUNNER_FILE, pack_runner()),
        (f"artifact/{artifact.name}", artifact),
        (f"bundle/{META_FILE}", meta_bytes),
    ]
    # A TensorRT engine's build record (<engine>.json, from edgeprune.export.tensorrt_build)
    # lets the runner refuse an engine built for another GPU or TensorRT in one line.
    sidecar = Path(f"{artifact}.json")
    if sidecar.is_file():
        plan.append((f"artifact/{sidecar.name}", sidecar))
    return plan + [(f"bundle/{name}", local) for local, name in placed.items()]


def _size(source: Path | bytes) -> int:
    return len(source) if isinstance(source, bytes) else source.stat().st_size


PREFLIGHT_TIMEOUT_S = 60.0


def probe_remote(
    host: str,
    runtime: str,
    *,
    python: str = "python3",
    workdir: str = DEFAULT_WORKDIR,
    ssh_options: Sequence[str] | str = (),
    timeout: float = PREFLIGHT_TIMEOUT_S,
) -> dict[str, object]:
    """Check before any work that ``host`` answers over SSH and has Python >= 3.8, numpy and
    ``runtime``, and that ``workdir`` can be created; copies nothing and leaves no run
    folder. Raises the same one-line errors as :func:`run_remote`'s first step."""
    destination, port = parse_device(host)
    options = split_ssh_options(ssh_options)
    link = _Link(host, destination, port, tuple(options), float(timeout))
    return _check(link, python, workdir, runtime, 0, make_folder=False)


def run_remote(
    job: DeviceJob,
    artifact: Path,
    bundle: Path,
    out_dir: Path,
    host: str,
    *,
    python: str = "python3",
    workdir: str = DEFAULT_WORKDIR,
    ssh_options: Sequence[str] | str = (),
    progress: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, object]:
    """Run the job on ``host`` (``user@host[:port]`` or an ssh config alias) over SSH.

    Streams the runner's messages to ``progress`` and returns its ``run.json`` record, like
    :func:`edgeprune.targets.execute.run_local`, with ``"where": "remote"`` and a
    ``"remote"`` entry (host, the device's Python version and executable, the run folder).
    ``python`` is the interpreter on the device, ``workdir`` the folder that receives one
    ``run-<id>`` folder per call, ``ssh_options`` extra ssh arguments (``-i key``,
    ``-o UserKnownHostsFile=...``; a string is split like a shell would), ``timeout`` the
    seconds any one step may take; past it the step's ssh is killed, which also stops the
    runner on the device.
    """
    artifact, bundle, out_dir = Path(artifact), Path(bundle), Path(out_dir)
    destination, port = parse_device(host)
    options = split_ssh_options(ssh_options)
    link = _Link(host, destination, port, tuple(options), float(timeout))
    plan = upload_plan(artifact, bundle)  # every local problem surfaces before connecting
    size = sum(_size(source) for _, source in plan)
    say = progress or (lambda message: None)
    device = _check(link, python, workdir, job.runtime, size)
    folder = str(device["folder"])
    say(f"{host}: Python {device['python']}, copying {len(plan)} files ({size / 1e6:.1f} MB)")
    try:
        started = time.perf_counter()
        _copy(link, folder, plan)
        copy_seconds = time.perf_counter() - started
        _run(link, job, python, folder, f"artifact/{artifact.name}", progress)
        extra = {
            "where": "remote",
            "artifact": str(artifact),  # the local paths, as run_local records them
            "bundle": str(bundle),
            "remote": {
                "host": host,
                "python": device["python"],
                "executable": device["executable"],
                "folder": folder,
                "copied_bytes": size,
                "copy_seconds": copy_seconds,
            },
        }
        return _fetch(link, folder, out_dir, extra)
    finally:
        _cleanup(link, folder)
