"""trtexec's timing modes (tensorrt_timing.py) against the stand-in, whose CUDA helper queues
work per stream and runs it only when waited for: outputs read too early are NaN, two streams
on one buffer are a race, so correct results mean correct ordering. Also what the device entry
point writes into run.json for each mode."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.export.tensorrt_build import EngineSettings, build_engine
from edgeprune.targets.run import DeviceJob, evaluate_artifact
from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner


@pytest.fixture
def engine(fake_tensorrt, models, tmp_path):
    return build_engine(models["dynamic"], EngineSettings(batch=(1, 8, 32)), out_dir=tmp_path)


def _batch(models, n: int) -> np.ndarray:
    return models["bundle"].preprocess(models["images"][:n])


def _check_outputs(fake, outputs: dict, batch: np.ndarray) -> None:
    assert sorted(outputs) == ["features", "logits"]  # every output came back
    np.testing.assert_allclose(outputs["logits"], fake.reference_logits(batch), rtol=1e-5)
    expected = fake.reference_features(batch, (len(batch), 64, 8, 8))
    np.testing.assert_allclose(outputs["features"], expected, rtol=1e-6)


@pytest.mark.parametrize("mode", ["enqueue-ahead", "cuda-graph"])
@pytest.mark.parametrize("spin_wait", [False, True])
def test_modes_keep_streams_busy_and_return_every_output(
    fake_tensorrt, engine, models, mode, spin_wait
):
    batch = _batch(models, 8)
    with TensorRTRunner(engine.path, streams="3", spin_wait=str(spin_wait)) as runner:
        assert runner.latency_modes == ("enqueue-ahead", "cuda-graph")
        figure = runner.time_mode(mode, {"input": batch}, None, 4, 20, 5.0)
        _check_outputs(fake_tensorrt, runner.mode_outputs, batch)
        stats = runner._cuda.stats
        # the serial path still works beside the lanes, on its own buffers
        _check_outputs(fake_tensorrt, runner.infer({"input": batch[:3]}), batch[:3])
    assert figure["streams"] == 3 and figure["spin_wait"] is spin_wait
    assert figure["cuda_graph"] is (mode == "cuda-graph")
    assert figure["iterations"] == 20 and figure["batch_size"] == 8
    assert figure["outputs"] == ["logits", "features"]
    assert figure["mode"].startswith(f"{mode} (trtexec --infStreams=3)")
    assert ("--useSpinWait" in figure["mode"]) is spin_wait
    for key in ("h2d_ms", "compute_ms", "d2h_ms", "enqueue_ms"):
        assert figure[key]["p50_ms"] >= 0
    assert figure["throughput_ips"] == pytest.approx(20 * 8 / figure["wall_seconds"])
    if spin_wait:  # polled cudaEventQuery, never slept on an event
        assert stats["polls"] > 0 and stats["blocking waits"] == 0
    else:
        assert stats["blocking waits"] > 0 and stats["polls"] == 0
    if mode == "cuda-graph":  # one capture per stream, then launches only
        assert stats["captures"] == 3 and stats["graph launches"] == 3 + 20


def test_graphs_are_recaptured_for_a_new_shape_and_refused_without_capture(
    fake_tensorrt, engine, models
):
    with TensorRTRunner(engine.path) as runner:
        for n in (8, 2, 8):
            runner.time_mode("cuda-graph", {"input": _batch(models, n)}, ["logits"], 2, 10, 1.0)
            assert list(runner.mode_outputs) == ["logits"]
        assert runner._cuda.stats["captures"] == 6  # 2 streams x 3 shape changes
        runner._cuda.supports_graphs = False  # pycuda
        with pytest.raises(EdgepruneError, match="not supported through fake-cuda.*cuda-python"):
            runner.time_mode("cuda-graph", {"input": _batch(models, 2)}, None, 2, 10, 1.0)
        with pytest.raises(EdgepruneError, match="unknown TensorRT timing mode 'turbo'"):
            runner.time_mode("turbo", {"input": _batch(models, 2)}, None, 2, 10, 1.0)
        with pytest.raises(EdgepruneError, match="batch 40 is above the engine's maximum 32"):
            runner.time_mode("enqueue-ahead", {"input": _batch(models, 40)}, None, 2, 10, 1.0)


def test_the_stand_in_catches_wrong_ordering(fake_tensorrt, engine, models):
    """The checks the timing modes pass: a result read before its stream is waited for is
    NaN, an output never copied back keeps its poison, and two streams sharing a buffer fail."""
    from edgeprune.targets.runners import tensorrt_timing as timing

    batch = _batch(models, 4)
    with TensorRTRunner(engine.path) as runner:
        lanes = timing._lanes(runner)
        checked = runner.checked_feeds({"input": batch})
        timing._prepare(runner, lanes, checked, ["logits", "features"])
        timing._issue(runner, lanes[0], checked, False)
        early = timing._outputs(lanes[0])  # no wait: the copies back have not run
        assert np.isnan(early["logits"]).all()
        timing._finish(runner, lanes[0])
        _check_outputs(fake_tensorrt, timing._outputs(lanes[0]), batch)
        lanes[1].devices = lanes[0].devices  # a shared buffer: a race on a real GPU
        for tensor in runner._tensors:
            lanes[1].context.set_tensor_address(tensor.name, lanes[0].devices[tensor.name])
        timing._issue(runner, lanes[0], checked, False)
        with pytest.raises(AssertionError, match="data race"):
            timing._issue(runner, lanes[1], checked, False)


def test_run_json_has_the_serial_figure_and_each_mode(fake_tensorrt, engine, models, tmp_path):
    job = DeviceJob(
        runtime="tensorrt",
        batch_size=100,
        latency_batches=(1, 8),
        iterations=12,
        warmup=2,
        max_seconds=1.0,
        engine_options=(("streams", "2"), ("spin_wait", "true")),
    )
    record = evaluate_artifact(engine.path, models["bundle"].path, tmp_path / "out", job)
    for size in ("1", "8"):
        latency = record["latency"][size]
        assert latency["mode"].startswith("serial (application latency)")
        modes = latency["modes"]
        assert sorted(modes) == ["cuda-graph", "enqueue-ahead"]
        for name, figure in modes.items():
            assert figure["mode"].startswith(name) and figure["iterations"] == 12
            # every output back, as trtexec copies them
            assert figure["batch_size"] == int(size) and figure["outputs"] == ["logits", "features"]
            assert figure["streams"] == 2 and figure["spin_wait"] is True
            assert {"p50_ms", "throughput_ips", "enqueue_ms", "compute_ms"} <= set(figure)
    # modes off, or one this machine cannot run: recorded, never fatal
    quiet = DeviceJob(
        runtime="tensorrt", latency_batches=(1,), iterations=10, engine_options=(("modes", ""),)
    )
    record = evaluate_artifact(engine.path, models["bundle"].path, tmp_path / "quiet", quiet)
    assert "modes" not in record["latency"]["1"]
    fake_tensorrt.HostCuda.supports_graphs = False
    only_graph = DeviceJob(
        runtime="tensorrt",
        latency_batches=(1,),
        iterations=10,
        engine_options=(("modes", "cuda-graph"),),
    )
    record = evaluate_artifact(engine.path, models["bundle"].path, tmp_path / "graph", only_graph)
    assert "cuda-python" in record["latency"]["1"]["modes"]["cuda-graph"]["unsupported"]
