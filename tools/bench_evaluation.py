"""Evaluation throughput and memory of the runner over a corrupted bundle.

Baseline, measured in the same run: the raw ONNX Runtime session, timed on one
preallocated float32 batch of the same size (no reading, no preprocessing, no bookkeeping).
The evaluation loop (``edgeprune.targets.run.evaluate_artifact``: memory-mapped reads,
uint8 -> float32 preprocessing, inference, output collection) should reach >= 90 % of it.

With ``--full`` the script also builds a CIFAR-10-C-sized bundle (10,000 clean images plus
19 corruptions x 5 severities x 10,000 = 960,000 32x32 images, 2.9 GB on disk) and runs the
whole evaluation in a child process (the same path as compress), reporting its peak
resident memory (goal: about 2 GB or less).

    python tools/bench_evaluation.py                    # throughput, 20 splits
    python tools/bench_evaluation.py --full             # plus the full-size memory run
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgeprune.data.corruptions import ALL
from edgeprune.export import export_onnx
from edgeprune.models import ModelSpec, create_model
from edgeprune.targets.bundle import Split, write_bundle
from edgeprune.targets.execute import run_local
from edgeprune.targets.run import DeviceJob, evaluate_artifact
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def _write_images(path: Path, rows: int, rng: np.random.Generator) -> None:
    """Smooth random images (not white noise), written in chunks without holding them all."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, 32, 32, 3))
    base = rng.integers(0, 256, (1000, 8, 8, 3), dtype=np.uint8).repeat(4, 1).repeat(4, 2)
    for start in range(0, rows, 1000):
        stop = min(start + 1000, rows)
        out[start:stop] = base[: stop - start]
    out.flush()
    del out


def build_bundle(folder: Path, images_per_split: int, corruptions: tuple[str, ...], rng) -> Path:
    labels = rng.integers(0, 10, images_per_split * 5).astype(np.uint8)
    np.save(folder / "labels.npy", labels)
    splits = []
    for name in corruptions:
        _write_images(folder / f"{name}.npy", images_per_split * 5, rng)
        for s in range(1, 6):
            start = (s - 1) * images_per_split
            splits.append(
                Split(f"{name}/{s}", f"{name}.npy", "labels.npy", start, start + images_per_split)
            )
    clean = (
        rng.integers(0, 256, (images_per_split, 32, 32, 3), dtype=np.uint8),
        labels[:images_per_split],
    )
    write_bundle(folder, {"clean": clean}, MEAN, STD, 10, external_splits=splits)
    return folder


def raw_throughput(artifact: Path, batch_size: int, seconds: float, threads: int | None) -> float:
    batch = np.random.default_rng(0).standard_normal((batch_size, 3, 32, 32)).astype(np.float32)
    with OnnxRuntimeRunner(artifact, threads=threads) as runner:
        feeds = {runner.input_names[0]: batch}
        for _ in range(3):
            runner.session.run(["logits"], feeds)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            runner.session.run(["logits"], feeds)
            count += 1
        return count * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small-resnet")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--splits", type=int, default=20, help="corrupted splits in the throughput run"
    )
    parser.add_argument("--images", type=int, default=10000, help="images per split")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--full", action="store_true", help="also run the CIFAR-10-C-sized memory check"
    )
    parser.add_argument(
        "--workdir", default=None, help="where the bundles go (default: a temp folder)"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="edgeprune-bench-"))
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    artifact = workdir / "model.onnx"
    export_onnx(create_model(ModelSpec(args.model, 10)).eval(), artifact, (3, 32, 32))

    corruptions = ALL[: max(1, args.splits // 5)]
    small = build_bundle(_mkdir(workdir / "small"), args.images, corruptions, rng)
    raw_before = raw_throughput(artifact, args.batch_size, 10.0, args.threads)
    job = DeviceJob(
        batch_size=args.batch_size, latency_batches=(1,), iterations=10, threads=args.threads
    )
    record = evaluate_artifact(artifact, small, workdir / "small-out", job)
    raw_after = raw_throughput(artifact, args.batch_size, 10.0, args.threads)
    raw = (raw_before + raw_after) / 2  # measured before and after: drift shows as a spread
    loop = record["evaluation"]["images_per_second"]
    print(
        f"\nmodel {args.model}, batch {args.batch_size}, {record['evaluation']['images']:,} images"
    )
    print(
        f"raw ONNX Runtime session:   {raw:10,.0f} images/s (before {raw_before:,.0f}, after {raw_after:,.0f})"
    )
    print(f"evaluation loop (runner):   {loop:10,.0f} images/s")
    print(f"ratio loop / raw:           {loop / raw:10.3f}   (goal >= 0.90)")

    if args.full:
        full = build_bundle(_mkdir(workdir / "full"), 10000, ALL, rng)
        started = time.perf_counter()
        result = run_local(job, artifact, full, workdir / "full-out")
        print(
            f"\nfull CIFAR-10-C-sized evaluation: {result['evaluation']['images']:,} images in "
            f"{time.perf_counter() - started:.0f} s ({result['evaluation']['images_per_second']:,.0f} images/s)"
        )
        print(
            f"peak resident memory of the runner process: {result['memory']['peak_rss_bytes'] / 2**20:,.0f} MB "
            f"(goal <= ~2048 MB; the bundle is {_size(full) / 2**30:.1f} GB on disk)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.npy"))


if __name__ == "__main__":
    main()
