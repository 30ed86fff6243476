"""TensorRT runner: runs a serialized engine on the GPU with pinned host buffers, one CUDA
stream and CUDA events around each phase, as trtexec times it.

    with TensorRTRunner("model.orin-nano.trt10.3.fp16.engine") as runner:
        logits = runner.infer({"input": batch})["logits"]

Each inference records ``h2d_ms`` (pinned host -> device copy of the inputs), ``compute_ms``
(the engine's enqueue to completion on the stream: trtexec's "GPU Compute Time"), ``d2h_ms``
(the requested outputs back) and ``enqueue_ms`` (host time inside the enqueue call: trtexec's
"Enqueue Time"); the base class adds the wall time around it all. That serial loop, which
synchronises after every inference, is the application's latency. trtexec's throughput
modes (several streams kept busy, CUDA graphs, spin-waiting) are ``time_mode``'s, in
``tensorrt_timing``.

CUDA is reached through cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` before
cuda-python 12.6) or pycuda, whichever is installed. Engines from TensorRT 8.5+ run through
the named-tensor API (``set_input_shape``, ``execute_async_v3``); older 8.x engines through
bindings (``set_binding_shape``, ``execute_async_v2``). An engine runs only on the GPU model
and TensorRT version that built it; the sidecar JSON written beside it by
``edgeprune.export.tensorrt_build`` lets this runner say so in one line instead of failing
inside TensorRT.

Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.targets.runners.base import Runner
from edgeprune.targets.runners.cuda_backend import load_cuda
from edgeprune.targets.tensorrt_support import (
    create_or_explain,
    import_tensorrt,
    logged_reason,
    make_logger,
    tensorrt_version,
)

OUT_OF_MEMORY = "is the GPU out of memory?"


class _Tensor:
    """One engine input or output with its buffers, sized for the largest allowed shape."""

    def __init__(self, name: str, is_input: bool, dtype, shape, index) -> None:
        self.name, self.is_input, self.dtype = name, is_input, np.dtype(dtype)
        self.shape = tuple(int(d) for d in shape)  # -1 marks a dynamic dimension
        self.index = index  # binding index (TensorRT < 8.5), else None
        self.profile: tuple | None = None  # (min, opt, max) shapes of a dynamic input
        self.host: np.ndarray | None = None
        self.device = 0


def _engine_tensors(trt, engine) -> list[_Tensor]:
    if hasattr(engine, "num_io_tensors"):  # TensorRT 8.5+
        tensors = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            tensor = _Tensor(
                name,
                is_input,
                trt.nptype(engine.get_tensor_dtype(name)),
                engine.get_tensor_shape(name),
                None,
            )
            if is_input and -1 in tensor.shape:
                shapes = (
                    engine.get_tensor_profile_shape(name, 0)
                    if hasattr(engine, "get_tensor_profile_shape")
                    else engine.get_profile_shape(0, name)
                )
                tensor.profile = tuple(tuple(s) for s in shapes)
            tensors.append(tensor)
        return tensors
    tensors = []
    for i in range(engine.num_bindings):
        is_input = engine.binding_is_input(i)
        tensor = _Tensor(
            engine.get_binding_name(i),
            is_input,
            trt.nptype(engine.get_binding_dtype(i)),
            engine.get_binding_shape(i),
            i,
        )
        if is_input and -1 in tensor.shape:
            tensor.profile = tuple(tuple(s) for s in engine.get_profile_shape(0, i))
        tensors.append(tensor)
    return tensors


def read_sidecar(engine_path: Path) -> dict[str, object] | None:
    """The build record written beside an engine (``<engine>.json``), if there is one."""
    path = Path(f"{engine_path}.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def set_shape(context, tensor: _Tensor, shape) -> None:
    """Set a dynamic input's shape on ``context``; a shape outside its profile is refused."""
    if not tensor.profile:
        return
    ok = (
        context.set_input_shape(tensor.name, tuple(shape))
        if tensor.index is None
        else context.set_binding_shape(tensor.index, tuple(shape))
    )
    if ok is False:
        raise EdgepruneError(
            f"engine input {tensor.name!r} does not accept shape {tuple(shape)}; "
            f"its profile allows {tensor.profile[0]} to {tensor.profile[2]}"
        )


def current_shape(context, tensor: _Tensor) -> tuple[int, ...]:
    if tensor.index is None:
        return tuple(context.get_tensor_shape(tensor.name))
    return tuple(context.get_binding_shape(tensor.index))


