"""This machine's GPU as a target: properties read from the device, a profile from them,
Jetsons matched to their shipped profiles, and a clear line where there is no GPU."""

from __future__ import annotations

import sys
import types

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets import local_gpu
from edgeprune.targets.local_gpu import GpuProperties, match_jetson, profile_data
from edgeprune.targets.profile import load_target, profile_from_dict, shipped_profiles


def gpu(name, cc, sms, clock, memory_gb, integrated=False, memory_clock=None, bus=None):
    return GpuProperties(
        name=name,
        compute_capability=cc,
        multiprocessors=sms,
        clock_mhz=clock,
        memory_clock_mhz=memory_clock,
        memory_bus_bits=bus,
        total_memory_bytes=int(memory_gb * 1e9),
        integrated=integrated,
        source="test",
    )


# Datasheet peaks (dense) at the clock the datasheet quotes them for.
A100 = gpu("NVIDIA A100-SXM4-40GB", "8.0", 108, 1410, 40, memory_clock=1215, bus=5120)
H100 = gpu("NVIDIA H100 80GB HBM3", "9.0", 132, 1980, 80, memory_clock=2619, bus=5120)


@pytest.mark.parametrize(
    "device, fp32, fp16, int8, bandwidth",
    [
        (A100, 19.5, 312, 624, 1555),  # A100 datasheet: 19.5 / 312 / 624, 1,555 GB/s
        # H100 SXM datasheet: FP32 66.9 at the 1,980 MHz boost clock, 3.35 TB/s (its tensor
        # figures, 989 / 1,979, are quoted at a lower clock: not compared)
        (H100, 66.9, None, None, 3352),
    ],
)
def test_peaks_and_bandwidth_follow_from_the_device(device, fp32, fp16, int8, bandwidth):
    data = profile_data(device)
    assert data["peak"]["fp32_tflops"] == pytest.approx(fp32, rel=0.02)
    for key, expected in (("fp16_tflops", fp16), ("int8_tops", int8)):
        if expected is not None:
            assert data["peak"][key] == pytest.approx(expected, rel=0.02)
    assert data["memory"]["bandwidth_gbps"] == pytest.approx(bandwidth, rel=0.02)
    profile = profile_from_dict(data, source="detected")  # a valid profile, like a shipped one
    assert profile.kind == "gpu" and profile.runtime.precision == "fp16"
    assert profile.features.sparsity_2_4 and profile.features.channel_multiple == 8
    assert (
        profile.gpu.device_name == device.name
        and profile.gpu.multiprocessors == device.multiprocessors
    )


def test_a_gpu_without_fast_fp16_defaults_to_fp32():
    gtx = gpu("NVIDIA GeForce GTX 1080", "6.1", 20, 1733, 8, memory_clock=5005, bus=256)
    data = profile_data(gtx)
    assert data["runtime"]["precision"] == "fp32" and not data["features"]["sparsity_2_4"]
    assert data["peak"]["fp32_tflops"] == pytest.approx(8.87, rel=0.02)  # GTX 1080: 8.9


def test_an_unknown_architecture_or_missing_clock_is_one_clear_error():
    with pytest.raises(EdgepruneError, match="not in edgeprune's architecture table"):
        profile_data(gpu("Future", "42.0", 10, 1000, 8, memory_clock=1000, bus=128))
    with pytest.raises(EdgepruneError, match="does not report .*clock: pip install cuda-python"):
        profile_data(gpu("NVIDIA L4", "8.9", 58, None, 24))


@pytest.mark.parametrize(
    "device, expected",
    [
        (gpu("Orin", "8.7", 8, 624.75, 7.4, True), "jetson-orin-nano"),
        (gpu("Orin", "8.7", 8, 1020, 7.4, True), "jetson-orin-nano-super"),
        (gpu("Orin", "8.7", 8, 918, 15.4, True), "jetson-orin-nx-16gb"),
        (gpu("Orin", "8.7", 4, 624.75, 3.6, True), "jetson-orin-nano-4gb"),
        (gpu("Orin", "8.7", 16, 1300, 62.8, True), "jetson-agx-orin-64gb"),
        (gpu("Xavier", "7.2", 6, 1100, 7.6, True), "jetson-xavier-nx"),
        (gpu("NVIDIA Tegra X1", "5.3", 1, 921.6, 4.1, True), "jetson-nano"),
    ],
)
def test_a_jetson_is_matched_to_its_shipped_profile(device, expected):
    assert match_jetson(device, shipped_profiles()).name == expected


def test_a_discrete_gpu_is_no_jetson():
    assert match_jetson(A100, shipped_profiles()) is None


@pytest.fixture
def fake_gpu(monkeypatch):
    """query_gpu answers with a given device."""

    def use(device):
        monkeypatch.setattr(local_gpu, "query_gpu", lambda index=0: (device, "test"))

    return use


def test_local_gpu_target_is_built_from_the_device_and_runs_here(fake_gpu, monkeypatch):
    fake_gpu(H100)
    monkeypatch.setattr(local_gpu, "_torch_cuda", lambda: True)
    target = load_target("local-gpu")
    assert target.name == "local-gpu" and target.gpu.compute_capability == "9.0"
    assert local_gpu.runs_here(target)
    assert not local_gpu.runs_here(load_target("jetson-orin-nano"))  # sm 8.7 is not this GPU
    assert not local_gpu.runs_here(load_target("host-cpu"))
    assert target.runtime.default in ("pytorch", "tensorrt")
    assert load_target("auto").name == "local-gpu"  # a runtime here runs on it


def test_on_a_jetson_local_gpu_is_its_profile(fake_gpu):
    fake_gpu(gpu("Orin", "8.7", 8, 624.75, 7.4, True))
    target = load_target("local-gpu")
    assert target.name == "jetson-orin-nano" and local_gpu.runs_here(target)


def test_without_a_gpu_local_gpu_is_one_clear_line_and_auto_is_the_cpu(fake_gpu, monkeypatch):
    monkeypatch.setattr(local_gpu, "query_gpu", lambda index=0: (None, "torch: no CUDA"))
    with pytest.raises(
        EdgepruneError, match=r"--target local-gpu: no usable CUDA GPU here \(torch"
    ):
        load_target("local-gpu")
    assert load_target("auto").name == "host-cpu"


def test_a_driverless_cuda_python_moves_on_to_the_next_reader(monkeypatch):
    # cuda-python 12.4-12.6.2 without a driver raises RuntimeError, not an error code.
    def no_driver(device):
        raise RuntimeError("Failed to dlopen libcuda.so.1")

    cudart = types.SimpleNamespace(cudaSetDevice=no_driver, cudaGetDeviceProperties=no_driver)
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    local_gpu.query_gpu.cache_clear()
    try:
        found, why = local_gpu.query_gpu(0)
    finally:
        local_gpu.query_gpu.cache_clear()
    import torch

    if not torch.cuda.is_available():
        assert found is None
        assert "cuda-python: Failed to dlopen libcuda.so.1" in why and "pycuda not installed" in why
