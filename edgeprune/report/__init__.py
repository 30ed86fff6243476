"""Reports of a run: ``report.md``, a self-contained ``report.html``, ``results.csv`` and plots."""

from __future__ import annotations

from pathlib import Path

from edgeprune.files import write_text
from edgeprune.report.content import build_report
from edgeprune.report.csv_table import write_csv
from edgeprune.report.html import render_html
from edgeprune.report.markdown import render_markdown
from edgeprune.report.plots import make_plots


def write_reports(run_dir: str | Path, results: dict, selection: dict) -> dict[str, Path]:
    """Plots first, then the Markdown and HTML reports that show them, then the CSV."""
    run_dir = Path(run_dir)
    plots = make_plots(results, selection, run_dir)
    report = build_report(results, selection, plots)
    write_text(run_dir / "report.md", render_markdown(report))
    write_text(run_dir / "report.html", render_html(report, run_dir))
    return {
        "markdown": run_dir / "report.md",
        "html": run_dir / "report.html",
        "csv": write_csv(run_dir, results, selection),
    }


__all__ = ["write_reports"]
