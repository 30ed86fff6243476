"""Check that the dependency floors in pyproject.toml are true: install them and run the tests.

Every ``name>=X`` of ``[project] dependencies`` is installed at exactly ``X`` in a new
virtual environment (a constraints file pins them, so the test extras resolve around
them), edgeprune is installed from this checkout, and the test suite runs there. PyTorch and
torchvision are kept at the versions of the Python running this script unless
``--torch-floor`` is given: their wheels are large and platform-specific (Jetson users
bring NVIDIA's), and a machine without their floor wheels can still check the rest.

    python tools/check_dependency_floors.py [--venv DIR] [--torch-floor] [-- pytest args]

Prints the versions installed and pytest's summary; exits with pytest's status. The last
result is in docs/testing.md ("Dependency floors").
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
KEPT = ("torch", "torchvision")
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*(;.*)?$")


def floors(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``{name: floor}`` of every dependency with a ``>=`` floor that applies here."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    found = {}
    for requirement in project["dependencies"]:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"error: {requirement!r} has no plain '>=' floor to check")
        name, version, marker = match.groups()
        if marker and not _marker_applies(marker.lstrip("; ")):
            continue
        found[name.lower()] = version
    return found


def _marker_applies(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker).evaluate()


def constraints(pins: dict[str, str], torch_floor: bool) -> list[str]:
    lines = []
    for name, version in pins.items():
        if name in KEPT and not torch_floor:
            version = importlib.metadata.version(name)  # the running interpreter's own
        lines.append(f"{name}=={version}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="environment folder (default: a temporary one)")
    parser.add_argument("--torch-floor", action="store_true", help="pin torch and torchvision too")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = parser.parse_args(argv)
    pins = constraints(floors(), args.torch_floor)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.venv or Path(tmp) / "venv"
        venv.create(folder, with_pip=True, clear=True)
        python = str(folder / "bin" / "python")
        pinned = Path(tmp) / "constraints.txt"
        pinned.write_text("\n".join(pins) + "\n")
        print("floors:", ", ".join(pins), flush=True)
        install = [python, "-m", "pip", "install", "-q", "-c", str(pinned), *pins]
        install += ["-e", f"{ROOT}[test]"]
        if subprocess.run(install).returncode != 0:
            print("error: the floors do not install together", file=sys.stderr)
            return 2
        listed = subprocess.run(
            [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
        ).stdout
        names = set(floors()) | {"scikit-image", "opencv-python-headless", "torchmetrics"}
        print("installed:", ", ".join(
            line for line in listed.splitlines() if line.split("==")[0].lower() in names
        ), flush=True)  # fmt: skip
        return subprocess.run(
            [python, "-m", "pytest", "-q", *args.pytest_args], cwd=ROOT
        ).returncode


if __name__ == "__main__":
    sys.exit(main())
