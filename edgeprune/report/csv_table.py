"""``results.csv``: one row per entry, flat columns, for spreadsheets and plotting scripts.

The columns are documented in docs/results-schema.md; the schema version is the one of
results.json.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from edgeprune.files import write_text
from edgeprune.select import target_latency

COLUMNS = (
    "name", "method", "ratio", "precision", "kind", "accuracy", "accuracy_drop_points", "ece", "ece_increase",
    "mce", "rmsce", "adaptive_ece", "classwise_ece", "nll", "brier", "mpc", "rpc", "mce_corruption",
    "relative_mce", "hcc", "pe", "params", "nonzero_params", "macs", "params_reduction", "macs_reduction",
    "artifact_bytes", "top1_agreement", "max_abs_logit_diff", "host_p50_ms_b1", "host_throughput_ips",
    "target_latency_ms_b1", "target_latency_source", "target_memory_mb_estimated", "chosen",
)  # fmt: skip


def row(entry: dict, results: dict, chosen: str | None) -> dict:
    cal, size, d = entry["calibration"], entry["size"], entry["vs_baseline"]
    corruption, explanation = entry.get("corruption") or {}, entry.get("explanation") or {}
    batches = [k for k in entry["latency"] if k.isdigit()]
    latency, source = target_latency(entry, results)
    return {
        "name": entry["name"], "method": entry.get("method") or "", "ratio": entry["ratio"],
        "precision": entry.get("precision", "fp32"), "kind": entry.get("kind", ""),
        "accuracy": entry["accuracy"], "accuracy_drop_points": d["accuracy_drop_points"],
        "ece": cal["ece"], "ece_increase": d["ece_increase"], "mce": cal["mce"], "rmsce": cal["rmsce"],
        "adaptive_ece": cal["adaptive_ece"], "classwise_ece": cal["classwise_ece"], "nll": cal["nll"],
        "brier": cal["brier"], "mpc": corruption.get("mPC", ""), "rpc": corruption.get("rPC", ""),
        "mce_corruption": corruption.get("mCE", ""), "relative_mce": corruption.get("relative_mCE", ""),
        "hcc": explanation.get("hcc", ""), "pe": explanation.get("pe", ""), "params": size["params"],
        "nonzero_params": size.get("nonzero_params", size["params"]), "macs": size["macs"],
        "params_reduction": d["params_reduction"], "macs_reduction": d["macs_reduction"],
        "artifact_bytes": size["artifact_bytes"], "top1_agreement": entry["fidelity"]["top1_agreement"],
        "max_abs_logit_diff": entry["fidelity"]["max_abs_logit_diff"],
        "host_p50_ms_b1": entry["latency"]["1"]["p50_ms"],
        "host_throughput_ips": entry["latency"][batches[-1]]["throughput_ips"],
        "target_latency_ms_b1": latency, "target_latency_source": source,
        "target_memory_mb_estimated": entry["target_estimate"]["memory"]["bytes"] / 2**20,
        "chosen": entry["name"] == chosen,
    }  # fmt: skip


def write_csv(run_dir: Path, results: dict, selection: dict) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in [results["baseline"], *results["candidates"]]:
        writer.writerow(row(entry, results, selection.get("chosen")))
    path = Path(run_dir) / "results.csv"
    write_text(path, buffer.getvalue())
    return path
