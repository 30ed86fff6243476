"""The plots of a report: the generic one here (accuracy against latency on the target, with
the budget and the Pareto front), the task's from ``Task.plots``. Axis labels say which
figures are estimated."""

from __future__ import annotations

from edgeprune.plotting import pyplot, save_figure


def latency_score_plot(results, decision, layout, task) -> str:
    plt = pyplot()
    points = {
        e.name: (results.target_latency(e), 100 * task.primary_score(e)) for e in results.entries
    }
    kinds = {kind for (_, kind), _ in points.values()}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, ((latency, _), score) in points.items():
        chosen = name == decision.chosen
        ax.scatter(
            latency,
            score,
            s=60 if chosen else 30,
            color="crimson" if chosen else "#4c78a8",
            zorder=3,
        )
    front = sorted((points[n][0][0], points[n][1]) for n in decision.pareto_front if n in points)
    if front:
        ax.plot(*zip(*front), "-", color="#f58518", lw=1.5, label="Pareto front", zorder=2)
    budget = decision.settings.get("max_latency_ms")
    if budget:
        ax.axvline(budget, color="gray", ls="--", label=f"budget {budget:g} ms")
    kind = " / ".join(sorted(kinds))
    label = task.primary_name
    ax.set(xlabel=f"batch-1 latency on {results.target_name}, ms ({kind})", ylabel=f"{label} %",
           title=f"{label.capitalize()} against latency on the target")  # fmt: skip
    # The latency axis starts at zero, so a 7 us difference between estimates looks as small
    # as it is next to the latency itself, not like a factor.
    ax.set_xlim(0, max([lat for (lat, _), _ in points.values()] + [budget or 0]) * 1.15)
    _label_points(ax, {name: (lat, score) for name, ((lat, _), score) in points.items()})
    ax.grid(alpha=0.3)
    if front or budget:
        ax.legend(fontsize=8)
    return save_figure(fig, layout, "latency_accuracy")


def _label_points(ax, points: dict[str, tuple[float, float]]) -> None:
    """Name each point beside it, moving a label down until it clears the labels already
    placed (a baseline and a candidate at the same accuracy and a similar latency wrote
    their names over each other)."""
    placed: list[tuple[float, float]] = []  # label anchors in display pixels
    for name, (x, y) in sorted(points.items(), key=lambda item: -item[1][1]):
        px, py = ax.transData.transform((x, y))
        offset = 3.0
        while any(abs(px - qx) < 70 and abs(py + offset - qy) < 9 for qx, qy in placed):
            offset -= 9
        placed.append((px, py + offset))
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, offset), textcoords="offset points")


def make_plots(results, decision, layout, task) -> dict[str, str]:
    """Every plot the data allows, by name -> path relative to the run directory."""
    plots = task.plots(results, decision, layout)
    plots["latency_accuracy"] = latency_score_plot(results, decision, layout, task)
    return plots
