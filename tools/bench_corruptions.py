"""Benchmark: the 19 corruptions x 5 severities over N CIFAR-size images, batched.

Images are random square crops (side 64..256 pixels) of scikit-image's bundled colour
sample photos, resized to 32x32 with PIL's antialiased bilinear filter; nothing is
downloaded. The script

1. times ``edgeprune.data.corruptions.corrupt`` on the whole batch for every corruption
   and severity, and prints images/s per corruption and the total time;
2. measures a named baseline in the same run: the same corruptions applied one image at
   a time (``corrupt`` on a batch of 1 in a Python loop) over ``--baseline-images``
   images, extrapolated linearly to N, and prints the speedup;
3. prints, as a *quoted* figure and not a measurement, the time of the published
   per-image generator (hendrycks/robustness make_cifar_c.py, which does not run on
   current packages): 35-50 ms per 32x32 image for one pass over all corruptions on this
   machine class, and the ratio of that to the measured batched time.

    PYTHONPATH=. .venv/bin/python tools/bench_corruptions.py --n-images 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from PIL import Image
from skimage import data as sample_data

from edgeprune.data.corruptions import ALL, SEVERITIES, corrupt

IMAGE_SIDE = 32
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "cat")
# Quoted, not measured: the published per-image generator, one pass over all corruptions.
QUOTED_GENERATOR_MS_PER_IMAGE_PASS = (35.0, 50.0)


def natural_images(count: int, seed: int) -> np.ndarray:
    """``count`` 32x32 RGB crops of scikit-image's sample photos, uint8 (N, 32, 32, 3)."""
    rng = np.random.default_rng(seed)
    photos = [getattr(sample_data, name)() for name in SAMPLE_PHOTOS]
    out = np.empty((count, IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    for i in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(64, min(257, *photo.shape[:2])))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side])
        out[i] = np.asarray(crop.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR))
    return out


def time_batched(images: np.ndarray, names: list[str], seed: int) -> dict[str, float]:
    """Seconds per corruption for all five severities over the whole batch."""
    seconds = {}
    for name in names:
        start = time.perf_counter()
        for severity in SEVERITIES:
            corrupt(images, name, severity, seed=seed)
        seconds[name] = time.perf_counter() - start
    return seconds


def time_per_image(images: np.ndarray, names: list[str], seed: int) -> dict[str, float]:
    """Seconds per corruption for all five severities, one image per call."""
    seconds = {}
    for name in names:
        start = time.perf_counter()
        for severity in SEVERITIES:
            for index in range(len(images)):
                corrupt(images[index : index + 1], name, severity, seed=seed, first_index=index)
        seconds[name] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--corruptions", nargs="+", default=list(ALL), choices=list(ALL), metavar="NAME",
        help="corruptions to time (default: all 19)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline-images", type=int, default=200,
        help="images for the one-image-at-a-time baseline, extrapolated to --n-images",
    )  # fmt: skip
    args = parser.parse_args()
    names = args.corruptions
    n = args.n_images

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} "
        f"(other processes slow the wall-clock figures); numpy {np.__version__}"
    )
    images = natural_images(n, args.seed)
    print(f"{n} natural 32x32 images; {len(names)} corruptions x {len(SEVERITIES)} severities\n")

    cpu_start = time.process_time()
    batched = time_batched(images, names, args.seed)
    batched_cpu = time.process_time() - cpu_start
    subset = images[: min(args.baseline_images, n)]
    looped = time_per_image(subset, names, args.seed)
    scale = n / len(subset)

    print(f"{'corruption':20s} {'batched img/s':>14s} {'per-image img/s':>16s} {'speedup':>8s}")
    for name in names:
        batched_rate = n * len(SEVERITIES) / batched[name]
        looped_rate = len(subset) * len(SEVERITIES) / looped[name]
        print(
            f"{name:20s} {batched_rate:14,.0f} {looped_rate:16,.0f} {batched_rate / looped_rate:7.1f}x"
        )

    total = sum(batched.values())
    baseline_total = sum(looped.values()) * scale
    passes = len(names) * len(SEVERITIES) / len(ALL)  # passes over all corruptions per image
    print(
        f"\nbatched total: {total:.1f} s wall ({batched_cpu:.1f} s process CPU) "
        f"for {len(names)} x {len(SEVERITIES)} over {n} images"
    )
    print(
        f"baseline (measured, same code one image per call, {len(subset)} images extrapolated): "
        f"{baseline_total:.1f} s; speedup {baseline_total / total:.1f}x"
    )
    low, high = (ms / 1000 * n * passes for ms in QUOTED_GENERATOR_MS_PER_IMAGE_PASS)
    print(
        f"published per-image generator (QUOTED, not measured: "
        f"{QUOTED_GENERATOR_MS_PER_IMAGE_PASS[0]:.0f}-{QUOTED_GENERATOR_MS_PER_IMAGE_PASS[1]:.0f} ms "
        f"per image per pass over all corruptions): {low:.0f}-{high:.0f} s; "
        f"ratio {low / total:.0f}-{high / total:.0f}x"
    )


if __name__ == "__main__":
    main()
