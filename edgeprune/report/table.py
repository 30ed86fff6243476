"""The summary table of a run, rendered for the terminal and for Markdown."""

from __future__ import annotations


def summary_rows(results: dict, selection: dict) -> list[dict[str, str]]:
    """One row per entry (baseline first); estimated figures are labelled in the header."""
    target = results["target"]["name"]
    precision = results["baseline"]["target_estimate"]["precision"]
    throughput_batch = next(
        k for k in results["baseline"]["latency"] if k not in ("1", "measured", "where", "runtime")
    )
    rows = []
    for entry in [results["baseline"], *results["candidates"]]:
        d, size, cal = entry["vs_baseline"], entry["size"], entry["calibration"]
        estimate = entry["target_estimate"]["latency"]["1"]["latency_ms"]
        rows.append(
            {
                "candidate": entry["name"]
                + (" *" if entry["name"] == selection.get("chosen") else ""),
                "ratio": f"{entry['ratio']:.2f}",
                "params": f"{size['params'] / 1e3:.1f}k ({-100 * d['params_reduction']:+.0f}%)",
                "MACs": f"{size['macs'] / 1e6:.2f}M ({-100 * d['macs_reduction']:+.0f}%)",
                "acc %": f"{100 * entry['accuracy']:.2f}",
                "d acc pp": f"{-d['accuracy_drop_points'] + 0.0:+.2f}",  # + 0.0 turns -0.0 into 0.0
                "ECE": f"{cal['ece']:.4f}",
                "d ECE": f"{d['ece_increase']:+.4f}",
                "NLL": f"{cal['nll']:.3f}",
                **_corruption_cells(entry),
                "agree %": f"{100 * entry['fidelity']['top1_agreement']:.1f}",
                "host p50 ms (measured, b1)": f"{entry['latency']['1']['p50_ms']:.3f}",
                f"host img/s (measured, b{throughput_batch})": f"{entry['latency'][throughput_batch]['throughput_ips']:.0f}",
                f"{target} {precision} ms (estimated, b1)": f"{estimate:.3f}",
            }
        )
    return rows


def _corruption_cells(entry: dict) -> dict[str, str]:
    summary = entry.get("corruption")
    if not summary or "mPC" not in summary:
        return {}
    return {
        "mPC %": f"{100 * summary['mPC']:.1f}",
        "mCE": f"{summary.get('mCE', float('nan')):.2f}",
    }


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


def markdown_table(rows: list[dict[str, str]]) -> str:
    headers = list(rows[0])
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    out += ["| " + " | ".join(r[h] for h in headers) + " |" for r in rows]
    return "\n".join(out)
