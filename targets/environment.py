"""What machine a measurement ran on: platform, CPU, runtime versions, and on a Jetson its
module, L4T release, power mode, clocks and temperatures.

Every latency figure is stored with this record, because a number without the power mode
and clocks it was measured at cannot be compared with another.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def _run(cmd: list) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_model() -> str:
    text = _read(Path("/proc/cpuinfo")) or ""
    for key in ("model name", "Model", "Hardware"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def parse_nvpmodel(text: str) -> dict[str, str]:
    """``nvpmodel -q`` prints e.g. ``NV Power Mode: MAXN`` then the mode number."""
    result: dict[str, str] = {}
    match = re.search(r"NV Power Mode:\s*(\S+)", text)
    if match:
        result["power_mode"] = match.group(1)
    numbers = re.findall(r"^\s*(\d+)\s*$", text, re.MULTILINE)
    if numbers:
        result["power_mode_id"] = numbers[-1]
    return result


# `GPU MinFreq=306000000 MaxFreq=624750000 CurrentFreq=306000000`, `cpu0: Online=1
# Governor=schedutil MinFreq=729600 ...` (CPU in kHz, the others in Hz), `DLA0_CORE:   Online=1 ...`
_CLOCK_LINE = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9_]*):?\s+(?:Online=(\d)\s+)?(?:Gon?vernor=(\S+)\s+)?"
    r"MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)",
    re.MULTILINE,
)


def parse_jetson_clocks(text: str) -> dict[str, object]:
    """``jetson_clocks --show``: SoC, per-unit min / max / current clocks in MHz, power mode.

    ``locked`` is true when every listed GPU and online CPU clock has min == max, the state
    ``sudo jetson_clocks`` leaves the board in (stable timings).
    """
    result: dict[str, object] = {}
    match = re.search(r"SOC family:\s*(\S+)\s+Machine:\s*(.+)$", text, re.MULTILINE)
    if match:
        result["soc"], result["machine"] = match.group(1), match.group(2).strip()
    clocks: dict[str, dict[str, object]] = {}
    for name, online, governor, low, high, current in _CLOCK_LINE.findall(text):
        scale = 1e3 if name.lower().startswith("cpu") else 1e6  # CPU in kHz, others in Hz
        entry: dict[str, object] = {
            "min_mhz": int(low) / scale,
            "max_mhz": int(high) / scale,
            "current_mhz": int(current) / scale,
        }
        if online:
            entry["online"] = online == "1"
        if governor:
            entry["governor"] = governor
        clocks[name] = entry
    if clocks:
        result["clocks"] = clocks
        pinned = [
            c["min_mhz"] == c["max_mhz"]
            for name, c in clocks.items()
            if name == "GPU" or (name.lower().startswith("cpu") and c.get("online", True))
        ]
        result["locked"] = bool(pinned) and all(pinned)
    match = re.search(r"Active GPU TPCs:\s*(\d+)", text)
    if match:
        result["active_gpu_tpcs"] = int(match.group(1))
    result.update(parse_nvpmodel(text))
    return result


def thermal_zones() -> dict[str, float]:
    """Temperatures in degrees Celsius by thermal zone type."""
    temps: dict[str, float] = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        kind, value = _read(zone / "type"), _read(zone / "temp")
        if kind and value and value.lstrip("-").isdigit():
            temps[kind] = int(value) / 1000.0
    return temps


def gpu_clock_mhz() -> float | None:
    """Current GPU frequency of a Jetson (devfreq), in MHz."""
    for path in Path("/sys/class/devfreq").glob("*"):
        name = _read(path / "device" / "of_node" / "name") or path.name
        if "gpu" in name or "gv11b" in name or "ga10b" in name or "gp10b" in name:
            freq = _read(path / "cur_freq")
            if freq and freq.isdigit():
                return int(freq) / 1e6
    return None


def jetson_state() -> dict[str, object] | None:
    """Module, release, power mode, clocks and temperatures; None when not on a Jetson."""
    release = _read(TEGRA_RELEASE)
    if release is None:
        return None
    state: dict[str, object] = {
        "module": _read(DEVICE_TREE_MODEL) or "unknown Jetson",
        "l4t_release": release.splitlines()[0],
    }
    nvpmodel = _run(["nvpmodel", "-q"])
    if nvpmodel:
        state.update(parse_nvpmodel(nvpmodel))
    clocks = _run(["jetson_clocks", "--show"])  # needs root; skipped when it fails
    if clocks:
        state["jetson_clocks"] = parse_jetson_clocks(clocks)
    state["gpu_clock_mhz"] = gpu_clock_mhz()
    state["temperatures_c"] = thermal_zones()
    return state


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (runnable threads), where the system has them."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def cpu_frequency_policy() -> dict[str, object] | None:
    """cpufreq's governor and current / maximum clock of CPU 0 (kHz), where the kernel
    exposes them (virtual machines often do not)."""
    folder = Path("/sys/devices/system/cpu/cpu0/cpufreq")
    governor = _read(folder / "scaling_governor")
    if governor is None:
        return None
    clocks = {k: _read(folder / f"scaling_{k}_freq") for k in ("cur", "max")}
    return {
        "governor": governor,
        **{f"{k}_khz": int(v) for k, v in clocks.items() if v and v.isdigit()},
    }


def describe_environment(runtime_info: dict[str, object] | None = None) -> dict[str, object]:
    env: dict[str, object] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpu_frequency_policy": cpu_frequency_policy(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    if runtime_info:
        env["runtime"] = runtime_info
    jetson = jetson_state()
    if jetson:
        env["jetson"] = jetson
    return env
