"""A report as data: sections of paragraphs, tables and figures, rendered to Markdown or HTML.

Paragraphs use a tiny inline Markdown subset (``**bold**``, ``code`` in backticks and
``[text](link)``) that the HTML renderer converts, so both formats say the same thing.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: str = ""  # one letter per column, "l" or "r"; default: first left, rest right
    heat: list[list[float | None]] | None = None  # 0..1 per cell: colour scale (HTML only)
    caption: str = ""

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.headers) - 1)


@dataclass
class Figure:
    path: str  # relative to the run directory
    caption: str


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Figure] = field(default_factory=list)


@dataclass
class Report:
    title: str
    intro: list[str]
    sections: list[Section]


_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"`(.+?)`"), r"<code>\1</code>"),
    (re.compile(r"\[([^\]]+)\]\(([^)]+)\)"), r'<a href="\2">\1</a>'),
]


def inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out
