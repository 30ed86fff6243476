"""``results.csv``: one row per entry, flat columns, for spreadsheets and plotting scripts.

The columns are the entry's identity, the task's own columns, then size, timing and the
target's figures; they are documented in docs/results-schema.md, whose version is that of
results.json.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from edgeprune.files import write_text

IDENTITY = ("name", "method", "ratio", "precision", "kind", "runtime")
GENERIC = (
    "params", "nonzero_params", "macs", "params_reduction", "macs_reduction", "artifact_bytes",
    "host_p50_ms_b1", "host_throughput_ips", "target_latency_ms_b1", "target_latency_source",
    "target_memory_mb_estimated", "chosen",
)  # fmt: skip


def columns(task) -> tuple[str, ...]:
    return (*IDENTITY, *task.csv_columns, *GENERIC)


def row(entry, results, chosen: str | None, task) -> dict:
    size = entry.size
    latency, source = results.target_latency(entry)
    batch = entry.latency.throughput_batch
    return {
        "name": entry.name, "method": entry.method or "", "ratio": entry.ratio,
        "precision": entry.precision, "kind": entry.kind, "runtime": entry.runtime,
        **task.csv_cells(entry),
        "params": size.params, "nonzero_params": size.nonzero_params, "macs": size.macs,
        "params_reduction": entry.delta("params_reduction"),
        "macs_reduction": entry.delta("macs_reduction"), "artifact_bytes": size.artifact_bytes,
        "host_p50_ms_b1": entry.latency.at(1).p50_ms,
        "host_throughput_ips": entry.latency.at(batch).throughput_ips,
        "target_latency_ms_b1": latency, "target_latency_source": source,
        "target_memory_mb_estimated": entry.estimate.memory_bytes / 2**20,
        "chosen": entry.name == chosen,
    }  # fmt: skip


def write_csv(layout, results, decision, task) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(task), lineterminator="\n")
    writer.writeheader()
    for entry in results.entries:
        writer.writerow(row(entry, results, decision.chosen, task))
    write_text(layout.csv, buffer.getvalue())
    return layout.csv
