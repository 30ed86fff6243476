"""Peak compute and memory bandwidth of this machine, measured the way the runtime sees them:
an ONNX Runtime MatMul for FP32 compute and a large numpy copy for bandwidth."""

from __future__ import annotations

import time

import numpy as np

from edgeprune.targets.estimate import MachinePeaks


def _best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_gemm_flops(size: int = 1024, threads: int | None = None) -> float:
    """FP32 FLOP/s of a square MatMul in ONNX Runtime (the CPU provider's MLAS kernels)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", [a, b], [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    feeds = {"a": rng.random((size, size), np.float32), "b": rng.random((size, size), np.float32)}
    seconds = _best_of(lambda: session.run(None, feeds), repeats=5)
    return 2 * size**3 / seconds


def measure_copy_bandwidth(megabytes: int = 256) -> float:
    """Bytes per second moved by a large array copy (one read + one write per byte)."""
    src = np.ones(megabytes * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    seconds = _best_of(lambda: np.copyto(dst, src), repeats=5)
    return 2 * src.nbytes / seconds


def measure_host_peaks(threads: int | None = None) -> MachinePeaks:
    fp32 = measure_gemm_flops(threads=threads)
    return MachinePeaks({"fp32": fp32}, measure_copy_bandwidth(), "measured")
