"""Runtimes by name: what runs an artifact, here or on a device.

A runtime is data plus a runner class (and, where it needs one, an artifact builder) named
by import path, so that this registry imports no runtime library: ``RUNTIMES.get("tensorrt")``
works on a machine without TensorRT, and a runner module is imported only when a runner is
created. Everything that used to compare runtime strings asks the entry instead: which runner
to build, which module a device must import (``edgeprune.targets.remote``'s check), which
artifact files it runs (``edgeprune evaluate --runtime auto``), which precision variants it
builds and how (``edgeprune.measure.artifacts``), how a variant is named and run, whether
``--runtime auto`` prefers it, and whether its artifacts run only where they were built.

Adding a runtime (TFLite, ...) is one runner module under ``runners/`` and
one ``RUNTIMES.register`` call here, plus its builder if its artifact is not the ONNX file.

Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.errors import EdgepruneError
from edgeprune.registry import Registry
from edgeprune.targets.precision import PRECISIONS
from edgeprune.targets.runners.base import Runner
from edgeprune.targets.runners.cuda_backend import INSTALL_HINT as TENSORRT_INSTALL


@dataclass(frozen=True)
class BuildRequest:
    """What a runtime's builder gets to make a precision variant's artifact."""

    onnx: Path  # the variant's ONNX graph: the FP32 export, or its INT8 QDQ version
    model: Path | None  # the entry's PyTorch model file, for a runtime that runs it
    precision: str
    folder: Path  # where the artifact goes
    target: Any  # the TargetProfile the artifact is built for
    calibration_images: Any = None  # uint8 NHWC training images (implicit INT8 calibration)
    preprocess: Any = None  # the eval bundle's Preprocess for them
    sparse_weights: bool = False  # 2:4 sparse kernels allowed (the target benefits)
    torch_mode: str = "eager"  # PyTorch: eager, compile or cuda-graph


@dataclass(frozen=True)
class Runtime:
    name: str
    display: str  # how messages name it
    runner: str  # "module:Class" of its Runner, imported when a runner is created
    import_name: str  # the module a machine must import to run it (checked on a device first)
    install: str  # what to install when ``import_name`` is missing
    suffixes: tuple[str, ...]  # artifact files it runs, for ``--runtime auto`` on a file
    variant_precisions: tuple[str, ...]  # precision variants it builds beside the FP32 ONNX entry
    variant_prefix: str = ""  # variant names: ``<entry>@<prefix><precision>``
    job_settings: tuple[str, ...] = ()  # DeviceJob fields its runner takes as options
    default_options: dict[str, Any] = field(default_factory=dict)
    # "module:function" making a variant's artifact on the host side,
    # ``(BuildRequest) -> (artifact path, record)``; None: the (QDQ) ONNX file is the artifact.
    builder: str | None = None
    # Per variant precision: runner options, and why its latency is not the target's.
    variant_options: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    variant_notes: dict[str, str] = field(default_factory=dict)
    preferred: bool = False  # ``--runtime auto`` picks it where it is installed
    builds_target_precision: bool = False  # ``--precisions auto``: the target's precision
    runs_where_built: bool = False  # its artifacts run only on the machine that built them
    # precisions it runs only on the target's GPU (on a CPU they are emulated, not measured)
    gpu_precisions: tuple[str, ...] = ()

    def available(self) -> bool:
        """Whether this machine has the runtime's package (without importing it)."""
        try:
            return importlib.util.find_spec(self.import_name) is not None
        except (ImportError, ValueError):
            return False

    def importable(self) -> bool:
        """Whether the runtime actually imports here: a package whose libraries are missing
        (a TensorRT wheel without libnvinfer) is found but cannot run anything."""
        if not self.available():
            return False
        try:
            importlib.import_module(self.import_name)
        except Exception:  # a broken install raises whatever its loader raises
            return False
        return True

    def create(self, artifact: str, **options: object) -> Runner:
        """A runner for ``artifact``; a runtime that is not installed is one clear error."""
        if not self.available():
            raise EdgepruneError(f"{self.display} is not installed: {self.install}")
        module, _, name = self.runner.partition(":")
        runner_class = getattr(importlib.import_module(module), name)
        return runner_class(artifact, **{**self.default_options, **options})

    def variant_suffix(self, precision: str) -> str:
        return f"{self.variant_prefix}{precision}"


RUNTIMES: Registry[Runtime] = Registry("runtime")

RUNTIMES.register(
    "onnxruntime",
    Runtime(
        name="onnxruntime",
        display="ONNX Runtime",
        runner="edgeprune.targets.runners.onnxruntime_runner:OnnxRuntimeRunner",
        import_name="onnxruntime",
        install="pip install onnxruntime",
        suffixes=(".onnx",),
        # INT8 as a QDQ graph, measured on the host; FP16 needs a GPU runtime.
        variant_precisions=("int8",),
        job_settings=("threads", "providers"),
        # A QDQ graph at ONNX Runtime's basic level runs Q/DQ as written (edgeprune.export.quantize)
        variant_options={"int8": (("graph_optimization", "basic"),)},
        variant_notes={
            "int8": "INT8 QDQ graph run at ONNX Runtime's basic optimisation level (quantize-dequantize "
            "in FP32 arithmetic, as TensorRT computes it): accuracy and calibration are INT8's, the time is not"
        },
    ),
)
RUNTIMES.register(
    "tensorrt",
    Runtime(
        name="tensorrt",
        display="TensorRT",
        runner="edgeprune.targets.runners.tensorrt_runner:TensorRTRunner",
        import_name="tensorrt",
        install=TENSORRT_INSTALL,
        suffixes=(".engine", ".plan", ".trt"),
        variant_precisions=PRECISIONS,
        variant_prefix="trt-",
        builder="edgeprune.export.tensorrt_build:engine_for_variant",
        preferred=True,
        builds_target_precision=True,
        runs_where_built=True,  # an engine holds kernels chosen for the GPU that built it
    ),
)
RUNTIMES.register(
    "pytorch",
    Runtime(
        name="pytorch",
        display="PyTorch",
        runner="edgeprune.targets.runners.pytorch_runner:PyTorchRunner",
        import_name="torch",
        install="pip install torch (on a Jetson: NVIDIA's PyTorch wheel for your JetPack)",
        suffixes=(".pt2",),
        variant_precisions=("fp32", "fp16"),
        variant_prefix="pt-",
        gpu_precisions=("fp16",),
        job_settings=("threads",),
        # a torch.export program of the entry's model file; its record holds the runner's
        # device (CUDA where the target's GPU is this machine's), precision and mode
        builder="edgeprune.export.torch_program:program_for_variant",
        builds_target_precision=True,
    ),
)


def runtime_for_artifact(path: str) -> Runtime:
    """The runtime whose artifact suffix ``path`` has (``edgeprune evaluate --runtime auto``)."""
    lowered = str(path).lower()
    for name in RUNTIMES.names():
        runtime = RUNTIMES.get(name)
        if lowered.endswith(runtime.suffixes):
            return runtime
    known = ", ".join(s for n in RUNTIMES.names() for s in RUNTIMES.get(n).suffixes)
    raise EdgepruneError(
        f"cannot tell the runtime of {path} from its suffix (known: {known}); pass --runtime"
    )
