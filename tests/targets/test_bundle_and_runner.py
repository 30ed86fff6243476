from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.files import read_json
from edgeprune.targets.bundle import EvalBundle, Split, write_bundle
from edgeprune.targets.execute import run_local
from edgeprune.targets.run import DeviceJob, evaluate_artifact, main


def test_bundle_preprocessing_matches_the_definition(tiny_artifact):
    _, _, bundle = tiny_artifact
    images = np.asarray(bundle.images("clean"))
    batch = next(bundle.batches("clean", 8))
    expected = ((images[:8] / 255.0 - 0.5) / 0.25).transpose(0, 3, 1, 2)
    assert batch.dtype == np.float32 and batch.shape == (8, 3, 16, 16)
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-5)
    assert batch.flags["C_CONTIGUOUS"]  # what the runtimes read without a copy


@pytest.mark.parametrize("shape", [(5, 7, 9, 3), (2, 28, 28, 1), (1, 4, 4, 4)])
def test_fast_preprocessing_is_bit_identical_to_the_plain_numpy_form(shape):
    from edgeprune.targets.bundle import Preprocess

    channels = shape[3]
    mean, std = tuple(np.linspace(0.3, 0.6, channels)), tuple(np.linspace(0.2, 0.3, channels))
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    scale = np.asarray(std, dtype=np.float32) * 255.0
    offset = np.asarray(mean, dtype=np.float32) * 255.0
    plain = ((images.astype(np.float32) - offset) / scale).transpose(0, 3, 1, 2)
    assert np.array_equal(Preprocess(mean, std)(images), plain)


def test_external_splits_are_read_in_place_by_row_range(tmp_path):
    images = np.arange(10 * 4 * 4 * 3, dtype=np.uint32).astype(np.uint8).reshape(10, 4, 4, 3)
    np.save(tmp_path / "corrupted.npy", images)
    np.save(tmp_path / "labels.npy", np.arange(10, dtype=np.uint8))
    bundle = write_bundle(
        tmp_path / "b",
        {"clean": (images[:2], [0, 1])},
        (0, 0, 0),
        (1, 1, 1),
        10,
        external_splits=[
            Split("noise/2", str(tmp_path / "corrupted.npy"), str(tmp_path / "labels.npy"), 5, 10)
        ],
    )
    again = EvalBundle(bundle.path)
    np.testing.assert_array_equal(again.images("noise/2"), images[5:10])
    np.testing.assert_array_equal(again.labels("noise/2"), np.arange(5, 10))
    assert tmp_path / "corrupted.npy" in again.files()


def test_missing_or_foreign_bundle_is_a_user_error(tmp_path):
    with pytest.raises(EdgepruneError, match="not an eval bundle"):
        EvalBundle(tmp_path)


def test_runner_outputs_match_pytorch_and_record_latency(tiny_artifact, tmp_path):
    model, exported, bundle = tiny_artifact
    job = DeviceJob(
        batch_size=16,
        latency_batches=(1, 8),
        warmup=2,
        iterations=20,
        feature_splits=("clean",),
        feature_limit=25,
    )
    record = evaluate_artifact(exported.path, bundle.path, tmp_path, job)
    with np.load(tmp_path / "outputs.npz") as data:
        logits, features = data["logits/clean"], data["features/clean"]
    with torch.no_grad():
        reference = model(
            torch.from_numpy(np.concatenate(list(bundle.batches("clean", 40))))
        ).numpy()
    np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-5)
    assert features.shape == (25, 8, 16, 16)  # feature maps only for the first 25 images
    for batch in ("1", "8"):
        stats = record["latency"][batch]
        assert stats["iterations"] >= 10 and stats["warmup"] == 2
        assert (
            stats["p50_ms"]
            <= stats["p90_ms"]
            <= stats["p95_ms"]
            <= stats["p99_ms"]
            <= stats["max_ms"]
        )
        assert stats["throughput_ips"] == pytest.approx(int(batch) * 1e3 / stats["p50_ms"])
        # every figure says how it was measured; ONNX Runtime has no other timing mode
        assert stats["mode"].startswith("serial (application latency)") and "modes" not in stats
        # the load when it was timed sits beside the figure (Linux has it)
        assert (
            len(stats["load_average"]["before"]) == 3 and len(stats["load_average"]["after"]) == 3
        )
    assert record["memory"]["peak_rss_bytes"] > 0
    assert record["environment"]["runtime"]["runtime"] == "onnxruntime"
    assert "cpu_frequency_policy" in record["environment"]  # None where cpufreq is not exposed


