"""A stand-in for the ``tensorrt`` module and the CUDA helper, for machines without a GPU.

It implements the slice of the TensorRT 10 Python API that edgeprune uses, over host memory:
the "builder" reads the ONNX model's inputs, outputs and Q/DQ nodes and serializes a JSON
description with the flags it was given; the "engine" computes a fixed linear function of
its input (logits = mean over pixels of each channel, times a fixed matrix) through the
buffer addresses it was given, so wrong shapes, offsets or copies show up as wrong numbers.
It checks edgeprune's bookkeeping, never TensorRT's numerics (test_tensorrt_gpu.py does).
"""

from __future__ import annotations

import ctypes
import enum
import json
import time
import types

import numpy as np

__version__ = "10.3.0"
CLASSES = 10


def reference_logits(batch: np.ndarray) -> np.ndarray:
    """What the fake engine computes, for the tests to compare with."""
    pooled = batch.reshape(batch.shape[0], batch.shape[1], -1).mean(axis=2)
    weights = np.arange(batch.shape[1] * CLASSES, dtype=np.float32).reshape(batch.shape[1], -1)
    return (pooled @ weights).astype(np.float32)


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


class MemoryPoolType(enum.Enum):
    WORKSPACE = 1


class DeviceType(enum.Enum):
    GPU = 1
    DLA = 2


class NetworkDefinitionCreationFlag(enum.Enum):
    EXPLICIT_BATCH = 0


def nptype(dtype):
    return dtype


def init_libnvinfer_plugins(logger, namespace) -> bool:
    return True


class IInt8EntropyCalibrator2:
    def __init__(self) -> None:
        pass


class _Tensor:
    def __init__(self, name: str, shape) -> None:
        self.name, self.shape = name, tuple(shape)


class _Network:
    def __init__(self) -> None:
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


class OnnxParser:
    def __init__(self, network: _Network, logger) -> None:
        self.network, self.num_errors = network, 0

    def parse_from_file(self, path: str) -> bool:
        import onnx

        try:
            model = onnx.load(path)
        except Exception:
            self.num_errors = 1
            return False
        dims = lambda v: [d.dim_value or -1 for d in v.type.tensor_type.shape.dim]  # noqa: E731
        self.network.inputs = [_Tensor(v.name, dims(v)) for v in model.graph.input]
        self.network.outputs = [_Tensor(v.name, dims(v)) for v in model.graph.output]
        kinds = {"QuantizeLinear": LayerType.QUANTIZE, "DequantizeLinear": LayerType.DEQUANTIZE}
        self.network.layers = [
            types.SimpleNamespace(type=kinds.get(n.op_type, LayerType.CONVOLUTION))
            for n in model.graph.node
        ]
        return True

    def get_error(self, i) -> str:
        return "In node 0: not an ONNX model"


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

    def set_flag(self, flag) -> None:
        self.flags.add(flag)

    def clear_flag(self, flag) -> None:
        self.flags.discard(flag)

    def set_memory_pool_limit(self, pool, size) -> None:
        self.pool = size

    def add_optimization_profile(self, profile) -> None:
        self.profiles.append(profile)

    def set_calibration_profile(self, profile) -> None:
        self.calibration_profile = profile


class Builder:
    num_DLA_cores = 0

    def __init__(self, logger) -> None:
        self.logger = logger

    def create_network(self, flags=0) -> _Network:
        return _Network()

    def create_builder_config(self) -> _Config:
        return _Config()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes:
        calibrated = 0
        if config.int8_calibrator is not None:
            calibrator = config.int8_calibrator
            if calibrator.read_calibration_cache() is None:
                while (pointers := calibrator.get_batch([network.inputs[0].name])) is not None:
                    assert isinstance(pointers[0], int)
                    calibrated += calibrator.get_batch_size()
                calibrator.write_calibration_cache(b"fake-cache")
        profile = config.profiles[0].shapes if config.profiles else {}
        description = {
            "inputs": {t.name: list(t.shape) for t in network.inputs},
            "outputs": [t.name for t in network.outputs],
            "profile": profile,
            "flags": sorted(f.name for f in config.flags),
            "dla_core": config.DLA_core if config.default_device_type == DeviceType.DLA else None,
            "calibrated_images": calibrated,
        }
        return json.dumps(description).encode()


