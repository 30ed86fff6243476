"""PyTorch -> ONNX, with the CAM feature map as a second output where the head allows it.

For a head of global average pooling + linear, logits = W . mean_ij(A) + b for the last
feature map A, so CAM / Grad-CAM / Grad-CAM++ follow in closed form from A and W: the
exported artifact returns A as ``features`` and the maps describe what the artifact
computes. The head is recognised numerically (the identity above must hold on random
inputs), not by architecture name, so it works for a user's own models too.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.files import atomic_path

INPUT_NAME = "input"
LOGITS = "logits"
FEATURES = "features"


# Graph clean-up tools after export (optional packages: pip install onnxslim / onnxsim).
CLEANUP_TOOLS = ("none", "onnxslim", "onnxsim")


@dataclass(frozen=True)
class ExportSettings:
    opset: int = 17
    dynamic_batch: bool = True
    feature_output: bool = True  # add the CAM feature map when the head is GAP + linear
    cleanup: str = "none"  # one of CLEANUP_TOOLS


@dataclass(frozen=True)
class CamHead:
    """Where the closed-form CAM reads from: a layer's output map and the linear head."""

    feature_layer: str
    classifier: str
    weight: np.ndarray  # (classes, channels)
    bias: np.ndarray  # (classes,)


@dataclass(frozen=True)
class ExportedModel:
    path: Path
    input_shape: tuple[int, int, int]  # (C, H, W)
    output_names: tuple[str, ...]
    opset: int
    cam_head: CamHead | None
    cleanup: dict | None = None  # tool, version, node counts before and after

    def describe(self) -> dict:
        return {
            "path": str(self.path),
            "input_name": INPUT_NAME,
            "input_shape": ["batch", *self.input_shape],
            "outputs": list(self.output_names),
            "opset": self.opset,
            "head": "gap-linear" if self.cam_head else "other",
            "feature_layer": self.cam_head.feature_layer if self.cam_head else None,
            "classifier": self.cam_head.classifier if self.cam_head else None,
            "cleanup": self.cleanup,
        }


