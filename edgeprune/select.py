"""Choosing what to ship: constraints against the unpruned baseline and the device budget,
an objective, the Pareto front, and why each candidate was accepted or rejected.

Every figure a decision uses says whether it was measured on the target or estimated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

OBJECTIVES = ("compression", "latency", "accuracy")


@dataclass(frozen=True)
class Constraints:
    """Each limit is optional (None: not checked). Accuracies and mPC are fractions."""

    max_acc_drop: float | None = 1.0  # points below the baseline
    max_ece_increase: float | None = 0.01  # absolute ECE above the baseline
    max_latency_ms: float | None = None  # batch 1 on the target
    max_memory_mb: float | None = None  # on the target
    min_mpc: float | None = None  # mean corruption accuracy, 0..1
    min_rpc: float | None = None  # mPC / clean accuracy
    min_hcc: float | None = None  # explanation correlation with the baseline
    min_pe: float | None = None  # PE-score
    objective: str = "compression"

    def describe(self) -> dict:
        return asdict(self)


def target_latency(entry: dict, results: dict) -> tuple[float, str]:
    """Batch-1 latency on the run's target: measured when the artifact ran there, else estimated."""
    latency = entry["latency"]
    ran_on_target = latency.get("where") == "device" or (
        latency.get("where") == "host" and results["target"]["kind"] == "host"
    )
    if ran_on_target and latency.get("representative", True):
        return latency["1"]["p50_ms"], "measured"
    return entry["target_estimate"]["latency"]["1"]["latency_ms"], "estimated"


def target_memory_mb(entry: dict, results: dict) -> tuple[float, str]:
    memory = entry["memory"]
    if memory.get("where") == "device" or (
        memory.get("where") == "host" and results["target"]["kind"] == "host"
    ):
        return memory["peak_rss_bytes"] / 2**20, "measured (peak RSS of the runner)"
    return entry["target_estimate"]["memory"]["bytes"] / 2**20, "estimated (weights + activations)"


def _explanation(entry: dict, key: str) -> float | None:
    value = (entry.get("explanation") or {}).get(key)
    return None if value is None else float(value)


def checks(entry: dict, results: dict, c: Constraints) -> list[dict]:
    """One record per active constraint: value, limit, whether it holds, relative excess."""
    d = entry["vs_baseline"]
    corruption = entry.get("corruption") or {}
    latency, latency_kind = target_latency(entry, results)
    memory, memory_kind = target_memory_mb(entry, results)
    # (name, value, limit, kind "max"/"min", how the value was obtained, unit)
    rows = [
        ("accuracy drop", d["accuracy_drop_points"], c.max_acc_drop, "max", "measured", " pp"),
        ("ECE increase", d["ece_increase"], c.max_ece_increase, "max", "measured", ""),
        ("latency", latency, c.max_latency_ms, "max", latency_kind, " ms"),
        ("memory", memory, c.max_memory_mb, "max", memory_kind, " MB"),
        ("mPC", corruption.get("mPC"), c.min_mpc, "min", "measured", ""),
        ("rPC", corruption.get("rPC"), c.min_rpc, "min", "measured", ""),
        ("HCC", _explanation(entry, "hcc"), c.min_hcc, "min", "measured", ""),
        ("PE-score", _explanation(entry, "pe"), c.min_pe, "min", "measured", ""),
    ]
    out = []
    for name, value, limit, kind, source, unit in rows:
        if limit is None:
            continue
        if value is None:
            out.append(
                {
                    "name": name,
                    "value": None,
                    "limit": limit,
                    "ok": False,
                    "excess": float("inf"),
                    "source": source,
                    "text": f"{name} not measured for this entry (required: {kind} {limit:g})",
                }
            )
            continue
        ok = value <= limit + 1e-12 if kind == "max" else value >= limit - 1e-12
        scale = max(abs(limit), 1e-9)
        excess = (
            0.0 if ok else (value - limit) / scale if kind == "max" else (limit - value) / scale
        )
        sign = ">" if kind == "max" else "<"
        text = f"{name} {value:.4g}{unit} {sign} {limit:g}{unit} allowed" + (
            f" ({source})" if source != "measured" else ""
        )
        out.append(
            {
                "name": name,
                "value": value,
                "limit": limit,
                "ok": ok,
                "excess": excess,
                "source": source,
                "text": text,
            }
        )
    return out


