"""The three pruning studies, reproduced on CIFAR-10 with the checkpoints users download,
on the deployed artifact (ONNX Runtime), resumable, and written up as a page.

Each part is a plain ``edgeprune compress`` run the reader could type (``--plan`` prints
them); a finished candidate is never recomputed, so an interrupted study is resumed by
running the same command again. Afterwards ``analyse`` reads the run directories and writes
``docs/studies/cifar10.md`` with its figures (PNG beside it): for each claim of Mitra et al.
2024, Mantowsky et al. 2023 and Pachon et al. 2023, what the paper reports, what edgeprune
measured on the ONNX artifact, and whether the trend agrees.

The checkpoints (akamaster/pytorch_resnet_cifar10) were trained on the lossless CIFAR-10;
the shared images are JPEG copies, on which ResNet-20 loses about 10 points. So the first
run of each network adapts the downloaded checkpoint to the JPEG training images with a
short recorded fine-tune (``--adapt-epochs``), and that adapted model is the unpruned model
of every run of the network (the later runs load it from the first run's baseline). The
checkpoint as downloaded is measured too (step ``downloaded``: its ONNX artifact through
``edgeprune evaluate`` and its PyTorch outputs).

    python tools/study_cifar10.py --data ~/.cache/edgeprune-data/cifar10 \\
        --weights-dir ../shared/data/weights --runs runs/study-cifar10      # everything
    python tools/study_cifar10.py ... --only analyse                      # the page again
    python tools/study_cifar10.py ... --plan                              # the commands
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "studies"
CHECKPOINTS = {"resnet20": "resnet20-12fca82f.th", "resnet56": "resnet56-4bfd9763.th"}
RATIOS = "0.1,0.3,0.5,0.7,0.9"

# The recipe every run shares (recorded in each run.toml). round-to 1: the nominal ratio is
# the one applied (a multiple of 8 would leave 16-channel layers unpruned at 0.1 and 0.3).
COMMON = [
    "--target", "jetson-orin-nano", "--round-to", "1", "--normalize", "imagenet",
    "--corruptions", "generate:1000", "--explain-images", "1000",
    "--batch-size", "128", "--finetune-epochs", "2", "--finetune-lr", "0.02",
    "--train-images", "20000", "--seed", "0",
    "--latency-iterations", "50", "--latency-batch", "64",
]  # fmt: skip
ADAPTATION = ["--adapt-epochs", "2", "--adapt-lr", "0.01"]


@dataclass(frozen=True)
class Part:
    name: str
    model: str
    method: str
    ratios: str = RATIOS
    adapts: bool = False  # the first run of a network: adapts the downloaded checkpoint
    extra: tuple[str, ...] = field(default_factory=tuple)


PARTS = (
    # Mitra et al.: unstructured global magnitude, structured L1 filter, network slimming
    Part("resnet20-l1-filter", "resnet20", "l1-filter", adapts=True),
    Part("resnet20-unstructured-global", "resnet20", "unstructured-global"),
    Part("resnet20-bn-slimming", "resnet20", "bn-slimming", extra=("--sparsity-epochs", "1")),
    # Mantowsky et al.: HRank at 50 % and 70 % (and around them for the HCC correlation)
    Part("resnet20-hrank", "resnet20", "hrank", ratios="0.3,0.5,0.7"),
    # the deeper network, for the structured / unstructured contrast
    Part("resnet56-l1-filter", "resnet56", "l1-filter", adapts=True),
    Part("resnet56-unstructured-global", "resnet56", "unstructured-global"),
)


def compress_command(part: Part, args: argparse.Namespace) -> list[str]:
    first = next(p for p in PARTS if p.model == part.model and p.adapts)
    if part.adapts:
        weights = [*("--weights", str(args.weights_dir / CHECKPOINTS[part.model])), *ADAPTATION]
    else:  # the adapted model of the network's first run, as it is
        weights = ["--weights", str(args.runs / first.name / "baseline" / "model.pt")]
    return [
        "edgeprune", "compress", "--model", part.model, *weights,
        "--data", f"cifar10:{args.data}", "--method", part.method, "--ratios", part.ratios,
        *COMMON, *part.extra, "--out", str(args.runs / part.name),
    ]  # fmt: skip


def run_logged(command: list[str], log: Path, timings: Path, step: str) -> None:
    """Run ``command`` (edgeprune through this interpreter), its output to ``log`` and the
    terminal, and add its wall time to ``timings`` (a resumed step adds a session)."""
    argv = (
        [sys.executable, "-m", "edgeprune.cli", *command[1:]]
        if command[0] == "edgeprune"
        else command
    )
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {shlex.join(command)}\n")
        out.flush()
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            sys.stdout.write(line)
        code = process.wait()
    record = json.loads(timings.read_text()) if timings.exists() else {}
    record.setdefault(step, []).append(round(time.perf_counter() - started, 1))
    timings.write_text(json.dumps(record, indent=1) + "\n")
    if code != 0:
        raise SystemExit(f"error: step {step} failed with exit {code}; see {log}")


def downloaded_step(args: argparse.Namespace) -> None:
    """The checkpoints as downloaded: ONNX artifact through ``edgeprune evaluate`` on the first
    run's bundle, PyTorch outputs here, and their top-1 agreement."""
    import torch

    from edgeprune.data.datasets import load_dataset, with_normalization
    from edgeprune.export import ExportSettings, export_onnx
    from edgeprune.files import read_json, write_json
    from edgeprune.inference import Normalizer, predict_logits
    from edgeprune.metrics.calibration import expected_calibration_error
    from edgeprune.metrics.classification import softmax
    from edgeprune.models import ModelSpec, create_model, load_weights
    from edgeprune.targets.bundle import CLEAN, EvalBundle

    dataset = with_normalization(load_dataset(f"cifar10:{args.data}"), "imagenet")
    for model_name, checkpoint in CHECKPOINTS.items():
        folder = args.runs / f"downloaded-{model_name}"
        result_file = folder / "downloaded.json"
        first = next(p for p in PARTS if p.model == model_name and p.adapts)
        if result_file.exists() or not (args.runs / first.name / "bundle").is_dir():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        model = create_model(ModelSpec(model_name, 10))
        load_weights(model, args.weights_dir / checkpoint, model_name).eval()
        artifact = folder / "model.onnx"
        export_onnx(model, artifact, (3, 32, 32), ExportSettings())
        run_logged(
            ["edgeprune", "evaluate", str(artifact), "--bundle", str(args.runs / first.name / "bundle"),
             "--target", "jetson-orin-nano", "--out", str(folder / "evaluate")],
            args.runs / f"downloaded-{model_name}.log", args.runs / "timings.json", f"downloaded-{model_name}",
        )  # fmt: skip
        torch.set_num_threads(os.cpu_count() or 1)
        normalize = Normalizer(dataset.mean, dataset.std)
        bundle = EvalBundle(args.runs / first.name / "bundle")  # the images ONNX was given
        images, labels = np.asarray(bundle.images(CLEAN)), np.asarray(bundle.labels(CLEAN))
        logits = predict_logits(model, images, normalize)
        metrics = read_json(folder / "evaluate" / "metrics.json")
        with np.load(folder / "evaluate" / "device" / "outputs.npz") as outputs:
            onnx_top1 = outputs["logits/clean"].argmax(1)
        write_json(result_file, {
            "checkpoint": checkpoint,
            "pytorch": {
                "accuracy": float((logits.argmax(1) == labels).mean()),
                "ece": expected_calibration_error(softmax(logits), labels),
            },
            "onnx": {
                "accuracy": metrics["quality"]["accuracy"],
                "ece": metrics["quality"]["calibration"]["ece"],
                "mPC": metrics["quality"]["corruption"]["mPC"],
            },
            "top1_agreement": float((onnx_top1 == logits.argmax(1)).mean()),
        })  # fmt: skip


