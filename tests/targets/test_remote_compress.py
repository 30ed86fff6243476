"""compress evaluating on a device over SSH (a loopback sshd standing in for a Jetson)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgeprune.cli import main
from edgeprune.files import read_json
from edgeprune.runs import read_run
from edgeprune.selection import Decision


def _profile(path, ssh_server, device_python, workdir):
    path.write_text(
        'name = "loopback-device"\n'
        'description = "this machine over SSH on 127.0.0.1, standing in for a device"\n'
        'kind = "host"\n'
        "[runtime]\n"
        'default = "onnxruntime"\n'
        'precision = "fp32"\n'
        "[estimate]\n"
        "compute_efficiency = { fp32 = 0.5 }\n"
        "[device]\n"
        f'ssh = "{ssh_server.device}"\n'
        f'python = "{device_python}"\n'
        f'workdir = "{workdir}"\n'
        f'ssh_options = "{" ".join(ssh_server.options())}"\n'
    )
    return path


def test_compress_on_a_device_over_ssh_matches_the_local_run(
    ssh_server, device_python, fast_run, tmp_path
):
    profile = _profile(
        tmp_path / "loopback.toml", ssh_server, device_python, tmp_path / "device-work"
    )
    out = tmp_path / "remote-run"
    flags = [
        "compress", "--target", str(profile), "--out", str(out), "--weights", str(fast_run / "baseline" / "model.pt"),
        "--ratios", "0.5", "--finetune-epochs", "1", "--corruptions", "none",
        "--latency-iterations", "10", "--latency-warmup", "2", "--latency-batch", "8", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    results = read_run(out).results
    for entry in results.entries:
        assert entry.latency.where == "device" and entry.memory.where == "device"
        record = read_json(out / entry.name / "device" / "run.json")
        assert record["where"] == "remote" and record["remote"]["host"]
    with (
        np.load(out / "baseline" / "device" / "outputs.npz") as remote,
        np.load(fast_run / "baseline" / "device" / "outputs.npz") as local,
    ):
        np.testing.assert_allclose(
            remote["logits/clean"], local["logits/clean"], rtol=1e-5, atol=1e-5
        )
    local_run = read_run(fast_run).results
    assert results.baseline.quality.accuracy == local_run.baseline.quality.accuracy
    decision = Decision.from_dict(read_json(out / "selection.json"))
    assert {v.latency_source for v in decision.verdicts} == {"measured"}
    assert list((tmp_path / "device-work").glob("run-*")) == []  # every remote folder removed


def test_an_unreachable_device_fails_before_any_work(tmp_path, capsys):
    """The SSH pre-flight runs before the data is loaded: one error line, no run directory."""
    import shutil

    if shutil.which("ssh") is None:
        pytest.skip("the OpenSSH client is not installed (.ci/run installs it)")
    out = tmp_path / "never"
    flags = [
        "compress", "--target", "host-cpu", "--device", "edgeprune@127.0.0.1:1", "--out", str(out),
        "--ssh-options", "-o ConnectTimeout=5", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "failed at step 'connect'" in error[0], error
    assert not out.exists()


def test_the_pre_flight_leaves_nothing_on_the_device(ssh_server, device_python, tmp_path):
    from edgeprune.targets.execute import check_device
    from edgeprune.targets.profile import load_target

    profile = load_target(
        str(_profile(tmp_path / "loopback.toml", ssh_server, device_python, tmp_path / "work"))
    )
    found = check_device("onnxruntime", None, profile)
    assert found["python"] and "onnxruntime" in found["versions"] and found["folder"] == ""
    assert list((tmp_path / "work").iterdir()) == []  # the workdir exists, no run folder in it


# ------------------------------------------------------------------ a pool of two devices


def _pool_flags(servers, tmp_path, device_python, out, fast_run) -> list[str]:
    """compress over ``servers`` (one client key each, one known_hosts file for all), with
    the fast run's baseline and its two candidates pruned and fine-tuned already, so that
    both candidates are measured at once."""
    known = tmp_path / "known_hosts"
    known.write_text("".join(s.known_hosts.read_text() for s in servers))
    options = ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}",
               "-o", "GlobalKnownHostsFile=/dev/null"]  # fmt: skip
    for server in servers:
        options += ["-i", str(server.root / "client_key")]
    profile = tmp_path / "pool.toml"
    profile.write_text(
        'name = "loopback-pool"\ndescription = "this machine over SSH, twice"\nkind = "host"\n'
        '[runtime]\ndefault = "onnxruntime"\nprecision = "fp32"\n'
        "[estimate]\ncompute_efficiency = { fp32 = 0.5 }\n"
        f'[device]\npython = "{device_python}"\nworkdir = "{tmp_path / "device-work"}"\n'
    )
    for name in ("l1-filter-0.25", "l1-filter-0.50"):
        (out / name).mkdir(parents=True)
        shutil.copy(fast_run / name / "model.pt", out / name / "model.pt")
    devices = [flag for s in servers for flag in ("--device", s.device)]
    return [
        "compress", "--target", str(profile), "--out", str(out), *devices,
        "--ssh-options", " ".join(options), "--weights", str(fast_run / "baseline" / "model.pt"),
        "--ratios", "0.25,0.5", "--finetune-epochs", "1", "--corruptions", "none",
        "--latency-iterations", "10", "--latency-warmup", "2", "--latency-batch", "8", "--quiet",
    ]  # fmt: skip


def _server(tmp_path_factory, ssh_server):
    return type(ssh_server)(tmp_path_factory.mktemp("sshd-extra"))


def test_two_devices_evaluate_side_by_side_and_match_the_local_run(
    ssh_server, device_python, fast_run, tmp_path, tmp_path_factory
):
    second = _server(tmp_path_factory, ssh_server)
    try:
        out = tmp_path / "pool-run"
        assert main(_pool_flags([ssh_server, second], tmp_path, device_python, out, fast_run)) == 0
    finally:
        second.stop()
    results = read_run(out).results
    used = {e.name: e.environment["device"] for e in results.entries}
    assert set(used.values()) == {ssh_server.device, second.device}, used  # both devices
    local = read_run(fast_run).results
    for entry in results.entries:  # the same figures as the run on this machine
        assert entry.latency.where == "device"
        assert entry.quality.accuracy == local.entry(entry.name).quality.accuracy
        with (
            np.load(out / entry.name / "device" / "outputs.npz") as remote,
            np.load(fast_run / entry.name / "device" / "outputs.npz") as here,
        ):
            np.testing.assert_allclose(
                remote["logits/clean"], here["logits/clean"], rtol=1e-5, atol=1e-5
            )


def test_a_device_that_drops_out_leaves_its_job_to_another(
    ssh_server, device_python, fast_run, tmp_path, tmp_path_factory, monkeypatch, capsys
):
    import edgeprune.pipeline as pipeline

    doomed = _server(tmp_path_factory, ssh_server)
    real_check = pipeline.check_device

    def check_then_drop(runtime, device, *args):  # it answers the pre-flight, then is gone
        found = real_check(runtime, device, *args)
        if device == doomed.device:
            doomed.stop()
        return found

    monkeypatch.setattr(pipeline, "check_device", check_then_drop)
    out = tmp_path / "dropped"
    flags = _pool_flags([doomed, ssh_server], tmp_path, device_python, out, fast_run)
    assert main([f for f in flags if f != "--quiet"]) == 0
    assert f"{doomed.device} dropped out" in capsys.readouterr().err
    results = read_run(out).results
    assert {e.environment["device"] for e in results.entries} == {ssh_server.device}

    # with no device left: one line, and what finished is kept
    lone = _server(tmp_path_factory, ssh_server)
    doomed = lone
    out = tmp_path / "none-left"
    assert main(_pool_flags([lone], tmp_path, device_python, out, fast_run)) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "every device of the pool dropped out" in error[0], error
    assert (out / "l1-filter-0.25" / "model.pt").exists()
