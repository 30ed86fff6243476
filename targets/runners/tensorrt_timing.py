"""trtexec's timing modes for the TensorRT runner: several inferences in flight, CUDA graphs,
spin-waiting.

The runner's own loop synchronises after every inference on one stream: the latency an
application that waits for each answer sees. On a host-bound loop (a small model at batch 1,
a Jetson CPU) its ``compute_ms`` then includes launch gaps that trtexec's enqueue-ahead loop
hides (NVIDIA/TensorRT#3493), and the idle gaps let an Orin lower its clocks. The modes here
time what trtexec times:

- ``enqueue-ahead`` (trtexec ``--infStreams=N``): N streams, each with its own execution
  context and buffers (one context must not run on two streams at once), kept busy round
  robin: a stream's next inference is enqueued as soon as its previous one is done, so up to
  N are in flight. Every inference copies its inputs in and the requested outputs back.
- ``cuda-graph`` (``--useCudaGraph``): the same, each stream replaying a CUDA graph captured
  from its enqueue (cuda-python only; pycuda cannot capture).
- the runner's ``spin_wait`` option (``--useSpinWait``): wait for an inference by polling
  ``cudaEventQuery`` instead of sleeping in ``cudaEventSynchronize`` on blocking-sync events.

Per inference, CUDA events give H2D, compute, D2H and their sum (trtexec's "Latency"), and the
host time inside the enqueue call is trtexec's "Enqueue Time". Throughput is inferences
finished per wall-clock second, which overlap makes higher than 1 / latency.

Torch-free and Python 3.8-compatible: this module runs on the device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.targets.latency import summarize_times
from edgeprune.targets.runners.tensorrt_runner import current_shape, enqueue, set_shape

MODES = ("enqueue-ahead", "cuda-graph")
COMPONENTS = ("h2d_ms", "compute_ms", "d2h_ms", "enqueue_ms")


@dataclass
class _Lane:
    """One stream with its own execution context, buffers and events."""

    stream: object
    context: object
    hosts: dict  # tensor name -> pinned host buffer (uint8)
    devices: dict  # tensor name -> device pointer
    events: list  # before H2D, after H2D, after compute, after D2H
    graph: object = None
    graph_shapes: tuple | None = None  # the input shapes the graph was captured at
    copies: list = field(default_factory=list)  # (tensor, shape, nbytes) of outputs to fetch
    in_flight: bool = False
    enqueue_ms: float = 0.0


def _lanes(runner) -> list[_Lane]:
    """The runner's timing lanes, made once per (streams, spin_wait) and kept until it closes."""
    key = (runner.streams, runner.spin_wait)
    if key not in runner._lanes:
        cuda = runner._cuda
        lanes = []
        for _ in range(runner.streams):
            context = runner.new_context()
            lane = _Lane(cuda.new_stream(), context, {}, {}, [])
            # Blocking-sync events let the host thread sleep while it waits (trtexec's
            # default); spin-waiting polls plain events.
            lane.events = [cuda.event(blocking_sync=not runner.spin_wait) for _ in range(4)]
            for tensor in runner._tensors:  # sized as the runner's: the profile's largest
                lane.hosts[tensor.name] = cuda.host_buffer(tensor.host.nbytes)
                lane.devices[tensor.name] = cuda.device_buffer(tensor.host.nbytes)
                if tensor.index is None:
                    context.set_tensor_address(tensor.name, lane.devices[tensor.name])
            lanes.append(lane)
        runner._lanes[key] = lanes
    return runner._lanes[key]


def _prepare(runner, lanes: list[_Lane], checked, outputs: list[str]) -> tuple:
    """Shapes set and inputs staged on every lane; returns the input shapes."""
    shapes = tuple(array.shape for _, array in checked)
    wanted = [t for t in runner._tensors if not t.is_input and t.name in outputs]
    for lane in lanes:
        for tensor, array in checked:
            set_shape(lane.context, tensor, array.shape)
            host = lane.hosts[tensor.name][: array.nbytes]
            np.copyto(host.view(tensor.dtype).reshape(array.shape), array)
        lane.copies = []
        for tensor in wanted:
            shape = current_shape(lane.context, tensor)
            lane.copies.append((tensor, shape, int(np.prod(shape)) * tensor.dtype.itemsize))
    return shapes