def pe_selection_step(args: argparse.Namespace) -> None:
    """Pachon et al.'s PE-guided rate choice on the uniform L1 runs, kept beside the run."""
    for part in PARTS:
        if part.method != "l1-filter":
            continue
        out = args.runs / f"{part.name}-pe-selection"
        if (out / "selection.json").exists():
            continue
        run_logged(
            ["edgeprune", "select", str(args.runs / part.name), "--by", "pe", "--out", str(out)],
            args.runs / f"{part.name}.log", args.runs / "timings.json", f"{part.name}-pe-selection",
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="prepared CIFAR-10 folder")
    parser.add_argument("--weights-dir", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=Path("runs/study-cifar10"))
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument(
        "--only", default="", help="comma-separated parts (names, downloaded, pe, analyse)"
    )
    parser.add_argument("--plan", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args()
    args.data, args.weights_dir = args.data.expanduser().resolve(), args.weights_dir.resolve()
    args.runs = args.runs.resolve()
    only = {s for s in args.only.split(",") if s}
    if args.plan:
        for part in PARTS:
            print(shlex.join(compress_command(part, args)))
        return
    args.runs.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        if only and part.name not in only:
            continue
        run_logged(
            compress_command(part, args), args.runs / f"{part.name}.log",
            args.runs / "timings.json", part.name,
        )  # fmt: skip
    if not only or "downloaded" in only:
        downloaded_step(args)
    if not only or "pe" in only:
        pe_selection_step(args)
    if not only or "analyse" in only:
        from study_cifar10_page import write_page  # the analysis, beside this script

        write_page(args.runs, args.docs, PARTS, COMMON, ADAPTATION, machine())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
