"""The live view of a sweep: every candidate's state (queued, pruning, fine-tuning k/n,
exporting, evaluating, done, failed) and the time left, as progress lines.

The local executor's own progress lines already say what the one running candidate does,
so there the board adds the "candidate i of n" line and the estimate; for Ray, whose
workers print nowhere the user sees, it also prints each state change a worker reports.
"""

from __future__ import annotations

import time
from collections import Counter

from edgeprune.progress import Progress, duration

QUEUED, DONE, FAILED, KEPT = "queued", "done", "failed", "finished earlier, kept"
SUMMARY_EVERY = 30.0  # seconds between summary lines while nothing finishes


class SweepBoard:
    def __init__(self, names: list[str], progress: Progress, echo_states: bool = False) -> None:
        self.progress = progress
        self.states = dict.fromkeys(names, QUEUED)
        self.echo_states = echo_states
        self.started_at: float | None = None
        self.number = 0  # candidates started so far
        self.made = 0  # candidates finished in this session (the pace of the estimate)
        self.last_summary = time.perf_counter()

    @property
    def total(self) -> int:
        return len(self.states)

    def kept(self, name: str) -> None:
        self.states[name] = KEPT
        self.progress(f"{name}: finished earlier, kept")

    def started(self, name: str) -> None:
        """``name`` leaves the queue (a worker took it, or the local loop reached it)."""
        if self.started_at is None:
            self.started_at = time.perf_counter()
        self.number += 1
        left = self.time_left()
        self.progress(
            f"candidate {self.number} of {self.to_make}: {name}"
            + (f", about {duration(left)} left" if left is not None else "")
        )
        self.states[name] = "pruning"

    def state(self, name: str, text: str) -> None:
        if self.states.get(name) == text:
            return
        self.states[name] = text
        if self.echo_states:
            self.progress(f"{name}: {text}")

    def finished(self, name: str) -> None:
        self.states[name] = DONE
        self.made += 1
        self.summary()

    def failed(self, name: str, why: str) -> None:
        self.states[name] = FAILED
        self.progress(f"{name}: failed: {why}")

    @property
    def to_make(self) -> int:
        return sum(1 for s in self.states.values() if s != KEPT)

    def time_left(self) -> float | None:
        """The candidates not yet done at the pace of those finished in this session."""
        if not self.made or self.started_at is None:
            return None
        remaining = sum(1 for s in self.states.values() if s not in (DONE, KEPT, FAILED))
        return (time.perf_counter() - self.started_at) / self.made * remaining

    def line(self) -> str:
        """``3 done, 1 fine-tuning, 1/5 epochs done, 2 queued; about 1 min 10 s left``."""
        counts = Counter(s for s in self.states.values() if s != KEPT)
        order = [
            DONE,
            *sorted(k for k in counts if k not in (DONE, QUEUED, FAILED)),
            QUEUED,
            FAILED,
        ]
        parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
        left = self.time_left()
        return ", ".join(parts) + (f"; about {duration(left)} left" if left else "")

    def summary(self, force: bool = True) -> None:
        now = time.perf_counter()
        if force or now - self.last_summary >= SUMMARY_EVERY:
            self.last_summary = now
            self.progress(f"sweep: {self.line()}")
