"""Device-side entry point: evaluate one artifact on one eval bundle and write the results.

    python -m edgeprune.targets.run --artifact model.onnx --bundle bundle/ --out result/

Needs only numpy and the runtime (onnxruntime, or tensorrt + pycuda), never torch, so the
same command runs on the host and on a Jetson. It writes:

- ``outputs.npz``: per split, the artifact's scored outputs (``logits/<split>`` for a
  classifier: the job's ``outputs``) and, for the splits asked for, every other output too
  (``features/<split>``, the feature map explanations are computed from);
- ``run.json``: latency per batch size, memory, runtime and machine description.

Metrics are computed on the host from these files.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.files import write_json, write_npz
from edgeprune.progress import rate_and_time_left
from edgeprune.targets.bundle import CLEAN, EvalBundle
from edgeprune.targets.environment import describe_environment, load_average
from edgeprune.targets.latency import (
    SERIAL_MODE,
    latency_plan,
    measure_latency,
    measure_modes,
    static_batch_note,
)
from edgeprune.targets.memory import current_rss_bytes, peak_rss_bytes
from edgeprune.targets.runners import create_runner
from edgeprune.targets.tegrastats import TegrastatsSampler

OUTPUTS_FILE = "outputs.npz"
RUN_FILE = "run.json"
LOGITS = "logits"  # the default scored output: a classifier's


def _log(message: str) -> None:
    print(f"[runner] {message}", file=sys.stderr, flush=True)


def _latency_batch(bundle: EvalBundle, split: str, batch_size: int) -> np.ndarray:
    """The first ``batch_size`` images of a split (repeated if the split is smaller)."""
    images = bundle.images(split)
    index = np.arange(batch_size) % len(images)
    return bundle.preprocess(np.asarray(images[index]))


@dataclass(frozen=True)
class DeviceJob:
    """What the runner does with one artifact; renders itself as the runner's command line."""

    runtime: str = "onnxruntime"
    outputs: tuple[str, ...] = (LOGITS,)  # outputs fetched on every split (the task's)
    splits: tuple[str, ...] = ()  # empty: every split of the bundle
    feature_splits: tuple[str, ...] = ()  # splits whose feature maps come back
    feature_limit: int | None = None  # at most this many feature maps per split
    batch_size: int = 256
    latency_batches: tuple[int, ...] = (1, 64)
    warmup: int = 10
    iterations: int = 200
    max_seconds: float = 3.0
    threads: int | None = None  # ONNX Runtime intra-op threads
    providers: tuple[str, ...] = ()  # ONNX Runtime execution providers
    engine_options: tuple[tuple[str, str], ...] = ()  # TensorRT runner options

    def runner_options(self) -> dict[str, object]:
        """The runner's keyword options: ``engine_options``, plus the job settings (threads,
        providers) that this runtime's runner takes (``Runtime.job_settings``)."""
        from edgeprune.targets.runtimes import RUNTIMES

        options: dict[str, object] = dict(self.engine_options)
        for name in RUNTIMES.get(self.runtime).job_settings:
            value = getattr(self, name)
            if value is not None and value != ():
                options[name] = list(value) if isinstance(value, tuple) else value
        return options

    def command(self, python: str, artifact: str, bundle: str, out: str) -> list[str]:
        cmd = [
            python,
            "-m",
            "edgeprune.targets.run",
            "--artifact",
            artifact,
            "--bundle",
            bundle,
            "--out",
            out,
            "--runtime",
            self.runtime,
            "--outputs",
            ",".join(self.outputs),
            "--batch-size",
            str(self.batch_size),
            "--latency-batches",
            ",".join(map(str, self.latency_batches)),
            "--warmup",
            str(self.warmup),
            "--iterations",
            str(self.iterations),
            "--max-seconds",
            str(self.max_seconds),
        ]
        if self.splits:
            cmd += ["--splits", ",".join(self.splits)]
        if self.feature_splits:
            cmd += ["--feature-splits", ",".join(self.feature_splits)]
        if self.feature_limit is not None:
            cmd += ["--feature-limit", str(self.feature_limit)]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        if self.providers:
            cmd += ["--providers", ",".join(self.providers)]
        for key, value in self.engine_options:
            cmd += ["--engine-option", f"{key}={value}"]
        return cmd


