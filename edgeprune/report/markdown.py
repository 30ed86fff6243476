"""Render a report document as Markdown (``report.md``)."""

from __future__ import annotations

from edgeprune.document import Figure, Report, Table


def table_markdown(table: Table) -> str:
    align = table.alignment()
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", *report.intro, ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append(table_markdown(block))
            elif isinstance(block, Figure):
                lines.append(f"![{block.caption}]({block.path})")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)
