"""Sweeps beyond one method and one machine: several methods in one run, candidates made as
Ray tasks on a local cluster (the same figures as the local executor, with 1, 2 and 4
workers), a worker killed mid-candidate, Ctrl-C, and the live view."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeprune.cli import main
from edgeprune.files import read_json
from edgeprune.runs import read_run

# A small sweep of two methods from the fast run's baseline: each candidate one epoch
SWEEP = [
    "--target", "host-cpu", "--methods", "l1-filter,unstructured-global", "--ratios", "0.5",
    "--finetune-epochs", "1", "--corruptions", "generate:20", "--explain-images", "20",
    "--latency-iterations", "10", "--latency-warmup", "1", "--latency-batch", "8",
    "--worker-cpus", "1", "--quiet",
]  # fmt: skip
NAMES = ["l1-filter-0.50", "unstructured-global-0.50"]


def _figures(run: Path) -> dict[str, dict]:
    """Every candidate's figures, timings and where it was made aside."""
    results = read_json(run / "results.json")
    out = {}
    for entry in results["candidates"]:
        out[entry["name"]] = {
            "quality": entry["quality"],
            "explanation": {
                k: v for k, v in (entry["explanation"] or {}).items() if k != "seconds"
            },
            "fidelity": entry["fidelity"],
            "size": entry["size"],
            "vs_baseline": {k: v for k, v in entry["vs_baseline"].items() if "speedup" not in k},
            "pruning": entry["pruning"],
            "loss": entry["finetune"]["loss"],
        }
    return out


@pytest.fixture(scope="module")
def sweep(fast_run) -> list[str]:
    """The sweep's flags, from the fast run's baseline."""
    return [*SWEEP, "--weights", str(fast_run / "baseline" / "model.pt")]


@pytest.fixture(scope="module")
def local_sweep(sweep, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweeps") / "local"
    assert main(["compress", "--out", str(out), *sweep]) == 0
    return out


def _without_candidates(run: Path, dest: Path) -> Path:
    """A copy of ``run`` with its baseline and bundle only: the candidates are made again."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns(*NAMES, "*-prepared", "results.*"))
    return dest


def test_several_methods_make_one_run_with_one_baseline_and_report(local_sweep):
    run = read_run(local_sweep)
    assert [c.name for c in run.results.candidates] == NAMES
    assert {c.method for c in run.results.candidates} == {"l1-filter", "unstructured-global"}
    assert {v.name for v in run.decision.verdicts} == set(NAMES)  # selected among all
    csv = (local_sweep / "results.csv").read_text().splitlines()
    assert len(csv) == 1 + 1 + len(NAMES)
    report = (local_sweep / "report.md").read_text()
    assert "methods `l1-filter`, `unstructured-global`" in report
    assert all(f"| {name}" in report for name in NAMES)


def test_the_default_run_directory_names_every_method(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compress", "--dry-run", "--methods", "l1-filter,hrank"]) == 0
    plan = capsys.readouterr().out
    assert "runs/small-resnet-digits-l1-filter+hrank (new)" in plan
    assert "candidates (6): l1-filter-0.25, l1-filter-0.50, l1-filter-0.75, hrank-0.25" in plan
    assert main(["compress", "--dry-run", "--methods", "l1-filter,l1-filtr"]) == 2
    assert "unknown pruning method 'l1-filtr'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_module():
    return pytest.importorskip("ray", reason="Ray is a test dependency (pip install -e '.[ray]')")


@pytest.fixture(scope="module")
def ray_cluster(ray_module):
    """A local Ray with 4 logical CPUs on this machine's cores, shared by the runs below."""
    ray = ray_module
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.parametrize(
    "workers", [pytest.param(1, marks=pytest.mark.slow), 2, pytest.param(4, marks=pytest.mark.slow)]
)
def test_ray_gives_the_local_executor_s_figures(local_sweep, sweep, ray_cluster, tmp_path, workers):
    out = _without_candidates(local_sweep, tmp_path / "ray")
    flags = ["--executor", "ray", "--workers", str(workers)]
    assert main(["compress", "--out", str(out), *sweep, *flags]) == 0
    assert _figures(out) == _figures(local_sweep)
    made_by = {c.finetune["made_by"] for c in read_run(out).results.candidates}
    assert all(where.startswith("ray worker") for where in made_by)


def test_without_ray_the_executor_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    code = main(["compress", "--dry-run", "--out", str(tmp_path / "r"), "--executor", "ray"])
    assert code == 2
    assert "--executor ray needs Ray, which is not installed" in capsys.readouterr().err


def _as_in_a_terminal() -> None:
    """SIGINT delivered and handled by default in the child, as a terminal's Ctrl-C is: a
    test process that runs Ray's driver may have it blocked, and children inherit that."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _edgeprune(*args: str) -> subprocess.Popen:
    script = Path(sys.executable).with_name("edgeprune")
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_in_a_terminal,
    )


def _processes(pattern: str) -> dict[int, str]:
    found = {}
    for line in subprocess.run(
        ["ps", "-eo", "pid=,args="], capture_output=True, text=True
    ).stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pattern in args:
            found[int(pid)] = args
    return found


def _wait_for(pattern: str, before: set[int], timeout: float = 120.0) -> int:
    """A process matching ``pattern`` that was not running ``before`` the run started (a
    worker of an earlier test's cluster may still be stopping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = set(_processes(pattern)) - before
        if found:
            return min(found)
        time.sleep(0.2)
    raise AssertionError(f"no process matching {pattern!r} within {timeout:.0f} s")


@pytest.mark.slow  # about 35 s: a Ray cluster started in a child process
def test_a_killed_worker_loses_only_its_candidate(local_sweep, sweep, ray_module, tmp_path):
    """SIGKILL to the worker making a candidate: Ray makes that candidate again elsewhere,
    the run finishes, and every figure is the local executor's."""
    out = _without_candidates(local_sweep, tmp_path / "killed")
    loud = [f for f in sweep if f != "--quiet"]
    earlier = set(_processes("ray::"))
    run = _edgeprune("compress", "--out", str(out), *loud, "--executor", "ray", "--workers", "2")
    victim = _wait_for("ray::edgeprune l1-filter-0.50", earlier)
    time.sleep(1.0)
    os.kill(victim, signal.SIGKILL)
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-2000:]
    assert len(re.findall(r"candidate \d of 2", err)) == 2  # the killed one started once
    assert _figures(out) == _figures(local_sweep)


@pytest.mark.slow  # about 45 s: a cluster started and stopped, then the rerun
def test_ctrl_c_stops_the_cluster_it_started_and_a_rerun_finishes(
    local_sweep, sweep, ray_module, tmp_path
):
    out = _without_candidates(local_sweep, tmp_path / "interrupted")
    before = set(_processes("raylet")) | set(_processes("gcs_server"))
    loud = [f for f in sweep if f != "--quiet"]
    flags = ["compress", "--out", str(out), *loud, "--executor", "ray", "--workers", "1"]
    earlier = set(_processes("ray::"))
    run = _edgeprune(*flags)
    _wait_for("ray::edgeprune", earlier)
    time.sleep(1.0)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-2000:]
    assert "finished results are kept" in err
    time.sleep(2.0)
    left = (set(_processes("raylet")) | set(_processes("gcs_server"))) - before
    assert not left, f"Ray processes left running: {left}"
    rerun = _edgeprune(*flags[:-4])  # on the local executor: what it runs on is not a result
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-2000:]
    assert _figures(out) == _figures(local_sweep)
