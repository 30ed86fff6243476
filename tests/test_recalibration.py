"""Post-hoc logit scaling: agreement with netcal's temperature scaling, its properties, and
the scaling built into the deployed ONNX graph."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeprune.metrics import negative_log_likelihood, softmax
from edgeprune.recalibration import RECALIBRATIONS, fit_temperature, fit_vector


def _logits(seed: int, n: int = 2000, classes: int = 10, sharpness: float = 1.0):
    """Logits of a perfectly calibrated source (labels drawn from softmax(z)), times
    ``sharpness``: > 1 makes the model over-confident, < 1 under-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, classes)) * 2.0
    p = softmax(z)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return z * sharpness, labels


@pytest.mark.parametrize("seed, sharpness", [(0, 3.0), (1, 0.4), (2, 1.0), (7, 5.0)])
def test_temperature_agrees_with_netcal(seed, sharpness):
    netcal = pytest.importorskip("netcal.scaling", reason="netcal is a test dependency")
    logits, labels = _logits(seed, sharpness=sharpness)
    ours = fit_temperature(logits, labels)
    reference = netcal.TemperatureScaling()
    reference.fit(softmax(logits), labels)
    # netcal stores the inverse temperature (the weight on the log-probabilities)
    assert ours.temperature == pytest.approx(1.0 / float(reference.temperature[0]), rel=1e-3)


def test_where_netcal_clips_probabilities_ours_has_the_lower_nll():
    """netcal fits on log-probabilities it clips at about 1e-16, which changes extremely
    confident logits (here probabilities reach 1e-43): its temperature is then 4 % off, and
    the NLL of the real logits says ours is the better fit."""
    netcal = pytest.importorskip("netcal.scaling", reason="netcal is a test dependency")
    logits, labels = _logits(3, sharpness=8.0)
    ours = fit_temperature(logits, labels)
    reference = netcal.TemperatureScaling()
    reference.fit(softmax(logits), labels)
    theirs = 1.0 / float(reference.temperature[0])
    assert negative_log_likelihood(logits / ours.temperature, labels) < negative_log_likelihood(
        logits / theirs, labels
    )


def test_an_overconfident_model_gets_a_temperature_above_one_and_back_to_the_truth():
    logits, labels = _logits(4, sharpness=3.0)
    fit = fit_temperature(logits, labels)
    assert fit.temperature == pytest.approx(3.0, rel=0.1)  # it undoes the sharpening
    assert fit_temperature(*_logits(5, sharpness=0.5)).temperature < 1.0
    assert fit.nll_after < fit.nll_before and fit.n == 2000 and fit.iterations > 0


logit_sets = st.tuples(
    st.integers(0, 2**31 - 1), st.integers(20, 300), st.integers(2, 8), st.floats(0.05, 20.0)
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(logit_sets)
def test_scaling_never_raises_validation_nll_and_temperature_keeps_the_argmax(sample):
    seed, n, classes, scale = sample
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * scale
    labels = rng.integers(0, classes, n)
    for name in RECALIBRATIONS.names():
        fit = RECALIBRATIONS.get(name).fit(logits, labels)
        assert fit.nll_after <= fit.nll_before + 1e-12
        assert negative_log_likelihood(fit.apply(logits).astype(np.float64), labels) == (
            pytest.approx(fit.nll_after, rel=1e-5, abs=1e-6)
        )
    temperature = fit_temperature(logits, labels)
    assert temperature.temperature > 0
    assert np.array_equal(temperature.apply(logits).argmax(1), logits.argmax(1))


def test_vector_scaling_removes_a_class_bias_that_one_temperature_cannot():
    logits, labels = _logits(6, sharpness=2.0)
    logits[:, 3] += 1.5
    temperature, vector = fit_temperature(logits, labels), fit_vector(logits, labels)
    assert vector.nll_after < temperature.nll_after
    assert len(vector.weight) == len(vector.bias) == 10
    assert vector.bias[3] < vector.bias[0]


def test_vector_scaling_does_not_overfit_a_small_separable_validation_split():
    """200 confident, almost always right predictions: unpenalised, vector scaling drives the
    validation NLL to zero with weights that grow without bound; cross-validation keeps a
    penalty and the held-out images keep a sane NLL."""
    logits, labels = _logits(8, n=400, sharpness=4.0)
    fit = fit_vector(logits[:200], labels[:200])
    assert fit.l2 > 0 and max(abs(w) for w in fit.weight) < 10
    held_out = negative_log_likelihood(fit.apply(logits[200:]).astype(np.float64), labels[200:])
    assert held_out < 2 * negative_log_likelihood(logits[200:], labels[200:])


@pytest.mark.parametrize("method", ["temperature", "vector"])
def test_the_scaling_in_the_graph_is_the_fitted_one_and_leaves_the_features_alone(tmp_path, method):
    import torch

    from edgeprune.export import export_onnx
    from edgeprune.export.scaling import append_scaling
    from edgeprune.models.small_resnet import SmallResNet
    from edgeprune.targets.runners.onnxruntime_runner import OnnxRuntimeRunner

    torch.manual_seed(0)
    exported = export_onnx(SmallResNet(10).eval(), tmp_path / "model.onnx", (3, 32, 32))
    batch = np.random.default_rng(0).standard_normal((16, 3, 32, 32)).astype(np.float32)
    with OnnxRuntimeRunner(exported.path) as runner:
        raw = runner.infer({"input": batch})
    labels = raw["logits"].argmax(1)
    fit = RECALIBRATIONS.get(method).fit(raw["logits"] * 4.0, labels)
    scaled_path = append_scaling(exported.path, tmp_path / "model.calibrated.onnx", fit)
    with OnnxRuntimeRunner(scaled_path) as runner:
        scaled = runner.infer({"input": batch})
        assert runner.output_names == ["logits", "features"]  # names and order kept
    np.testing.assert_allclose(scaled["logits"], fit.apply(raw["logits"]), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(scaled["features"], raw["features"])
