#!/usr/bin/env python3
"""One-shot check of edgeprune's GPU path on a real NVIDIA GPU, in under 8 minutes.

Run from the repository root on the machine with the GPU (it may be offline; nothing is
downloaded):

    python tools/gpu_check.py [--json gpu-check.json] [--keep DIR]

One PASS / FAIL / SKIP line per check as it finishes (a hard stop still leaves the lines
printed so far), then a summary; exit status 0 only when nothing failed. What is missing
(TensorRT, pycuda, trtexec, a DLA) makes its checks SKIP with the reason, so the same script
checks a PyTorch-only CUDA machine, a workstation with TensorRT and a Jetson. No training:
SmallResNet with fixed random weights on sklearn's digits, so every numeric check compares a
GPU runtime with ONNX Runtime on the same graph. Please attach the whole output (or the
``--json`` file) to a bug report.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.metadata as md
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

T0 = time.perf_counter()
BUDGET_S = 400.0  # checks that would start after this are skipped
HARD_STOP_S = 470.0  # past this the process dumps its tracebacks and exits, whatever it does
RESULTS: list[dict] = []
S: dict = {}  # what earlier checks made, for later ones


class Skip(Exception):
    pass


def elapsed() -> float:
    return time.perf_counter() - T0


def run_check(name: str, check, needs: tuple[str, ...] = ()) -> None:
    started = time.perf_counter()
    missing = [n for n in needs if n not in S]
    if missing:
        status, detail = "SKIP", f"needs {', '.join(missing)} (skipped or failed above)"
    elif elapsed() > BUDGET_S:
        status, detail = "SKIP", f"time budget spent ({elapsed():.0f} s)"
    else:
        try:
            detail, status = check() or "", "PASS"
        except Skip as exc:
            status, detail = "SKIP", str(exc)
        except Exception as exc:  # every failure is reported; none stops the other checks
            status = "FAIL"
            frames = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in frames if "/edgeprune/" in f.filename or "/targets/" in f.filename
                    or "/export/" in f.filename] or frames  # fmt: skip
            where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = f"{type(exc).__name__}: {' / '.join(lines[:4])[:600]} [at {where}]"
    seconds = time.perf_counter() - started
    RESULTS.append(
        {"check": name, "status": status, "detail": detail, "seconds": round(seconds, 2)}
    )
    print(f"{status:4s} {name} ({seconds:.1f} s): {detail}", flush=True)


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def top1(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


def tensorrt():
    if importlib.util.find_spec("tensorrt") is None:
        raise Skip("TensorRT is not installed (README: which tensorrt-cu12 / cu13 extra to pick)")
    return S["trt"]


# ------------------------------------------------------------------------------------------
def c_environment():
    versions = {}
    for name in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu12-libs",
                 "tensorrt-cu13-libs", "cuda-python", "cuda-bindings", "pycuda", "onnxruntime",
                 "onnxruntime-gpu", "onnx", "torch", "edgeprune"):  # fmt: skip
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    info: dict = {"python": sys.version.split()[0], "distributions": versions}
    try:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart
        info["driver_cuda"] = cudart.cudaDriverGetVersion()[1]
        info["cuda_python_runtime"] = cudart.cudaRuntimeGetVersion()[1]
    except Exception as exc:  # not installed, or no driver (RuntimeError on 12.4-12.6)
        info["cuda_python"] = f"unusable: {exc}"
    try:
        import torch

        info["torch_cuda"] = torch.version.cuda
        info["torch_cuda_available"] = torch.cuda.is_available()
    except ImportError:
        pass
    if importlib.util.find_spec("tensorrt") is not None:
        import tensorrt as trt

        S["trt"] = trt
        info["tensorrt"] = trt.__version__
    S["env"] = info
    problems = []
    driver = int(info.get("driver_cuda") or 0)
    bindings = versions.get("cuda-bindings") or versions.get("cuda-python") or ""
    if bindings and driver and int(bindings.split(".")[0]) * 1000 > driver:
        problems.append(f"cuda-python {bindings} needs a CUDA {bindings.split('.')[0]} driver; "
                        f"the driver supports CUDA {driver // 1000}.{driver % 1000 // 10}")  # fmt: skip
    for major in (12, 13):
        if f"tensorrt-cu{major}-libs" in versions and driver and driver < major * 1000:
            problems.append(f"TensorRT for CUDA {major} on a driver for CUDA {driver // 1000}")
    if "tensorrt" in info:
        major, minor = (int(v) for v in info["tensorrt"].split(".")[:2])
        if not (8, 0) <= (major, minor) < (11, 0):  # tensorrt_build._check_version's range
            problems.append(f"TensorRT {info['tensorrt']} outside the supported 8.x-10.x")
    if problems:
        raise RuntimeError("; ".join(problems) + f" | {json.dumps(info)}")
    return json.dumps(info)


def c_local_gpu():
    from edgeprune.targets.local_gpu import query_gpu, runs_here
    from edgeprune.targets.profile import load_target

    gpu, how = query_gpu(0)
    if gpu is None:
        raise RuntimeError(f"no usable CUDA GPU: {how}")
    S["gpu"] = gpu
    target = load_target("local-gpu")
    assert runs_here(target), f"{target.name} is not recognised as this machine's GPU"
    auto = load_target("auto")
    S["target"] = target
    return (f"{gpu.name} sm {gpu.compute_capability}, {gpu.multiprocessors} SMs at "
            f"{gpu.clock_mhz} MHz, {gpu.bandwidth_gbps} GB/s (via {how}) -> profile "
            f"{target.name}: peaks {target.peak}, runtime {target.runtime.default} "
            f"{target.runtime.precision}; --target auto is {auto.name}")  # fmt: skip


def c_cuda_backend():
    from edgeprune.targets.runners.cuda_backend import load_cuda

    cuda = load_cuda("auto")
    try:
        n = 1 << 22
        host, back, device = cuda.host_buffer(n), cuda.host_buffer(n), cuda.device_buffer(n)
        source = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8)
        host[:] = source
        events = [cuda.event() for _ in range(3)]
        cuda.record(events[0])
        cuda.copy_to_device(device, host)
        cuda.record(events[1])
        cuda.copy_to_host(back, device)
        cuda.record(events[2])
        cuda.synchronize()
        assert np.array_equal(back, source), "a 4 MiB pinned round trip changed the bytes"
        h2d, d2h = cuda.elapsed_ms(events[0], events[1]), cuda.elapsed_ms(events[1], events[2])
        assert h2d > 0 and d2h > 0, f"event times not positive: {h2d}, {d2h}"
        S["cuda"] = cuda.name
        return f"{cuda.name}: 4 MiB H2D {h2d:.3f} ms ({n / h2d / 1e6:.1f} GB/s), D2H {d2h:.3f} ms"
    finally:
        cuda.close()


def c_artifacts():
    import torch

    from edgeprune.data.datasets import load_digits
    from edgeprune.export import ExportSettings, export_onnx
    from edgeprune.export.torch_program import export_program
    from edgeprune.models.small_resnet import SmallResNet
    from edgeprune.targets.bundle import Preprocess
    from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

    torch.manual_seed(0)
    folder = S["dir"]
    data = load_digits("", None, 0)
    model = SmallResNet(10).eval()
    S["onnx"] = export_onnx(model, folder / "model.onnx", (3, 32, 32)).path
    static = ExportSettings(dynamic_batch=False)
    S["static_onnx"] = export_onnx(model, folder / "static.onnx", (3, 32, 32), static).path
    export_program(model, folder / "model.pt2", (3, 32, 32))
    S["program"] = folder / "model.pt2"
    S["pre"] = Preprocess(tuple(data.mean), tuple(data.std))
    S["calibration"] = np.asarray(data.val.images)[:128]
    S["x"] = S["pre"](np.asarray(data.test.images))
    with OnnxRuntimeRunner(S["onnx"]) as ort:
        S["ref"] = ort.infer({"input": S["x"]})
    return f"digits test split {S['x'].shape}; ONNX Runtime outputs {sorted(S['ref'])}"


def c_pytorch_cuda():
    from edgeprune.targets.runners import create_runner

    lines = []
    for precision, mode, bound in (("fp32", "eager", 1e-3), ("fp16", "eager", 0.02),
                                   ("fp16", "cuda-graph", 0.02)):  # fmt: skip
        with create_runner("pytorch", str(S["program"]), device="cuda", precision=precision,
                           mode=mode) as runner:  # fmt: skip
            out = runner.infer_batched(S["x"])
            for _ in range(20):
                runner.infer({"input": S["x"][:1]}, ["logits"])
            compute = np.median([t["compute_ms"] for t in runner.timings[-20:]])
        error = rel_l2(out["logits"], S["ref"]["logits"])
        assert error < bound, f"{precision} {mode}: logits rel-L2 {error:.3g} against ONNX Runtime"
        assert out["features"].shape == S["ref"]["features"].shape
        lines.append(f"{precision} {mode}: rel-L2 {error:.1e}, b1 compute {compute:.3f} ms")
    S["pytorch_cuda"] = True
    return "; ".join(lines)


def c_builder():
    tensorrt()
    from edgeprune.export.tensorrt_build import describe_builder

    described = describe_builder()
    S["dla_cores"] = int(described.get("dla_cores", 0) or 0)
    return json.dumps(described)


def _build(name, onnx_path, calibration=False, **settings):
    from edgeprune.export.tensorrt_build import EngineSettings, build_engine

    built = build_engine(
        onnx_path,
        EngineSettings(**settings),
        calibration_images=S["calibration"] if calibration else None,
        preprocess=S["pre"] if calibration else None,
        out_dir=S["dir"] / name,
    )
    S[f"engine_{name}"] = built
    return built


def _run(built, x, **options):
    from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner

    with TensorRTRunner(built.path, **options) as runner:
        out = runner.infer_batched(x)
        return out, dict(runner.info), runner.max_batch, runner.fixed_batch, list(runner.timings)


def c_fp32():
    tensorrt()
    built = _build("fp32", S["onnx"], precision="fp32", batch=(1, 16, 64))
    out, info, max_batch, fixed, timings = _run(built, S["x"])  # more than 64: split
    assert max_batch == 64 and fixed is None, (max_batch, fixed)
    assert {"total_ms", "h2d_ms", "compute_ms", "d2h_ms"} <= set(timings[0]), timings[0]
    for key in ("logits", "features"):
        scale = float(np.abs(S["ref"][key]).max())
        np.testing.assert_allclose(
            out[key], S["ref"][key], rtol=1e-3, atol=1e-3 * scale, err_msg=key
        )
    S["fp32_out"] = out
    return (f"{built.path.name}: built in {built.record['build_seconds']:.1f} s; logits rel-L2 "
            f"{rel_l2(out['logits'], S['ref']['logits']):.1e}, features "
            f"{rel_l2(out['features'], S['ref']['features']):.1e}")  # fmt: skip


def c_fp16():
    tensorrt()
    out, *_ = _run(_build("fp16", S["onnx"], precision="fp16", batch=(1, 16, 64)), S["x"])
    error, similar = (
        rel_l2(out["logits"], S["ref"]["logits"]),
        cosine(out["logits"], S["ref"]["logits"]),
    )
    assert similar > 0.999 and error < 0.02, (
        f"FP16 vs FP32: rel-L2 {error:.3g}, cosine {similar:.6f}"
    )
    return f"rel-L2 {error:.1e}, cosine {similar:.6f}, top-1 agreement {top1(out['logits'], S['ref']['logits']):.3f}"


def c_int8_qdq():
    tensorrt()
    import onnx

    from edgeprune.export.quantize import (
        HOST_RUNNER_OPTIONS,
        QuantizeSettings,
        check_tensorrt_qdq,
        quantize_int8,
    )
    from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

    settings = QuantizeSettings(calibration_count=128)
    q = quantize_int8(S["onnx"], S["dir"] / "model.int8.onnx", S["calibration"], S["pre"], settings)
    assert check_tensorrt_qdq(onnx.load(str(q.path))) == []
    built = _build("int8qdq", q.path, precision="int8", batch=(1, 16, 64))
    assert built.record["int8_quantization"] == "explicit", built.record["int8_quantization"]
    out, *_ = _run(built, S["x"])
    with OnnxRuntimeRunner(q.path, **HOST_RUNNER_OPTIONS) as ort:
        host = ort.infer({"input": S["x"]})
    error, similar = rel_l2(out["logits"], host["logits"]), cosine(out["logits"], host["logits"])
    assert error < 0.1 and similar > 0.99, f"INT8 engine vs ONNX Runtime QDQ: rel-L2 {error:.3g}"
    return f"vs ONNX Runtime QDQ: rel-L2 {error:.3f}, cosine {similar:.5f}, top-1 {top1(out['logits'], host['logits']):.3f}"


def c_int8_calibrated():
    tensorrt()
    settings = dict(precision="int8", batch=(1, 16, 64), calibration_batch=16, calibration=True)
    built = _build("int8cal", S["onnx"], **settings)
    assert built.record["int8_quantization"] == "implicit", built.record
    again = _build("int8cal", S["onnx"], **settings)  # from the calibration cache
    out, *_ = _run(again, S["x"])
    similar = cosine(out["logits"], S["ref"]["logits"])
    assert np.isfinite(out["logits"]).all() and similar > 0.95, f"cosine {similar:.4f}"
    return (f"built in {built.record['build_seconds']:.1f} s, from the cache in "
            f"{again.record['build_seconds']:.1f} s; cosine to FP32 {similar:.4f}")  # fmt: skip


def c_static():
    tensorrt()
    out, info, max_batch, fixed, _ = _run(
        _build("static", S["static_onnx"], precision="fp32"), S["x"][:5]
    )
    assert fixed == 1 and max_batch is None, (fixed, max_batch)
    scale = float(np.abs(S["ref"]["logits"]).max())
    np.testing.assert_allclose(out["logits"], S["ref"]["logits"][:5], rtol=1e-3, atol=1e-3 * scale)
    return f"static batch 1: 5 images run one by one, input shape {info['input_shape']}"


def c_refusals():
    tensorrt()
    from edgeprune.errors import EdgepruneError
    from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner

    said = []
    with TensorRTRunner(S["engine_fp32"].path) as runner:
        for bad in (np.zeros((65, 3, 32, 32), np.float32), np.zeros((1, 3, 16, 16), np.float32)):
            try:
                runner.infer({"input": bad})
                if len(bad) != 65:  # 65 > the profile's 64 is split, not refused
                    raise AssertionError(f"shape {bad.shape} was accepted")
            except EdgepruneError as exc:
                said.append(str(exc)[:80])
        out = runner.infer({"input": S["x"][:3]})  # still runs after a refused shape
        scale = float(np.abs(S["ref"]["logits"]).max())
        np.testing.assert_allclose(
            out["logits"], S["ref"]["logits"][:3], rtol=1e-3, atol=1e-3 * scale
        )
    corrupt = S["dir"] / "corrupt.engine"
    corrupt.write_bytes(b"\x00garbage" * 64)
    try:
        with TensorRTRunner(corrupt):
            raise AssertionError("a corrupt engine loaded")
    except EdgepruneError as exc:
        said.append(str(exc)[:120])
    return " | ".join(said)


def c_sparse():
    tensorrt()
    major = int(S["gpu"].compute_capability.split(".")[0])
    if major < 8:
        raise Skip(f"sm {S['gpu'].compute_capability}: no sparse tensor cores")
    built = _build("sparse", S["onnx"], precision="fp16", batch=(1, 16, 64), sparse_weights=True)
    assert ".sparse." in built.path.name
    return f"{built.path.name}; notes {built.record.get('notes')}"


def c_dla():
    tensorrt()
    if not S.get("dla_cores"):
        raise Skip("no DLA on this GPU")
    built = _build("dla", S["onnx"], precision="fp16", batch=(8, 8, 8), dla_core=0)
    out, *_ = _run(built, S["x"][:8])
    return f"DLA engine: logits rel-L2 {rel_l2(out['logits'], S['ref']['logits'][:8]):.3f}"


def c_latency_modes():
    tensorrt()
    from edgeprune.targets.latency import measure_latency, measure_modes
    from edgeprune.targets.runners.tensorrt_runner import TensorRTRunner

    lines = []
    with TensorRTRunner(S["engine_fp16"].path) as runner:
        for size in (1, 64):
            batch = np.ascontiguousarray(np.resize(S["x"], (size, 3, 32, 32)))
            serial = measure_latency(runner, batch, warmup=50, iterations=300, max_seconds=2.0)
            line = f"b{size}: serial p50 {serial['p50_ms']:.3f} ms (compute {serial['compute_ms']['p50_ms']:.3f})"
            for mode, timed in measure_modes(runner, batch, 50, 300, 2.0).items():
                if "unsupported" in timed:
                    line += f", {mode} unsupported ({timed['unsupported'][:60]})"
                    continue
                line += (
                    f", {mode} p50 {timed['p50_ms']:.3f} ms, {timed['throughput_ips']:.0f} img/s"
                )
                line += f" (enqueue {timed['enqueue_ms']['p50_ms']:.3f})"
            lines.append(line)
    S["latency_modes"] = lines
    return " | ".join(lines)


def c_trtexec():
    tensorrt()
    exe = shutil.which("trtexec") or next(
        (p for p in ("/usr/src/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")
         if os.path.exists(p)), None)  # fmt: skip
    if exe is None:
        raise Skip("trtexec not found")
    from edgeprune.export.tensorrt_build import parse_trtexec_summary

    cmd = [exe, f"--loadEngine={S['engine_fp16'].path}", "--shapes=input:64x3x32x32",
           "--warmUp=200", "--duration=2", "--iterations=100"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-800:] + done.stderr[-800:]
    summary = parse_trtexec_summary(done.stdout)
    assert "gpu_compute_ms" in summary, done.stdout[-800:]
    return (
        f"trtexec b64: {json.dumps(summary)[:300]}; edgeprune: {S.get('latency_modes', ['-'])[-1]}"
    )


def c_pycuda():
    tensorrt()
    if importlib.util.find_spec("pycuda") is None:
        raise Skip("pycuda not installed")
    out, info, *_ = _run(S["engine_fp32"], S["x"][:40], cuda="pycuda")
    np.testing.assert_allclose(out["logits"], S["fp32_out"]["logits"][:40], rtol=1e-5, atol=1e-5)
    return f"{info['cuda_binding']} gives the cuda-python results"


def c_default_compress():
    from edgeprune.cli import main as edgeprune
    from edgeprune.runs import read_run

    out = S["dir"] / "compress"
    code = edgeprune(["compress", "--quick", "--out", str(out), "--quiet"])
    assert code == 0, f"edgeprune compress --quick exited {code}"
    results = read_run(out).results  # --quick with --out writes there
    assert results.target_name == S["target"].name, results.target_name
    variants = [e for e in results if "@" in e.name]
    assert variants, "no variant on this GPU's runtime was measured"
    on_gpu = [e.name for e in variants if e.latency.where == "device"]
    assert on_gpu == [e.name for e in variants], f"not measured on the GPU: {variants}"
    first = variants[0]
    return (f"target {results.target_name}; {len(variants)} variants on {first.latency.runtime}, "
            f"{first.name} b1 p50 {first.latency.at(1).p50_ms:.3f} ms measured on the GPU")  # fmt: skip


def c_project_tests():
    left = HARD_STOP_S - 25 - elapsed()
    if left < 90:
        raise Skip(f"only {left:.0f} s left")
    if importlib.util.find_spec("pytest") is None:
        raise Skip("pytest is not installed (pip install -e '.[test]')")
    files = ["tests/export/test_tensorrt_gpu.py", "tests/targets/test_pytorch_runner.py",
             "tests/targets/test_local_gpu.py"]  # fmt: skip
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, "-m", "not slow"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=left)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"pytest still running after {left:.0f} s") from None
    tail = [line for line in done.stdout.splitlines() if line.strip()][-6:]
    if done.returncode not in (0, 5):
        raise AssertionError(" / ".join(tail))
    return " / ".join(tail)


CHECKS = [
    ("01 environment: versions, driver and CUDA majors", c_environment, ()),
    ("02 local GPU: properties and the local-gpu profile", c_local_gpu, ()),
    ("03 cuda backend: pinned buffers, async copies, events", c_cuda_backend, ()),
    ("04 ONNX + torch.export artifacts, ONNX Runtime reference", c_artifacts, ()),
    (
        "05 PyTorch runner on CUDA: fp32 / fp16 / CUDA graph == ONNX Runtime",
        c_pytorch_cuda,
        ("program", "gpu"),
    ),
    ("06 TensorRT builder on this GPU", c_builder, ("gpu",)),
    (
        "07 FP32 engine: build, run (dynamic batch split at max) == ONNX Runtime",
        c_fp32,
        ("onnx", "gpu"),
    ),
    ("08 FP16 engine vs FP32", c_fp16, ("onnx", "gpu")),
    ("09 INT8 explicit (QDQ) engine vs ONNX Runtime QDQ", c_int8_qdq, ("onnx", "gpu")),
    ("10 INT8 calibrated (entropy calibrator + cache)", c_int8_calibrated, ("onnx", "gpu")),
    ("11 static batch engine, padding", c_static, ("static_onnx", "gpu")),
    ("12 refused shapes, corrupt engine", c_refusals, ("engine_fp32",)),
    ("13 2:4 sparse build", c_sparse, ("onnx", "gpu")),
    ("14 DLA build and run (where there is a DLA)", c_dla, ("onnx", "gpu")),
    ("15 latency modes: serial vs enqueue-ahead / CUDA graph", c_latency_modes, ("engine_fp16",)),
    ("16 trtexec on the same engine (where installed)", c_trtexec, ("engine_fp16",)),
    ("17 pycuda backend (where installed)", c_pycuda, ("engine_fp32", "fp32_out")),
    ("18 default compress (--quick) on this GPU", c_default_compress, ("target",)),
    ("19 the project's GPU tests (not slow), if time is left", c_project_tests, ("gpu",)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", help="build in this folder and keep it")
    args = parser.parse_args()
    faulthandler.dump_traceback_later(HARD_STOP_S, exit=True)
    S["dir"] = Path(args.keep or tempfile.mkdtemp(prefix="edgeprune-gpu-check-"))
    S["dir"].mkdir(parents=True, exist_ok=True)
    print(f"edgeprune GPU check: Python {sys.version.split()[0]}, work dir {S['dir']}", flush=True)
    for name, check, needs in CHECKS:
        run_check(name, check, needs)
    counts = {s: sum(r["status"] == s for r in RESULTS) for s in ("PASS", "FAIL", "SKIP")}
    print(f"\nSUMMARY: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
          f"in {elapsed():.0f} s", flush=True)  # fmt: skip
    if args.json:
        record = {"results": RESULTS, "environment": S.get("env"), "gpu": str(S.get("gpu"))}
        Path(args.json).write_text(json.dumps(record, indent=1))
    if not args.keep:
        shutil.rmtree(S["dir"], ignore_errors=True)
    faulthandler.cancel_dump_traceback_later()
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
