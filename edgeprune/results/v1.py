"""Reading ``edgeprune-results/1``: run directories written before the typed results model.

Version 1 kept an entry flat (``accuracy``, ``calibration`` ... beside ``latency``), put the
latency batches (``"1"``, ``"64"``) among the latency's metadata keys, and called the target
estimate ``target_estimate``. Version 1 only knew image classification, so its task-specific
keys become the classification task's ``quality``. Figures are carried over unchanged.
"""

from __future__ import annotations

SCHEMA_V1 = "edgeprune-results/1"
_QUALITY_KEYS = {"accuracy", "n", "calibration", "reliability", "corruption_splits", "corruption"}


def _latency(v1: dict) -> dict:
    batches = {k: v for k, v in v1.items() if k.isdigit()}
    meta = {k: v for k, v in v1.items() if not k.isdigit()}
    return {**meta, "batches": batches}


def upgrade_entry(v1: dict) -> dict:
    """A version-1 entry (``metrics.json`` or an entry of ``results.json``) in version 2."""
    if "quality" in v1:  # already version 2
        return v1
    rest = {k: v for k, v in v1.items() if k not in _QUALITY_KEYS}
    quality = {
        "accuracy": v1["accuracy"],
        "n": v1["n"],
        "calibration": v1["calibration"],
        "reliability": v1["reliability"],
        "splits": v1.get("corruption_splits") or {},
        "corruption": v1.get("corruption"),
    }
    latency = _latency(v1["latency"])
    rest.update(
        {
            "quality": quality,
            "latency": latency,
            "runtime": v1.get("runtime") or latency.get("runtime", "onnxruntime"),
            "precision": v1.get("precision", "fp32"),
            "estimate": rest.pop("target_estimate", None),
            "variant_of": v1.get("variant_of"),
        }
    )
    return rest


def upgrade_results(v1: dict) -> dict:
    """A version-1 ``results.json`` in version 2 (entries upgraded, task named)."""
    out = dict(v1)
    out["task"] = "classification"
    out["baseline"] = upgrade_entry(v1["baseline"])
    out["candidates"] = [upgrade_entry(c) for c in v1["candidates"]]
    return out
