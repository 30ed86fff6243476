"""Benchmark: HCC + PE-score for a CIFAR-style ResNet-18 and a "pruned" copy, two ways.

1. edgeprune's path: one batched forward of each model that also returns the last feature
   map (as the exported artifact does), closed-form Grad-CAM++ from that map and the linear
   weights, numpy metrics. ``--backend torch`` runs the forward in PyTorch,
   ``--backend onnxruntime`` exports each model with the feature map as a second output and
   runs ONNX Runtime (the deployed-artifact path on a host), ``both`` times the two.
2. The reference: pytorch-grad-cam's ``GradCAMPlusPlus`` called batch by batch on both
   models (targets: the original model's prediction), then the same numpy metrics.

Both paths explain the same class (the original model's prediction); the script checks
that their maps agree (per-map Pearson >= 0.999 on the non-constant maps) and prints the
wall-clock times and the speedup. Weights are random and seeded (nothing is downloaded);
the "pruned" model is the original with Gaussian noise added to every weight, and the
images are seeded random noise.

    PYTHONPATH=. .venv/bin/python tools/bench_explanations.py --n-images 10000
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torchvision
from torch import nn

from edgeprune.explain.closed_form import explain_from_features
from edgeprune.explain.postprocess import constant_maps
from edgeprune.metrics.explanation import hcc, hcc_per_image, pe_score

IMAGE_SIZE = 32
METHOD = "gradcam++"


def cifar_resnet18(seed: int) -> nn.Module:
    """torchvision ResNet-18 for 32x32 inputs: 3x3 stride-1 stem, no max-pool, 10 classes."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    # batch-norm statistics from random data, so that activations stay in a sane range
    generator = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(64, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator))
    return model.eval()


def perturbed_copy(model: nn.Module, relative_noise: float, seed: int) -> nn.Module:
    """The stand-in for a pruned model: every weight plus noise of ``relative_noise`` * its std."""
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in other.named_parameters():
            if name.endswith("weight") and parameter.ndim > 1:
                noise = torch.randn(parameter.shape, generator=generator)
                parameter.add_(relative_noise * parameter.std() * noise)
    return other.eval()


class LogitsAndFeatures(nn.Module):
    """The model with the last feature map (input of global average pooling) as second output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        features = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return m.fc(torch.flatten(m.avgpool(features), 1)), features


Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def torch_runner(model: nn.Module) -> Runner:
    # channels-last is the faster convolution layout for CPU inference (about 25 % here)
    wrapped = LogitsAndFeatures(copy.deepcopy(model)).eval().to(memory_format=torch.channels_last)

    def run(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            batch = torch.from_numpy(images).contiguous(memory_format=torch.channels_last)
            logits, features = wrapped(batch)
        return logits.numpy(), np.ascontiguousarray(features.numpy())

    return run


def onnxruntime_runner(model: nn.Module) -> Runner:
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LogitsAndFeatures(model).eval(),
            torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),
            buffer,
            input_names=["images"],
            output_names=["logits", "features"],
            dynamic_axes={"images": {0: "n"}, "logits": {0: "n"}, "features": {0: "n"}},
            dynamo=False,
        )
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])

    def run(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, features = session.run(None, {"images": images})
        return logits, features

    return run


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def metrics(
    maps_o: np.ndarray,
    maps_p: np.ndarray,
    probs_o: np.ndarray,
    probs_p: np.ndarray,
    classes: np.ndarray,
) -> dict:
    rows = np.arange(len(classes))
    return {
        "hcc": hcc(maps_o, maps_p),
        "pe": pe_score(maps_o, maps_p, probs_o[rows, classes], probs_p[rows, classes], classes),
    }


ChunkResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Maps of the original and the pruned model, then their logits, for a chunk of images."""


def edgeprune_processor(
    original: nn.Module, pruned: nn.Module, make_runner: Callable[[nn.Module], Runner]
) -> Callable[[np.ndarray], ChunkResult]:
    """One batched forward of each model returning the feature map, closed-form Grad-CAM++."""
    run_o, run_p = make_runner(original), make_runner(pruned)
    fc_o = original.fc.weight.detach().numpy()
    fc_p = pruned.fc.weight.detach().numpy()
    size = (IMAGE_SIZE, IMAGE_SIZE)

    def process(images: np.ndarray) -> ChunkResult:
        logits_o, features_o = run_o(images)
        logits_p, features_p = run_p(images)
        classes = logits_o.argmax(axis=1)  # both models explain the original's prediction
        maps_o = explain_from_features(features_o, fc_o, classes, METHOD, size).maps
        maps_p = explain_from_features(features_p, fc_p, classes, METHOD, size).maps
        return maps_o, maps_p, logits_o, logits_p

    return process


def grad_cam_processor(
    original: nn.Module, pruned: nn.Module, batch_size: int, stack: contextlib.ExitStack
) -> Callable[[np.ndarray], ChunkResult]:
    """pytorch-grad-cam's GradCAMPlusPlus, called per batch of ``batch_size`` on both models."""
    from pytorch_grad_cam import GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_o = stack.enter_context(GradCAMPlusPlus(original, [original.layer4]))
    cam_p = stack.enter_context(GradCAMPlusPlus(pruned, [pruned.layer4]))

    def process(images: np.ndarray) -> ChunkResult:
        parts: list[ChunkResult] = []
        for begin in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[begin : begin + batch_size])
            maps_o = cam_o(input_tensor=batch, targets=None)  # targets: its own prediction
            logits_o = cam_o.outputs.detach().numpy()
            targets = [ClassifierOutputTarget(int(c)) for c in logits_o.argmax(axis=1)]
            maps_p = cam_p(input_tensor=batch, targets=targets)
            parts.append((maps_o, maps_p, logits_o, cam_p.outputs.detach().numpy()))
        return tuple(np.concatenate(column) for column in zip(*parts))

    return process


