"""The severity tables of ``params.py`` are the generator's, number for number.

``reference/severity_tables.json`` is extracted mechanically from the generator's source
(hendrycks/robustness ``make_cifar_c.py`` and ``make_imagenet_c.py``) by
``tools/severity_tables.py``; ``params.py`` was transcribed by hand. The statistical
reference tests check what the numbers do; this one checks the numbers themselves, so a typo
too small for any statistic to resolve (500 photons -> 501) still fails. With
``EDGEPRUNE_GENERATOR_DIR`` pointing at ``ImageNet-C/create_c``, the JSON itself is checked
against a fresh extraction.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeprune.data.corruptions import ALL
from edgeprune.data.corruptions.params import CIFAR, IMAGENET

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((Path(__file__).parent / "reference" / "severity_tables.json").read_text())
SETS = {"cifar": CIFAR, "imagenet": IMAGENET}


def _published(entry, reference_side: int, length_unit: float):
    """A generator table entry in params.py's form: lengths as fractions, arange as its args."""
    if isinstance(entry, list):
        return tuple(_published(e, reference_side, length_unit) for e in entry)
    if isinstance(entry, dict) and "arange" in entry:
        return tuple(entry["arange"])
    if isinstance(entry, dict):
        # IMSIZE * f (CIFAR) or 244 * f (ImageNet): params.py keeps f and says what
        # multiplies it (reference side x length unit)
        assert entry["times"] == pytest.approx(reference_side * length_unit, rel=1e-12)
        return entry["value"]
    return entry


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_tables_hold_the_generators_five_severities(set_name):
    parameter_set = SETS[set_name]
    published = REFERENCE[set_name]["tables"]
    assert set(published) == set(ALL) == set(parameter_set.table)
    for name in ALL:
        expected = _published(
            published[name], parameter_set.reference_side, parameter_set.elastic_length_unit
        )
        ours = _as_tuple(parameter_set.table[name])
        assert ours == expected, f"{set_name} {name}: {ours} != generator's {expected}"
        # same numbers and same types: an int radius or quality must not become a float
        for mine, theirs in zip(np.ravel(ours), np.ravel(expected)):
            assert type(mine) is type(theirs), f"{set_name} {name}: {mine!r} vs {theirs!r}"


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_tables_resize_frost_photographs_as_the_generator_does(set_name):
    assert SETS[set_name].frost_texture_scale == REFERENCE[set_name]["frost_resize"]


@pytest.mark.skipif(
    not os.environ.get("EDGEPRUNE_GENERATOR_DIR"),
    reason="set EDGEPRUNE_GENERATOR_DIR to hendrycks/robustness ImageNet-C/create_c",
)
def test_tables_reference_is_what_the_generator_holds():
    spec = importlib.util.spec_from_file_location(
        "severity_tables", ROOT / "tools" / "severity_tables.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.extract_all(Path(os.environ["EDGEPRUNE_GENERATOR_DIR"])) == REFERENCE


def test_tables_cannot_be_changed_at_run_time():
    """The published numbers are constants: neither a parameter set's fields nor its table
    can be reassigned by a caller (a plugin "tuning" a severity would silently stop being
    CIFAR-10-C)."""
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        CIFAR.reference_side = 33
    with pytest.raises(TypeError):
        IMAGENET.table["shot_noise"] = (1, 2, 3, 4, 5)
