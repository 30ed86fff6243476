from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgeprune.export import export_onnx
from edgeprune.targets.bundle import write_bundle


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.bn(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """A small exported model, its PyTorch module and a bundle of 40 random 16x16 images."""
    torch.manual_seed(0)
    model = TinyNet().eval()
    folder = tmp_path_factory.mktemp("tiny")
    exported = export_onnx(model, folder / "model.onnx", (3, 16, 16))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 40)
    bundle = write_bundle(
        folder / "bundle", {"clean": (images, labels)}, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4
    )
    return model, exported, bundle


# ---- a loopback OpenSSH server, the "device" of the remote-evaluation tests -----------------
# Everything here only ever contacts 127.0.0.1.

LOOPBACK = "127.0.0.1"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(path)], check=True, timeout=30
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc), children before grandchildren."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class SshServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.user = getpass.getuser()
        self.host_key = _keygen(root / "host_key")
        _keygen(root / "client_key")
        shutil.copy(root / "client_key.pub", root / "authorized_keys")
        (root / "sshd_config").write_text(
            f"ListenAddress {LOOPBACK}\n"
            f"Port {self.port}\n"
            f"HostKey {root / 'host_key'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\n"
            f"PidFile {root / 'sshd.pid'}\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "StrictModes no\n"  # pytest's tmp folders are not locked down like ~/.ssh
            "PermitRootLogin prohibit-password\n"
        )
        self.known_hosts = self.write_known_hosts(root / "known_hosts", self.host_key)
        self.log = (root / "sshd.log").open("wb")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            with socket.socket() as probe:
                if probe.connect_ex((LOOPBACK, self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        log = (self.root / "sshd.log").read_text(errors="replace").strip()
        pytest.fail(f"sshd did not start: {log}")

    # The helpers, for tests that need them beside the server.
    keygen = staticmethod(_keygen)
    free_port = staticmethod(_free_port)
    children = staticmethod(_children)
    command_name = staticmethod(_command_name)
    alive = staticmethod(_alive)

    def write_known_hosts(self, path: Path, key: str) -> Path:
        path.write_text(f"[{LOOPBACK}]:{self.port} {key}\n")
        return path

    @property
    def device(self) -> str:
        return f"{self.user}@{LOOPBACK}:{self.port}"

    def options(self, known_hosts: Path | None = None) -> tuple[str, ...]:
        return (
            "-F",
            "/dev/null",  # no ~/.ssh/config of whoever runs the tests
            "-i",
            str(self.root / "client_key"),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
        )

    def drop_sessions(self) -> list[int]:
        """Kill the server's session processes (the connection drops), leaving the shells and
        runners they started; returns those survivors."""
        below = _children(self.proc.pid)
        for pid in below:
            if _command_name(pid).startswith("sshd"):
                os.kill(pid, signal.SIGKILL)
        return [pid for pid in below if not _command_name(pid).startswith("sshd")]

    def stop(self) -> None:
        for pid in reversed(_children(self.proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            pytest.skip(f"the OpenSSH client ({tool}) is not installed")
    if not os.access(SSHD, os.X_OK):
        pytest.skip("the OpenSSH server is not installed (apt-get install openssh-server)")
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        pytest.skip("sshd started as root needs its privilege separation folder: mkdir /run/sshd")
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def device_python(tmp_path_factory):
    """A Python with numpy and onnxruntime, but no edgeprune and no torch."""
    env = tmp_path_factory.mktemp("device") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A path line, not the host's own .pth files: the editable edgeprune install stays out.
    Path(site, "host-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    Path(site, "torch.py").write_text(
        "raise ImportError('the device side must not import torch')\n"
    )
    return str(python)
