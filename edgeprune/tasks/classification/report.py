"""What the report, the summary table and results.csv show of image classification:
calibration, corruption robustness and explanation consistency of the deployed artifact."""

from __future__ import annotations

from edgeprune.document import Figure, Section, Table
from edgeprune.results import Decision, Entry, RunResults


def _fmt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


# ------------------------------------------------------------------ table cells


def summary_cells(entry: Entry) -> dict[str, str]:
    q = entry.quality
    cells = {
        "acc %": f"{100 * q.accuracy:.2f}",
        "d acc pp": f"{-entry.delta('accuracy_drop_points') + 0.0:+.2f}",  # + 0.0: no -0.00
        "ECE": f"{q.ece:.4f}",
        **({"ECE uncal.": f"{q.uncalibrated.ece:.4f}"} if q.uncalibrated else {}),
        "d ECE": f"{entry.delta('ece_increase'):+.4f}",
        "NLL": f"{q.calibration.nll:.3f}",
    }
    if q.mpc is not None:
        cells["mPC %"] = f"{100 * q.mpc:.1f}"
        cells["mCE"] = f"{q.corruption.mce if q.corruption.mce is not None else float('nan'):.2f}"
    cells["agree %"] = _fmt(
        100 * entry.fidelity["top1_agreement"] if entry.fidelity else None, ".1f"
    )
    return cells


def fidelity_cells(entry: Entry) -> dict[str, str]:
    f = entry.fidelity or {}
    return {
        "top-1 agreement": _fmt(100 * f["top1_agreement"] if f else None, ".2f")
        + (" %" if f else ""),
        "max abs logit diff": _fmt(f.get("max_abs_logit_diff"), ".2e"),
    }


CSV_COLUMNS = (
    "accuracy", "accuracy_drop_points", "ece", "ece_increase", "max_calibration_error", "rmsce", "adaptive_ece",
    "classwise_ece", "nll", "brier", "mpc", "rpc", "mce_corruption", "relative_mce", "hcc", "pe",
    "top1_agreement", "max_abs_logit_diff", "recalibration", "temperature", "ece_uncalibrated",
    "nll_uncalibrated", *(f"{figure}_ci95_{end}" for figure in ("accuracy", "accuracy_drop_points", "ece",
    "ece_increase", "mpc") for end in ("low", "high")),
)  # fmt: skip


def csv_cells(entry: Entry) -> dict[str, object]:
    q, cal = entry.quality, entry.quality.calibration
    corruption, explanation, f = q.corruption, entry.explanation or {}, entry.fidelity or {}

    def blank(value):
        return "" if value is None else value

    return {
        "accuracy": q.accuracy, "accuracy_drop_points": entry.delta("accuracy_drop_points"),
        "ece": cal.ece, "ece_increase": entry.delta("ece_increase"), "max_calibration_error": cal.mce,
        "rmsce": cal.rmsce, "adaptive_ece": cal.adaptive_ece, "classwise_ece": cal.classwise_ece,
        "nll": cal.nll, "brier": cal.brier,
        "mpc": blank(corruption.mpc if corruption else None),
        "rpc": blank(corruption.rpc if corruption else None),
        "mce_corruption": blank(corruption.mce if corruption else None),
        "relative_mce": blank(corruption.relative_mce if corruption else None),
        "hcc": blank(explanation.get("hcc")), "pe": blank(explanation.get("pe")),
        "top1_agreement": blank(f.get("top1_agreement")),
        "max_abs_logit_diff": blank(f.get("max_abs_logit_diff")),
        "recalibration": (entry.recalibration or {}).get("method", ""),
        "temperature": blank((entry.recalibration or {}).get("temperature")),
        "ece_uncalibrated": blank(q.uncalibrated.ece if q.uncalibrated else None),
        "nll_uncalibrated": blank(q.uncalibrated.calibration.nll if q.uncalibrated else None),
        **_interval_cells("accuracy", q.intervals.get("accuracy")),
        **_interval_cells("accuracy_drop_points", entry.delta("accuracy_drop_points_interval")),
        **_interval_cells("ece", q.intervals.get("ece")),
        **_interval_cells("ece_increase", entry.delta("ece_increase_interval")),
        **_interval_cells("mpc", q.intervals.get("mpc")),
    }  # fmt: skip


def _interval_cells(figure: str, interval: list | None) -> dict[str, object]:
    low, high = interval or ("", "")
    return {f"{figure}_ci95_low": low, f"{figure}_ci95_high": high}


# ------------------------------------------------------------------ report sections


