"""Post-hoc scaling of the logits, fitted on held-out data: temperature scaling (Guo et al.
2017) and its generalisation, vector scaling (one weight and one bias per class).

The fit minimises the negative log-likelihood on the validation split, from the logits of
the very artifact that will ship (an INT8 artifact from its own INT8 outputs), starting at
the identity, so the validation NLL never increases: where the optimiser finds no better
point the identity is kept. The fitted scaling then becomes part of the deployed graph
(``edgeprune.export.scaling``). Temperature scaling never changes the argmax, so accuracy
is unchanged; vector scaling may change it.

numpy and scipy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from edgeprune.metrics import log_softmax, negative_log_likelihood, softmax
from edgeprune.registry import Registry

NONE = "none"
LOG_T_BOUNDS = (-6.0, 6.0)  # temperatures from 0.0025 to 403: far past any useful one


@dataclass(frozen=True)
class Fit:
    """A fitted scaling: ``logits / temperature``, or ``logits * weight + bias``."""

    method: str
    temperature: float | None  # temperature scaling
    weight: list[float] | None  # vector scaling, one per class
    bias: list[float] | None
    nll_before: float  # on the validation split, before and after
    nll_after: float
    iterations: int
    n: int  # validation images
    objective: str = "NLL on the validation split"
    l2: float | None = None  # vector scaling: the penalty toward the identity, cross-validated

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """The scaled logits, in the float32 arithmetic the deployed graph uses."""
        z = np.asarray(logits, dtype=np.float32)
        if self.temperature is not None:
            return z / np.float32(self.temperature)
        return z * np.asarray(self.weight, np.float32) + np.asarray(self.bias, np.float32)

    def describe(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Fit:
        return cls(**data)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> Fit:
    """T > 0 minimising NLL(logits / T): a one-dimensional search over log T (bounded Brent),
    the NLL being convex in 1 / T."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    before = negative_log_likelihood(z, labels)
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(z / np.exp(log_t), labels),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-10},
    )
    temperature, after = float(np.exp(result.x)), float(result.fun)
    if not after < before:  # never worse on validation than no scaling
        temperature, after = 1.0, before
    return Fit("temperature", temperature, None, None, before, after, int(result.nfev), len(z))


# Vector scaling has 2C parameters; on a small validation split (the digits demo: 179
# images) the unpenalised fit separates the split perfectly and its weights grow without
# bound (measured: validation NLL 0.04 -> 0.0000, test NLL 0.02 -> 0.44, accuracy -1.1 pp).
# An L2 penalty pulls it toward the identity, its weight chosen by cross-validation.
L2_GRID = (0.0, 1e-3, 1e-2, 1e-1, 1.0)
FOLDS = 5


def _vector_objective(params: np.ndarray, z: np.ndarray, onehot: np.ndarray, l2: float):
    classes = z.shape[1]
    weight, bias = params[:classes], params[classes:]
    scaled = z * weight + bias
    nll = -np.mean(np.sum(onehot * log_softmax(scaled), axis=1))
    grad_scaled = (softmax(scaled) - onehot) / len(z)
    grad = np.concatenate([np.sum(grad_scaled * z, axis=0), np.sum(grad_scaled, axis=0)])
    away = params - np.concatenate([np.ones(classes), np.zeros(classes)])
    return nll + 0.5 * l2 * float(away @ away), grad + l2 * away


def _vector_params(z: np.ndarray, onehot: np.ndarray, l2: float):
    from scipy.optimize import minimize

    classes = z.shape[1]
    start = np.concatenate([np.ones(classes), np.zeros(classes)])
    result = minimize(
        _vector_objective, start, args=(z, onehot, l2), jac=True, method="L-BFGS-B",
        options={"maxiter": 1000, "gtol": 1e-9},
    )  # fmt: skip
    return result.x, int(result.nit)


def _apply_vector(params: np.ndarray, z: np.ndarray) -> np.ndarray:
    classes = z.shape[1]
    return z * params[:classes] + params[classes:]


def fit_vector(logits: np.ndarray, labels: np.ndarray) -> Fit:
    """Per-class weight and bias minimising NLL(logits * w + b) + l2/2 |(w, b) - identity|^2,
    L-BFGS from the identity; ``l2`` is the grid value with the lowest held-out NLL over
    5-fold cross-validation on the validation split. The penalty is zero at the identity,
    so the validation NLL still never rises above the unscaled one."""
    z = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    classes = z.shape[1]
    onehot = np.eye(classes)[labels]
    folds = np.random.default_rng(0).permutation(len(z)) % FOLDS
    held_out = {}
    for l2 in L2_GRID:
        losses = []
        for k in range(FOLDS):
            train, test = folds != k, folds == k
            if not test.any() or not train.any():
                continue
            params, _ = _vector_params(z[train], onehot[train], l2)
            losses.append(negative_log_likelihood(_apply_vector(params, z[test]), labels[test]))
        held_out[l2] = float(np.mean(losses)) if losses else float("inf")
    l2 = min(L2_GRID, key=lambda value: held_out[value])
    params, iterations = _vector_params(z, onehot, l2)
    before = negative_log_likelihood(z, labels)
    after = negative_log_likelihood(_apply_vector(params, z), labels)
    if not after < before:
        params, after = np.concatenate([np.ones(classes), np.zeros(classes)]), before
    weight, bias = params[:classes].tolist(), params[classes:].tolist()
    return Fit("vector", None, weight, bias, before, after, iterations, len(z), l2=l2)


@dataclass(frozen=True)
class Scaling:
    fit: Callable[[np.ndarray, np.ndarray], Fit]  # (validation logits, labels) -> Fit
    description: str
    keeps_argmax: bool


RECALIBRATIONS: Registry[Scaling] = Registry("recalibration")
RECALIBRATIONS.register(
    "temperature", Scaling(fit_temperature, "logits / T (Guo et al. 2017)", keeps_argmax=True)
)
RECALIBRATIONS.register(
    "vector", Scaling(fit_vector, "logits * w + b, per class (Guo et al. 2017)", keeps_argmax=False)
)


def recalibration_choices() -> tuple[str, ...]:
    return (NONE, *RECALIBRATIONS.names())
