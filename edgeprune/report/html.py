"""Render a report document as one self-contained HTML file: plots embedded as data URIs,
styles inline, no script and no network access, so it opens offline and can be archived
with a safety case."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from edgeprune.document import Figure, Report, Table, inline_html

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b; margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 22px; margin: 4px 0 6px; } h2 { font-size: 18px; margin: 34px 0 10px; border-bottom: 1px solid #d9dde3; padding-bottom: 4px; }
p { margin: 8px 0; } code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; font-size: 12.5px; }
.decision { background: #eef6ee; border-left: 4px solid #3b8a3e; padding: 8px 12px; }
.scroll { overflow-x: auto; margin: 10px 0; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { padding: 4px 6px; border-bottom: 1px solid #e4e7eb; white-space: nowrap; }
th { background: #f0f2f5; text-align: left; position: sticky; top: 0; white-space: normal; vertical-align: bottom; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l + td.l { white-space: normal; min-width: 9em; } /* words may wrap, names and numbers not */
figure { margin: 14px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e4e7eb; }
figcaption { font-size: 12.5px; color: #55606d; margin-top: 4px; }
nav { font-size: 12.5px; margin: 8px 0 0; } nav a { margin-right: 12px; color: #2457a6; text-decoration: none; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { background: #fff; font-size: 11px; } main { max-width: none; padding: 0; } nav { display: none; }
  .scroll { overflow: visible; } table { font-size: 9.5px; } th { position: static; }
  th, td { padding: 2px 5px; } h2 { break-after: avoid; } figure, tr { break-inside: avoid; }
}
"""


def _heat_colour(value: float) -> str:
    """Red (0) through yellow to green (1), light enough to read text on."""
    value = min(max(value, 0.0), 1.0)
    red, green = (1.0, value * 2) if value < 0.5 else (2 - value * 2, 1.0)
    return f"rgb({int(255 - 70 * (1 - red))}, {int(255 - 70 * (1 - green))}, 200)"


def table_html(table: Table) -> str:
    align = table.alignment()
    head = "".join(f'<th class="{a}">{html.escape(h)}</th>' for h, a in zip(table.headers, align))
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, (cell, a) in enumerate(zip(row, align)):
            heat = table.heat[i][j] if table.heat else None
            style = f' style="background:{_heat_colour(heat)}"' if heat is not None else ""
            cells.append(f'<td class="{a}"{style}>{inline_html(cell)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{inline_html(table.caption)}</caption>" if table.caption else ""
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def figure_html(figure: Figure, run_dir: Path) -> str:
    path = run_dir / figure.path
    if not path.is_file():
        return f"<p><em>figure missing: {html.escape(figure.path)}</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(figure.caption)
    return (
        f'<figure><img class="plot" alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{inline_html(figure.caption)}</figcaption></figure>"
    )


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def render_html(report: Report, run_dir: Path) -> str:
    parts = [
        f"<h1>{html.escape(report.title)}</h1>",
        *(f"<p>{inline_html(p)}</p>" for p in report.intro),
    ]
    parts.append(
        "<nav>"
        + "".join(
            f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in report.sections
        )
        + "</nav>"
    )
    for section in report.sections:
        parts.append(
            f'<section id="{_anchor(section.title)}"><h2>{html.escape(section.title)}</h2>'
        )
        for i, block in enumerate(section.blocks):
            if isinstance(block, Table):
                parts.append(table_html(block))
            elif isinstance(block, Figure):
                parts.append(figure_html(block, run_dir))
            else:
                css = ' class="decision"' if section.title == "Decision" and i == 0 else ""
                parts.append(f"<p{css}>{inline_html(block)}</p>")
        parts.append("</section>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(report.title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )
