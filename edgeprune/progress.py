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
