"""tools/diff_results.py: the script that shows a restructuring changed no figure."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

from edgeprune.files import write_json

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "results" / "data"


def _tool():
    spec = importlib.util.spec_from_file_location(
        "diff_results", ROOT / "tools" / "diff_results.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _v1(name: str) -> dict:
    with gzip.open(DATA / name) as handle:
        return json.load(handle)


def _run(folder: Path, results: dict, selection: dict) -> Path:
    write_json(folder / "results.json", results)
    write_json(folder / "selection.json", selection)
    return folder


def test_version_1_and_its_version_2_rewrite_are_identical(tmp_path, capsys):
    """Every figure a version-1 file holds survives the typed model that writes version 2."""
    from edgeprune.results import Decision, load_results
    from edgeprune.tasks import TASKS

    results, selection = _v1("v1-results.json.gz"), _v1("v1-selection-constraints.json.gz")
    old = _run(tmp_path / "v1", results, selection)
    rewritten = load_results(results, TASKS).to_dict()
    new = _run(tmp_path / "v2", rewritten, Decision.from_dict(selection).to_dict())
    assert _tool().main([str(old), str(new)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("identical: ")


def test_a_changed_figure_is_reported_with_its_path(tmp_path, capsys):
    results, selection = _v1("v1-results.json.gz"), _v1("v1-selection-constraints.json.gz")
    old = _run(tmp_path / "a", results, selection)
    results["candidates"][0]["calibration"]["ece"] += 1e-9
    results["candidates"][0]["latency"]["1"]["p50_ms"] *= 2  # a timing: not a figure
    selection["chosen"] = "l1-filter-0.50"
    new = _run(tmp_path / "b", results, selection)
    assert _tool().main([str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "entries/baseline@int8/quality/calibration/ece" in out
    assert "selection/chosen" in out and "p50_ms" not in out
    assert _tool().main([str(old), str(new), "--tolerance", "1e-6"]) == 1  # chosen still differs
