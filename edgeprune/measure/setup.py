"""What every measurement of a run shares: the task, the eval bundle, the device job, where
jobs run, the export settings, the parity tolerance, and the target estimator."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeprune.export import ExportSettings
from edgeprune.results import Estimate
from edgeprune.targets.bundle import CLEAN, EvalBundle
from edgeprune.targets.estimate import MachinePeaks, estimate_latency, estimate_memory, peaks_for
from edgeprune.targets.execute import pool_devices
from edgeprune.targets.graph_cost import graph_costs
from edgeprune.targets.pool import DevicePool
from edgeprune.targets.profile import TargetProfile
from edgeprune.targets.run import DeviceJob
from edgeprune.tasks import Task

# FP32 ONNX must agree with PyTorch on at least this fraction of top-1 labels (docs/metrics.md).
FP32_MIN_AGREEMENT = 0.999


@dataclass
class Estimator:
    """Latency and memory on the target, estimated from an ONNX graph and the profile.

    FP32 entries are estimated at the run's precision (the target's default), a precision
    variant at its own; always from the FP32 graph, whose costs the roofline scales. A host
    profile without peak figures measures this machine's peaks once, on first use.
    """

    target: TargetProfile
    precision: str
    batches: tuple[int, ...]
    _peaks: MachinePeaks | None = field(default=None, repr=False)

    @property
    def measured_peaks(self) -> MachinePeaks | None:
        return self._peaks

    def _machine_peaks(self) -> MachinePeaks:
        if self.target.is_host and self.target.peak.fp32_tflops is None and self._peaks is None:
            from edgeprune.targets.host_peaks import measure_host_peaks

            self._peaks = measure_host_peaks()
        return peaks_for(self.target, self._peaks)

    def estimate(self, graph: Path | None, precision: str | None = None) -> Estimate | None:
        """None when there is no graph to cost (a TensorRT engine evaluated alone)."""
        if graph is None:
            return None
        precision = precision or self.precision
        peaks = self._machine_peaks()
        latency, memory = {}, {}
        for batch in self.batches:
            costs = graph_costs(graph, batch)
            latency[batch] = estimate_latency(costs, self.target, precision, peaks)
            if batch == 1:
                memory = estimate_memory(costs, precision)
        return Estimate(self.target.name, precision, latency, memory)


def latency_batches(measure) -> tuple[int, ...]:
    """Batch 1 and the throughput batch of a ``measure`` section (one when they are equal)."""
    return tuple(dict.fromkeys((1, measure.latency_batch)))


def device_job(measure, task, feature_limit: int | None = None, explain: bool = False) -> DeviceJob:
    """The device job of a ``measure`` section for ``task``: its scored outputs, and with
    ``explain`` the clean split's feature maps (at most ``feature_limit``)."""
    return DeviceJob(
        outputs=task.outputs,
        batch_size=measure.eval_batch_size,
        latency_batches=latency_batches(measure),
        warmup=measure.latency_warmup,
        iterations=measure.latency_iterations,
        feature_splits=(CLEAN,) if explain and task.explanation_output else (),
        feature_limit=feature_limit,
    )


def estimator_for(target: TargetProfile, measure) -> Estimator:
    """Estimates on ``target`` at the section's precision, or the target's default."""
    precision = measure.precision or target.runtime.precision
    return Estimator(target, precision, latency_batches(measure))


@dataclass(frozen=True)
class MeasureSetup:
    task: Task
    bundle: EvalBundle
    job: DeviceJob  # the FP32 entries' job; artifacts set their runtime and options
    estimator: Estimator
    export: ExportSettings = field(default_factory=ExportSettings)
    normalize: object = None  # Normalizer: how PyTorch sees the bundle's images
    explanation: object = None  # the task's explanation settings (None: no explanations)
    device: str | None = None  # --device: destinations, comma-separated; None: the profile's
    ssh_options: str = ""
    parity_tolerance: tuple[float, float] = (1e-4, 1e-3)  # (atol, rtol) against PyTorch
    recalibration: str = "none"  # a RECALIBRATIONS name: the scaling every artifact ships with
    pool: DevicePool = field(init=False, repr=False)  # the devices jobs run on, one job each

    def __post_init__(self) -> None:
        devices = pool_devices(self.device, self.estimator.target)
        object.__setattr__(self, "pool", DevicePool(devices))

    @property
    def profile(self) -> TargetProfile:
        return self.estimator.target
