"""The task seam: what is specific to what a model does, behind one interface.

The measurement path (``edgeprune.measure``), the results model, selection and the report
never look at logits, labels or accuracy themselves: they ask the run's task. Image
classification is the first task (``edgeprune.tasks.classification``); a detection task is
a new subclass registered in ``edgeprune.tasks.TASKS``, with its own quality record, limits,
report sections and plots, and no change to the measurement path.

A task answers, in the order a run needs it:

- training: ``loss`` of the model's outputs against the labels;
- measurement: which artifact ``outputs`` it scores (and which one explains), its
  ``quality`` from those outputs, the PyTorch ``reference_outputs`` and the ``parity``
  between them, and the explanation consistency (``explain``);
- comparison: ``summarize`` against the baseline, ``deltas``, the ``primary_score``, its
  ``pareto_objectives`` and its selectable ``limits``;
- presentation: table cells, CSV columns, report sections and plots.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Limit:
    """One selectable figure: where to read it and how selection judges it.

    A task declares its limits (accuracy drop, ECE increase, mPC, HCC, ... for
    classification); selection adds the target's (latency, memory) and applies them. Each
    names the ``select`` option that sets it, so making a new metric selectable is one
    ``Limit`` and one option.
    """

    name: str  # how checks and reasons name it
    option: str  # the SelectConfig field that sets it
    kind: str  # "max" or "min"
    # (entry, results, select settings) -> value and how it was obtained
    read: Callable[[Any, Any, Any], tuple[float | None, str]]
    unit: str = ""
    group: str = "quality"  # quality, target, robustness or explanation: the check order
    always: bool = False  # False: 0 switches it off
    long_name: str = ""  # how the report's constraint line names it (default: ``name``)
    # (entry, results, select settings) -> its 95 % interval [low, high], or None: what
    # ``--limit-at bound`` judges (the unfavourable end); None here: the figure has none
    interval: Callable[[Any, Any, Any], list[float] | None] | None = None

    def limit_from(self, settings: object) -> float | None:
        value = getattr(settings, self.option)
        return value if self.always or value else None

    def bound(self, entry, results, settings) -> float | None:
        """The unfavourable end of the figure's interval: the high end of a maximum, the low
        end of a minimum (None: no interval was measured)."""
        interval = self.interval(entry, results, settings) if self.interval else None
        if not interval or any(v is None or v != v for v in interval):
            return None
        return interval[1] if self.kind == "max" else interval[0]

    @property
    def label(self) -> str:
        """``latency on the target <=`` style, for the report's constraint line."""
        return f"{self.long_name or self.name} {'<=' if self.kind == 'max' else '>='}"


@dataclass(frozen=True)
class ExplainRequest:
    """What the explanation step of the measurement path has for one entry."""

    layout: Any  # the entry's EntryLayout: where the maps are written
    outputs: dict[str, np.ndarray]  # the artifact's outputs on the clean split
    bundle: Any  # the EvalBundle
    model: Any  # the PyTorch model (None when an artifact is evaluated alone)
    normalize: Any  # Normalizer of the run
    settings: Any  # the task's explanation settings (``Task.explanation_settings``)
    reference: Any  # the baseline's maps; None when this entry is the baseline


