"""The torch-free runner as one zip file, for a device that has no edgeprune installed.

The zip holds the import closure of ``edgeprune.targets.run`` plus every runner module,
found by reading the sources, so host-only modules (profiles, estimates, SSH plumbing) and
anything importing torch stay out and a new device-side module needs no list update.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import pkgutil
import zipfile
from importlib.machinery import ModuleSpec
from pathlib import Path


def _module_spec(name: str) -> ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except ImportError:  # ``from package import attribute``: not a module
        return None


def _edgeprune_imports(source: bytes, package: str) -> set[str]:
    """Every edgeprune module a source file may import, lazily imported ones included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # maybe submodules
    return {n for n in names if n == "edgeprune" or n.startswith("edgeprune.")}


def runner_sources() -> dict[str, Path]:
    """Path inside the runner zip -> installed source file, for every module the device needs.

    That is the import closure of ``edgeprune.targets.run`` plus every runner module (a runner
    is chosen by name at run time): host-only modules (profiles, estimates, this file) and
    anything that imports torch stay out, and a new device-side module needs no list update.
    """
    runners = _module_spec("edgeprune.targets.runners")
    pending = ["edgeprune.targets.run"] + [
        f"edgeprune.targets.runners.{info.name}"
        for info in pkgutil.iter_modules(runners.submodule_search_locations)
    ]
    found: dict[str, Path] = {}
    done = set()
    while pending:
        name = pending.pop()
        if name in done:
            continue
        done.add(name)
        spec = _module_spec(name)
        if spec is None or not (spec.origin or "").endswith(".py"):
            continue  # e.g. a runner referenced in code but not shipped (tensorrt_runner)
        is_package = spec.submodule_search_locations is not None
        arcname = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        found[arcname] = Path(spec.origin)
        parts = name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        package = name if is_package else name.rpartition(".")[0]
        pending += sorted(_edgeprune_imports(found[arcname].read_bytes(), package))
    return dict(sorted(found.items()))


_RUNNER_MAIN = b"import sys\nfrom edgeprune.targets.run import main\nsys.exit(main())\n"


def pack_runner() -> bytes:
    """The device-side modules as a zip: importable from ``PYTHONPATH`` (how
    :func:`run_remote` starts it, so ``DeviceJob.command`` works unchanged) and runnable
    as ``python3 edgeprune-runner.pyz --artifact ...`` for a manual run on the device."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        items = [(arc, path.read_bytes()) for arc, path in runner_sources().items()]
        for arcname, data in [*items, ("__main__.py", _RUNNER_MAIN)]:
            # A fixed timestamp: the same sources always give the same bytes.
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