def _launch(runner, lane: _Lane, use_graph: bool) -> None:
    cuda = runner._cuda
    started = time.perf_counter()
    if use_graph:
        cuda.launch_graph(lane.graph, lane.stream)
    else:
        ok = enqueue(lane.context, runner._tensors, lane.devices, cuda.handle(lane.stream))
        runner.check_enqueued(ok)
    lane.enqueue_ms = (time.perf_counter() - started) * 1e3


def _issue(runner, lane: _Lane, checked, use_graph: bool) -> None:
    """Inputs in, enqueue, outputs back, with an event between each; nothing waits."""
    cuda, events = runner._cuda, lane.events
    cuda.record(events[0], lane.stream)
    for tensor, array in checked:
        host = lane.hosts[tensor.name][: array.nbytes]
        cuda.copy_to_device(lane.devices[tensor.name], host, lane.stream)
    cuda.record(events[1], lane.stream)
    _launch(runner, lane, use_graph)
    cuda.record(events[2], lane.stream)
    for tensor, _, nbytes in lane.copies:
        cuda.copy_to_host(lane.hosts[tensor.name][:nbytes], lane.devices[tensor.name], lane.stream)
    cuda.record(events[3], lane.stream)
    lane.in_flight = True


def _finish(runner, lane: _Lane) -> dict[str, float]:
    """Wait for the lane's inference (spinning or sleeping) and read its times."""
    cuda, events = runner._cuda, lane.events
    if runner.spin_wait:
        while not cuda.event_done(events[3]):
            pass
    else:
        cuda.event_synchronize(events[3])
    lane.in_flight = False
    return {
        "latency_ms": cuda.elapsed_ms(events[0], events[3]),
        "h2d_ms": cuda.elapsed_ms(events[0], events[1]),
        "compute_ms": cuda.elapsed_ms(events[1], events[2]),
        "d2h_ms": cuda.elapsed_ms(events[2], events[3]),
        "enqueue_ms": lane.enqueue_ms,
    }


def _loop(runner, lanes, checked, use_graph: bool, least: int, most: int, seconds: float):
    """Round robin over the lanes: each waits only for its own previous inference. Returns
    the per-inference records, the wall time and the lane that finished last."""
    records: list[dict[str, float]] = []
    started = time.perf_counter()
    deadline = started + seconds
    issued = 0
    while issued < most and (issued < least or time.perf_counter() < deadline):
        lane = lanes[issued % len(lanes)]
        if lane.in_flight:
            records.append(_finish(runner, lane))
        _issue(runner, lane, checked, use_graph)
        issued += 1
    last = lanes[0]
    for k in range(len(lanes)):  # drain, oldest first
        lane = lanes[(issued + k) % len(lanes)]
        if lane.in_flight:
            records.append(_finish(runner, lane))
            last = lane
    return records, time.perf_counter() - started, last


def _capture(runner, lanes: list[_Lane], shapes: tuple) -> None:
    """A CUDA graph of each lane's enqueue at these shapes. TensorRT needs one ordinary
    enqueue at the shapes before a capture (the warm-up did it)."""
    cuda = runner._cuda
    for lane in lanes:
        if lane.graph is not None and lane.graph_shapes == shapes:
            continue
        cuda.begin_capture(lane.stream)
        try:
            ok = enqueue(lane.context, runner._tensors, lane.devices, cuda.handle(lane.stream))
        except BaseException:
            # a capture left open breaks the stream; ending an invalidated one raises its own
            # error, which would hide TensorRT's (trtexec's endCaptureOnError does the same)
            try:
                cuda.end_capture(lane.stream)
            except Exception:
                pass
            raise
        graph = cuda.end_capture(lane.stream)
        runner.check_enqueued(ok)
        lane.graph, lane.graph_shapes = graph, shapes


