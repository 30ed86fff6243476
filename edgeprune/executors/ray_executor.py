"""Candidates as Ray tasks: pruned and fine-tuned on a cluster's workers, returned to the
driver through Ray's object store, and measured there.

- The run's :class:`~edgeprune.candidates.TrainingSetup` (the training split included) and
  each method's source model go into the object store once; a task needs no file of the
  run directory, so workers on other nodes need no shared disk. A task returns its model and
  metadata; the driver writes them, so a task that dies writes nothing.
- Each task asks for ``--worker-cpus`` CPUs (the threads it trains with, which fix the
  order of floating-point sums: the figures equal the local executor's) and
  ``--worker-gpus`` GPUs; at most ``--workers`` run at once.
- A worker that dies mid-candidate (killed, out of memory, a node lost) makes Ray run that
  candidate again on another worker, up to ``RETRIES`` times; past them the candidate is
  reported failed and the others finish. The driver keeps every finished candidate, so a
  rerun makes only what is missing.
- Without ``--ray-address`` a local Ray is started for the run and stopped when it ends,
  Ctrl-C included.
- Workers report their phase (pruning, fine-tuning k/n epochs) to a small actor, which the
  driver relays to the sweep's live view.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

from edgeprune.candidates import make_candidate
from edgeprune.errors import EdgepruneError, first_line
from edgeprune.executors import Made
from edgeprune.progress import silent

RETRIES = 2  # runs of a candidate after its worker died, before it counts as failed
POLL_SECONDS = 1.0  # how often the driver relays the workers' states
INSTALL = "pip install -e '.[ray]' (or pip install ray)"


def import_ray():
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EdgepruneError(
            f"--executor ray needs Ray, which is not installed: {INSTALL}"
        ) from None
    return ray


def _states_actor(ray):
    @ray.remote(num_cpus=0)
    class States:
        """Each candidate's latest phase, as workers report it; the driver takes the changes."""

        def __init__(self) -> None:
            self.changes: list[tuple[str, str]] = []

        def set(self, name: str, text: str) -> None:
            self.changes.append((name, text))

        def take(self) -> list[tuple[str, str]]:
            changes, self.changes = self.changes, []
            return changes

    return States.remote()


def _make(setup, source, plan, states):
    """The task: one candidate, made on a worker; its phases go to ``states``."""

    def report(text: str) -> None:
        states.set.remote(plan.name, text)

    report("pruning")
    model, metadata = make_candidate(setup, source, plan, silent, state=report)
    return model, metadata, f"ray worker {socket.gethostname()} pid {os.getpid()}"


def _warm_up() -> int:
    """Import what a candidate needs (PyTorch, edgeprune) in a worker before the first
    candidate arrives: seconds of every worker's start, spent while the driver measures the
    baseline."""
    import edgeprune.candidates  # noqa: F401

    return os.getpid()


class RayExecutor:
    name = "ray"

    def __init__(self) -> None:
        self._ray = None
        self._started_here = False

    def start(self, sweep, threads: int, count: int) -> None:
        """Join or start the cluster and warm ``count`` workers up, without waiting: called
        before the baseline is measured, so that Ray's start-up overlaps it."""
        if self._ray is not None or not count:
            return
        ray = import_ray()
        self._started_here = _connect(ray, sweep, threads)
        self._ray = ray
        warm = ray.remote(num_cpus=threads)(_warm_up)
        for _ in range(min(count, sweep.workers or count)):
            warm.remote()

    def stop(self) -> None:
        """Stop the cluster this run started (a joined one is left running)."""
        if self._ray is not None and self._started_here:
            self._ray.shutdown()
        self._ray, self._started_here = None, False

    def run(self, plans, sources, setup, board) -> Iterator[Made]:
        if not plans:
            return
        sweep = setup.config.sweep
        self.start(sweep, setup.threads, len(plans))
        ray = self._ray
        running: dict = {}
        try:
            states = _states_actor(ray)
            setup_ref = ray.put(setup)
            source_refs = {m: ray.put(sources(m)) for m in dict.fromkeys(p.method for p in plans)}
            task = ray.remote(
                num_cpus=setup.threads, num_gpus=sweep.worker_gpus, max_retries=RETRIES
            )(_make)
            queue = list(plans)
            limit = sweep.workers or len(plans)
            while queue or running:
                while queue and len(running) < limit:
                    plan = queue.pop(0)
                    ref = task.options(name=f"edgeprune {plan.name}").remote(
                        setup_ref, source_refs[plan.method], plan, states
                    )
                    running[ref] = plan
                done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
                _relay(ray, states, board)
                for ref in done:
                    plan = running.pop(ref)
                    try:
                        model, metadata, where = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        yield Made(plan, error=_why(exc))
                        continue
                    yield Made(plan, model, metadata, where=where)
                board.summary(force=False)
        finally:
            for ref in running:  # Ctrl-C or an error in the driver: stop what still runs
                ray.cancel(ref, force=True)
            self.stop()


def _connect(ray, sweep, threads: int) -> bool:
    """Join ``--ray-address``, or start a local Ray for the run; True when started here."""
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if sweep.ray_address:
            ray.init(address=sweep.ray_address, **options)
        else:
            cpus = sweep.workers * threads if sweep.workers else None
            ray.init(num_cpus=cpus, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = sweep.ray_address or "a local cluster"
        raise EdgepruneError(f"cannot start Ray on {where}: {first_line(exc)}") from None
    return not sweep.ray_address


def _relay(ray, states, board) -> None:
    """The workers' phase changes, into the live view (a worker's first report starts it)."""
    for name, text in ray.get(states.take.remote()):
        if board.states.get(name) == "queued":
            board.started(name)
        board.state(name, text)


def _why(exc: Exception) -> str:
    """One line: the task's own error, or what happened to its worker."""
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {first_line(cause)}"
    return f"{type(exc).__name__}: {first_line(exc)}"