def _interval(value: float | None, interval: list | None, scale: float, fmt: str) -> str:
    """``85.2 [84.5, 85.9]``: the figure and its 95 % interval (``-`` where not measured)."""
    if value is None:
        return "-"
    shown = format(scale * value + 0.0, fmt)
    if not interval or any(v is None or v != v for v in interval):
        return shown
    low, high = (format(scale * v + 0.0, fmt) for v in interval)
    return f"{shown} [{low}, {high}]"


def uncertainty_section(results: RunResults) -> Section | None:
    """Every headline figure with its 95 % interval, the changes with paired intervals."""
    if not results.baseline.quality.intervals:
        return None  # measured before figures carried intervals, outputs since deleted
    with_mpc = any(e.quality.mpc is not None for e in results.entries)
    rows = []
    for e in results.entries:
        q, intervals = e.quality, e.quality.intervals
        is_base = e is results.baseline
        drop = None if is_base else e.delta("accuracy_drop_points")
        drop_interval = e.delta("accuracy_drop_points_interval")
        row = [
            e.name,
            _interval(q.accuracy, intervals.get("accuracy"), 100, ".2f"),
            _interval(
                None if drop is None else -drop,
                drop_interval and [-drop_interval[1], -drop_interval[0]],
                1,
                "+.2f",
            ),
            _interval(q.ece, intervals.get("ece"), 1, ".4f"),
            _interval(
                None if is_base else e.delta("ece_increase"),
                e.delta("ece_increase_interval"),
                1,
                "+.4f",
            ),
        ]
        if with_mpc:
            mpc_drop = e.delta("mpc_drop_points_interval")
            base_mpc = results.baseline.quality.mpc
            change = (
                None if is_base or q.mpc is None or base_mpc is None else 100 * (q.mpc - base_mpc)
            )
            row += [
                _interval(q.mpc, intervals.get("mpc"), 100, ".1f"),
                _interval(change, mpc_drop and [-mpc_drop[1], -mpc_drop[0]], 1, "+.2f"),
            ]
        rows.append(row)
    headers = ["entry", "accuracy %", "change pp", "ECE", "ECE change"]
    if with_mpc:
        headers += ["mPC %", "mPC change pp"]
    base = results.baseline.quality
    text = (
        f"Each figure with its 95 % confidence interval in brackets. Accuracy: exact (Clopper-Pearson) "
        f"binomial over the {base.n} test images (one image is {100 / base.n:.2f} points). ECE, mPC and "
        f"every change against the baseline: percentile bootstrap, {base.intervals.get('resamples')} "
        "resamples of the test images; a change is paired (both models scored on the same resamples), "
        "so it is narrower than the two intervals side by side. A limit holds at 95 % only where the "
        "whole interval is on its side: `--limit-at bound` selects on that."
    )
    return Section("Uncertainty", [text, Table(headers, rows)])


def calibration_section(results: RunResults, plots: dict[str, str]) -> Section:
    n_bins = results.baseline.quality.calibration.settings["n_bins"]
    rows = []
    for e in results.entries:
        c, rel = e.quality.calibration, e.delta("ece_relative_change_percent")
        change = "-" if rel is None else f"{e.delta('ece_increase'):+.4f} ({rel + 0.0:+.0f} %)"
        rows.append([e.name, f"{c.ece:.4f}", f"{c.mce:.4f}", f"{c.rmsce:.4f}", f"{c.adaptive_ece:.4f}",
                     f"{c.classwise_ece:.4f}", f"{c.nll:.4f}", f"{c.brier:.4f}", change])  # fmt: skip
    headers = ["entry", "ECE", "MCE", "RMSCE", "adaptive ECE", "classwise ECE", "NLL", "Brier",
               "ECE change vs baseline"]  # fmt: skip
    blocks: list = [
        f"Softmax in float64 from the artifact's logits; {n_bins} equal-width bins (torchmetrics edges) unless noted.",
        Table(headers, rows),
    ]
    for key, caption in (("accuracy_ece", "Accuracy and ECE against the pruning ratio, per method."),
                         ("reliability", "Reliability diagrams of every entry on the clean test split: accuracy (blue) "
                          "and mean confidence (red) per bin, the confidence histogram below (images per bin "
                          "written above each bar)."),
                         ("reliability_severity", "Reliability diagrams per corruption severity (the 15 benchmark "
                          "corruptions' images pooled), every entry a row, the confidence histogram below each.")):  # fmt: skip
        if key in plots:
            blocks.append(Figure(plots[key], caption))
    return Section("Calibration of the deployed artifact", blocks)


