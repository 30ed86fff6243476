"""Loaders: what turns a model into the artifact that is measured.

- :func:`export_fp32`: PyTorch -> FP32 ONNX (with the feature map as a second output where
  the head allows closed-form explanations);
- :func:`build_variant`: that ONNX file -> a precision variant, an INT8 QDQ graph measured on
  the host with ONNX Runtime, or a TensorRT engine (FP32 / FP16 / INT8) where TensorRT runs;
- :func:`given_artifact`: a file the user hands to ``edgeprune evaluate``.

Each writes its files once into the entry's folder and reuses them on a rerun. All return
an :class:`Artifact`, which is all the measurement path needs to know.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.files import read_json, write_json, write_npz
from edgeprune.registry import import_object
from edgeprune.rundir import EntryLayout, variant_name
from edgeprune.targets import local_gpu
from edgeprune.targets.profile import TargetProfile
from edgeprune.targets.runtimes import RUNTIMES, BuildRequest, Runtime, runtime_for_artifact


@dataclass(frozen=True)
class Artifact:
    path: Path  # what the runner loads
    runtime: str  # a RUNTIMES name
    precision: str
    info: dict  # how it was made (export.json / variant.json)
    graph: Path | None  # the FP32 ONNX graph that size and estimates are computed from
    estimate_precision: str | None = None  # None: the run's (the target's default)
    runner_options: tuple[tuple[str, str], ...] = ()
    latency_note: str | None = None  # set when its timing is not what the target would see
    source_onnx: Path | None = None  # the ONNX graph it is (ONNX Runtime) or was built from
    build_request: BuildRequest | None = None  # how its runtime's builder made it, if one did


def export_fp32(
    model, layout: EntryLayout, image_shape: tuple[int, int, int], settings
) -> Artifact:
    """``model.onnx`` (+ the CAM head weights when the head is GAP + linear), once."""
    from edgeprune.export import export_onnx

    if not (layout.export_info.exists() and layout.onnx.exists()):
        h, w, c = image_shape
        exported = export_onnx(model, layout.onnx, (c, h, w), settings)
        if exported.cam_head is not None:
            head = exported.cam_head
            write_npz(layout.cam_head, {"weight": head.weight, "bias": head.bias})
        info = exported.describe()
        info["path"] = layout.onnx.name
        write_json(layout.export_info, info)
    info = read_json(layout.export_info)
    runtime = runtime_for_artifact(str(layout.onnx)).name
    return Artifact(layout.onnx, runtime, "fp32", info, graph=layout.onnx, source_onnx=layout.onnx)


@dataclass(frozen=True)
class Variant:
    """The same entry deployed at another precision and/or on another runtime."""

    runtime: str
    precision: str

    @property
    def suffix(self) -> str:
        return RUNTIMES.get(self.runtime).variant_suffix(self.precision)

    def name(self, base: str) -> str:
        return variant_name(base, self.suffix)


def auto_runtime(target: TargetProfile) -> tuple[Runtime, str | None]:
    """``--runtime auto`` for ``target``: its profile's runtime where it runs here, else ONNX
    Runtime; with a note when a runtime installed here was passed over, and why.

    A runtime whose artifacts run only where they were built (TensorRT) is chosen only for a
    target whose GPU is this machine's (``local-gpu``, or a Jetson profile on that Jetson):
    an engine built anywhere else measures nothing about the target.
    """
    wanted = RUNTIMES.get(target.runtime.default)
    if wanted.importable() and (not wanted.runs_where_built or local_gpu.runs_here(target)):
        chosen = wanted
    else:
        chosen = RUNTIMES.get("onnxruntime")
    preferred = [n for n in RUNTIMES.names() if RUNTIMES.get(n).preferred]
    passed = [
        n for n in dict.fromkeys([*preferred, wanted.name])
        if n != chosen.name and RUNTIMES.get(n).importable()
    ]  # fmt: skip
    if not passed:
        return chosen, None
    if target.is_host:
        why = f"target {target.name} has no GPU (--target local-gpu measures this machine's GPU)"
    else:
        why = f"target {target.name}'s GPU is not this machine's: build its engines on the device"
    display = RUNTIMES.get(passed[0]).display
    return chosen, f"{display} is installed here, but {why}; variants run on {chosen.display}"


@dataclass(frozen=True)
class VariantPlan:
    variants: list[Variant]
    runtime: str  # the RUNTIMES name they run on
    note: str | None = None  # why ``--runtime auto`` passed over a runtime installed here


def plan_variants(precisions: str, runtime: str, target: TargetProfile) -> VariantPlan:
    """The variants to build besides the FP32 ONNX entries, and the runtime they run on.

    ``precisions``: ``auto`` (the target's precision on a runtime that builds it, TensorRT
    or PyTorch; none on ONNX Runtime) or a comma-separated list. ``runtime``: ``auto`` (the
    target's runtime where it runs here, else ONNX Runtime: ``auto_runtime``) or a
    runtime's name; each runtime says which precisions it builds.
    """
    note = None
    if runtime == "auto":
        chosen, note = auto_runtime(target)
    else:
        chosen = RUNTIMES.get(runtime)
    if not chosen.importable():
        raise EdgepruneError(
            f"--runtime {chosen.name}: {chosen.display} is not importable here ({chosen.install})"
        )
    on_cpu = bool(chosen.gpu_precisions) and not local_gpu.runs_here(target)  # PyTorch off the GPU
    if precisions == "auto":
        wanted = [target.runtime.precision] if chosen.builds_target_precision else []
        if on_cpu:  # the runtime runs on this CPU: what the CPU runs natively
            wanted = ["fp32" if p in chosen.gpu_precisions else p for p in wanted]
    else:
        wanted = [p.strip() for p in precisions.split(",") if p.strip()]
    slow = [p for p in wanted if on_cpu and p in chosen.gpu_precisions]
    if slow:
        raise EdgepruneError(
            f"{chosen.display} {slow[0]} variants run on a GPU, and target {target.name}'s GPU is "
            f"not this machine's: on the CPU {slow[0]} is emulated, tens of times slower than fp32"
        )
    if chosen.name == runtime_for_artifact(".onnx").name:
        wanted = [p for p in wanted if p != "fp32"]  # the FP32 ONNX entries already are that
    unsupported = [p for p in wanted if p not in chosen.variant_precisions]
    if unsupported:
        able = [n for n in RUNTIMES.names() if unsupported[0] in RUNTIMES.get(n).variant_precisions]
        here = [n for n in able if RUNTIMES.get(n).importable()]
        needs = f"{unsupported[0]} needs {' or '.join(RUNTIMES.get(n).display for n in able)}"
        if here:
            raise EdgepruneError(f"{needs}: --runtime {here[0]}")
        raise EdgepruneError(
            f"{needs}: run on a machine with it (--runtime {able[0]})"
            if able
            else f"no runtime builds {unsupported[0]} variants"
        )
    return VariantPlan([Variant(chosen.name, p) for p in dict.fromkeys(wanted)], chosen.name, note)


@dataclass(frozen=True)
class VariantInputs:
    """What building a variant needs beside its FP32 entry."""

    calibration_images: np.ndarray  # uint8 NHWC training images for INT8 calibration
    preprocess: object  # the bundle's Preprocess
    target: TargetProfile
    calibration_method: str = "minmax"
    sparse_weights: bool = False  # TensorRT: allow 2:4 sparse kernels (the target benefits)
    torch_mode: str = "eager"  # PyTorch: how its runner calls the program


def built_sparse(info: dict) -> bool | None:
    """Whether a variant's ``variant.json`` says its engine was built with 2:4 sparse
    kernels allowed (None: an artifact no builder made, an ONNX file)."""
    if "sparse_weights" in info:
        return bool(info["sparse_weights"])
    artifact = str(info.get("artifact", ""))
    return ".sparse." in artifact if artifact.endswith(".engine") else None


def build_variant(
    base: EntryLayout, layout: EntryLayout, variant: Variant, inputs: VariantInputs | None
) -> Artifact:
    """The variant's artifact in ``layout`` (once), built from the FP32 entry's ONNX file;
    ``inputs`` may be None when it was built before."""
    if not layout.variant_info.exists():
        if inputs is None:
            raise EdgepruneError(f"{layout.folder} has no {variant.suffix} artifact to reuse")
        _build(base, layout, variant, inputs)
    info = read_json(layout.variant_info)
    built_options = info.get("runner_options", {})  # what its builder chose for the target
    mode = built_options.get("mode")
    if inputs is not None and mode is not None and mode != inputs.torch_mode:
        raise EdgepruneError(
            f"{layout.folder.name} was measured with --torch-mode {mode}; rerun with it, or "
            f"delete that folder to measure {inputs.torch_mode}"
        )
    runtime = RUNTIMES.get(variant.runtime)
    source = layout.onnx if variant.precision == "int8" else base.onnx  # QDQ, or the FP32 export
    request = None
    if runtime.builder is not None and inputs is not None:
        request = _request(base, layout, variant, inputs, source)
    return Artifact(
        layout.artifact(info["artifact"]),
        variant.runtime,
        variant.precision,
        info,
        graph=base.onnx,
        estimate_precision=variant.precision,
        runner_options=runtime.variant_options.get(variant.precision, ())
        + tuple((k, str(v)) for k, v in built_options.items()),
        latency_note=runtime.variant_notes.get(variant.precision),
        source_onnx=source,
        build_request=request,
    )


def _request(
    base: EntryLayout, layout: EntryLayout, variant: Variant, inputs: VariantInputs, onnx: Path
) -> BuildRequest:
    return BuildRequest(
        onnx=onnx,
        model=base.model if base.model.exists() else None,
        precision=variant.precision,
        folder=layout.folder,
        target=inputs.target,
        calibration_images=inputs.calibration_images,
        preprocess=inputs.preprocess,
        sparse_weights=inputs.sparse_weights,
        torch_mode=inputs.torch_mode,
    )


def _build(base: EntryLayout, layout: EntryLayout, variant: Variant, inputs: VariantInputs) -> None:
    layout.folder.mkdir(parents=True, exist_ok=True)
    source, info = base.onnx, {"runtime": variant.runtime, "precision": variant.precision}
    if variant.precision == "int8":
        from edgeprune.export.quantize import QuantizeSettings, quantize_int8

        settings = QuantizeSettings(method=inputs.calibration_method)
        quantized = quantize_int8(
            source, layout.onnx, inputs.calibration_images, inputs.preprocess, settings
        )
        info["quantization"] = quantized.describe()
        source = layout.onnx
    builder = RUNTIMES.get(variant.runtime).builder
    if builder is None:  # the (QDQ) ONNX file is what this runtime runs
        artifact = source
    else:  # e.g. a TensorRT engine built from it
        artifact, record = import_object(builder)(_request(base, layout, variant, inputs, source))
        # a run directory is checked against it: another target may not build it so
        info.update({**record, "sparse_weights": inputs.sparse_weights})
    info["artifact"] = artifact.name
    if base.cam_head.exists():  # the same linear head explains the variant's feature maps
        shutil.copyfile(base.cam_head, layout.cam_head)
    write_json(layout.variant_info, info)


def given_artifact(path: Path, runtime: str = "auto", estimate_precision: str = "") -> Artifact:
    """A file evaluated as it is (``edgeprune evaluate``): an ONNX graph or an engine.
    ``estimate_precision``: what the target estimate assumes (default: the target's)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EdgepruneError(f"artifact not found: {path}")
    chosen = runtime_for_artifact(str(path)) if runtime == "auto" else RUNTIMES.get(runtime)
    graph = path if path.suffix.lower() == ".onnx" else None
    return Artifact(
        path,
        chosen.name,
        _precision(path),
        {"path": str(path)},
        graph=graph,
        estimate_precision=estimate_precision or None,
        source_onnx=graph,
    )


def declared_output_shapes(artifact: Artifact) -> dict[str, tuple]:
    """Output name -> the shape its ONNX graph declares (None for an open dimension), for
    the outputs that declare one; {} for an artifact without a graph (an engine)."""
    if artifact.graph is None:
        return {}
    import onnx

    graph = onnx.load(str(artifact.graph), load_external_data=False).graph
    shapes = {}
    for output in graph.output:
        tensor = output.type.tensor_type
        if tensor.HasField("shape"):
            shapes[output.name] = tuple(
                d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
            )
    return shapes


def _precision(artifact: Path) -> str:
    """What the artifact runs at: an ONNX graph is INT8 when it holds Q/DQ nodes, else FP32;
    a PyTorch program FP32; an engine says so in its build record (``--precision`` only sets the estimate's)."""
    if artifact.suffix.lower() == ".onnx":
        import onnx

        try:
            graph = onnx.load(str(artifact), load_external_data=False).graph
        except Exception as exc:  # protobuf raises its own types for a damaged file
            raise EdgepruneError(
                f"{artifact} is not a readable ONNX file: {first_line(exc)}"
            ) from None
        return "int8" if any(n.op_type == "QuantizeLinear" for n in graph.node) else "fp32"
    if artifact.suffix.lower() == ".pt2":  # a program runs at the PyTorch runner's default
        return "fp32"
    from edgeprune.targets.runners.tensorrt_runner import read_sidecar

    return (read_sidecar(artifact) or {}).get("precision", "unknown")


def recalibrated(artifact: Artifact, layout: EntryLayout, fit, output: str) -> Artifact:
    """The artifact that ships with ``--recalibrate``: its ONNX graph with the fitted scaling
    of ``output`` appended (``edgeprune.export.scaling``), rebuilt by its runtime's builder
    where it has one (a TensorRT engine from the scaled graph), once."""
    from edgeprune.export.scaling import append_scaling

    if artifact.source_onnx is None:
        raise EdgepruneError(f"{artifact.path.name} has no ONNX graph to recalibrate")
    if not layout.calibrated_artifact.exists():
        append_scaling(artifact.source_onnx, layout.calibrated_onnx, fit, output)
        info = {"artifact": layout.calibrated_onnx.name, "from": artifact.source_onnx.name}
        if artifact.build_request is not None:
            builder = RUNTIMES.get(artifact.runtime).builder
            request = replace(artifact.build_request, onnx=layout.calibrated_onnx)
            path, record = import_object(builder)(request)
            info.update({"artifact": path.name, **record})
        elif artifact.path != artifact.source_onnx:
            raise EdgepruneError(
                f"{artifact.path.name}: rebuilding it from the recalibrated graph needs its "
                "build inputs; delete its folder and rerun"
            )
        write_json(layout.calibrated_artifact, info)
    info = read_json(layout.calibrated_artifact)
    return replace(
        artifact,
        path=layout.artifact(info["artifact"]),
        info={**artifact.info, "recalibrated": info},
        source_onnx=layout.calibrated_onnx,
        build_request=None,
    )
