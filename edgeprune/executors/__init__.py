"""Where a sweep's candidates are pruned and fine-tuned (``--executor``).

An executor takes the candidates still to make and yields each one as it is finished
(:class:`Made`): a model and its metadata, or the one line that says why it failed. It never
writes into the run directory: the driver saves every model and measures every artifact,
so an executor cannot leave a half-written entry, and every executor gives the same
figures for the same configuration (the work is :func:`edgeprune.candidates.make_candidate`
with the same setup).

- ``local``: here, one candidate after another (the default);
- ``ray``: Ray tasks on a local cluster started for the run or on ``--ray-address``
  (``edgeprune.executors.ray_executor``; Ray is the optional extra ``.[ray]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeprune.registry import Registry


@dataclass
class Made:
    """One candidate, finished by an executor: its model and metadata, or its failure."""

    plan: Any  # CandidatePlan
    model: Any = None  # the pruned, fine-tuned nn.Module
    metadata: dict | None = None
    error: str | None = None  # why it failed, in one line
    where: str = ""  # the worker that made it (Ray: node and process)


EXECUTORS: Registry = Registry("executor")
EXECUTORS.register_lazy("local", "edgeprune.executors.local:LocalExecutor")
EXECUTORS.register_lazy("ray", "edgeprune.executors.ray_executor:RayExecutor")

__all__ = ["EXECUTORS", "Made"]
