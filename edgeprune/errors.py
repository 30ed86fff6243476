"""The one error type for user mistakes.

A missing file, an unknown name, a malformed TOML or ONNX file, a checkpoint that does not
fit the model: the library raises ``EdgepruneError`` and the CLI prints its message on one
line and exits non-zero. Bugs keep their own exception types and tracebacks.
"""

from __future__ import annotations

import re

# Terminal colour and bold codes (some libraries put them in exception messages): a
# message that is logged, or shown on a terminal without colours, must not carry them.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class EdgepruneError(Exception):
    """A problem with the user's input, reported in one line without a traceback."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty."""
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
