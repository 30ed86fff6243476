"""Explanation maps from the deployed artifact match PyTorch Grad-CAM / Grad-CAM++, and the
fallback path for other heads is labelled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgeprune.explain.consistency import (
    ARTIFACT_PATH,
    PYTORCH_PATH,
    ExplanationSettings,
    consistency,
    entry_maps,
)
from edgeprune.explain.torch_cam import explain_model
from edgeprune.export import ExportSettings
from edgeprune.inference import Normalizer, to_tensor
from edgeprune.measure import export_fp32
from edgeprune.rundir import EntryLayout
from edgeprune.targets.bundle import write_bundle
from edgeprune.targets.run import DeviceJob, evaluate_artifact


class GapNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        )  # fmt: skip
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class FlattenNet(nn.Module):
    """Not GAP + linear: no closed form, maps come from PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class _Setup:
    def __init__(self, bundle, normalize):
        self.bundle, self.normalize = bundle, normalize
        self.export = ExportSettings()


def _run(model, tmp_path):
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():  # realistic BN statistics
        for _ in range(3):
            model(torch.randn(16, 3, 16, 16))
    model.eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 5, 24)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    bundle = write_bundle(tmp_path / "bundle", {"clean": (images, labels)}, mean, std, 5)
    setup = _Setup(bundle, Normalizer(mean, std))
    export_fp32(model, EntryLayout(tmp_path), bundle.image_shape, setup.export)
    job = DeviceJob(latency_batches=(1,), iterations=10, feature_splits=("clean",))
    evaluate_artifact(tmp_path / "model.onnx", bundle.path, tmp_path / "device", job)
    with np.load(tmp_path / "device" / "outputs.npz") as stored:
        outputs = {k: stored[k] for k in stored.files}
    return images, labels, outputs, setup


def _pearson(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_artifact_maps_match_pytorch_gradcam(tmp_path, method):
    model = GapNet()
    images, labels, outputs, setup = _run(model, tmp_path)
    data = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        ExplanationSettings(),
        None,
    )
    assert data["path"] == ARTIFACT_PATH
    reference = explain_model(
        model, setup.normalize(to_tensor(images)), data["targets"], method=method
    )
    keep = ~(reference.constant | data[f"{method}/constant"])
    assert keep.sum() >= 20
    assert _pearson(data[method][keep], reference.maps[keep]).min() >= 0.999


def test_other_heads_fall_back_to_pytorch_and_say_so(tmp_path):
    model = FlattenNet()
    images, labels, outputs, setup = _run(model, tmp_path)
    assert "features/clean" not in outputs and not EntryLayout(tmp_path).cam_head.exists()
    data = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        ExplanationSettings(),
        None,
    )
    assert data["path"] == PYTORCH_PATH
    assert data["gradcam"].shape == (24, 16, 16)


def test_a_model_is_perfectly_consistent_with_itself(tmp_path):
    model = GapNet()
    images, labels, outputs, setup = _run(model, tmp_path)
    data = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        ExplanationSettings(),
        None,
    )
    result = consistency(data, data, ExplanationSettings())
    assert result["hcc"] == pytest.approx(1.0) and result["pe"] == pytest.approx(1.0)
    assert result["settings"]["pe"]["form"] == "provisional"


def test_targets_follow_the_setting(tmp_path):
    model = GapNet()
    images, labels, outputs, setup = _run(model, tmp_path)
    own = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        ExplanationSettings(target="own"),
        None,
    )
    by_label = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        ExplanationSettings(target="label"),
        None,
    )
    reference = {"targets": (own["targets"] + 1) % 5}
    original = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        ExplanationSettings(),
        reference,
    )
    assert np.array_equal(own["targets"], outputs["logits/clean"].argmax(1))
    assert np.array_equal(by_label["targets"], labels)
    assert np.array_equal(original["targets"], reference["targets"])


def test_the_cam_methods_are_one_registry():
    from edgeprune.explain.closed_form import CLOSED_FORM_METHODS
    from edgeprune.explain.methods import CAM_METHODS
    from edgeprune.explain.torch_cam import TORCH_CAM_METHODS

    assert CAM_METHODS.names() == ["cam", "gradcam", "gradcam++", "scorecam"]
    assert CLOSED_FORM_METHODS == ("cam", "gradcam", "gradcam++")
    assert TORCH_CAM_METHODS == tuple(CAM_METHODS.names())
    assert CAM_METHODS.get("gradcam++").display == "Grad-CAM++"


@pytest.mark.parametrize(
    "hcc_method, pe_method, path",
    [("cam", "gradcam", ARTIFACT_PATH), ("gradcam", "scorecam", PYTORCH_PATH)],
)
def test_the_configured_cam_methods_make_the_maps(tmp_path, hcc_method, pe_method, path):
    """A method with a closed form explains the artifact; Score-CAM needs the PyTorch model."""
    model = GapNet()
    images, labels, outputs, setup = _run(model, tmp_path)
    settings = ExplanationSettings(hcc_method=hcc_method, pe_method=pe_method)
    data = entry_maps(
        EntryLayout(tmp_path).cam_head,
        outputs,
        labels,
        images,
        model,
        setup.normalize,
        settings,
        None,
    )
    assert data["path"] == path and {hcc_method, pe_method} <= set(data)
    result = consistency(data, data, settings)
    assert result["hcc"] == pytest.approx(1.0) and result["pe"] == pytest.approx(1.0)
    assert result["settings"]["hcc_method"] == hcc_method
    assert result["settings"]["pe_method"] == pe_method


def _maps(n: int, rng, constant: np.ndarray) -> dict:
    """Hand-made maps of both methods, constant where ``constant`` says."""
    data = {"targets": np.arange(n) % 3, "confidence": np.full(n, 0.9), "path": "artifact"}
    for method in ("gradcam", "gradcam++"):
        maps = rng.random((n, 8, 8)).astype(np.float32)
        maps[constant] = 0.5
        data[method], data[f"{method}/constant"] = maps, constant.copy()
    return data


def test_constant_maps_make_the_explanation_metrics_undefined_not_a_number():
    """At 32x32 all 359 Grad-CAM maps of MobileNet-V2 were constant: HCC was nan and a
    PE-score of 0.34 was still reported from maps that carry no information."""
    rng = np.random.default_rng(0)
    reference = _maps(6, rng, np.zeros(6, bool))
    flat = _maps(6, rng, np.ones(6, bool))
    result = consistency(reference, flat, ExplanationSettings())
    assert result["hcc"] is None and result["pe"] is None
    assert result["pe_details"]["n_undefined"] == 6
    assert result["undefined"] == [
        "HCC: every gradcam map pair has a constant map",
        "PE-score: every gradcam++ map pair has a constant map",
    ]
    # some constant: PE over the informative images only, equal to PE computed on them alone
    partly = _maps(6, rng, np.array([True, False, False, True, False, False]))
    result = consistency(reference, partly, ExplanationSettings())
    keep = ~partly["gradcam++/constant"]
    alone = consistency(
        {k: v[keep] if isinstance(v, np.ndarray) else v for k, v in reference.items()},
        {k: v[keep] if isinstance(v, np.ndarray) else v for k, v in partly.items()},
        ExplanationSettings(),
    )
    assert result["pe"] == pytest.approx(alone["pe"]) and result["undefined"] == []
    assert result["pe_details"]["n_defined"] == 4
