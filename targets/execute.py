"""Run a device job on this machine in a child process: the same torch-free entry point a
Jetson runs, so host and device results come from one code path, and the child's peak
memory is the runner's alone (no torch, no training state)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.targets.run import RUN_FILE, DeviceJob


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
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
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
