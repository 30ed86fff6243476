"""Remote evaluation over SSH, tested for real over loopback.

Each module run starts its own OpenSSH server on 127.0.0.1 (a free high port, a throwaway
host key and client key in pytest's tmp folder, host-key checking on through a
known_hosts file of its own). The "device" Python is a bare virtual environment that sees
numpy and onnxruntime but neither edgeprune nor torch, so a passing run proves that the
packed runner is all the device needs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets import execute
from edgeprune.targets.bundle import Split, write_bundle
from edgeprune.targets.execute import execute_job, run_local
from edgeprune.targets.profile import DeviceAccess, TargetProfile
from edgeprune.targets.remote import (
    RUNNER_FILE,
    pack_runner,
    parse_device,
    run_remote,
    upload_plan,
)
from edgeprune.targets.run import DeviceJob

LOOPBACK = "127.0.0.1"  # the only address these tests ever contact
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
JOB = DeviceJob(
    batch_size=16,
    latency_batches=(1,),
    warmup=1,
    iterations=5,
    max_seconds=0.5,
    threads=1,  # one intra-op thread: the same logits bit for bit in every process
    feature_splits=("clean",),
    feature_limit=8,
)


@pytest.fixture(scope="module")
def model_and_bundle(tiny_artifact, tmp_path_factory):
    """The tiny exported model and a bundle with a clean split, an external split given by
    absolute path and one given by a relative path that leaves the bundle folder."""
    _, exported, tiny = tiny_artifact
    root = tmp_path_factory.mktemp("remote-bundle")
    images, labels = np.asarray(tiny.images("clean")), tiny.labels("clean")
    (root / "shared").mkdir()
    np.save(root / "shared" / "noise.npy", 255 - images)
    np.save(root / "shared" / "labels.npy", labels)
    np.save(root / "shared" / "blur.npy", images[:, ::-1].copy())
    bundle = write_bundle(
        root / "bundle",
        {"clean": (images, labels)},
        (0.5, 0.5, 0.5),
        (0.25, 0.25, 0.25),
        4,
        external_splits=[
            Split(
                "noise/1",
                str(root / "shared" / "noise.npy"),
                str(root / "shared" / "labels.npy"),
                0,
                40,
            ),
            Split("blur/1", "../shared/blur.npy", "../shared/labels.npy", 10, 30),
        ],
    )
    return exported.path, bundle.path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run_folders(workdir: Path) -> list[str]:
    return sorted(p.name for p in workdir.iterdir()) if workdir.exists() else []


def test_parse_device():
    assert parse_device("jetson") == ("jetson", None)
    assert parse_device("nvidia@10.0.0.2:2222") == ("nvidia@10.0.0.2", 2222)
    assert parse_device("me@[fe80::1]:22") == ("me@fe80::1", 22)
    assert parse_device("me@::1") == ("me@::1", None)
    bad_ones = ("", "-oProxyCommand=x", "me@host:", "me@host:ssh", "a b", "@127.0.0.1:1")
    shell = ("root@[::1", "me@h;id", "me@$(id)", "me@`id`", "a|b@host", "me@host:0", "me@h:70000")
    for bad in bad_ones + shell:
        with pytest.raises(EdgepruneError, match="not an ssh destination"):
            parse_device(bad)


def test_upload_plan_points_every_split_into_the_copied_folder(model_and_bundle, tmp_path):
    artifact, bundle = model_and_bundle
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine")
    Path(f"{engine}.json").write_text("{}")
    plan = dict(upload_plan(engine, bundle))
    assert set(plan) == {
        RUNNER_FILE,
        "artifact/model.engine",
        "artifact/model.engine.json",
        "bundle/bundle.json",
        "bundle/clean.images.npy",
        "bundle/clean.labels.npy",
        "bundle/external/0-noise.npy",
        "bundle/external/1-labels.npy",
        "bundle/external/2-blur.npy",
    }
    splits = json.loads(plan["bundle/bundle.json"])["splits"]
    assert splits["noise/1"]["images"] == "external/0-noise.npy"
    assert splits["blur/1"] == {
        "images": "external/2-blur.npy",
        "labels": "external/1-labels.npy",  # shared with noise/1: copied once
        "start": 10,
        "stop": 30,
    }
    assert plan["bundle/external/2-blur.npy"] == (bundle.parent / "shared" / "blur.npy").resolve()


def test_packed_runner_holds_the_device_side_only(device_python, tmp_path):
    runner = tmp_path / RUNNER_FILE
    runner.write_bytes(pack_runner())
    names = set(zipfile.ZipFile(runner).namelist())
    assert {
        "__main__.py",
        "edgeprune/__init__.py",
        "edgeprune/errors.py",
        "edgeprune/files.py",
        "edgeprune/targets/run.py",
        "edgeprune/targets/bundle.py",
        "edgeprune/targets/runners/onnxruntime_runner.py",
    } <= names
    assert all(n == "__main__.py" or n.startswith("edgeprune/") for n in names)
    for host_only in ("profile", "estimate", "graph_cost", "host_peaks", "execute", "remote"):
        assert f"edgeprune/targets/{host_only}.py" not in names
    assert not any("profiles/" in name for name in names)
    # The bare device Python cannot import edgeprune on its own, and can with the zip.
    help_command = [device_python, "-m", "edgeprune.targets.run", "--help"]
    bare = subprocess.run(help_command, capture_output=True, text=True, cwd=tmp_path)
    assert bare.returncode != 0 and "No module named 'edgeprune'" in bare.stderr
    env = {**os.environ, "PYTHONPATH": str(runner)}
    packed = subprocess.run(help_command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert packed.returncode == 0, packed.stderr
    direct = subprocess.run([device_python, str(runner), "--help"], capture_output=True, text=True)
    assert direct.returncode == 0 and "--artifact" in direct.stdout


def test_remote_run_matches_local_and_cleans_up(
    ssh_server, device_python, model_and_bundle, tmp_path
):
    artifact, bundle = model_and_bundle
    local = run_local(JOB, artifact, bundle, tmp_path / "local")
    messages: list[str] = []
    workdir = tmp_path / "device-work"
    record = run_remote(
        JOB,
        artifact,
        bundle,
        tmp_path / "remote",
        ssh_server.device,
        python=device_python,
        workdir=str(workdir),
        ssh_options=ssh_server.options(),
        progress=messages.append,
        timeout=120,
    )
    with (
        np.load(tmp_path / "local" / "outputs.npz") as here,
        np.load(tmp_path / "remote" / "outputs.npz") as there,
    ):
        assert sorted(here.files) == sorted(there.files)
        assert {"logits/clean", "logits/noise/1", "logits/blur/1", "features/clean"} <= set(
            there.files
        )
        for key in here.files:
            assert np.array_equal(here[key], there[key]), key
    assert record["where"] == "remote"
    assert set(local) <= set(record)
    assert record["artifact"] == str(artifact) and record["bundle"] == str(bundle)
    assert record["splits"] == local["splits"]
    remote = record["remote"]
    assert remote["host"] == ssh_server.device
    assert remote["python"] == record["environment"]["python"] == sys.version.split()[0]
    assert remote["executable"] != sys.executable  # the device's interpreter ran it
    assert record["latency"]["1"]["p50_ms"] > 0
    assert (tmp_path / "remote" / "run.json").read_text().count('"where": "remote"') == 1
    assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == ["outputs.npz", "run.json"]
    assert any(m.startswith("clean: 40 images") for m in messages)
    assert any("copying" in m for m in messages)
    assert workdir.is_dir() and _run_folders(workdir) == []  # the run folder is gone


def test_wrong_host_key_is_refused_at_connect(ssh_server, model_and_bundle, tmp_path):
    artifact, bundle = model_and_bundle
    impostor = ssh_server.keygen(tmp_path / "other_key")
    known_hosts = ssh_server.write_known_hosts(tmp_path / "known_hosts", impostor)
    out_dir = tmp_path / "out"
    with pytest.raises(EdgepruneError) as caught:
        run_remote(
            JOB,
            artifact,
            bundle,
            out_dir,
            ssh_server.device,
            workdir=str(tmp_path / "device-work"),
            ssh_options=ssh_server.options(known_hosts),
        )
    message = str(caught.value)
    assert "step 'connect'" in message and "host key verification failed" in message.lower()
    assert "\n" not in message
    assert not out_dir.exists() and not (tmp_path / "device-work").exists()


def test_unreachable_host_fails_at_connect(ssh_server, model_and_bundle, tmp_path):
    artifact, bundle = model_and_bundle
    closed = f"{ssh_server.user}@{LOOPBACK}:{ssh_server.free_port()}"  # nothing listens there
    with pytest.raises(EdgepruneError, match=r"step 'connect'.*(refused|closed)"):
        run_remote(
            JOB, artifact, bundle, tmp_path / "out", closed, ssh_options=ssh_server.options()
        )
    assert not (tmp_path / "out").exists()


@pytest.fixture
def earlier_results(model_and_bundle, tmp_path):
    """An out_dir holding the results of an earlier successful run, and its bytes."""
    artifact, bundle = model_and_bundle
    out_dir = tmp_path / "results"
    run_local(JOB, artifact, bundle, out_dir)
    return out_dir, _snapshot(out_dir)


def test_failing_remote_steps_leave_earlier_results_alone(
    ssh_server, device_python, model_and_bundle, earlier_results, tmp_path
):
    artifact, bundle = model_and_bundle
    out_dir, before = earlier_results
    workdir = tmp_path / "device-work"
    corrupt = tmp_path / "corrupt" / "model.onnx"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"this is not an ONNX model")
    cases = [
        (corrupt, device_python, r"step 'run'.*cannot load"),
        (artifact, str(tmp_path / "no-such-python"), r"step 'check'.*no Python"),
    ]
    for candidate, python, expected in cases:
        with pytest.raises(EdgepruneError, match=expected) as caught:
            run_remote(
                JOB,
                candidate,
                bundle,
                out_dir,
                ssh_server.device,
                python=python,
                workdir=str(workdir),
                ssh_options=ssh_server.options(),
                timeout=120,
            )
        assert "\n" not in str(caught.value)
        assert _snapshot(out_dir) == before
        assert _run_folders(workdir) == []


def test_dropped_connection_stops_the_runner_and_keeps_results(
    ssh_server, device_python, model_and_bundle, earlier_results, tmp_path
):
    artifact, bundle = model_and_bundle
    out_dir, before = earlier_results
    # Timing for up to a minute: the run is still going when the connection drops.
    slow = DeviceJob(latency_batches=(1,), warmup=1, iterations=10**8, max_seconds=60, threads=1)
    left_running: list[int] = []

    def drop_when_running(message: str) -> None:
        if message.startswith("clean:") and not left_running:
            left_running.extend(ssh_server.drop_sessions())

    started = time.monotonic()
    with pytest.raises(EdgepruneError, match=r"step 'run'.*exit 255") as caught:
        run_remote(
            slow,
            artifact,
            bundle,
            out_dir,
            ssh_server.device,
            python=device_python,
            workdir=str(tmp_path / "device-work"),
            ssh_options=ssh_server.options(),
            progress=drop_when_running,
            timeout=120,
        )
    assert time.monotonic() - started < 30
    assert "\n" not in str(caught.value)
    assert _snapshot(out_dir) == before
    assert left_running, "the job had no shell or runner when the connection dropped"
    # The device side notices the closed channel and stops the runner by itself.
    deadline = time.monotonic() + 10
    while any(ssh_server.alive(pid) for pid in left_running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(ssh_server.alive(pid) for pid in left_running)
    assert _run_folders(tmp_path / "device-work") == []  # cleanup reconnected and removed it


def test_step_time_limit_stops_the_run(ssh_server, device_python, model_and_bundle, tmp_path):
    artifact, bundle = model_and_bundle
    slow = DeviceJob(latency_batches=(1,), warmup=1, iterations=10**8, max_seconds=60, threads=1)
    running: list[int] = []

    def note_runner(message: str) -> None:
        if message.startswith("clean:") and not running:
            below = ssh_server.children(ssh_server.proc.pid)
            running.extend(p for p in below if not ssh_server.command_name(p).startswith("sshd"))

    with pytest.raises(EdgepruneError, match=r"step 'run': timed out after 6 s"):
        run_remote(
            slow,
            artifact,
            bundle,
            tmp_path / "out",
            ssh_server.device,
            python=device_python,
            workdir=str(tmp_path / "device-work"),
            ssh_options=ssh_server.options(),
            progress=note_runner,
            timeout=6,
        )
    assert running
    deadline = time.monotonic() + 10
    while any(ssh_server.alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(ssh_server.alive(pid) for pid in running)
    assert not (tmp_path / "out").exists()
    assert _run_folders(tmp_path / "device-work") == []


def test_execute_job_runs_locally_without_a_device(model_and_bundle, tmp_path):
    artifact, bundle = model_and_bundle
    record = execute_job(JOB, artifact, bundle, tmp_path / "out", None)
    assert "where" not in record and (tmp_path / "out" / "outputs.npz").is_file()


def test_execute_job_takes_ssh_defaults_from_the_profile(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(execute, "run_remote", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setattr(execute, "run_local", lambda *args, **kwargs: calls.append(("local", args)))
    access = DeviceAccess(ssh="nvidia@127.0.0.1", python="/usr/bin/python3.8", workdir="~/ep")
    profile = TargetProfile("orin", "test", "jetson", device=access)
    paths = (Path("model.onnx"), Path("bundle"), tmp_path)
    execute_job(JOB, *paths, None, profile)  # the profile's device
    execute_job(JOB, *paths, "me@127.0.0.1:2222", profile)  # an explicit device wins
    execute_job(JOB, *paths, "local", profile)  # forced local
    (first, first_kw), (second, _), (third, _) = calls
    assert first[4] == "nvidia@127.0.0.1" and second[4] == "me@127.0.0.1:2222" and third == "local"
    assert first_kw["python"] == "/usr/bin/python3.8" and first_kw["workdir"] == "~/ep"