@torch.no_grad()
def find_cam_head(model: nn.Module, example_input: torch.Tensor) -> CamHead | None:
    """The last layer whose output map A gives the logits as W . mean(A) + b, or None."""
    model.eval()
    names = {m: n for n, m in model.named_modules()}
    outputs: dict[str, torch.Tensor] = {}
    order: list[str] = []

    def record(module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            name = names[module]
            outputs[name] = output
            if name in order:
                order.remove(name)
            order.append(name)  # order of completion of each module's last call

    hooks = [m.register_forward_hook(record) for m in model.modules() if m is not model]
    try:
        x = torch.randn(2, *example_input.shape[1:], generator=torch.Generator().manual_seed(0))
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        return None
    linears = [n for n in order if isinstance(dict(model.named_modules())[n], nn.Linear)]
    if not linears or not torch.equal(outputs[linears[-1]], logits):
        return None
    classifier = dict(model.named_modules())[linears[-1]]
    weight = classifier.weight
    bias = classifier.bias if classifier.bias is not None else torch.zeros(weight.shape[0])
    for name in reversed(order):
        a = outputs[name]
        if a.dim() != 4 or a.shape[2] * a.shape[3] == 1 or a.shape[1] != weight.shape[1]:
            continue
        predicted = a.mean(dim=(2, 3)) @ weight.T + bias
        if torch.allclose(
            predicted, logits, rtol=1e-4, atol=1e-4 * float(logits.abs().max()) + 1e-6
        ):
            return CamHead(
                name, linears[-1], weight.detach().numpy().copy(), bias.detach().numpy().copy()
            )
        return None  # the last spatial map is not GAP + linear: no closed form
    return None


class _WithFeatures(nn.Module):
    """Returns (logits, feature map of ``layer``) so the feature map becomes an ONNX output."""

    def __init__(self, model: nn.Module, layer: nn.Module) -> None:
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured: list[torch.Tensor] = []
        handle = self.layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            logits = self.model(x)
        finally:
            handle.remove()
        return logits, captured[-1]


_ONE_EXPORT = threading.Lock()


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_shape: tuple[int, int, int],
    settings: ExportSettings = ExportSettings(),
) -> ExportedModel:
    """Export ``model`` (eval mode, FP32) and check the file with ``onnx.checker``."""
    import onnx

    path = Path(path)
    was_training = model.training
    model.eval()
    example = torch.zeros(1, *input_shape)
    cam_head = find_cam_head(model, example) if settings.feature_output else None
    module: nn.Module = model
    output_names: tuple[str, ...] = (LOGITS,)
    if cam_head is not None:
        # eval() on the wrapper too: the exporter restores the exported module's mode
        # afterwards, which would otherwise switch the user's model to training mode.
        module = _WithFeatures(model, dict(model.named_modules())[cam_head.feature_layer]).eval()
        output_names = (LOGITS, FEATURES)
    dynamic_axes = None
    if settings.dynamic_batch:
        dynamic_axes = {name: {0: "batch"} for name in (INPUT_NAME, *output_names)}
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # The TorchScript exporter: fast, needs no onnxscript, and is what the torch wheels
        # NVIDIA ships for JetPack 5/6 (torch 2.0-2.5) default to.
        kwargs["dynamo"] = False
    # torch.onnx.export keeps process-wide state (and warnings filters are global): entries
    # measured side by side on a device pool export one at a time.
    with _ONE_EXPORT, atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=settings.opset,
                do_constant_folding=True,
                **kwargs,
            )
        except Exception as exc:  # the exporter raises many types for unsupported models
            raise EdgepruneError(f"ONNX export failed: {first_line(exc)}") from None
        finally:
            model.train(was_training)
        onnx.checker.check_model(str(tmp))
        cleanup = clean_graph(tmp, settings.cleanup)
    return ExportedModel(path, tuple(input_shape), output_names, settings.opset, cam_head, cleanup)


def cleanup_tool(tool: str):
    """The clean-up package named by ``tool`` (None for ``"none"``), or one clear error when
    it is unknown or not installed; compress calls it before any work."""
    import importlib

    if tool not in CLEANUP_TOOLS:
        raise EdgepruneError(
            f"unknown ONNX clean-up {tool!r}; choose from {', '.join(CLEANUP_TOOLS)}"
        )
    if tool == "none":
        return None
    try:
        return importlib.import_module(tool)
    except ImportError:
        raise EdgepruneError(
            f"ONNX clean-up {tool} is not installed: pip install {tool}, or --onnx-cleanup none"
        ) from None


def clean_graph(path: Path, tool: str) -> dict | None:
    """Simplify the exported graph in place with onnxslim or onnxsim (constant folding,
    redundant reshapes and casts removed); the parity check that follows every export
    compares the cleaned artifact with PyTorch, so a clean-up that changes results is caught
    there. Returns what was done, or None for ``tool == "none"``."""
    import importlib.metadata

    import onnx

    module = cleanup_tool(tool)
    if module is None:
        return None
    original = onnx.load(str(path))
    try:
        if tool == "onnxslim":
            cleaned = module.slim(original)
        else:
            cleaned, valid = module.simplify(original)
            if not valid:
                raise RuntimeError("onnxsim's own check of the simplified graph failed")
    except Exception as exc:  # the tools raise many types on graphs they cannot handle
        raise EdgepruneError(f"ONNX clean-up with {tool} failed: {first_line(exc)}") from None
    onnx.checker.check_model(cleaned)
    onnx.save(cleaned, str(path))
    return {
        "tool": tool,
        "version": importlib.metadata.version(tool),
        "nodes_before": len(original.graph.node),
        "nodes_after": len(cleaned.graph.node),
    }
