"""tegrastats, nvpmodel and jetson_clocks parsing on lines as the tools print them on each
Jetson generation (samples from public logs and test fixtures), and the background sampler
wired into the device runner's latency measurement."""

from __future__ import annotations

import os
import stat

import pytest

from edgeprune.targets.environment import parse_jetson_clocks, parse_nvpmodel
from edgeprune.targets.run import DeviceJob, evaluate_artifact
from edgeprune.targets.tegrastats import (
    TegrastatsSampler,
    parse_tegrastats_line,
    summarize_samples,
)

NANO_JP4 = (
    "RAM 1766/3964MB (lfb 197x4MB) SWAP 0/2048MB (cached 0MB) "
    "CPU [24%@1224,15%@1224,13%@1224,10%@1224] EMC_FREQ 0% GR3D_FREQ 0% PLL@21C CPU@25C "
    "PMIC@100C GPU@23.5C AO@33.5C thermal@24.5C POM_5V_IN 2545/2547 POM_5V_GPU 0/0 POM_5V_CPU 549/529"
)
AGX_XAVIER_JP4 = (
    "RAM 1903/15692MB (lfb 3251x4MB) CPU [1%@1190,1%@1190,2%@1190,0%@1190,0%@1190,0%@1190,"
    "0%@1190,0%@1190] EMC_FREQ 0% GR3D_FREQ 0% AO@32.5C GPU@32C Tboard@32C Tdiode@34.75C "
    "AUX@31.5C CPU@33.5C thermal@32.9C PMIC@100C GPU 0/0 CPU 216/216 SOC 864/864 CV 0/0 "
    "VDDRQ 144/144 SYS5V 1889/1889"
)
XAVIER_NX_JP5 = (
    "07-09-2024 13:31:31 RAM 3168/6851MB (lfb 2x4MB) SWAP 161/3426MB (cached 0MB) "
    "CPU [23%@1397,17%@1192,16%@1190,13%@1190,23%@1190,10%@1190] EMC_FREQ 2%@204 "
    "GR3D_FREQ 0%@[114] VIC_FREQ 115 APE 150 AUX@45C CPU@46.5C thermal@45.6C AO@45C GPU@45.5C "
    "PMIC@50C VDD_IN 2763mW/2846mW VDD_CPU_GPU_CV 650mW/670mW VDD_SOC 650mW/711mW"
)
ORIN_NANO_JP6 = (
    "12-23-2024 22:54:11 RAM 3162/7620MB (lfb 4x2MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [1%@729,0%@729,0%@729,0%@729,off,off] GR3D_FREQ 1% cpu@62.843C soc2@61.968C "
    "soc0@60.625C gpu@61.687C tj@62.843C soc1@61.687C VDD_IN 3913mW/3922mW "
    "VDD_CPU_GPU_CV 598mW/598 VDD_SOC 1238mW/1237mW"
)
AGX_ORIN_JP5 = (
    "04-11-2025 10:36:27 RAM 4321/62801MB (lfb 1759x4MB) SWAP 19/31400MB (cached 0MB) "
    "CPU [0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] "
    "EMC_FREQ 0%@2133 GR3D_FREQ 0%@[0,0] VIC_FREQ 729 APE 174 CV0@-256C CPU@44.562C Tboard@32C "
    "SOC2@40.093C Tdiode@33C SOC0@41.093C CV1@-256C GPU@-256C tj@44.343C SOC1@41.25C CV2@-256C "
    "VDD_GPU_SOC 2340mW/2340mW VDD_CPU_CV 390mW/390mW VIN_SYS_5V0 4025mW/4025mW NC 0mW/0mW "
    "VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW"
)
TX1_L4T28 = (
    "RAM 3468/3983MB (lfb 48x4MB) SWAP 873/8192MB (cached 295MB) cpu [17%,13%,29%,5%]@408 "
    "EMC 1%@408 APE 25 GR3D 3%@76"
)


