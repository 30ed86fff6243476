"""The package layout: export/ and targets/ install as edgeprune.export / edgeprune.targets,
and the device side imports without torch."""

from __future__ import annotations

import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

MAPPED = {"edgeprune": "edgeprune", "edgeprune.export": "export", "edgeprune.targets": "targets"}


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for package, folder in MAPPED.items():
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO_ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == listed


def test_device_side_imports_without_torch():
    # torch is made unimportable; the runner, bundle, metrics and profiles must still load.
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        "import edgeprune.targets, edgeprune.targets.run, edgeprune.targets.bundle\n"
        "import edgeprune.targets.profile, edgeprune.targets.estimate, edgeprune.metrics\n"
        "import edgeprune.targets.runners.onnxruntime_runner\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_single_version_source():
    import edgeprune

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert edgeprune.__version__.count(".") == 2


DEVICE_SIDE = ["edgeprune/__init__.py", "edgeprune/errors.py", "edgeprune/files.py"]


def test_device_side_stays_python38_compatible():
    """JetPack 5 ships Python 3.8: the runner's modules parse with its grammar, and their
    annotations stay strings (PEP 563) so newer typing syntax is never evaluated."""
    import ast

    files = [REPO_ROOT / f for f in DEVICE_SIDE] + sorted((REPO_ROOT / "targets").rglob("*.py"))
    for path in files:
        source = path.read_text()
        tree = ast.parse(source, filename=str(path), feature_version=(3, 8))
        annotated = any(
            isinstance(n, (ast.AnnAssign, ast.arg)) and getattr(n, "annotation", None)
            for n in ast.walk(tree)
        ) or any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns
            for n in ast.walk(tree)
        )
        if annotated:
            assert "from __future__ import annotations" in source, (
                f"{path} needs PEP 563 annotations"
            )


def test_readme_has_two_setup_commands_and_ci_runs_the_second():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.endswith("edgeprune compress --target jetson-orin-nano")
    assert tests.endswith("python -m pytest")
    assert tests in (root / ".ci" / "run").read_text()  # CI runs the README's command verbatim


def test_tensorrt_extras_pin_one_cuda_major_each():
    """``tensorrt>=8.6,<11`` with an unpinned cuda-python resolved to TensorRT 10.16 for CUDA 13
    and cuda-python 13.4, which refuse every driver below R580: each extra now holds one CUDA
    major, TensorRT and cuda-python alike."""
    from packaging.requirements import Requirement

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "tensorrt" not in extras
    for major in (12, 13):
        requirements = {
            r.name: r.specifier for r in map(Requirement, extras[f"tensorrt-cu{major}"])
        }
        assert set(requirements) == {f"tensorrt-cu{major}", "cuda-python"}
        cuda = requirements["cuda-python"]
        assert f"{major}.9.0" in cuda and f"{major + 1}.0.0" not in cuda
        assert f"{major - 1}.8.0" not in cuda
        tensorrt = requirements[f"tensorrt-cu{major}"]
        assert "10.16.1.11" in tensorrt and "11.0.0.114" not in tensorrt  # the audited API: 10.x
