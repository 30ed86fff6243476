"""Mutation testing of the modules where a silent bug changes a safety figure.

    python tools/mutation.py                      # every group, 2 workers
    python tools/mutation.py --groups metrics     # one group
    python tools/mutation.py --module edgeprune/metrics/calibration.py --list

Each mutant is one small change to one module (``<`` -> ``<=``, ``+`` -> ``-``, ``and`` ->
``or``, a constant, a keyword string such as ``side="right"`` -> ``side="left"`` ...). A mutant
is *killed* when the module's tests fail on it, and *survives* when they pass: then either a
test is missing, or the mutant is equivalent (no behaviour changes), which
``docs/testing.md`` lists with a one-line reason. The tool prints the kill rate per module,
non-equivalent mutants only, and every survivor with its location.

Why our own tool and not mutmut or cosmic-ray: mutmut 3 copies the sources into a
``mutants/`` tree and imports them from there, which this layout defeats (``export/`` and
``targets/`` are mapped into the ``edgeprune`` namespace by ``package-dir``); cosmic-ray
works, but starts the test command afresh per mutant (numpy, scipy and pytest imports: about
2 s of every run here). This tool never writes a source file: a forked child imports the
mutated module from memory through an import hook, so the checkout stays clean if it is
killed, two mutants run in parallel, and each child starts with numpy, scipy and pytest
already imported.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"

# Module -> the tests that cover it, grouped as the issue names them.
GROUPS: dict[str, dict[str, list[str]]] = {
    "metrics": {
        "edgeprune/metrics/calibration.py": [
            "tests/metrics/test_calibration.py",
            "tests/metrics/test_calibration_properties.py",
        ],
        "edgeprune/metrics/classification.py": ["tests/metrics/test_classification.py"],
        "edgeprune/metrics/corruption.py": ["tests/metrics/test_corruption_metrics.py"],
        "edgeprune/metrics/explanation.py": ["tests/metrics/test_explanation_metrics.py"],
        "edgeprune/metrics/ssim.py": ["tests/metrics/test_explanation_metrics.py"],
        "edgeprune/metrics/fidelity.py": ["tests/metrics/test_fidelity.py"],
    },
    "selection": {
        f"edgeprune/selection/{name}.py": ["tests/selection"]
        for name in ("constraints", "limits", "pareto", "pe")
    },
    "results": {
        # the record model and the deltas selection reads; the resume test of version-1
        # entries runs a whole compress and belongs to the resume group's cost
        f"edgeprune/results/{name}.py": [
            "tests/results/test_records.py",
            "tests/results/test_results_model.py",
            "tests/selection",
            "-k",
            "not resuming",
        ]
        for name in ("entry", "run", "decision", "merge", "v1")
    },
    "files": {
        "edgeprune/files.py": ["tests/test_files.py", "tests/test_storage.py"],
        "edgeprune/data/corrupted_sets.py": ["tests/data/test_corrupted_sets.py"],
    },
    "resume": {
        module: [
            "tests/test_pipeline.py::test_interrupted_run_resumes_without_recomputing",
            "tests/test_pipeline.py::"
            "test_resumed_sweep_with_preparation_variants_and_recalibration_recomputes_nothing",
        ]
        for module in ("edgeprune/pipeline.py", "edgeprune/measure/path.py")
    },
    "corruption-parameters": {
        "edgeprune/data/corruptions/params.py": [
            "tests/data/test_severity_tables.py",
            "tests/data/test_corruptions.py",
            "tests/data/test_corruption_reference.py",
            "-k",
            "tables or reference or monotone or 224 or parameter_sets or larger_images",
        ],
    },
}
# Modules of which only some functions are in scope: the resume decisions of the sweep and
# of the measurement path (the rest of them is what every other test exercises).
ONLY_FUNCTIONS = {
    "edgeprune/pipeline.py": {
        "open_run_dir",
        "prepare_bundle",
        "baseline_model",
        "prepared_model",
        "candidate_model",
        "measure_fp32",
        "measure_variants",
        "_sweep",
    },
    "edgeprune/measure/path.py": {"run_artifact", "recalibrate", "measure_entry"},
}


# ----------------------------------------------------------------------------- mutants

_COMPARE_SWAPS = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
_BINOP_SWAPS = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div,),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Div,),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
}
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
    ast.And: "and", ast.Or: "or",
}  # fmt: skip
# Known string choices a keyword may flip between (the value a bug would pick instead).
_STRING_SWAPS = {"right": "left", "left": "right", "mean": "sum", "sum": "mean", "max": "min"}
# Calls whose arguments are messages, not behaviour.
_QUIET_CALLS = {"progress", "print", "warn", "say", "_log", "EdgepruneError", "ValueError"}


@dataclass(frozen=True)
class Site:
    index: int
    line: int
    description: str
    function: str  # the enclosing function ("" at module level)


class _Mutator(ast.NodeTransformer):
    """Numbers every possible mutation in one fixed order; applies the ``target``-th one."""

    def __init__(self, target: int = -1) -> None:
        self.target = target
        self.sites: list[Site] = []
        self.functions: list[str] = []

    def _offer(self, node: ast.AST, description: str) -> bool:
        index = len(self.sites)
        function = self.functions[-1] if self.functions else ""
        # the same change twice on one line is told apart by its order: "1 -> 0 #2"
        earlier = sum(s.line == node.lineno and s.description.split(" #")[0] == description
                      for s in self.sites)  # fmt: skip
        if earlier:
            description = f"{description} #{earlier + 1}"
        self.sites.append(Site(index, node.lineno, description, function))
        return index == self.target

    # Subtrees that carry no behaviour a test should pin down.
    def visit_JoinedStr(self, node):  # f-strings: messages
        return node

    def visit_Raise(self, node):  # raising is checked by type, its message by the bad-input table
        return node

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant):  # docstrings
            return node
        return self.generic_visit(node)

    def visit_Call(self, node):
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name in _QUIET_CALLS:
            return node
        for keyword in node.keywords:
            value = keyword.value
            if isinstance(value, ast.Constant) and value.value in _STRING_SWAPS:
                new = _STRING_SWAPS[value.value]
                if self._offer(value, f'{keyword.arg}="{value.value}" -> "{new}"'):
                    keyword.value = ast.copy_location(ast.Constant(new), value)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        node.returns = None  # annotations do nothing at run time
        for arg in node.args.args + node.args.kwonlyargs:
            arg.annotation = None
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self.functions.append(node.name)
        node.body = [self.visit(s) for s in node.body]
        self.functions.pop()
        node.args.defaults = [self.visit(d) for d in node.args.defaults]
        node.args.kw_defaults = [d if d is None else self.visit(d) for d in node.args.kw_defaults]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node):
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_Compare(self, node):
        for i, op in enumerate(node.ops):
            for new in _COMPARE_SWAPS.get(type(op), ()):
                if self._offer(node, f"{_SYMBOL[type(op)]} -> {_SYMBOL[new]}"):
                    node.ops[i] = new()
        return self.generic_visit(node)

    def visit_BinOp(self, node):
        for new in _BINOP_SWAPS.get(type(node.op), ()):
            if self._offer(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}"):
                node.op = new()
        return self.generic_visit(node)

    def visit_AugAssign(self, node):
        for new in _BINOP_SWAPS.get(type(node.op), ()):
            if self._offer(node, f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[new]}="):
                node.op = new()
        return self.generic_visit(node)

    def visit_BoolOp(self, node):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._offer(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}"):
            node.op = new()
        return self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, (ast.Not, ast.USub)):
            symbol = "not" if isinstance(node.op, ast.Not) else "-"
            if self._offer(node, f"drop {symbol}"):
                return self.visit(node.operand)
        return self.generic_visit(node)

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool):
            if self._offer(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int):
            new = value + 1 if value != 1 else 0
            if self._offer(node, f"{value} -> {new}"):
                return ast.copy_location(ast.Constant(new), node)
        elif isinstance(value, float):
            new = value * 2 if value else 1.0
            if self._offer(node, f"{value!r} -> {new!r}"):
                return ast.copy_location(ast.Constant(new), node)
        return node


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def mutation_sites(path: Path) -> list[Site]:
    mutator = _Mutator()
    mutator.visit(_tree(path))
    sites = _without_excluded(path, mutator.sites)
    only = ONLY_FUNCTIONS.get(path.relative_to(ROOT).as_posix())
    return [s for s in sites if only is None or s.function in only]


def _without_excluded(path: Path, sites: list[Site]) -> list[Site]:
    """Lines marked ``# pragma: no mutate`` (with the reason beside it) are left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s for s in sites if "pragma: no mutate" not in lines[s.line - 1]]