def recalibration_section(results: RunResults, decision: Decision, plots) -> Section | None:
    """What the post-hoc scaling did, entry by entry, in distribution and under shift."""
    scaled = [e for e in results.entries if e.recalibration]
    if not scaled:
        return None
    first = scaled[0].recalibration
    ece_of = decision.settings.get("ece_of", "shipped")
    rows = []
    for e in scaled:
        fit, q, u = e.recalibration, e.quality, e.quality.uncalibrated
        scale = f"T = {fit['temperature']:.3f}" if fit.get("temperature") else "vector"
        rows.append([e.name, scale, f"{fit['nll_before']:.4f} -> {fit['nll_after']:.4f}",
                     f"{u.ece:.4f} -> {q.ece:.4f}", f"{u.calibration.mce:.4f} -> {q.calibration.mce:.4f}",
                     f"{u.calibration.nll:.4f} -> {q.calibration.nll:.4f}",
                     f"{u.calibration.brier:.4f} -> {q.calibration.brier:.4f}",
                     f"{100 * u.accuracy:.2f} -> {100 * q.accuracy:.2f}"])  # fmt: skip
    headers = ["entry", "scaling", "validation NLL", "ECE", "MCE", "NLL", "Brier", "accuracy %"]
    blocks: list = [
        f"Post-hoc {first['method']} scaling, fitted for each entry on its own artifact's logits "
        f"on the {first['n']} validation images (never the test split) by minimising NLL, and built "
        "into the deployed graph: every figure of this report is the shipped, recalibrated "
        "artifact's unless it says uncalibrated. The ECE limit of the selection read the "
        f"**{ece_of}** artifact's ECE. Explanation metrics come from the feature maps, which the "
        "scaling leaves unchanged.",
        Table(headers, rows, align="ll" + "r" * 6),
    ]
    if all(e.quality.corruption for e in scaled):
        sev = []
        for e in scaled:
            before = e.quality.uncalibrated.corruption.ece_by_severity()
            after = e.quality.corruption.ece_by_severity()
            sev.append([e.name, f"{e.quality.uncalibrated.ece:.3f} -> {e.quality.ece:.3f}"]
                       + [f"{_fmt(b, '.3f')} -> {_fmt(a, '.3f')}" for b, a in zip(before, after)])  # fmt: skip
        blocks += [
            "ECE uncalibrated -> recalibrated, clean and per corruption severity (mean over the 15 "
            "benchmark corruptions): a scaling fitted in distribution helps less under shift.",
            Table(["entry", "clean"] + [f"severity {s}" for s in range(1, 6)], sev),
        ]
    if "recalibration" in plots:
        blocks.append(
            Figure(
                plots["recalibration"],
                "ECE against corruption severity, uncalibrated (dashed) and recalibrated.",
            )
        )
    return Section("Recalibration", blocks)


def corruption_section(results: RunResults, plots: dict[str, str]) -> Section | None:
    with_corruption = [e for e in results.entries if e.quality.mpc is not None]
    if not with_corruption:
        return None
    info = with_corruption[0].quality.corruption.details
    missing = f"; missing corruptions: {', '.join(info['missing'])}" if info.get("missing") else ""
    rows = []
    for e in with_corruption:
        c = e.quality.corruption
        held = c.held_out
        rows.append([e.name, f"{100 * e.quality.accuracy:.2f}", f"{100 * c.mpc:.2f}", f"{c.rpc:.3f}",
                     _fmt(c.mce, ".3f"), _fmt(c.relative_mce, ".3f"),
                     f"{100 * c.details['mean_corruption_error']:.2f}",
                     f"{100 * sum(held.values()) / len(held):.1f}" if held else "-"])  # fmt: skip
    per_severity = [
        [e.name] + [f"{100 * e.quality.corruption.per_severity[str(s)]['accuracy']:.1f} / "
                    f"{_fmt(e.quality.corruption.per_severity[str(s)].get('ece'), '.3f')}" for s in range(1, 6)]
        for e in with_corruption
    ]  # fmt: skip
    names = with_corruption[0].quality.corruption.corruptions
    # the held-out four too, marked: a reviewer sees every corruption that was measured
    held_out = [n for n in with_corruption[0].quality.corruption.held_out if n not in names]

    def accuracy(e, name):
        c = e.quality.corruption
        return c.per_corruption_accuracy[name] if name in names else c.held_out.get(name)

    grid = [
        [name + (" (held out)" if name in held_out else "")]
        + [_fmt(None if accuracy(e, name) is None else 100 * accuracy(e, name), ".1f") for e in with_corruption]
        for name in [*names, *held_out]
    ]  # fmt: skip
    heat = [[None] + [accuracy(e, name) for e in with_corruption] for name in [*names, *held_out]]
    headers = ["entry", "clean acc %", "mPC %", "rPC", "mCE", "relative mCE",
               "mean corruption error %", "held-out mean acc %"]  # fmt: skip
    blocks: list = [
        f"Corrupted test images: {info['source']}{missing}. mPC = mean accuracy over the 15 benchmark corruptions x 5 "
        "severities; rPC = mPC / clean accuracy; mCE uses the unpruned baseline as reference (baseline = 1.00); relative "
        "mCE subtracts each model's clean error first. Held-out corruptions (speckle noise, gaussian blur, spatter, "
        "saturate) never enter mPC or mCE.",
        Table(headers, rows),
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
               Table(["corruption"] + [e.name for e in with_corruption], grid, heat=heat)]  # fmt: skip
    return Section("Corruption robustness of the deployed artifact", blocks)


