"""The local executor: each candidate made here, one after another, in plan order."""

from __future__ import annotations

from collections.abc import Iterator

from edgeprune.candidates import make_candidate
from edgeprune.executors import Made


class LocalExecutor:
    name = "local"

    def start(self, sweep, threads: int, count: int) -> None:
        """Nothing to start: candidates are made in this process."""

    def stop(self) -> None:
        """Nothing to stop."""

    def run(self, plans, sources, setup, board) -> Iterator[Made]:
        """Make every candidate of ``plans`` from ``sources[method]`` with ``setup``."""
        for plan in plans:
            board.started(plan.name)
            model, metadata = make_candidate(
                setup,
                sources(plan.method),
                plan,
                board.progress.scoped(plan.name),
                state=lambda text, name=plan.name: board.state(name, text),
            )
            yield Made(plan, model, metadata, where="local")
