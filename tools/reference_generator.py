"""Run a published corruption generator on given images, in *its own* Python environment.

This script is the half of ``tools/corruption_reference.py`` (and of
``tools/bench_corruptions.py --reference``) that runs beside the published code. It imports
nothing of edgeprune and only what the generator itself needs, so it runs under the old
stack the generator was written for (the published generators need numpy < 2, old
scikit-image and, for motion blur, ImageMagick through Wand; see docs/corruptions.md).

Generators:

- a path to ``make_cifar_c.py`` or ``make_imagenet_c.py`` (hendrycks/robustness,
  ImageNet-C/create_c): the text between its "Distortion Helpers" and "End Distortions"
  markers is executed (the dataset loop and model code around it are not), in the
  script's own folder so that its frost photographs are found. Each corruption gets the
  clean image as an RGB PIL image, as the generator's dataset loop passes it, and its
  result is stored as the generator saves it: ``np.uint8`` of the returned array, which
  truncates the (already clipped) float values toward zero;
- ``imagecorruptions``: the package's ``corrupt(image, corruption_name=, severity=)``.

Random corruptions draw from numpy's global generator, seeded with ``seed + repetition``
before each (corruption, severity) pass, so a repetition is a replay of the generator with
another seed (but for impulse_noise: scikit-image's ``random_noise`` draws from a generator
of its own that this seed does not reach, so those keys change from one run to the next). The output archive holds ``clean``, one array (repetitions, N, H, W, 3) per
``{corruption}_s{severity}`` key, and ``meta`` (JSON text: generator, versions and the
seconds each corruption took per image, over its five severities).

    <reference python> tools/reference_generator.py --generator PATH --images in.npz \\
        --out out.npz [--repetitions 4] [--corruptions a,b] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

SEVERITIES = (1, 2, 3, 4, 5)
START_MARKER = "# /////////////// Distortion Helpers ///////////////"
END_MARKER = "# /////////////// End Distortions ///////////////"


def _load_script_corruptions(script: Path) -> dict:
    """The corruption functions of a hendrycks/robustness ``make_*_c.py`` script."""
    text = script.read_text(encoding="utf-8")
    if START_MARKER not in text or END_MARKER not in text:
        sys.exit(f"error: {script} has no '{START_MARKER}' ... '{END_MARKER}' section")
    section = text[text.index(START_MARKER) : text.index(END_MARKER)]
    namespace = {"np": np, "Image": Image, "os": os, "__name__": "reference_generator"}
    os.chdir(script.parent)  # the frost photographs are opened by relative paths
    exec(compile(section, str(script), "exec"), namespace)  # noqa: S102 (the reference's code)
    return {name: value for name, value in namespace.items() if callable(value)}


def _script_runner(functions: dict, name: str):
    function = functions.get(name)
    if function is None:
        sys.exit(f"error: the generator has no corruption named {name!r}")

    def run(image: np.ndarray, severity: int) -> np.ndarray:
        result = function(Image.fromarray(image), severity)
        return np.uint8(np.asarray(result))  # the generator's saving step: truncation

    return run


def _imagecorruptions_runner(name: str):
    from imagecorruptions import corrupt

    def run(image: np.ndarray, severity: int) -> np.ndarray:
        return np.asarray(corrupt(image, corruption_name=name, severity=severity), np.uint8)

    return run


def _versions(generator: str) -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for module in ("scipy", "skimage", "cv2", "PIL", "wand", "imagecorruptions"):
        try:
            versions[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            continue
    versions["generator"] = generator
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", required=True)
    parser.add_argument("--images", type=Path, required=True, help="npz with 'clean' (N,H,W,3)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corruptions", required=True, help="comma-separated names")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clean = np.load(args.images)["clean"]
    out_path = args.out.resolve()
    names = args.corruptions.split(",")

    if args.generator == "imagecorruptions":
        runners = {name: _imagecorruptions_runner(name) for name in names}
    else:
        functions = _load_script_corruptions(Path(args.generator).resolve())
        runners = {name: _script_runner(functions, name) for name in names}

    arrays = {"clean": clean}
    seconds_per_image = {}
    for name in names:
        elapsed = 0.0
        for severity in SEVERITIES:
            stack = np.empty((args.repetitions, *clean.shape), dtype=np.uint8)
            for repetition in range(args.repetitions):
                np.random.seed(args.seed + repetition)
                start = time.perf_counter()
                for index, image in enumerate(clean):
                    stack[repetition, index] = runners[name](image, severity)
                elapsed += time.perf_counter() - start
            arrays[f"{name}_s{severity}"] = stack
        seconds_per_image[name] = elapsed / (args.repetitions * len(clean))
        print(f"{name}: {1000 * seconds_per_image[name] / len(SEVERITIES):.2f} ms per image")
    meta = {"versions": _versions(args.generator), "seconds_per_image": seconds_per_image}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(out_path, **arrays)


if __name__ == "__main__":
    main()
