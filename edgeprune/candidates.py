"""Making a candidate: prune a copy of the unpruned model at one ratio with one method and
fine-tune it. The one piece of a sweep that executors spread (``edgeprune.executors``):
everything it reads is in a :class:`TrainingSetup`, which pickles, so the same function
runs here or on a Ray worker and gives the same model for the same setup.

What decides the floating-point result is in the setup too: the seeds, and the number of
CPU threads (the order of sums in PyTorch's kernels depends on it, so 1 and 2 threads train
different weights from one seed).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from edgeprune.config import RunConfig, parse_layer_ratios
from edgeprune.data.datasets import Split
from edgeprune.distill import distillation_penalty
from edgeprune.inference import Normalizer, to_tensor
from edgeprune.models import ModelSpec
from edgeprune.progress import Progress, silent
from edgeprune.prune import METHODS, PruneContext, PruneSettings, prune_model
from edgeprune.rundir import candidate_name
from edgeprune.tasks import TASKS
from edgeprune.train import TrainRecipe, train


@dataclass(frozen=True)
class CandidatePlan:
    """One candidate of a sweep: a method at a ratio."""

    method: str
    ratio: float

    @property
    def name(self) -> str:
        return candidate_name(self.method, self.ratio)


def sweep_ratios(config: RunConfig, method: str, progress: Progress = silent) -> tuple[float, ...]:
    """The ratios ``method`` prunes at: the configured ones, or, for a method with a fixed
    ratio (2:4), that one, since every configured ratio would give the same candidate."""
    ratios = tuple(config.prune.ratios)
    fixed = METHODS.get(method).fixed_ratio
    if fixed is None:
        return ratios
    if ratios != (fixed,):
        progress(
            f"{method} always removes {fixed:.0%} of the weights it covers: "
            f"one candidate instead of ratios {', '.join(f'{r:g}' for r in ratios)}"
        )
    return (fixed,)


def plan_candidates(config: RunConfig, progress: Progress = silent) -> list[CandidatePlan]:
    """Every method at every ratio, method by method: the run's candidates, in report order."""
    return [
        CandidatePlan(method, ratio)
        for method in config.methods
        for ratio in sweep_ratios(config, method, progress)
    ]


