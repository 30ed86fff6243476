"""The report of a run: Markdown, self-contained HTML checked in a real browser, CSV."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from edgeprune.cli import main
from edgeprune.files import read_json
from edgeprune.report.csv_table import columns
from edgeprune.tasks import TASKS

COLUMNS = columns(TASKS.get("classification"))

EXPECTED_PLOTS = {
    "accuracy_ece", "severity", "reliability", "reliability_severity", "latency_accuracy",
    "explanation",
}  # fmt: skip


@pytest.fixture(scope="module")
def reported_run(fast_run):
    # PE-guided selection also writes the overlays, so every figure kind is present.
    assert (
        main(["select", str(fast_run), "--by", "pe", "--max-acc-drop", "100", "--min-pe", "0.3"])
        == 0
    )
    return fast_run


def test_every_plot_is_written_and_referenced(reported_run):
    plots = {p.stem for p in (reported_run / "plots").glob("*.png")}
    assert EXPECTED_PLOTS | {"pe_overlays"} <= plots
    markdown = (reported_run / "report.md").read_text()
    for name in plots:
        assert f"(plots/{name}.png)" in markdown
    assert "estimated, not measured" in markdown and "## Decision" in markdown


def test_html_is_self_contained(reported_run):
    html = (reported_run / "report.html").read_text()
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == len(EXPECTED_PLOTS) + 1
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_csv_has_one_row_per_entry_with_documented_columns(reported_run):
    results = read_json(reported_run / "results.json")
    with (reported_run / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [r["name"] for r in rows] == ["baseline"] + [c["name"] for c in results["candidates"]]
    assert all(r["runtime"] == "onnxruntime" for r in rows)
    assert {r["target_latency_source"] for r in rows} == {
        "measured"
    }  # host-cpu target: measured there
    schema = (Path(__file__).resolve().parents[2] / "docs" / "results-schema.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in schema, f"column {column} is not documented"


def test_every_figure_carries_its_95_percent_interval(reported_run):
    results = read_json(reported_run / "results.json")
    entries = [results["baseline"], *results["candidates"]]
    for entry in entries:
        q, deltas = entry["quality"], entry["vs_baseline"]
        low, high = q["intervals"]["accuracy"]
        assert low < q["accuracy"] < high and high - low > 0.02  # 359 images: points wide
        low, high = q["intervals"]["ece"]
        assert low <= q["calibration"]["ece"] <= high
        low, high = q["intervals"]["mpc"]
        assert low <= q["corruption"]["mPC"] <= high
        low, high = deltas["accuracy_drop_points_interval"]
        assert low <= deltas["accuracy_drop_points"] <= high
    assert results["baseline"]["vs_baseline"]["accuracy_drop_points_interval"] == [0.0, 0.0]
    markdown = (reported_run / "report.md").read_text()
    assert "## Uncertainty" in markdown and "exact (Clopper-Pearson) binomial" in markdown
    first = entries[1]
    shown = f"{100 * first['quality']['accuracy']:.2f} [{100 * first['quality']['intervals']['accuracy'][0]:.2f}, "
    assert shown in markdown
    with (reported_run / "results.csv").open() as handle:
        row = next(csv.DictReader(handle))
    assert float(row["accuracy_ci95_low"]) == pytest.approx(
        results["baseline"]["quality"]["intervals"]["accuracy"][0]
    )


def test_reliability_diagrams_of_every_entry_clean_and_per_severity(reported_run, monkeypatch):
    from edgeprune.rundir import RunLayout
    from edgeprune.runs import read_run
    from edgeprune.tasks.classification import plots

    run = read_run(reported_run)
    results, decision = run.results, run.decision
    for entry in results.entries:  # pooled over the 15 benchmark corruptions at each severity
        by_severity = entry.quality.reliability_by_severity
        assert sorted(by_severity) == ["1", "2", "3", "4", "5"]
        assert all(sum(d["counts"]) == 15 * entry.quality.n for d in by_severity.values())
    drawn = {}
    monkeypatch.setattr(
        plots, "save_figure", lambda fig, layout, name, **_: drawn.setdefault(name, fig)
    )
    layout = RunLayout(reported_run)
    plots.reliability_plot(results, decision, layout)
    plots.reliability_severity_plot(results, decision, layout)
    titles = [ax.get_title() for ax in drawn["reliability"].axes if ax.get_visible()]
    for entry in results.entries:  # every entry, each with a histogram of its counts below
        assert any(t.startswith(entry.name) and f"{entry.quality.n} images" in t for t in titles)
    histograms = [ax for ax in drawn["reliability"].axes if ax.get_visible() and not ax.get_title()]
    assert len(histograms) == len(results.entries)
    assert sum(p.get_height() for p in histograms[0].patches) == results.baseline.quality.n
    counts = [t.get_text() for t in histograms[0].texts]
    assert counts and all(c.isdigit() for c in counts)
    severity_titles = [
        ax.get_title() for ax in drawn["reliability_severity"].axes if ax.get_title()
    ]
    assert len(severity_titles) == 5 * len(results.entries)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")
    return path


def test_report_renders_in_chromium_with_visible_plots(reported_run, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.goto((reported_run / "report.html").resolve().as_uri())
        images = page.evaluate(
            """() => Array.from(document.querySelectorAll('img.plot')).map(img => {
                   const box = img.getBoundingClientRect(), style = getComputedStyle(img);
                   return {complete: img.complete, natural: img.naturalWidth, width: box.width, height: box.height,
                           visible: style.visibility === 'visible' && style.display !== 'none' && img.offsetParent !== null};
               })"""
        )
        decision = page.inner_text("p.decision")
        headings = page.eval_on_selector_all("h2", "nodes => nodes.map(n => n.textContent)")
        # at 1280 px no table hides a column behind a scroll bar
        tables = page.evaluate(TABLE_WIDTHS)
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        # in print, on A4 landscape (273 mm between the margins: 1032 px), every table fits
        page.set_viewport_size({"width": 1032, "height": 700})
        page.emulate_media(media="print")
        printed = page.evaluate(TABLE_WIDTHS)
        page.pdf(path=str(tmp_path / "report.pdf"), prefer_css_page_size=True)
        browser.close()
    assert len(images) == len(EXPECTED_PLOTS) + 1
    for image in images:
        assert image["complete"] and image["natural"] > 300, image  # decoded PNG, not a broken icon
        assert image["visible"] and image["width"] > 300 and image["height"] > 150, image
    assert decision.strip() and (
        "keep the unpruned baseline" in decision or "l1-filter" in decision
    )
    assert any("estimated, not measured" in h for h in headings)
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 50_000
    assert len(tables) > 8
    for name, width, room in tables + printed:
        assert width <= room + 1, f"a table of {name} is {width} px wide in {room} px"
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 4  # the report over several pages
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) >= len(EXPECTED_PLOTS)  # figures printed


# Every table's width against the room it has: its scroll box on screen, the page in print.
TABLE_WIDTHS = """() => {
    const main = document.querySelector('main').getBoundingClientRect();
    return Array.from(document.querySelectorAll('table')).map(t => {
        const box = t.closest('div.scroll'), printed = getComputedStyle(box).overflowX === 'visible';
        return [t.closest('section').id, Math.ceil(printed ? t.getBoundingClientRect().right - main.left : box.scrollWidth),
                Math.floor(printed ? main.width : box.clientWidth)];
    });
}"""
