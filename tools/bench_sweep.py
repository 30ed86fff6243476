"""The same 6-candidate sweep made by the local executor and by Ray on this machine.

Two methods x three ratios on the demo (digits, small-resnet), from one baseline trained
once in a prepared run directory; each timed run starts from a copy of it without
candidates and is the whole ``edgeprune compress`` command in a child process (what a user
waits for: Python and Ray start-up, pruning, fine-tuning, export, evaluation, report).

1. Same threads per candidate, one at a time: local (the baseline, measured in the same run)
   against Ray with one worker: Ray's overhead, in total and per task, as a fraction of the
   sequential time (the honest goal on 2 cores: <= 10 %).
2. One thread per candidate: local against Ray with two workers at once: the speedup two
   cores give when candidates run side by side.

Every Ray run's figures are compared with its local run's (timings aside): they must be
equal. Nothing is downloaded.

    python tools/bench_sweep.py --workdir /tmp/bench-sweep [--epochs 2]
    python tools/bench_sweep.py --data fashion-mnist --train-images 10000 --train-epochs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

METHODS = "l1-filter,fpgm"
RATIOS = "0.25,0.5,0.75"
CANDIDATES = 6


def flags(epochs: int, threads: int, data: list[str]) -> list[str]:
    return [
        *data, "--target", "host-cpu", "--methods", METHODS, "--ratios", RATIOS,
        "--finetune-epochs", str(epochs), "--corruptions", "generate:100",
        "--explain-images", "100", "--latency-iterations", "50", "--worker-cpus", str(threads),
        "--quiet",
    ]  # fmt: skip


def compress(out: Path, extra: list[str]) -> float:
    """Wall seconds of one ``edgeprune compress`` in a child process."""
    command = [sys.executable, "-m", "edgeprune.cli", "compress", "--out", str(out), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench_sweep: {' '.join(command[3:6])}... failed:\n{done.stderr[-2000:]}")
    return seconds


def figures(run: Path) -> dict:
    results = json.loads((run / "results.json").read_text())
    return {
        e["name"]: (e["quality"]["accuracy"], e["quality"]["calibration"]["ece"],
                    (e["quality"].get("corruption") or {}).get("mPC"), e["finetune"]["loss"])
        for e in results["candidates"]
    }  # fmt: skip


def fresh_copy(prepared: Path, dest: Path) -> Path:
    """``prepared`` (baseline and bundle) without candidates."""
    if dest.exists():
        shutil.rmtree(dest)
    keep = shutil.ignore_patterns("l1-filter-*", "fpgm-*", "results.*", "selection*", "report.*")
    shutil.copytree(prepared, dest, ignore=keep)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-sweep"))
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per candidate")
    parser.add_argument(
        "--data", default="digits", help="the data (a larger set makes candidates cost more)"
    )
    parser.add_argument("--train-images", type=int, default=0, help="0: the whole split")
    parser.add_argument("--train-epochs", type=int, default=15, help="of the prepared baseline")
    args = parser.parse_args()
    import torch

    threads = torch.get_num_threads()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for per_task, workers in ((threads, 1), (1, 2)):
        data = ["--data", args.data, "--train-images", str(args.train_images),
                "--train-epochs", str(args.train_epochs)]  # fmt: skip
        base = flags(args.epochs, per_task, data)
        tag = f"{args.data.replace(':', '-').replace('/', '-')}-{args.train_images}-e{args.epochs}"
        prepared = args.workdir / f"prepared-{per_task}-{tag}"
        if not (prepared / "baseline" / "metrics.json").exists():
            print(f"preparing the baseline ({per_task} thread(s) per candidate)...", flush=True)
            # one ratio: the baseline and the bundle are what the timed runs reuse
            compress(prepared, [*base, "--ratios", "0.25"])
        local = fresh_copy(prepared, args.workdir / f"local-{per_task}-{tag}")
        ray = fresh_copy(prepared, args.workdir / f"ray-{per_task}-{workers}-{tag}")
        local_s = compress(local, base)
        ray_s = compress(ray, [*base, "--executor", "ray", "--workers", str(workers)])
        same = figures(local) == figures(ray)
        rows.append((per_task, workers, local_s, ray_s, same))
    print(f"\n{CANDIDATES} candidates ({METHODS} x {RATIOS}) on {args.data} "
          f"({args.train_images or 'all'} training images), {args.epochs} fine-tuning epochs each, "
          f"on {threads} CPU thread(s); whole commands, wall time:")  # fmt: skip
    print(f"{'threads/candidate':>17}  {'ray workers':>11}  {'local s':>8}  {'ray s':>7}  "
          f"{'ray / local':>11}  {'overhead/task s':>15}  figures equal")  # fmt: skip
    for per_task, workers, local_s, ray_s, same in rows:
        print(f"{per_task:>17}  {workers:>11}  {local_s:8.1f}  {ray_s:7.1f}  {ray_s / local_s:11.3f}  "
              f"{(ray_s - local_s) / CANDIDATES:15.2f}  {'yes' if same else 'NO'}")  # fmt: skip
    per_task, _, local_s, ray_s, _ = rows[0]
    print(f"\nRay's overhead at one worker: {100 * (ray_s - local_s) / local_s:+.1f} % of the "
          f"sequential time (goal <= 10 %); two workers of one thread: {rows[1][2] / rows[1][3]:.2f}x "
          "the local executor with one thread")  # fmt: skip
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
