"""CUDA memory, streams, events and graphs for the TensorRT runner, through cuda-python or pycuda.

cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` before cuda-python 12.6) and
pycuda offer the same few operations here: pinned host buffers, device buffers, streams,
events (timing, blocking-sync or polled) and asynchronous copies. CUDA graph capture (trtexec's
``--useCudaGraph``) goes through cuda-python only: pycuda wraps no stream capture, so there
``supports_graphs`` is False and the capture calls raise one clear error.

Every call that takes a ``stream`` uses the helper's own stream when it is None, so code that
needs one stream never names it. ``load_cuda`` picks whichever backend initialises.

Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import ctypes

import numpy as np

from edgeprune.errors import EdgepruneError, first_line

INSTALL_HINT = (
    "pip install 'edgeprune[tensorrt-cu12]' (drivers R525-R575) or 'edgeprune[tensorrt-cu13]' "
    "(R580 and later): TensorRT + cuda-python of the driver's CUDA major; on a Jetson use "
    "JetPack's TensorRT (apt install python3-libnvinfer) and cuda-python of JetPack's CUDA or pycuda"
)


class _CudaPython:
    """CUDA runtime calls through cuda-python; every call returns (error, values...)."""

    supports_graphs = True

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
        self._streams: list[object] = []
        self._graphs: list[tuple[object, object]] = []
        # cuda-python 12.4-12.6.2 raises RuntimeError here when libcuda.so.1 is missing;
        # load_cuda turns that into one EdgepruneError.
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

    def new_stream(self):
        """Another stream; non-blocking, so it never waits on the legacy default stream (and
        may be captured into a CUDA graph)."""
        stream = self._call(self.rt.cudaStreamCreateWithFlags(self.rt.cudaStreamNonBlocking))
        self._streams.append(stream)
        return stream

    def handle(self, stream=None) -> int:
        """The stream's address, as TensorRT's enqueue calls take it."""
        return int(self._stream if stream is None else stream)

    def event(self, blocking_sync: bool = False):
        """A timing event; ``blocking_sync`` makes ``event_synchronize`` sleep rather than spin
        (cudaEventBlockingSync, trtexec's default without --useSpinWait)."""
        flags = self.rt.cudaEventBlockingSync if blocking_sync else self.rt.cudaEventDefault
        event = self._call(self.rt.cudaEventCreateWithFlags(flags))
        self._events.append(event)
        return event

    def record(self, event, stream=None) -> None:
        self._call(self.rt.cudaEventRecord(event, self._pick(stream)))

    def event_done(self, event) -> bool:
        """cudaEventQuery: True once the work before the event has finished (no waiting)."""
        error = self.rt.cudaEventQuery(event)[0]
        if error == self.rt.cudaError_t.cudaErrorNotReady:
            return False
        self._call((error,))
        return True

    def event_synchronize(self, event) -> None:
        self._call(self.rt.cudaEventSynchronize(event))

    def elapsed_ms(self, start, end) -> float:
        return float(self._call(self.rt.cudaEventElapsedTime(start, end)))

    def copy_to_device(self, pointer: int, host: np.ndarray, stream=None) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(
            self.rt.cudaMemcpyAsync(
                pointer, host.ctypes.data, host.nbytes, kind, self._pick(stream)
            )
        )

    def copy_to_host(self, host: np.ndarray, pointer: int, stream=None) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(
            self.rt.cudaMemcpyAsync(
                host.ctypes.data, pointer, host.nbytes, kind, self._pick(stream)
            )
        )

    def synchronize(self, stream=None) -> None:
        self._call(self.rt.cudaStreamSynchronize(self._pick(stream)))

    def begin_capture(self, stream) -> None:
        # Thread-local, as trtexec captures: other threads' CUDA calls do not break the capture.
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._call(self.rt.cudaStreamBeginCapture(stream, mode))

    def end_capture(self, stream):
        """End the capture and instantiate it: the returned graph is ready to launch."""
        graph = self._call(self.rt.cudaStreamEndCapture(stream))
        # cudaGraphInstantiateWithFlags has the same (graph, flags) form in cuda-python 11 and
        # 12+, where cudaGraphInstantiate's own signature changed between them.
        executable = self._call(self.rt.cudaGraphInstantiateWithFlags(graph, 0))
        self._graphs.append((executable, graph))
        return executable

    def launch_graph(self, graph, stream) -> None:
        self._call(self.rt.cudaGraphLaunch(graph, stream))

    def _pick(self, stream):
        return self._stream if stream is None else stream

    def close(self) -> None:
        for executable, graph in self._graphs:
            self.rt.cudaGraphExecDestroy(executable)
            self.rt.cudaGraphDestroy(graph)
        for event in self._events:
            self.rt.cudaEventDestroy(event)
        for pointer in self._device:
            self.rt.cudaFree(pointer)
        for pointer in self._host:
            self.rt.cudaFreeHost(pointer)
        for stream in self._streams:
            self.rt.cudaStreamDestroy(stream)
        self.rt.cudaStreamDestroy(self._stream)
        self._events, self._device, self._host, self._streams, self._graphs = [], [], [], [], []


class _PyCuda:
    """The same calls through pycuda, on the device's primary context (the one the CUDA
    runtime, and so TensorRT, uses)."""

    supports_graphs = False  # pycuda wraps no stream capture

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
        self._streams: list[object] = []
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

    def new_stream(self):
        stream = self.driver.Stream(1)  # CU_STREAM_NON_BLOCKING, as cuda-python's
        self._streams.append(stream)  # kept alive until close
        return stream

    def handle(self, stream=None) -> int:
        return int(self._pick(stream).handle)

    def event(self, blocking_sync: bool = False):
        flags = self.driver.event_flags
        return self.driver.Event(flags.BLOCKING_SYNC if blocking_sync else flags.DEFAULT)

    def record(self, event, stream=None) -> None:
        event.record(self._pick(stream))

    def event_done(self, event) -> bool:
        return bool(event.query())

    def event_synchronize(self, event) -> None:
        event.synchronize()

    def elapsed_ms(self, start, end) -> float:
        return float(end.time_since(start))

    def copy_to_device(self, pointer: int, host: np.ndarray, stream=None) -> None:
        self.driver.memcpy_htod_async(pointer, host, self._pick(stream))

    def copy_to_host(self, host: np.ndarray, pointer: int, stream=None) -> None:
        self.driver.memcpy_dtoh_async(host, pointer, self._pick(stream))

    def synchronize(self, stream=None) -> None:
        self._pick(stream).synchronize()

    def begin_capture(self, *args: object) -> None:
        raise EdgepruneError(
            "CUDA graphs need cuda-python (pycuda has no stream capture): pip install cuda-python"
        )

    end_capture = launch_graph = begin_capture

    def _pick(self, stream):
        return self._stream if stream is None else stream

    def close(self) -> None:
        for allocation in self._buffers:
            allocation.free()
        self._buffers, self._streams = [], []
        self._context.pop()


# Tried in this order under "auto"; a module-level table so that tests can replace a backend.
BACKENDS = {"cuda-python": _CudaPython, "pycuda": _PyCuda}


def load_cuda(backend: str = "auto", device: int = 0):
    """A CUDA helper through ``backend`` ("cuda-python", "pycuda" or "auto": the first that
    initialises).

    A backend that is installed but cannot start (no driver: cuda-python 12.4-12.6.2 raises
    RuntimeError "Failed to dlopen libcuda.so.1", later ones return an error code; pycuda
    raises its own) is one EdgepruneError naming it and the reason; under "auto" the next
    backend is tried first.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise EdgepruneError(
            f"unknown CUDA backend {backend!r}; known: auto, {', '.join(BACKENDS)}"
        )
    failures, missing = [], []
    for name in [backend] if backend != "auto" else list(BACKENDS):
        try:
            return BACKENDS[name](device)
        except ImportError:
            missing.append(name)
        except Exception as exc:  # noqa: BLE001 - whatever the binding raises, one clear error
            failures.append(f"{name}: {first_line(exc)}")
    if failures:
        tail = f" ({', '.join(missing)} not installed)" if missing else ""
        raise EdgepruneError(f"CUDA is not usable through {'; '.join(failures)}{tail}")
    if backend != "auto":
        raise EdgepruneError(f"{backend} is not installed: {INSTALL_HINT}")
    raise EdgepruneError(f"neither cuda-python nor pycuda is installed: {INSTALL_HINT}")
