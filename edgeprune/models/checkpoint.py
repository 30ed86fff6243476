"""Saving and loading models without executing pickled code.

A pruned model is stored as its architecture description (the unpruned model's spec plus
the shape of every layer after pruning) and a state dict, in one ``torch.save`` file that
``torch.load(weights_only=True)`` reads: loading rebuilds the unpruned architecture, reshapes
the pruned layers, and loads the weights strictly, giving an identical forward pass.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.files import atomic_path
from edgeprune.models.fixed import is_fixed
from edgeprune.models.zoo import ModelSpec, create_model

MODEL_FORMAT = "edgeprune-model/1"
# Attributes that structured pruning changes and a rebuilt layer must carry again.
_SHAPE_ATTRIBUTES = (
    "in_channels",
    "out_channels",
    "groups",
    "num_features",
    "in_features",
    "out_features",
    "num_channels",
    "num_groups",
    "normalized_shape",
)


def describe_structure(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Per module with parameters or buffers: its shape attributes and tensor shapes."""
    structure = {}
    for name, module in model.named_modules():
        tensors = {k: list(v.shape) for k, v in module._parameters.items() if v is not None}
        buffers = {k: list(v.shape) for k, v in module._buffers.items() if v is not None}
        if not tensors and not buffers:
            continue
        attrs = {}
        for attr in _SHAPE_ATTRIBUTES:
            value = getattr(module, attr, None)
            if isinstance(value, (int, tuple, list)) and not isinstance(value, bool):
                attrs[attr] = list(value) if isinstance(value, (tuple, list)) else value
        structure[name] = {
            "type": type(module).__name__,
            "attrs": attrs,
            "params": tensors,
            "buffers": buffers,
        }
    return structure


def apply_structure(model: nn.Module, structure: dict[str, dict[str, Any]]) -> nn.Module:
    """Reshape ``model``'s layers to a described structure (weights are loaded afterwards)."""
    modules = dict(model.named_modules())
    for name, entry in structure.items():
        module = modules.get(name)
        if module is None or type(module).__name__ != entry["type"]:
            raise EdgepruneError(
                f"saved structure names layer {name!r} ({entry['type']}) that the model lacks"
            )
        for attr, value in entry["attrs"].items():
            setattr(module, attr, tuple(value) if isinstance(value, list) else value)
        for key, shape in entry["params"].items():
            old = module._parameters[key]
            module._parameters[key] = nn.Parameter(
                torch.empty(shape, dtype=old.dtype), old.requires_grad
            )
        for key, shape in entry["buffers"].items():
            old = module._buffers[key]
            module._buffers[key] = torch.empty(shape, dtype=old.dtype)
    return model


def save_model(
    path: str | Path, model: nn.Module, spec: ModelSpec, metadata: dict | None = None
) -> None:
    payload = {
        "format": MODEL_FORMAT,
        "spec": spec.to_dict(),
        "structure": describe_structure(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _other_format(path: Path) -> str | None:
    """What a file that is not a PyTorch checkpoint is, when its first bytes say so."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    suffix = path.suffix.lower()
    if suffix in (".engine", ".plan", ".trt"):
        return "a TensorRT engine"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None  # torch.save's zip archive, or a legacy pickle
    if suffix == ".onnx" or (head[:1] == b"\x08" and b"\x12" in head[:16]):
        return "an ONNX model"
    if len(head) >= 10 and head[8:10] == b'{"':  # 8-byte header length, then JSON
        return "a safetensors file (load it with safetensors and torch.save its state dict)"
    if not head:
        return "an empty file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # torch.save writes a zip archive (or, before 1.6, a pickle): this is neither
        return "a file of another format (neither torch.save's zip archive nor a pickle)"
    return "a text file"


def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise EdgepruneError(f"checkpoint not found: {path}")
    kind = _other_format(path)
    if kind is not None:
        raise EdgepruneError(
            f"{path} is {kind}, not a PyTorch checkpoint: --weights takes a state dict saved "
            "with torch.save (an ONNX or TensorRT artifact is evaluated with edgeprune evaluate)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f" ({refused.group(1)})" if refused else ""
        raise EdgepruneError(
            f"checkpoint {path} holds pickled Python objects{what}, which edgeprune never "
            "executes: save the weights alone, torch.save(model.state_dict(), path)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise EdgepruneError(
            f"{path} is not a readable PyTorch checkpoint: {first_line(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001  arbitrary bytes fail in arbitrary ways
        raise EdgepruneError(
            f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {first_line(exc)})"
        ) from None


def check_checkpoint(path: str | Path) -> None:
    """Fail before any work on a file that holds no state dict (its fit to the model is
    checked when the model exists, which needs the data's class count)."""
    path = Path(path).expanduser()
    _extract_state_dict(_torch_load(path), path)


def load_model(path: str | Path) -> tuple[nn.Module, ModelSpec, dict]:
    """Load a model saved by :func:`save_model`; returns (model in eval mode, spec, metadata)."""
    path = Path(path)
    payload = _torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise EdgepruneError(f"{path} is not an edgeprune model file ({MODEL_FORMAT})")
    spec = _current_name(ModelSpec.from_dict(payload["spec"]), payload["structure"])
    model = apply_structure(create_model(spec), payload["structure"])
    _load_state_dict(model, payload["state_dict"], f"{path}", spec.name)
    return model.eval(), spec, payload.get("metadata", {})


def _current_name(spec: ModelSpec, structure: dict) -> ModelSpec:
    """Model files written when ``resnet20`` / ``56`` / ``110`` named the option-B networks
    (a learned 1x1 shortcut and an ``fc`` classifier) load as ``resnetN-1x1``, their name
    now; the plain names are the paper's option-A networks (``linear`` classifier)."""
    if spec.name in ("resnet20", "resnet56", "resnet110") and "fc" in structure:
        return dataclasses.replace(spec, name=f"{spec.name}-1x1")
    return spec


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and obj.get("format") == MODEL_FORMAT:
        return obj["state_dict"]
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "net", "ema"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(v, torch.Tensor) for v in obj.values())
    ):
        raise EdgepruneError(
            f"{path} holds no state dict (a mapping of parameter names to tensors)"
        )
    # Checkpoints saved from DataParallel / DDP prefix every key with "module.".
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _supplied_by_model(model: nn.Module) -> set[str]:
    """Keys a checkpoint may lack because the model fills them itself: BatchNorm's
    ``num_batches_tracked`` (checkpoints saved before PyTorch 0.4.1 have none; BatchNorm
    loads them as 0) and the constant weights of ``fixed`` layers (option A's shortcut)."""
    keys = set()
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            keys.add(f"{dot}num_batches_tracked")
        if is_fixed(module):
            keys.update(f"{dot}{name}" for name, _ in module.named_parameters(recurse=False))
    return keys


def _load_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, name: str
) -> None:
    expected = model.state_dict()
    optional = _supplied_by_model(model)
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("size mismatch", mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:3]) + (
                    f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                )
                parts.append(f"{len(keys)} {label}: {shown}")
        raise EdgepruneError(f"checkpoint {source} does not fit model {name}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def load_weights(model: nn.Module, path: str | Path, model_name: str) -> nn.Module:
    """Load a user's checkpoint (state dict, common wrappers, or an edgeprune model file)."""
    path = Path(path).expanduser()
    obj = _torch_load(path)
    if isinstance(obj, dict) and obj.get("format") == MODEL_FORMAT:
        apply_structure(model, obj["structure"])
    _load_state_dict(model, _extract_state_dict(obj, path), str(path), model_name)
    return model
