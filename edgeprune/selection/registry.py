"""Selectors by name (``--select-by``), and the objectives of constraint-based selection.

Names only: each selector is imported on first use, so the configuration can offer the
names as choices without importing results or tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeprune.registry import Registry

OBJECTIVES = ("compression", "latency", "accuracy")


@dataclass(frozen=True)
class Selector:
    decide: Callable  # (RunResults, SelectConfig, Task) -> Decision
    description: str
    tasks: tuple[str, ...] | None = None  # None: every task
    confirm_on_overlays: bool = False  # the rule asks the user to look at the CAM overlays


SELECTORS: Registry[Selector] = Registry("selector")
SELECTORS.register_lazy("constraints", "edgeprune.selection.constraints:SELECTOR")
SELECTORS.register_lazy("pe", "edgeprune.selection.pe:SELECTOR")
