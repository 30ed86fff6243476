"""Choosing by constraints: every limit against the baseline and the device budget, then the
best feasible candidate by the objective; the Pareto front; the closest candidates when
nothing qualifies.

Every figure a decision uses says whether it was measured on the target or estimated.
"""

from __future__ import annotations

from edgeprune.errors import EdgepruneError
from edgeprune.results import Entry, RunResults
from edgeprune.results.decision import Check, Decision, Verdict
from edgeprune.selection.limits import active_limits, check, limits_for
from edgeprune.selection.pareto import pareto_front
from edgeprune.selection.registry import OBJECTIVES, Selector

# A latency counts as a gain past these fractions: an estimate is deterministic, a measured
# figure on a shared machine moves by a few percent between identical models.
LATENCY_GAIN = {"estimated": 0.01, "measured": 0.05}
BYTES_GAIN = 0.01


def target_gains(entry: Entry, results: RunResults) -> dict[str, float]:
    """What ``entry`` saves on the run's target against the unpruned baseline, as fractions:
    MACs, artifact bytes, batch-1 latency there (measured or estimated, as labelled). Zeroed
    weights alone are no gain: a dense runtime stores and multiplies them (a 2:4 or INT8
    artifact gains where the target's latency or the bytes say so)."""
    base, gains = results.baseline, {}
    macs = entry.delta("macs_reduction") or 0.0
    if macs > 0:
        gains["MACs"] = macs
    if base.size.artifact_bytes:
        saved = 1 - entry.size.artifact_bytes / base.size.artifact_bytes
        if saved > BYTES_GAIN:
            gains["bytes"] = saved
    latency, kind = results.target_latency(entry)
    reference = results.target_latency(base)[0]
    if reference and 1 - latency / reference > LATENCY_GAIN.get(kind, LATENCY_GAIN["measured"]):
        if kind != "measured" or (_runs_differently(entry, base) and _clearly_faster(entry, base)):
            gains[f"{kind} latency"] = 1 - latency / reference
    return gains


def _runs_differently(entry: Entry, base: Entry) -> bool:
    """Whether the target runs ``entry`` otherwise than the baseline: fewer MACs or bytes,
    another precision or runtime, or an engine built for sparse kernels. A dense runtime
    runs a masked model exactly as the baseline, so a measured difference is the timing's,
    however large (unstructured masks timed 0.133 against 0.174 ms were a "gain")."""
    return (
        entry.size.macs != base.size.macs
        or entry.size.artifact_bytes != base.size.artifact_bytes
        or entry.precision != base.precision
        or entry.runtime != base.runtime
        or bool((entry.artifact or {}).get("sparse_weights"))
    )


def _clearly_faster(entry: Entry, base: Entry) -> bool:
    """A measured batch-1 latency counts as a gain only when it stands out of the noise:
    neither figure timed on a busy machine, and the entry's p90 under the baseline's p50
    by the margin (a dense-run unstructured model was chosen for 0.159 against a busy
    baseline's 0.289 ms)."""
    mine, theirs = entry.latency.at(1), base.latency.at(1)
    if mine.busy or theirs.busy:
        return False
    return mine.p90_ms < theirs.p50_ms * (1 - LATENCY_GAIN["measured"])


def gain_check(entry: Entry, results: RunResults) -> Check:
    """Passes when ``entry`` gains something on the target: one never replaces the baseline
    for nothing (a 2:4 mask with the baseline's MACs, bytes and estimate was chosen)."""
    gains = target_gains(entry, results)
    latency, kind = results.target_latency(entry)
    reference = results.target_latency(results.baseline)[0]
    # MACs and bytes are fixed by the artifact; a measured latency moves between runs, so it
    # is named only when it is the one gain (the record stays the same for the same models)
    lasting = {k: v for k, v in gains.items() if not k.endswith("latency")}
    gains = lasting or gains
    text = (
        "gains on the target: " + ", ".join(f"{k} -{100 * v:.1f} %" for k, v in gains.items())
        if gains
        else f"gains nothing on {results.target_name} over the baseline: MACs "
        f"-{100 * (entry.delta('macs_reduction') or 0.0):.1f} %, the same artifact bytes, "
        f"{latency:.3f} ms {kind} against {reference:.3f}"
    )
    best = max(gains.values(), default=0.0)
    return Check("gain on the target", best, 0.0, "min", bool(gains), 0.0 if gains else 1.0,
                 "measured" if kind == "measured" else "estimated", text)  # fmt: skip


