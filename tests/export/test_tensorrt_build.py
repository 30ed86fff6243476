"""What of the TensorRT build path runs without a GPU: naming, trtexec parsing, and one clear
error when TensorRT is missing. The builds themselves are in test_tensorrt_gpu.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.export.tensorrt_build import (
    EngineSettings,
    build_engine,
    device_slug,
    engine_filename,
    parse_trtexec_summary,
)

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None

# trtexec 10.x performance summary (NVIDIA/TensorRT issue #4177), timestamps included.
TRTEXEC_10 = """\
[10/03/2024-10:47:59] [I] === Performance summary ===
[10/03/2024-10:47:59] [I] Throughput: 130.298 qps
[10/03/2024-10:47:59] [I] Latency: min = 5.38672 ms, max = 13.3664 ms, mean = 7.60628 ms, median = 7.16092 ms, percentile(90%) = 10.2996 ms, percentile(95%) = 10.8698 ms, percentile(99%) = 12.9675 ms
[10/03/2024-10:47:59] [I] Enqueue Time: min = 2.72876 ms, max = 15.0201 ms, mean = 7.63062 ms, median = 7.86694 ms, percentile(90%) = 10.1792 ms, percentile(95%) = 11.7217 ms, percentile(99%) = 14.1848 ms
[10/03/2024-10:47:59] [I] H2D Latency: min = 0.0065918 ms, max = 0.0698242 ms, mean = 0.0122212 ms, median = 0.00814819 ms, percentile(90%) = 0.0253906 ms, percentile(95%) = 0.0270996 ms, percentile(99%) = 0.0515137 ms
[10/03/2024-10:47:59] [I] GPU Compute Time: min = 5.34595 ms, max = 13.3388 ms, mean = 7.58404 ms, median = 7.14139 ms, percentile(90%) = 10.2881 ms, percentile(95%) = 10.8175 ms, percentile(99%) = 12.9485 ms
[10/03/2024-10:47:59] [I] D2H Latency: min = 0.00390625 ms, max = 0.110596 ms, mean = 0.0100141 ms, median = 0.00439453 ms, percentile(90%) = 0.0254517 ms, percentile(95%) = 0.0319824 ms, percentile(99%) = 0.0994873 ms
[10/03/2024-10:47:59] [I] Total Host Walltime: 3.00082 s
"""
# The 8.x form on a Jetson, where some "=" are missing (beyondli/Yolo_on_Jetson issue #4).
TRTEXEC_8 = """\
Throughput: 169.352 qps
Latency: min = 5.38959 ms, max 6.19507 ms, mean 5.93288 ms, median 6.02185 ms, percentile(99%) 6.17407 ms
GPU Compute Time: min = 3.17834 ms, max = 3.88306 ms, mean = 3.63242 ms, median = 3.71753 ms, percentile(99%) 3.87793 ms
"""


def test_trtexec_summary_is_parsed_in_both_formats():
    new = parse_trtexec_summary(TRTEXEC_10)
    assert new["throughput_qps"] == 130.298
    assert new["gpu_compute_ms"]["median"] == 7.14139
    assert new["gpu_compute_ms"]["p90"] == 10.2881 and new["gpu_compute_ms"]["p99"] == 12.9485
    assert new["latency_ms"]["min"] == 5.38672  # "Latency" is not confused with "H2D Latency"
    assert new["h2d_ms"]["median"] == 0.00814819 and new["d2h_ms"]["max"] == 0.110596
    assert new["enqueue_ms"]["mean"] == 7.63062
    old = parse_trtexec_summary(TRTEXEC_8)
    assert old["latency_ms"] == {
        "min": 5.38959,
        "max": 6.19507,
        "mean": 5.93288,
        "median": 6.02185,
        "p99": 6.17407,
    }
    assert old["gpu_compute_ms"]["median"] == 3.71753


def test_engine_names_carry_device_version_and_precision():
    assert device_slug("jetson-orin-nano") == "orin-nano"
    assert device_slug("NVIDIA H100 80GB HBM3") == "h100-80gb-hbm3"
    assert device_slug("Orin") == "orin"
    name = engine_filename(Path("runs/x/model.onnx"), "orin-nano", "10.3", EngineSettings())
    assert name == "model.orin-nano.trt10.3.fp16.engine"
    qdq = engine_filename(
        Path("model.int8.onnx"),
        "agx-orin-64gb",
        "8.6",
        EngineSettings(precision="int8", sparse_weights=True, dla_core=1),
    )
    assert qdq == "model.agx-orin-64gb.trt8.6.int8.sparse.dla1.engine"


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_missing_tensorrt_is_one_clear_error(tmp_path):
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"not read before the import check")
    with pytest.raises(EdgepruneError, match=r"TensorRT is not installed: pip install") as info:
        build_engine(onnx_path)
    assert "\n" not in str(info.value) and "edgeprune[tensorrt-cu12]" in str(info.value)


def test_missing_model_and_half_calibration_are_user_errors(tmp_path):
    with pytest.raises(EdgepruneError, match="not found"):
        build_engine(tmp_path / "absent.onnx")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"x")
    with pytest.raises(EdgepruneError, match="both the images and their preprocessing"):
        build_engine(model, calibration_images=object())


def test_engine_side_imports_without_torch():
    # Engines are built on the Jetson, which has TensorRT but often no torch.
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        "import edgeprune.export.tensorrt_build, edgeprune.targets.runners.tensorrt_runner\n"
        "from edgeprune.export import build_engine, EngineSettings\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