def evaluate_artifact(
    artifact: Path, bundle_dir: Path, out_dir: Path, job: DeviceJob = DeviceJob()
) -> dict[str, object]:
    """Run ``artifact`` over the bundle's splits, time it, and write outputs and ``run.json``."""
    started = time.time()
    bundle = EvalBundle(bundle_dir)
    splits = list(job.splits) or list(bundle.splits)
    feature_limit = job.feature_limit
    rss_before = current_rss_bytes()
    outputs: dict[str, np.ndarray] = {}
    with create_runner(job.runtime, str(artifact), **job.runner_options()) as runner:
        rss_session = current_rss_bytes() - rss_before
        has_features = "features" in runner.output_names
        pass_started, pass_images = time.perf_counter(), 0
        total_images = sum(bundle.split(name).size for name in splits)
        for split in splits:
            want_features = has_features and split in job.feature_splits
            scored = list(job.outputs)
            names = runner.output_names if want_features else scored
            collected: dict[str, list[np.ndarray]] = {name: [] for name in names}
            seen = 0
            for batch in bundle.batches(split, job.batch_size):
                result = runner.infer_batched(batch, names)
                for name in names:
                    value = result[name]
                    if name not in scored and feature_limit is not None:
                        value = value[: max(0, feature_limit - seen)]
                    collected[name].append(value)
                seen += len(batch)
                if want_features and feature_limit is not None and seen >= feature_limit:
                    names = scored  # enough feature maps: fetch the scored outputs only
            for name, parts in collected.items():
                outputs[f"{name}/{split}"] = np.concatenate(parts) if parts else np.zeros((0,))
            pass_images += seen
            pace = rate_and_time_left(pass_images, total_images, time.perf_counter() - pass_started)
            if "/" not in split:
                _log(f"{split}: {seen} images ({pace})")
            elif split.endswith("/5"):  # one line per corruption, not per severity
                _log(f"{split.split('/')[0]}: 5 severities x {seen} images ({pace})")
        evaluation = {
            "images": pass_images,
            "seconds": time.perf_counter() - pass_started,
            "note": "the accuracy pass over every split: memory-mapped reads, preprocessing, inference",
        }
        evaluation["images_per_second"] = pass_images / max(evaluation["seconds"], 1e-9)
        runner.timings.clear()
        latency = {}
        timing_split = CLEAN if CLEAN in splits else splits[0]
        for timed in latency_plan(job.latency_batches, runner.fixed_batch):
            batch = _latency_batch(bundle, timing_split, timed.run)
            size = str(timed.reported)
            load_before = load_average()
            with TegrastatsSampler() as board:  # a no-op where tegrastats is absent
                latency[size] = measure_latency(
                    runner, batch, job.warmup, job.iterations, job.max_seconds,
                    list(job.outputs), answers=timed.reported,
                )  # fmt: skip
            # what else the machine ran while this was timed: beside the figure, always
            latency[size]["load_average"] = {"before": load_before, "after": load_average()}
            if board.summary():
                latency[size]["tegrastats"] = board.summary()
            latency[size]["mode"] = SERIAL_MODE  # every figure says how it was measured
            _log(f"latency batch {size}: p50 {latency[size]['p50_ms']:.3f} ms")
            if runner.latency_modes:  # trtexec's throughput modes, beside the serial figure;
                # every output copied back, as trtexec does (the serial figure fetches what
                # the application reads)
                latency[size]["modes"] = measure_modes(
                    runner, batch, job.warmup, job.iterations, job.max_seconds,
                    None, answers=timed.reported,
                )  # fmt: skip
                for mode, figure in latency[size]["modes"].items():
                    if "p50_ms" in figure:
                        _log(
                            f"latency batch {size}, {mode}: p50 {figure['p50_ms']:.3f} ms, "
                            f"{figure['throughput_ips']:.0f} images/s"
                        )
        latency_note = static_batch_note(runner.fixed_batch)
        runtime_info = dict(runner.info)
    record = {
        "artifact": str(artifact),
        "artifact_bytes": artifact.stat().st_size,
        "bundle": str(bundle_dir),
        "splits": splits,
        "job": asdict(job),
        "latency": latency,
        "latency_note": latency_note,
        "evaluation": evaluation,
        "memory": {
            "peak_rss_bytes": peak_rss_bytes(),
            "runtime_session_rss_bytes": rss_session,
            "process_rss_before_runtime_bytes": rss_before,
            "note": "peak resident memory of the runner process (numpy + runtime, no torch)",
        },
        "environment": describe_environment(runtime_info),
        "wall_seconds": time.time() - started,
    }
    write_npz(out_dir / OUTPUTS_FILE, outputs)
    write_json(out_dir / RUN_FILE, record)
    return record


def _int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


# Set by the local executor to its own PID: the runner checks that its parent is still it.
PARENT_ENV = "EDGEPRUNE_PARENT_PID"


def die_with_parent() -> None:
    """A runner outlives no edgeprune: it is killed (SIGKILL) the moment the process that
    started it dies, ``kill -9`` included, so a resumed run never races a leftover runner
    still writing into its run directory. Linux's prctl(PR_SET_PDEATHSIG), armed here in
    the child (a preexec_fn would run in a forked copy of a threaded parent); elsewhere
    nothing is armed (the SSH path has its own watchdog)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import os
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    expected = os.environ.get(PARENT_ENV)
    if expected and os.getppid() != int(expected):
        os._exit(1)  # the parent died between the fork and the arming


def main(argv: Sequence[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(
        prog="python -m edgeprune.targets.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--artifact", required=True, type=Path)
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    defaults = DeviceJob()  # the one place the job's defaults live
    parser.add_argument("--runtime", default=defaults.runtime)
    parser.add_argument("--outputs", default=",".join(defaults.outputs), help="scored outputs")
    parser.add_argument("--splits", default="", help="comma-separated; default: all")
    parser.add_argument("--feature-splits", default="", help="splits whose feature maps are kept")
    parser.add_argument("--feature-limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--latency-batches", type=_int_list, default=list(defaults.latency_batches))
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--providers", default="", help="ONNX Runtime execution providers")
    parser.add_argument(
        "--engine-option", action="append", default=[], help="TensorRT runner KEY=VALUE"
    )
    args = parser.parse_args(argv)
    job = DeviceJob(
        runtime=args.runtime,
        outputs=tuple(o for o in args.outputs.split(",") if o),
        splits=tuple(s for s in args.splits.split(",") if s),
        feature_splits=tuple(s for s in args.feature_splits.split(",") if s),
        feature_limit=args.feature_limit,
        batch_size=args.batch_size,
        latency_batches=tuple(args.latency_batches),
        warmup=args.warmup,
        iterations=args.iterations,
        max_seconds=args.max_seconds,
        threads=args.threads,
        providers=tuple(p for p in args.providers.split(",") if p),
        engine_options=tuple(tuple(item.split("=", 1)) for item in args.engine_option),
    )
    try:
        evaluate_artifact(args.artifact, args.bundle, args.out, job)
    except EdgepruneError as exc:
        print(f"edgeprune runner: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
