"""Run a device job on this machine in a child process: the same torch-free entry point a
Jetson runs, so host and device results come from one code path, and the child's peak
memory is the runner's alone (no torch, no training state). ``execute_job`` picks between
this and a run on a device over SSH (``edgeprune.targets.remote``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

from edgeprune.allocator import environment as allocator_environment
from edgeprune.errors import EdgepruneError
from edgeprune.targets.profile import DeviceAccess, TargetProfile
from edgeprune.targets.remote import probe_remote, run_remote
from edgeprune.targets.run import PARENT_ENV, RUN_FILE, DeviceJob

LOCAL = "local"  # a ``device`` that forces a run on this machine, whatever the profile says


def run_local(
    job: DeviceJob,
    artifact: Path,
    bundle: Path,
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
    python: str = sys.executable,
) -> dict[str, object]:
    """Run the job; stream the runner's messages to ``progress``; return its ``run.json``."""
    command = job.command(python, str(artifact), str(bundle), str(out_dir))
    tail: deque = deque(maxlen=20)
    env = {**os.environ, PARENT_ENV: str(os.getpid())}  # the runner dies with us
    env.update(allocator_environment())  # it reuses its batches' memory like this process
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip()
            tail.append(line)
            if progress and line.startswith("[runner]"):
                progress(line[len("[runner] ") :])
        code = proc.wait()
    if code != 0:
        errors = [line for line in tail if "error" in line.lower()] or list(tail) or ["no output"]
        raise EdgepruneError(
            f"runner failed on {artifact.name} (exit {code}): {errors[-1].strip()}"
        )
    return json.loads((out_dir / RUN_FILE).read_text())


def remote_target(
    device: str | None, profile: TargetProfile | None
) -> tuple[str | None, DeviceAccess]:
    """The SSH destination jobs go to (None: this machine), and the profile's access entries."""
    access = profile.device if profile is not None else DeviceAccess()
    target = access.ssh if device is None else device.strip()
    return (None if not target or target == LOCAL else target), access


def pool_devices(device: str | None, profile: TargetProfile | None) -> list[str]:
    """The devices a run's evaluations go to: ``--device``'s destinations (several make a
    pool; comma-separated, or the flag given several times), else the profile's ``[device]
    ssh`` entry (one or several, comma-separated), else this machine (``local``)."""
    access = profile.device if profile is not None else DeviceAccess()
    names = [d.strip() for d in (device or access.ssh or "").split(",") if d.strip()]
    names = names or [LOCAL]
    if LOCAL in names and len(names) > 1:
        raise EdgepruneError(
            f"--device {','.join(names)}: this machine cannot be one device of a pool (its "
            "latency would be timed while it drives the others); give remote devices only"
        )
    return names


def execute_job(
    job: DeviceJob,
    artifact: Path,
    bundle: Path,
    out_dir: Path,
    device: str | None,
    profile: TargetProfile | None = None,
    progress: Callable[[str], None] | None = None,
    ssh_options: str = "",
) -> dict[str, object]:
    """Run the job here or on a device over SSH; returns the ``run.json`` record.

    ``device`` is ``user@host`` or ``user@host:port`` (or an ssh config alias). ``None``
    falls back to the profile's ``[device] ssh`` entry; an empty string or ``"local"``, or
    no ssh entry, runs on this machine. The profile's ``[device] python`` and ``workdir``
    say which interpreter and folder the device uses; ``ssh_options`` (else the profile's)
    are extra OpenSSH client options.
    """
    target, access = remote_target(device, profile)
    if target is None:
        return run_local(job, artifact, bundle, out_dir, progress)
    return run_remote(
        job,
        artifact,
        bundle,
        out_dir,
        target,
        python=access.python,
        workdir=access.workdir,
        ssh_options=ssh_options or access.ssh_options,
        progress=progress,
    )


def check_device(
    runtime: str,
    device: str | None,
    profile: TargetProfile | None = None,
    ssh_options: str = "",
) -> dict[str, object] | None:
    """Before a long run: when jobs will go to a device over SSH (resolved as in
    :func:`execute_job`), check that it answers and has what the runner needs. Returns what
    the device reported, or None when jobs run on this machine."""
    target, access = remote_target(device, profile)
    if target is None:
        return None
    return probe_remote(
        target,
        runtime,
        python=access.python,
        workdir=access.workdir,
        ssh_options=ssh_options or access.ssh_options,
    )
