"""The shipped Jetson profiles: all load, aliases resolve, and each peak follows from the
stated cores, clock and per-SM rates (jetson-specs.md's derivations), so a typo in one
figure shows up here."""

from __future__ import annotations

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets.estimate import estimate_latency, profile_peaks
from edgeprune.targets.graph_cost import NodeCost
from edgeprune.targets.profile import PROFILES_DIR, load_target, shipped_profiles

JETSONS = {
    "jetson-nano": ("maxwell", "5.3", 0),
    "jetson-xavier-nx": ("volta", "7.2", 2),
    "jetson-agx-xavier": ("volta", "7.2", 2),
    "jetson-orin-nano-4gb": ("ampere", "8.7", 0),
    "jetson-orin-nano": ("ampere", "8.7", 0),
    "jetson-orin-nano-super": ("ampere", "8.7", 0),
    "jetson-orin-nx-8gb": ("ampere", "8.7", 1),
    "jetson-orin-nx-16gb": ("ampere", "8.7", 2),
    "jetson-agx-orin-32gb": ("ampere", "8.7", 2),
    "jetson-agx-orin-64gb": ("ampere", "8.7", 2),
}
# Dense tensor-core FLOP per clock per SM (jetson-specs.md): Volta 8 TC x 64 FMA x 2,
# Ampere (Orin) 2048 FP16 and 4096 INT8.
FP16_PER_SM = {"volta": 1024, "ampere": 2048}
CORES_PER_SM = {"maxwell": 128, "volta": 64, "ampere": 128}


def test_every_jetson_profile_loads_with_its_architecture():
    profiles = shipped_profiles()
    assert set(JETSONS) <= set(profiles)
    for name, (architecture, capability, dla) in JETSONS.items():
        profile = profiles[name]
        assert profile.kind == "jetson" and profile.gpu.architecture == architecture
        assert profile.gpu.compute_capability == capability
        assert profile.features.dla_cores == dla
        assert profile.features.sparsity_2_4 == (architecture == "ampere")  # Ampere onwards
        assert profile.runtime.default == "tensorrt" and profile.runtime.precision == "fp16"
        assert profile.runtime.jetpack and profile.runtime.tensorrt
        assert profile.features.channel_multiple >= 2


def test_aliases():
    assert load_target("jetson-orin").name == "jetson-agx-orin-64gb"
    assert load_target("jetson-orin-nx").name == "jetson-orin-nx-16gb"
    assert load_target("jetson-orin-nano-8gb").name == "jetson-orin-nano"
    assert load_target("orin-nano-super").name == "jetson-orin-nano-super"
    assert load_target("xavier").name == "jetson-agx-xavier"
    assert load_target("nano").name == "jetson-nano"
    names = [alias for p in shipped_profiles().values() for alias in (p.name, *p.aliases)]
    assert len(names) == len(set(names)), "an alias names two profiles"


@pytest.mark.parametrize("name", sorted(JETSONS))
def test_peaks_follow_from_cores_and_clock(name):
    profile = load_target(name)
    gpu, peak = profile.gpu, profile.peak
    clock_ghz = gpu.max_clock_mhz / 1e3
    assert peak.fp32_tflops == pytest.approx(gpu.cuda_cores * 2 * clock_ghz / 1e3, rel=0.02)
    sms = gpu.cuda_cores // CORES_PER_SM[gpu.architecture]
    if gpu.architecture == "maxwell":  # half2 on the CUDA cores, no tensor cores, no INT8
        assert gpu.tensor_cores == 0 and peak.int8_tops is None
        assert peak.fp16_tflops == pytest.approx(2 * peak.fp32_tflops, rel=0.01)
        return
    per_sm = FP16_PER_SM[gpu.architecture]
    assert peak.fp16_tflops == pytest.approx(sms * per_sm * clock_ghz / 1e3, rel=0.02)
    assert gpu.tensor_cores == sms * (4 if gpu.architecture == "ampere" else 8)
    if gpu.architecture == "ampere":
        assert peak.int8_tops == pytest.approx(2 * peak.fp16_tflops, rel=0.02)
    else:  # Volta Xavier: INT8 on the tensor cores at about twice FP16
        assert 1.7 <= peak.int8_tops / peak.fp16_tflops <= 2.05


def test_nano_has_no_int8_to_estimate():
    profile = load_target("jetson-nano")
    cost = NodeCost("conv", "Conv", 10**6, 2 * 10**6, 1000, 1000, 1000)
    assert estimate_latency([cost], profile, "fp16", profile_peaks(profile))["latency_ms"] > 0
    with pytest.raises(EdgepruneError, match="no int8 peak"):
        estimate_latency([cost], profile, "int8", profile_peaks(profile))


def test_super_mode_is_faster_than_the_original_orin_nano():
    base, fast = load_target("jetson-orin-nano"), load_target("jetson-orin-nano-super")
    assert fast.peak.fp16_tflops / base.peak.fp16_tflops == pytest.approx(1020 / 625, rel=0.02)
    assert fast.memory.bandwidth_gbps > base.memory.bandwidth_gbps
    assert fast.runtime.jetpack == "6.2"


def test_every_figure_has_a_known_source_tag():
    tags = ("[S]", "[D]", "[K]", "[A]")
    for path in PROFILES_DIR.glob("jetson-*.toml"):
        for line in path.read_text().splitlines():
            code, _, comment = line.partition("#")
            key, _, value = code.partition("=")
            if value.strip()[:1].isdigit() or value.strip().startswith("{"):
                assert any(tag in comment for tag in tags) or key.strip() in (
                    "compute_efficiency",
                    "memory_efficiency",
                ), f"{path.name}: {line!r} has no source tag"
