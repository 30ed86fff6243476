"""PyTorch -> a ``torch.export`` program: the PyTorch runtime's artifact.

The entry's model (its edgeprune model file) is exported with the same outputs as its ONNX
file: ``logits``, plus the CAM feature map as ``features`` where the head is GAP + linear
(``edgeprune.export.onnx_export``), and a dynamic batch dimension. The archive loads with
PyTorch alone (``torch.export.load``), so the pruned network runs on a device that has
PyTorch but not edgeprune's model code, and what is timed is the graph that was exported.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.export.onnx_export import FEATURES, INPUT_NAME, LOGITS, _WithFeatures, find_cam_head
from edgeprune.files import atomic_path
from edgeprune.targets.runners.pytorch_runner import METADATA

PROGRAM_FILE = "model.pt2"
MAX_BATCH = 4096  # the dynamic batch dimension's upper bound


def export_program(model: torch.nn.Module, path: Path, input_shape: tuple[int, int, int]) -> dict:
    """Write ``model`` (eval mode, FP32, CPU) as a ``torch.export`` archive at ``path``."""
    model = model.eval()
    example = torch.zeros(2, *input_shape)
    head = find_cam_head(model, example)
    module, outputs = model, [LOGITS]
    if head is not None:
        module = _WithFeatures(model, dict(model.named_modules())[head.feature_layer]).eval()
        outputs = [LOGITS, FEATURES]
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    meta = {
        "input": INPUT_NAME,
        "outputs": outputs,
        "input_shape": list(input_shape),
        "torch": torch.__version__,  # the release that wrote it, named if another cannot load it
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
        except Exception as exc:  # the exporter raises many types for unsupported models
            raise EdgepruneError(f"torch.export failed: {first_line(exc)}") from None
    with atomic_path(path, suffix=".pt2") as tmp:
        torch.export.save(program, str(tmp), extra_files={METADATA: json.dumps(meta)})
    return meta


def program_for_variant(request) -> tuple[Path, dict]:
    """The runtime registry's builder: a variant's program from the entry's model file, with
    the runner options of the target (CUDA where the target is this machine's GPU)."""
    from edgeprune.models import load_model
    from edgeprune.targets.local_gpu import runs_here

    if request.model is None:
        raise EdgepruneError(f"{request.folder}: the PyTorch runtime needs the entry's model file")
    model, spec, _ = load_model(request.model)
    path = request.folder / PROGRAM_FILE
    record = export_program(model, path, (spec.in_channels, *spec.input_size))
    device = "cuda" if runs_here(request.target) else "cpu"
    options = {"device": device, "precision": request.precision, "mode": request.torch_mode}
    return path, {**record, "runner_options": options}
