"""The plots a reader expects, as PNG files under ``<run>/plots/``.

Accuracy and ECE against the ratio per method; accuracy and ECE per corruption severity
against the ratio (the figures of Mitra et al. 2024); reliability diagrams of the baseline
and the chosen candidate; accuracy against latency on the target with the budget and the
Pareto front; HCC and PE-score against the ratio. Axis labels say which figures are
estimated.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from edgeprune.files import atomic_path
from edgeprune.select import target_latency

PLOT_DIR = "plots"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, run_dir: Path, name: str) -> str:
    relative = f"{PLOT_DIR}/{name}.png"
    with atomic_path(run_dir / relative, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return relative


def _by_method(results: dict) -> dict[str, list[dict]]:
    """Candidates per method (and precision variant), sorted by ratio; each series starts at
    the unpruned model deployed the same way (``baseline``, or e.g. ``baseline@int8``)."""
    suffix = lambda c: c["name"].split("@", 1)[1] if "variant_of" in c else ""  # noqa: E731
    starts = {"": results["baseline"]}
    starts.update({suffix(c): c for c in results["candidates"] if c["method"] is None})
    series: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for c in results["candidates"]:
        if c["method"] is not None:
            series[(c["method"] + (f" ({suffix(c)})" if suffix(c) else ""), suffix(c))].append(c)
    return {
        label: [starts.get(kind, results["baseline"])] + sorted(cs, key=lambda c: c["ratio"])
        for (label, kind), cs in series.items()
    }


def accuracy_ece_plot(results: dict, run_dir: Path) -> str:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for method, entries in _by_method(results).items():
        ratios = [e["ratio"] for e in entries]
        left.plot(ratios, [100 * e["accuracy"] for e in entries], "o-", label=method)
        right.plot(ratios, [e["calibration"]["ece"] for e in entries], "o-", label=method)
    left.set(xlabel="pruning ratio (nominal)", ylabel="accuracy % (artifact)", title="Accuracy")
    right.set(
        xlabel="pruning ratio (nominal)", ylabel="ECE (15 bins)", title="Expected calibration error"
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, run_dir, "accuracy_ece")


def severity_plot(results: dict, run_dir: Path) -> str | None:
    series = _by_method(results)
    method, entries = next(iter(series.items()))
    if not all((e.get("corruption") or {}).get("per_severity") for e in entries):
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    ratios = [e["ratio"] for e in entries]
    left.plot(ratios, [100 * e["accuracy"] for e in entries], "k--", label="clean")
    right.plot(ratios, [e["calibration"]["ece"] for e in entries], "k--", label="clean")
    colours = plt.cm.viridis([0.0, 0.25, 0.5, 0.72, 0.92])
    for s, colour in zip(range(1, 6), colours):
        rows = [e["corruption"]["per_severity"][str(s)] for e in entries]
        left.plot(
            ratios, [100 * r["accuracy"] for r in rows], "o-", color=colour, label=f"severity {s}"
        )
        right.plot(
            ratios,
            [r.get("ece", float("nan")) for r in rows],
            "o-",
            color=colour,
            label=f"severity {s}",
        )
    left.plot(
        ratios,
        [100 * e["corruption"]["mPC"] for e in entries],
        "s-",
        color="crimson",
        lw=2,
        label="mPC",
    )
    left.set(
        xlabel="pruning ratio",
        ylabel="accuracy %",
        title=f"Accuracy per corruption severity ({method})",
    )
    right.set(xlabel="pruning ratio", ylabel="ECE", title="ECE per corruption severity")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize=7, ncol=2)
    return _save(fig, run_dir, "severity")


def reliability_plot(results: dict, selection: dict, run_dir: Path) -> str:
    plt = _pyplot()
    by_name = {c["name"]: c for c in results["candidates"]}
    other = by_name.get(selection.get("chosen") or "")
    label = "chosen"
    if other is None and results["candidates"]:
        other, label = (
            max(results["candidates"], key=lambda c: c["ratio"]),
            "most pruned (none chosen)",
        )
    panels = [(results["baseline"], "baseline")] + ([(other, label)] if other else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4), squeeze=False)
    for ax, (entry, role) in zip(axes[0], panels):
        diagram = entry["reliability"]
        edges = diagram["edges"]
        centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
        width = edges[1] - edges[0]
        accuracy = [a if a is not None else 0.0 for a in diagram["accuracy"]]
        ax.bar(centres, accuracy, width=width * 0.92, color="#4c78a8", label="accuracy")
        confidence = [c if c is not None else float("nan") for c in diagram["confidence"]]
        ax.plot(centres, confidence, "o", color="#e45756", ms=4, label="mean confidence")
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{entry['name']} ({role})\nECE {entry['calibration']['ece']:.4f}")  # fmt: skip
        ax.legend(fontsize=8, loc="upper left")
    return _save(fig, run_dir, "reliability")


def latency_accuracy_plot(results: dict, selection: dict, run_dir: Path) -> str:
    plt = _pyplot()
    entries = [results["baseline"], *results["candidates"]]
    points = {e["name"]: (target_latency(e, results), 100 * e["accuracy"]) for e in entries}
    kinds = {kind for (_, kind), _ in points.values()}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, ((latency, _), accuracy) in points.items():
        chosen = name == selection.get("chosen")
        ax.scatter(
            latency,
            accuracy,
            s=60 if chosen else 30,
            color="crimson" if chosen else "#4c78a8",
            zorder=3,
        )
        ax.annotate(
            name, (latency, accuracy), fontsize=7, xytext=(4, 3), textcoords="offset points"
        )
    front = sorted(
        (points[n][0][0], points[n][1]) for n in selection.get("pareto_front", []) if n in points
    )
    if front:
        ax.plot(*zip(*front), "-", color="#f58518", lw=1.5, label="Pareto front", zorder=2)
    budget = (selection.get("constraints") or {}).get("max_latency_ms")
    if budget:
        ax.axvline(budget, color="gray", ls="--", label=f"budget {budget:g} ms")
    kind = " / ".join(sorted(kinds))
    ax.set(xlabel=f"batch-1 latency on {results['target']['name']}, ms ({kind})", ylabel="accuracy %",
           title="Accuracy against latency on the target")  # fmt: skip
    ax.grid(alpha=0.3)
    if front or budget:
        ax.legend(fontsize=8)
    return _save(fig, run_dir, "latency_accuracy")


def explanation_plot(results: dict, run_dir: Path) -> str | None:
    series = _by_method(results)
    if not all(e.get("explanation") for entries in series.values() for e in entries):
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for method, entries in series.items():
        ratios = [e["ratio"] for e in entries]
        left.plot(ratios, [e["explanation"]["hcc"] for e in entries], "o-", label=method)
        right.plot(ratios, [e["explanation"]["pe"] for e in entries], "o-", label=method)
    left.set(
        xlabel="pruning ratio",
        ylabel="HCC (Grad-CAM)",
        title="Heatmap correlation with the unpruned model",
    )
    right.set(xlabel="pruning ratio", ylabel="PE-score (Grad-CAM++)", title="PE-score")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, run_dir, "explanation")


def make_plots(results: dict, selection: dict, run_dir: Path) -> dict[str, str]:
    """Every plot the data allows, by name -> path relative to the run directory."""
    run_dir = Path(run_dir)
    made = {
        "accuracy_ece": accuracy_ece_plot(results, run_dir) if results["candidates"] else None,
        "severity": severity_plot(results, run_dir) if results["candidates"] else None,
        "reliability": reliability_plot(results, selection, run_dir),
        "latency_accuracy": latency_accuracy_plot(results, selection, run_dir),
        "explanation": explanation_plot(results, run_dir) if results["candidates"] else None,
    }
    if (run_dir / PLOT_DIR / "pe_overlays.png").exists():
        made["overlays"] = f"{PLOT_DIR}/pe_overlays.png"
    return {k: v for k, v in made.items() if v}
