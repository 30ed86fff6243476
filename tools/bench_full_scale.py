"""A user's first real run at full size: CIFAR-10-C generated and evaluated on 2 cores.

What it costs, measured in one run on the real CIFAR-10 test set (10,000 images) and a real
ResNet-20 checkpoint:

1. generation: ``edgeprune corrupt`` (the CLI, in a child process) makes all 19 corruptions
   x 5 severities x 10,000 = 950,000 images; wall time, images per second and the child's
   peak resident memory;
2. evaluation: the checkpoint exported to ONNX as ``compress`` exports it, run by the
   torch-free runner (``edgeprune.targets.execute.run_local``, the path ``compress`` and
   ``evaluate`` take) over the 960,000 images read memory-mapped from the generated files;
   its images per second against the named baseline **measured in the same run**, the raw
   ONNX Runtime session on one preallocated float32 batch (no reading, no preprocessing,
   no bookkeeping; timed before and after, goal >= 0.9), and the runner's peak memory;
3. the peak resident memory of this driver process (which exports the model and reads the
   outputs). Goal for every process: <= 2 GB.

Resumable: the generated folder is reused when it is complete (``--fresh`` makes it again,
which is what times the generation). Needs the prepared CIFAR-10 (``../shared/data/
prepare_cifar10.py``) and a checkpoint; nothing is downloaded.

    python tools/bench_full_scale.py --data ~/.cache/edgeprune-data/cifar10 \\
        --weights ../shared/data/weights/resnet20-12fca82f.th --workdir /tmp/full-scale
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_evaluation import raw_throughput  # the same baseline as the evaluation benchmark

from edgeprune.allocator import environment as allocator_environment
from edgeprune.allocator import keep_freed_memory
from edgeprune.data.corrupted_sets import corrupted_splits
from edgeprune.data.datasets import load_dataset, with_normalization
from edgeprune.export import ExportSettings, export_onnx
from edgeprune.models import ModelSpec, create_model, load_weights
from edgeprune.targets.bundle import write_bundle
from edgeprune.targets.execute import run_local
from edgeprune.targets.run import DeviceJob

GB = 2**30


def generate(data: str, folder: Path, fresh: bool) -> tuple[float, int]:
    """Run ``edgeprune corrupt`` in a child (it resumes a folder it made); its wall seconds
    and peak resident memory."""
    if fresh and folder.exists():
        shutil.rmtree(folder)
    command = [
        sys.executable,
        "-m",
        "edgeprune.cli",
        "corrupt",
        "--data",
        data,
        "--out",
        str(folder),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **allocator_environment()})
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"error: edgeprune corrupt exited with {process.returncode}")
    return seconds, usage.ru_maxrss * 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="prepared CIFAR-10 folder")
    parser.add_argument("--weights", type=Path, required=True, help="ResNet-20 checkpoint")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--normalize", default="imagenet")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--fresh", action="store_true", help="generate the corruptions again")
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI does
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    data = f"cifar10:{args.data}"
    corrupted = args.workdir / "cifar10-c"
    # corruption files (and labels.npy) already there: the run resumes and times the rest
    present = 0 if args.fresh else len(list(corrupted.glob("*.npy")))
    gen_seconds, gen_rss = generate(data, corrupted, args.fresh)

    dataset = with_normalization(load_dataset(data), args.normalize)
    spec = ModelSpec(args.model, dataset.num_classes)
    model = load_weights(create_model(spec), args.weights, args.model).eval()
    artifact = args.workdir / "model.onnx"
    export_onnx(model, artifact, (3, 32, 32), ExportSettings())
    splits, _ = corrupted_splits(corrupted, dataset.image_shape)
    bundle = args.workdir / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    write_bundle(
        bundle, {"clean": (dataset.test.images, dataset.test.labels)}, dataset.mean, dataset.std,
        dataset.num_classes, dataset.class_names, external_splits=splits,
    )  # fmt: skip

    job = DeviceJob(batch_size=args.batch_size, latency_batches=(1,), iterations=10)
    raw_before = raw_throughput(artifact, args.batch_size, 10.0, None)
    started = time.perf_counter()
    record = run_local(job, artifact, bundle, args.workdir / "out", progress=print)
    wall = time.perf_counter() - started
    raw_after = raw_throughput(artifact, args.batch_size, 10.0, None)
    raw = (raw_before + raw_after) / 2
    evaluation = record["evaluation"]
    loop = evaluation["images_per_second"]
    driver_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    n_generated = sum(s.size for s in splits)
    print(f"\n{args.model} ({args.weights.name}), batch {args.batch_size}")
    if present:
        print(
            f"generation: {present} files were there already; the remainder took "
            f"{gen_seconds:,.0f} s (--fresh times all {n_generated:,} images)"
        )
    else:
        print(
            f"generation (edgeprune corrupt): {n_generated:,} images in {gen_seconds:,.0f} s "
            f"({n_generated / gen_seconds:,.0f} images/s)"
        )
    print(
        f"evaluation: {evaluation['images']:,} images in {evaluation['seconds']:,.0f} s of the "
        f"accuracy pass ({wall:,.0f} s with start-up, latency timing and writing the outputs)"
    )
    print(
        f"raw ONNX Runtime session:  {raw:10,.0f} images/s (before {raw_before:,.0f}, after {raw_after:,.0f})"
    )
    print(f"evaluation loop (runner):  {loop:10,.0f} images/s")
    print(f"ratio loop / raw:          {loop / raw:10.3f}   (goal >= 0.90)")
    print("peak resident memory (goal <= 2 GB each):")
    print(f"  edgeprune corrupt:         {gen_rss / GB:6.2f} GB")
    print(f"  runner (evaluation):       {record['memory']['peak_rss_bytes'] / GB:6.2f} GB")
    print(f"  this driver (export, I/O): {driver_rss / GB:6.2f} GB")
    on_disk = sum(p.stat().st_size for p in corrupted.glob("*.npy")) / GB
    print(f"corrupted set on disk: {on_disk:.2f} GB; load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