def run_interleaved(
    processors: dict[str, Callable[[np.ndarray], ChunkResult]], images: np.ndarray, chunk: int
) -> dict[str, dict]:
    """Run every path on the same chunk in turn, then the metrics; time each path.

    Interleaving chunk by chunk means that load from other processes on a shared machine
    falls on all paths alike, so the ratio of the times stays meaningful.
    """
    seconds = dict.fromkeys(processors, 0.0)
    outputs: dict[str, list[ChunkResult]] = {name: [] for name in processors}
    for begin in range(0, len(images), chunk):
        batch = images[begin : begin + chunk]
        for name, process in processors.items():
            start = time.perf_counter()
            outputs[name].append(process(batch))
            seconds[name] += time.perf_counter() - start

    results = {}
    for name in processors:
        start = time.perf_counter()
        maps_o, maps_p, logits_o, logits_p = (np.concatenate(c) for c in zip(*outputs[name]))
        classes = logits_o.argmax(axis=1)
        scores = metrics(maps_o, maps_p, softmax(logits_o), softmax(logits_p), classes)
        metric_seconds = time.perf_counter() - start
        results[name] = {
            "seconds": seconds[name] + metric_seconds,
            "metric_seconds": metric_seconds,
            "maps": (maps_o, maps_p),
            "classes": classes,
            **scores,
        }
    return results


def map_agreement(ours: np.ndarray, reference: np.ndarray) -> dict:
    """Per-map Pearson between the two paths' maps of the same model, non-constant maps only."""
    ours_constant, reference_constant = constant_maps(ours), constant_maps(reference)
    correlation = hcc_per_image(ours, reference)
    defined = correlation[~np.isnan(correlation)]
    return {
        "min_correlation": float(defined.min()) if defined.size else float("nan"),
        "n_constant": int(ours_constant.sum()),
        "constant_sets_equal": bool(np.array_equal(ours_constant, reference_constant)),
        "max_abs_difference": float(np.abs(ours - reference).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-images", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=64, help="grad-cam batch size")
    parser.add_argument("--chunk-size", type=int, default=256, help="edgeprune forward chunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--noise", type=float, default=0.1, help="weight noise of the 'pruned' copy"
    )
    parser.add_argument("--backend", choices=["torch", "onnxruntime", "both"], default="torch")
    args = parser.parse_args()

    original = cifar_resnet18(args.seed)
    pruned = perturbed_copy(original, args.noise, args.seed + 2)
    images = np.random.default_rng(args.seed + 3).standard_normal(
        (args.n_images, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32
    )
    print(
        f"{args.n_images} images {IMAGE_SIZE}x{IMAGE_SIZE}, ResNet-18 (CIFAR stem), layer4, "
        f"{METHOD}, torch threads {torch.get_num_threads()}, seed {args.seed}"
    )

    backends = ["torch", "onnxruntime"] if args.backend == "both" else [args.backend]
    runners = {"torch": torch_runner, "onnxruntime": onnxruntime_runner}
    with contextlib.ExitStack() as stack:
        processors = {
            f"edgeprune-{b}": edgeprune_processor(original, pruned, runners[b]) for b in backends
        }
        processors["grad-cam"] = grad_cam_processor(original, pruned, args.batch_size, stack)
        results = run_interleaved(processors, images, args.chunk_size)
    reference = results.pop("grad-cam")

    print(
        f"grad-cam GradCAMPlusPlus per batch of {args.batch_size}: {reference['seconds']:.1f} s "
        f"(metrics {reference['metric_seconds']:.1f} s)  HCC {reference['hcc']['hcc']:.4f}  "
        f"PE {reference['pe']['pe_score']:.4f}"
    )
    for name, result in results.items():
        assert np.array_equal(result["classes"], reference["classes"]), "explained classes differ"
        agreement = [map_agreement(o, r) for o, r in zip(result["maps"], reference["maps"])]
        print(
            f"{name} closed form, chunks of {args.chunk_size}: {result['seconds']:.1f} s "
            f"(metrics {result['metric_seconds']:.1f} s)  HCC {result['hcc']['hcc']:.4f}  "
            f"PE {result['pe']['pe_score']:.4f}  "
            f"speedup {reference['seconds'] / result['seconds']:.1f}x"
        )
        for model_name, check in zip(("original", "pruned"), agreement):
            print(
                f"  maps vs grad-cam, {model_name}: min Pearson {check['min_correlation']:.10f}, "
                f"max |diff| {check['max_abs_difference']:.2e}, constant maps "
                f"{check['n_constant']} (same set: {check['constant_sets_equal']})"
            )
            if not (check["min_correlation"] >= 0.999 and check["constant_sets_equal"]):
                raise SystemExit(f"maps of the {model_name} model disagree with grad-cam")
    summary = reference["hcc"]
    print(
        f"HCC n={summary['n']} defined={summary['n_defined']} median={summary['median']:.4f} "
        f"std={summary['std']:.4f} p05={summary['p05']:.4f} p95={summary['p95']:.4f}"
    )
    pe = reference["pe"]
    print(
        f"PE mean S={pe['mean_ssim']:.4f} mean I={pe['mean_iou']:.4f} "
        f"mean dC={pe['mean_confidence_change']:.4f} classes={pe['class_counts']}"
    )


if __name__ == "__main__":
    main()
