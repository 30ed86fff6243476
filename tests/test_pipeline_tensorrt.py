"""compress with TensorRT engines, end to end: runs where an NVIDIA GPU, TensorRT and
cuda-python or pycuda are present (pip install 'edgeprune[tensorrt-cu12]' or '[tensorrt-cu13]'); skips otherwise."""

from __future__ import annotations

import importlib.util

import pytest

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.runs import read_run

pytestmark = [pytest.mark.gpu, pytest.mark.tensorrt]
if importlib.util.find_spec("tensorrt") is None:
    pytest.skip(
        "TensorRT is not installed (pip install 'edgeprune[tensorrt-cu12]' or '[tensorrt-cu13]')",
        allow_module_level=True,
    )


@pytest.fixture(scope="module", autouse=True)
def gpu():
    from edgeprune.targets.runners.cuda_backend import load_cuda

    try:
        cuda = load_cuda()
    except EdgepruneError as exc:
        pytest.skip(f"no usable CUDA GPU here: {exc}")
    cuda.close()


def test_compress_builds_and_measures_engines(fast_run, tmp_path):
    out = tmp_path / "trt"
    flags = [
        "compress", "--out", str(out), "--weights", str(fast_run / "baseline" / "model.pt"), "--ratios", "0.5",
        "--finetune-epochs", "1", "--corruptions", "generate:50", "--runtime", "tensorrt",
        "--precisions", "fp32,fp16,int8", "--calibration-images", "128", "--latency-iterations", "50", "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    results = read_run(out).results
    for base in ("baseline", "l1-filter-0.50"):
        fp32 = results.entry(base)
        for precision, agreement in (("fp32", 0.999), ("fp16", 0.99), ("int8", 0.95)):
            engine = results.entry(f"{base}@trt-{precision}")
            assert engine.latency.runtime == "tensorrt" and engine.runtime == "tensorrt"
            assert engine.fidelity["top1_agreement"] >= agreement, (base, precision)
            assert abs(engine.quality.accuracy - fp32.quality.accuracy) <= 0.03
            one = engine.latency.at(1)
            # phases timed with CUDA events
            assert {"h2d_ms", "compute_ms", "d2h_ms"} <= set(one.details)
            assert engine.artifact["engine"]["precision"] == precision
            assert engine.quality.mpc > 0 and engine.explanation["path"].startswith("artifact")