class Task(ABC):
    name: str
    quality_type: type  # the typed record of what the task measures (from_dict / to_dict)
    primary_name: str  # "accuracy": what ``primary_score`` is, in words
    outputs: tuple[str, ...]  # artifact outputs scored on every split
    explanation_output: str | None = None  # the extra output the explanations need
    limits: tuple[Limit, ...] = ()  # what selection may constrain
    pareto_label: str = ""  # the task's Pareto objectives, in words

    # ---------------------------------------------------------------- training
    @abstractmethod
    def loss(self, outputs, labels, label_smoothing: float = 0.0):
        """The training loss (torch tensors); ``label_smoothing`` from the training recipe."""

    def warnings(self, results, settings, chosen) -> list[str]:
        """What a reviewer must read beside a decision (``chosen``: the chosen Entry or
        None): figures that make the baseline or the choice untrustworthy. Default: none."""
        return []

    def check_model_output(self, output, num_classes: int) -> None:
        """Refuse, before anything is trained or written, a model whose output (of a
        one-image batch, a torch tensor) cannot be trained for this data. The default
        accepts everything."""
        return None

    # ---------------------------------------------------------------- measurement
    def check_output_shapes(self, shapes: dict[str, tuple], bundle) -> None:
        """Refuse, before it runs, an artifact whose declared outputs (name -> shape, a
        dimension None where the graph leaves it open) cannot be this task's for ``bundle``.
        The default accepts everything; ``quality`` still checks what actually came out."""
        return None

    @abstractmethod
    def quality(self, outputs: dict[str, np.ndarray], bundle) -> Any:
        """The task's record from an artifact's outputs on every split of the bundle."""

    @abstractmethod
    def reference_outputs(self, model, images: np.ndarray, normalize) -> dict[str, np.ndarray]:
        """The PyTorch model's outputs on the same images, for parity."""

    @abstractmethod
    def parity(
        self,
        reference: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
        bundle,
        tolerance: tuple[float, float],
        required: float | None,
    ) -> dict:
        """The artifact against PyTorch; ``passed`` is None when nothing is required."""

    def fit_recalibration(self, outputs: dict[str, np.ndarray], bundle, method: str):
        """The post-hoc scaling ``method`` fitted on the validation split's outputs
        (``edgeprune.recalibration.Fit``); tasks without scored logits have none."""
        from edgeprune.errors import EdgepruneError

        raise EdgepruneError(f"task {self.name} has no post-hoc recalibration")

    def recalibrated_reference(self, reference: dict[str, np.ndarray], fit) -> dict:
        """PyTorch's outputs with the same scaling, for the parity of the shipped graph."""
        return reference

    def explanation_settings(self, explain_config) -> Any:
        return None

    def explain(self, request: ExplainRequest) -> dict | None:
        """Explanation consistency of one entry (None: the task explains nothing)."""
        return None

    def explanation_reference(self, layout) -> Any:
        """The baseline's maps, read from its folder, that candidates are compared with."""
        return None

    # ---------------------------------------------------------------- comparison
    def summarize(self, quality: Any, baseline: Any | None, context: dict) -> Any:
        """``quality`` completed with what needs the baseline's (mCE, ...) and the run's
        context (the eval bundle's ``info``); ``baseline`` None: no reference."""
        return quality

    @abstractmethod
    def deltas(self, entry, baseline) -> dict[str, float | None]:
        """The task's changes against the baseline, in ``vs_baseline``."""

    def replicates(self, outputs: dict[str, np.ndarray], bundle) -> Any:
        """Bootstrap replicates of the task's figures from an artifact's outputs, drawn so
        that two entries scoring the same images share their resamples (None: no intervals)."""
        return None

    def interval_deltas(self, mine, reference) -> dict[str, list[float] | None]:
        """Confidence intervals of the changes against the baseline, from both entries'
        :meth:`replicates` (a paired bootstrap), added to ``vs_baseline``."""
        return {}

    @abstractmethod
    def primary_score(self, entry) -> float:
        """Higher is better (accuracy)."""

    @abstractmethod
    def pareto_objectives(self, entry) -> tuple[float, ...]:
        """The task's objectives, each oriented so that lower is better."""

    @abstractmethod
    def change_summary(self, entry, settings=None) -> str:
        """``accuracy +0.00 pp, ECE +0.0069``: the change that a decision line quotes."""

    # ---------------------------------------------------------------- presentation
    @abstractmethod
    def summary_cells(self, entry) -> dict[str, str]:
        """The task's columns of the summary table."""

    def fidelity_cells(self, entry) -> dict[str, str]:
        """The task's parity columns of the size table."""
        return {}

    csv_columns: tuple[str, ...] = ()

    def csv_cells(self, entry) -> dict[str, Any]:
        return {}

    def report_sections(self, results, decision, plots: dict[str, str]) -> list:
        """Sections of the report between the decision and the size section."""
        return []

    def plots(self, results, decision, layout) -> dict[str, str]:
        """The task's plots, by name -> path relative to the run directory."""
        return {}
