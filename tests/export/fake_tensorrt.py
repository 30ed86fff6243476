"""A stand-in for the ``tensorrt`` module and the CUDA helper, for machines without a GPU.

It implements the slice of the TensorRT Python API that edgeprune uses, as strictly as the
real library where that decides what edgeprune must do, over host memory:

- generations: ``configure("10.3.0")`` (the default: named tensors only), ``"8.6.1"`` (named
  tensors *and* the bindings API, explicit-batch flag needed, no ``device_memory_size_v2``),
  ``"8.4.3"`` (bindings only: no ``num_io_tensors``) and ``"8.2.5"`` (no memory pools either:
  ``max_workspace_size``). What a generation lacks is absent, so calling it fails as the
  real binding would (AttributeError).
- the parser reads the ONNX model's inputs, outputs and Q/DQ nodes, and refuses what
  TensorRT's parser refuses: a non-zero or UINT8 zero point, a non-positive or non-constant
  scale, per-channel scales anywhere but on the output-channel axis of a weight, an
  implicit-batch network (8.x without the EXPLICIT_BATCH flag).
- ``build_serialized_network`` returns None and logs an error, as TensorRT does, for FP16 or
  INT8 where the platform has no fast path, the DLA without FP16/INT8 or with dynamic shapes
  and no GPU fallback, Q/DQ without INT8, INT8 without scales, a dynamic input without a
  profile. Otherwise it serializes a JSON description with the flags it was given.
- the "engine" computes fixed functions of its input through the buffer addresses it was
  given (``reference_logits``, and ``reference_features`` for a second output), so wrong
  shapes, offsets or copies show up as wrong numbers. Execution needs every input shape and
  every tensor address set, and one context must not be in flight on two streams at once.

``HostCuda`` is the CUDA helper's interface with real stream semantics: copies, executions
and event records are queued per stream and run only when something waits for them
(``synchronize``, ``event_synchronize``, or one step per ``event_done`` poll). A copy back to
the host poisons its destination (NaN) until it has run, so reading results before waiting
shows; work on two streams touching one buffer is a data race and fails at once; a
synchronize inside a graph capture fails as CUDA does. It checks edgeprune's bookkeeping,
never TensorRT's numerics (test_tensorrt_gpu.py does).
"""

from __future__ import annotations

import collections
import ctypes
import enum
import itertools
import json
import time
import types

import numpy as np

__version__ = "10.3.0"

_STREAMS: dict[int, _Stream] = {}  # handle -> stream, so that an engine finds its stream
_ALLOCATIONS: dict[int, int] = {}  # device pointer -> bytes, for bounds checks
_HANDLES = itertools.count(0x1000)


def reference_logits(batch: np.ndarray) -> np.ndarray:
    """What the fake engine computes for ``logits``, for the tests to compare with."""
    pooled = batch.reshape(batch.shape[0], batch.shape[1], -1).mean(axis=2)
    weights = np.arange(batch.shape[1] * 10, dtype=np.float32).reshape(batch.shape[1], -1)
    return (pooled @ weights).astype(np.float32)


def reference_features(batch: np.ndarray, shape) -> np.ndarray:
    """What it computes for a second output of ``shape`` (batch first): each image's pixels,
    halved plus one, repeated to fill the shape."""
    flat = batch.reshape(batch.shape[0], -1) * 0.5 + 1.0
    size = int(np.prod(shape[1:]))
    return (
        np.take(flat, np.arange(size) % flat.shape[1], axis=1)
        .reshape((batch.shape[0], *shape[1:]))
        .astype(np.float32)
    )


class _Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = _Severity

    def __init__(self) -> None:
        pass


class Logger(ILogger):
    ERROR = _Severity.ERROR

    def __init__(self, severity=_Severity.WARNING) -> None:
        super().__init__()

    def log(self, level, message) -> None:
        pass


def _log_error(logger, message: str) -> None:
    if logger is not None and hasattr(logger, "log"):
        logger.log(_Severity.ERROR, message)


class TensorIOMode(enum.Enum):
    INPUT = 1
    OUTPUT = 2


class LayerType(enum.Enum):
    CONVOLUTION = 1
    QUANTIZE = 2
    DEQUANTIZE = 3