def test_runner_pads_a_static_batch(tiny_artifact, tmp_path):
    from edgeprune.export import ExportSettings, export_onnx

    model, _, bundle = tiny_artifact
    static = export_onnx(
        model, tmp_path / "static.onnx", (3, 16, 16), ExportSettings(dynamic_batch=False)
    )
    record = evaluate_artifact(
        static.path,
        bundle.path,
        tmp_path / "out",
        DeviceJob(batch_size=16, latency_batches=(1, 8), iterations=10),
    )
    with np.load(tmp_path / "out" / "outputs.npz") as data:
        assert data["logits/clean"].shape == (40, 4)
    # A batch-1 artifact cannot be fed 8 images at once: it is timed at its own batch only.
    assert sorted(record["latency"]) == ["1"]
    assert record["latency"]["1"]["batch_size"] == 1


def test_static_batch_artifacts_are_timed_at_their_batch_and_say_so():
    from edgeprune.targets.latency import TimedBatch, latency_plan, static_batch_note

    assert latency_plan((1, 64), None) == [TimedBatch(1, 1), TimedBatch(64, 64)]
    assert latency_plan((1, 64), 1) == [TimedBatch(1, 1)]
    # batch 1 on a static batch-4 artifact is one padded call of 4; throughput is batch 4
    assert latency_plan((1, 64), 4) == [TimedBatch(1, 4), TimedBatch(4, 4)]
    assert static_batch_note(None) is None
    assert "timed at batch 1 only" in static_batch_note(1)
    assert "static batch 4" in static_batch_note(4)


def test_a_padded_call_is_reported_per_image_it_answers(tiny_artifact):
    from edgeprune.targets.latency import measure_latency
    from edgeprune.targets.runners import create_runner

    _, exported, bundle = tiny_artifact
    batch = next(bundle.batches("clean", 4))
    with create_runner("onnxruntime", str(exported.path)) as runner:
        stats = measure_latency(runner, batch, 1, 10, 5.0, answers=1)
    assert stats["batch_size"] == 1 and stats["run_batch_size"] == 4
    assert stats["throughput_ips"] == pytest.approx(1e3 / stats["p50_ms"])


def test_local_subprocess_run_and_its_errors(tiny_artifact, tmp_path):
    _, exported, bundle = tiny_artifact
    record = run_local(
        DeviceJob(latency_batches=(1,), iterations=10), exported.path, bundle.path, tmp_path / "run"
    )
    assert record == read_json(tmp_path / "run" / "run.json")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(EdgepruneError, match="runner failed on broken.onnx.*cannot load"):
        run_local(
            DeviceJob(latency_batches=(1,), iterations=10), broken, bundle.path, tmp_path / "broken"
        )


def test_runner_command_line_reports_errors_in_one_line(tmp_path, capsys):
    code = main(
        [
            "--artifact",
            str(tmp_path / "absent.onnx"),
            "--bundle",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_export_leaves_the_model_in_its_mode(tiny_artifact, tmp_path):
    from edgeprune.export import export_onnx

    model, _, _ = tiny_artifact
    model.eval()
    export_onnx(model, tmp_path / "again.onnx", (3, 16, 16))
    assert not model.training and not model.bn.training
    model.train()
    export_onnx(model, tmp_path / "again2.onnx", (3, 16, 16))
    assert model.training
    model.eval()


def test_runner_peak_memory_is_its_own_not_the_parents(tiny_artifact, tmp_path):
    """ru_maxrss survives execve; the runner must report its own peak, not its parent's."""
    _, exported, bundle = tiny_artifact
    ballast = np.ones(400 * 2**20 // 8)  # 400 MB resident in this (parent) process
    ballast[::512] = 2.0
    record = run_local(
        DeviceJob(latency_batches=(1,), iterations=10), exported.path, bundle.path, tmp_path / "m"
    )
    assert record["memory"]["peak_rss_bytes"] < 300 * 2**20
    del ballast