def _objective_key(entry: Entry, results: RunResults, objective: str, task):
    if objective == "latency":
        return -results.target_latency(entry)[0]
    if objective == "accuracy":
        return task.primary_score(entry)
    # what the target gains: fewer MACs first, then fewer bytes, then a lower latency there
    gains = target_gains(entry, results)
    latency = next((v for k, v in gains.items() if k.endswith("latency")), 0.0)
    return (gains.get("MACs", 0.0), gains.get("bytes", 0.0), latency, entry.ratio)


def _objective_text(objective: str, task) -> str:
    return {
        "compression": "largest compression on the target (MACs, then bytes, then latency) within the constraints",
        "latency": "lowest latency on the target within the constraints",
        "accuracy": f"highest {task.primary_name} within the constraints",
    }[objective]


def settings_record(task, settings, results: RunResults) -> dict:
    """Every limit's value in force (None: not checked), the objective, and, where an entry
    was recalibrated, which ECE the ECE limit read."""
    record = {limit.option: limit.limit_from(settings) for limit in limits_for(task)}
    if any(e.recalibration for e in results.entries):
        record["ece_of"] = settings.ece_of
    if getattr(settings, "limit_at", "estimate") != "estimate":
        record["limit_at"] = settings.limit_at
    return {**record, "objective": settings.objective}


def verdict(entry: Entry, results: RunResults, checks: list[Check]) -> Verdict:
    failed = [c for c in checks if not c.ok]
    latency, latency_source = results.target_latency(entry)
    return Verdict(
        name=entry.name,
        method=entry.method,
        ratio=entry.ratio,
        precision=entry.precision,
        feasible=not failed,
        reasons=[c.text for c in failed],
        binding=max(failed, key=lambda c: c.excess).name if failed else None,
        checks=checks,
        latency_ms=latency,
        latency_source=latency_source,
        total_excess=sum(min(c.excess, 1e6) for c in failed),
    )


def select_by_constraints(results: RunResults, settings, task) -> Decision:
    """The best candidate by the objective among those meeting every limit in ``settings``
    (a SelectConfig). With none feasible the unpruned baseline is kept, and the closest
    candidates (smallest total relative excess over their limits) are named."""
    if settings.objective not in OBJECTIVES:
        raise EdgepruneError(
            f"objective must be one of {', '.join(OBJECTIVES)}, got {settings.objective!r}"
        )
    limits = active_limits(task, settings)
    verdicts = [
        verdict(
            entry,
            results,
            [check(limit, entry, results, value, settings) for limit, value in limits]
            + [gain_check(entry, results)],
        )
        for entry in results.candidates
    ]
    feasible = [e for e, v in zip(results.candidates, verdicts) if v.feasible]
    chosen = max(
        feasible, key=lambda e: _objective_key(e, results, settings.objective, task), default=None
    )
    closest = (
        [] if feasible else [v.name for v in sorted(verdicts, key=lambda v: v.total_excess)[:3]]
    )
    objective_text = _objective_text(settings.objective, task)
    if chosen is None:
        explanation = "no candidate meets the constraints; keep the unpruned baseline" + (
            f" (closest: {', '.join(closest)})" if closest else ""
        )
    else:
        latency, kind = results.target_latency(chosen)
        explanation = (
            f"{chosen.name}: {objective_text} (MACs -{100 * chosen.delta('macs_reduction'):.1f} %, "
            f"{task.change_summary(chosen, settings)}, {latency:.3f} ms on {results.target_name}, {kind})"
        )
    return Decision(
        selector="constraints",
        settings=settings_record(task, settings, results),
        objective=objective_text,
        chosen=chosen.name if chosen else None,
        explanation=explanation,
        verdicts=verdicts,
        pareto_front=pareto_front(results.entries, results, task),
        closest=closest,
    )


SELECTOR = Selector(
    select_by_constraints, "limits against the baseline and the budget, then an objective"
)
