"""The classification plots, as PNG files under the run's ``plots/`` folder.

Accuracy and ECE against the ratio per method; accuracy and ECE per corruption severity
against the ratio (the figures of Mitra et al. 2024); reliability diagrams with confidence
histograms of every entry, clean and per corruption severity; HCC and PE-score against the
ratio; and the side-by-side CAM overlays that PE-guided selection asks the user to confirm
on (Pachon et al. 2023).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from edgeprune.plotting import pyplot, save_figure
from edgeprune.results import Decision, Entry, RunResults


def by_method(results: RunResults) -> dict[str, list[Entry]]:
    """Candidates per method (and precision variant), sorted by ratio; each series starts at
    the unpruned model deployed the same way (``baseline``, or e.g. ``baseline@int8``)."""
    starts = {"": results.baseline}
    starts.update({c.series: c for c in results.candidates if c.method is None})
    series: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for c in results.candidates:
        if c.method is not None:
            label = c.method + (f" ({c.series})" if c.series else "")
            series[(label, c.series)].append(c)
    return {
        label: [starts.get(kind, results.baseline)] + sorted(cs, key=lambda c: c.ratio)
        for (label, kind), cs in series.items()
    }


def accuracy_ece_plot(results: RunResults, layout) -> str:
    """Accuracy, ECE and (where measured) mPC against the ratio, one line per method: the
    comparison of Mitra et al. 2024's first figure, on the deployed artifacts."""
    plt = pyplot()
    series = by_method(results)
    with_mpc = all(e.quality.mpc is not None for entries in series.values() for e in entries)
    fig, axes = plt.subplots(1, 3 if with_mpc else 2, figsize=(15 if with_mpc else 10, 3.6))
    for method, entries in series.items():
        ratios = [e.ratio for e in entries]
        axes[0].plot(ratios, [100 * e.quality.accuracy for e in entries], "o-", label=method)
        axes[1].plot(ratios, [e.quality.ece for e in entries], "o-", label=method)
        if with_mpc:
            axes[2].plot(ratios, [100 * e.quality.mpc for e in entries], "o-", label=method)
    axes[0].set(xlabel="pruning ratio (nominal)", ylabel="accuracy % (artifact)", title="Accuracy")
    axes[1].set(
        xlabel="pruning ratio (nominal)", ylabel="ECE (15 bins)", title="Expected calibration error"
    )
    if with_mpc:
        axes[2].set(xlabel="pruning ratio (nominal)", ylabel="mPC %",
                    title="Mean accuracy under corruption")  # fmt: skip
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, layout, "accuracy_ece")


def severity_plot(results: RunResults, layout) -> str | None:
    """Accuracy and ECE per corruption severity against the ratio, a row per method."""
    series = {
        method: entries
        for method, entries in by_method(results).items()
        if all(e.quality.corruption and e.quality.corruption.per_severity for e in entries)
    }
    if not series:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(series), 2, figsize=(10, 3.6 * len(series)), squeeze=False)
    colours = plt.cm.viridis([0.0, 0.25, 0.5, 0.72, 0.92])
    for (method, entries), (left, right) in zip(series.items(), axes):
        ratios = [e.ratio for e in entries]
        left.plot(ratios, [100 * e.quality.accuracy for e in entries], "k--", label="clean")
        right.plot(ratios, [e.quality.ece for e in entries], "k--", label="clean")
        for s, colour in zip(range(1, 6), colours):
            rows = [e.quality.corruption.per_severity[str(s)] for e in entries]
            left.plot(ratios, [100 * r["accuracy"] for r in rows], "o-", color=colour,
                      label=f"severity {s}")  # fmt: skip
            right.plot(ratios, [r.get("ece", float("nan")) for r in rows], "o-", color=colour,
                       label=f"severity {s}")  # fmt: skip
        left.plot(ratios, [100 * e.quality.mpc for e in entries], "s-", color="crimson", lw=2,
                  label="mPC")  # fmt: skip
        left.set(xlabel="pruning ratio", ylabel="accuracy %",
                 title=f"Accuracy per corruption severity ({method})")  # fmt: skip
        right.set(xlabel="pruning ratio", ylabel="ECE",
                  title=f"ECE per corruption severity ({method})")  # fmt: skip
        for ax in (left, right):
            ax.grid(alpha=0.3)
        left.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, layout, "severity")


