"""Accuracy, top-k, per-class accuracy and the softmax family against scikit-learn and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special
from sklearn import metrics as sk

from edgeprune.metrics.classification import (
    accuracy,
    log_softmax,
    per_class_accuracy,
    softmax,
    topk_accuracy,
)


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(11)
    logits = rng.normal(0, 3, (500, 7))
    labels = np.where(rng.uniform(size=500) < 0.6, logits.argmax(axis=1), rng.integers(0, 7, 500))
    return logits, labels


def test_accuracy_agrees_with_scikit_learn(predictions):
    logits, labels = predictions
    expected = sk.accuracy_score(labels, logits.argmax(axis=1))
    assert accuracy(logits, labels) == pytest.approx(expected, abs=1e-15)
    assert 0.5 < expected < 0.8  # neither trivially right nor wrong


@pytest.mark.parametrize("k", [1, 2, 3, 7, 9])
def test_topk_agrees_with_scikit_learn(predictions, k):
    logits, labels = predictions
    expected = sk.top_k_accuracy_score(labels, logits, k=min(k, 7), labels=np.arange(7))
    assert topk_accuracy(logits, labels, k) == pytest.approx(expected, abs=1e-15)


def test_per_class_accuracy_is_the_recall_of_each_class(predictions):
    logits, labels = predictions
    recall = sk.recall_score(labels, logits.argmax(axis=1), average=None, labels=np.arange(7))
    np.testing.assert_allclose(per_class_accuracy(logits, labels, 7), recall, atol=1e-15)
    absent = per_class_accuracy(logits[labels != 3], labels[labels != 3], 7)
    assert np.isnan(absent[3]) and not np.isnan(absent[[0, 1, 2, 4, 5, 6]]).any()


def test_softmax_family_agrees_with_scipy_even_for_extreme_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [-5.0, 3.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(log_softmax(logits), special.log_softmax(logits, axis=1), atol=1e-12)
    np.testing.assert_allclose(softmax(logits), special.softmax(logits, axis=1), atol=1e-15)
    assert np.isfinite(log_softmax(logits)).all()
