"""Progress lines on stderr with elapsed time, so a user sees what a long sweep is doing."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:7.1f}s] {message}", file=self.stream, flush=True)

    def scoped(self, prefix: str) -> Progress:
        """A reporter that prefixes every message (e.g. with the candidate's name)."""
        parent = self

        class _Scoped(Progress):
            def __call__(self, message: str) -> None:
                parent(f"{prefix}: {message}")

        return _Scoped(self.stream, self.quiet)


def silent(_message: str) -> None:
    """A progress callback that prints nothing."""


def rate_and_time_left(done: int, total: int, seconds: float, unit: str = "images") -> str:
    """``"2,345 images/s, about 3 min 20 s left"`` for ``done`` of ``total`` in ``seconds``
    (the rate so far, the rest at that rate; "done" when nothing is left)."""
    rate = done / seconds if seconds > 0 else 0.0
    text = f"{rate:,.0f} {unit}/s"
    if done >= total:
        return f"{text}, done"
    if rate <= 0:
        return text
    return f"{text}, about {duration(round((total - done) / rate))} left"


def duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"1 h 05 min"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