@dataclass(frozen=True)
class TrainingSetup:
    """What training, pruning and fine-tuning read of a run; picklable for a worker."""

    config: RunConfig
    spec: ModelSpec
    task: str
    train: Split
    augment: str  # the dataset's default training augmentation
    mean: tuple[float, ...]
    std: tuple[float, ...]
    round_to: int  # the channel multiple structured pruning keeps
    target: str  # the target's name, for the notes on sparsity
    sparsity_2_4: bool  # whether the target runs 2:4 sparse kernels
    threads: int  # CPU threads of pruning and fine-tuning

    @property
    def normalize(self) -> Normalizer:
        return Normalizer(self.mean, self.std)

    def recipe(self, epochs: int, lr: float) -> TrainRecipe:
        t = self.config.train
        return TrainRecipe(
            epochs=epochs,
            lr=lr,
            batch_size=t.batch_size,
            optimizer=t.optimizer,
            schedule=t.schedule,
            seed=self.config.data.seed,
        )

    @property
    def finetune_recipe(self) -> TrainRecipe:
        t = self.config.train
        return self.recipe(t.finetune_epochs, t.finetune_lr)

    def train_model(self, model: nn.Module, recipe: TrainRecipe, **hooks) -> dict:
        """Train ``model`` on the run's training split with the task's loss, normalised and
        augmented like the run (``hooks``: penalty, after_step, progress)."""
        loss = TASKS.get(self.task).loss
        return train(model, self.train, self.normalize, recipe, self.augment, loss_fn=loss, **hooks)

    def training_batches(self, count: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A few fixed training batches for data-driven pruning criteria."""
        batch_size = self.config.train.batch_size
        order = np.random.default_rng(self.config.data.seed).permutation(len(self.train))
        batches = []
        for i in range(count):
            index = order[i * batch_size : (i + 1) * batch_size]
            if len(index):
                images = self.normalize(to_tensor(self.train.images[index]))
                batches.append((images, torch.from_numpy(self.train.labels[index])))
        return batches

    def prune_settings(self) -> PruneSettings:
        p = self.config.prune
        return PruneSettings(
            allocation=p.allocation,
            round_to=self.round_to,
            ignore=p.ignore_layers,
            layer_ratios=parse_layer_ratios(p.layer_ratios),
            steps=p.prune_steps,
            sparsity_epochs=p.sparsity_epochs,
            sparsity_lambda=p.sparsity_lambda,
            seed=self.config.data.seed,
        )

    def prune_context(self) -> PruneContext:
        """Example input, fixed training batches, and training with the fine-tune recipe."""
        recipe = self.finetune_recipe

        def train_for(m: nn.Module, epochs: int, penalty=None, after_step=None) -> dict:
            steps = dataclasses.replace(recipe, epochs=epochs)
            return self.train_model(m, steps, penalty=penalty, after_step=after_step)

        h, w = self.spec.input_size
        example = torch.zeros(1, self.spec.in_channels, h, w)
        return PruneContext(
            example,
            self.training_batches,
            train_for,
            self.config.data.seed,
            TASKS.get(self.task).loss,
        )


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``count`` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def prepare_method(setup: TrainingSetup, baseline: nn.Module, method: str, progress: Progress):
    """The model every ratio of ``method`` is pruned from, when the method prepares one once
    per sweep (e.g. sparsity training): ``(model, record)``, or None for the baseline."""
    chosen = METHODS.get(method)
    if chosen.prepare is None:
        return None
    progress(f"{method}: preparing the unpruned model once for every ratio")
    model = copy.deepcopy(baseline)
    with torch_threads(setup.threads):
        record = chosen.prepare(model, setup.prune_settings(), setup.prune_context())
    return model.eval(), record


def sparsity_note(kind: str, target: str, sparsity_2_4: bool) -> str | None:
    if kind == "unstructured":
        return (
            "zeros stay in dense weight tensors: dense runtimes (ONNX Runtime CPU, TensorRT) "
            "run no faster and the artifact is no smaller; the sparsity is real in the weights only"
        )
    if kind == "semi-structured":
        pays = "does" if sparsity_2_4 else "does not"
        return (
            f"2:4 pattern kept in dense-shaped weights; TensorRT's sparse tensor cores use it when the "
            f"engine is built with sparsity enabled; {target} {pays} benefit (profile); ONNX Runtime "
            "on the host runs it dense"
        )
    return None


def make_candidate(
    setup: TrainingSetup,
    source: nn.Module,
    plan: CandidatePlan,
    progress: Progress = silent,
    state: Callable[[str], None] | None = None,
) -> tuple[nn.Module, dict]:
    """Prune a copy of ``source`` at ``plan.ratio`` with ``plan.method`` and fine-tune it.

    Every ratio gets the same fine-tuning recipe; a method's per-step hook (e.g. fixed
    unstructured masks) and optional distillation from the unpruned model apply during it.
    ``state`` hears each phase (``pruning``, ``fine-tuning epoch 2/5``) for a live view.
    """
    state = state or (lambda text: None)
    model = copy.deepcopy(source)
    settings, context = setup.prune_settings(), setup.prune_context()
    recipe = setup.finetune_recipe
    t = setup.config.train

    def finetune_between(m: nn.Module, step: int) -> None:
        progress(f"fine-tuning after step {step + 1}/{settings.steps}")
        state(f"fine-tuning after step {step + 1}/{settings.steps}")
        context.train(m, recipe.epochs)

    def epochs(text: str) -> None:  # "epoch 2/5 loss ..." lines: the state is the epoch
        progress(text)
        if text.startswith("epoch ") and " loss " in text:
            state(f"fine-tuning ({text.split()[1]} epochs done)")

    with torch_threads(setup.threads):
        started = time.perf_counter()
        progress(f"pruning {plan.ratio:.0%} with {plan.method}")
        state("pruning")
        pruned = prune_model(model, plan.method, plan.ratio, settings, context, finetune_between)
        prune_seconds = time.perf_counter() - started
        penalty = None
        if t.distill > 0:
            penalty = distillation_penalty(source, t.distill, t.distill_temperature)
        progress(f"fine-tuning {recipe.epochs} epochs" + (" with distillation" if penalty else ""))
        state(f"fine-tuning (0/{recipe.epochs} epochs done)")
        history = setup.train_model(
            model, recipe, penalty=penalty, after_step=pruned.after_step, progress=epochs
        )
    history["distillation"] = (
        {"alpha": t.distill, "temperature": t.distill_temperature} if penalty else None
    )
    report = dict(pruned.report)
    note = sparsity_note(report["kind"], setup.target, setup.sparsity_2_4)
    if note:
        report["note"] = note
    return model.eval(), {"pruning": report, "finetune": history, "prune_seconds": prune_seconds}