def _reliability_panel(top, bottom, diagram: dict, title: str, annotate: bool) -> None:
    """Accuracy per equal-width bin against its mean confidence (``top``), over the
    confidence histogram (``bottom``): a bin's gap means little when it holds three images,
    so its count stands below it (written on the bar with ``annotate``)."""
    edges = np.asarray(diagram["edges"], dtype=float)
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    counts = np.asarray(diagram["counts"], dtype=float)
    accuracy = np.array([np.nan if a is None else a for a in diagram["accuracy"]], dtype=float)
    confidence = np.array([np.nan if c is None else c for c in diagram["confidence"]], dtype=float)
    top.bar(centres, np.nan_to_num(accuracy), width=width * 0.9, color="#4c78a8", label="accuracy")
    top.plot(centres, confidence, "o", color="#e45756", ms=3, label="mean confidence")
    top.plot([0, 1], [0, 1], "k--", lw=0.8)
    top.set(xlim=(0, 1), ylim=(0, 1))
    top.set_xticklabels([])
    top.set_title(title, fontsize=8)
    bottom.bar(centres, counts, width=width * 0.9, color="#888888")
    bottom.set(xlim=(0, 1), ylim=(0, max(counts.max(), 1) * (1.45 if annotate else 1.1)))
    if annotate:
        for x, count in zip(centres, counts):
            if count:
                bottom.text(x, count, f"{int(count)}", ha="center", va="bottom", fontsize=5.5)
    for ax in (top, bottom):
        ax.tick_params(labelsize=6)


def _panel_axes(plt, rows: int, columns: int, width: float, height: float):
    """A grid of (reliability, histogram) pairs, ``axes[row][column]``."""
    fig = plt.figure(figsize=(width * columns, height * rows))
    outer = fig.add_gridspec(rows, columns, hspace=0.4, wspace=0.3)
    axes = []
    for r in range(rows):
        row = []
        for c in range(columns):
            inner = outer[r, c].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.08)
            row.append((fig.add_subplot(inner[0]), fig.add_subplot(inner[1])))
        axes.append(row)
    return fig, axes


def _ece_of(diagram: dict) -> float:
    counts = np.asarray(diagram["counts"], dtype=float)
    accuracy = np.asarray(diagram["accuracy"], dtype=float)
    gaps = np.abs(accuracy - np.asarray(diagram["confidence"], dtype=float))
    return float(np.nansum(counts * gaps) / max(counts.sum(), 1))


def _role(entry: Entry, results: RunResults, decision: Decision) -> str:
    if entry is results.baseline:
        return "" if entry.name == "baseline" else " (baseline)"
    return " (chosen)" if entry.name == decision.chosen else ""


def reliability_plot(results: RunResults, decision: Decision, layout) -> str:
    """Every entry's reliability diagram on the clean split, with its confidence histogram
    and per-bin counts; with recalibration, each entry uncalibrated beside recalibrated."""
    plt = pyplot()
    panels = []
    for entry in results.entries:
        role = _role(entry, results, decision)
        if entry.quality.uncalibrated is not None:
            panels.append((entry.quality.uncalibrated, f"{entry.name}{role}, uncalibrated"))
            panels.append((entry.quality, f"{entry.name}{role}, recalibrated"))
        else:
            panels.append((entry.quality, f"{entry.name}{role}"))
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = _panel_axes(plt, rows, columns, 3.3, 3.4)
    pairs = [pair for row in axes for pair in row]
    for index, ((top, bottom), (quality, title)) in enumerate(zip(pairs, panels)):
        title = f"{title}\nECE {quality.ece:.4f}, {quality.n} images"
        _reliability_panel(top, bottom, quality.reliability, title, annotate=True)
        if index % columns == 0:
            top.set_ylabel("accuracy", fontsize=7)
            bottom.set_ylabel("images", fontsize=7)
        if index == 0:
            top.legend(fontsize=6, loc="upper left")
    for top, bottom in pairs[len(panels) :]:
        top.set_visible(False)
        bottom.set_visible(False)
    fig.supxlabel("confidence (top-1 softmax, equal-width bins)", fontsize=8)
    return save_figure(fig, layout, "reliability")


def reliability_severity_plot(results: RunResults, decision: Decision, layout) -> str | None:
    """Every entry (a row) at each corruption severity (a column): the reliability diagram of
    the 15 benchmark corruptions' images pooled, over its confidence histogram."""
    entries = [e for e in results.entries if e.quality.reliability_by_severity]
    if not entries:
        return None
    plt = pyplot()
    severities = sorted(entries[0].quality.reliability_by_severity, key=int)
    fig, axes = _panel_axes(plt, len(entries), len(severities), 2.5, 2.7)
    for r, entry in enumerate(entries):
        for c, severity in enumerate(severities):
            top, bottom = axes[r][c]
            diagram = entry.quality.reliability_by_severity.get(severity)
            if diagram is None:
                top.set_visible(False)
                bottom.set_visible(False)
                continue
            n = int(np.sum(diagram["counts"]))
            title = f"severity {severity}: pooled ECE {_ece_of(diagram):.3f}, n {n}"
            _reliability_panel(top, bottom, diagram, title, annotate=False)
        name = f"{entry.name}{_role(entry, results, decision)}"
        axes[r][0][0].set_ylabel(f"{name}\naccuracy", fontsize=7)
        axes[r][0][1].set_ylabel("images", fontsize=7)
    fig.supxlabel("confidence (top-1 softmax, equal-width bins)", fontsize=8)
    return save_figure(fig, layout, "reliability_severity")


