from __future__ import annotations

import pytest
import torch
import torch_pruning as tp

from edgeprune.export import export_onnx
from edgeprune.models import ModelSpec, create_model
from edgeprune.targets.estimate import (
    MachinePeaks,
    estimate_latency,
    estimate_memory,
    profile_peaks,
)
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.targets.profile import load_target


@pytest.fixture(scope="module")
def resnet20_artifact(tmp_path_factory):
    model = create_model(ModelSpec("resnet20", 10)).eval()
    path = tmp_path_factory.mktemp("r20") / "model.onnx"
    export_onnx(model, path, (3, 32, 32))
    return model, path


def test_graph_macs_match_torch_pruning_counter(resnet20_artifact):
    model, path = resnet20_artifact
    macs, params = tp.utils.count_ops_and_params(model, torch.zeros(1, 3, 32, 32))
    conv_linear_macs = graph_summary(graph_costs(path))["macs"]
    # Torch-Pruning also counts BN and pooling ops; convolutions and the linear layer dominate.
    assert conv_linear_macs == pytest.approx(macs, rel=0.02)
    assert 40e6 < conv_linear_macs < 42e6  # ResNet-20: 40.6 M MACs (He et al.)


def test_costs_scale_with_batch(resnet20_artifact):
    _, path = resnet20_artifact
    one, eight = graph_summary(graph_costs(path, 1)), graph_summary(graph_costs(path, 8))
    assert eight["macs"] == 8 * one["macs"]
    assert eight["weight_elements"] == one["weight_elements"]


def test_estimate_is_labelled_and_grows_with_work(resnet20_artifact, tmp_path):
    model, path = resnet20_artifact
    profile = load_target("jetson-orin-nano")
    peaks = profile_peaks(profile)
    small = estimate_latency(graph_costs(path, 1), profile, "fp16", peaks)
    large = estimate_latency(graph_costs(path, 64), profile, "fp16", peaks)
    assert small["estimated"] and small["assumptions"]["peaks_source"] == "profile"
    assert large["latency_ms"] > 4 * small["latency_ms"]
    int8 = estimate_latency(graph_costs(path, 64), profile, "int8", peaks)
    assert int8["latency_ms"] < large["latency_ms"]  # half the bytes, twice the peak


def test_memory_bound_layers_dominate_small_cnns_on_jetson(resnet20_artifact):
    # jetson-specs.md: batch-1 CNN layers sit below the ridge point, so they are memory-bound.
    _, path = resnet20_artifact
    profile = load_target("jetson-orin-nano")
    estimate = estimate_latency(graph_costs(path, 1), profile, "fp16", profile_peaks(profile))
    assert estimate["memory_bound_layers"] >= estimate["layers"] // 2


def test_host_estimate_uses_measured_peaks(resnet20_artifact):
    _, path = resnet20_artifact
    profile = load_target("host-cpu")
    peaks = MachinePeaks({"fp32": 50e9}, 20e9, "measured")
    estimate = estimate_latency(graph_costs(path, 1), profile, "fp32", peaks)
    assert estimate["assumptions"]["peaks_source"] == "measured"
    memory = estimate_memory(graph_costs(path, 1), "fp32")
    assert memory["weights_bytes"] > 4 * 0.26e6  # ResNet-20 has 0.27 M parameters


def test_graph_costs_record_conv_channels_including_groups(tmp_path):
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 24, 3, padding=1),
        torch.nn.Conv2d(24, 24, 3, padding=1, groups=24),  # depthwise
        torch.nn.Conv2d(24, 13, 1),
    ).eval()
    path = tmp_path / "convs.onnx"
    export_onnx(model, path, (3, 16, 16))
    convs = [c.channels for c in graph_costs(path) if c.op_type == "Conv"]
    assert convs == [(3, 24), (24, 24), (24, 13)]


@pytest.mark.parametrize(
    ("channels", "multiple", "aligned"),
    [
        ((3, 16), 8, True),  # an image input counts as aligned
        ((16, 32), 8, True),
        ((16, 15), 8, False),
        ((15, 16), 8, False),
        ((24, 24), 16, False),
        ((15, 13), 1, True),
        ((0, 0), 8, True),  # not a conv
    ],
)
def test_channel_alignment(channels, multiple, aligned):
    from edgeprune.targets.estimate import channels_aligned

    assert channels_aligned(channels, multiple) is aligned


def test_misaligned_convs_cost_the_profile_s_efficiency_penalty():
    import dataclasses

    from edgeprune.targets.graph_cost import NodeCost

    profile = load_target("host-cpu")
    profile = dataclasses.replace(
        profile,
        features=dataclasses.replace(profile.features, channel_multiple=8),
        estimate=dataclasses.replace(
            profile.estimate, misaligned_efficiency=0.5, layer_overhead_us=0, fixed_overhead_us=0
        ),
    )
    peaks = MachinePeaks({"fp32": 1e11}, 1e15, "test")  # bandwidth so high compute binds

    def conv(channels):
        return NodeCost("c", "Conv", 10**8, 2 * 10**8, 1000, 1000, 1000, channels)

    aligned = estimate_latency([conv((16, 32))], profile, "fp32", peaks)
    misaligned = estimate_latency([conv((16, 30))], profile, "fp32", peaks)
    assert aligned["latency_ms"] == pytest.approx(2.0)  # 2e8 FLOP at 1e11 FLOP/s
    assert misaligned["latency_ms"] == pytest.approx(4.0)
    assert (aligned["misaligned_convs"], misaligned["misaligned_convs"]) == (0, 1)


def test_host_profile_detects_the_simd_channel_block():
    from edgeprune.targets.profile import host_channel_block

    block = host_channel_block()
    assert block in (1, 8, 16)
    assert load_target("host-cpu").features.channel_multiple == block
