"""How good is the latency estimator? Validated where it can be: on this host.

For the ``host-cpu`` profile the peaks are measured here (an ONNX Runtime GEMM and a large
copy). The script prunes two model families across a sweep of ratios (structured L1,
random weights: latency does not depend on their values), measures ONNX Runtime latency of
every candidate, predicts it with the roofline estimator from the ONNX graph, and prints
per-candidate errors, the median absolute error and Spearman's rank correlation (selection
depends on the ordering). Goal: median within 25 %, rank correlation >= 0.9.

    python tools/validate_estimator.py --families resnet20,vgg16-bn-cifar --batch 1
"""

from __future__ import annotations

import argparse
import copy
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
    parser.add_argument("--families", default="resnet20,vgg16-bn-cifar")
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
    workdir = Path(tempfile.mkdtemp(prefix="edgeprune-estimator-"))
    all_measured, all_estimated = [], []
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
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
