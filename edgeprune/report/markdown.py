"""``report.md``: the decision first, then the evidence, with every estimate labelled."""

from __future__ import annotations

from pathlib import Path

from edgeprune.files import write_text
from edgeprune.report.table import markdown_table, summary_rows


def _entries(results: dict) -> list[dict]:
    return [results["baseline"], *results["candidates"]]


def _calibration_section(results: dict) -> list[str]:
    n_bins = results["baseline"]["calibration"]["settings"]["n_bins"]
    lines = [
        "## Calibration of the deployed artifact",
        "",
        f"Softmax in float64 from the artifact's logits; {n_bins} equal-width bins (torchmetrics edges) unless noted.",
        "",
        "| entry | ECE | MCE | RMSCE | adaptive ECE | classwise ECE | NLL | Brier | ECE change vs baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in _entries(results):
        c, rel = e["calibration"], e["vs_baseline"]["ece_change_relative_percent"]
        rel_text = (
            "n/a" if rel is None else f"{e['vs_baseline']['ece_increase']:+.4f} ({-rel:+.0f} %)"
        )
        lines.append(
            f"| {e['name']} | {c['ece']:.4f} | {c['mce']:.4f} | {c['rmsce']:.4f} | {c['adaptive_ece']:.4f} | "
            f"{c['classwise_ece']:.4f} | {c['nll']:.4f} | {c['brier']:.4f} | {rel_text} |"
        )
    return lines + [""]


def _latency_section(results: dict) -> list[str]:
    base = results["baseline"]
    batches = [k for k in base["latency"] if k.isdigit()]
    env = base["environment"]
    lines = [
        "## Latency and memory on this host (measured)",
        "",
        f"ONNX Runtime {env.get('runtime', {}).get('version', '?')} on {env.get('cpu', '?')} "
        f"({env.get('logical_cpus', '?')} logical CPUs); runner process without torch.",
        "",
        "| entry | batch | warm-up | iterations | p50 ms | p90 ms | p95 ms | p99 ms | mean ms | img/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in _entries(results):
        for b in batches:
            s = e["latency"][b]
            lines.append(
                f"| {e['name']} | {b} | {s['warmup']} | {s['iterations']} | {s['p50_ms']:.3f} | {s['p90_ms']:.3f} | "
                f"{s['p95_ms']:.3f} | {s['p99_ms']:.3f} | {s['mean_ms']:.3f} | {s['throughput_ips']:.0f} | "
                f"{e['memory']['peak_rss_bytes'] / 2**20:.0f} |"
            )
    return lines + [""]


def _estimate_section(results: dict) -> list[str]:
    target = results["target"]
    first = results["baseline"]["target_estimate"]
    assumptions = first["latency"]["1"]["assumptions"]
    lines = [
        f"## {target['name']}: estimated, not measured",
        "",
        f"{target['description']}. Per-layer roofline at {first['precision']}: "
        f"peak {assumptions['peak_flops'] / 1e12:.2f} T(FL)OP/s x efficiency {assumptions['compute_efficiency']}, "
        f"bandwidth {assumptions['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s x {assumptions['memory_efficiency']}, "
        f"{assumptions['layer_overhead_us']} us per layer + {assumptions['fixed_overhead_us']} us per inference "
        f"(peaks from the {assumptions['peaks_source']}; efficiencies are the profile's assumptions).",
        "",
        "| entry | est. latency b1 ms | est. latency per batch ms | memory-bound layers | est. model memory MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for e in _entries(results):
        est = e["target_estimate"]
        batch = [k for k in est["latency"] if k != "1"]
        big = est["latency"][batch[0]]["latency_ms"] if batch else float("nan")
        one = est["latency"]["1"]
        lines.append(
            f"| {e['name']} | {one['latency_ms']:.3f} | {big:.3f} (b{batch[0] if batch else '-'}) | "
            f"{one['memory_bound_layers']}/{one['layers']} | {est['memory']['bytes'] / 2**20:.2f} |"
        )
    return lines + [""]


def _corruption_section(results: dict) -> list[str]:
    entries = [e for e in _entries(results) if e.get("corruption", {}).get("mPC") is not None]
    if not entries:
        return []
    info = entries[0]["corruption"]
    lines = [
        "## Corruption robustness of the deployed artifact",
        "",
        f"Corrupted test images: {info['source']}"
        + (f"; missing corruptions: {', '.join(info['missing'])}" if info.get("missing") else "")
        + ". mPC = mean accuracy over the 15 benchmark corruptions x 5 severities; rPC = mPC / clean accuracy; "
        "mCE uses the unpruned baseline as reference (baseline = 1.00); relative mCE subtracts each model's clean "
        "error first. Held-out corruptions (speckle noise, gaussian blur, spatter, saturate) never enter mPC or mCE.",
        "",
        "| entry | clean acc % | mPC % | rPC | mCE | relative mCE | mean corruption error % | held-out mean acc % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in entries:
        c = e["corruption"]
        held = c.get("held_out", {})
        held_text = f"{100 * sum(held.values()) / len(held):.1f}" if held else "-"
        lines.append(
            f"| {e['name']} | {100 * e['accuracy']:.2f} | {100 * c['mPC']:.2f} | {c['rPC']:.3f} | "
            f"{c.get('mCE', float('nan')):.3f} | {c.get('relative_mCE', float('nan')):.3f} | "
            f"{100 * c['mean_corruption_error']:.2f} | {held_text} |"
        )
    lines += [
        "",
        "Accuracy and ECE per severity, mean over the 15 benchmark corruptions (the view of Mitra et al. 2024):",
        "",
        "| entry | " + " | ".join(f"s{s} acc % / ECE" for s in range(1, 6)) + " |",
        "|---|" + "---:|" * 5,
    ]
    for e in entries:
        per = e["corruption"]["per_severity"]
        cells = [
            f"{100 * per[str(s)]['accuracy']:.1f} / {per[str(s)].get('ece', float('nan')):.3f}"
            for s in range(1, 6)
        ]
        lines.append(f"| {e['name']} | " + " | ".join(cells) + " |")
    names = entries[0]["corruption"]["corruptions"]
    lines += [
        "",
        "Accuracy % per corruption (mean over severities):",
        "",
        "| corruption | " + " | ".join(e["name"] for e in entries) + " |",
        "|---|" + "---:|" * len(entries),
    ]
    for name in names:
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{100 * e['corruption']['per_corruption_accuracy'][name]:.1f}" for e in entries
            )
            + " |"
        )
    return lines + [""]


def _size_section(results: dict) -> list[str]:
    lines = [
        "## Size and real reduction",
        "",
        "Nominal ratios count channels; structured pruning removes more parameters and MACs than that.",
        "",
        "| entry | nominal ratio | params | params reduction | MACs | MACs reduction | artifact KB | fidelity: top-1 agreement | max abs logit diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in _entries(results):
        s, d, f = e["size"], e["vs_baseline"], e["fidelity"]
        lines.append(
            f"| {e['name']} | {e['ratio']:.2f} | {s['params']:,} | {100 * d['params_reduction']:.1f} % | "
            f"{s['macs']:,} | {100 * d['macs_reduction']:.1f} % | {s['artifact_bytes'] / 1024:.1f} | "
            f"{100 * f['top1_agreement']:.2f} % | {f['max_abs_logit_diff']:.2e} |"
        )
    return lines + [""]


CONSTRAINT_LABELS = {
    "max_acc_drop": ("accuracy drop <=", " points"),
    "max_ece_increase": ("ECE increase <=", ""),
    "max_latency_ms": ("latency on the target <=", " ms"),
    "max_memory_mb": ("memory on the target <=", " MB"),
    "min_mpc": ("mPC >=", ""),
    "min_rpc": ("rPC >=", ""),
    "min_hcc": ("HCC >=", ""),
    "min_pe": ("PE-score >=", ""),
}


def constraint_text(constraints: dict) -> str:
    parts = [
        f"{label} {value:g}{unit}"
        for key, (label, unit) in CONSTRAINT_LABELS.items()
        if (value := constraints.get(key)) is not None
    ]
    return ", ".join(parts) or "none"


def _explanation_section(results: dict, selection: dict) -> list[str]:
    entries = [e for e in _entries(results) if e.get("explanation")]
    if not entries:
        return []
    first = entries[0]["explanation"]
    pe_settings = first["settings"]["pe"]
    lines = [
        "## Explanation consistency",
        "",
        f"HCC: Pearson correlation of Grad-CAM maps with the unpruned model's, per image, mean over images "
        f"with non-constant maps (Mantowsky et al. 2023). PE-score: ((SSIM + IoU) / 2) x (1 - |confidence change|) "
        f"on Grad-CAM++ maps, per class then class-weighted (Pachon et al. 2023; per-image form provisional; "
        f"SSIM {pe_settings['ssim_window']} window {pe_settings['win_size']}, IoU threshold {pe_settings['iou_threshold']}). "
        f"Both models explain the {first['settings']['target']} class, at the feature map feeding global average pooling.",
        "",
        "| entry | HCC | HCC median | HCC p05 | undefined maps | PE-score | mean SSIM | mean IoU | mean confidence change | images | computed on |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in entries:
        x = e["explanation"]
        h, p = x["hcc_stats"], x["pe_details"]
        where = "artifact" if x["path"].startswith("artifact") else "PyTorch model"
        lines.append(
            f"| {e['name']} | {x['hcc']:.4f} | {h['median']:.4f} | {h['p05']:.4f} | {h['n_undefined']} | "
            f"{x['pe']:.4f} | {p['mean_ssim']:.4f} | {p['mean_iou']:.4f} | {p['mean_confidence_change']:.4f} | "
            f"{x['n_images']} | {where} |"
        )
    if selection.get("overlays"):
        lines += ["", f"![Grad-CAM++ overlays]({selection['overlays']})"]
    return lines + [""]


def render_markdown(results: dict, selection: dict) -> str:
    config, prov = results["config"], results["provenance"]
    lines = [
        f"# edgeprune report: {results['run_dir']}",
        "",
        f"Model `{config['model']}` on `{config['data']}`, method `{config['method']}`, target `{results['target']['name']}`.",
        "",
        "## Decision",
        "",
        f"**{selection['explanation']}**",
        "",
        f"Constraints: {constraint_text(selection['constraints'])}. Objective: {selection['objective']}.",
        "",
    ]
    rejected = [c for c in selection["candidates"] if not c["feasible"]]
    for c in rejected:
        lines.append(f"- {c['name']} rejected: {'; '.join(c['reasons'])}")
    if rejected:
        lines.append("")
    lines += [
        "## Summary",
        "",
        markdown_table(summary_rows(results, selection)),
        "",
        "`*` marks the chosen candidate.",
        "",
    ]
    lines += _calibration_section(results)
    lines += _corruption_section(results)
    lines += _explanation_section(results, selection)
    lines += _size_section(results)
    lines += _latency_section(results)
    lines += _estimate_section(results)
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    lines += [
        "## Provenance",
        "",
        f"- created {prov['created']} on {prov['platform']}",
        f"- versions: {versions}",
        f"- seed {config['seed']}; data {results['dataset']['source']}; target profile {results['target']['source']}",
        f"- command: `{' '.join(prov['command'])}`",
        "",
    ]
    return "\n".join(lines)


def write_markdown_report(run_dir: Path, results: dict, selection: dict) -> Path:
    path = Path(run_dir) / "report.md"
    write_text(path, render_markdown(results, selection))
    return path
