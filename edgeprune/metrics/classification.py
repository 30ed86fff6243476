"""Softmax and accuracy on the host, in float64, from an artifact's logits."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 (metrics never see float32 rounding of p)."""
    return np.exp(log_softmax(logits))


def accuracy(logits_or_probs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy as a fraction in [0, 1]."""
    predictions = np.asarray(logits_or_probs).argmax(axis=1)
    return float(np.mean(predictions == np.asarray(labels)))


def topk_accuracy(logits_or_probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores."""
    scores = np.asarray(logits_or_probs)
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.mean((top == np.asarray(labels)[:, None]).any(axis=1)))


def per_class_accuracy(
    logits_or_probs: np.ndarray, labels: np.ndarray, num_classes: int
) -> np.ndarray:
    """Accuracy of each class (NaN for a class absent from ``labels``)."""
    labels = np.asarray(labels)
    correct = np.asarray(logits_or_probs).argmax(axis=1) == labels
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    hits = np.bincount(labels, weights=correct, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / counts
