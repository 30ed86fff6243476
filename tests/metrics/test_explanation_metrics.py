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


# ------------------------------------------------ what mutation testing found unpinned


def test_collinear_maps_never_correlate_beyond_one_despite_rounding():
    """Unclipped, 4,752 of these 20,000 pairs give r = 1 + 4.4e-16 in floating point."""
    x = np.random.default_rng(2).uniform(size=(20000, 5, 5))
    r = hcc_per_image(x, 3.7 * x + 0.25)
    assert np.all(r <= 1.0) and np.allclose(r, 1.0, atol=1e-15)
    assert np.all(hcc_per_image(x, -3.7 * x + 0.25) >= -1.0)


def test_maps_of_different_shapes_or_not_three_dimensional_are_refused():
    with pytest.raises(EdgepruneError, match=r"must both have shape \(N, H, W\)"):
        hcc_per_image(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(EdgepruneError, match=r"must both have shape \(N, H, W\)"):
        hcc_per_image(np.zeros((4, 4)), np.zeros((4, 4)))


def test_hcc_spread_is_the_5th_and_95th_percentile():
    rng = np.random.default_rng(6)
    a, b = rng.uniform(size=(200, 6, 6)), rng.uniform(size=(200, 6, 6))
    per_image = hcc_per_image(a, 0.5 * a + b)
    summary = hcc(a, 0.5 * a + b)
    assert summary["p05"] == pytest.approx(np.percentile(per_image, 5), abs=1e-15)
    assert summary["p95"] == pytest.approx(np.percentile(per_image, 95), abs=1e-15)


def test_default_pe_settings_are_skimages_ssim():
    """The default SSIM of the PE-score is scikit-image's structural_similarity with its
    defaults (uniform 7x7 window, sample covariance, K1 = 0.01, K2 = 0.03)."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(7)
    a = rng.uniform(size=(5, 16, 16))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    ours = pe_components(a, b, np.full(5, 0.5), np.full(5, 0.5))["ssim"]
    reference = [np.clip(structural_similarity(x, y, data_range=1.0), 0, 1) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, reference, atol=1e-12)
    assert PESettings(win_size=None).record()["win_size"] == 7
    assert PESettings(win_size=None, gaussian_weights=True).record()["win_size"] == 11


def test_a_map_value_exactly_at_the_threshold_is_inside_the_mask():
    at = np.full((1, 2, 2), 0.5)
    assert iou(at, at, 0.5)[0] == 1.0
    half = np.array([[[0.5, 0.0], [0.0, 0.0]]])
    assert iou(half, np.array([[[0.5, 0.5], [0.0, 0.0]]]), 0.5)[0] == 0.5


def test_confidences_are_checked_as_probabilities():
    maps = np.random.default_rng(8).uniform(size=(3, 8, 8))
    certain = pe_components(maps, maps, np.ones(3), np.ones(3))  # exactly 1.0 is a probability
    assert np.all(certain["pe"] == 1.0)
    for bad in (
        np.array([0.5, -0.1, 0.5]),
        np.array([0.5, 1.1, 0.5]),
        np.array([0.5, np.nan, 0.5]),
    ):
        with pytest.raises(EdgepruneError, match="must be probabilities in"):
            pe_components(maps, maps, bad, np.full(3, 0.5))


def test_pe_settings_are_immutable():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        PESettings().K1 = 0.5


def test_pe_ssim_never_exceeds_one_despite_rounding():
    """Unclipped, 1,099 of these 3,000 nearly identical pairs give SSIM = 1 + 1.8e-15."""
    x = np.random.default_rng(3).uniform(size=(3000, 9, 9))
    terms = pe_components(x, np.clip(x + 1e-9, 0, 1), np.full(3000, 0.5), np.full(3000, 0.5))
    assert np.all(terms["ssim"] <= 1.0) and np.all(terms["pe"] <= 1.0)


def test_ssim_arguments_are_checked_one_by_one():
    maps = np.random.default_rng(9).uniform(size=(2, 12, 12))
    for bad in ({"K1": -0.01}, {"K2": -0.03}):
        with pytest.raises(EdgepruneError, match="K1 and K2 must be non-negative"):
            ssim(maps, maps[::-1], **bad)
    for sigma in (0.0, -1.0):
        with pytest.raises(EdgepruneError, match="sigma must be positive"):
            ssim(maps, maps[::-1], gaussian_weights=True, sigma=sigma)
    with pytest.raises(EdgepruneError, match="data_range must be positive"):
        ssim(maps, maps, data_range=0)
    for size in (1, 4):  # a 1x1 window divided by zero before it was refused
        with pytest.raises(EdgepruneError, match="odd number >= 3"):
            ssim(maps, maps, win_size=size)
    ssim(maps, maps[::-1], K1=0.0, K2=0.0, win_size=3)  # zeros and the smallest window are fine


def test_ssim_defaults_are_skimages():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(10)
    a = rng.uniform(size=(3, 15, 15))
    b = np.clip(a + rng.normal(0, 0.3, a.shape), 0, 1)
    reference = [structural_similarity(x, y, data_range=1.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(ssim(a, b), reference, atol=1e-12)
    np.testing.assert_allclose(ssim(a, b, win_size=None), reference, atol=1e-12)
    narrow = [
        structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=0.5)
        for x, y in zip(a, b)
    ]
    np.testing.assert_allclose(
        ssim(a, b, gaussian_weights=True, sigma=0.5, win_size=None), narrow, atol=1e-12
    )