def _outputs(lane: _Lane) -> dict[str, np.ndarray]:
    return {
        tensor.name: lane.hosts[tensor.name][:nbytes]
        .view(tensor.dtype)
        .reshape(shape)
        .astype(np.float32)
        for tensor, shape, nbytes in lane.copies
    }


def describe(mode: str, streams: int, spin_wait: bool, outputs: list[str]) -> str:
    wait = (
        "spin-waits on cudaEventQuery (trtexec --useSpinWait)"
        if spin_wait
        else "waits on blocking-sync events (cudaEventSynchronize)"
    )
    graph = ", each replaying a CUDA graph of its enqueue (trtexec --useCudaGraph)"
    return (
        f"{mode} (trtexec --infStreams={streams}): {streams} stream(s), each with its own "
        f"execution context and buffers{graph if mode == 'cuda-graph' else ''}, up to "
        f"{streams} inference(s) in flight; each copies its inputs in and "
        f"{', '.join(outputs)} back; {wait}"
    )


def time_mode(
    runner,
    mode: str,
    feeds: dict[str, np.ndarray],
    outputs: list[str] | None,
    warmup: int,
    iterations: int,
    max_seconds: float,
    answers: int | None = None,
) -> dict[str, object]:
    """Time ``mode`` on one batch; the summary has the serial figure's shape (percentiles of
    the per-inference latency, components) plus how it was measured."""
    if mode not in MODES:
        raise EdgepruneError(f"unknown TensorRT timing mode {mode!r}; known: {', '.join(MODES)}")
    use_graph = mode == "cuda-graph"
    if use_graph and not runner._cuda.supports_graphs:
        raise EdgepruneError(
            f"{mode} is not supported through {runner._cuda.name}: CUDA graph capture needs "
            "cuda-python (pip install cuda-python)"
        )
    checked = runner.checked_feeds(feeds)
    batch = len(checked[0][1])
    if runner.max_batch and batch > runner.max_batch:
        raise EdgepruneError(
            f"a timing mode runs one engine call: batch {batch} is above the engine's "
            f"maximum {runner.max_batch}"
        )
    names = list(outputs) if outputs else list(runner.output_names)
    lanes = _lanes(runner)
    shapes = _prepare(runner, lanes, checked, names)
    # Every lane runs at least once before timing (and before a capture).
    _loop(runner, lanes, checked, False, max(warmup, len(lanes)), max(warmup, len(lanes)), 0.0)
    if use_graph:
        _capture(runner, lanes, shapes)
        _loop(runner, lanes, checked, True, len(lanes), len(lanes), 0.0)  # first launches
    records, wall, last = _loop(
        runner, lanes, checked, use_graph, min(10, iterations), iterations, max_seconds
    )
    runner.mode_outputs = _outputs(last)
    images = answers or batch
    summary: dict[str, object] = {
        "mode": describe(mode, runner.streams, runner.spin_wait, names),
        "streams": runner.streams,
        "cuda_graph": use_graph,
        "spin_wait": runner.spin_wait,
        "outputs": names,
        "batch_size": int(images),
        "warmup": warmup,
        "iterations": len(records),
        "timer": "CUDA events from the start of the H2D copy to the end of the D2H copy",
        "wall_seconds": wall,
    }
    if images != batch:
        summary["run_batch_size"] = int(batch)
    summary.update(summarize_times([r["latency_ms"] for r in records], images))
    # Several in flight: throughput is what finished per wall second, not 1 / latency.
    summary["throughput_ips"] = len(records) * images / max(wall, 1e-9)
    for component in COMPONENTS:
        summary[component] = summarize_times([r[component] for r in records], images)
    return summary