def test_jetson_nano_jetpack4_line():
    f = parse_tegrastats_line(NANO_JP4)
    assert f["ram_used_mb"] == 1766 and f["ram_total_mb"] == 3964
    assert f["swap_used_mb"] == 0 and f["swap_total_mb"] == 2048
    assert f["cpu_online"] == 4 and f["cpu_load_pct"] == pytest.approx(15.5)
    assert f["cpu_freq_mhz"] == 1224
    assert f["gpu_load_pct"] == 0 and "gpu_freq_mhz" not in f
    assert f["emc_load_pct"] == 0
    assert f["temp_gpu_c"] == 23.5 and f["temp_pll_c"] == 21 and f["temp_thermal_c"] == 24.5
    assert f["power_pom_5v_in_mw"] == 2545 and f["power_pom_5v_cpu_mw"] == 549
    assert f["power_input_mw"] == 2545  # the module's input rail


def test_agx_xavier_jetpack4_rails_without_units():
    f = parse_tegrastats_line(AGX_XAVIER_JP4)
    assert f["cpu_online"] == 8
    assert f["power_gpu_mw"] == 0 and f["power_cpu_mw"] == 216 and f["power_soc_mw"] == 864
    assert f["power_vddrq_mw"] == 144 and f["power_sys5v_mw"] == 1889
    assert "power_input_mw" not in f  # AGX Xavier reports no input rail
    assert f["temp_tdiode_c"] == 34.75
    assert not any(k.startswith("power_ram") or k.startswith("power_swap") for k in f)


def test_xavier_nx_jetpack5_line():
    f = parse_tegrastats_line(XAVIER_NX_JP5)
    assert f["gpu_load_pct"] == 0 and f["gpu_freq_mhz"] == 114
    assert f["emc_load_pct"] == 2 and f["emc_freq_mhz"] == 204
    assert f["cpu_freq_mhz"] == pytest.approx((1397 + 1192 + 1190 * 4) / 6)
    assert f["power_vdd_in_mw"] == 2763 and f["power_input_mw"] == 2763
    assert f["power_vdd_soc_mw"] == 650


def test_orin_nano_jetpack6_line():
    f = parse_tegrastats_line(ORIN_NANO_JP6)
    assert f["ram_used_mb"] == 3162 and f["ram_total_mb"] == 7620
    assert f["cpu_online"] == 4  # two cores "off"
    assert f["gpu_load_pct"] == 1 and "gpu_freq_mhz" not in f
    assert f["temp_tj_c"] == 62.843 and f["temp_soc2_c"] == 61.968
    assert f["power_vdd_in_mw"] == 3913
    assert f["power_vdd_cpu_gpu_cv_mw"] == 598  # the average lacks its unit on this release


def test_agx_orin_line_skips_sensors_that_are_off():
    f = parse_tegrastats_line(AGX_ORIN_JP5)
    assert f["gpu_freq_mhz"] == 0 and f["emc_freq_mhz"] == 2133
    assert "temp_gpu_c" not in f and "temp_cv0_c" not in f  # -256C: sensor off
    assert f["temp_cpu_c"] == 44.562
    assert f["power_vdd_gpu_soc_mw"] == 2340 and f["power_vin_sys_5v0_mw"] == 4025
    assert "power_nc_mw" not in f


def test_older_tegrastats_format():
    f = parse_tegrastats_line(TX1_L4T28)
    assert f["cpu_load_pct"] == pytest.approx(16.0) and f["cpu_freq_mhz"] == 408
    assert f["gpu_load_pct"] == 3 and f["gpu_freq_mhz"] == 76
    assert f["emc_load_pct"] == 1 and f["emc_freq_mhz"] == 408


def test_summary_is_mean_and_max_per_field():
    samples = [parse_tegrastats_line(ORIN_NANO_JP6), parse_tegrastats_line(XAVIER_NX_JP5)]
    summary = summarize_samples(samples)
    assert summary["power_input_mw"] == {"mean": (3913 + 2763) / 2, "max": 3913, "samples": 2}
    assert summary["temp_tj_c"]["samples"] == 1
    assert parse_tegrastats_line("") == {}


