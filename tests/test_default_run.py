"""The default compress on a machine where TensorRT imports but no GPU is usable (a wheel
installed on a CPU machine, a driver missing): it runs to the end on ONNX Runtime and says
why TensorRT was not used. Before, --runtime auto planned an FP32 engine for host-cpu that
the builder then refused ("target host-cpu has no GPU")."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from edgeprune.cli import main
from edgeprune.runs import read_run
from edgeprune.targets import local_gpu

FAKE = Path(__file__).parent / "export" / "fake_tensorrt.py"


@pytest.fixture
def tensorrt_without_gpu(monkeypatch):
    spec = importlib.util.spec_from_file_location("tensorrt", FAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(local_gpu, "query_gpu", lambda index=0: (None, "no driver"))
    return module


def test_the_dry_run_says_what_auto_chose_and_why(tmp_path, tensorrt_without_gpu, capsys):
    assert main(["compress", "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    target = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("target:")
    )
    assert target.startswith("target: host-cpu (--target auto)")
    assert "artifacts run by onnxruntime" in target
    assert "note: TensorRT is installed here, but target host-cpu has no GPU" in target


def test_default_compress_runs_to_the_end_with_a_note(
    fast_run, tmp_path, tensorrt_without_gpu, capsys
):
    out = tmp_path / "default"
    flags = [
        "compress", "--out", str(out), "--weights", str(fast_run / "baseline" / "model.pt"),
        "--ratios", "0.5", "--finetune-epochs", "1", "--corruptions", "generate:20",
        "--latency-iterations", "10", "--latency-warmup", "2", "--explain-images", "16",
    ]  # fmt: skip
    assert main(flags) == 0
    said = capsys.readouterr()
    assert "target host-cpu" in said.err + said.out
    assert "TensorRT is installed here, but target host-cpu has no GPU" in said.err + said.out
    results = read_run(out).results
    assert results.target_name == "host-cpu"
    assert [e.name for e in results] == ["baseline", "l1-filter-0.50"]  # no engine planned


@pytest.mark.slow
def test_pytorch_variants_are_measured_like_every_artifact(fast_run, tmp_path):
    out = tmp_path / "pytorch"
    flags = [
        "compress", "--target", "host-cpu", "--out", str(out),
        "--weights", str(fast_run / "baseline" / "model.pt"), "--ratios", "0.5",
        "--finetune-epochs", "1", "--corruptions", "generate:20", "--runtime", "pytorch",
        "--latency-iterations", "10", "--latency-warmup", "2", "--explain-images", "16", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    results = read_run(out).results
    for base in ("baseline", "l1-filter-0.50"):
        onnx, torch_run = results.entry(base), results.entry(f"{base}@pt-fp32")
        assert torch_run.latency.runtime == "pytorch" and torch_run.latency.where == "host"
        assert torch_run.fidelity["top1_agreement"] == 1.0
        assert torch_run.quality.accuracy == onnx.quality.accuracy
        assert torch_run.explanation["path"].startswith("artifact")
