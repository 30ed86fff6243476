"""Batched diamond-square plasma fractal, the height map behind fog.

The generator's ``plasma_fractal`` (itself adapted from FLHerne/mapgen diamondsquare.py)
fills a periodic square map level by level: each new point is the mean of its four
neighbours (wrapping around the map) plus noise ``wibble * U(-wibble, wibble)``, with
``wibble`` starting at 100 and divided by ``decay`` after each level; the map is finally
scaled to [0, 1]. The noise amplitude is wibble squared, an oddity of the original that
fixes how rough fog looks, so it is kept. This version fills all N maps of a batch at once.
"""

from __future__ import annotations

import numpy as np


def plasma_fractal(count: int, size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` plasma maps of side ``size`` (a power of two) with values in [0, 1]."""
    if size & (size - 1):
        raise ValueError(f"plasma map size must be a power of two, got {size}")
    maps = np.zeros((count, size, size))
    step = size
    wibble = 100.0

    def noisy_mean(neighbour_sum: np.ndarray) -> np.ndarray:
        noise = rng.uniform(-wibble, wibble, neighbour_sum.shape)
        return neighbour_sum / 4 + wibble * noise

    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        # square step: the centre of every cell from its four corners
        pair = corners + np.roll(corners, -1, axis=1)
        maps[:, half::step, half::step] = noisy_mean(pair + np.roll(pair, -1, axis=2))
        centres = maps[:, half::step, half::step]
        # diamond step: cell-edge midpoints from the two corners and two centres beside them
        horizontal = (centres + np.roll(centres, 1, axis=1)) + (
            corners + np.roll(corners, -1, axis=2)
        )
        vertical = (centres + np.roll(centres, 1, axis=2)) + (
            corners + np.roll(corners, -1, axis=1)
        )
        maps[:, ::step, half::step] = noisy_mean(horizontal)
        maps[:, half::step, ::step] = noisy_mean(vertical)
        step = half
        wibble /= decay

    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)
