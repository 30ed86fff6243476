"""compress evaluating on a device over SSH (a loopback sshd standing in for a Jetson)."""

from __future__ import annotations

import numpy as np

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

    import pytest

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
