"""Saving a matplotlib figure into the run's ``plots/`` folder, atomically, headless."""

from __future__ import annotations

from edgeprune.files import atomic_path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, layout, name: str, tight: bool = True) -> str:
    """Write ``fig`` as ``plots/<name>.png`` of the run ``layout``; returns that path
    relative to the run directory, as reports reference it."""
    path = layout.plot(name)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, **({"bbox_inches": "tight"} if tight else {}))
    pyplot().close(fig)
    return layout.relative(path)