class _Engine:
    def __init__(self, description: dict) -> None:
        self.description = description
        self.names = list(description["inputs"]) + description["outputs"][:1]  # logits only
        self.device_memory_size_v2 = 4096

    num_io_tensors = property(lambda self: len(self.names))

    def get_tensor_name(self, i):
        return self.names[i]

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if name in self.description["inputs"] else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name):
        return np.float32

    def get_tensor_shape(self, name):
        if name in self.description["inputs"]:
            return tuple(self.description["inputs"][name])
        first = next(iter(self.description["inputs"].values()))
        return (first[0], CLASSES)

    def get_tensor_profile_shape(self, name, index):
        return [tuple(s) for s in self.description["profile"][name]]

    def create_execution_context(self):
        return _Context(self)


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self.engine, self.addresses = engine, {}
        self.input_shape = tuple(next(iter(engine.description["inputs"].values())))

    def set_input_shape(self, name, shape) -> bool:
        low, _, high = self.engine.description["profile"][name]
        if not all(a <= b <= c for a, b, c in zip(low, shape, high)):
            return False
        self.input_shape = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        if name in self.engine.description["inputs"]:
            return self.input_shape
        return (self.input_shape[0], CLASSES)

    def set_tensor_address(self, name, pointer) -> None:
        self.addresses[name] = pointer

    def execute_async_v3(self, stream) -> bool:
        inputs = self.engine.description["inputs"]
        name = next(iter(inputs))
        count = int(np.prod(self.input_shape))
        source = (ctypes.c_float * count).from_address(self.addresses[name])
        batch = np.ctypeslib.as_array(source).reshape(self.input_shape)
        logits = reference_logits(batch)
        output = self.engine.description["outputs"][0]
        ctypes.memmove(self.addresses[output], logits.ctypes.data, logits.nbytes)
        return True


class Runtime:
    def __init__(self, logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, data: bytes):
        try:
            return _Engine(json.loads(data))
        except ValueError:
            self.logger.log(_Severity.ERROR, "Serialization assertion failed: magic tag mismatch")
            return None


class HostCuda:
    """The CUDA helper's interface over host memory; events read the wall clock."""

    name = "fake-cuda"
    stream_handle = 1

    def __init__(self, *args) -> None:
        self._keep: list[np.ndarray] = []

    def device_properties(self) -> dict:
        return {
            "name": "Fake GPU",
            "compute_capability": "8.7",
            "multiprocessors": 8,
            "total_memory_bytes": 8 << 30,
            "integrated": True,
        }

    def host_buffer(self, nbytes: int) -> np.ndarray:
        return np.zeros(max(nbytes, 1), np.uint8)

    def device_buffer(self, nbytes: int) -> int:
        memory = np.zeros(max(nbytes, 1), np.uint8)
        self._keep.append(memory)
        return memory.ctypes.data

    def event(self) -> list:
        return [0.0]

    def record(self, event) -> None:
        event[0] = time.perf_counter()

    def elapsed_ms(self, start, end) -> float:
        return (end[0] - start[0]) * 1e3

    def copy_to_device(self, pointer: int, host: np.ndarray) -> None:
        ctypes.memmove(pointer, host.ctypes.data, host.nbytes)

    def copy_to_host(self, host: np.ndarray, pointer: int) -> None:
        ctypes.memmove(host.ctypes.data, pointer, host.nbytes)

    def synchronize(self) -> None:
        pass

    def close(self) -> None:
        self._keep = []
