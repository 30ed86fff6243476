"""Benchmark: what each structured pruning method buys on ONNX Runtime.

For the unpruned model and every structured method x ratio, the script prunes a copy of one
seeded random-weight model (latency does not depend on the weights; the data-driven
criteria get seeded random training batches), exports it with edgeprune's exporter, counts
parameters and MACs (the exported graph, batch 1), and times ONNX Runtime at batch 1 and at
batch 64 in the same process (warm-up, then the median of the timed runs). It prints one
table: MAC reduction, p50 latencies, speedup over the unpruned model, and the speedup as a
fraction of the MAC reduction factor 1 / (1 - MAC reduction). A dense runtime converts
removed channels into time only if that fraction stays high; the goal at ratio 0.5 is >= 0.8.

    .venv/bin/python tools/bench_methods.py --model resnet18-cifar --ratios 0.25,0.5,0.75
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from edgeprune.export import LOGITS, export_onnx
from edgeprune.models import ModelSpec, create_model
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.targets.graph_cost import graph_costs, graph_summary
from edgeprune.targets.latency import measure_latency
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

STRUCTURED = [n for n in METHODS.names() if METHODS.get(n).kind == "structured"]
BATCHES = (1, 64)
GOAL_RATIO, GOAL_EFFICIENCY = 0.5, 0.8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18-cifar")
    parser.add_argument("--ratios", default="0.25,0.5,0.75")
    parser.add_argument("--methods", default=",".join(STRUCTURED), help="comma-separated")
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--allocation", default="uniform", choices=("uniform", "global"))
    parser.add_argument("--round-to", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=100, help="timed runs per figure")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=5.0, help="per figure, >= 10 runs")
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0: ORT's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    return parser.parse_args()


def training_batches(size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(32, 3, size, size, generator=g), torch.randint(0, 10, (32,), generator=g))
        for _ in range(4)
    ]


def with_batchnorm_statistics(model: torch.nn.Module, size: int, seed: int) -> torch.nn.Module:
    """Running statistics from random data, so activations stay in a sane range."""
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        model(torch.randn(64, 3, size, size, generator=g))
    return model.eval()


def measure(model: torch.nn.Module, path: Path, args: argparse.Namespace) -> dict:
    exported = export_onnx(model, path, (3, args.input_size, args.input_size))
    row = {
        "params": sum(p.numel() for p in model.parameters()),
        "macs": graph_summary(graph_costs(exported.path))["macs"],
    }
    g = np.random.default_rng(args.seed)
    with OnnxRuntimeRunner(exported.path, threads=args.threads or None) as runner:
        for batch in BATCHES:
            images = g.standard_normal((batch, 3, args.input_size, args.input_size), np.float32)
            stats = measure_latency(
                runner, images, args.warmup, args.iterations, args.max_seconds, [LOGITS]
            )
            row[f"p50_b{batch}_ms"] = stats["p50_ms"]
            row[f"runs_b{batch}"] = stats["iterations"]
    return row


def add_speedups(rows: list[dict]) -> None:
    """Speedups over the first row (unpruned) and the MAC reduction factor 1 / (1 - r)."""
    base = rows[0]
    for row in rows:
        row["mac_factor"] = base["macs"] / row["macs"]
        for b in BATCHES:
            row[f"speedup_b{b}"] = base[f"p50_b{b}_ms"] / row[f"p50_b{b}_ms"]


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'method':12s} {'ratio':>5s} {'params':>10s} {'MACs':>12s} {'MAC red.':>8s} "
        f"{'p50 b1 ms':>9s} {'p50 b64 ms':>10s} {'spd b1':>6s} {'spd b64':>7s} "
        f"{'eff b1':>6s} {'eff b64':>7s}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        factor, speedups = row["mac_factor"], [row[f"speedup_b{b}"] for b in BATCHES]
        print(
            f"{row['method']:12s} {row['ratio']:5.2f} {row['params']:10,d} {row['macs']:12,d} "
            f"{1 - 1 / factor:8.1%} {row['p50_b1_ms']:9.3f} {row['p50_b64_ms']:10.2f} "
            f"{speedups[0]:6.2f} {speedups[1]:7.2f} "
            f"{speedups[0] / factor:6.2f} {speedups[1] / factor:7.2f}"
        )


def main() -> None:
    args = parse_args()
    ratios = [float(r) for r in args.ratios.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods:
        if METHODS.get(method).kind != "structured":
            raise SystemExit(f"{method} is not structured: masks do not change dense latency")
    size = args.input_size
    torch.manual_seed(args.seed)
    unpruned = with_batchnorm_statistics(
        create_model(ModelSpec(args.model, 10, input_size=(size, size))), size, args.seed
    )
    batches = training_batches(size, args.seed)
    context = PruneContext(torch.zeros(1, 3, size, size), lambda: batches, seed=args.seed)
    settings = PruneSettings(allocation=args.allocation, round_to=args.round_to, seed=args.seed)
    print(
        f"{args.model} at {size}x{size}; ONNX Runtime {onnxruntime.__version__} CPU, "
        f"threads {args.threads or 'default'}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; warm-up {args.warmup}, median of up to {args.iterations} "
        f"runs ({args.max_seconds:g} s cap, >= 10); allocation {args.allocation}; "
        f"load average at start {os.getloadavg()}"
    )
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rows.append(
            {"method": "unpruned", "ratio": 0.0, **measure(unpruned, Path(folder) / "u.onnx", args)}
        )
        for method in methods:
            for ratio in ratios:
                model = copy.deepcopy(unpruned)
                prune_model(model, method, ratio, settings, context)
                path = Path(folder) / f"{method}-{ratio}.onnx"
                rows.append({"method": method, "ratio": ratio, **measure(model.eval(), path, args)})
        # The baseline again at the end: how far the machine drifted during the run.
        again = measure(unpruned, Path(folder) / "u2.onnx", args)
    add_speedups(rows)
    print_table(rows)
    print(
        f"spd: p50 speedup over unpruned; eff: speedup / MAC reduction factor (goal at ratio "
        f"{GOAL_RATIO}: >= {GOAL_EFFICIENCY}). {time.perf_counter() - started:.0f} s; "
        f"load average at end {os.getloadavg()}"
    )
    drift = ", ".join(
        f"b{b} {again[f'p50_b{b}_ms'] / rows[0][f'p50_b{b}_ms'] - 1:+.1%}" for b in BATCHES
    )
    print(f"unpruned re-measured at the end: {drift} against the start (machine drift)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
