"""The PyTorch runtime: a torch.export program of the entry's model, run behind the same
runner interface as ONNX Runtime and TensorRT; CPU here, CUDA where there is one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.export.torch_program import export_program
from edgeprune.models import create_model
from edgeprune.models.zoo import ModelSpec
from edgeprune.targets.runners import create_runner

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(ModelSpec("small-resnet", 10, 3, (32, 32))).eval()
    path = tmp_path_factory.mktemp("pt") / "model.pt2"
    record = export_program(model, path, (3, 32, 32))
    return model, path, record


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


def test_the_program_returns_what_the_model_computes_with_its_feature_map(program):
    model, path, record = program
    assert record["outputs"] == ["logits", "features"]  # GAP + linear head: CAMs in closed form
    batch = images(5)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    with create_runner("pytorch", str(path), device="cpu") as runner:
        assert runner.input_names == ["input"] and runner.output_names == ["logits", "features"]
        out = runner.infer_batched(batch)
        assert runner.info["device"] == "cpu" and runner.info["mode"] == "eager"
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-5)
    assert out["features"].shape[:2] == (5, 64)  # any batch size: the batch is dynamic


def test_fp16_stays_close_to_fp32(program):
    _, path, _ = program
    batch = images(8, seed=1)
    with create_runner("pytorch", str(path), device="cpu") as fp32:
        reference = fp32.infer({"input": batch}, ["logits"])["logits"]
    with create_runner("pytorch", str(path), device="cpu", precision="fp16") as fp16:
        half = fp16.infer({"input": batch}, ["logits"])["logits"]
    assert half.dtype == np.float32
    assert np.abs(half - reference).max() < 0.05 * np.abs(reference).max()
    assert (half.argmax(1) == reference.argmax(1)).mean() >= 0.875


@pytest.mark.parametrize(
    "options, message",
    [
        ({"precision": "int8"}, "precision must be fp32 or fp16"),
        ({"mode": "graph"}, "mode must be one of eager, compile, cuda-graph"),
    ],
)
def test_bad_options_are_one_clear_error(program, options, message):
    with pytest.raises(EdgepruneError, match=message):
        create_runner("pytorch", str(program[1]), **options)


@pytest.mark.skipif(CUDA, reason="a CUDA GPU is usable here")
def test_cuda_where_there_is_none_is_one_clear_error(program):
    with pytest.raises(EdgepruneError, match="asked for CUDA, but torch.cuda is not usable"):
        create_runner("pytorch", str(program[1]), device="cuda").__enter__()
    with pytest.raises(EdgepruneError, match="mode cuda-graph needs a CUDA device"):
        create_runner("pytorch", str(program[1]), device="cpu", mode="cuda-graph").__enter__()


def test_a_damaged_or_missing_program_is_one_clear_error(tmp_path):
    damaged = tmp_path / "model.pt2"
    damaged.write_bytes(b"not a zip archive")
    with pytest.raises(EdgepruneError, match="is not a loadable torch.export program"):
        create_runner("pytorch", str(damaged)).__enter__()
    with pytest.raises(EdgepruneError, match="PyTorch program not found"):
        create_runner("pytorch", str(tmp_path / "absent.pt2")).__enter__()


@pytest.mark.slow
def test_compiled_mode_computes_the_same(program):
    _, path, _ = program
    batch = images(4, seed=2)
    with create_runner("pytorch", str(path), device="cpu") as eager:
        reference = eager.infer({"input": batch})["logits"]
    with create_runner("pytorch", str(path), device="cpu", mode="compile") as compiled:
        out = compiled.infer({"input": batch})["logits"]
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA GPU usable by PyTorch here")
@pytest.mark.parametrize("mode", ["eager", "cuda-graph"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_runs_agree_with_the_cpu_and_are_timed_with_events(program, mode, precision):
    _, path, _ = program
    batch = images(16, seed=3)
    with create_runner("pytorch", str(path), device="cpu") as cpu:
        reference = cpu.infer({"input": batch})["logits"]
    with create_runner("pytorch", str(path), device="cuda", precision=precision, mode=mode) as gpu:
        for _ in range(3):  # a CUDA graph is captured on first use, then replayed
            out = gpu.infer({"input": batch})["logits"]
        assert {"h2d_ms", "compute_ms", "d2h_ms"} <= set(gpu.timings[-1])
        assert "gpu" in gpu.info and gpu.info["device"].startswith("cuda")
    tolerance = 1e-3 if precision == "fp32" else 0.05 * np.abs(reference).max()
    assert np.abs(out - reference).max() <= tolerance


@pytest.mark.parametrize("here, device", [(False, "cpu"), (True, "cuda")])
def test_variants_run_on_the_gpu_only_for_a_target_whose_gpu_is_here(
    program, tmp_path, monkeypatch, here, device
):
    from edgeprune.export.torch_program import program_for_variant
    from edgeprune.models import save_model
    from edgeprune.targets.profile import load_target
    from edgeprune.targets.runtimes import BuildRequest

    model, _, _ = program
    save_model(tmp_path / "model.pt", model, ModelSpec("small-resnet", 10, 3, (32, 32)))
    monkeypatch.setattr("edgeprune.targets.local_gpu.runs_here", lambda target: here)
    request = BuildRequest(
        onnx=tmp_path / "model.onnx", model=tmp_path / "model.pt", precision="fp16",
        folder=tmp_path, target=load_target("jetson-orin-nano"), torch_mode="cuda-graph",
    )  # fmt: skip
    path, record = program_for_variant(request)
    assert path.name == "model.pt2" and record["outputs"] == ["logits", "features"]
    assert record["runner_options"] == {"device": device, "precision": "fp16", "mode": "cuda-graph"}


def test_a_figure_timed_on_this_machines_gpu_was_measured_on_the_target():
    from edgeprune.measure import measured_where

    on_gpu = {"environment": {"runtime": {"runtime": "pytorch", "gpu": {"name": "NVIDIA L4"}}}}
    on_cpu = {"environment": {"runtime": {"runtime": "pytorch", "device": "cpu"}}}
    assert measured_where(on_gpu) == "device" and measured_where(on_cpu) == "host"


def test_evaluate_takes_a_program_as_the_pytorch_runtimes_fp32_artifact(program):
    from edgeprune.measure.artifacts import given_artifact

    artifact = given_artifact(program[1])
    assert (artifact.runtime, artifact.precision, artifact.graph) == ("pytorch", "fp32", None)


def test_a_program_another_pytorch_wrote_is_named_when_it_does_not_load(program, tmp_path):
    import json
    import zipfile

    from edgeprune.targets.runners.pytorch_runner import METADATA

    broken = tmp_path / "model.pt2"
    with zipfile.ZipFile(program[1]) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith(f"extra/{METADATA}"):
                data = json.dumps({**json.loads(data), "torch": "2.3.0"}).encode()
            elif item.filename.endswith("archive_version"):
                data = b"999"  # a layout this PyTorch does not read
            target.writestr(item, data)
    with pytest.raises(EdgepruneError, match=r"written by PyTorch 2\.3\.0, this is "):
        create_runner("pytorch", str(broken)).__enter__()