def enqueue(context, tensors: list[_Tensor], devices: dict[str, int], stream: int) -> bool:
    """One asynchronous inference on ``stream``: ``execute_async_v3`` on named tensors (their
    addresses were set once), ``execute_async_v2`` with a bindings list before TensorRT 8.5."""
    if tensors[0].index is None:
        return context.execute_async_v3(stream)
    bindings = [0] * len(tensors)
    for tensor in tensors:
        bindings[tensor.index] = devices[tensor.name]
    return context.execute_async_v2(bindings, stream)


def _flag(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


class TensorRTRunner(Runner):
    """Runs a serialized TensorRT engine; options come as strings from the device command line.

    ``streams`` (default 2), ``spin_wait`` and ``modes`` (comma-separated, default
    "enqueue-ahead,cuda-graph"; "" for none) configure the trtexec-style timing modes.
    """

    runtime = "tensorrt"

    def __init__(
        self,
        artifact: str | Path,
        cuda: str = "auto",
        device: int | str = 0,
        log: str = "WARNING",
        streams: int | str = 2,
        spin_wait: bool | str = False,
        modes: str = "enqueue-ahead,cuda-graph",
    ) -> None:
        super().__init__()
        self.artifact = Path(artifact)
        self.cuda_backend, self.device_index, self.log_level = cuda, int(device), log
        self.spin_wait = _flag(spin_wait)
        self.streams = int(streams) if str(streams).strip().isdigit() else 0
        if self.streams < 1:
            raise EdgepruneError(f"the streams option must be a whole number >= 1, got {streams!r}")
        self.latency_modes = tuple(m.strip() for m in str(modes).split(",") if m.strip())
        self.max_batch: int | None = None
        self.mode_outputs: dict[str, np.ndarray] = {}  # the last timing mode's last outputs
        self._cuda = None
        self._context = self._engine = None
        self._lanes: dict[object, list] = {}  # the timing modes' streams, contexts, buffers
        self._trt_objects: list[object] = []

    def _activate(self) -> None:
        trt = import_tensorrt()
        if not self.artifact.is_file():
            raise EdgepruneError(f"engine not found: {self.artifact}")
        if self.artifact.suffix == ".onnx":
            raise EdgepruneError(
                f"{self.artifact} is an ONNX model: build an engine first "
                "(edgeprune.export.tensorrt_build.build_engine) or use the onnxruntime runtime"
            )
        self._cuda = load_cuda(self.cuda_backend, self.device_index)
        try:
            self._load(trt)
        except BaseException:
            self._deactivate()  # __exit__ does not run when __enter__ fails
            raise

    def _load(self, trt) -> None:
        gpu = self._cuda.device_properties()
        built = read_sidecar(self.artifact) or {}
        _check_built_here(self.artifact, built, trt.__version__, gpu)
        logger = make_logger(trt, self.log_level)
        self._logger, self._version = logger, tensorrt_version(trt)
        trt.init_libnvinfer_plugins(logger, "")
        runtime = create_or_explain("a runtime", logger, trt.Runtime, logger)
        engine = runtime.deserialize_cuda_engine(self.artifact.read_bytes())
        if engine is None:
            reason = logger.errors[0] if logger.errors else "unknown reason"
            raise EdgepruneError(f"TensorRT cannot load {self.artifact.name}: {reason}")
        self._trt_objects = [engine, runtime]
        context = self.new_context(engine)
        self._trt_objects.insert(0, context)  # released in this order: context, engine, runtime
        self._context, self._engine = context, engine
        self._tensors = _engine_tensors(trt, engine)
        self._allocate()
        self._events = [self._cuda.event() for _ in range(4)]
        self.input_names = [t.name for t in self._tensors if t.is_input]
        self.output_names = [t.name for t in self._tensors if not t.is_input]
        first = next(t for t in self._tensors if t.is_input)
        self.fixed_batch = first.shape[0] if first.shape[0] > 0 else None
        memory = getattr(engine, "device_memory_size_v2", None)
        self.info = {
            "runtime": "tensorrt",
            "version": trt.__version__,
            "cuda_binding": self._cuda.name,
            "gpu": gpu,
            "engine": str(self.artifact),
            "engine_bytes": self.artifact.stat().st_size,
            "engine_device_memory_bytes": int(
                memory if memory is not None else engine.device_memory_size
            ),
            "input_shape": list(first.shape),
            "batch_profile": [list(s) for s in first.profile] if first.profile else None,
            "built": {k: built.get(k) for k in ("device", "tensorrt", "precision", "gpu")}
            if built
            else None,
        }

    def new_context(self, engine=None):
        """Another execution context of the engine (each stream in flight needs its own)."""
        another = engine is None  # the runner's own context is the first
        engine = self._engine if another else engine
        context = create_or_explain(
            "an execution context",
            self._logger,
            engine.create_execution_context,
            hint=OUT_OF_MEMORY,
        )
        if another and self._version < (10, 0):
            if any(t.profile for t in self._tensors if t.is_input):  # a dynamic engine
                self._share_profile(context)
        return context

    def _share_profile(self, context) -> None:
        """Before TensorRT 10 only the first context of a dynamic engine gets optimization
        profile 0 implicitly; another one must ask for it, which 8.6 grants for engines built
        with profile sharing (``tensorrt_build``) and earlier releases never do."""
        ask = getattr(context, "set_optimization_profile_async", None)
        if ask is not None and ask(0, self._cuda.stream_handle):
            self._cuda.synchronize()
            return
        raise EdgepruneError(
            f"TensorRT {'.'.join(map(str, self._version))} runs one execution context per "
            f"optimization profile, and {self.artifact.name} has one: a second context for "
            "side-by-side streams needs TensorRT 8.6 or later (edgeprune builds 8.6 engines "
            "with the profile shared) or a static-batch engine"
        )

    def _allocate(self) -> None:
        """Buffers for the largest shapes the engine accepts, allocated once."""
        for tensor in self._tensors:
            if tensor.is_input:
                largest = tensor.profile[2] if tensor.profile else tensor.shape
                self._set_input_shape(tensor, largest)
                if tensor.profile:
                    self.max_batch = int(largest[0])
        for tensor in self._tensors:
            if tensor.is_input:
                shape = tensor.profile[2] if tensor.profile else tensor.shape
            else:
                shape = self._current_shape(tensor)
                if min(shape) < 0:
                    raise EdgepruneError(
                        f"engine output {tensor.name!r} has a data-dependent shape {shape}; "
                        "this runner needs shapes that follow from the input shape"
                    )
            nbytes = int(np.prod(shape)) * tensor.dtype.itemsize
            tensor.host = self._cuda.host_buffer(nbytes)
            tensor.device = self._cuda.device_buffer(nbytes)
            if tensor.index is None:  # named tensors: addresses are set once, buffers never move
                self._context.set_tensor_address(tensor.name, tensor.device)

    def _set_input_shape(self, tensor: _Tensor, shape) -> None:
        set_shape(self._context, tensor, shape)

    def set_input_shape(self, name: str, shape) -> None:
        """Set input ``name``'s shape; one outside the engine's profile is an EdgepruneError."""
        tensor = next((t for t in self._tensors if t.is_input and t.name == name), None)
        if tensor is None:
            raise EdgepruneError(f"the engine has no input {name!r}; inputs: {self.input_names}")
        self._set_input_shape(tensor, shape)

    def _current_shape(self, tensor: _Tensor) -> tuple[int, ...]:
        return current_shape(self._context, tensor)

    def _deactivate(self) -> None:
        self._context = self._engine = None  # the list below holds the last references
        self._lanes = {}  # their contexts go before the engine
        while self._trt_objects:  # context, then engine, then runtime: each outlives the last
            del self._trt_objects[0]
        if self._cuda is not None:
            self._cuda.close()
            self._cuda = None

    def _infer(self, feeds: dict[str, np.ndarray], outputs: list[str]):
        n = len(next(iter(feeds.values())))
        if self.max_batch and n > self.max_batch:  # larger than the engine's profile allows
            parts = [
                self._infer({k: v[i : i + self.max_batch] for k, v in feeds.items()}, outputs)
                for i in range(0, n, self.max_batch)
            ]
            merged = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
            times = {k: sum(p[1][k] for p in parts) for k in parts[0][1]}
            return merged, times
        return self._run(feeds, outputs)

    def checked_feeds(self, feeds: dict[str, np.ndarray]) -> list[tuple[_Tensor, np.ndarray]]:
        """Each engine input with its array, contiguous in the engine's dtype; a missing input
        or a shape the engine cannot take is an EdgepruneError."""
        checked = []
        for tensor in (t for t in self._tensors if t.is_input):
            if tensor.name not in feeds:
                raise EdgepruneError(f"missing engine input {tensor.name!r}")
            array = np.ascontiguousarray(feeds[tensor.name], dtype=tensor.dtype)
            if array.ndim != len(tensor.shape) or any(
                e not in (-1, a) for e, a in zip(tensor.shape, array.shape)
            ):
                raise EdgepruneError(
                    f"input {tensor.name!r} has shape {array.shape}, the engine expects {tensor.shape}"
                )
            checked.append((tensor, array))
        return checked

    def _run(self, feeds: dict[str, np.ndarray], outputs: list[str]):
        cuda, events = self._cuda, self._events
        staged = []
        for tensor, array in self.checked_feeds(feeds):
            self._set_input_shape(tensor, array.shape)
            host = tensor.host[: array.nbytes]
            np.copyto(host.view(tensor.dtype).reshape(array.shape), array)
            staged.append((tensor, host))
        cuda.record(events[0])
        for tensor, host in staged:
            cuda.copy_to_device(tensor.device, host)
        cuda.record(events[1])
        started = time.perf_counter()
        self._execute()
        enqueue_ms = (time.perf_counter() - started) * 1e3
        cuda.record(events[2])
        wanted = [t for t in self._tensors if not t.is_input and t.name in outputs]
        shapes = {t.name: self._current_shape(t) for t in wanted}
        for tensor in wanted:
            nbytes = int(np.prod(shapes[tensor.name])) * tensor.dtype.itemsize
            cuda.copy_to_host(tensor.host[:nbytes], tensor.device)
        cuda.record(events[3])
        cuda.synchronize()
        result = {}
        for tensor in wanted:
            shape = shapes[tensor.name]
            nbytes = int(np.prod(shape)) * tensor.dtype.itemsize
            values = tensor.host[:nbytes].view(tensor.dtype).reshape(shape)
            result[tensor.name] = values.astype(np.float32)  # a copy: the buffer is reused
        components = {
            "h2d_ms": cuda.elapsed_ms(events[0], events[1]),
            "compute_ms": cuda.elapsed_ms(events[1], events[2]),
            "d2h_ms": cuda.elapsed_ms(events[2], events[3]),
            "enqueue_ms": enqueue_ms,
        }
        return result, components

    def _execute(self) -> None:
        devices = {t.name: t.device for t in self._tensors}
        self.check_enqueued(
            enqueue(self._context, self._tensors, devices, self._cuda.stream_handle)
        )

    def check_enqueued(self, ok: bool) -> None:
        if not ok:
            reason = logged_reason(self._logger, "unknown reason")
            raise EdgepruneError(f"TensorRT execution failed on {self.artifact.name}: {reason}")

    def time_mode(
        self,
        mode: str,
        feeds: dict[str, np.ndarray],
        outputs: list[str] | None = None,
        warmup: int = 10,
        iterations: int = 200,
        max_seconds: float = 3.0,
        answers: int | None = None,
    ) -> dict[str, object]:
        """Time ``mode`` ("enqueue-ahead" or "cuda-graph") as trtexec does; see
        ``edgeprune.targets.runners.tensorrt_timing``. The last inference's outputs are left
        in ``mode_outputs``."""
        from edgeprune.targets.runners.tensorrt_timing import time_mode

        return time_mode(self, mode, feeds, outputs, warmup, iterations, max_seconds, answers)


def _check_built_here(path: Path, built: dict, version: str, gpu: dict) -> None:
    """An engine is specific to the TensorRT version and GPU that built it: say so clearly."""
    if not built:
        return
    if built.get("tensorrt") and built["tensorrt"] != version:
        raise EdgepruneError(
            f"{path.name} was built with TensorRT {built['tensorrt']} on {built.get('device')}; "
            f"this machine has TensorRT {version}: rebuild the engine here"
        )
    made_on = built.get("gpu") or {}
    if made_on.get("compute_capability") and (
        made_on.get("compute_capability") != gpu["compute_capability"]
        or made_on.get("name") != gpu["name"]
    ):
        raise EdgepruneError(
            f"{path.name} was built on {made_on.get('name')} (sm {made_on.get('compute_capability')}); "
            f"this GPU is {gpu['name']} (sm {gpu['compute_capability']}): rebuild the engine here"
        )
