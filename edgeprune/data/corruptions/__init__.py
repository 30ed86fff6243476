"""Natural corruptions of CIFAR-10-C / ImageNet-C, batched and vectorised.

``corrupt(images, name, severity, seed)`` applies one of the 19 corruptions (15 benchmark
ones in four groups plus 4 held-out ones) to a uint8 batch (N, H, W, 3). Each corruption
is also a plain callable ``(images, severity, rng) -> images`` in ``CORRUPTIONS``.
Parameters come from the public generator (hendrycks/robustness, see ``params``); the
implementation is ours. docs/corruptions.md describes each one and how close it is to
the generator.
"""

from edgeprune.data.corruptions.params import (
    CIFAR,
    IMAGENET,
    ParameterSet,
    parameter_set_for,
    severity_params,
)
from edgeprune.data.corruptions.suite import (
    ALL,
    BENCHMARK,
    CORRUPTIONS,
    DETERMINISTIC,
    GENERATOR_VERSION,
    GROUP_OF,
    GROUPS,
    HELD_OUT,
    SEVERITIES,
    Corruption,
    block_size,
    corrupt,
    is_deterministic,
)
from edgeprune.data.corruptions.weather import make_frost

__all__ = [
    "ALL",
    "BENCHMARK",
    "CIFAR",
    "CORRUPTIONS",
    "DETERMINISTIC",
    "GENERATOR_VERSION",
    "GROUPS",
    "GROUP_OF",
    "HELD_OUT",
    "IMAGENET",
    "SEVERITIES",
    "Corruption",
    "ParameterSet",
    "block_size",
    "corrupt",
    "is_deterministic",
    "make_frost",
    "parameter_set_for",
    "severity_params",
]
