"""The summary table of a run: one row per entry (baseline first), for the terminal and the
report. The task supplies its own columns; estimated figures are labelled in the header."""

from __future__ import annotations


def _reduction(value: float | None) -> str:
    return "" if value is None else f" ({-100 * value:+.0f}%)"


def summary_rows(results, decision, task) -> list[dict[str, str]]:
    target = results.target_name
    precision = results.estimate_precision
    batch = results.baseline.latency.throughput_batch
    rows = []
    for entry in results.entries:
        size = entry.size
        estimate = entry.estimate.latency_ms(1)
        rows.append(
            {
                "candidate": entry.name + (" *" if entry.name == decision.chosen else ""),
                "deployed": f"{entry.runtime} {entry.precision}",
                "ratio": f"{entry.ratio:.2f}",
                "params": f"{size.params / 1e3:.1f}k{_reduction(entry.delta('params_reduction'))}",
                "MACs": f"{size.macs / 1e6:.2f}M{_reduction(entry.delta('macs_reduction'))}",
                **task.summary_cells(entry),
                "host p50 ms (measured, b1)": f"{entry.latency.at(1).p50_ms:.3f}"
                + (" !" if entry.latency.at(1).busy else ""),
                f"host img/s (measured, b{batch})": f"{entry.latency.at(batch).throughput_ips:.0f}",
                f"{target} {precision} ms (estimated, b1)": f"{estimate:.3f}",
            }
        )
    return rows


BUSY_NOTE = (
    "! host latency timed on a busy machine (p99 more than twice p50): other work ran "
    "while it was measured; compare it with care"
)


def busy_note(results) -> str | None:
    """The legend of the ``!`` mark, when some entry's batch-1 figure carries it."""
    return BUSY_NOTE if any(e.latency.at(1).busy for e in results.entries) else None


def text_table(rows: list[dict[str, str]]) -> str:
    headers = list(rows[0])
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in headers]

    def line(cells: list[str]) -> str:  # first column left-aligned, numbers right-aligned
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line([r[h] for h in headers]) for r in rows]
    return "\n".join(out)
