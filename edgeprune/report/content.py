"""What a report says, built once from results.json and selection.json: the decision first,
then the evidence. Every estimated figure says so."""

from __future__ import annotations

from edgeprune.report.document import Figure, Report, Section, Table
from edgeprune.report.table import summary_rows

CONSTRAINT_LABELS = {
    "max_acc_drop": ("accuracy drop <=", " pp"),
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


def entries(results: dict) -> list[dict]:
    return [results["baseline"], *results["candidates"]]


def _nan(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def decision_section(results: dict, selection: dict, plots: dict[str, str]) -> Section:
    blocks: list = [
        f"**{selection['explanation']}**",
        f"Constraints: {constraint_text(selection['constraints'])}. Objective: {selection['objective']}.",
    ]
    rejected = [c for c in selection["candidates"] if not c["feasible"]]
    if rejected:
        blocks.append(
            Table(
                ["rejected", "binding constraint", "every violation"],
                [[c["name"], c.get("binding") or "-", "; ".join(c["reasons"])] for c in rejected],
                align="lll",
            )
        )
    if selection.get("pareto_front"):
        blocks.append(
            "Pareto front (target latency, accuracy, ECE, mPC): "
            + ", ".join(selection["pareto_front"])
            + "."
        )
    if "latency_accuracy" in plots:
        blocks.append(
            Figure(
                plots["latency_accuracy"],
                "Accuracy against batch-1 latency on the target; the Pareto front is connected, the budget dashed.",
            )
        )
    rows = summary_rows(results, selection)
    blocks += [
        Table(list(rows[0]), [list(r.values()) for r in rows]),
        "`*` marks the chosen candidate.",
    ]
    return Section("Decision", blocks)


def calibration_section(results: dict, plots: dict[str, str]) -> Section:
    n_bins = results["baseline"]["calibration"]["settings"]["n_bins"]
    rows = []
    for e in entries(results):
        c, rel = e["calibration"], e["vs_baseline"]["ece_change_relative_percent"]
        change = (
            "-" if rel is None else f"{e['vs_baseline']['ece_increase']:+.4f} ({-rel + 0.0:+.0f} %)"
        )
        rows.append([e["name"], f"{c['ece']:.4f}", f"{c['mce']:.4f}", f"{c['rmsce']:.4f}", f"{c['adaptive_ece']:.4f}",
                     f"{c['classwise_ece']:.4f}", f"{c['nll']:.4f}", f"{c['brier']:.4f}", change])  # fmt: skip
    blocks: list = [
        f"Softmax in float64 from the artifact's logits; {n_bins} equal-width bins (torchmetrics edges) unless noted.",
        Table(
            [
                "entry",
                "ECE",
                "MCE",
                "RMSCE",
                "adaptive ECE",
                "classwise ECE",
                "NLL",
                "Brier",
                "ECE change vs baseline",
            ],
            rows,
        ),
    ]
    for key, caption in (("accuracy_ece", "Accuracy and ECE against the pruning ratio, per method."),
                         ("reliability", "Reliability diagrams of the baseline and the chosen candidate.")):  # fmt: skip
        if key in plots:
            blocks.append(Figure(plots[key], caption))
    return Section("Calibration of the deployed artifact", blocks)


def corruption_section(results: dict, plots: dict[str, str]) -> Section | None:
    with_corruption = [
        e for e in entries(results) if (e.get("corruption") or {}).get("mPC") is not None
    ]
    if not with_corruption:
        return None
    info = with_corruption[0]["corruption"]
    missing = f"; missing corruptions: {', '.join(info['missing'])}" if info.get("missing") else ""
    rows = []
    for e in with_corruption:
        c, held = e["corruption"], e["corruption"].get("held_out", {})
        rows.append([e["name"], f"{100 * e['accuracy']:.2f}", f"{100 * c['mPC']:.2f}", f"{c['rPC']:.3f}",
                     _nan(c.get("mCE"), ".3f"), _nan(c.get("relative_mCE"), ".3f"),
                     f"{100 * c['mean_corruption_error']:.2f}",
                     f"{100 * sum(held.values()) / len(held):.1f}" if held else "-"])  # fmt: skip
    per_severity = [
        [e["name"]] + [f"{100 * e['corruption']['per_severity'][str(s)]['accuracy']:.1f} / "
                       f"{_nan(e['corruption']['per_severity'][str(s)].get('ece'), '.3f')}" for s in range(1, 6)]
        for e in with_corruption
    ]  # fmt: skip
    names = info["corruptions"]
    grid = [
        [name]
        + [f"{100 * e['corruption']['per_corruption_accuracy'][name]:.1f}" for e in with_corruption]
        for name in names
    ]
    heat = [
        [None] + [e["corruption"]["per_corruption_accuracy"][name] for e in with_corruption]
        for name in names
    ]
    blocks: list = [
        f"Corrupted test images: {info['source']}{missing}. mPC = mean accuracy over the 15 benchmark corruptions x 5 "
        "severities; rPC = mPC / clean accuracy; mCE uses the unpruned baseline as reference (baseline = 1.00); relative "
        "mCE subtracts each model's clean error first. Held-out corruptions (speckle noise, gaussian blur, spatter, "
        "saturate) never enter mPC or mCE.",
        Table(
            [
                "entry",
                "clean acc %",
                "mPC %",
                "rPC",
                "mCE",
                "relative mCE",
                "mean corruption error %",
                "held-out mean acc %",
            ],
            rows,
        ),
        "Accuracy % / ECE per severity, mean over the 15 benchmark corruptions (the view of Mitra et al. 2024):",
        Table(["entry"] + [f"severity {s}" for s in range(1, 6)], per_severity),
    ]
    if "severity" in plots:
        blocks.append(
            Figure(
                plots["severity"],
                "Accuracy and ECE per corruption severity against the pruning ratio.",
            )
        )
    blocks += ["Accuracy % per corruption (mean over severities):",
               Table(["corruption"] + [e["name"] for e in with_corruption], grid, heat=heat)]  # fmt: skip
    return Section("Corruption robustness of the deployed artifact", blocks)


def explanation_section(results: dict, selection: dict, plots: dict[str, str]) -> Section | None:
    explained = [e for e in entries(results) if e.get("explanation")]
    if not explained:
        return None
    first = explained[0]["explanation"]
    pe = first["settings"]["pe"]
    rows = []
    for e in explained:
        x, h, p = e["explanation"], e["explanation"]["hcc_stats"], e["explanation"]["pe_details"]
        where = "artifact" if x["path"].startswith("artifact") else "PyTorch model"
        rows.append([e["name"], f"{x['hcc']:.4f}", f"{h['median']:.4f}", f"{h['p05']:.4f}", str(h["n_undefined"]),
                     f"{x['pe']:.4f}", f"{p['mean_ssim']:.4f}", f"{p['mean_iou']:.4f}",
                     f"{p['mean_confidence_change']:.4f}", str(x["n_images"]), where])  # fmt: skip
    blocks: list = [
        "HCC: Pearson correlation of Grad-CAM maps with the unpruned model's, per image, mean over images with "
        "non-constant maps (Mantowsky et al. 2023). PE-score: ((SSIM + IoU) / 2) x (1 - |confidence change|) on "
        "Grad-CAM++ maps, per class then class-weighted (Pachon et al. 2023; per-image form provisional; "
        f"SSIM {pe['ssim_window']} window {pe['win_size']}, IoU threshold {pe['iou_threshold']}). Both models explain "
        f"the {first['settings']['target']} class, at the feature map feeding global average pooling.",
        Table(
            [
                "entry",
                "HCC",
                "HCC median",
                "HCC p05",
                "undefined maps",
                "PE-score",
                "mean SSIM",
                "mean IoU",
                "mean confidence change",
                "images",
                "computed on",
            ],
            rows,
            align="l" + "r" * 9 + "l",
        ),  # fmt: skip
    ]
    if "explanation" in plots:
        blocks.append(Figure(plots["explanation"], "HCC and PE-score against the pruning ratio."))
    overlays = selection.get("overlays") or plots.get("overlays")
    if overlays:
        blocks.append(
            Figure(
                overlays,
                "Grad-CAM++ maps of the unpruned model's predicted class: input, unpruned, each candidate.",
            )
        )
    return Section("Explanation consistency", blocks)


def size_section(results: dict) -> Section:
    rows = []
    for e in entries(results):
        s, d, f = e["size"], e["vs_baseline"], e["fidelity"]
        filters = (e.get("pruning") or {}).get("filters")
        rows.append([e["name"], f"{e['ratio']:.2f}", f"{s['params']:,}", f"{100 * d['params_reduction']:.1f} %",
                     f"{s.get('nonzero_params', s['params']):,}", f"{s['macs']:,}", f"{100 * d['macs_reduction']:.1f} %",
                     f"{filters['after']}/{filters['before']}" if filters else "-",
                     f"{s['artifact_bytes'] / 1024:.1f}", f"{100 * f['top1_agreement']:.2f} %",
                     f"{f['max_abs_logit_diff']:.2e}"])  # fmt: skip
    notes = sorted(
        {
            e["pruning"]["note"]
            for e in results["candidates"]
            if (e.get("pruning") or {}).get("note")
        }
    )
    return Section(
        "Size, real reduction and fidelity",
        [
            "Nominal ratios count channels; structured pruning removes more parameters and MACs than that. Fidelity compares "
            "the artifact's logits with PyTorch's on the same inputs.",
            Table(
                [
                    "entry",
                    "nominal ratio",
                    "params",
                    "params reduction",
                    "nonzero params",
                    "MACs",
                    "MACs reduction",
                    "conv filters kept",
                    "artifact KB",
                    "top-1 agreement",
                    "max abs logit diff",
                ],
                rows,
            ),  # fmt: skip
            *notes,
        ],
    )


def latency_section(results: dict) -> Section:
    base = results["baseline"]
    batches = [k for k in base["latency"] if k.isdigit()]
    env = base["environment"]
    rows = []
    for e in entries(results):
        for b in batches:
            s = e["latency"][b]
            rows.append([e["name"], b, str(s["warmup"]), str(s["iterations"]), f"{s['p50_ms']:.3f}", f"{s['p90_ms']:.3f}",
                         f"{s['p95_ms']:.3f}", f"{s['p99_ms']:.3f}", f"{s['mean_ms']:.3f}", f"{s['throughput_ips']:.0f}",
                         f"{e['memory']['peak_rss_bytes'] / 2**20:.0f}"])  # fmt: skip
    where = base["latency"].get("where", "host")
    return Section(
        f"Latency and memory, measured ({where})",
        [
            f"{env.get('runtime', {}).get('runtime', '?')} {env.get('runtime', {}).get('version', '?')} on {env.get('cpu', '?')} "
            f"({env.get('logical_cpus', '?')} logical CPUs), in a runner process without torch.",
            Table(
                [
                    "entry",
                    "batch",
                    "warm-up",
                    "iterations",
                    "p50 ms",
                    "p90 ms",
                    "p95 ms",
                    "p99 ms",
                    "mean ms",
                    "img/s",
                    "peak RSS MB",
                ],
                rows,
            ),  # fmt: skip
        ],
    )


def estimate_section(results: dict) -> Section:
    target = results["target"]
    first = results["baseline"]["target_estimate"]
    a = first["latency"]["1"]["assumptions"]
    rows = []
    for e in entries(results):
        est = e["target_estimate"]
        big = [k for k in est["latency"] if k != "1"]
        one = est["latency"]["1"]
        rows.append([e["name"], f"{one['latency_ms']:.3f}",
                     f"{est['latency'][big[0]]['latency_ms']:.3f} (b{big[0]})" if big else "-",
                     f"{one['memory_bound_layers']}/{one['layers']}", f"{est['memory']['bytes'] / 2**20:.2f}"])  # fmt: skip
    return Section(
        f"{target['name']}: estimated, not measured",
        [
            f"{target['description']}. Per-layer roofline at {first['precision']}: peak {a['peak_flops'] / 1e12:.2f} "
            f"T(FL)OP/s x efficiency {a['compute_efficiency']}, bandwidth {a['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s x "
            f"{a['memory_efficiency']}, {a['layer_overhead_us']} us per layer + {a['fixed_overhead_us']} us per inference "
            f"(peaks from the {a['peaks_source']}; efficiencies are the profile's assumptions). Model memory excludes the "
            "runtime and CUDA context.",
            Table(
                [
                    "entry",
                    "est. latency b1 ms",
                    "est. latency per batch ms",
                    "memory-bound layers",
                    "est. model memory MB",
                ],
                rows,
            ),
        ],
    )


def provenance_section(results: dict) -> Section:
    config, prov = results["config"], results["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    env = results["baseline"]["environment"]
    jetson = env.get("jetson")
    device = (
        f"{jetson['module']}, power mode {jetson.get('power_mode', '?')}, GPU clock {jetson.get('gpu_clock_mhz')} MHz"
        if jetson else f"{env.get('hostname', '?')} ({env.get('cpu', '?')})"
    )  # fmt: skip
    return Section(
        "Provenance",
        [
            f"Created {prov['created']} on {prov['platform']}. Measured on: {device}.",
            f"Versions: {versions}.",
            f"Seed {config['seed']}; data {results['dataset']['source']}; target profile {results['target']['source']}.",
            f"Command: `{' '.join(prov['command'])}`",
            "Figures marked estimated come from the roofline model of the target profile; all others were measured on the "
            "deployed artifact.",
        ],
    )


def build_report(results: dict, selection: dict, plots: dict[str, str]) -> Report:
    config = results["config"]
    sections = [
        decision_section(results, selection, plots),
        calibration_section(results, plots),
        corruption_section(results, plots),
        explanation_section(results, selection, plots),
        size_section(results),
        latency_section(results),
        estimate_section(results),
        provenance_section(results),
    ]
    return Report(
        title=f"edgeprune report: {results['run_dir']}",
        intro=[
            f"Model `{config['model']}` on `{config['data']}`, method `{config['method']}`, "
            f"target `{results['target']['name']}`."
        ],  # fmt: skip
        sections=[s for s in sections if s is not None],
    )
