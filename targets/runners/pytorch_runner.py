"""PyTorch runner: runs an entry's model as PyTorch runs it, on the CPU or a CUDA GPU.

    with PyTorchRunner("model.pt2", device="cuda", precision="fp16", mode="cuda-graph") as r:
        logits = r.infer({"input": batch})["logits"]

The artifact is a ``torch.export`` program (``edgeprune.export.torch_program``): the pruned
network as a graph that loads with PyTorch alone, no edgeprune model classes, so it runs
wherever the device has PyTorch (NVIDIA's wheel on a Jetson). Modes:

- ``eager``: the program's module called as it is, what most applications deploy first;
- ``compile``: the same module through ``torch.compile`` (Inductor), compiled on first use of
  each input shape, so warm-up absorbs it;
- ``cuda-graph``: one CUDA graph captured per input shape and replayed (CUDA only), which
  removes the per-kernel launch cost that dominates small models at batch 1.

On CUDA each inference records ``h2d_ms``, ``compute_ms`` and ``d2h_ms`` with CUDA events on
the runner's stream, as the TensorRT runner does; on the CPU the wall time is the figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, first_line
from edgeprune.targets.runners.base import Runner

MODES = ("eager", "compile", "cuda-graph")
PRECISIONS = ("fp32", "fp16")
METADATA = "edgeprune.json"  # extra file in the program archive: input and output names


def read_program(path: Path):
    """(the program's module, its metadata) from a ``torch.export`` archive."""
    import torch

    extra = {METADATA: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:  # a damaged or foreign archive raises many types
        written = _written_by(path)
        hint = (
            f" (written by PyTorch {written}, this is {torch.__version__}: export it where it "
            "runs, or install that release)"
            if written and written != torch.__version__
            else ""
        )
        raise EdgepruneError(
            f"{path} is not a loadable torch.export program: {first_line(exc)}{hint}"
        ) from None
    meta = json.loads(extra[METADATA]) if extra[METADATA] else {}
    return program.module(), meta


def _written_by(path: Path) -> str | None:
    """The PyTorch release that exported the program, from its metadata, read without torch
    (a program from another release may not load: torch.export promises no compatibility)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith(f"extra/{METADATA}"))
            return json.loads(archive.read(name)).get("torch")
    except (OSError, StopIteration, ValueError, zipfile.BadZipFile):
        return None


class PyTorchRunner(Runner):
    runtime = "pytorch"

    def __init__(
        self,
        artifact: str | Path,
        device: str = "auto",
        precision: str = "fp32",
        mode: str = "eager",
        threads: int | str | None = None,
    ) -> None:
        super().__init__()
        self.artifact = Path(artifact)
        if precision not in PRECISIONS:
            raise EdgepruneError(
                f"PyTorch runner precision must be fp32 or fp16, not {precision!r}"
            )
        if mode not in MODES:
            raise EdgepruneError(
                f"PyTorch runner mode must be one of {', '.join(MODES)}, not {mode!r}"
            )
        self.device_name, self.precision, self.mode = device, precision, mode
        self.threads = int(threads) if threads else None
        self._graphs: dict[tuple, tuple] = {}  # input shape -> (graph, static input, outputs)
        self._staging: dict[tuple, object] = {}  # input shape -> pinned host tensor (CUDA)

    def _activate(self) -> None:
        import torch

        if not self.artifact.is_file():
            raise EdgepruneError(f"PyTorch program not found: {self.artifact}")
        if self.device_name == "auto":
            self.device_name = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(self.device_name)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise EdgepruneError(
                "the PyTorch runner was asked for CUDA, but torch.cuda is not usable here"
            )
        if self.mode == "cuda-graph" and self.device.type != "cuda":
            raise EdgepruneError("mode cuda-graph needs a CUDA device")
        if self.threads:
            torch.set_num_threads(self.threads)
        module, meta = read_program(self.artifact)
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        module = module.to(self.device, self.dtype)
        self._module = torch.compile(module) if self.mode == "compile" else module
        self.input_names = [meta.get("input", "input")]
        self.output_names = list(meta.get("outputs", ["logits"]))
        if self.device.type == "cuda":
            self._stream = torch.cuda.Stream(self.device)
            self._events = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        self.info = {
            "runtime": "pytorch",
            "version": torch.__version__,
            "device": str(self.device),
            "precision": self.precision,
            "mode": self.mode,
            "threads": torch.get_num_threads() if self.device.type == "cpu" else None,
        }
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            self.info["gpu"] = {
                "name": props.name,
                "compute_capability": f"{props.major}.{props.minor}",
                "multiprocessors": int(props.multi_processor_count),
                "total_memory_bytes": int(props.total_memory),
                "integrated": bool(props.is_integrated),
            }

    def _deactivate(self) -> None:
        self._graphs.clear()
        self._staging.clear()
        self._module = None

    def _forward(self, x):
        outputs = self._module(x)
        return outputs if isinstance(outputs, (tuple, list)) else (outputs,)

    def _infer(self, feeds: dict[str, np.ndarray], outputs: list[str]):
        import torch

        if self.input_names[0] not in feeds:
            raise EdgepruneError(f"missing input {self.input_names[0]!r}")
        host = torch.from_numpy(np.ascontiguousarray(feeds[self.input_names[0]], np.float32))
        wanted = [self.output_names.index(name) for name in outputs]
        with torch.inference_mode():
            if self.device.type != "cuda":
                result = self._forward(host.to(self.dtype))
                return {self.output_names[i]: result[i].float().numpy() for i in wanted}, {}
            return self._infer_cuda(torch, host, wanted)

    def _infer_cuda(self, torch, host, wanted: list[int]):
        start, copied, computed, back = self._events
        with torch.cuda.stream(self._stream):
            start.record()
            x = self._pinned(torch, host).to(self.device, non_blocking=True).to(self.dtype)
            copied.record()
            result = self._replay(torch, x) if self.mode == "cuda-graph" else self._forward(x)
            computed.record()
            fetched = [result[i].float().to("cpu", non_blocking=True) for i in wanted]
            back.record()
        back.synchronize()
        values = {self.output_names[i]: t.numpy() for i, t in zip(wanted, fetched)}
        return values, {
            "h2d_ms": start.elapsed_time(copied),
            "compute_ms": copied.elapsed_time(computed),
            "d2h_ms": computed.elapsed_time(back),
        }

    def _pinned(self, torch, host):
        """``host`` in page-locked memory, one buffer per shape allocated once (an async copy
        needs pinned memory; every inference waits for its copies, so reuse is safe)."""
        buffer = self._staging.get(tuple(host.shape))
        if buffer is None:
            buffer = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
            self._staging[tuple(host.shape)] = buffer
        return buffer.copy_(host)

    def _replay(self, torch, x):
        """The CUDA graph of ``x``'s shape, captured on first use (after three warm-up runs on
        the stream, as PyTorch's CUDA graph notes require), replayed on the runner's stream."""
        key = tuple(x.shape)
        if key not in self._graphs:
            static = x.clone()
            for _ in range(3):
                self._forward(static)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self._stream):
                static_outputs = self._forward(static)
            self._graphs[key] = (graph, static, static_outputs)
        graph, static, static_outputs = self._graphs[key]
        static.copy_(x)
        graph.replay()
        return static_outputs