class BuilderFlag(enum.Enum):
    FP16 = 1
    INT8 = 2
    TF32 = 3
    SPARSE_WEIGHTS = 4
    GPU_FALLBACK = 5


class PreviewFeature(enum.Enum):  # 8.5+; PROFILE_SHARING_0806 from 8.6 (configure)
    PROFILE_SHARING_0806 = 1


class MemoryPoolType(enum.Enum):
    WORKSPACE = 1


class DeviceType(enum.Enum):
    GPU = 1
    DLA = 2


class NetworkDefinitionCreationFlag(enum.IntEnum):  # int() works on pybind11 enums
    EXPLICIT_BATCH = 0


def nptype(dtype):
    return dtype


def init_libnvinfer_plugins(logger, namespace) -> bool:
    return True


class IInt8EntropyCalibrator2:
    def __init__(self) -> None:
        pass


# --- network and parser ------------------------------------------------------------------


class _Tensor:
    def __init__(self, name: str, shape) -> None:
        self.name, self.shape = name, tuple(shape)


class _Network:
    def __init__(self, explicit_batch: bool) -> None:
        self.explicit_batch = explicit_batch
        self.inputs: list[_Tensor] = []
        self.outputs: list[_Tensor] = []
        self.layers: list[types.SimpleNamespace] = []

    num_inputs = property(lambda self: len(self.inputs))
    num_outputs = property(lambda self: len(self.outputs))
    num_layers = property(lambda self: len(self.layers))

    def get_input(self, i):
        return self.inputs[i]

    def get_output(self, i):
        return self.outputs[i]

    def get_layer(self, i):
        return self.layers[i]


def _qdq_problem(model, node) -> str | None:
    """What TensorRT's ONNX parser says about one QuantizeLinear/DequantizeLinear node."""
    from onnx import TensorProto, numpy_helper

    constants = {t.name: t for t in model.graph.initializer}
    if node.input[1] not in constants:
        return "scale must be a build-time constant (an initializer)"
    scale = numpy_helper.to_array(constants[node.input[1]])
    if not (scale > 0).all():
        return "scale must be positive"
    if len(node.input) > 2 and node.input[2]:
        zero = constants.get(node.input[2])
        if zero is None:
            return "zero point must be a build-time constant"
        if zero.data_type != TensorProto.INT8:
            return f"only INT8 quantization is supported, zero point is {zero.data_type}"
        if numpy_helper.to_array(zero).any():
            return "TensorRT supports symmetric quantization only: the zero point must be 0"
    if scale.size > 1:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        expected = _weight_axis(model, node, constants)
        if expected is None:
            return "per-channel scales are supported on weights only"
        if axis != expected:
            return f"per-channel axis {axis} is not the weight's output-channel axis {expected}"
    return None


