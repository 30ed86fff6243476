"""Normalisation and resizing of CAMs against pytorch-grad-cam / OpenCV, and the closed form
against the general formulas (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.explain.cam_weights import gradcam_plusplus_weights, weighted_feature_sum
from edgeprune.explain.closed_form import cam_maps, closed_form_weights
from edgeprune.explain.postprocess import normalize_maps, postprocess_maps, resize_bilinear

cv2 = pytest.importorskip("cv2")  # installed with grad-cam


@pytest.mark.parametrize(
    ("in_size", "out_size"),
    [
        ((4, 4), (32, 32)),
        ((2, 2), (64, 64)),
        ((7, 5), (32, 48)),
        ((1, 3), (8, 9)),
        ((32, 32), (16, 16)),
        ((32, 32), (7, 11)),
        ((3, 3), (3, 3)),
    ],
)
def test_resize_matches_cv2_linear(in_size, out_size):
    maps = np.random.default_rng(0).random((3, *in_size)).astype(np.float32)
    expected = np.stack([cv2.resize(m, out_size[::-1]) for m in maps])
    np.testing.assert_allclose(resize_bilinear(maps, out_size), expected, atol=1e-6)


def test_postprocess_matches_grad_cam_scaling():
    from pytorch_grad_cam.utils.image import scale_cam_image

    rng = np.random.default_rng(1)
    raw = np.maximum(rng.standard_normal((6, 4, 4)), 0).astype(np.float32)
    raw[2] = 0.0  # a constant map
    # BaseCAM: normalise + resize per layer, then normalise again after aggregation
    reference = scale_cam_image(scale_cam_image(raw, (32, 32)))
    ours = postprocess_maps(raw, (32, 32))
    np.testing.assert_array_equal(ours.constant, [False, False, True, False, False, False])
    np.testing.assert_allclose(ours.maps, reference, atol=1e-5)
    assert ours.maps.dtype == np.float32


def test_normalisation_spans_unit_interval_and_flags_constant_maps():
    maps = np.stack([np.arange(16.0).reshape(4, 4) * 3 - 5, np.full((4, 4), 2.5), np.zeros((4, 4))])
    normalized = normalize_maps(maps)
    assert normalized.maps[0].min() == 0.0 and normalized.maps[0].max() == 1.0
    np.testing.assert_array_equal(normalized.maps[1:], 0.0)
    np.testing.assert_array_equal(normalized.constant, [False, True, True])


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_plusplus_equals_general_formula_with_constant_gradient(seed):
    rng = np.random.default_rng(seed)
    features = np.maximum(rng.standard_normal((5, 16, 4, 3)), 0)
    fc_weight = rng.standard_normal((10, 16)) * 0.2
    fc_weight[:, 0] = 0.0  # g = 0 channel: weight must be exactly zero
    classes = rng.integers(0, 10, size=5)
    gradient = np.broadcast_to(fc_weight[classes][:, :, None, None] / 12, features.shape)
    general = gradcam_plusplus_weights(features, gradient)
    closed = closed_form_weights(features, fc_weight, classes, "gradcam++")
    np.testing.assert_allclose(closed, general, rtol=1e-12, atol=1e-15)
    assert np.all(closed[:, 0] == 0.0)
    np.testing.assert_allclose(
        cam_maps(features, fc_weight, classes, "gradcam++"), weighted_feature_sum(features, general)
    )
