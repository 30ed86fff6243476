"""Latency and memory estimates for a device that is not here: a per-layer roofline.

Each executed layer takes max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x
memory efficiency)) plus a launch overhead; ops the runtime fuses into the previous layer
(listed in the profile) add nothing. Every figure this module returns is an estimate and
says so; the efficiency factors are the profile's stated assumptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeprune.errors import EdgepruneError
from edgeprune.targets.graph_cost import FREE_OPS, NodeCost
from edgeprune.targets.precision import BYTES_PER_ELEMENT, PRECISIONS
from edgeprune.targets.profile import TargetProfile


@dataclass(frozen=True)
class MachinePeaks:
    """Peak compute (FLOP/s, or op/s for int8) per precision and memory bandwidth (byte/s)."""

    flops: dict[str, float]
    bandwidth: float
    source: str  # "profile" or "measured"


def profile_peaks(profile: TargetProfile) -> MachinePeaks:
    peaks = {p: v * 1e12 for p in PRECISIONS if (v := profile.peak.for_precision(p))}
    if not peaks or not profile.memory.bandwidth_gbps:
        raise EdgepruneError(
            f"target {profile.name} has no peak figures; measure them (host) or add them to its profile"
        )
    return MachinePeaks(peaks, profile.memory.bandwidth_gbps * 1e9, "profile")


# An image input (RGB, grey, RGBA) counts as aligned: kernels treat the first conv apart.
IMAGE_CHANNELS = 4


def channels_aligned(channels: tuple[int, int], multiple: int) -> bool:
    """Whether a conv's channel counts are multiples of ``multiple`` (always for non-convs)."""
    c_in, c_out = channels
    if multiple <= 1 or (c_in, c_out) == (0, 0):
        return True
    return c_out % multiple == 0 and (c_in % multiple == 0 or c_in <= IMAGE_CHANNELS)


def estimate_latency(
    costs: Sequence[NodeCost], profile: TargetProfile, precision: str, peaks: MachinePeaks
) -> dict[str, object]:
    """Estimated batch latency on ``profile`` at ``precision`` from the graph's node costs."""
    model = profile.estimate
    if precision not in peaks.flops:
        raise EdgepruneError(f"target {profile.name} has no {precision} peak to estimate with")
    efficiency = model.compute_efficiency.get(precision)
    if efficiency is None:
        raise EdgepruneError(
            f"target {profile.name} has no [estimate] compute_efficiency.{precision}"
        )
    element_bytes = BYTES_PER_ELEMENT[precision]
    compute_rate = peaks.flops[precision] * efficiency
    memory_rate = peaks.bandwidth * model.memory_efficiency
    multiple = profile.features.channel_multiple
    layers: list[dict[str, object]] = []
    misaligned = 0
    for cost in costs:
        if cost.op_type in FREE_OPS or cost.op_type in model.fused_ops:
            continue
        traffic = (
            cost.input_elements + cost.output_elements + cost.weight_elements
        ) * element_bytes
        rate = compute_rate
        if not channels_aligned(cost.channels, multiple):
            rate *= model.misaligned_efficiency
            misaligned += 1
        compute_s, memory_s = cost.flops / rate, traffic / memory_rate
        layers.append(
            {
                "name": cost.name,
                "op_type": cost.op_type,
                "seconds": max(compute_s, memory_s) + model.layer_overhead_us * 1e-6,
                "bound": "compute" if compute_s >= memory_s else "memory",
            }
        )
    total_s = sum(layer["seconds"] for layer in layers) + model.fixed_overhead_us * 1e-6
    return {
        "estimated": True,
        "latency_ms": total_s * 1e3,
        "precision": precision,
        "layers": len(layers),
        "memory_bound_layers": sum(1 for layer in layers if layer["bound"] == "memory"),
        "misaligned_convs": misaligned,
        "method": "per-layer roofline: max(FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency)) + launch overhead",
        "assumptions": {
            "peak_flops": peaks.flops[precision],
            "peaks_source": peaks.source,
            "bandwidth_bytes_per_s": peaks.bandwidth,
            "compute_efficiency": efficiency,
            "memory_efficiency": model.memory_efficiency,
            "layer_overhead_us": model.layer_overhead_us,
            "fixed_overhead_us": model.fixed_overhead_us,
            "fused_ops": list(model.fused_ops),
            "channel_multiple": multiple,
            "misaligned_efficiency": model.misaligned_efficiency,
        },
        "slowest_layers": sorted(
            (
                {
                    "name": layer["name"],
                    "op_type": layer["op_type"],
                    "ms": layer["seconds"] * 1e3,
                    "bound": layer["bound"],
                }
                for layer in layers
            ),
            key=lambda row: -row["ms"],
        )[:5],
    }


def estimate_memory(costs: Sequence[NodeCost], precision: str) -> dict[str, object]:
    """Model memory on the device: weights plus the largest layer's input and output tensors.

    Excludes the runtime itself (CUDA context, TensorRT libraries), which on a Jetson takes
    hundreds of MB of the shared RAM regardless of the model.
    """
    element_bytes = BYTES_PER_ELEMENT[precision]
    weights = sum(c.weight_elements for c in costs) * element_bytes
    working = max((c.input_elements + c.output_elements for c in costs), default=0) * element_bytes
    return {
        "estimated": True,
        "bytes": int(weights + working),
        "weights_bytes": int(weights),
        "activations_bytes": int(working),
        "precision": precision,
        "excludes": "runtime and CUDA context",
    }


def peaks_for(profile: TargetProfile, measured: MachinePeaks | None) -> MachinePeaks:
    """Profile figures, or the measured ones for a host profile that leaves them out."""
    if profile.is_host and profile.peak.fp32_tflops is None:
        if measured is None:
            raise EdgepruneError("host-cpu estimates need measured peaks (measure_host_peaks)")
        return measured
    return profile_peaks(profile)