def mutated_code(path: Path, site: Site):
    tree = copy.deepcopy(_tree(path))
    mutator = _Mutator(site.index)
    tree = ast.fix_missing_locations(mutator.visit(tree))
    return compile(tree, str(path), "exec")


# ----------------------------------------------------------------------------- running


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module from a code object instead of its file."""

    def __init__(self, name: str, path: Path, code) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.code, module.__dict__)


def _module_name(relative: str) -> str:
    return relative[: -len(".py")].replace("/", ".")


def _start(relative: str, tests: list[str], code) -> int:
    """Fork a child that runs ``tests`` with ``relative`` replaced by ``code`` (None: as is)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.pycache_prefix = tempfile.mkdtemp(prefix="mutation-pyc-")
        if code is not None:
            sys.meta_path.insert(0, _MutantFinder(_module_name(relative), ROOT / relative, code))
        import pytest

        flags = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts="]
        code = pytest.main([*flags, "--import-mode=importlib", "-m", "not slow", *tests])
        os._exit(int(code))
    except BaseException:  # noqa: BLE001  a child must never return into the parent's loop
        os._exit(99)


def _poll(pid: int) -> int | None:
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


def _kill(pid: int) -> None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)


@dataclass
class Outcome:
    relative: str
    site: Site
    result: str  # killed | timeout | survived | equivalent


