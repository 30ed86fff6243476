"""Tasks by name (``--task``): what is specific to what the model does. See ``base.Task``."""

from __future__ import annotations

from edgeprune.registry import Registry
from edgeprune.tasks.base import ExplainRequest, Limit, Task

# Names only; a task's module is imported when the task is first used (``TASKS.get``), so
# the configuration and the results model can name tasks without importing them.
TASKS: Registry[Task] = Registry("task")
TASKS.register_lazy("classification", "edgeprune.tasks.classification:ClassificationTask")

__all__ = ["TASKS", "ExplainRequest", "Limit", "Task"]
