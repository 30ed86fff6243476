"""Reports of a run: ``report.md``, a self-contained ``report.html``, ``results.csv`` and plots.

The report reads the typed results and the decision; what is specific to the task comes
from the task (``Task.report_sections``, ``Task.plots``, table cells).
"""

from __future__ import annotations

from edgeprune.files import write_text
from edgeprune.report.content import build_report
from edgeprune.report.csv_table import write_csv
from edgeprune.report.html import render_html
from edgeprune.report.markdown import render_markdown
from edgeprune.report.plots import make_plots


def write_reports(layout, results, decision) -> dict:
    """Plots first, then the Markdown and HTML reports that show them, then the CSV.

    ``layout``: the RunLayout reports are written into; ``results``: RunResults;
    ``decision``: the selection's Decision."""
    from edgeprune.tasks import TASKS

    task = TASKS.get(results.task)
    plots = make_plots(results, decision, layout, task)
    report = build_report(results, decision, plots, task)
    write_text(layout.report_md, render_markdown(report))
    write_text(layout.report_html, render_html(report, layout.root))
    return {
        "markdown": layout.report_md,
        "html": layout.report_html,
        "csv": write_csv(layout, results, decision, task),
        "plots": plots,
    }


__all__ = ["write_reports"]
