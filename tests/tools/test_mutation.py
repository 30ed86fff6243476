"""tools/mutation.py: its mutants are the changes it names, and a run kills what tests catch."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION = ROOT / "edgeprune" / "metrics" / "calibration.py"


def _tool():
    spec = importlib.util.spec_from_file_location("mutation", ROOT / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_the_bin_edge_mutant_exists_and_changes_the_binning():
    """The issue's first survivor: side="right" -> "left" in the bin assignment."""
    tool = _tool()
    sites = [s for s in tool.mutation_sites(CALIBRATION) if 'side="right"' in s.description]
    assert len(sites) == 1 and sites[0].function == "_uniform_bin_index"
    mutant = types.ModuleType("calibration_mutant")
    sys.modules[mutant.__name__] = mutant  # its dataclasses look their module up by name
    exec(tool.mutated_code(CALIBRATION, sites[0]), mutant.__dict__)
    edge = np.array([0.2])  # exactly on an edge of 5 bins: bin 1, the mutant puts it in bin 0
    assert mutant._uniform_bin_index(edge, 5)[0] == 0
    from edgeprune.metrics.calibration import _uniform_bin_index

    assert _uniform_bin_index(edge, 5)[0] == 1


def test_messages_docstrings_and_annotations_are_not_mutated(tmp_path):
    tool = _tool()
    source = tmp_path / "m.py"
    source.write_text(
        '"""Doc 1."""\n'
        "def f(x: int = 3) -> int:\n"
        '    """Doc 2."""\n'
        "    if x < 0:\n"
        '        raise ValueError(f"bad {x + 1}")\n'
        "    return x + 1  # pragma: no mutate (an example)\n"
    )
    monkey = {s.description for s in tool._without_excluded(source, _all_sites(tool, source))}
    assert monkey == {"3 -> 4", "< -> <=", "< -> >", "0 -> 1"}


def _all_sites(tool, path):
    mutator = tool._Mutator()
    mutator.visit(tool._tree(path))
    return mutator.sites
