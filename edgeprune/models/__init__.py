"""Model families edgeprune builds by name, and checkpoints that never execute pickled code."""

from edgeprune.models.checkpoint import (
    apply_structure,
    describe_structure,
    load_model,
    load_weights,
    save_model,
)
from edgeprune.models.zoo import MODELS, ModelSpec, create_model

__all__ = [
    "MODELS",
    "ModelSpec",
    "apply_structure",
    "create_model",
    "describe_structure",
    "load_model",
    "load_weights",
    "save_model",
]