def _objective_key(entry: dict, results: dict, objective: str):
    if objective == "latency":
        return -target_latency(entry, results)[0]
    if objective == "accuracy":
        return entry["accuracy"]
    d = entry["vs_baseline"]
    # Nonzero parameters rank masking methods, whose MACs do not change.
    return (d["macs_reduction"], d.get("nonzero_params_reduction", 0.0), entry["ratio"])


def pareto_front(entries: list[dict], results: dict) -> list[str]:
    """Entries not dominated in (target latency lower, accuracy higher, ECE lower, mPC higher)."""

    def objectives(e: dict) -> tuple[float, ...]:
        mpc = (e.get("corruption") or {}).get("mPC")
        values = (target_latency(e, results)[0], -e["accuracy"], e["calibration"]["ece"])
        return values + ((-mpc,) if mpc is not None else ())

    points = {e["name"]: objectives(e) for e in entries}
    front = []
    for name, p in points.items():
        dominated = any(
            len(q) == len(p)
            and all(a <= b for a, b in zip(q, p))
            and any(a < b for a, b in zip(q, p))
            for other, q in points.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return front


def select_candidate(results: dict, constraints: Constraints) -> dict:
    """The best candidate by the objective among those meeting every constraint.

    With none feasible the unpruned baseline is kept, and the closest candidates (smallest
    total relative excess over their limits) are named.
    """
    if constraints.objective not in OBJECTIVES:
        from edgeprune.errors import EdgepruneError

        raise EdgepruneError(
            f"objective must be one of {', '.join(OBJECTIVES)}, got {constraints.objective!r}"
        )
    rows = []
    for entry in results["candidates"]:
        entry_checks = checks(entry, results, constraints)
        failed = [c for c in entry_checks if not c["ok"]]
        binding = max(failed, key=lambda c: c["excess"])["name"] if failed else None
        latency, latency_kind = target_latency(entry, results)
        rows.append(
            {
                "name": entry["name"],
                "method": entry.get("method"),
                "ratio": entry["ratio"],
                "precision": entry.get("precision", "fp32"),
                "feasible": not failed,
                "binding": binding,
                "reasons": [c["text"] for c in failed],
                "checks": entry_checks,
                "latency_ms": latency,
                "latency_source": latency_kind,
                "total_excess": sum(min(c["excess"], 1e6) for c in failed),
            }
        )
    feasible = [e for e, row in zip(results["candidates"], rows) if row["feasible"]]
    chosen = max(
        feasible, key=lambda e: _objective_key(e, results, constraints.objective), default=None
    )
    closest = (
        [] if feasible else [r["name"] for r in sorted(rows, key=lambda r: r["total_excess"])[:3]]
    )
    objective_text = {
        "compression": "largest compression (MAC reduction) within the constraints",
        "latency": "lowest latency on the target within the constraints",
        "accuracy": "highest accuracy within the constraints",
    }[constraints.objective]
    if chosen is None:
        explanation = "no candidate meets the constraints; keep the unpruned baseline" + (
            f" (closest: {', '.join(closest)})" if closest else ""
        )
    else:
        d = chosen["vs_baseline"]
        latency, kind = target_latency(chosen, results)
        explanation = (
            f"{chosen['name']}: {objective_text} (MACs -{100 * d['macs_reduction']:.1f} %, "
            f"accuracy {-d['accuracy_drop_points'] + 0.0:+.2f} pp, ECE {d['ece_increase']:+.4f}, "
            f"{latency:.3f} ms on {results['target']['name']}, {kind})"
        )
    return {
        "constraints": constraints.describe(),
        "objective": objective_text,
        "chosen": chosen["name"] if chosen else None,
        "explanation": explanation,
        "closest": closest,
        "pareto_front": pareto_front([results["baseline"], *results["candidates"]], results),
        "candidates": rows,
    }
