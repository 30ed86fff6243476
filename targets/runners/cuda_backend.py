"""CUDA memory, streams and events for the TensorRT runner, through cuda-python or pycuda.

cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` before cuda-python 12.6) and
pycuda offer the same few operations here: pinned host buffers, device buffers, one stream,
events and asynchronous copies. ``load_cuda`` picks whichever is installed.

Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import ctypes

import numpy as np

from edgeprune.errors import EdgepruneError, first_line

INSTALL_HINT = (
    "pip install 'edgeprune[tensorrt]' (tensorrt + cuda-python); on a Jetson use JetPack's "
    "TensorRT (apt install python3-libnvinfer) and pip install cuda-python or pycuda"
)


class _CudaPython:
    """CUDA runtime calls through cuda-python; every call returns (error, values...)."""

    def __init__(self, device: int) -> None:
        try:
            import cuda.bindings as package
            from cuda.bindings import runtime as cudart
        except ImportError:
            import cuda as package
            from cuda import cudart  # cuda-python < 12.6

        self.rt = cudart
        self.name = f"cuda-python {getattr(package, '__version__', '')}".strip()
        self._host: list[int] = []
        self._device: list[int] = []
        self._events: list[object] = []
        self._call(cudart.cudaSetDevice(device))
        self.device = device
        self._stream = self._call(cudart.cudaStreamCreate())
        self.stream_handle = int(self._stream)

    def _call(self, result):
        error, values = result[0], result[1:]
        if error != self.rt.cudaError_t.cudaSuccess:
            name = getattr(error, "name", str(error))
            raise EdgepruneError(f"CUDA call failed: {name} (is there an NVIDIA GPU and driver?)")
        return values[0] if len(values) == 1 else values

    def device_properties(self) -> dict[str, object]:
        props = self._call(self.rt.cudaGetDeviceProperties(self.device))
        name = props.name
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        return {
            "name": name.split("\x00")[0],
            "compute_capability": f"{props.major}.{props.minor}",
            "multiprocessors": int(props.multiProcessorCount),
            "total_memory_bytes": int(props.totalGlobalMem),
            "integrated": bool(props.integrated),
        }

    def host_buffer(self, nbytes: int) -> np.ndarray:
        """Page-locked host memory as a uint8 array (async copies need pinned memory)."""
        pointer = self._call(self.rt.cudaMallocHost(max(nbytes, 1)))
        self._host.append(pointer)
        return np.ctypeslib.as_array((ctypes.c_uint8 * max(nbytes, 1)).from_address(pointer))

    def device_buffer(self, nbytes: int) -> int:
        pointer = int(self._call(self.rt.cudaMalloc(max(nbytes, 1))))
        self._device.append(pointer)
        return pointer

    def event(self):
        event = self._call(self.rt.cudaEventCreate())
        self._events.append(event)
        return event

    def record(self, event) -> None:
        self._call(self.rt.cudaEventRecord(event, self._stream))

    def elapsed_ms(self, start, end) -> float:
        return float(self._call(self.rt.cudaEventElapsedTime(start, end)))

    def copy_to_device(self, pointer: int, host: np.ndarray) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(
            self.rt.cudaMemcpyAsync(pointer, host.ctypes.data, host.nbytes, kind, self._stream)
        )

    def copy_to_host(self, host: np.ndarray, pointer: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(
            self.rt.cudaMemcpyAsync(host.ctypes.data, pointer, host.nbytes, kind, self._stream)
        )

    def synchronize(self) -> None:
        self._call(self.rt.cudaStreamSynchronize(self._stream))

    def close(self) -> None:
        for event in self._events:
            self.rt.cudaEventDestroy(event)
        for pointer in self._device:
            self.rt.cudaFree(pointer)
        for pointer in self._host:
            self.rt.cudaFreeHost(pointer)
        self.rt.cudaStreamDestroy(self._stream)
        self._events, self._device, self._host = [], [], []


class _PyCuda:
    """The same calls through pycuda, on the device's primary context (the one the CUDA
    runtime, and so TensorRT, uses)."""

    def __init__(self, device: int) -> None:
        import pycuda.driver as driver

        self.driver = driver
        self.name = f"pycuda {getattr(__import__('pycuda'), 'VERSION_TEXT', '')}".strip()
        try:
            driver.init()
            self._gpu = driver.Device(device)
            self._context = self._gpu.retain_primary_context()
        except driver.Error as exc:
            raise EdgepruneError(f"CUDA is not usable: {first_line(exc)}") from None
        self._context.push()
        self._buffers: list[object] = []
        self._stream = driver.Stream()
        self.stream_handle = int(self._stream.handle)

    def device_properties(self) -> dict[str, object]:
        attribute = self.driver.device_attribute
        major, minor = self._gpu.compute_capability()
        return {
            "name": self._gpu.name(),
            "compute_capability": f"{major}.{minor}",
            "multiprocessors": int(self._gpu.get_attribute(attribute.MULTIPROCESSOR_COUNT)),
            "total_memory_bytes": int(self._gpu.total_memory()),
            "integrated": bool(self._gpu.get_attribute(attribute.INTEGRATED)),
        }

    def host_buffer(self, nbytes: int) -> np.ndarray:
        array = self.driver.pagelocked_empty(max(nbytes, 1), np.uint8)
        self._buffers.append(array.base)  # the HostAllocation, freed before the context goes
        return array

    def device_buffer(self, nbytes: int) -> int:
        allocation = self.driver.mem_alloc(max(nbytes, 1))
        self._buffers.append(allocation)
        return int(allocation)

    def event(self):
        return self.driver.Event()

    def record(self, event) -> None:
        event.record(self._stream)

    def elapsed_ms(self, start, end) -> float:
        return float(end.time_since(start))

    def copy_to_device(self, pointer: int, host: np.ndarray) -> None:
        self.driver.memcpy_htod_async(pointer, host, self._stream)

    def copy_to_host(self, host: np.ndarray, pointer: int) -> None:
        self.driver.memcpy_dtoh_async(host, pointer, self._stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def close(self) -> None:
        for allocation in self._buffers:
            allocation.free()
        self._buffers = []
        self._context.pop()


def load_cuda(backend: str = "auto", device: int = 0):
    """A CUDA helper through ``backend`` ("cuda-python", "pycuda" or "auto": the first found)."""
    choices = {"cuda-python": _CudaPython, "pycuda": _PyCuda}
    if backend != "auto" and backend not in choices:
        raise EdgepruneError(f"unknown CUDA backend {backend!r}; known: auto, {', '.join(choices)}")
    for name in [backend] if backend != "auto" else list(choices):
        try:
            return choices[name](device)
        except ImportError:
            continue
    raise EdgepruneError(f"neither cuda-python nor pycuda is installed: {INSTALL_HINT}")
