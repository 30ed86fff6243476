"""Benchmark: the 19 corruptions x 5 severities, batched, against baselines measured in the run.

Images are views of scikit-image's bundled colour photos (``tools/corruption_reference.py``'s
``natural_images``: random square crops resized to ``--size``); nothing is downloaded. The
script times

1. ``edgeprune.data.corruptions.corrupt`` on the whole batch of ``--n-images`` for every
   corruption and severity (images/s and ms per image per corruption, and the total);
2. a named baseline in the same run: the same corruptions one image at a time
   (``corrupt`` on a batch of 1 in a Python loop) over ``--baseline-images`` images;
3. with ``--generator`` (a path to make_cifar_c.py / make_imagenet_c.py, or
   ``imagecorruptions``) and ``--reference-python`` (the old-stack Python it runs in, see
   docs/corruptions.md), the published generator itself on ``--reference-images`` of the same
   images, one image per call as it works, through ``tools/reference_generator.py``; the
   ratio per corruption is its time per image over ours.

Frost. The generator crops its frost photographs (``frost1.png`` ... next to the script);
edgeprune does the same with ``--frost-textures`` and synthesises textures without it. So
with a generator script, or with ``--frost-textures``, the ``frost`` row times the same
operation as the generator's (crops of those photographs), and an extra row
``frost (procedural)`` times the default synthesis, which the generator has no
counterpart for (its ratio is against the generator's photo crops).

    PYTHONPATH=. .venv/bin/python tools/bench_corruptions.py --n-images 10000
    PYTHONPATH=. .venv/bin/python tools/bench_corruptions.py --size 224 --n-images 256 \
        --generator ~/robustness/ImageNet-C/create_c/make_imagenet_c.py \
        --reference-python ~/venvs/imagenet-c/bin/python --reference-images 8
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edgeprune.allocator import environment as allocator_environment
from edgeprune.allocator import keep_freed_memory
from edgeprune.data.corruptions import ALL, SEVERITIES, corrupt


def _reference_tool():
    path = Path(__file__).resolve().parent / "corruption_reference.py"
    spec = importlib.util.spec_from_file_location("corruption_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


PROCEDURAL_FROST = "frost (procedural)"


def time_batched(
    images: np.ndarray, names: list[str], seed: int, frost_textures: Path | None
) -> dict[str, float]:
    """Seconds per corruption for all five severities over the whole batch."""
    seconds = {}
    for name, textures in _timed(names, frost_textures):
        start = time.perf_counter()
        for severity in SEVERITIES:
            corrupt(images, name, severity, seed=seed, frost_textures=textures)
        seconds[_row(name, textures, frost_textures)] = time.perf_counter() - start
    return seconds


def time_per_image(
    images: np.ndarray, names: list[str], seed: int, frost_textures: Path | None
) -> dict[str, float]:
    """Seconds per corruption for all five severities, one image per call."""
    seconds = {}
    for name, textures in _timed(names, frost_textures):
        start = time.perf_counter()
        for severity in SEVERITIES:
            for index in range(len(images)):
                corrupt(
                    images[index : index + 1], name, severity, seed=seed, first_index=index,
                    frost_textures=textures,
                )  # fmt: skip
        seconds[_row(name, textures, frost_textures)] = time.perf_counter() - start
    return seconds


def _timed(names: list[str], frost_textures: Path | None) -> list[tuple[str, Path | None]]:
    """(corruption, frost texture folder) to time: frost once more, procedural, with photos."""
    runs = [(name, frost_textures if name == "frost" else None) for name in names]
    if frost_textures is not None and "frost" in names:
        runs.append(("frost", None))
    return runs


def _row(name: str, textures: Path | None, frost_textures: Path | None) -> str:
    return PROCEDURAL_FROST if name == "frost" and frost_textures and not textures else name


def _frost_photos(generator: str | None, given: Path | None) -> Path | None:
    """The frost photographs: given, or those next to a generator script."""
    if given is not None or not generator or generator == "imagecorruptions":
        return given
    folder = Path(generator).resolve().parent
    return folder if any(folder.glob("frost*.*")) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=10000)
    parser.add_argument(
        "--size", type=int, default=32, help="image side (32: CIFAR, 224: ImageNet)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--corruptions", nargs="+", default=list(ALL), choices=list(ALL), metavar="NAME",
        help="corruptions to time (default: all 19)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline-images", type=int, default=200,
        help="images for the one-image-at-a-time baseline",
    )  # fmt: skip
    parser.add_argument("--generator", help="published generator to time (see the docstring)")
    parser.add_argument("--reference-python", default=sys.executable)
    parser.add_argument("--reference-images", type=int, default=100)
    parser.add_argument(
        "--frost-textures", type=Path,
        help="frost photographs for the frost row (default: those next to a generator script)",
    )  # fmt: skip
    parser.add_argument(
        "--glibc-defaults", action="store_true",
        help="time both sides with glibc's malloc defaults instead of edgeprune's setting",
    )  # fmt: skip
    args = parser.parse_args()
    names = args.corruptions
    n = args.n_images
    reference = _reference_tool()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} "
        f"(other processes slow the wall-clock figures); numpy {np.__version__}"
    )
    # edgeprune's CLI keeps freed memory (edgeprune/allocator.py); the generator's process
    # gets the same setting, so the ratio compares the code, not the allocator
    child_env = dict(os.environ)
    if args.glibc_defaults:
        print("allocator: glibc's defaults on both sides")
    else:
        kept = keep_freed_memory()
        child_env.update(allocator_environment())
        print(
            f"allocator: freed memory kept on both sides ({'set' if kept else 'not glibc: unchanged'})"
        )
    images = reference.natural_images(n, args.size, args.seed)
    side = f"{args.size}x{args.size}"
    print(f"{n} natural {side} images; {len(names)} corruptions x {len(SEVERITIES)} severities\n")

    photos = _frost_photos(args.generator, args.frost_textures)
    if photos is not None and "frost" in names:
        print(f"frost: crops of the photographs in {photos}; '{PROCEDURAL_FROST}': synthesised\n")
    cpu_start = time.process_time()
    batched = time_batched(images, names, args.seed, photos)
    batched_cpu = time.process_time() - cpu_start
    subset = images[: min(args.baseline_images, n)]
    looped = time_per_image(subset, names, args.seed, photos)
    published = {}
    if args.generator:
        few = images[: min(args.reference_images, n)]
        _, meta = reference.run_generator(
            args.generator, args.reference_python, few, names, 1, args.seed, env=child_env
        )
        published = meta["seconds_per_image"]  # over the five severities, per image

    def ms(seconds: float, count: int) -> float:  # per image and severity
        return 1000 * seconds / (count * len(SEVERITIES))

    head = f"{'corruption':20s} {'batched ms':>11s} {'per-image ms':>13s} {'speedup':>8s}"
    print(head + (f" {'generator ms':>13s} {'ratio':>7s}" if published else ""))
    for row in batched:
        ours = ms(batched[row], n)
        line = f"{row:20s} {ours:11.3f} {ms(looped[row], len(subset)):13.3f}"
        line += f" {ms(looped[row], len(subset)) / ours:7.1f}x"
        if published:
            theirs = 1000 * published["frost" if row == PROCEDURAL_FROST else row] / len(SEVERITIES)
            line += f" {theirs:13.3f} {theirs / ours:6.1f}x"
        print(line)

    # the suite's total counts each corruption once (frost as the generator does it)
    total = sum(seconds for row, seconds in batched.items() if row != PROCEDURAL_FROST)
    print(
        f"\nbatched total: {total:.1f} s wall ({batched_cpu:.1f} s process CPU) "
        f"for {len(names)} x {len(SEVERITIES)} over {n} images"
    )
    baseline_total = sum(t for row, t in looped.items() if row != PROCEDURAL_FROST)
    baseline_total *= n / len(subset)
    print(
        f"baseline (measured, same code one image per call, {len(subset)} images extrapolated): "
        f"{baseline_total:.1f} s; speedup {baseline_total / total:.1f}x"
    )
    if published:
        generator_total = sum(published[name] for name in names) * n
        print(
            f"published generator (measured, {args.generator}, {min(args.reference_images, n)} "
            f"images, extrapolated): {generator_total:.1f} s; ratio {generator_total / total:.1f}x"
        )


if __name__ == "__main__":
    main()
