"""Training and fine-tuning on in-memory uint8 data, with a recipe recorded next to results.

The same :class:`TrainRecipe` is applied to every candidate of a sweep, so differences
between ratios come from pruning alone (Pachon et al.'s condition for comparing rates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeprune.data.datasets import Split
from edgeprune.errors import EdgepruneError
from edgeprune.inference import Normalizer, to_tensor
from edgeprune.progress import rate_and_time_left

OPTIMIZERS = ("sgd", "adamw")  # sgd: momentum 0.9, Nesterov
SCHEDULES = ("cosine", "onecycle", "constant")
Progress = Callable[[str], None]
# Extra loss terms (network slimming's L1 on BN scales, distillation) and per-step hooks
# (re-applying unstructured masks) that pruning methods plug into the same loop.
Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]  # (model, x, logits)
StepHook = Callable[[nn.Module], None]


@dataclass(frozen=True)
class TrainRecipe:
    epochs: int
    lr: float
    batch_size: int = 64
    optimizer: str = "sgd"  # "sgd" (momentum 0.9, Nesterov) or "adamw"
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # "cosine", "onecycle" or "constant"
    augment: str = "auto"  # "auto" (the dataset's), "shift", "crop-flip" or "none"
    label_smoothing: float = 0.0
    seed: int = 0

    def describe(self) -> dict:
        return asdict(self)


def augment(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Batched, seeded random translation (``shift``: pad 2 with black) or random crop with
    reflect padding 4 and horizontal flip (``crop-flip``), without a loop over images."""
    if kind == "none":
        return x
    pad = 2 if kind == "shift" else 4
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="constant" if kind == "shift" else "reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)).view(n, 1, h, 1).expand(n, c, h, w + 2 * pad)
    cols = (dx[:, None] + torch.arange(w)).view(n, 1, 1, w).expand(n, c, h, w)
    out = padded.gather(2, rows).gather(3, cols)
    if kind == "crop-flip":
        flip = torch.rand(n, generator=generator) < 0.5
        out[flip] = out[flip].flip(3)
    return out


def _optimizer(model: nn.Module, recipe: TrainRecipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise EdgepruneError(f"unknown optimizer {recipe.optimizer!r}; known: {', '.join(OPTIMIZERS)}")


def _lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / total))
    if schedule == "onecycle":  # linear warm-up over the first 15 %, then cosine down
        warm = max(1, int(0.15 * total))
        return (
            (step + 1) / warm
            if step < warm
            else 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        )
    raise EdgepruneError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")


# A long epoch (ResNet-56 on 20,000 CIFAR images: 3 minutes on 2 cores) says where it is
# this often, so a run never looks hung between epoch lines.
IN_EPOCH_LINE_SECONDS = 30.0


def train(
    model: nn.Module,
    data: Split,
    normalize: Normalizer,
    recipe: TrainRecipe,
    default_augment: str = "none",
    penalty: Penalty | None = None,
    after_step: StepHook | None = None,
    progress: Progress | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Train ``model`` in place; returns the recipe and the per-epoch loss history.

    ``loss_fn``: the task's loss of (outputs, labels, label_smoothing=); None: cross-entropy
    (image classification). Either way with the recipe's label smoothing."""
    if recipe.epochs <= 0 or len(data) == 0:
        return {"recipe": recipe.describe(), "loss": [], "seconds": 0.0}
    kind = default_augment if recipe.augment == "auto" else recipe.augment
    generator = torch.Generator().manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    images, labels = to_tensor(data.images), torch.from_numpy(data.labels)
    optimizer = _optimizer(model, recipe)
    steps_per_epoch = math.ceil(len(labels) / recipe.batch_size)
    total = recipe.epochs * steps_per_epoch
    history, step, started = [], 0, time.perf_counter()
    last_line = started
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        loss_sum = 0.0
        for start in range(0, len(order), recipe.batch_size):
            index = order[start : start + recipe.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr * _lr_factor(recipe.schedule, step, total)
            x = normalize(augment(images[index], kind, generator))
            logits = model(x)
            if loss_fn is None:
                loss = F.cross_entropy(
                    logits, labels[index], label_smoothing=recipe.label_smoothing
                )
            else:
                loss = loss_fn(logits, labels[index], label_smoothing=recipe.label_smoothing)
            if penalty is not None:
                loss = loss + penalty(model, x, logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(model)
            loss_sum += float(loss.detach()) * len(index)
            step += 1
            if progress and time.perf_counter() - last_line >= IN_EPOCH_LINE_SECONDS:
                done = min(start + recipe.batch_size, len(labels))
                pace = rate_and_time_left(  # pragma: no mutate (printed only)
                    epoch * len(labels) + done,
                    recipe.epochs * len(labels),
                    time.perf_counter() - started,
                )
                progress(
                    f"epoch {epoch + 1}/{recipe.epochs}: {done:,} of {len(labels):,} images, "
                    f"loss so far {loss_sum / done:.4f} ({pace})"
                )
                last_line = time.perf_counter()
        history.append(loss_sum / len(labels))
        last_line = time.perf_counter()
        if progress:
            pace = rate_and_time_left(
                (epoch + 1) * len(labels),
                recipe.epochs * len(labels),
                time.perf_counter() - started,
            )
            progress(f"epoch {epoch + 1}/{recipe.epochs} loss {history[-1]:.4f} ({pace})")
    model.eval()
    return {"recipe": recipe.describe(), "loss": history, "seconds": time.perf_counter() - started}
