"""Checkpoints load with weights_only=True, reload pruned models exactly, and fail clearly."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeprune.errors import EdgepruneError
from edgeprune.models import ModelSpec, create_model, load_model, load_weights, save_model
from edgeprune.prune import PruneContext, PruneSettings, prune_model

SPEC = ModelSpec("small-resnet", 10)


def test_pruned_model_reloads_into_an_identical_forward_pass(tmp_path):
    torch.manual_seed(0)
    model = create_model(SPEC)
    prune_model(model, "l1-filter", 0.5, PruneSettings(), PruneContext(torch.zeros(1, 3, 32, 32)))
    model.eval()
    save_model(tmp_path / "m.pt", model, SPEC, {"note": "pruned"})
    again, spec, metadata = load_model(tmp_path / "m.pt")
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(x), again(x))
    assert spec == SPEC and metadata == {"note": "pruned"}
    # the file itself is plain data: loadable with weights_only=True
    assert torch.load(tmp_path / "m.pt", weights_only=True)["format"] == "edgeprune-model/1"


def test_state_dict_and_common_wrappers_load(tmp_path):
    source = create_model(SPEC)
    for name, payload in {
        "plain": source.state_dict(),
        "wrapped": {"state_dict": source.state_dict(), "epoch": 3},
        "ddp": {f"module.{k}": v for k, v in source.state_dict().items()},
    }.items():
        torch.save(payload, tmp_path / f"{name}.pt")
        target = load_weights(create_model(SPEC), tmp_path / f"{name}.pt", SPEC.name)
        assert all(
            torch.equal(a, b)
            for a, b in zip(source.state_dict().values(), target.state_dict().values())
        )


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    torch.save(create_model(SPEC), tmp_path / "whole_model.pt")  # pickles the class, i.e. code
    with pytest.raises(EdgepruneError, match="pickled Python objects.*never executes") as info:
        load_weights(create_model(SPEC), tmp_path / "whole_model.pt", SPEC.name)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message  # torch's message has bold codes
    assert "(edgeprune.models." in message  # the class it refused to run
    assert message.endswith("torch.save(model.state_dict(), path)")


def test_checkpoint_that_does_not_fit_names_the_problem(tmp_path):
    torch.save(create_model(ModelSpec("resnet20", 10)).state_dict(), tmp_path / "r20.pt")
    with pytest.raises(
        EdgepruneError, match="does not fit model small-resnet: .*missing.*unexpected"
    ):
        load_weights(create_model(SPEC), tmp_path / "r20.pt", SPEC.name)
    torch.save(create_model(ModelSpec("small-resnet", 5)).state_dict(), tmp_path / "five.pt")
    with pytest.raises(
        EdgepruneError, match=r"size mismatch: fc.weight \(checkpoint \(5, 64\), model \(10, 64\)\)"
    ):
        load_weights(create_model(SPEC), tmp_path / "five.pt", SPEC.name)


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "is an empty file, not a PyTorch checkpoint"),
        (b"garbage bytes", "is a text file, not a PyTorch checkpoint"),
        (bytes(range(256)) * 4, "is a file of another format .*, not a PyTorch checkpoint"),
        (b"\x80\x02}q\x00.", "not a readable PyTorch checkpoint|holds no state dict"),
    ],
)
def test_unreadable_checkpoint(tmp_path, content, says):
    (tmp_path / "x.pt").write_bytes(content)
    with pytest.raises(EdgepruneError, match=says):
        load_weights(create_model(SPEC), tmp_path / "x.pt", SPEC.name)


def test_an_onnx_file_given_as_weights_is_named_as_such(tmp_path):
    """It was called "holds pickled Python objects" before."""
    from edgeprune.export import ExportSettings, export_onnx

    exported = export_onnx(
        create_model(SPEC).eval(), tmp_path / "m.onnx", (3, 32, 32), ExportSettings()
    )
    renamed = tmp_path / "weights.bin"  # recognised by its bytes, not only by its suffix
    renamed.write_bytes(exported.path.read_bytes())
    for path in (exported.path, renamed):
        with pytest.raises(EdgepruneError, match="is an ONNX model, not a PyTorch checkpoint"):
            load_weights(create_model(SPEC), path, SPEC.name)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(EdgepruneError, match="checkpoint not found"):
        load_weights(create_model(SPEC), tmp_path / "absent.pt", SPEC.name)


@pytest.mark.parametrize(
    "name",
    [
        "small-resnet",
        "resnet20",
        "resnet56",
        "resnet18-cifar",
        "vgg16-bn-cifar",
        "torchvision:mobilenet_v2",
    ],
)
def test_model_families_build_and_run(name):
    model = create_model(ModelSpec(name, 7)).eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)


def test_unknown_and_user_models(tmp_path, monkeypatch):
    with pytest.raises(EdgepruneError, match="unknown model 'resnet21'.*did you mean"):
        create_model(ModelSpec("resnet21", 10))
    with pytest.raises(EdgepruneError, match="unknown torchvision model"):
        create_model(ModelSpec("torchvision:resnet999", 10))
    (tmp_path / "my_models.py").write_text(
        "import torch.nn as nn\n"
        "def build(num_classes):\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))\n"
        "def not_a_model():\n    return 3\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(create_model(ModelSpec("my_models:build", 6)), nn.Module)
    with pytest.raises(EdgepruneError, match="not a torch.nn.Module"):
        create_model(ModelSpec("my_models:not_a_model", 6))
    with pytest.raises(EdgepruneError, match="cannot import model factory module"):
        create_model(ModelSpec("no_such_module:build", 6))
