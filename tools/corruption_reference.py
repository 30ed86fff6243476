"""How close edgeprune's corruptions are to a published generator: the agreement table.

Given photos (default: scikit-image's sample photos) and either a published generator to
run or its stored outputs, this prints one row per corruption and severity:

- deterministic corruptions: PSNR of edgeprune's output against the generator's, pooled
  over the images, beside the PSNR of the *clean* image against the generator's (a
  reimplementation must be much closer than doing nothing), the share of identical
  values and the largest difference in levels;
- random corruptions: the set-level mean absolute difference to the clean image (MAD) of
  both, edgeprune's relative error, and that error in units of the generator's own replay
  spread (the standard deviation of its set-level MAD over repetitions with other seeds),
  with the same for the standard deviation of the difference.

A row is "ok" under the bar of ``../shared/reference/corruptions/README.md``: PSNR at least
max(clean PSNR + 6, 48) dB; MAD within max(15 %, 3 replay spreads).

Run the generator (in the Python environment where it runs; see docs/corruptions.md for the
old stack it needs) on views of the photos::

    python tools/corruption_reference.py --size 224 --images 8 --repetitions 4 \\
        --generator ~/robustness/ImageNet-C/create_c/make_imagenet_c.py \\
        --reference-python ~/venvs/imagenet-c/bin/python

or ``--generator imagecorruptions`` (that package, installed in the reference Python), or
compare with stored outputs (``clean`` plus one array per ``{corruption}_s{severity}``
key, e.g. the shared CIFAR-10-C reference)::

    python tools/corruption_reference.py --outputs ../shared/reference/corruptions/reference.npz

``--json`` writes the table; ``--save-statistics`` writes the generator's statistics in the
form the test suite checks (``tests/data/reference/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from edgeprune.data.corruptions import ALL, DETERMINISTIC, SEVERITIES, corrupt
from edgeprune.data.images import open_rgb

ROOT = Path(__file__).resolve().parents[1]
GENERATOR_SCRIPT = ROOT / "tools" / "reference_generator.py"
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "cat")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def sample_photos(folder: Path | None = None) -> list[np.ndarray]:
    """RGB photos from ``folder``, or scikit-image's bundled colour sample photos."""
    if folder is None:
        from skimage import data as sample_data

        return [getattr(sample_data, name)() for name in SAMPLE_PHOTOS]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"error: no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return [np.asarray(open_rgb(p)) for p in files]


def natural_images(
    count: int, side: int, seed: int, photos: list[np.ndarray] | None = None, max_zoom: float = 8
) -> np.ndarray:
    """``count`` side x side views of the photos, uint8 (N, side, side, 3).

    Each view is a random square crop of a random photo, of a random side between ``side``
    and ``max_zoom * side`` (bounded by the photo), resized to ``side`` with PIL's
    antialiased bilinear filter; with ``max_zoom=1`` the views are plain crops.
    """
    photos = sample_photos() if photos is None else photos
    usable = [p for p in photos if min(p.shape[:2]) >= side]
    if not usable:
        raise SystemExit(f"error: no photo is at least {side}x{side} pixels")
    rng = np.random.default_rng(seed)
    out = np.empty((count, side, side, 3), dtype=np.uint8)
    for i in range(count):
        photo = usable[rng.integers(len(usable))]
        largest = min(int(max_zoom * side), *photo.shape[:2])
        crop_side = int(rng.integers(side, largest + 1))
        top = int(rng.integers(0, photo.shape[0] - crop_side + 1))
        left = int(rng.integers(0, photo.shape[1] - crop_side + 1))
        crop = photo[top : top + crop_side, left : left + crop_side]
        if crop_side != side:
            crop = np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.BILINEAR))
        out[i] = crop
    return out


def digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def run_generator(
    generator: str,
    python: str,
    clean: np.ndarray,
    names: list[str],
    repetitions: int,
    seed: int,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Outputs of a published generator, run by ``python`` (its own environment; ``env``:
    the child's environment variables, by default this process's)."""
    with tempfile.TemporaryDirectory() as tmp:
        images, out = Path(tmp) / "clean.npz", Path(tmp) / "out.npz"
        np.savez(images, clean=clean)
        command = [
            python, str(GENERATOR_SCRIPT), "--generator", generator, "--images", str(images),
            "--out", str(out), "--corruptions", ",".join(names),
            "--repetitions", str(repetitions), "--seed", str(seed),
        ]  # fmt: skip
        done = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
            raise SystemExit(f"error: the reference generator failed: {last[0]}")
        with np.load(out) as archive:
            outputs = {key: archive[key] for key in archive.files if key != "meta"}
            meta = json.loads(str(archive["meta"]))
    return outputs, meta


def load_outputs(path: Path) -> dict[str, np.ndarray]:
    """Stored outputs; a (N, H, W, 3) key is one repetition."""
    with np.load(path) as archive:
        outputs = {key: archive[key] for key in archive.files if key != "meta"}
    if "clean" not in outputs:
        raise SystemExit(f"error: {path} has no 'clean' array")
    for key, value in outputs.items():
        if key != "clean" and value.ndim == 4:
            outputs[key] = value[None]
    return outputs


def _mad_per_image(corrupted: np.ndarray, clean: np.ndarray) -> np.ndarray:
    difference = corrupted.astype(np.float64) - clean.astype(np.float64)
    return np.abs(difference).mean(axis=(-3, -2, -1))


def _diff_std_per_image(corrupted: np.ndarray, clean: np.ndarray) -> np.ndarray:
    difference = corrupted.astype(np.float64) - clean.astype(np.float64)
    return difference.reshape(*difference.shape[:-3], -1).std(axis=-1)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def statistics(stack: np.ndarray, clean: np.ndarray) -> dict:
    """Statistics of a (repetitions, N, H, W, 3) stack of corrupted images."""
    mad = _mad_per_image(stack, clean[None])  # (repetitions, N)
    set_mad = mad.mean(axis=1)
    return {
        "mad_mean": float(set_mad.mean()),
        "diff_std_mean": float(_diff_std_per_image(stack, clean[None]).mean()),
        "mad_rep_std_set": float(set_mad.std(ddof=1)) if len(set_mad) > 1 else 0.0,
        "mean_diff": float((stack.astype(np.float64) - clean[None]).mean()),
        "identical_across_seeds": bool(all(np.array_equal(stack[0], s) for s in stack[1:])),
    }


def ours(
    clean: np.ndarray, name: str, severity: int, repetitions: int, frost: Path | None
) -> np.ndarray:
    return np.stack(
        [corrupt(clean, name, severity, seed=r, frost_textures=frost) for r in range(repetitions)]
    )


def compare(
    outputs: dict[str, np.ndarray],
    names: list[str],
    repetitions: int,
    frost: Path | None,
    reference_stats: dict | None = None,
) -> list[dict]:
    """One row per corruption and severity; see the module docstring."""
    clean = outputs["clean"]
    rows = []
    for name in names:
        for severity in SEVERITIES:
            key = f"{name}_s{severity}"
            if key not in outputs:
                continue
            reference = outputs[key]
            deterministic = (
                statistics(reference, clean)["identical_across_seeds"]
                if len(reference) > 1
                else name in DETERMINISTIC
            )
            row = {"corruption": name, "severity": severity, "deterministic": deterministic}
            if deterministic:
                mine = corrupt(clean, name, severity, seed=0, frost_textures=frost)
                diff = np.abs(mine.astype(np.int64) - reference[0])
                row.update(
                    psnr_db=_psnr(mine, reference[0]),
                    clean_psnr_db=_psnr(clean, reference[0]),
                    equal=float((diff == 0).mean()),
                    max_diff=int(diff.max()),
                )
                row["ok"] = row["psnr_db"] >= max(row["clean_psnr_db"] + 6, 48)
            else:
                theirs = statistics(reference, clean)
                if reference_stats and key in reference_stats:  # more repetitions stored
                    theirs.update(
                        {
                            k: reference_stats[key][k]
                            for k in ("mad_mean", "diff_std_mean", "mad_rep_std_set")
                        }
                    )
                mine = statistics(ours(clean, name, severity, repetitions, frost), clean)
                spread = theirs["mad_rep_std_set"]
                error = mine["mad_mean"] - theirs["mad_mean"]
                row.update(
                    reference_mad=theirs["mad_mean"],
                    mad=mine["mad_mean"],
                    mad_rel_error=error / theirs["mad_mean"],
                    replay_spreads=error / spread if spread > 0 else math.nan,
                    diff_std_rel_error=mine["diff_std_mean"] / theirs["diff_std_mean"] - 1,
                )
                row["ok"] = abs(error) <= max(0.15 * theirs["mad_mean"], 3 * spread)
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        f"{'corruption':18s} {'s':>1s}  {'kind':13s} agreement"
        "  (deterministic: PSNR vs reference | clean vs reference | identical | max diff;"
        " random: MAD ours / reference, rel. error, in replay spreads, diff-std rel. error)"
    )
    for row in rows:
        head = f"{row['corruption']:18s} {row['severity']:1d}  "
        verdict = "ok" if row["ok"] else "OFF"
        if row["deterministic"]:
            print(
                f"{head}{'deterministic':13s} {row['psnr_db']:7.1f} dB | {row['clean_psnr_db']:5.1f} dB"
                f" | {100 * row['equal']:6.2f} % | {row['max_diff']:3d}   {verdict}"
            )
        else:
            print(
                f"{head}{'random':13s} {row['mad']:6.2f} / {row['reference_mad']:6.2f}"
                f" {100 * row['mad_rel_error']:+6.1f} % {row['replay_spreads']:+7.1f}"
                f" {100 * row['diff_std_rel_error']:+6.1f} %   {verdict}"
            )
    off = [f"{r['corruption']}_s{r['severity']}" for r in rows if not r["ok"]]
    print(
        f"\n{len(rows) - len(off)} of {len(rows)} rows within the bar"
        + (f"; off: {off}" if off else "")
    )


def print_markdown(rows: list[dict]) -> None:
    """One line per corruption: the worst deterministic PSNR, or the random MAD errors."""
    print("\n| corruption | type | agreement s1..s5 | worst |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(row["corruption"] for row in rows):
        mine = [row for row in rows if row["corruption"] == name]
        if mine[0]["deterministic"]:
            psnr = [row["psnr_db"] for row in mine]
            text = ", ".join("∞" if math.isinf(p) else f"{p:.1f}" for p in psnr)
            worst = "bit-identical" if all(map(math.isinf, psnr)) else f"{min(psnr):.1f} dB"
            print(f"| {name} | deterministic | PSNR {text} dB | {worst} |")
        else:
            errors = ", ".join(f"{100 * row['mad_rel_error']:+.1f}" for row in mine)
            worst = max(mine, key=lambda row: abs(row["replay_spreads"]))
            print(
                f"| {name} | random | MAD {errors} % | {abs(worst['replay_spreads']):.1f} replay"
                f" spreads (s{worst['severity']}) |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--generator", help="make_cifar_c.py / make_imagenet_c.py path, or imagecorruptions"
    )
    source.add_argument("--outputs", type=Path, help="stored generator outputs (.npz)")
    parser.add_argument(
        "--reference-python", default=sys.executable, help="Python that runs the generator"
    )
    parser.add_argument("--photos", type=Path, help="folder of photos (default: scikit-image's)")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument(
        "--max-zoom", type=float, default=8.0, help="views: crop side up to this x size"
    )
    parser.add_argument("--repetitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corruptions", default=",".join(ALL))
    parser.add_argument(
        "--frost-textures", type=Path, help="photos for frost (default: the generator's)"
    )
    parser.add_argument(
        "--stats", type=Path, help="stats.json stored beside --outputs (replay spreads)"
    )
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--markdown", action="store_true", help="also print a summary table")
    parser.add_argument(
        "--save-statistics", type=Path, help="write the generator's statistics here"
    )
    args = parser.parse_args(argv)
    names = args.corruptions.split(",")
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        raise SystemExit(f"error: unknown corruptions {unknown}; known: {', '.join(ALL)}")

    frost = args.frost_textures
    meta: dict = {}
    if args.outputs is not None:
        outputs = load_outputs(args.outputs)
        meta["outputs"] = str(args.outputs)
    else:
        photos = sample_photos(args.photos)
        clean = natural_images(args.images, args.size, args.seed, photos, args.max_zoom)
        outputs, meta = run_generator(
            args.generator, args.reference_python, clean, names, args.repetitions, args.seed
        )
        script = Path(args.generator)
        if frost is None and script.is_file() and any(script.parent.glob("frost*")):
            frost = script.parent  # the generator's own photographs, for a like-for-like frost
    stored = json.loads(args.stats.read_text())["stats"] if args.stats else None
    rows = compare(outputs, names, args.repetitions, frost, stored)
    print_table(rows)
    if args.markdown:
        print_markdown(rows)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    if args.save_statistics:
        clean = outputs["clean"]
        saved = {
            "meta": {
                **meta,
                "size": int(clean.shape[1]),
                "images": int(len(clean)),
                "seed": args.seed,
                "max_zoom": args.max_zoom,
                "repetitions": int(outputs[next(k for k in outputs if k != "clean")].shape[0]),
                "clean_sha256": digest(clean),
                "command": "python tools/corruption_reference.py "
                + " ".join(sys.argv[1:] if argv is None else argv),
            },
            "stats": {
                key: statistics(value, clean) for key, value in outputs.items() if key != "clean"
            },
        }
        args.save_statistics.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
