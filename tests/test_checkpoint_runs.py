"""A downloaded checkpoint in a run: its normalisation, its adaptation to the data, and the
real CIFAR-10 checkpoints end to end (skipped without ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest
import tomllib
import torch

from edgeprune.cli import main
from edgeprune.files import read_json
from edgeprune.models import ModelSpec, create_model, load_model


def test_normalisation_and_adaptation_are_the_runs_and_recorded(tmp_path, fast_flags, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "downloaded.pt"
    torch.save({"state_dict": create_model(ModelSpec("small-resnet", 10)).state_dict()}, weights)
    run = tmp_path / "run"
    flags = [*fast_flags, "--ratios", "0.5", "--corruptions", "none", "--weights", str(weights)]
    flags += ["--normalize", "imagenet", "--adapt-epochs", "2", "--adapt-lr", "0.02"]
    assert main(["compress", "--target", "host-cpu", "--out", str(run), *flags]) == 0

    bundle = read_json(run / "bundle" / "bundle.json")
    assert bundle["mean"] == [0.485, 0.456, 0.406] and bundle["std"] == [0.229, 0.224, 0.225]
    recorded = tomllib.loads((run / "run.toml").read_text())
    assert recorded["normalize"] == "imagenet" and recorded["adapt-epochs"] == 2
    _, _, metadata = load_model(run / "baseline" / "model.pt")
    adaptation = metadata["training"]["adaptation"]
    assert metadata["training"]["weights"] == str(weights)
    assert adaptation["recipe"]["epochs"] == 2 and adaptation["recipe"]["lr"] == 0.02
    assert len(adaptation["loss"]) == 2
    # the adapted model is not the downloaded one
    adapted = load_model(run / "baseline" / "model.pt")[0].state_dict()
    original = torch.load(weights, weights_only=True)["state_dict"]
    assert not torch.equal(adapted["fc.weight"], original["fc.weight"])

    # another normalisation changes every figure: the run refuses it
    capsys.readouterr()
    code = main(["compress", "--target", "host-cpu", "--out", str(run), *flags[:-6],
                 "--normalize", "dataset", "--adapt-epochs", "2", "--adapt-lr", "0.02"])  # fmt: skip
    assert code == 2
    assert "normalize = 'imagenet' (now 'dataset')" in capsys.readouterr().err


def test_a_downloaded_cifar10_resnet_runs_end_to_end(pretrained, cifar10_dir, tmp_path):
    """akamaster's ResNet-20 as downloaded, ImageNet normalisation, on the JPEG test set:
    the baseline's ONNX artifact scores what the checkpoint scores, and both pruned and
    unstructured candidates export and agree with PyTorch."""
    if "resnet20" not in pretrained:
        pytest.skip("no resnet20 checkpoint")
    path, expected = pretrained["resnet20"]
    run = tmp_path / "resnet20"
    code = main([
        "compress", "--target", "host-cpu", "--out", str(run), "--quiet",
        "--model", "resnet20", "--weights", str(path), "--normalize", "imagenet",
        "--data", f"cifar10:{cifar10_dir}", "--train-images", "2000",
        "--corruptions", "generate:100", "--ratios", "0.5", "--finetune-epochs", "1",
        "--explain-images", "100", "--latency-iterations", "10", "--latency-batch", "16",
    ])  # fmt: skip
    assert code == 0
    baseline = read_json(run / "baseline" / "metrics.json")
    quality, fidelity = baseline["quality"], baseline["fidelity"]
    assert quality["n"] == 10000
    assert quality["accuracy"] == pytest.approx(expected, abs=0.005)
    # over-confident on the JPEG shift: 0.125 measured when the data was shared
    assert 0.05 < quality["calibration"]["ece"] < 0.2
    assert fidelity["top1_agreement"] >= 0.999 and fidelity["passed"]
    pruned = read_json(run / "l1-filter-0.50" / "metrics.json")
    assert pruned["fidelity"]["top1_agreement"] >= 0.999
    assert pruned["size"]["macs"] < 0.6 * baseline["size"]["macs"]
    results = read_json(run / "results.json")  # corruption figures are against the baseline
    assert np.isfinite(results["candidates"][0]["quality"]["corruption"]["mPC"])


def test_evaluate_builds_its_bundle_with_the_normalisation_asked_for(tmp_path):
    from edgeprune.export import ExportSettings, export_onnx

    model = create_model(ModelSpec("small-resnet", 10)).eval()
    artifact = export_onnx(model, tmp_path / "model.onnx", (3, 32, 32), ExportSettings()).path
    out = tmp_path / "eval"
    code = main(["evaluate", str(artifact), "--data", "digits", "--normalize", "imagenet",
                 "--corruptions", "none", "--latency-iterations", "10", "--out", str(out),
                 "--quiet"])  # fmt: skip
    assert code == 0
    bundle = read_json(out / "bundle" / "bundle.json")
    assert bundle["mean"] == [0.485, 0.456, 0.406] and bundle["std"] == [0.229, 0.224, 0.225]