def _baseline_seconds(relative: str, tests: list[str]) -> float:
    started = time.monotonic()
    pid = _start(relative, tests, None)
    while (code := _poll(pid)) is None:
        time.sleep(0.05)
    if code != 0:
        raise SystemExit(f"{relative}: its tests fail unmutated (exit {code}): {' '.join(tests)}")
    return time.monotonic() - started


def run_module(
    relative: str, tests: list[str], workers: int, equivalents: set[str]
) -> list[Outcome]:
    """Every mutant of one module against its tests, ``workers`` at a time."""
    timeout = 3 * _baseline_seconds(relative, tests) + 10  # an endless loop is a kill
    path = ROOT / relative
    pending = list(mutation_sites(path))
    running: dict[int, tuple[Site, float]] = {}
    outcomes = []
    while pending or running:
        while pending and len(running) < workers:
            site = pending.pop(0)
            if key_of(relative, site, path) in equivalents:
                outcomes.append(Outcome(relative, site, "equivalent"))
                continue
            pid = _start(relative, tests, mutated_code(path, site))
            running[pid] = (site, time.monotonic())
        for pid, (site, begun) in list(running.items()):
            code = _poll(pid)
            if code is None and time.monotonic() - begun > timeout:
                _kill(pid)
                code = -9
            if code is not None:
                del running[pid]
                result = "survived" if code == 0 else "timeout" if code == -9 else "killed"
                outcomes.append(Outcome(relative, site, result))
        time.sleep(0.02)
    return sorted(outcomes, key=lambda o: o.site.index)


def key_of(relative: str, site: Site, path: Path) -> str:
    """How docs/testing.md names a mutant: file, the line's code, the change."""
    line = path.read_text(encoding="utf-8").splitlines()[site.line - 1].strip()
    return f"{relative} | {line} | {site.description}"


def read_equivalents() -> set[str]:
    """The ``| file | code | change | reason |`` rows of docs/testing.md's equivalents table."""
    if not DOC.exists():
        return set()
    rows = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) == 4 and cells[0].endswith(".py"):
            code = cells[1].strip("`").replace("\\|", "|")
            rows.add(f"{cells[0]} | {code} | {cells[2].strip('`')}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", default=",".join(GROUPS), help="comma-separated groups")
    parser.add_argument("--module", help="one module (path from the repository root)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args(argv)
    modules = {m: t for g in args.groups.split(",") for m, t in GROUPS[g].items()}
    if args.module:
        modules = {args.module: modules.get(args.module) or _find_tests(args.module)}
    if args.list:
        for relative in modules:
            for site in mutation_sites(ROOT / relative):
                print(f"{relative}:{site.line}: {site.description}")
        return 0
    sys.path.insert(0, str(ROOT))
    import numpy  # noqa: F401  imported once here, shared by every forked child
    import pytest  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.stats  # noqa: F401

    equivalents = read_equivalents()
    began = time.monotonic()
    survivors, table = [], []
    for relative, tests in modules.items():
        t0 = time.monotonic()
        outcomes = run_module(relative, tests, args.workers, equivalents)
        counted = [o for o in outcomes if o.result != "equivalent"]
        killed = sum(o.result in ("killed", "timeout") for o in counted)
        rate = 100 * killed / len(counted) if counted else 100.0
        table.append(
            (relative, len(outcomes), len(outcomes) - len(counted), killed, len(counted), rate)
        )
        print(f"{relative}: {killed}/{len(counted)} killed ({rate:.1f} %), "
              f"{len(outcomes) - len(counted)} equivalent, {time.monotonic() - t0:.0f} s", flush=True)  # fmt: skip
        for o in outcomes:
            if o.result == "survived":
                survivors.append(o)
                print(f"  survived {_where(o)}", flush=True)
    print()
    print("| module | mutants | equivalent | killed | kill rate |")
    print("|---|---:|---:|---:|---:|")
    for relative, total, equivalent, killed, counted, rate in table:
        print(f"| {relative} | {total} | {equivalent} | {killed}/{counted} | {rate:.1f} % |")
    print()
    print(f"{len(survivors)} survivors ({time.monotonic() - began:.0f} s):")
    for o in survivors:
        print(f"  {_where(o)}")
    return 0


def _where(o: Outcome) -> str:
    code = key_of(o.relative, o.site, ROOT / o.relative).split(" | ")[1]
    return f"{o.relative}:{o.site.line}: {o.site.description}    [{code}]"


def _find_tests(relative: str) -> list[str]:
    for group in GROUPS.values():
        if relative in group:
            return group[relative]
    raise SystemExit(f"{relative}: no tests mapped; add it to GROUPS in {Path(__file__).name}")


if __name__ == "__main__":
    sys.exit(main())
