"""Every subcommand, fed the mistakes a hurried user makes: one line, non-zero, nothing lost.

One table for all subcommands (compress has its own, longer one in test_cli.py), so the
next mistake class is one row: the command line (``{run}`` is a copy of a finished run,
``{tmp}`` a scratch folder with the files ``_materials`` makes), the words the one error
line must hold. The copy of the run and two damaged copies must be unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from edgeprune.cli import main
from edgeprune.lock import LOCK_FILE


def _snapshot(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


class _Flat(nn.Module):
    """An ONNX-exportable model whose output is not (N, classes) logits."""

    def __init__(self, shape: str):
        super().__init__()
        self.shape = shape
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        y = self.conv(x)
        if self.shape == "vector":
            return y.mean(dim=(1, 2, 3))  # (N,)
        if self.shape == "three classes":
            return y.mean(dim=(2, 3))  # (N, 3) for a 10-class bundle
        return y  # (N, 3, H, W): an image


def _export(model: nn.Module, path: Path) -> None:
    torch.onnx.export(
        model.eval(),
        torch.zeros(1, 3, 32, 32),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )


def _materials(tmp: Path, fast_run: Path) -> Path:
    """A scratch folder of bad files, and a copy of the finished run under ``run``."""
    run = tmp / "run"
    shutil.copytree(fast_run, run, ignore=shutil.ignore_patterns(LOCK_FILE))
    (tmp / "garbage.toml").write_bytes(bytes(range(256)) * 4)
    (tmp / "config_dir").mkdir()
    (tmp / "a_file").write_text("x")
    (tmp / "notes.onnx").write_text("these are notes, not a model\n")
    for shape in ("vector", "three classes", "image"):
        _export(_Flat(shape), tmp / f"{shape.replace(' ', '_')}.onnx")
    empty_classes = tmp / "empty_classes"
    for name in ("cat", "dog"):
        (empty_classes / name).mkdir(parents=True)
    (tmp / "no_classes").mkdir()
    (tmp / "no_classes" / "readme.txt").write_text("images go in class folders\n")
    bomb = tmp / "bomb" / "cat"
    bomb.mkdir(parents=True)
    Image.new("L", (12_000, 16_000)).save(bomb / "huge.png")  # 192 Mpx: over Pillow's limit
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp / "bomb" / "cat" / "small.png")
    (tmp / "bomb" / "dog").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp / "bomb" / "dog" / "small.png")
    # damaged copies of the run
    for name in ("bundle_not_json", "bundle_missing_keys", "results_truncated", "results_empty",
                 "no_selection"):  # fmt: skip
        shutil.copytree(run, tmp / name)
        config = tmp / name / "run.toml"  # as if the run had been made in the copy
        config.write_text(config.read_text().replace(str(fast_run), str(tmp / name)))
    (tmp / "bundle_not_json" / "bundle" / "bundle.json").write_text('{"splits": [')
    (tmp / "bundle_missing_keys" / "bundle" / "bundle.json").write_text("{}")
    text = (run / "results.json").read_text()
    (tmp / "results_truncated" / "results.json").write_text(text[: len(text) // 2])
    (tmp / "results_empty" / "results.json").write_text("{}")
    (tmp / "no_selection" / "selection.json").unlink()
    return run


PROGRESS = re.compile(r"^\[\s*\d+\.\ds\] ")

# (command line, words of the error line); ``{fast}``: the flags the finished run was made with
CASES = {
    # corrupt
    "corrupt: out is a file": (
        "corrupt --data digits --limit 8 --out {tmp}/a_file",
        "is an existing file, not a folder",
    ),
    "corrupt: out under a file": (
        "corrupt --data digits --limit 8 --out {tmp}/a_file/set",
        "a parent is a file",
    ),
    # /proc refuses new folders (ENOENT), as a read-only or foreign filesystem would
    "corrupt: out cannot be made": (
        "corrupt --data digits --limit 8 --out /proc/edgeprune-set",
        "cannot make corrupted-set folder /proc/edgeprune-set",
    ),
    "corrupt: class folders without images": (
        "corrupt --data imagefolder:{tmp}/empty_classes --out {tmp}/c1",
        "no images",
    ),
    "corrupt: no class folders": (
        "corrupt --data imagefolder:{tmp}/no_classes --out {tmp}/c2",
        "no class folders",
    ),
    "corrupt: decompression bomb": (
        "corrupt --data imagefolder:{tmp}/bomb --out {tmp}/c3",
        "huge.png",
    ),
    "corrupt: unknown corruption": (
        "corrupt --data digits --corruptions fog,mist --out {tmp}/c4",
        "unknown corruption 'mist'",
    ),
    "corrupt: negative seed": (
        "corrupt --data digits --seed -1 --out {tmp}/c5",
        "seed must lie in 0 .. 4294967295",
    ),
    "corrupt: 64-bit seed": (
        f"corrupt --data digits --seed {2**64} --out {{tmp}}/c6",
        "seed must lie in 0 .. 4294967295",
    ),
    "corrupt: limit 0": ("corrupt --data digits --limit 0 --out {tmp}/c7", "limit must be"),
    "corrupt: missing frost textures": (
        "corrupt --data digits --limit 8 --frost-textures {tmp}/nowhere --out {tmp}/c8",
        "not found",
    ),
    "corrupt: negative input size": (
        "corrupt --data digits --input-size -3 --out {tmp}/c9",
        "input-size",
    ),
    # compress: what test_cli.py's table does not hold
    "compress: out cannot be made": (
        "compress --target host-cpu --out /proc/edgeprune-run {fast}",
        "cannot make run directory /proc/edgeprune-run",
    ),
    "compress: binary config": ("compress --config {tmp}/garbage.toml", "garbage.toml"),
    "compress: config is a folder": ("compress --config {tmp}/config_dir", "config_dir"),
    "compress: binary target profile": (
        "compress --target {tmp}/garbage.toml --out {tmp}/r0",
        "not UTF-8 text",
    ),
    "compress: class folders without images": (
        "compress --data imagefolder:{tmp}/empty_classes --out {tmp}/r1",
        "no images",
    ),
    "compress: no class folders": (
        "compress --data imagefolder:{tmp}/no_classes --out {tmp}/r2",
        "no class folders",
    ),
    "compress: resuming with a damaged bundle.json": (
        "compress --target host-cpu --out {tmp}/bundle_not_json {fast}",
        "bundle.json is damaged",
    ),
    # select
    "select: truncated results.json": ("select {tmp}/results_truncated", "results.json"),
    "select: empty results.json": ("select {tmp}/results_empty", "results.json"),
    "select: a file as the run": ("select {tmp}/a_file", "a_file"),
    "select: negative accuracy limit": (
        "select {run} --max-acc-drop -1",
        "max-acc-drop",
    ),
    "select: out under a file": ("select {run} --out {tmp}/a_file/s", "a parent is a file"),
    "select: out cannot be made": ("select {run} --out /proc/edgeprune-selection", "/proc"),
    # report
    "report: no selection.json": ("report {tmp}/no_selection", "selection.json"),
    "report: truncated results.json": ("report {tmp}/results_truncated", "results.json"),
    # evaluate
    "evaluate: output is (N,)": (
        "evaluate {tmp}/vector.onnx --bundle {run}/bundle --out {tmp}/e1",
        "(N, classes)",
    ),
    "evaluate: too few classes": (
        "evaluate {tmp}/three_classes.onnx --bundle {run}/bundle --out {tmp}/e2",
        "3 classes",
    ),
    "evaluate: image-shaped output": (
        "evaluate {tmp}/image.onnx --bundle {run}/bundle --out {tmp}/e3",
        "(N, classes)",
    ),
    "evaluate: not an ONNX file": (
        "evaluate {tmp}/notes.onnx --bundle {run}/bundle --out {tmp}/e4",
        "notes.onnx",
    ),
    "evaluate: damaged bundle.json": (
        "evaluate {run}/baseline/model.onnx --bundle {tmp}/bundle_not_json/bundle --out {tmp}/e5",
        "bundle.json",
    ),
    "evaluate: bundle.json without its keys": (
        "evaluate {run}/baseline/model.onnx --bundle {tmp}/bundle_missing_keys/bundle "
        "--out {tmp}/e6",
        "bundle.json",
    ),
    "evaluate: out is a file": (
        "evaluate {run}/baseline/model.onnx --bundle {run}/bundle --out {tmp}/a_file",
        "is an existing file, not a folder",
    ),
}


@pytest.fixture(scope="module")
def materials(fast_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    run = _materials(tmp, fast_run)
    return tmp, run


@pytest.mark.parametrize("label", list(CASES))
def test_bad_input_is_one_line_and_changes_nothing(materials, fast_flags, label, capsys):
    tmp, run = materials
    command, words = CASES[label]
    argv = command.format(tmp=tmp, run=run, fast=" ".join(fast_flags)).split()
    watched = [run] + [tmp / name for name in ("bundle_not_json", "results_truncated")]
    before = {folder: _snapshot(folder) for folder in watched}
    code = main(argv)
    captured = capsys.readouterr()
    # progress lines ("[  0.0s] loading data ...") may come first; then the one error line
    lines = [line for line in captured.err.strip().splitlines() if not PROGRESS.match(line)]
    assert code != 0, label
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, label
    assert len(lines) == 1, f"{label}: {lines}"
    assert lines[0].startswith("edgeprune: error: ") and words in lines[0], f"{label}: {lines[0]}"
    for folder, files in before.items():
        assert _snapshot(folder) == files, f"{label}: {folder.name} changed"


def test_an_error_line_carries_no_terminal_codes():
    """Libraries put bold codes in their messages (torch.load's refusal does); the one line
    edgeprune prints from them is plain text, in a log file as on a terminal."""
    from edgeprune.errors import first_line

    message = (
        "Weights only load failed, \x1b[1mdo those steps only if you trust it\x1b[0m.\n\t(1) ..."
    )
    assert (
        first_line(ValueError(message))
        == "Weights only load failed, do those steps only if you trust it."
    )
    assert first_line(ValueError("")) == "ValueError"
