"""Runners, one per runtime; heavy runtimes are imported only when their runner is created.

Which runner serves which runtime name is ``edgeprune.targets.runtimes.RUNTIMES``.
"""

from __future__ import annotations

from edgeprune.targets.runners.base import Runner


def create_runner(runtime: str, artifact: str, **options: object) -> Runner:
    """A runner for ``artifact`` on ``runtime``; a missing runtime is one clear error."""
    from edgeprune.targets.runtimes import RUNTIMES

    return RUNTIMES.get(runtime).create(artifact, **options)


__all__ = ["Runner", "create_runner"]