NVPMODEL = "NV Power Mode: MAXN_SUPER\n2\n"
CLOCKS_NANO = """\
SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit
Online CPUs: 0-1
CPU Cluster Switching: Disabled
cpu0: Online=1 Governor=schedutil MinFreq=921600 MaxFreq=921600 CurrentFreq=921600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=921600 MaxFreq=921600 CurrentFreq=921600 IdleStates: WFI=0 c7=0
cpu2: Online=0 Governor=schedutil MinFreq=921600 MaxFreq=921600 CurrentFreq=921600 IdleStates: WFI=0 c7=0
GPU MinFreq=614400000 MaxFreq=614400000 CurrentFreq=614400000
EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=1
Fan: speed=255
NV Power Mode: 5W
"""
CLOCKS_ORIN_NANO_SUPER = """\
SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super
Online CPUs: 0-5, Offline CPUs:
cpu0:  Governor=schedutil MinFreq=729600 MaxFreq=1344000 CurrentFreq=960000 IdleStates: WFI=1 c7=1
cpu1:  Governor=schedutil MinFreq=729600 MaxFreq=1344000 CurrentFreq=960000 IdleStates: WFI=1 c7=1
GPU MinFreq=306000000 MaxFreq=918000000 CurrentFreq=306000000
Active GPU TPCs: 4
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=665600000
NV Power Mode: 25W
"""
CLOCKS_AGX_ORIN = """\
SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=3199000000 MaxFreq=3199000000 CurrentFreq=3199000000
DLA0_CORE:   Online=1 MinFreq=0 MaxFreq=1600000000 CurrentFreq=1600000000
DLA1_CORE:   Online=1 MinFreq=0 MaxFreq=1600000000 CurrentFreq=1600000000
NV Power Mode: MAXN
"""


def test_nvpmodel_query():
    assert parse_nvpmodel(NVPMODEL) == {"power_mode": "MAXN_SUPER", "power_mode_id": "2"}


def test_jetson_clocks_show_on_nano_after_jetson_clocks():
    state = parse_jetson_clocks(CLOCKS_NANO)
    assert state["soc"] == "tegra210" and state["machine"] == "NVIDIA Jetson Nano Developer Kit"
    assert state["clocks"]["cpu0"] == {
        "min_mhz": 921.6,
        "max_mhz": 921.6,
        "current_mhz": 921.6,
        "online": True,
        "governor": "schedutil",
    }
    assert state["clocks"]["GPU"]["current_mhz"] == 614.4
    assert state["clocks"]["EMC"]["max_mhz"] == 1600
    assert state["locked"] is True  # cpu2 is offline and does not count
    assert state["power_mode"] == "5W"


def test_jetson_clocks_show_on_orin():
    super_mode = parse_jetson_clocks(CLOCKS_ORIN_NANO_SUPER)
    assert super_mode["clocks"]["GPU"]["max_mhz"] == 918 and super_mode["locked"] is False
    assert super_mode["active_gpu_tpcs"] == 4 and super_mode["power_mode"] == "25W"
    agx = parse_jetson_clocks(CLOCKS_AGX_ORIN)
    assert agx["clocks"]["GPU"]["current_mhz"] == 1300.5 and agx["locked"] is True
    assert agx["clocks"]["DLA0_CORE"]["max_mhz"] == 1600
    assert agx["power_mode"] == "MAXN"


@pytest.fixture
def fake_tegrastats(tmp_path, monkeypatch):
    """A `tegrastats` on the PATH that prints an Orin line every 20 ms, as the real one would."""
    script = tmp_path / "bin" / "tegrastats"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\nwhile true; do echo "{ORIN_NANO_JP6}"; sleep 0.02; done\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return script


def test_sampler_is_a_no_op_without_tegrastats(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with TegrastatsSampler() as sampler:
        pass
    assert not sampler.available and sampler.summary() is None


def test_sampler_collects_while_the_block_runs(fake_tegrastats):
    import time

    with TegrastatsSampler(interval_ms=20) as sampler:
        time.sleep(0.3)
    summary = sampler.summary()
    assert summary["samples"] >= 3
    assert summary["fields"]["power_input_mw"]["mean"] == 3913
    assert summary["fields"]["gpu_load_pct"]["max"] == 1


def test_device_runner_records_tegrastats_with_latency(fake_tegrastats, tiny_artifact, tmp_path):
    _, exported, bundle = tiny_artifact
    job = DeviceJob(latency_batches=(1,), iterations=10, warmup=1)  # shorter than one interval
    record = evaluate_artifact(exported.path, bundle.path, tmp_path, job)
    board = record["latency"]["1"].get("tegrastats")
    assert board is not None and board["fields"]["ram_used_mb"]["max"] == 3162
