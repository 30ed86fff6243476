"""Side-by-side explanation overlays: input, the unpruned model's map, each candidate's map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprune.explain.consistency import PE_METHOD, load_maps
from edgeprune.files import atomic_path
from edgeprune.targets.bundle import EvalBundle

OVERLAY_FILE = "plots/pe_overlays.png"


def _pick_images(targets: np.ndarray, count: int, available: int) -> list[int]:
    """One image per explained class first (so the grid shows several classes), then in order."""
    first_of_class = [
        int(np.flatnonzero(targets[:available] == c)[0]) for c in np.unique(targets[:available])
    ]
    rest = [i for i in range(available) if i not in first_of_class]
    return (first_of_class + rest)[:count]


def overlay_grid(
    run_dir: Path, results: dict, count: int = 8, method: str = PE_METHOD
) -> str | None:
    """Write the grid PNG and return its path relative to the run directory (None: no maps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    reference_path = run_dir / "baseline" / "explanations.npz"
    candidates = sorted(
        (c for c in results["candidates"] if "variant_of" not in c), key=lambda c: c["ratio"]
    )
    paths = [run_dir / c["name"] / "explanations.npz" for c in candidates]
    if not reference_path.exists() or not all(p.exists() for p in paths):
        return None
    reference = load_maps(reference_path)
    maps = [load_maps(p) for p in paths]
    available = min(len(m[method]) for m in maps)
    rows = _pick_images(reference["targets"], count, available)
    images = np.asarray(EvalBundle(run_dir / "bundle").images("clean"))
    class_names = results["dataset"].get("class_names") or []
    cols = 2 + len(candidates)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 1.9 * len(rows)), squeeze=False)
    titles = ["input", "unpruned"] + [
        f"{c['name']}\nPE {c['explanation']['pe']:.3f}" for c in candidates
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
    out = run_dir / OVERLAY_FILE
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return OVERLAY_FILE
