"""How good is the latency estimator? Validated where it can be: on this host.

For the ``host-cpu`` profile the peaks are measured here (an ONNX Runtime GEMM and a large
copy). The script prunes model families across a sweep of ratios (structured L1, random
weights: latency does not depend on their values), measures ONNX Runtime latency of every
candidate, and predicts it with the roofline estimator from the ONNX graph:

1. with the ``host-cpu`` profile as shipped: per-candidate errors, the median absolute error
   and Spearman's rank correlation (selection depends on the ordering);
2. held out: the profile's free parameters (compute efficiency, the efficiency multiplier
   for convs whose channels miss the SIMD block, the fixed and per-layer overheads) fitted
   on ``--fit-on`` families only, then judged on the others, so the held-out figure is not
   a fit to its own data.

Goal: median within 25 %, rank correlation >= 0.9.

    python tools/validate_estimator.py --families vgg16-bn-cifar,resnet20,resnet56
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from edgeprune.export import export_onnx
from edgeprune.models import ModelSpec, create_model
from edgeprune.prune import PruneContext, PruneSettings, prune_model
from edgeprune.targets.estimate import estimate_latency
from edgeprune.targets.graph_cost import graph_costs
from edgeprune.targets.host_peaks import measure_host_peaks
from edgeprune.targets.latency import measure_latency
from edgeprune.targets.profile import load_target
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner


def spearman(a: list[float], b: list[float]) -> float:
    ranks = lambda x: np.argsort(np.argsort(x)).astype(float)  # noqa: E731  (no ties in latencies)
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def measure(path: Path, batch: int, iterations: int) -> float:
    data = np.random.default_rng(0).standard_normal((batch, 3, 32, 32)).astype(np.float32)
    with OnnxRuntimeRunner(path) as runner:
        return measure_latency(runner, data, warmup=20, iterations=iterations, max_seconds=5.0)[
            "p50_ms"
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--families",
        default="vgg16-bn-cifar,resnet20,resnet56",
    )
    parser.add_argument(
        "--fit-on",
        default="vgg16-bn-cifar,resnet20",
        help="families the held-out fit uses (two of different depth separate the per-layer "
        "from the fixed overhead); the others are judged with the fitted values",
    )
    parser.add_argument("--ratios", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    profile = load_target("host-cpu")
    peaks = measure_host_peaks()
    print(
        f"measured peaks: {peaks.flops['fp32'] / 1e9:.1f} GFLOP/s (ONNX Runtime GEMM), "
        f"{peaks.bandwidth / 1e9:.1f} GB/s (copy)"
    )
    print(
        f"profile: channel multiple {profile.features.channel_multiple}, compute efficiency "
        f"{profile.estimate.compute_efficiency['fp32']}, misaligned x"
        f"{profile.estimate.misaligned_efficiency}, fixed {profile.estimate.fixed_overhead_us} us"
    )
    workdir = Path(tempfile.mkdtemp(prefix="edgeprune-estimator-"))
    all_measured, all_estimated = [], []
    records: list[tuple[str, list, float]] = []  # (family, costs, measured ms)
    print(
        f"\n{'family':16s} {'ratio':>5s} {'MMACs':>8s} {'measured ms':>11s} {'estimated ms':>12s} {'error':>7s}"
    )
    for family in args.families.split(","):
        torch.manual_seed(0)
        base = create_model(ModelSpec(family, 10)).eval()
        measured, estimated = [], []
        for ratio in (float(r) for r in args.ratios.split(",")):
            model = copy.deepcopy(base)
            if ratio > 0:
                prune_model(
                    model,
                    "l1-filter",
                    ratio,
                    PruneSettings(),
                    PruneContext(torch.zeros(1, 3, 32, 32)),
                )
            path = workdir / f"{family}-{ratio:.2f}.onnx"
            export_onnx(model.eval(), path, (3, 32, 32))
            costs = graph_costs(path, args.batch)
            predicted = estimate_latency(costs, profile, "fp32", peaks)["latency_ms"]
            actual = measure(path, args.batch, args.iterations)
            measured.append(actual)
            estimated.append(predicted)
            records.append((family, costs, actual))
            macs = sum(c.macs for c in costs) / 1e6
            print(
                f"{family:16s} {ratio:5.2f} {macs:8.2f} {actual:11.3f} {predicted:12.3f} {predicted / actual - 1:+7.1%}"
            )
        print(
            f"{family}: median |error| {np.median(np.abs(np.array(estimated) / np.array(measured) - 1)):.1%}, "
            f"Spearman {spearman(measured, estimated):.3f}"
        )
        all_measured += measured
        all_estimated += estimated
    errors = np.abs(np.array(all_estimated) / np.array(all_measured) - 1)
    print(
        f"\nall candidates: median |error| {np.median(errors):.1%} (goal <= 25 %), max {errors.max():.1%}, "
        f"Spearman {spearman(all_measured, all_estimated):.3f} (goal >= 0.9)"
    )
    held_out_fit(records, profile, peaks, args.fit_on.split(","))
    print(f"load average: {os.getloadavg()[0]:.2f}")


PARAMETERS = (
    "compute_efficiency",
    "misaligned_efficiency",
    "fixed_overhead_us",
    "layer_overhead_us",
)
BOUNDS = ((0.05, 1.0), (0.05, 1.0), (0.0, 1000.0), (0.0, 50.0))


def with_parameters(profile, values):
    efficiency, misaligned, fixed_us, layer_us = (
        float(np.clip(v, lo, hi)) for v, (lo, hi) in zip(values, BOUNDS)
    )
    estimate = dataclasses.replace(
        profile.estimate,
        compute_efficiency={"fp32": efficiency},
        misaligned_efficiency=misaligned,
        fixed_overhead_us=fixed_us,
        layer_overhead_us=layer_us,
    )
    return dataclasses.replace(profile, estimate=estimate)


def held_out_fit(records, profile, peaks, fit_families: list[str]) -> None:
    """Fit the free parameters on ``fit_families`` (least squares on log latency,
    Nelder-Mead from the profile's values), then judge every family with them."""
    from scipy.optimize import minimize

    fit = [(costs, ms) for family, costs, ms in records if family in fit_families]

    def loss(values) -> float:
        candidate = with_parameters(profile, values)
        return sum(
            np.log(estimate_latency(costs, candidate, "fp32", peaks)["latency_ms"] / ms) ** 2
            for costs, ms in fit
        )

    e = profile.estimate
    start = [
        e.compute_efficiency["fp32"],
        e.misaligned_efficiency,
        e.fixed_overhead_us,
        e.layer_overhead_us,
    ]
    result = minimize(loss, start, method="Nelder-Mead", options={"maxiter": 2000, "xatol": 1e-3})
    fitted = with_parameters(profile, result.x)
    values = [fitted.estimate.compute_efficiency["fp32"], fitted.estimate.misaligned_efficiency,
              fitted.estimate.fixed_overhead_us, fitted.estimate.layer_overhead_us]  # fmt: skip
    print(
        f"\nfitted on {', '.join(fit_families)}: "
        + ", ".join(f"{name} {value:.3g}" for name, value in zip(PARAMETERS, values))
    )
    for family in dict.fromkeys(f for f, _, _ in records):
        rows = [(costs, ms) for f, costs, ms in records if f == family]
        predicted = [estimate_latency(c, fitted, "fp32", peaks)["latency_ms"] for c, _ in rows]
        measured = [ms for _, ms in rows]
        errors = np.abs(np.array(predicted) / np.array(measured) - 1)
        role = "fit" if family in fit_families else "held out"
        print(
            f"  {family:16s} ({role}): median |error| {np.median(errors):.1%}, max "
            f"{errors.max():.1%}, Spearman {spearman(measured, predicted):.3f}"
        )


if __name__ == "__main__":
    main()
