"""How far each surviving mutant of the corruption parameters moves the corrupted images.

A mutant of ``data/corruptions/params.py`` that the reference tests let through either
changes nothing a reference can see, or is a test that is missing. This tells which: for
each survivor named in a ``tools/mutation.py`` log it corrupts the reference views with the
mutated table (the shared CIFAR-10-C views at 32 px when ``../shared`` is there, else 48
views of scikit-image's photos; and the 224-px crops of ``tests/data/reference``), seed 0,
and compares with the unmutated table:

- deterministic corruptions: any changed pixel is visible to a pixel comparison, so the
  PSNR between the two outputs is reported (a test is missing if it is finite);
- random corruptions: the change of the set-level mean absolute difference to the clean
  image, in units of the replay bar the tests apply (``tests/data/test_corruptions.py``:
  5 standard deviations of one run against the generator's mean, at least 5 %). Below 1,
  no statistical comparison with the generator of that size can tell the mutant apart.

    python tools/mutation.py --groups corruption-parameters > mutation.log
    python tools/parameter_effect.py mutation.log
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODULE = "edgeprune/data/corruptions/params.py"
SHARED = ROOT.parent / "shared" / "reference" / "corruptions"
REFERENCE_224 = ROOT / "tests" / "data" / "reference" / "make_imagenet_c_224.json"
SURVIVOR = re.compile(r"survived " + re.escape(MODULE) + r":(\d+): (.+?)\s{4}\[")


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _views() -> dict[int, tuple[np.ndarray, dict]]:
    """Clean views and the generator's statistics per image side."""
    reference = _tool("corruption_reference")
    views = {}
    if (SHARED / "reference.npz").is_file():
        with np.load(SHARED / "reference.npz") as arrays:
            clean32 = arrays["clean"]
        stats32 = json.loads((SHARED / "stats.json").read_text())["stats"]
        views[32] = (clean32, stats32)
    saved = json.loads(REFERENCE_224.read_text())
    meta = saved["meta"]
    clean224 = reference.natural_images(
        meta["images"], meta["size"], meta["seed"], max_zoom=meta["max_zoom"]
    )
    views[224] = (clean224, saved["stats"])
    return views


def _outputs(views: dict, path: Path) -> None:
    """Every corruption and severity on every view set (seed 0), saved to ``path``."""
    from edgeprune.data.corruptions import ALL, SEVERITIES, corrupt

    arrays = {}
    for side, (clean, _) in views.items():
        for name in ALL:
            for severity in SEVERITIES:
                arrays[f"{side}/{name}_s{severity}"] = corrupt(clean, name, severity, seed=0)
    np.savez(path, **arrays)


def _child(views: dict, path: Path, code) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        if code is not None:
            mutation = sys.modules["mutation"]
            finder = mutation._MutantFinder(mutation._module_name(MODULE), ROOT / MODULE, code)
            sys.meta_path.insert(0, finder)
            # the parent imported the suite (for the views): import it again, on the mutant
            for name in [n for n in sys.modules if n.startswith("edgeprune.data.corruptions")]:
                del sys.modules[name]
        _outputs(views, path)
        os._exit(0)
    except BaseException:  # noqa: BLE001  a child never returns into the parent's loop
        os._exit(99)


def effect(original, mutant, views: dict, deterministic: frozenset) -> tuple[float, str]:
    """The largest effect over all keys: (bars or -PSNR, key); see the module docstring."""
    worst, where = 0.0, "none"
    for key in original.files:
        side, name = key.split("/")
        before, after = original[key], mutant[key]
        if np.array_equal(before, after):
            continue
        corruption = name.rsplit("_s", 1)[0]
        if corruption in deterministic:
            mse = np.mean((before.astype(np.float64) - after) ** 2)
            return (
                math.inf,
                f"{key}: a deterministic output changed, PSNR {10 * math.log10(255**2 / mse):.1f} dB",
            )
        clean, stats = views[int(side)]
        test_corruptions = sys.modules["test_corruptions_bar"]
        bar = test_corruptions.replay_bar(stats[name], 4)
        mad = [np.abs(x.astype(np.float64) - clean).mean() for x in (before, after)]
        bars = abs(mad[1] - mad[0]) / bar
        if bars > worst:
            worst, where = bars, f"{key}: MAD {mad[0]:.3f} -> {mad[1]:.3f}"
    return worst, where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="output of tools/mutation.py")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    wanted = [(int(m[1]), m[2]) for m in SURVIVOR.finditer(args.log.read_text())]
    if not wanted:
        raise SystemExit(f"error: no survivors of {MODULE} in {args.log}")
    sys.path.insert(0, str(ROOT))
    mutation = _tool("mutation")
    spec = importlib.util.spec_from_file_location(
        "test_corruptions_bar", ROOT / "tests" / "data" / "test_corruptions.py"
    )
    # only replay_bar is used; importing the test module brings pytest, which is installed
    bar_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bar_module
    spec.loader.exec_module(bar_module)
    from edgeprune.data.corruptions import DETERMINISTIC

    sites = {(s.line, s.description): s for s in mutation.mutation_sites(ROOT / MODULE)}
    views = _views()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "original.npz"
        os.waitpid(_child(views, base, None), 0)
        original = np.load(base)
        pending = [(i, sites[w]) for i, w in enumerate(wanted) if w in sites]
        running, results = {}, {}
        while pending or running:
            while pending and len(running) < args.workers:
                i, site = pending.pop(0)
                path = Path(tmp) / f"m{i}.npz"
                pid = _child(views, path, mutation.mutated_code(ROOT / MODULE, site))
                running[pid] = (i, site, path)
            pid, status = os.wait()
            i, site, path = running.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                results[i] = (site, math.inf, "the mutant raised an error: a test is missing")
                continue
            with np.load(path) as mutant:
                results[i] = (site, *effect(original, mutant, views, DETERMINISTIC))
            path.unlink()
    print("| line | change | effect (replay bars; inf: visible pixel by pixel) | where |")
    print("|---:|---|---:|---|")
    for i in sorted(results):
        site, bars, where = results[i]
        shown = "inf" if math.isinf(bars) else f"{bars:.2f}"
        print(f"| {site.line} | `{site.description}` | {shown} | {where} |")
    below = sum(1 for site, bars, _ in results.values() if bars < 1)
    print(
        f"\n{below} of {len(results)} survivors below one replay bar ({time.process_time():.0f} s CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
