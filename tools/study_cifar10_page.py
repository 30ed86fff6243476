"""The CIFAR-10 study page: figures and tables from the study's run directories.

Called by ``tools/study_cifar10.py`` (``--only analyse`` writes the page again from finished
runs). Every figure comes from the runs' ``results.json`` (the ONNX artifacts' outputs);
the PE-scores with other CAM methods are recomputed from the feature maps and linear heads
each entry stored, with edgeprune's own explanation code. The paper figures quoted are those
the studies report, as the project's issue states them.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

import numpy as np

MITRA = ("unstructured-global", "l1-filter", "bn-slimming")
MATCHED_DROP = 2.0  # points of accuracy a candidate may lose and still count as "kept"
TIE_ECE = 0.002  # ECE differences below this are not a ranking (a few images of 10,000)
LABEL = {
    "unstructured-global": "unstructured (global magnitude)",
    "l1-filter": "structured L1 filter",
    "bn-slimming": "network slimming (BN scale)",
    "hrank": "HRank",
}
COLOUR = {
    "unstructured-global": "tab:blue",
    "l1-filter": "tab:orange",
    "bn-slimming": "tab:green",
    "hrank": "tab:red",
}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _points(results: dict) -> list[dict]:
    """Baseline (ratio 0) and every FP32 candidate as flat records."""
    rows = []
    for entry in [results["baseline"], *results["candidates"]]:
        if entry.get("variant_of"):
            continue
        quality, corruption = entry["quality"], entry["quality"].get("corruption") or {}
        explanation = entry.get("explanation") or {}
        rows.append({
            "name": entry["name"],
            "method": entry["method"],
            "ratio": float(entry["ratio"] or 0.0),
            "accuracy": quality["accuracy"],
            "ece": quality["calibration"]["ece"],
            "mpc": corruption.get("mPC"),
            "per_severity": corruption.get("per_severity") or {},
            "hcc": explanation.get("hcc"),
            "pe": explanation.get("pe"),
            "macs": entry["size"]["macs"],
            "nonzero": entry["size"].get("nonzero_params"),
            "drop": (entry.get("vs_baseline") or {}).get("accuracy_drop_points", 0.0),
            "ece_change": (entry.get("vs_baseline") or {}).get("ece_increase", 0.0),
        })  # fmt: skip
    return sorted(rows, key=lambda r: r["ratio"])


def _series(runs: Path, parts, model: str) -> dict[str, list[dict]]:
    """method -> its points (the shared baseline first) for one network."""
    out = {}
    for part in parts:
        results = _read(runs / part.name / "results.json")
        if part.model == model and results is not None:
            out[part.method] = _points(results)
    return out


def _figure_mitra(series: dict, model: str, docs: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for method, points in series.items():
        if method not in MITRA:
            continue
        ratios = [p["ratio"] for p in points]
        axes[0].plot(
            ratios,
            [100 * p["accuracy"] for p in points],
            "o-",
            color=COLOUR[method],
            label=LABEL[method],
        )
        axes[1].plot(
            ratios, [p["ece"] for p in points], "o-", color=COLOUR[method], label=LABEL[method]
        )
    axes[0].set(xlabel="pruning ratio", ylabel="top-1 accuracy (%)", title=f"{model}: accuracy")
    axes[1].set(xlabel="pruning ratio", ylabel="ECE (15 bins)", title=f"{model}: calibration")
    axes[0].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    name = f"{model}-mitra-fig1-accuracy-ece.png"
    fig.tight_layout()
    fig.savefig(docs / name, dpi=110)
    plt.close(fig)
    names.append(name)

    for key, label, stem in (
        ("accuracy", "accuracy under corruption (%)", "fig2-mpc"),
        ("ece", "ECE under corruption", "fig3-ece"),
    ):
        methods = [m for m in MITRA if m in series]
        fig, axes = plt.subplots(
            1, len(methods), figsize=(4 * len(methods), 3.4), sharey=True, squeeze=False
        )
        for ax, method in zip(axes[0], methods):
            points = series[method]
            ratios = [p["ratio"] for p in points]
            for severity in "12345":
                values = [
                    (100 if key == "accuracy" else 1) * p["per_severity"][severity][key]
                    for p in points
                ]
                ax.plot(ratios, values, "o-", label=f"severity {severity}", alpha=0.85)
            ax.set(xlabel="pruning ratio", title=LABEL[method])
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(label)
        axes[0][-1].legend(fontsize=7)
        fig.suptitle(
            f"{model}: {label} per severity (15 CIFAR-10-C corruptions, 1,000 images each)",
            fontsize=10,
        )
        fig.tight_layout()
        name = f"{model}-mitra-{stem}-per-severity.png"
        fig.savefig(docs / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def _pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return (
        float(np.corrcoef(x, y)[0, 1])
        if len(x) > 2 and x.std() > 0 and y.std() > 0
        else float("nan")
    )


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if len(x) > 2 else float("nan")


def _pe_by_method(runs: Path, part_name: str) -> dict[str, dict[str, float]]:
    """PE-score of every candidate with Grad-CAM++ and with Grad-CAM over the images the run
    explained. The baseline kept both methods' maps of all of them (its reference); a
    candidate keeps only a few for the overlays, so its maps are made again here from its
    model (PyTorch Grad-CAM / Grad-CAM++, equal to the artifact's closed form to 1e-6)."""
    import torch

    from edgeprune.explain.consistency import (
        ExplanationSettings,
        consistency,
        entry_maps,
        load_maps,
    )
    from edgeprune.inference import Normalizer, predict_logits
    from edgeprune.models import load_model
    from edgeprune.targets.bundle import CLEAN, EvalBundle

    torch.set_num_threads(os.cpu_count() or 1)
    run = runs / part_name
    results = _read(run / "results.json")
    reference = load_maps(run / "baseline" / "explanations.npz")
    n = len(reference["targets"])
    bundle = EvalBundle(run / "bundle")
    images, labels = np.asarray(bundle.images(CLEAN))[:n], np.asarray(bundle.labels(CLEAN))[:n]
    normalize = Normalizer(bundle.meta["mean"], bundle.meta["std"])
    made = ExplanationSettings(images=n, hcc_method="gradcam", pe_method="gradcam++")
    table: dict[str, dict[str, float]] = {}
    for candidate in results["candidates"]:
        if candidate.get("variant_of"):
            continue
        model = load_model(run / candidate["name"] / "model.pt")[0]
        outputs = {"logits/clean": predict_logits(model, images, normalize)}
        data = entry_maps(
            run / "no-closed-form", outputs, labels, images, model, normalize, made, reference
        )
        for method in ("gradcam++", "gradcam"):
            settings = ExplanationSettings(images=n, hcc_method="gradcam", pe_method=method)
            table.setdefault(candidate["name"], {})[method] = consistency(
                reference, data, settings
            )["pe"]
        stored = (candidate.get("explanation") or {}).get("pe")
        if stored is not None and abs(stored - table[candidate["name"]]["gradcam++"]) > 1e-3:
            raise SystemExit(
                f"{part_name}/{candidate['name']}: Grad-CAM++ PE {table[candidate['name']]['gradcam++']:.4f} "
                f"made here, {stored:.4f} in its results: the maps do not match"
            )
    return table


def _network_points(runs: Path, parts, model: str) -> list[dict]:
    """Every candidate (not the baseline) of every run of one network."""
    points = []
    for part in parts:
        results = _read(runs / part.name / "results.json")
        if part.model == model and results is not None:
            points += [p for p in _points(results) if p["ratio"] > 0]
    return points


def _figure_pachon(series: dict, pe_methods: dict, model: str, docs: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    points = [p for p in series["l1-filter"] if p["ratio"] > 0]
    ratios = [p["ratio"] for p in points]
    for method, style in (("gradcam++", "o-"), ("gradcam", "s--")):
        values = [pe_methods.get(p["name"], {}).get(method) for p in points]
        if all(v is not None for v in values):
            ax.plot(ratios, values, style, label=method)
    ax.axhline(0.87, color="grey", lw=0.8, ls="--")
    ax.set(
        xlabel="uniform pruning ratio (L1 filter)",
        ylabel="PE-score",
        title=f"{model}: PE-score against ratio",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = f"{model}-pachon-pe-ratio.png"
    fig.savefig(docs / name, dpi=110)
    plt.close(fig)
    return name


def _figure_hcc(all_points: list[dict], model: str, docs: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method in dict.fromkeys(p["method"] for p in all_points):
        pts = [p for p in all_points if p["method"] == method]
        ax.scatter(
            [100 * p["accuracy"] for p in pts],
            [p["hcc"] for p in pts],
            color=COLOUR.get(method, "k"),
            label=LABEL.get(method, method),
        )
    ax.set(
        xlabel="top-1 accuracy (%)",
        ylabel="HCC (Grad-CAM)",
        title=f"{model}: HCC against accuracy, every candidate",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = f"{model}-mantowsky-hcc-accuracy.png"
    fig.savefig(docs / name, dpi=110)
    plt.close(fig)
    return name


def _fmt(value, digits=4, percent=False) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    return f"{100 * value:.2f}" if percent else f"{value:.{digits}f}"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_page(
    runs: Path, docs: Path, parts, common: list[str], adaptation: list[str], machine: str
) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    timings = _read(runs / "timings.json") or {}
    lines = [
        "# CIFAR-10: the three pruning studies on the deployed artifact",
        "",
        f"Written by `tools/study_cifar10.py` on {datetime.date.today().isoformat()} from the runs it made "
        f"(edgeprune commit `{_commit()}`), on {machine}. Every figure is measured on the ONNX artifact of each "
        "entry, run by ONNX Runtime in edgeprune's torch-free runner; nothing is estimated here.",
        "",
    ]
    lines += _setup_section(runs, parts, common, adaptation, timings)
    for model in dict.fromkeys(p.model for p in parts):
        series = _series(runs, parts, model)
        if not series:
            continue
        lines += _mitra_section(series, model, docs)
    lines += _mantowsky_section(runs, parts, docs)
    lines += _pachon_section(runs, parts, docs)
    (docs / "cifar10.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {docs / 'cifar10.md'}")


def _setup_section(runs: Path, parts, common, adaptation, timings) -> list[str]:
    lines = ["## Setup", ""]
    lines += [
        "- Data: the 60,000 CIFAR-10 images as JPEG copies (`../shared/data`, 50,000 train, 10,000 test); "
        "edgeprune holds 5,000 training images out for validation. The corruptions are edgeprune's CIFAR-10-C "
        "generator (19 corruptions x 5 severities, 1,000 test images each; mPC over the 15 benchmark ones).",
        "- The 1,000 corrupted images and the 1,000 explained ones keep each class's share of the test "
        "split (100 per class). The JPEG copies store the test split class by class, and the first "
        "version of this study took the first 1,000 test images, all airplanes: it showed as a "
        "ResNet-56 pruned 90 % with 20.7 % clean accuracy scoring 78 % under corruption. Every "
        "entry was then measured again on class-balanced images (the last session of each run "
        "below); the pruned and fine-tuned models were kept, as they do not depend on the test images.",
        "- Checkpoints: akamaster/pytorch_resnet_cifar10's ResNet-20 and ResNet-56 as downloaded "
        "(`--model resnetN --weights resnetN-*.th --normalize imagenet`).",
        "- The same recipe for every run and ratio (in each `run.toml`): "
        + f"`{' '.join(common)}`; "
        "the first run of each network adapts the checkpoint first: "
        + f"`{' '.join(adaptation)}`.",
        "",
        "Why adapt: the checkpoints were trained on the lossless images; on the JPEG copies they are about 10 "
        "points worse and over-confident, a distribution shift that would dominate every trend. A short "
        "fine-tune on the JPEG training images removes it, and the adapted model is the unpruned model "
        "every run of the network starts from. The downloaded checkpoints as they are:",
        "",
        "| checkpoint | PyTorch top-1 % | PyTorch ECE | ONNX top-1 % | ONNX ECE | ONNX mPC % | top-1 agreement % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model in ("resnet20", "resnet56"):
        record = _read(runs / f"downloaded-{model}" / "downloaded.json")
        if record:
            lines.append(
                f"| {record['checkpoint']} | {_fmt(record['pytorch']['accuracy'], percent=True)} | "
                f"{_fmt(record['pytorch']['ece'])} | {_fmt(record['onnx']['accuracy'], percent=True)} | "
                f"{_fmt(record['onnx']['ece'])} | {_fmt(record['onnx']['mPC'], percent=True)} | "
                f"{_fmt(record['top1_agreement'], percent=True)} |"
            )
    lines += ["", "The adapted baselines (the unpruned entry of each run, ONNX artifact):", ""]
    lines += ["| network | top-1 % | ECE | mPC % | adaptation |", "|---|---:|---:|---:|---|"]
    for part in parts:
        if not part.adapts:
            continue
        results = _read(runs / part.name / "results.json")
        if results:
            base = _points(results)[0]
            lines.append(
                f"| {part.model} | {_fmt(base['accuracy'], percent=True)} | {_fmt(base['ece'])} | {_fmt(base['mpc'], percent=True)} | {' '.join(adaptation)} |"
            )
    lines += [
        "",
        "Runs, their commands and wall times: one figure per session of the step (a step run "
        "again adds a session; it recomputes only what is missing, so a session after the first "
        "resumed an interrupted run or re-evaluated entries whose measurements had been deleted):",
        "",
        "| run | wall time per session | command |",
        "|---|---:|---|",
    ]
    total = first_sessions = 0.0
    for step, seconds in timings.items():
        total += sum(seconds)
        first_sessions += seconds[0]
        # a PE selection is logged with the run it selects in
        part, _, selection = step.partition("-pe-selection")
        log, prefix = runs / f"{part}.log", "$ edgeprune select" if step != part else "$ "
        command = ""
        if log.is_file():
            first = next(
                (line for line in log.read_text().splitlines() if line.startswith(prefix)), ""
            )
            command = first[2:].replace(str(runs.parent), "…")
        sessions = " + ".join(f"{t / 60:.1f}" for t in seconds)
        lines.append(f"| {step} | {sessions} min | `{command}` |")
    lines += [
        "",
        f"Total: {total / 3600:.2f} h of wall time on this machine over all sessions; "
        f"the first session of every step: {first_sessions / 3600:.2f} h.",
        "",
    ]
    return lines


def _mitra_section(series: dict, model: str, docs: Path) -> list[str]:
    figures = _figure_mitra(series, model, docs)
    lines = [f"## Mitra et al. 2024 on {model}", ""]
    lines += [f"![{name}]({name})" for name in figures] + [""]
    lines += [
        "| method | ratio | top-1 % | Δ pp | ECE | Δ ECE | mPC % | MACs | non-zero params |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, points in series.items():
        if method not in MITRA:
            continue
        for p in points:
            lines.append(
                f"| {LABEL[method]} | {p['ratio']:.1f} | {_fmt(p['accuracy'], percent=True)} | {-p['drop'] + 0.0:+.2f} | "
                f"{_fmt(p['ece'])} | {p['ece_change']:+.4f} | {_fmt(p['mpc'], percent=True)} | {p['macs'] / 1e6:.1f} M | {p['nonzero'] / 1e3:.0f} k |"
            )
    lines.append("")
    # ECE also falls when a model loses so much accuracy that it stops being confident; the
    # claim is about gains a user can take, so the verdict compares candidates that keep
    # their accuracy (within MATCHED_DROP points), and the raw extremes are shown beside it
    best = {
        m: min(p["ece_change"] for p in pts if p["ratio"] > 0)
        for m, pts in series.items()
        if m in MITRA
    }
    matched = {
        m: min(
            (p["ece_change"] for p in pts if p["ratio"] > 0 and p["drop"] <= MATCHED_DROP),
            default=None,
        )
        for m, pts in series.items()
        if m in MITRA
    }
    compared = "unstructured-global" in best and len(best) > 1
    if best and not compared:
        lines += [
            "**Claim: unstructured pruning gives the strongest calibration gains.** Not judged on "
            f"{model}: it compares unstructured with structured pruning, and only "
            + ", ".join(LABEL[m] for m in best)
            + " ran on this network.",
            "",
        ]
    if compared:
        usable = {m: v for m, v in matched.items() if v is not None}
        strongest = min(usable, key=usable.get) if usable else None
        agrees = strongest == "unstructured-global" and usable[strongest] < 0
        # a lead smaller than ECE's spread between reruns is a tie, not an agreement
        ranked = sorted(usable.values())
        tie = len(ranked) > 1 and ranked[1] - ranked[0] < TIE_ECE
        lines += [
            "**Claim: unstructured pruning gives the strongest calibration gains.** Largest ECE decrease "
            f"among candidates within {MATCHED_DROP:g} points of the baseline's accuracy: "
            + ", ".join(
                f"{LABEL[m]} {v:+.4f}"
                if v is not None
                else f"{LABEL[m]} none within {MATCHED_DROP:g} points"
                for m, v in matched.items()
            )
            + ". "
            + (
                f"A tie: a lead under {TIE_ECE:g} is too small to rank them."
                if tie
                else "Agrees."
                if agrees
                else f"Does not agree here: {LABEL[strongest]} gains most."
                if strongest
                else "Not testable: no candidate keeps its accuracy."
            )
            + " Over all ratios, whatever the accuracy: "
            + ", ".join(f"{LABEL[m]} {v:+.4f}" for m, v in best.items())
            + " (structured candidates that lose tens of points also lose their over-confidence).",
            "",
        ]
    moderate = {
        m: max(p["ece_change"] for p in pts if 0 < p["ratio"] <= 0.5)
        for m, pts in series.items()
        if m in ("l1-filter", "bn-slimming")
    }
    if moderate:
        kept = all(v <= 0.01 for v in moderate.values())
        lines += [
            "**Claim: structured pruning keeps calibration up to moderate ratios.** Largest ECE increase at "
            "ratios up to 0.5: "
            + ", ".join(f"{LABEL[m]} {v:+.4f}" for m, v in moderate.items())
            + f" ({'within' if kept else 'beyond'} 0.01 of the baseline, edgeprune's default limit). "
            + ("Agrees" if kept else "Does not agree at this fine-tune budget")
            + ", though with this short fine-tune the accuracy at 0.5 is "
            + ", ".join(
                f"{-p['drop']:+.1f} pp ({LABEL[m]})"
                for m, pts in series.items()
                if m in moderate
                for p in pts
                if p["ratio"] == 0.5
            )
            + ": calibration is kept where accuracy is not.",
            "",
        ]
    return lines


def _mantowsky_section(runs: Path, parts, docs: Path) -> list[str]:
    lines = ["## Mantowsky et al. 2023", ""]
    hrank = next((p for p in parts if p.method == "hrank"), None)
    results = _read(runs / hrank.name / "results.json") if hrank else None
    if results:
        points = _points(results)
        base = points[0]
        lines += [
            "They report ECE changing by -35 % (HRank at 50 %) and -77 % (at 70 %) on VGG16; edgeprune on "
            f"{hrank.model} (ECE change relative to the unpruned {base['ece']:.4f}):",
            "",
            "| HRank ratio | top-1 % | ECE | ECE change % | HCC | PE |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for p in points[1:]:
            relative = 100 * (p["ece"] - base["ece"]) / base["ece"]
            lines.append(
                f"| {p['ratio']:.1f} | {_fmt(p['accuracy'], percent=True)} | {_fmt(p['ece'])} | {relative:+.0f} | {_fmt(p['hcc'])} | {_fmt(p['pe'])} |"
            )
        at = {p["ratio"]: p for p in points}
        falls = all(at[r]["ece"] < base["ece"] for r in (0.5, 0.7) if r in at)
        lines += [
            "",
            f"Trend (ECE falls at 50 % and 70 %): {'agrees' if falls else 'does not agree'}.",
            "",
        ]
    model = hrank.model if hrank else "resnet20"
    every = []
    for part in parts:
        r = _read(runs / part.name / "results.json")
        if part.model == model and r:
            every += [p for p in _points(r) if p["ratio"] > 0 and p["hcc"] is not None]
    if len(every) > 2:
        figure = _figure_hcc(every, model, docs)
        acc, hcc = [p["accuracy"] for p in every], [p["hcc"] for p in every]
        r, rho = _pearson(acc, hcc), _spearman(acc, hcc)
        lines += [
            f"![{figure}]({figure})",
            "",
            f"HCC against accuracy over all {len(every)} candidates of {model} (every method and ratio): "
            f"Pearson r = {r:.3f}, Spearman ρ = {rho:.3f}. They find HCC correlated with accuracy: "
            + ("agrees." if r > 0.5 else "weak or no correlation here."),
            "",
        ]
    return lines


def _pachon_section(runs: Path, parts, docs: Path) -> list[str]:
    lines = ["## Pachon et al. 2023", ""]
    for part in parts:
        if part.method != "l1-filter":
            continue
        results = _read(runs / part.name / "results.json")
        if results is None:
            continue
        series = {"l1-filter": _points(results)}
        pe_methods = _pe_by_method(runs, part.name)
        figure = _figure_pachon(series, pe_methods, part.model, docs)
        points = [p for p in series["l1-filter"] if p["ratio"] > 0]
        lines += [f"### {part.model}, uniform L1 filter pruning", "", f"![{figure}]({figure})", ""]
        lines += [
            "| ratio | top-1 Δ pp | PE Grad-CAM++ | PE Grad-CAM |",
            "|---:|---:|---:|---:|",
        ]
        for p in points:
            m = pe_methods.get(p["name"], {})
            lines.append(
                f"| {p['ratio']:.1f} | {-p['drop']:+.2f} | {_fmt(m.get('gradcam++'))} | {_fmt(m.get('gradcam'))} |"
            )
        pe = [pe_methods.get(p["name"], {}).get("gradcam++") for p in points]
        rho = _spearman([p["ratio"] for p in points], pe)
        mean = {
            method: float(np.mean([pe_methods[p["name"]][method] for p in points]))
            for method in ("gradcam++", "gradcam")
        }
        # the rule is about any candidate that keeps its accuracy: every method of the network
        rule = [p for p in _network_points(runs, parts, part.model) if p["drop"] < 1.0]
        holds = all(p["pe"] > 0.87 for p in rule)
        selection = _read(runs / f"{part.name}-pe-selection" / "selection.json") or {}
        chosen = selection.get("chosen") or "the unpruned baseline"
        why = selection.get("explanation") or ""
        lines += [
            "",
            f"- PE-score falls as the uniform rate grows: Spearman ρ(ratio, PE) = {rho:.3f}: "
            + ("agrees." if rho < -0.5 else "does not agree."),
            f"- Highest with Grad-CAM++, lowest with Grad-CAM: mean PE Grad-CAM++ {mean['gradcam++']:.3f}, "
            f"Grad-CAM {mean['gradcam']:.3f}: "
            + ("agrees" if mean["gradcam++"] >= mean["gradcam"] else "does not agree")
            + ". (For a global-average-pooling + linear head, Grad-CAM's channel weights are the class "
            "weights over the map's area, so CAM gives Grad-CAM's normalised maps and the same PE.)",
            f'- Their rule "accuracy loss < 1 % implies PE > 0.87 with Grad-CAM++", over every candidate '
            f"of {part.model} (all methods): {len(rule)} lose < 1 point; "
            + (
                "none does at this fine-tune budget, so the rule is not tested here."
                if not rule
                else "the rule holds for all of them."
                if holds
                else "the rule fails for some: "
                + ", ".join(f"{p['name']} (PE {p['pe']:.3f})" for p in rule if p["pe"] <= 0.87)
                + "."
            ),
            f'- PE-guided rate choice (`edgeprune select --by pe`): {chosen}; its reason: "{why}".',
            "",
        ]
    return lines
