"""tegrastats on a Jetson: sample it in the background while latency is timed, parse its
lines and summarise them, so every latency figure says what the board was doing meanwhile
(GPU load, memory, temperatures, power).

One line per interval; the fields differ by module and release:

- Nano / TX2 (JetPack 4): ``RAM 1766/3964MB (lfb 197x4MB) SWAP 0/2048MB (cached 0MB)
  CPU [24%@1224,15%@1224,off,off] EMC_FREQ 0% GR3D_FREQ 0%@921 PLL@21C GPU@23.5C
  POM_5V_IN 2545/2547 POM_5V_GPU 0/0`` (power rails in mW, instant/average, no unit);
- AGX Xavier (JetPack 4): rails ``GPU 0/0 CPU 216/216 SOC 864/864 CV 0/0 VDDRQ 144/144 SYS5V 1889/1889``;
- Xavier NX and Orin (JetPack 5/6): ``GR3D_FREQ 0%@[305]`` or ``GR3D_FREQ 1%``, temperatures
  ``cpu@62.843C``, rails ``VDD_IN 3913mW/3922mW VDD_CPU_GPU_CV 598mW/598`` (AGX Orin:
  ``VDD_GPU_SOC``, ``VDD_CPU_CV``, ``VIN_SYS_5V0``); ``-256C`` marks a sensor that is off.

Off a Jetson (no ``tegrastats`` on the PATH) the sampler does nothing and reports nothing.
Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterable

_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?", re.IGNORECASE)
_CORE = re.compile(r"(\d+)%(?:@(\d+))?")
_GR3D = re.compile(r"\bGR3D(?:_FREQ)? (\d+)%(?:@\[?(\d+))?")
_EMC = re.compile(r"\bEMC(?:_FREQ)? (\d+)%(?:@(\d+))?")
_TEMP = re.compile(r"(?<![\w%@])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C(?!\w)")
# `VDD_IN 4866mW/4866mW`, `VDD_CPU_GPU_CV 598mW/598`, `POM_5V_IN 2120/2120`, `SOC 864/864`
_RAIL = re.compile(r"(?<![\w/])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?![\w/])")
_NOT_RAILS = {"RAM", "SWAP", "IRAM", "NC"}
# Rails that carry the whole module's input power, where the module has one.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
SENSOR_OFF_C = -256.0


def parse_tegrastats_line(line: str) -> dict[str, float]:
    """One tegrastats line as flat numeric fields (MB, %, MHz, degrees C, mW)."""
    fields: dict[str, float] = {}
    for pattern, prefix in ((_RAM, "ram"), (_SWAP, "swap")):
        match = pattern.search(line)
        if match:
            fields[f"{prefix}_used_mb"] = float(match.group(1))
            fields[f"{prefix}_total_mb"] = float(match.group(2))
    match = _CPU.search(line)
    if match:
        cores = [c.strip() for c in match.group(1).split(",") if c.strip()]
        online = [_CORE.match(c) for c in cores if c != "off"]
        online = [m for m in online if m]
        fields["cpu_online"] = float(len(online))
        if online:
            fields["cpu_load_pct"] = sum(float(m.group(1)) for m in online) / len(online)
            freqs = [float(m.group(2)) for m in online if m.group(2)]
            if match.group(2):  # JetPack 3 style: one frequency after the bracket
                freqs = [float(match.group(2))]
            if freqs:
                fields["cpu_freq_mhz"] = sum(freqs) / len(freqs)
    for pattern, prefix in ((_GR3D, "gpu"), (_EMC, "emc")):
        match = pattern.search(line)
        if match:
            fields[f"{prefix}_load_pct"] = float(match.group(1))
            if match.group(2):
                fields[f"{prefix}_freq_mhz"] = float(match.group(2))
    for name, value in _TEMP.findall(line):
        if float(value) != SENSOR_OFF_C:
            fields[f"temp_{name.lower()}_c"] = float(value)
    for name, now, _average in _RAIL.findall(line):
        if name not in _NOT_RAILS:
            fields[f"power_{name.lower()}_mw"] = float(now)
    for rail in INPUT_RAILS:
        if f"power_{rail.lower()}_mw" in fields:
            fields["power_input_mw"] = fields[f"power_{rail.lower()}_mw"]
            break
    return fields


def summarize_samples(samples: Iterable[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and max of every field seen, with how many samples had it."""
    collected: dict[str, list[float]] = {}
    for sample in samples:
        for key, value in sample.items():
            collected.setdefault(key, []).append(value)
    return {
        key: {"mean": sum(values) / len(values), "max": max(values), "samples": len(values)}
        for key, values in sorted(collected.items())
    }


class TegrastatsSampler:
    """Context manager: runs ``tegrastats --interval N`` while the block runs.

    ``summary()`` is None when tegrastats is absent (not a Jetson) or printed nothing.
    """

    def __init__(self, interval_ms: int = 100, command: str = "tegrastats") -> None:
        self.interval_ms = interval_ms
        self.command = command
        self.samples: list[dict[str, float]] = []
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._first = threading.Event()

    @property
    def available(self) -> bool:
        return shutil.which(self.command) is not None

    def __enter__(self) -> TegrastatsSampler:
        self.samples = []
        self._first.clear()
        if not self.available:
            return self
        try:
            self._process = subprocess.Popen(
                [self.command, "--interval", str(self.interval_ms)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            return self  # present but not runnable here: measure without it
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            sample = parse_tegrastats_line(line)
            if sample:
                self.samples.append(sample)
                self._first.set()

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        # A block shorter than one interval still gets one reading of the board.
        self._first.wait(timeout=2 * self.interval_ms / 1000 + 0.5)
        self._process.terminate()
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        self._process = None

    def summary(self) -> dict[str, object] | None:
        if not self.samples:
            return None
        return {
            "interval_ms": self.interval_ms,
            "samples": len(self.samples),
            "fields": summarize_samples(self.samples),
        }
