"""What a selector returns: one decision type, whatever rule made it.

A :class:`Decision` names the chosen entry (or none: keep the baseline), why, the settings
it used, the Pareto front, and one :class:`Verdict` per candidate with every check it passed
or failed. ``selection.json`` is its ``to_dict``; the report and the CLI read it and never
recompute what the selector decided. :meth:`Decision.from_dict` also reads version-1 files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "edgeprune-selection/2"


@dataclass(frozen=True)
class Check:
    """One limit applied to one candidate."""

    name: str  # "accuracy drop"
    value: float | None  # None: not measured for this entry
    limit: float
    kind: str  # "max" or "min"
    ok: bool
    excess: float  # relative to the limit; 0 when it holds
    source: str  # measured / estimated / ...
    text: str


@dataclass(frozen=True)
class Verdict:
    name: str
    method: str | None
    ratio: float
    precision: str
    feasible: bool
    reasons: list[str]  # one per failed check (or why the rule did not pick it)
    binding: str | None = None  # the check exceeded most
    checks: list[Check] = field(default_factory=list)
    latency_ms: float | None = None  # batch 1 on the target
    latency_source: str | None = None
    total_excess: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # what the selector's rule used


@dataclass(frozen=True)
class Decision:
    selector: str  # the SELECTORS name
    settings: dict[str, Any]  # the limits and thresholds in force (None: not checked)
    objective: str  # in words
    chosen: str | None  # None: keep the unpruned baseline
    explanation: str
    verdicts: list[Verdict]
    pareto_front: list[str] = field(default_factory=list)
    closest: list[str] = field(default_factory=list)  # when nothing qualifies
    needs_confirmation: bool = False  # the rule asks the user to confirm on the overlays
    notes: dict[str, Any] = field(default_factory=dict)

    def verdict(self, name: str) -> Verdict:
        return next(v for v in self.verdicts if v.name == name)

    @property
    def rejected(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.feasible]

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Decision:
        if data.get("schema") != SCHEMA:
            data = _upgrade_v1(data)
        verdicts = [
            Verdict(**{**v, "checks": [Check(**c) for c in v.get("checks", [])]})
            for v in data["verdicts"]
        ]
        names = {f.name for f in dataclasses.fields(cls)} - {"verdicts"}
        return cls(**{k: v for k, v in data.items() if k in names}, verdicts=verdicts)


def _upgrade_v1(v1: dict) -> dict:
    """A version-1 ``selection.json`` (constraints or PE-guided) in version 2."""
    pe = v1.get("by") == "pe"
    verdicts = []
    for row in v1["candidates"]:
        details = (
            {"accuracy_drop_points": row["accuracy_drop_points"], "pe": row["pe"]} if pe else {}
        )
        checks = [
            {k: c.get(k) for k in ("name", "value", "limit", "ok", "excess", "source", "text")}
            | {"kind": "max" if c["name"] in _MAX else "min"}
            for c in row.get("checks", [])
        ]
        verdicts.append(
            {
                "name": row["name"],
                "method": row.get("method"),
                "ratio": row["ratio"],
                "precision": row.get("precision", "fp32"),
                "feasible": row["feasible"],
                "reasons": row.get("reasons", []),
                "binding": row.get("binding"),
                "checks": checks,
                "latency_ms": row.get("latency_ms"),
                "latency_source": row.get("latency_source"),
                "total_excess": row.get("total_excess", 0.0),
                "details": details,
            }
        )
    notes = {k: v1[k] for k in ("accuracy_monotonic", "pe_monotonic") if k in v1}
    return {
        "selector": "pe" if pe else "constraints",
        "settings": v1.get("constraints") or {},
        "objective": v1.get("objective", ""),
        "chosen": v1.get("chosen"),
        "explanation": v1.get("explanation", ""),
        "verdicts": verdicts,
        "pareto_front": v1.get("pareto_front", []),
        "closest": v1.get("closest", []),
        "needs_confirmation": v1.get("needs_confirmation", False),
        "notes": notes,
    }


# Version 1 recorded no kind per check; these were its upper limits.
_MAX = {"accuracy drop", "ECE increase", "latency", "memory"}
