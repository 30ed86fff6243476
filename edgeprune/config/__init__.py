"""Run configuration in sections (data, train, prune, export, measure, explain, select,
device), one flat set of flags and TOML keys for the user. See ``run_config``."""

from edgeprune.config.options import full_help, key_of, option
from edgeprune.config.run_config import (
    BASELINE_KEYS,
    FIELDS,
    OPTIONS,
    RESULT_KEYS,
    RunConfig,
    baseline_options,
    build_config,
    parse_layer_ratios,
    parse_ratios,
    read_config_file,
    section_keys,
    validate,
)
from edgeprune.config.sections import (
    DataConfig,
    DeviceConfig,
    ExplainConfig,
    ExportConfig,
    MeasureConfig,
    PruneConfig,
    SelectConfig,
    TrainConfig,
)

__all__ = [
    "BASELINE_KEYS",
    "FIELDS",
    "OPTIONS",
    "RESULT_KEYS",
    "DataConfig",
    "DeviceConfig",
    "ExplainConfig",
    "ExportConfig",
    "MeasureConfig",
    "PruneConfig",
    "RunConfig",
    "SelectConfig",
    "TrainConfig",
    "baseline_options",
    "build_config",
    "full_help",
    "key_of",
    "option",
    "parse_layer_ratios",
    "parse_ratios",
    "read_config_file",
    "section_keys",
    "validate",
]
