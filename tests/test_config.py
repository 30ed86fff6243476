from __future__ import annotations

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from edgeprune.config import RunConfig, build_config, parse_ratios, read_config_file
from edgeprune.errors import EdgepruneError


def test_flags_override_file_and_file_overrides_defaults():
    config = build_config({"finetune-epochs": 7, "seed": 3}, {"seed": "5"})
    assert config.train.finetune_epochs == 7
    assert config.data.seed == 5
    assert config.train.train_epochs == RunConfig().train.train_epochs


def test_ratio_forms():
    assert parse_ratios("0.25,0.5,0.75") == (0.25, 0.5, 0.75)
    assert parse_ratios("0.1:0.9:0.1") == tuple(round(0.1 * i, 6) for i in range(1, 10))
    assert parse_ratios([0.5, 0.25, 0.5]) == (0.25, 0.5)


@pytest.mark.parametrize("bad", ["1.0", "0", "-0.2,0.5", "a,b", "0.1:0.9:0", ""])
def test_bad_ratios_are_user_errors(bad):
    with pytest.raises(EdgepruneError):
        parse_ratios(bad)


def test_written_run_toml_is_a_valid_config_that_reproduces_the_run():
    config = build_config(
        {}, {"ratios": "0.3,0.6", "target": "jetson-orin", "ignore-layers": "a,b"}
    )
    again = build_config(tomllib.loads(config.to_toml()))
    assert again == config


def test_unknown_key_names_the_closest_one(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("finetune-epoch = 3\n")
    with pytest.raises(EdgepruneError, match="did you mean 'finetune-epochs'"):
        read_config_file(path)


def test_malformed_toml_is_a_user_error(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("ratios = [0.5,\n")
    with pytest.raises(EdgepruneError, match="not valid TOML"):
        read_config_file(path)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"finetune-epochs": -1}, "finetune-epochs"),
        ({"seed": 1.5}, "seed must be int"),
        ({"allocation": "layerwise"}, "allocation"),
        ({"precision": "fp8"}, "precision"),
        ({"latency-iterations": 3}, "latency-iterations"),
    ],
)
def test_invalid_values(values, message):
    with pytest.raises(EdgepruneError, match=message):
        build_config(values)
