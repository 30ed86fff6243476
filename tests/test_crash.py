"""``kill -9`` at every phase of a run: no process of the killed run survives, and the resumed
run ends with the results an uninterrupted run gives (timings and memory aside).

The killed run is a real ``edgeprune compress`` process, killed with SIGKILL as soon as its
progress line says the phase has begun; the uninterrupted reference is the same
command, run once in a process of its own. The runner phase, where the issue found an orphaned runner,
is in the default suite; the other phases are ``slow`` (each is a run and a resume).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeprune.files import read_json

# phase -> the progress words that say it has begun
PHASES = {
    "corruption generation": "corruptions: fog:",
    "training": "baseline: epoch 2/4",
    "export": "l1-filter-0.25: exporting to ONNX",
    "runner evaluation": "l1-filter-0.25: frost: 5 severities",
    "explanations": "l1-filter-0.25: explanation consistency",
    "report writing": "writing the report",
}
# Measurements of time and memory (and what is derived from them: the host's measured peaks
# and the estimates made with them, speedups, the Pareto front, which has the latency as an
# axis), and when and where the run happened, differ between any two runs; everything else
# must be equal.
VARYING = {"latency", "memory", "environment", "provenance", "run_dir", "config",
           "measured_peaks", "evaluation", "estimate", "pareto_front"}  # fmt: skip
VARYING_WORDS = ("seconds", "speedup", "latency_ms")


def _varies(key: str) -> bool:
    return key in VARYING or any(word in key for word in VARYING_WORDS)


def _edgeprune() -> str:
    return str(Path(sys.executable).with_name("edgeprune"))


def _processes_of(run: Path) -> list[str]:
    """Command lines of live processes that name the run directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(run) in cmdline and int(proc.name) != os.getpid():
            found.append(cmdline)
    return found


def _kill_at(flags: list[str], words: str, timeout: float = 600) -> None:
    """Start compress, SIGKILL it when a progress line holds ``words``."""
    proc = subprocess.Popen([_edgeprune(), *flags], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    for line in proc.stderr:
        if words in line:
            proc.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, f"no progress line with {words!r}"
    else:
        pytest.fail(f"the run ended without a progress line holding {words!r}")
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _comparable(value):
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if not _varies(k)}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _flags(out: Path, fast_flags: list[str]) -> list[str]:
    flags = ["compress", "--target", "host-cpu", "--out", str(out)]
    return flags + [f for f in fast_flags if f != "--quiet"]  # the progress lines are the clock


@pytest.fixture(scope="module")
def uninterrupted(fast_flags, tmp_path_factory) -> Path:
    """The same run, not killed, in a process of its own as the killed one: in-process runs
    (the session's fast_run) may train with another thread count, which moves the figures."""
    out = tmp_path_factory.mktemp("crash") / "uninterrupted"
    done = subprocess.run([_edgeprune(), *_flags(out, fast_flags)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _kill_resume_compare(phase: str, reference: Path, fast_flags: list[str], tmp_path: Path):
    out = tmp_path / "run"
    flags = _flags(out, fast_flags)
    _kill_at(flags, PHASES[phase])
    deadline = time.monotonic() + 5  # SIGKILL from the kernel: the runner goes at once
    while _processes_of(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_of(out) == [], f"{phase}: a process of the killed run survived"
    done = subprocess.run([_edgeprune(), *flags, "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    resumed, uninterrupted = read_json(out / "results.json"), read_json(reference / "results.json")
    assert _comparable(resumed) == _comparable(uninterrupted), phase
    resumed, uninterrupted = (read_json(run / "selection.json") for run in (out, reference))
    assert _comparable(resumed) == _comparable(uninterrupted), phase
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


def test_kill_9_while_the_runner_evaluates_then_resume(uninterrupted, fast_flags, tmp_path):
    _kill_resume_compare("runner evaluation", uninterrupted, fast_flags, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("phase", [p for p in PHASES if p != "runner evaluation"])
def test_kill_9_at_every_phase_then_resume(phase, uninterrupted, fast_flags, tmp_path):
    _kill_resume_compare(phase, uninterrupted, fast_flags, tmp_path)


_PARENT = """
import os, subprocess, sys
from edgeprune.targets.run import PARENT_ENV
env = {**os.environ, PARENT_ENV: str(os.getpid())}
code = ("from edgeprune.targets.run import die_with_parent; die_with_parent(); "
        "print('armed', flush=True); import time; time.sleep(120)")
child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
child.wait()
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_runner_dies_with_the_process_that_started_it():
    """A quiet runner (here: asleep) would outlive a killed parent, as the issue found one
    reading the bundle; it must die within a second of the parent's SIGKILL."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 1
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    survived = _alive(child)
    if survived:
        os.kill(child, signal.SIGKILL)
    assert not survived


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_runner_whose_parent_is_already_gone_exits():
    """The parent may die between the fork and the arming: the runner then sees another
    parent than the one named in its environment and exits at once."""
    from edgeprune.targets.run import PARENT_ENV

    code = "from edgeprune.targets.run import die_with_parent; die_with_parent(); print('ran')"
    env = {**os.environ, PARENT_ENV: "1"}  # not our PID: as if we had died
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "ran" not in done.stdout
