"""SSIM against scikit-image; HCC and PE-score on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeprune.errors import EdgepruneError
from edgeprune.metrics.explanation import (
    PESettings,
    hcc,
    hcc_per_image,
    iou,
    pe_components,
    pe_score,
)
from edgeprune.metrics.ssim import ssim

structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity


def _map_pairs(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    b = np.clip(a + 0.3 * rng.standard_normal(shape), 0.0, 1.0)
    b[0] = rng.random(shape[1:])  # an unrelated pair
    return a, b


# ------------------------------------------------------------------------------------ SSIM


@pytest.mark.parametrize("shape", [(4, 32, 32), (3, 7, 7), (3, 17, 40), (2, 64, 31)])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"win_size": 3},
        {"win_size": 5, "use_sample_covariance": False},
        {"gaussian_weights": True},
        {"gaussian_weights": True, "win_size": 7, "sigma": 1.0},
        {"K1": 0.05, "K2": 0.1},
    ],
)
def test_ssim_matches_skimage(shape, options):
    a, b = _map_pairs(shape, seed=sum(shape))
    ours = ssim(a, b, data_range=1.0, **options)
    reference = [
        structural_similarity(x, y, data_range=1.0, **{"win_size": 7, **options})
        for x, y in zip(a, b)
    ]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


def test_ssim_default_gaussian_window_matches_skimage():
    a, b = _map_pairs((3, 32, 32), seed=7)
    ours = ssim(a, b, win_size=None, gaussian_weights=True, data_range=2.0)
    reference = [
        structural_similarity(x, y, gaussian_weights=True, data_range=2.0) for x, y in zip(a, b)
    ]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


def test_ssim_of_identical_maps_is_one_and_checks_arguments():
    a, _ = _map_pairs((2, 16, 16), seed=1)
    np.testing.assert_allclose(ssim(a, a), 1.0)
    with pytest.raises(EdgepruneError, match="exceeds the map size"):
        ssim(a[:, :5, :5], a[:, :5, :5])
    with pytest.raises(EdgepruneError, match="odd"):
        ssim(a, a, win_size=4)
    with pytest.raises(EdgepruneError, match="equal shape"):
        ssim(a, a[:, :, :8])


# ------------------------------------------------------------------------------------- HCC


def test_hcc_identical_negated_and_constant_maps():
    a, b = _map_pairs((5, 32, 32), seed=3)
    assert hcc(a, a)["hcc"] == pytest.approx(1.0)
    assert hcc(a, -a)["hcc"] == pytest.approx(-1.0)
    assert hcc(a, 3.0 * a + 2.0)["hcc"] == pytest.approx(1.0)  # scale-free

    pruned = b.copy()
    pruned[1] = 0.0
    original = a.copy()
    original[3] = 0.7
    per_image = hcc_per_image(original, pruned)
    assert np.isnan(per_image[[1, 3]]).all() and not np.isnan(per_image[[0, 2, 4]]).any()
    summary = hcc(original, pruned)
    assert (summary["n"], summary["n_defined"], summary["n_undefined"]) == (5, 3, 2)
    defined = [np.corrcoef(original[i].ravel(), pruned[i].ravel())[0, 1] for i in (0, 2, 4)]
    assert summary["hcc"] == pytest.approx(np.mean(defined))
    assert summary["median"] == pytest.approx(np.median(defined))
    assert summary["std"] == pytest.approx(np.std(defined))
    assert summary["p05"] <= summary["median"] <= summary["p95"]


def test_hcc_all_undefined_is_nan_with_counts():
    zeros = np.zeros((3, 8, 8))
    summary = hcc(zeros, zeros)
    assert np.isnan(summary["hcc"]) and summary["n_undefined"] == 3


# -------------------------------------------------------------------------------- PE-score


def test_pe_is_one_for_an_unchanged_model():
    maps, _ = _map_pairs((6, 32, 32), seed=4)
    confidence = np.linspace(0.1, 0.9, 6)
    result = pe_score(maps, maps, confidence, confidence, classes=np.array([0, 0, 1, 1, 2, 2]))
    assert result["pe_score"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in result["per_class"].values())


def test_iou_of_two_empty_masks_is_one():
    empty = np.zeros((2, 16, 16))
    full = np.ones((2, 16, 16))
    np.testing.assert_array_equal(iou(empty, empty), [1.0, 1.0])
    np.testing.assert_array_equal(iou(empty, full), [0.0, 0.0])
    half = np.zeros((1, 16, 16))
    half[0, :8] = 1.0
    quarter = np.zeros((1, 16, 16))
    quarter[0, :4] = 1.0
    np.testing.assert_allclose(iou(half, quarter), [0.5])


def test_pe_class_share_weighting_by_hand():
    # Maps whose SSIM and IoU are 1 or known, so that PE_i is set by the confidences.
    rng = np.random.default_rng(5)
    maps = rng.random((5, 16, 16))
    conf_original = np.array([0.9, 0.8, 0.6, 0.5, 0.7])
    conf_pruned = np.array([0.7, 0.8, 0.2, 0.5, 0.6])
    classes = np.array([3, 3, 7, 7, 7])
    result = pe_score(maps, maps, conf_original, conf_pruned, classes)
    pe_i = 1.0 - np.abs(conf_original - conf_pruned)  # S = I = 1
    class_3 = (pe_i[0] + pe_i[1]) / 2  # (0.8 + 1.0) / 2 = 0.9
    class_7 = (pe_i[2] + pe_i[3] + pe_i[4]) / 3  # (0.6 + 1.0 + 0.9) / 3
    assert result["per_class"] == {3: pytest.approx(0.9), 7: pytest.approx(2.5 / 3)}
    assert result["class_counts"] == {3: 2, 7: 3}
    assert result["pe_score"] == pytest.approx(2 / 5 * class_3 + 3 / 5 * class_7)
    assert result["mean_confidence_change"] == pytest.approx(np.mean([0.2, 0, 0.4, 0, 0.1]))

    # now with a different map for one image: PE_0 = ((S + I) / 2) * (1 - dC)
    changed = maps.copy()
    changed[0] = rng.random((16, 16))
    terms = pe_components(maps, changed, conf_original, conf_pruned)
    s0 = ssim(maps[:1], changed[:1])[0]
    i0 = iou(maps[:1], changed[:1])[0]
    assert terms["pe"][0] == pytest.approx((max(s0, 0) + i0) / 2 * 0.8)
    np.testing.assert_allclose(terms["pe"][1:], pe_i[1:])


def test_pe_records_every_setting():
    maps, other = _map_pairs((3, 32, 32), seed=6)
    conf = np.full(3, 0.5)
    chosen = PESettings(gaussian_weights=True, win_size=None, iou_threshold=0.3)
    recorded = pe_score(maps, other, conf, conf, np.zeros(3, int), settings=chosen)["settings"]
    assert recorded["win_size"] == 11 and recorded["ssim_window"] == "gaussian"
    assert recorded["sigma"] == 1.5 and recorded["data_range"] == 1.0
    assert recorded["iou_threshold"] == 0.3 and recorded["form"] == "provisional"
    assert recorded["combination"] == "mean_ssim_iou_times_confidence"
    with pytest.raises(EdgepruneError, match="unknown PE combination"):
        PESettings(combination="average")
    with pytest.raises(EdgepruneError, match="probabilities"):
        pe_score(maps, other, conf + 1.0, conf, np.zeros(3, int))


unit_maps = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.just(9), st.just(11)),
    elements=st.floats(0.0, 1.0, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    combination=st.sampled_from(["mean_ssim_iou_times_confidence", "product_ssim_iou_confidence"]),
)
def test_pe_lies_in_unit_interval(data, combination):
    original = data.draw(unit_maps)
    shape = original.shape
    pruned = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    probabilities = hnp.arrays(np.float64, (shape[0],), elements=st.floats(0.0, 1.0))
    conf_original, conf_pruned = data.draw(probabilities), data.draw(probabilities)
    classes = data.draw(hnp.arrays(np.int64, (shape[0],), elements=st.integers(0, 2)))
    threshold = data.draw(st.floats(0.05, 0.95))
    chosen = PESettings(combination=combination, iou_threshold=threshold)
    result = pe_score(original, pruned, conf_original, conf_pruned, classes, settings=chosen)
    assert 0.0 <= result["pe_score"] <= 1.0
    assert all(0.0 <= v <= 1.0 for v in result["per_class"].values())
    unchanged = pe_score(original, original, conf_original, conf_original, classes, settings=chosen)
    assert unchanged["pe_score"] == pytest.approx(1.0)
