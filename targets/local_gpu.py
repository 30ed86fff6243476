"""This machine's CUDA GPU as a target: its properties, and a profile built from them.

``--target local-gpu`` (and ``--target auto`` on a machine with a usable CUDA GPU) measures on
the GPU edgeprune runs on. Its profile is built from the device itself: name, compute
capability, SM count, clocks, memory size and bus width through cuda-python (the CUDA runtime's
device attributes), pycuda, or PyTorch where neither is installed; peaks follow from SM count x
per-SM throughput of the architecture (``PER_SM``) x clock; DLA cores from TensorRT's builder.

On a Jetson the device is matched to its shipped profile instead (sourced figures, the
estimator's tuned efficiencies): compute capability, CUDA cores, memory size and GPU clock.

Host side (the device runner never imports it); torch-free where cuda-python or pycuda
reads the device.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from edgeprune.errors import EdgepruneError, first_line

LOCAL_GPU = "local-gpu"

# Per SM and clock, dense: (FP32 FLOP, FP16 FLOP, INT8 OP). FP32 is 2 x CUDA cores per SM;
# FP16 and INT8 are the tensor cores' dense rates (FP16 with FP32 accumulation on data-centre
# parts, the figure TensorRT kernels reach), before Volta the packed-math rates.
# [D] from NVIDIA's architecture whitepapers: P100, V100, T4, A100, GA102, H100, AD102, Orin.
PER_SM = {
    (5, 0): (256, 0, 0),
    (5, 2): (256, 0, 0),
    (5, 3): (256, 512, 0),  # Jetson Nano: packed FP16
    (6, 0): (128, 256, 0),  # P100: packed FP16, no dp4a
    (6, 1): (256, 4, 1024),  # GP10x: FP16 at 1/64, INT8 through dp4a
    (6, 2): (256, 512, 0),  # TX2
    (7, 0): (128, 1024, 0),  # V100: tensor cores FP16 only
    (7, 2): (128, 1024, 2048),  # Xavier
    (7, 5): (128, 1024, 2048),  # Turing
    (8, 0): (128, 2048, 4096),  # A100
    (8, 6): (256, 1024, 2048),  # GA10x
    (8, 7): (256, 2048, 4096),  # Orin
    (8, 9): (256, 1024, 2048),  # Ada
    (9, 0): (256, 4096, 8192),  # H100 / H200
    (10, 0): (256, 8192, 16384),  # B200
    (12, 0): (256, 1024, 2048),  # RTX 50
}
JETSON_ARCHITECTURES = {(5, 3), (6, 2), (7, 2), (8, 7)}


@dataclass(frozen=True)
class GpuProperties:
    """What the CUDA runtime says of one device."""

    name: str
    compute_capability: str  # "8.7"
    multiprocessors: int
    clock_mhz: float | None  # peak SM clock; None where the source does not say
    memory_clock_mhz: float | None
    memory_bus_bits: int | None
    total_memory_bytes: int
    integrated: bool
    source: str  # what read them: "cuda-python 12.6", "pycuda", "torch 2.5"

    @property
    def capability(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)

    @property
    def bandwidth_gbps(self) -> float | None:
        """Memory bandwidth: double data rate x bus width (GDDR / HBM / LPDDR alike)."""
        if not self.memory_clock_mhz or not self.memory_bus_bits:
            return None
        return 2 * self.memory_clock_mhz * 1e6 * self.memory_bus_bits / 8 / 1e9


def _from_cuda_python(device: int) -> GpuProperties:
    try:
        import cuda.bindings as package
        from cuda.bindings import runtime as cudart
    except ImportError:
        import cuda as package
        from cuda import cudart  # cuda-python < 12.6

    def call(result):
        error, *values = result
        if error != cudart.cudaError_t.cudaSuccess:
            raise RuntimeError(getattr(error, "name", str(error)))
        return values[0] if len(values) == 1 else values

    props = call(cudart.cudaGetDeviceProperties(device))  # the first call that needs a driver

    def get(name: str) -> int:
        attribute = getattr(cudart.cudaDeviceAttr, name)
        return int(call(cudart.cudaDeviceGetAttribute(attribute, device)))

    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else props.name
    return GpuProperties(
        name=str(name).split("\x00")[0],
        compute_capability=f"{get('cudaDevAttrComputeCapabilityMajor')}."
        f"{get('cudaDevAttrComputeCapabilityMinor')}",
        multiprocessors=get("cudaDevAttrMultiProcessorCount"),
        clock_mhz=get("cudaDevAttrClockRate") / 1e3,  # attributes are in kHz
        memory_clock_mhz=get("cudaDevAttrMemoryClockRate") / 1e3,
        memory_bus_bits=get("cudaDevAttrGlobalMemoryBusWidth"),
        total_memory_bytes=int(props.totalGlobalMem),
        integrated=bool(get("cudaDevAttrIntegrated")),
        source=f"cuda-python {getattr(package, '__version__', '')}".strip(),
    )


def _from_pycuda(device: int) -> GpuProperties:
    import pycuda.driver as driver

    driver.init()
    gpu = driver.Device(device)
    attribute = driver.device_attribute
    major, minor = gpu.compute_capability()
    return GpuProperties(
        name=gpu.name(),
        compute_capability=f"{major}.{minor}",
        multiprocessors=int(gpu.get_attribute(attribute.MULTIPROCESSOR_COUNT)),
        clock_mhz=gpu.get_attribute(attribute.CLOCK_RATE) / 1e3,
        memory_clock_mhz=gpu.get_attribute(attribute.MEMORY_CLOCK_RATE) / 1e3,
        memory_bus_bits=int(gpu.get_attribute(attribute.GLOBAL_MEMORY_BUS_WIDTH)),
        total_memory_bytes=int(gpu.total_memory()),
        integrated=bool(gpu.get_attribute(attribute.INTEGRATED)),
        source="pycuda",
    )


def _from_torch(device: int) -> GpuProperties:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False")
    props = torch.cuda.get_device_properties(device)
    clock = getattr(props, "clock_rate", None)  # kHz, in recent PyTorch only
    memory_clock = getattr(props, "memory_clock_rate", None)
    return GpuProperties(
        name=props.name,
        compute_capability=f"{props.major}.{props.minor}",
        multiprocessors=int(props.multi_processor_count),
        clock_mhz=clock / 1e3 if clock else None,
        memory_clock_mhz=memory_clock / 1e3 if memory_clock else None,
        memory_bus_bits=getattr(props, "memory_bus_width", None),
        total_memory_bytes=int(props.total_memory),
        integrated=bool(props.is_integrated),
        source=f"torch {torch.__version__}",
    )


READERS = (("cuda-python", _from_cuda_python), ("pycuda", _from_pycuda), ("torch", _from_torch))


@functools.cache
def query_gpu(device: int = 0) -> tuple[GpuProperties | None, str]:
    """This machine's GPU ``device`` and how it was read, or None and why there is none.

    Each reader is tried in turn; a missing package, a missing driver (cuda-python 12.4-12.6
    raises RuntimeError when libcuda.so.1 cannot be loaded) or no device moves to the next.
    """
    reasons = []
    for name, reader in READERS:
        try:
            return reader(device), name
        except ImportError:
            reasons.append(f"{name} not installed")
        except Exception as exc:  # each binding raises its own types for "no driver / no GPU"
            reasons.append(f"{name}: {first_line(exc)}")
    return None, "; ".join(reasons)


def usable_gpu() -> GpuProperties | None:
    return query_gpu(0)[0]


def runs_here(target) -> bool:
    """Whether ``target``'s GPU is the one in this machine, so that what runs on this GPU
    is what runs on the target: same compute capability, and for a ``gpu`` profile the same
    device name (a Jetson profile names a module, the device a SoC)."""
    if target.kind == "host" or not target.gpu.compute_capability:
        return False
    gpu = usable_gpu()
    if gpu is None or gpu.compute_capability != target.gpu.compute_capability:
        return False
    return target.kind != "gpu" or target.gpu.device_name == gpu.name


def per_sm(gpu: GpuProperties) -> tuple[int, int, int]:
    """The architecture's dense (FP32, FP16, INT8) rates per SM and clock; a newer minor
    revision takes the closest known one of its major."""
    if gpu.capability in PER_SM:
        return PER_SM[gpu.capability]
    known = sorted(c for c in PER_SM if c[0] == gpu.capability[0] and c <= gpu.capability)
    if not known:
        raise EdgepruneError(
            f"{gpu.name} (sm {gpu.compute_capability}) is not in edgeprune's architecture "
            "table: write a profile for it (edgeprune targets shows the format)"
        )
    return PER_SM[known[-1]]


def _peaks(gpu: GpuProperties) -> dict[str, float]:
    rates = per_sm(gpu)
    if not gpu.clock_mhz:
        raise EdgepruneError(
            f"{gpu.source} does not report {gpu.name}'s clock: pip install cuda-python "
            "(matching your driver's CUDA major) to build its profile"
        )
    scale = gpu.multiprocessors * gpu.clock_mhz * 1e6 / 1e12
    fp32, fp16, int8 = (v * scale for v in rates)
    peaks = {"fp32_tflops": round(fp32, 3)}
    if fp16:
        peaks["fp16_tflops"] = round(fp16, 3)
    if int8:
        peaks["int8_tops"] = round(int8, 3)
    return peaks


def dla_cores(gpu: GpuProperties) -> int:
    """DLA cores TensorRT's builder sees. Only SoCs have them (Xavier, Orin AGX / NX, DRIVE),
    so a discrete GPU is not asked, and without a usable TensorRT there is none to use."""
    if not gpu.integrated:
        return 0
    try:
        from edgeprune.export.tensorrt_build import describe_builder

        return int(describe_builder()["dla_cores"])
    except Exception:  # no TensorRT, or one that cannot initialise here: no DLA to build for
        return 0


def _default_precision(peaks: dict[str, float]) -> str:
    """FP16 where tensor cores (or packed math) make it faster than FP32, else FP32."""
    return "fp16" if peaks.get("fp16_tflops", 0) > 1.5 * peaks["fp32_tflops"] else "fp32"


def profile_data(gpu: GpuProperties, dla: int = 0) -> dict:
    """A ``gpu`` profile document for ``gpu``, as a shipped TOML file would hold it."""
    peaks = _peaks(gpu)
    bandwidth = gpu.bandwidth_gbps
    if bandwidth is None:
        raise EdgepruneError(
            f"{gpu.source} does not report {gpu.name}'s memory clock and bus width: pip install "
            "cuda-python (matching your driver's CUDA major) to build its profile"
        )
    major, minor = gpu.capability
    cores = gpu.multiprocessors * per_sm(gpu)[0] // 2  # FP32 lanes: 2 FLOP per clock each
    precision = _default_precision(peaks)
    runtime = gpu_runtime_here() or "onnxruntime"
    return {
        "name": LOCAL_GPU,
        "description": f"{gpu.name} (sm {gpu.compute_capability}, {gpu.multiprocessors} SMs at "
        f"{gpu.clock_mhz:.0f} MHz), this machine's GPU, read through {gpu.source}",
        "kind": "gpu",
        "gpu": {
            "compute_capability": gpu.compute_capability,
            "cuda_cores": cores,
            "max_clock_mhz": float(gpu.clock_mhz),
            "multiprocessors": gpu.multiprocessors,
            "device_name": gpu.name,
        },
        "peak": peaks,
        "memory": {
            "size_gb": round(gpu.total_memory_bytes / 1e9, 2),
            "bandwidth_gbps": round(bandwidth, 1),
        },
        "features": {
            "dla_cores": dla,
            "sparsity_2_4": (major, minor) >= (8, 0),  # Ampere and later sparse tensor cores
            "channel_multiple": 8 if precision == "fp16" else 1,
        },
        "runtime": {"default": runtime, "precision": precision},
        "estimate": {
            # [A] the same assumptions as the shipped Jetson profiles until measured
            "compute_efficiency": {"fp32": 0.6, "fp16": 0.35, "int8": 0.3},
            "memory_efficiency": 0.6,
            "layer_overhead_us": 5.0,
            "fixed_overhead_us": 30.0,
            "fused_ops": [
                "BatchNormalization",
                "Relu",
                "Clip",
                "LeakyRelu",
                "Sigmoid",
                "HardSigmoid",
                "HardSwish",
                "Add",
                "Mul",
                "Identity",
                "Flatten",
                "Reshape",
                "Squeeze",
                "Unsqueeze",
            ],  # fmt: skip
        },
    }


def match_jetson(gpu: GpuProperties, profiles: dict) -> object | None:
    """The shipped Jetson profile of this device: same compute capability and CUDA cores,
    then the nearest memory size, then the nearest GPU clock (Orin Nano and its Super mode
    differ only there). None when no Jetson profile has its compute capability and cores."""
    if not gpu.integrated or gpu.capability not in JETSON_ARCHITECTURES:
        return None
    cores = gpu.multiprocessors * per_sm(gpu)[0] // 2
    candidates = [
        p
        for p in profiles.values()
        if p.kind == "jetson"
        and p.gpu.compute_capability == gpu.compute_capability
        and p.gpu.cuda_cores == cores
    ]
    if not candidates:
        return None
    memory_gb = gpu.total_memory_bytes / 1e9
    return min(
        candidates,
        key=lambda p: (
            round(abs(p.memory.size_gb - memory_gb)),
            abs(p.gpu.max_clock_mhz - (gpu.clock_mhz or 0)),
        ),
    )


def local_gpu_target(profiles: dict):
    """The profile of this machine's GPU: its Jetson profile on a Jetson, else one built from
    the device; one clear error when there is no usable CUDA GPU."""
    from edgeprune.targets.profile import profile_from_dict

    gpu, how = query_gpu(0)
    if gpu is None:
        raise EdgepruneError(f"--target {LOCAL_GPU}: no usable CUDA GPU here ({how})")
    jetson = match_jetson(gpu, profiles)
    if jetson is not None:
        return jetson
    return profile_from_dict(profile_data(gpu, dla_cores(gpu)), source=f"detected ({gpu.source})")


def gpu_runtime_here() -> str | None:
    """A runtime installed here that runs on this machine's GPU: TensorRT, else PyTorch
    with CUDA; None when neither does."""
    from edgeprune.targets.runtimes import RUNTIMES

    if RUNTIMES.get("tensorrt").importable():
        return "tensorrt"
    return "pytorch" if _torch_cuda() else None


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def auto_target(profiles: dict):
    """``--target auto``: this machine's GPU where one is usable and a runtime here runs on
    it (TensorRT, or PyTorch with CUDA), else ``host-cpu``."""
    gpu, _ = query_gpu(0)
    if gpu is not None and gpu_runtime_here() is not None:
        return local_gpu_target(profiles)
    return profiles["host-cpu"]