def _weight_axis(model, node, constants) -> int | None:
    """The output-channel axis of the weight this Q/DQ quantizes (None: not a weight)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    source = node
    if node.op_type == "DequantizeLinear" and node.input[0] in producers:
        source = producers[node.input[0]]
    if source.input[0] not in constants:
        return None
    dequantized = node.output[0]
    if node.op_type == "QuantizeLinear":
        dq = [n for n in model.graph.node if node.output[0] in n.input]
        dequantized = dq[0].output[0] if dq else dequantized
    for consumer in model.graph.node:
        if dequantized in consumer.input[1:2]:
            if consumer.op_type == "Conv":
                return 0
            if consumer.op_type == "Gemm":
                trans = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
                return 0 if trans else 1
            if consumer.op_type == "MatMul":
                return 1
    return None


class OnnxParser:
    def __init__(self, network: _Network, logger) -> None:
        self.network, self.errors = network, []

    num_errors = property(lambda self: len(self.errors))

    def parse_from_file(self, path: str) -> bool:
        import onnx

        try:
            model = onnx.load(path)
        except Exception:
            self.errors = ["In node 0: not an ONNX model"]
            return False
        if not self.network.explicit_batch:
            self.errors = ["The ONNX parser supports explicit-batch networks only"]
            return False
        kinds = {"QuantizeLinear": LayerType.QUANTIZE, "DequantizeLinear": LayerType.DEQUANTIZE}
        for i, node in enumerate(model.graph.node):
            problem = _qdq_problem(model, node) if node.op_type in kinds else None
            if problem:
                self.errors.append(f"In node {i} ({node.op_type}): Assertion failed: {problem}")
        if self.errors:
            return False
        dims = lambda v: [d.dim_value or -1 for d in v.type.tensor_type.shape.dim]  # noqa: E731
        self.network.inputs = [_Tensor(v.name, dims(v)) for v in model.graph.input]
        self.network.outputs = [_Tensor(v.name, dims(v)) for v in model.graph.output]
        self.network.layers = [
            types.SimpleNamespace(type=kinds.get(n.op_type, LayerType.CONVOLUTION))
            for n in model.graph.node
        ]
        return True

    def get_error(self, i) -> str:
        return self.errors[i]


# --- builder -----------------------------------------------------------------------------


class _Profile:
    def __init__(self) -> None:
        self.shapes = {}

    def set_shape(self, name, low, opt, high) -> None:
        self.shapes[name] = [list(low), list(opt), list(high)]


class _Config:
    def __init__(self) -> None:
        self.flags = {BuilderFlag.TF32}  # on by default, as in TensorRT
        self.profiles, self.pool = [], None
        self.int8_calibrator = self.calibration_profile = None
        self.default_device_type, self.DLA_core = DeviceType.GPU, -1
        self.max_workspace_size = 0  # TensorRT < 10 (deleted by configure for 10)
        self.preview: set = set()

    def set_preview_feature(self, feature, enabled: bool) -> None:
        assert isinstance(feature, PreviewFeature), feature
        (self.preview.add if enabled else self.preview.discard)(feature)

    def set_flag(self, flag) -> None:
        self.flags.add(flag)

    def clear_flag(self, flag) -> None:
        self.flags.discard(flag)

    def get_flag(self, flag) -> bool:
        return flag in self.flags

    def set_memory_pool_limit(self, pool, size) -> None:
        self.pool = size

    def add_optimization_profile(self, profile) -> None:
        self.profiles.append(profile)

    def set_calibration_profile(self, profile) -> None:
        self.calibration_profile = profile


class Builder:
    num_DLA_cores = 0
    platform_has_fast_fp16 = True
    platform_has_fast_int8 = True

    def __init__(self, logger) -> None:
        self.logger = logger

    def create_network(self, flags=0) -> _Network:
        explicit = _generation() >= (10, 0) or bool(
            flags & (1 << NetworkDefinitionCreationFlag.EXPLICIT_BATCH.value)
        )
        return _Network(explicit)

    def create_builder_config(self) -> _Config:
        return _Config()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def _refusal(self, network: _Network, config: _Config) -> str | None:
        """Why TensorRT would fail this build (it logs the reason and returns None)."""
        flags = config.flags
        if BuilderFlag.FP16 in flags and not self.platform_has_fast_fp16:
            return "FP16 requested, but this platform has no fast native FP16"
        if BuilderFlag.INT8 in flags and not self.platform_has_fast_int8:
            return "INT8 requested, but this platform has no fast native INT8"
        qdq = any(layer.type != LayerType.CONVOLUTION for layer in network.layers)
        if qdq and BuilderFlag.INT8 not in flags:
            return "the network has Q/DQ layers but INT8 is not enabled"
        if BuilderFlag.INT8 in flags and not qdq and config.int8_calibrator is None:
            return "INT8 without Q/DQ scales needs a calibrator"
        dynamic = [t.name for t in network.inputs if -1 in t.shape]
        profile = config.profiles[0].shapes if config.profiles else {}
        if any(name not in profile for name in dynamic):
            return "the network has dynamic inputs but no optimization profile"
        if config.default_device_type == DeviceType.DLA:
            if not flags & {BuilderFlag.FP16, BuilderFlag.INT8}:
                return "DLA supports FP16 and INT8 only"
            if not 0 <= config.DLA_core < self.num_DLA_cores:
                return f"DLA core {config.DLA_core} does not exist"
            static = all(low == high for low, _, high in profile.values())
            if not static and BuilderFlag.GPU_FALLBACK not in flags:
                return "DLA supports static shapes only and GPU fallback is off"
        return None

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes | None:
        refusal = self._refusal(network, config)
        if refusal:
            _log_error(self.logger, f"[builder] {refusal}")
            return None
        calibrated = 0
        if config.int8_calibrator is not None:
            calibrator = config.int8_calibrator
            if calibrator.read_calibration_cache() is None:
                while (pointers := calibrator.get_batch([network.inputs[0].name])) is not None:
                    assert isinstance(pointers[0], int) and pointers[0] in _ALLOCATIONS
                    calibrated += calibrator.get_batch_size()
                calibrator.write_calibration_cache(b"fake-cache")
        description = {
            "version": __version__,
            "inputs": {t.name: list(t.shape) for t in network.inputs},
            "outputs": {t.name: list(t.shape) for t in network.outputs},
            "profile": config.profiles[0].shapes if config.profiles else {},
            "flags": sorted(f.name for f in config.flags),
            "dla_core": config.DLA_core if config.default_device_type == DeviceType.DLA else None,
            "calibrated_images": calibrated,
            "profile_sharing": any(f.name == "PROFILE_SHARING_0806" for f in config.preview),
        }
        return json.dumps(description).encode()

    def build_engine(self, network, config):  # TensorRT < 10 only
        data = self.build_serialized_network(network, config)
        return None if data is None else _Engine(json.loads(data), self.logger)


# --- engine and execution context --------------------------------------------------------


class _Engine:
    def __init__(self, description: dict, logger) -> None:
        self.description, self.logger = description, logger
        self.names = list(description["inputs"]) + list(description["outputs"])
        self.device_memory_size = self.device_memory_size_v2 = 4096

    def _is_input(self, name) -> bool:
        return name in self.description["inputs"]

    def _declared(self, name):
        return tuple(self.description["inputs"].get(name) or self.description["outputs"][name])

    def create_execution_context(self):
        """As TensorRT assigns profiles: the first context of a dynamic engine gets profile 0
        implicitly; before 10 a later one gets none until it asks (set_optimization_profile_
        async), which 8.6 grants only to engines built with PROFILE_SHARING_0806."""
        context = _Context(self)
        self.contexts = getattr(self, "contexts", 0) + 1
        if self.description["profile"] and self.contexts > 1 and _generation() < (10, 0):
            context.profile = None
        return context

    def _shares_profile(self) -> bool:
        return _generation() >= (10, 0) or bool(self.description.get("profile_sharing"))

    # TensorRT 8.5+: named tensors
    num_io_tensors = property(lambda self: len(self.names))

    def get_tensor_name(self, i):
        return self.names[i]

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if self._is_input(name) else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name):
        return np.float32

    def get_tensor_shape(self, name):
        return self._declared(name)

    def get_tensor_profile_shape(self, name, profile_index):
        return [tuple(s) for s in self.description["profile"][name]]

    # TensorRT < 10: bindings
    num_bindings = property(lambda self: len(self.names))

    def get_binding_name(self, i):
        return self.names[i]

    def binding_is_input(self, i) -> bool:
        return self._is_input(self.names[i])

    def get_binding_dtype(self, i):
        return np.float32

    def get_binding_shape(self, i):
        return self._declared(self.names[i])

    def get_profile_shape(self, profile_index, binding):
        name = self.names[binding] if isinstance(binding, int) else binding
        return [tuple(s) for s in self.description["profile"][name]]


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self.engine, self.addresses = engine, {}
        self.shapes = {
            name: tuple(shape) if -1 not in shape else None
            for name, shape in engine.description["inputs"].items()
        }
        self.ran_at: set = set()  # input shapes enqueued at (a capture needs one first)
        self.last: _Op | None = None
        self.profile: int | None = 0

    def set_optimization_profile_async(self, index, stream) -> bool:
        if index != 0:
            _log_error(self.engine.logger, f"optimization profile {index} does not exist")
            return False
        if self.profile is None and not self.engine._shares_profile():
            _log_error(self.engine.logger, "optimization profile 0 is in use by another context")
            return False
        self.profile = 0
        return True

    def _set_shape(self, name, shape) -> bool:
        if self.profile is None:
            _log_error(self.engine.logger, "the context has no optimization profile")
            return False
        low, _, high = self.engine.description["profile"][name]
        if len(shape) != len(low) or not all(a <= b <= c for a, b, c in zip(low, shape, high)):
            _log_error(self.engine.logger, f"{name}: shape {tuple(shape)} is outside the profile")
            return False
        self.shapes[name] = tuple(shape)
        return True

    def _shape(self, name):
        if name in self.shapes:
            return self.shapes[name] or self.engine._declared(name)
        batch = (next(iter(self.shapes.values())) or (-1,))[0]
        declared = self.engine._declared(name)
        return (batch if declared[0] == -1 else declared[0], *declared[1:])

    # TensorRT 8.5+
    def set_input_shape(self, name, shape) -> bool:
        return self._set_shape(name, shape)

    def get_tensor_shape(self, name):
        return self._shape(name)

    def set_tensor_address(self, name, pointer) -> None:
        self.addresses[name] = int(pointer)

    def execute_async_v3(self, stream) -> bool:
        return self._enqueue(dict(self.addresses), stream)

    # TensorRT < 10
    def set_binding_shape(self, index, shape) -> bool:
        return self._set_shape(self.engine.names[index], shape)

    def get_binding_shape(self, index):
        return self._shape(self.engine.names[index])

    def execute_async_v2(self, bindings, stream) -> bool:
        if len(bindings) != len(self.engine.names):
            _log_error(self.engine.logger, "bindings list has the wrong length")
            return False
        return self._enqueue(dict(zip(self.engine.names, (int(b) for b in bindings))), stream)

    def _enqueue(self, addresses: dict, handle) -> bool:
        logger = self.engine.logger
        missing = [n for n in self.engine.names if not addresses.get(n)]
        if missing:
            _log_error(logger, f"neither address nor allocator is set for tensor {missing[0]}")
            return False
        if any(shape is None for shape in self.shapes.values()):
            _log_error(logger, "not all input dimensions are specified")
            return False
        stream = _STREAMS.get(int(handle))
        assert stream is not None, f"enqueue on unknown stream {handle}"
        if self.last is not None and not self.last.done and self.last.stream is not stream:
            raise AssertionError("one execution context is in flight on two streams at once")
        key = tuple(sorted(self.shapes.items()))
        if stream.capture is not None and key not in self.ran_at:
            _log_error(logger, "enqueue once at these shapes before capturing a CUDA graph")
            return False
        self.ran_at.add(key)
        shapes = {name: self._shape(name) for name in self.engine.names}
        inputs = [n for n in self.engine.names if self.engine._is_input(n)]
        outputs = [n for n in self.engine.names if n not in inputs]

        def run() -> None:
            name = inputs[0]
            count = int(np.prod(shapes[name]))
            _check_bounds(addresses[name], count * 4)
            source = (ctypes.c_float * count).from_address(addresses[name])
            batch = np.ctypeslib.as_array(source).reshape(shapes[name]).copy()
            for k, out in enumerate(outputs):
                value = (
                    reference_logits(batch) if k == 0 else reference_features(batch, shapes[out])
                )
                _check_bounds(addresses[out], value.nbytes)
                ctypes.memmove(addresses[out], value.ctypes.data, value.nbytes)

        reads = {addresses[n] for n in inputs}
        self.last = stream.enqueue(_Op(run, reads, {addresses[n] for n in outputs}, "execute"))
        return True


class Runtime:
    def __init__(self, logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, data: bytes):
        try:
            return _Engine(json.loads(data), self.logger)
        except ValueError:
            self.logger.log(_Severity.ERROR, "Serialization assertion failed: magic tag mismatch")
            return None


# --- generations -------------------------------------------------------------------------

_NAMED = {  # TensorRT 8.5+
    _Engine: (
        "num_io_tensors",
        "get_tensor_name",
        "get_tensor_mode",
        "get_tensor_dtype",
        "get_tensor_shape",
        "get_tensor_profile_shape",
    ),
    _Context: ("set_input_shape", "get_tensor_shape", "set_tensor_address", "execute_async_v3"),
}
_BINDINGS = {  # removed in TensorRT 10
    _Engine: (
        "num_bindings",
        "get_binding_name",
        "binding_is_input",
        "get_binding_dtype",
        "get_binding_shape",
        "get_profile_shape",
    ),
    _Context: ("set_binding_shape", "get_binding_shape", "execute_async_v2"),
    Builder: ("build_engine",),
}


def _generation() -> tuple[int, int]:
    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)


def configure(version: str) -> None:
    """Make this (freshly loaded) module the API of TensorRT ``version``."""
    global __version__
    __version__ = version
    generation = _generation()
    removed: dict = collections.defaultdict(list)
    if generation >= (10, 0):
        for cls, names in _BINDINGS.items():
            removed[cls] += names
    if generation < (8, 5):
        for cls, names in _NAMED.items():
            removed[cls] += names
    if generation < (10, 1):
        removed[_Engine].append("device_memory_size_v2")
    if generation < (8, 5):
        removed[_Config].append("set_preview_feature")
        del globals()["PreviewFeature"]
    elif generation < (8, 6):
        globals()["PreviewFeature"] = enum.Enum("PreviewFeature", {"FASTER_DYNAMIC_SHAPES_0805": 2})
    if generation < (8, 4):
        removed[_Config].append("set_memory_pool_limit")
        del globals()["MemoryPoolType"]
    for cls, names in removed.items():
        for name in names:
            if name in vars(cls):
                delattr(cls, name)
    if generation >= (10, 0):  # an instance attribute: dropped after construction
        init = _Config.__init__

        def without_workspace(self) -> None:
            init(self)
            del self.max_workspace_size

        _Config.__init__ = without_workspace
    if generation < (10, 1):
        init_engine = _Engine.__init__

        def without_v2(self, description, logger) -> None:
            init_engine(self, description, logger)
            del self.device_memory_size_v2

        _Engine.__init__ = without_v2


# --- the CUDA helper ---------------------------------------------------------------------


def _check_bounds(pointer: int, nbytes: int) -> None:
    size = _ALLOCATIONS.get(pointer)
    assert size is not None, f"{pointer:#x} is not the start of a device allocation"
    assert nbytes <= size, f"{nbytes} bytes at {pointer:#x}, which holds {size}"


class _Op:
    """One queued operation: what it reads and writes (buffer start addresses)."""

    def __init__(self, run, reads, writes, label: str) -> None:
        self.run, self.reads, self.writes, self.label = run, set(reads), set(writes), label
        self.done, self.stream = False, None


class _Stream:
    def __init__(self) -> None:
        self.handle = next(_HANDLES)
        self.queue: collections.deque = collections.deque()
        self.capture: list | None = None  # ops recorded instead of queued, while capturing
        _STREAMS[self.handle] = self

    def enqueue(self, op: _Op) -> _Op:
        op.stream = self
        if self.capture is not None:
            self.capture.append(op)
            return op
        for other in _STREAMS.values():
            if other is self:
                continue
            for pending in other.queue:
                if op.writes & (pending.reads | pending.writes) or op.reads & pending.writes:
                    raise AssertionError(
                        f"data race: {op.label} on one stream touches a buffer that "
                        f"{pending.label} on another stream has not finished with"
                    )
        self.queue.append(op)
        return op

    def step(self) -> None:
        op = self.queue.popleft()
        op.run()
        op.done = True

    def run_until(self, op: _Op | None = None) -> None:
        while self.queue and not (op is not None and op.done):
            self.step()


class _Event:
    def __init__(self, blocking_sync: bool) -> None:
        self.blocking_sync, self.time, self.op = blocking_sync, None, None


class _Graph:
    def __init__(self, ops: list[_Op]) -> None:
        self.ops = ops


class HostCuda:
    """The CUDA helper's interface over host memory, with per-stream queues (see the module
    docstring); ``stats`` counts waits, polls, captures and launches."""

    name = "fake-cuda"
    supports_graphs = True
    compute_capability = "8.7"

    def __init__(self, *args) -> None:
        self._keep: list[np.ndarray] = []
        self._default = _Stream()
        self.stream_handle = self._default.handle
        self.stats: collections.Counter = collections.Counter()

    def device_properties(self) -> dict:
        return {
            "name": "Fake GPU",
            "compute_capability": self.compute_capability,
            "multiprocessors": 8,
            "total_memory_bytes": 8 << 30,
            "integrated": True,
        }

    def host_buffer(self, nbytes: int) -> np.ndarray:
        return np.zeros(max(nbytes, 1), np.uint8)

    def device_buffer(self, nbytes: int) -> int:
        memory = np.zeros(max(nbytes, 1), np.uint8)
        self._keep.append(memory)
        _ALLOCATIONS[memory.ctypes.data] = memory.nbytes
        return memory.ctypes.data

    def new_stream(self) -> _Stream:
        return _Stream()

    def handle(self, stream=None) -> int:
        return self._pick(stream).handle

    def _pick(self, stream) -> _Stream:
        return self._default if stream is None else stream

    def event(self, blocking_sync: bool = False) -> _Event:
        return _Event(blocking_sync)

    def record(self, event: _Event, stream=None) -> None:
        event.time = None

        def run() -> None:
            event.time = time.perf_counter()

        event.op = self._pick(stream).enqueue(_Op(run, (), (), "event record"))

    def event_done(self, event: _Event) -> bool:
        """One step of the event's stream per poll: a spin loop makes progress, and ends."""
        self.stats["polls"] += 1
        if event.op is None or event.op.done:
            return True
        event.op.stream.step()
        return event.op.done

    def event_synchronize(self, event: _Event) -> None:
        self.stats["blocking waits" if event.blocking_sync else "spinning waits"] += 1
        if event.op is not None and event.op.stream.capture is not None:
            raise RuntimeError("cudaErrorStreamCaptureUnsupported: waiting inside a capture")
        if event.op is not None:
            event.op.stream.run_until(event.op)

    def elapsed_ms(self, start: _Event, end: _Event) -> float:
        if start.time is None or end.time is None:
            raise RuntimeError("cudaErrorNotReady: an event has not completed")
        return (end.time - start.time) * 1e3

    def copy_to_device(self, pointer: int, host: np.ndarray, stream=None) -> None:
        _check_bounds(pointer, host.nbytes)

        def run() -> None:
            ctypes.memmove(pointer, host.ctypes.data, host.nbytes)

        op = _Op(run, {host.ctypes.data}, {pointer}, "host-to-device copy")
        self._pick(stream).enqueue(op)

    def copy_to_host(self, host: np.ndarray, pointer: int, stream=None) -> None:
        _check_bounds(pointer, host.nbytes)

        def run() -> None:
            ctypes.memmove(host.ctypes.data, pointer, host.nbytes)

        queue = self._pick(stream)
        address = host.ctypes.data
        still_read = any(address in op.reads for op in queue.queue)
        queue.enqueue(_Op(run, {pointer}, {address}, "device-to-host copy"))
        if queue.capture is None and not still_read:
            host[:] = 0xFF  # undefined until the copy has run: NaN for float32 readers

    def synchronize(self, stream=None) -> None:
        queue = self._pick(stream)
        if queue.capture is not None:
            raise RuntimeError("cudaErrorStreamCaptureUnsupported: synchronize inside a capture")
        self.stats["synchronize"] += 1
        queue.run_until()

    def begin_capture(self, stream) -> None:
        assert stream is not self._default, "capture on the helper's default stream"
        assert stream.capture is None, "capture already begun on this stream"
        stream.capture = []
        self.stats["captures"] += 1

    def end_capture(self, stream) -> _Graph:
        assert stream.capture is not None, "end_capture without begin_capture"
        graph, stream.capture = _Graph(stream.capture), None
        return graph

    def launch_graph(self, graph: _Graph, stream) -> None:
        assert stream.capture is None, "graph launched into a capture"
        self.stats["graph launches"] += 1
        for op in graph.ops:
            stream.enqueue(_Op(op.run, op.reads, op.writes, f"{op.label} (graph)"))

    def close(self) -> None:
        for stream in list(_STREAMS.values()):
            stream.run_until()  # destroying a stream lets its work finish
        for memory in self._keep:
            _ALLOCATIONS.pop(memory.ctypes.data, None)
        self._keep = []
