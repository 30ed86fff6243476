"""Tasks by name (``--task``): what is specific to what the model does. See ``base.Task``."""

from __future__ import annotations

from edgeprune.registry import Registry
from edgeprune.tasks.base import ExplainRequest, Task
from edgeprune.tasks.classification import ClassificationTask

TASKS: Registry[Task] = Registry("task")
TASKS.register("classification", ClassificationTask())

__all__ = ["TASKS", "ExplainRequest", "Task"]
