"""Optional graph clean-up after export: the cleaned graph still agrees with PyTorch and
keeps both outputs; a tool that is unknown or not installed is one clear error."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.export import FEATURES, INPUT_NAME, LOGITS, ExportSettings, export_onnx
from edgeprune.models import ModelSpec, create_model
from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = create_model(ModelSpec("resnet20", 10))
    net.train()
    with torch.no_grad():  # non-trivial BN statistics, so folding them matters
        net(torch.randn(32, 3, 32, 32))
    return net.eval()


def test_onnxslim_cleanup_keeps_outputs_and_parity(model, tmp_path):
    plain = export_onnx(model, tmp_path / "plain.onnx", (3, 32, 32))
    slim = export_onnx(
        model, tmp_path / "slim.onnx", (3, 32, 32), ExportSettings(cleanup="onnxslim")
    )
    record = slim.describe()["cleanup"]
    assert record["tool"] == "onnxslim" and record["version"]
    assert record["nodes_after"] <= record["nodes_before"]
    assert record["nodes_before"] == len(onnx.load(str(plain.path)).graph.node)
    assert plain.describe()["cleanup"] is None

    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    with OnnxRuntimeRunner(slim.path) as runner:
        outputs = runner.infer({INPUT_NAME: x})
    assert set(outputs) == {LOGITS, FEATURES}
    np.testing.assert_allclose(outputs[LOGITS], reference, atol=1e-4, rtol=1e-3)


def test_unknown_or_missing_cleanup_tool_is_one_clear_error(model, tmp_path, monkeypatch):
    with pytest.raises(EdgepruneError, match="unknown ONNX clean-up 'polygraphy'"):
        export_onnx(model, tmp_path / "a.onnx", (3, 32, 32), ExportSettings(cleanup="polygraphy"))

    monkeypatch.setitem(sys.modules, "onnxsim", None)  # makes the import fail
    with pytest.raises(EdgepruneError, match="onnxsim is not installed: pip install onnxsim"):
        export_onnx(model, tmp_path / "b.onnx", (3, 32, 32), ExportSettings(cleanup="onnxsim"))
    assert not (tmp_path / "b.onnx").exists()  # nothing half-written is left behind
