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

EXPECTED_PLOTS = {"accuracy_ece", "severity", "reliability", "latency_accuracy", "explanation"}


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
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
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