def explanation_section(results: RunResults, plots: dict[str, str]) -> Section | None:
    explained = [e for e in results.entries if e.explanation]
    if not explained:
        return None
    settings = explained[0].explanation["settings"]
    pe = settings["pe"]
    hcc_method = settings.get("hcc_method", "gradcam")
    pe_method = settings.get("pe_method", "gradcam++")
    rows = []
    for e in explained:
        x, h, p = e.explanation, e.explanation["hcc_stats"], e.explanation["pe_details"]
        where = "artifact" if x["path"].startswith("artifact") else "PyTorch model"
        rows.append([e.name, _defined(x["hcc"]), _defined(h["median"]), _defined(h["p05"]),
                     str(h["n_undefined"]), _defined(x["pe"]), str(p.get("n_undefined", "-")),
                     _defined(p.get("mean_ssim")), _defined(p.get("mean_iou")),
                     _defined(p.get("mean_confidence_change")), str(x["n_images"]), where])  # fmt: skip
    headers = ["entry", "HCC", "HCC median", "HCC p05", "HCC undefined maps", "PE-score",
               "PE constant maps", "mean SSIM", "mean IoU", "mean confidence change", "images",
               "computed on"]  # fmt: skip
    blocks: list = [
        f"HCC: Pearson correlation of {_cam_name(hcc_method)} maps with the unpruned model's, per image, mean over "
        "images with non-constant maps (Mantowsky et al. 2023). PE-score: ((SSIM + IoU) / 2) x (1 - |confidence "
        f"change|) on {_cam_name(pe_method)} maps, per class then class-weighted (Pachon et al. 2023; per-image form "
        f"provisional; SSIM {pe['ssim_window']} window {pe['win_size']}, IoU threshold {pe['iou_threshold']}). Both "
        f"models explain the {settings['target']} class, at the feature map feeding global average pooling.",
        Table(headers, rows, align="l" + "r" * 10 + "l"),
    ]
    undefined = [f"{e.name}: {'; '.join(e.explanation['undefined'])}" for e in explained
                 if e.explanation.get("undefined")]  # fmt: skip
    if undefined:
        blocks.append(
            "**Undefined, not computed from maps that carry no information:** "
            + ". ".join(undefined)
            + ". Explanations at this input size say nothing about where the model looks."
        )
    if "explanation" in plots:
        blocks.append(Figure(plots["explanation"], "HCC and PE-score against the pruning ratio."))
    if "overlays" in plots:
        blocks.append(
            Figure(
                plots["overlays"],
                f"{_cam_name(pe_method)} maps of the unpruned model's predicted class: input, unpruned, each candidate.",
            )
        )
    return Section("Explanation consistency", blocks)


def _defined(value) -> str:
    """A figure, or "undefined" where it could not be computed (None, NaN)."""
    if value is None or value != value:
        return "undefined"
    return f"{value:.4f}"


def _cam_name(method: str) -> str:
    from edgeprune.explain.methods import CAM_METHODS

    return CAM_METHODS.get(method).display if method in CAM_METHODS else method


def report_sections(results: RunResults, decision: Decision, plots: dict[str, str]) -> list:
    sections = [
        uncertainty_section(results),
        calibration_section(results, plots),
        recalibration_section(results, decision, plots),
        corruption_section(results, plots),
        explanation_section(results, plots),
    ]
    return [s for s in sections if s is not None]
