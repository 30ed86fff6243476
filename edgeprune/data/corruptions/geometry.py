"""Batched resampling: centre zooms as matrices, bilinear sampling, affine maps.

A zoom that is the same for every image is linear and separable: it is written as two
small interpolation matrices, combined into one sparse operator on flattened images
(``separable_operator``) and applied to the whole batch with one sparse-dense product
(``apply_image_operator``); per-image geometry (elastic transform) uses ``sample_bilinear``,
which gathers the four neighbours of every sampling point at once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import sparse


def _linear_matrix(out_size: int, in_size: int, source: np.ndarray) -> np.ndarray:
    """Matrix (out_size, in_size) that linearly interpolates at ``source`` coordinates."""
    source = np.clip(source, 0, in_size - 1)
    low = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    frac = source - low
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


@lru_cache(maxsize=256)
def clipped_zoom_matrix(size: int, factor: float) -> np.ndarray:
    """One axis of the generator's ``clipped_zoom``: zoom into the centre by ``factor``.

    The generator crops the central ceil(size / factor) pixels, enlarges them with
    ``scipy.ndimage.zoom(order=1)`` to round(crop * factor) pixels and keeps the central
    ``size`` of those. scipy's zoom (grid_mode=False) maps output pixel o to input
    coordinate o * (crop - 1) / (zoomed - 1), which is what the matrix encodes. It is
    built per axis, so non-square images zoom about their own centre on each axis.
    """
    crop = int(np.ceil(size / factor))
    top = (size - crop) // 2
    zoomed = int(round(crop * factor))
    trim = (zoomed - size) // 2
    step = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    source = np.arange(trim, trim + size) * step
    matrix = np.zeros((size, size))
    matrix[:, top : top + crop] = _linear_matrix(size, crop, source)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=64)
def resize_matrix(in_size: int, out_size: int, source_step: float | None = None) -> np.ndarray:
    """Bilinear resize along one axis with OpenCV's INTER_LINEAR convention.

    Pixel centres are aligned (source = (o + 0.5) * step - 0.5) and, like OpenCV,
    there is no anti-aliasing when shrinking. The step is ``in_size / out_size`` when the
    output size is given (``cv2.resize(img, (w, h))``); with a scale factor
    (``cv2.resize(img, (0, 0), fx=f, fy=f)``) OpenCV rounds the output size but samples
    at ``1 / f``, so pass ``source_step=1 / f`` for that case: on a 1,000-pixel side at
    f = 0.2 the two differ by a pixel at the far edge.
    """
    step = in_size / out_size if source_step is None else source_step
    source = (np.arange(out_size) + 0.5) * step - 0.5
    matrix = _linear_matrix(out_size, in_size, source)
    matrix.setflags(write=False)
    return matrix


def separable_operator(pairs: list[tuple[np.ndarray, np.ndarray]]) -> sparse.csr_matrix:
    """Sum over pairs of ``image -> rows @ image @ cols.T`` as one sparse matrix.

    The result acts on images flattened in row-major order, (H*W,) -> (H'*W',). A linear
    interpolation row has two non-zeros, so a zoom or resize has four per output pixel,
    and a sum of zooms (zoom_blur) only about a dozen distinct ones at 32x32.
    """
    total = None
    for rows_matrix, cols_matrix in pairs:
        term = sparse.kron(sparse.csr_matrix(rows_matrix), sparse.csr_matrix(cols_matrix))
        total = term if total is None else total + term
    return total.tocsr()


@lru_cache(maxsize=64)
def centre_zoom_operator(
    height: int, width: int, factors: tuple[float, ...], dtype: str = "float64"
) -> sparse.csr_matrix:
    """The sum of the generator's centre zooms by ``factors`` as one operator of ``dtype``.

    Cached per image size, factors and dtype: building it (and casting it to the batch's
    float type) costs as much as applying it to a block of large images.
    """
    pairs = [(clipped_zoom_matrix(height, f), clipped_zoom_matrix(width, f)) for f in factors]
    return separable_operator(pairs).astype(dtype)


def apply_image_operator(
    batch: np.ndarray, operator: sparse.csr_matrix, out_height: int, out_width: int
) -> np.ndarray:
    """Apply a (H'*W', H*W) operator to every image (and channel) of an (N, H, W, ...) batch.

    The batch is laid out once as (H*W, N*C), so one sparse-dense product serves all
    images; the operator is cast to the batch's float dtype unless it has it already.
    """
    n, height, width = batch.shape[:3]
    rest = batch.shape[3:]
    columns = np.moveaxis(batch, 0, 2).reshape(height * width, -1)
    if operator.dtype != batch.dtype:
        operator = operator.astype(batch.dtype)
    mapped = operator @ columns
    out = mapped.reshape((out_height, out_width, n) + rest)
    return np.ascontiguousarray(np.moveaxis(out, 2, 0))


def reflect_index(index: np.ndarray, size: int, *, edge_repeated: bool) -> np.ndarray:
    """Fold integer indices back into [0, size).

    ``edge_repeated=True`` is half-sample symmetry (d c b a | a b c d), scipy's
    ``"reflect"``; ``False`` is whole-sample symmetry (d c b | a b c d), OpenCV's
    BORDER_REFLECT_101 and scipy's ``"mirror"``.
    """
    if size == 1:
        return np.zeros_like(index)
    low, high = index.min(), index.max()
    if low >= 0 and high < size:
        return index
    # one reflection at either end covers the usual case without an integer modulo
    if edge_repeated and low >= -size and high < 2 * size:
        folded = np.where(index < 0, -1 - index, index)
        return np.minimum(folded, 2 * size - 1 - folded)
    if not edge_repeated and low > -size and high < 2 * size - 1:
        folded = np.abs(index)
        return np.minimum(folded, 2 * size - 2 - folded)
    period = 2 * size if edge_repeated else 2 * size - 2
    folded = np.mod(index, period)
    mirrored = period - 1 - folded if edge_repeated else period - folded
    return np.where(folded >= size, mirrored, folded)


def sample_bilinear(
    batch: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, edge_repeated: bool
) -> np.ndarray:
    """Bilinear samples of (N, H, W, C) images at per-image coordinates (N, H', W').

    Out-of-range neighbours are reflected (see ``reflect_index``), which for linear
    interpolation is the same as reflecting the coordinate itself. Channels are gathered
    as separate planes with 1-D ``take``, the fastest gather numpy has.
    """
    n, height, width, channels = batch.shape
    row_floor, col_floor = np.floor(rows), np.floor(cols)
    row_frac = (rows - row_floor).astype(batch.dtype)
    col_frac = (cols - col_floor).astype(batch.dtype)
    row0, col0 = row_floor.astype(np.intp), col_floor.astype(np.intp)
    image_base = (np.arange(n) * height * width).reshape((n,) + (1,) * (rows.ndim - 1))
    top_row = reflect_index(row0, height, edge_repeated=edge_repeated) * width + image_base
    bottom_row = reflect_index(row0 + 1, height, edge_repeated=edge_repeated) * width + image_base
    left = reflect_index(col0, width, edge_repeated=edge_repeated)
    right = reflect_index(col0 + 1, width, edge_repeated=edge_repeated)
    corners = (top_row + left, top_row + right, bottom_row + left, bottom_row + right)

    planes = np.moveaxis(batch, 3, 0).reshape(channels, -1)
    out = np.empty((channels,) + rows.shape, dtype=batch.dtype)
    for channel, plane in enumerate(planes):
        top_left, top_right, bottom_left, bottom_right = (plane.take(c) for c in corners)
        top = top_left + (top_right - top_left) * col_frac
        bottom = bottom_left + (bottom_right - bottom_left) * col_frac
        out[channel] = top + (bottom - top) * row_frac
    return np.moveaxis(out, 0, -1)


def affine_from_points(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image 2x3 affine matrices mapping three ``source`` points onto ``target`` points.

    ``source`` and ``target`` are (3, 2) or (N, 3, 2), points as (x, y); the batched
    counterpart of ``cv2.getAffineTransform``.
    """
    source, target = np.broadcast_arrays(
        np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    )
    homogeneous = np.concatenate([source, np.ones(source.shape[:-1] + (1,))], axis=-1)
    return np.swapaxes(np.linalg.solve(homogeneous, target), -1, -2)
