"""Turn raw class activation maps into [0, 1] maps at input size (numpy only, batched).

Order of operations. pytorch-grad-cam's ``BaseCAM`` rectifies the map, min-max normalises
it (``(x - min) / (max + 1e-7)``), resizes it with ``cv2.resize`` (bilinear,
``INTER_LINEAR``), and then, in ``aggregate_multi_layers``, rectifies and min-max
normalises it once more. edgeprune resizes first and normalises once. The two agree:
bilinear interpolation is a convex combination of input pixels, so it commutes with the
affine first normalisation, and the second normalisation of the reference removes any
scale left over (interior maxima need not fall on a pixel centre). What remains is the
reference's ``1e-7`` in the denominator, a scale factor that edgeprune leaves out so that a
map always spans exactly [0, 1]; Pearson correlation is unaffected by it.

A constant map (typically all zeros after the ReLU: no evidence for the class) carries no
spatial information. It is returned as all zeros, as the reference does, and flagged in
``CamMaps.constant`` so that metrics can count it instead of silently averaging it in.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from edgeprune.errors import EdgepruneError


class CamMaps(NamedTuple):
    """Post-processed maps and which of them were constant before normalisation."""

    maps: np.ndarray
    """``(N, H, W)`` maps in [0, 1]."""
    constant: np.ndarray
    """``(N,)`` bool, True where the raw map was constant (returned as all zeros)."""


def _linear_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """``(out_size, in_size)`` matrix of OpenCV ``INTER_LINEAR`` weights along one axis.

    OpenCV (and torch ``interpolate(..., align_corners=False)``) samples output pixel ``d``
    at source coordinate ``(d + 0.5) * in/out - 0.5``, clamped to ``[0, in - 1]`` so that
    the border pixels are replicated.
    """
    coords = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    coords = np.clip(coords, 0.0, in_size - 1)
    lower = np.floor(coords).astype(np.int64)
    upper = np.minimum(lower + 1, in_size - 1)
    upper_weight = coords - lower
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, lower), 1.0 - upper_weight)
    np.add.at(matrix, (rows, upper), upper_weight)
    return matrix


def resize_bilinear(maps: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a batch of maps as ``cv2.resize(m, (W, H))`` does, in float64.

    Args:
        maps: ``(N, h, w)`` maps.
        output_size: ``(H, W)``, rows first (note: cv2 takes ``(W, H)``).

    Returns:
        ``(N, H, W)`` float64 maps.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise EdgepruneError(f"maps must have shape (N, h, w); got {maps.shape}")
    out_height, out_width = (int(s) for s in output_size)
    if out_height < 1 or out_width < 1:
        raise EdgepruneError(f"output size must be positive; got {output_size}")
    _, height, width = maps.shape
    if (height, width) == (out_height, out_width):
        return maps.copy()
    rows = _linear_resize_matrix(height, out_height)
    cols = _linear_resize_matrix(width, out_width)
    return np.einsum("Hh,nhw,Ww->nHW", rows, maps, cols, optimize=True)


def constant_maps(maps: np.ndarray) -> np.ndarray:
    """``(N,)`` bool mask of the maps whose pixels are all equal."""
    maps = np.asarray(maps)
    flat = maps.reshape(maps.shape[0], -1)
    return flat.max(axis=1) == flat.min(axis=1)


def normalize_maps(maps: np.ndarray, dtype: np.dtype | type = np.float64) -> CamMaps:
    """Min-max normalise each map to [0, 1]: ``(m - min m) / (max m - min m)``.

    Constant maps become all zeros and are flagged.

    Args:
        maps: ``(N, H, W)`` maps.
        dtype: dtype of the returned maps.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise EdgepruneError(f"maps must have shape (N, H, W); got {maps.shape}")
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(axis=1)[:, None, None]
    span = flat.max(axis=1)[:, None, None] - low
    constant = span[:, 0, 0] == 0.0
    safe_span = np.where(span > 0.0, span, 1.0)
    normalized = np.where(span > 0.0, (maps - low) / safe_span, 0.0)
    return CamMaps(normalized.astype(dtype, copy=False), constant)


def postprocess_maps(
    raw_maps: np.ndarray,
    output_size: tuple[int, int] | None = None,
    dtype: np.dtype | type = np.float32,
) -> CamMaps:
    """Resize raw maps to ``output_size`` (bilinear, as cv2) and min-max normalise to [0, 1].

    Constancy is decided on the raw maps, so rounding in the resize cannot turn an all-zero
    map into a spuriously non-constant one.

    Args:
        raw_maps: ``(N, h, w)`` rectified maps from a CAM method.
        output_size: ``(H, W)`` of the model input; ``None`` keeps ``(h, w)``.
        dtype: dtype of the returned maps (the computation is float64).

    Returns:
        ``CamMaps(maps, constant)`` with ``(N, H, W)`` maps.
    """
    raw_maps = np.asarray(raw_maps, dtype=np.float64)
    if raw_maps.ndim != 3:
        raise EdgepruneError(f"raw maps must have shape (N, h, w); got {raw_maps.shape}")
    constant = constant_maps(raw_maps)
    resized = raw_maps if output_size is None else resize_bilinear(raw_maps, output_size)
    normalized = normalize_maps(resized, dtype=np.float64).maps
    normalized[constant] = 0.0
    return CamMaps(normalized.astype(dtype, copy=False), constant)
