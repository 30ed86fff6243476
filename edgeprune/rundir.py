"""The run directory's layout: every path of a run comes from here.

    runs/<name>/
      run.toml                  the resolved configuration (a valid --config)
      bundle/                   the eval bundle (bundle.json, arrays; corruptions/ when generated)
      baseline/                 one folder per entry: the unpruned model ...
      <method>-<ratio>/         ... each candidate ...
      <entry>@<variant>/        ... and each precision variant (EntryLayout); with
                                --recalibrate also model.calibrated.onnx, recalibration.json
                                and device-uncalibrated/
      <method>-prepared/        a method's once-per-sweep preparation (sparsity training)
      results.json              every entry, typed (edgeprune.results)
      selection.json            the decision in force (edgeprune.selection)
      selections/NNN-<by>.json  every decision made, in order (compress's, each select's)
      results.csv, report.md, report.html, plots/<name>.png

No other module writes a literal file name of a run. The device job's own output folder
(``outputs.npz``, ``run.json``) is the device side's contract (``edgeprune.targets.run``);
this layout places that folder at ``<entry>/device/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgeprune.targets.run import OUTPUTS_FILE, RUN_FILE

BASELINE = "baseline"


def candidate_name(method: str, ratio: float) -> str:
    # "2:4" would put a colon into a folder name, which scp and rsync read as "host:path".
    return f"{method.replace(':', 'of')}-{ratio:.2f}"


def variant_name(base: str, suffix: str) -> str:
    """A precision variant's entry: ``baseline@int8``, ``l1-filter-0.50@trt-fp16``."""
    return f"{base}@{suffix}"


@dataclass(frozen=True)
class EntryLayout:
    """The files of one entry's folder, each written once and reused on a rerun."""

    folder: Path

    @property
    def model(self) -> Path:  # the PyTorch model (edgeprune.models.save_model)
        return self.folder / "model.pt"

    @property
    def onnx(self) -> Path:  # the FP32 (or INT8 QDQ) ONNX artifact
        return self.folder / "model.onnx"

    @property
    def export_info(self) -> Path:
        return self.folder / "export.json"

    @property
    def cam_head(self) -> Path:  # the linear head's weights, for closed-form CAMs
        return self.folder / "cam_head.npz"

    @property
    def variant_info(self) -> Path:  # how a precision variant's artifact was built
        return self.folder / "variant.json"

    @property
    def device(self) -> Path:  # the device job's output folder
        return self.folder / "device"

    @property
    def outputs(self) -> Path:
        return self.device / OUTPUTS_FILE

    @property
    def run_record(self) -> Path:
        return self.device / RUN_FILE

    @property
    def calibrated_onnx(self) -> Path:  # --recalibrate: the graph with its logit scaling
        return self.folder / "model.calibrated.onnx"

    @property
    def recalibration(self) -> Path:  # the fitted scaling, from the uncalibrated run
        return self.folder / "recalibration.json"

    @property
    def calibrated_artifact(self) -> Path:  # how the shipped artifact was built from it
        return self.folder / "calibrated.json"

    @property
    def uncalibrated_device(self) -> Path:  # the device job of the artifact before scaling
        return self.folder / "device-uncalibrated"

    @property
    def metrics(self) -> Path:  # written last: its presence marks the entry finished
        return self.folder / "metrics.json"

    @property
    def maps(self) -> Path:  # explanation maps (the baseline's are the reference)
        return self.folder / "explanations.npz"

    def artifact(self, name: str) -> Path:
        """A built artifact whose name says what it is (TensorRT engines)."""
        return self.folder / name


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "run.toml"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def generated_corruptions(self) -> Path:
        return self.bundle / "corruptions"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def merged_results(self) -> Path:  # ``select`` over several runs
        return self.root / "results.merged.json"

    @property
    def selection(self) -> Path:
        return self.root / "selection.json"

    @property
    def selections(self) -> Path:  # every decision made on the run, numbered in order
        return self.root / "selections"

    @property
    def csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def plot(self, name: str) -> Path:
        return self.plots / f"{name}.png"

    def entry(self, name: str) -> EntryLayout:
        return EntryLayout(self.root / name)

    @property
    def baseline(self) -> EntryLayout:
        return self.entry(BASELINE)

    def prepared(self, method: str) -> EntryLayout:
        return self.entry(f"{method.replace(':', 'of')}-prepared")

    def relative(self, path: Path) -> str:
        """``path`` relative to the run directory, with forward slashes (report links)."""
        return Path(os.path.relpath(path, self.root)).as_posix()