def explanation_plot(results: RunResults, layout) -> str | None:
    series = by_method(results)
    if not all(e.explanation for entries in series.values() for e in entries):
        return None
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for method, entries in series.items():
        ratios = [e.ratio for e in entries]
        for axis, key in ((left, "hcc"), (right, "pe")):  # undefined: a gap, not a point
            values = [e.explanation[key] for e in entries]
            axis.plot(
                ratios, [float("nan") if v is None else v for v in values], "o-", label=method
            )
    settings = series[next(iter(series))][0].explanation["settings"]
    left.set(
        xlabel="pruning ratio",
        ylabel=f"HCC ({settings.get('hcc_method', 'gradcam')})",
        title="Heatmap correlation with the unpruned model",
    )
    right.set(
        xlabel="pruning ratio",
        ylabel=f"PE-score ({settings.get('pe_method', 'gradcam++')})",
        title="PE-score",
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, layout, "explanation")


def recalibration_plot(results: RunResults, layout) -> str | None:
    """ECE at each corruption severity (0: clean), before and after the scaling, per entry."""
    entries = [e for e in results.entries if e.recalibration and not e.is_variant]
    if not entries or not all(e.quality.corruption for e in entries):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = plt.cm.viridis([i / max(len(entries) - 1, 1) for i in range(len(entries))])
    for entry, colour in zip(entries, colours):
        uncalibrated = entry.quality.uncalibrated
        before = [uncalibrated.ece, *uncalibrated.corruption.ece_by_severity()]
        after = [entry.quality.ece, *entry.quality.corruption.ece_by_severity()]
        ax.plot(range(6), before, "o--", color=colour, alpha=0.7)
        ax.plot(range(6), after, "o-", color=colour, label=entry.name)
    ax.set(xlabel="corruption severity (0: clean)", ylabel="ECE", title="Recalibration under shift")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, layout, "recalibration")


def _pick_images(targets: np.ndarray, count: int, available: int) -> list[int]:
    """One image per explained class first (so the grid shows several classes), then in order."""
    first_of_class = [
        int(np.flatnonzero(targets[:available] == c)[0]) for c in np.unique(targets[:available])
    ]
    rest = [i for i in range(available) if i not in first_of_class]
    return (first_of_class + rest)[:count]


def overlay_plot(results: RunResults, layout, count: int = 8) -> str | None:
    """Per image: the input, the unpruned model's PE map and each rate's (None: no maps)."""
    from edgeprune.explain.consistency import load_maps
    from edgeprune.targets.bundle import CLEAN, EvalBundle

    candidates = sorted((c for c in results.candidates if not c.is_variant), key=lambda c: c.ratio)
    explained = results.baseline.explanation
    reference_path = layout.entry("baseline").maps
    paths = [layout.entry(c.name).maps for c in candidates]
    if not explained or not candidates or not all(p.exists() for p in [reference_path, *paths]):
        return None
    method = explained["settings"].get("pe_method", "gradcam++")
    reference = load_maps(reference_path)
    maps = [load_maps(p) for p in paths]
    available = min(len(m[method]) for m in maps)
    rows = _pick_images(reference["targets"], count, available)
    images = np.asarray(EvalBundle(layout.bundle).images(CLEAN))
    class_names = results.dataset.get("class_names") or []
    plt = pyplot()
    cols = 2 + len(candidates)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 1.9 * len(rows)), squeeze=False)
    titles = ["input", "unpruned"] + [
        f"{c.name}\nPE {_pe_text(c.explanation['pe'])}" if c.explanation else c.name
        for c in candidates
    ]
    for r, index in enumerate(rows):
        image = images[index]
        panels = [None, reference[method][index]] + [m[method][index] for m in maps]
        for col, heat in enumerate(panels):
            ax = axes[r, col]
            ax.imshow(image)
            if heat is not None:
                ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[col], fontsize=8)
        target = int(reference["targets"][index])
        label = class_names[target] if target < len(class_names) else str(target)
        axes[r, 0].set_ylabel(f"class {label}", fontsize=8)
    fig.suptitle(f"{method} maps of the class the unpruned model predicts", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, layout, "pe_overlays", tight=False)


def make_plots(results: RunResults, decision: Decision, layout) -> dict[str, str]:
    """Every classification plot the data allows, by name -> path relative to the run."""
    has_candidates = bool(results.candidates)
    made = {
        "accuracy_ece": accuracy_ece_plot(results, layout) if has_candidates else None,
        "severity": severity_plot(results, layout) if has_candidates else None,
        "reliability": reliability_plot(results, decision, layout),
        "reliability_severity": reliability_severity_plot(results, decision, layout),
        "explanation": explanation_plot(results, layout) if has_candidates else None,
        "recalibration": recalibration_plot(results, layout),
        "overlays": overlay_plot(results, layout),
    }
    return {k: v for k, v in made.items() if v}


def _pe_text(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"
