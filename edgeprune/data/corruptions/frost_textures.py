"""Frost textures for the frost corruption: procedural by default, or from a directory.

The generator blends each image with a random crop of one of five frost photographs
(resized by 0.2 for CIFAR). Those photographs are not ours to ship, so by default every
image picks one of five frost *styles* at random and takes a random crop of a texture
synthesised for that style (one texture per style in use per batch block), which keeps
the generator's structure (a few textures, many crops) and its image-to-image spread.

A synthetic texture is ice-crystal needles (sparse bright seeds drawn out into short
tapering lines at a few random orientations) over fine grain, mid-scale clumps and a slow
brightness drift, standardised and mapped to a style's colour and contrast. The styles'
numbers (mean colour, detail contrast, drift between crops) are summary statistics
measured on 32x32 crops of the generator's five photographs at its CIFAR scale: the
corruption's effect (its mean absolute difference to the clean image) is set mostly by
the brightness of the frost layer. No pixel of the photographs is used or shipped.
Lengths are in photo pixels and scale with the texture scale, so a 224x224 image sees
larger crystals than a 32x32 one, as with the photographs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from edgeprune.data.corruptions.filters import gaussian_smooth
from edgeprune.data.corruptions.geometry import (
    apply_image_operator,
    resize_matrix,
    separable_operator,
)
from edgeprune.data.images import open_rgb
from edgeprune.errors import EdgepruneError

TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FrostStyle:
    """Colour and contrast of one synthetic frost texture (0..255 units)."""

    mean_rgb: tuple[float, float, float]
    detail_rgb: tuple[float, float, float]  # std of the crystal and grain detail per channel
    drift: float  # std of the slow brightness drift (spread between crops)


# One bank texture per style; pale white frost twice, as in the generator's photo set.
FROST_STYLES = (
    FrostStyle(mean_rgb=(77, 149, 166), detail_rgb=(21, 13, 13), drift=12),  # pale teal
    FrostStyle(mean_rgb=(199, 204, 213), detail_rgb=(18, 18, 19), drift=8),  # white
    FrostStyle(mean_rgb=(199, 204, 213), detail_rgb=(18, 18, 19), drift=8),  # white
    FrostStyle(mean_rgb=(142, 157, 170), detail_rgb=(26, 26, 27), drift=10),  # grey-blue
    FrostStyle(mean_rgb=(104, 115, 127), detail_rgb=(34, 34, 34), drift=16),  # dark blue-grey
)

# Sizes in pixels of the photographs (texture scale 1); multiplied by the texture scale.
NEEDLE_LENGTH = 25.0
NEEDLE_WIDTH_SIGMA = 0.8
GRAIN_SIGMA = 3.0
CLUMP_SIGMA = 12.0
DRIFT_SIGMA = 40.0
NEEDLE_ORIENTATIONS = 4
NEEDLE_DENSITY = 0.004  # seeds per pixel per orientation at texture scale 1


def _standardise(field: np.ndarray) -> np.ndarray:
    axes = tuple(range(1, field.ndim))
    centred = field - field.mean(axis=axes, keepdims=True)
    return centred / np.maximum(centred.std(axis=axes, keepdims=True), 1e-12)


def _needles(count: int, side: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Bright line segments at random orientations, (count, side, side), unit std.

    Each seed is drawn out along its image's orientation, tapering off, and overlapping
    needles keep the brightest value. Seeds are sparse (``NEEDLE_DENSITY``), so the
    segments are scattered from the seeds (``np.maximum.at``) instead of taking the maximum
    of every shifted copy of the whole seed plane: the same values, far fewer operations.
    """
    length = max(2.0, NEEDLE_LENGTH * scale)
    density = min(0.5, NEEDLE_DENSITY / scale)  # same seeds per photo area at any scale
    reach = int(np.ceil(length / 2))
    padded = side + 2 * reach
    field = np.zeros((count, side, side))
    steps = np.arange(-reach, reach + 1)
    taper = 1 - np.abs(steps) / (reach + 1)
    for _ in range(NEEDLE_ORIENTATIONS):
        seeds = rng.exponential(size=(count, padded, padded)) * (
            rng.random((count, padded, padded)) < density
        )
        angles = rng.uniform(0, np.pi, size=count)
        for image, angle in enumerate(angles):
            # step k of the segment of a seed at padded (r, c) lands on (r - row_k, c - col_k)
            row_steps = np.rint(steps * np.sin(angle)).astype(int) + reach
            col_steps = np.rint(steps * np.cos(angle)).astype(int) + reach
            seed_rows, seed_cols = np.nonzero(seeds[image])
            rows = seed_rows[None, :] - row_steps[:, None]
            cols = seed_cols[None, :] - col_steps[:, None]
            values = taper[:, None] * seeds[image, seed_rows, seed_cols][None, :]
            inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side)
            np.maximum.at(field[image], (rows[inside], cols[inside]), values[inside])
    return _standardise(field)


def _smooth_noise(count: int, side: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Periodic Gaussian-smoothed white noise, (count, side, side), unit std (FFT, any sigma)."""
    spectrum = np.fft.rfft2(rng.standard_normal((count, side, side)))
    spectrum = ndimage.fourier_gaussian(spectrum, (0, sigma, sigma), n=side, axis=-1)
    return _standardise(np.fft.irfft2(spectrum, s=(side, side)))


class ProceduralFrost:
    """Synthetic frost textures; see the module docstring."""

    styles: tuple[FrostStyle, ...] = FROST_STYLES

    def bank(
        self, styles: list[FrostStyle], side: int, scale: float, rng: np.random.Generator
    ) -> np.ndarray:
        """One square uint8 texture (side x side x 3) per style, (len(styles), side, side, 3)."""
        count = len(styles)
        # below ~0.6 output pixels, grain and needle width are set by the pixel grid itself
        grain = _smooth_noise(count, side, max(0.6, GRAIN_SIGMA * scale), rng)
        clumps = _smooth_noise(count, side, CLUMP_SIGMA * scale, rng)
        needles = _needles(count, side, scale, rng)
        if NEEDLE_WIDTH_SIGMA * scale >= 0.6:
            needles = _standardise(gaussian_smooth(needles, NEEDLE_WIDTH_SIGMA * scale))
        detail = _standardise(0.7 * needles + grain + 0.7 * clumps)
        drift = _smooth_noise(count, side, DRIFT_SIGMA * scale, rng)
        means = np.array([s.mean_rgb for s in styles], dtype=np.float64)
        details = np.array([s.detail_rgb for s in styles], dtype=np.float64)
        drifts = np.array([s.drift for s in styles], dtype=np.float64)
        texture = (
            means[:, None, None, :]
            + details[:, None, None, :] * detail[..., None]
            + drifts[:, None, None, None] * drift[..., None]
        )
        return np.clip(np.rint(texture), 0, 255).astype(np.uint8)

    def crops(
        self, count: int, height: int, width: int, scale: float, rng: np.random.Generator
    ) -> np.ndarray:
        """``count`` random (height, width) crops of fresh textures, uint8 (N, H, W, 3).

        Each image picks a style at random; one texture is synthesised per style in use,
        with a margin of min(2 * side, 64) pixels for the random crop offsets.
        """
        choice = rng.integers(len(self.styles), size=count)
        used, choice = np.unique(choice, return_inverse=True)
        longest = max(height, width)
        side = longest + min(2 * longest, 64)
        textures = self.bank([self.styles[k] for k in used], side, scale, rng)
        return _random_crops(list(textures), choice, height, width, rng)


def texture_files(directory: Path) -> list[Path]:
    """The texture images of ``directory``, in name order; a folder without any is refused."""
    if not directory.is_dir():
        raise EdgepruneError(f"frost texture directory not found: {directory}")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in TEXTURE_SUFFIXES)
    if not files:
        raise EdgepruneError(f"no texture images ({', '.join(TEXTURE_SUFFIXES)}) in {directory}")
    return files


class FrostTextures:
    """Frost textures read from image files in a directory (for example, frost photographs)."""

    def __init__(self, directory: Path) -> None:
        files = texture_files(directory)
        self.files = files
        self._originals = [np.asarray(open_rgb(p)) for p in files]
        self._resized: dict[float, list[np.ndarray]] = {}

    def textures(self, scale: float) -> list[np.ndarray]:
        """The textures resized by ``scale`` (bilinear, OpenCV's convention), cached."""
        if scale not in self._resized:
            self._resized[scale] = [_resize(t, scale) for t in self._originals]
        return self._resized[scale]

    def crops(
        self, count: int, height: int, width: int, scale: float, rng: np.random.Generator
    ) -> np.ndarray:
        """``count`` random (height, width) crops of randomly chosen textures."""
        textures = self.textures(scale)
        return _random_crops(textures, rng.integers(len(textures), size=count), height, width, rng)


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    # cv2.resize(img, (0, 0), fx=scale, fy=scale): output side round(side * scale),
    # sampled every 1 / scale source pixels (not side / output side)
    out_h = max(1, int(round(image.shape[0] * scale)))
    out_w = max(1, int(round(image.shape[1] * scale)))
    step = 1.0 / scale
    pair = (
        resize_matrix(image.shape[0], out_h, step),
        resize_matrix(image.shape[1], out_w, step),
    )
    operator = separable_operator([pair])
    resized = apply_image_operator(image[None].astype(np.float64), operator, out_h, out_w)[0]
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def _random_crops(
    textures: list[np.ndarray],
    choice: np.ndarray,
    height: int,
    width: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Crop image i from ``textures[choice[i]]`` at a random offset."""
    for texture in textures:
        if texture.shape[0] < height or texture.shape[1] < width:
            raise EdgepruneError(
                f"frost texture of {texture.shape[1]}x{texture.shape[0]} pixels (after resizing) "
                f"is smaller than the {width}x{height} image"
            )
    count = len(choice)
    # offsets as in the generator: randint(0, texture_side - image_side)
    spans = np.array([(t.shape[0] - height, t.shape[1] - width) for t in textures])
    tops = rng.integers(0, np.maximum(spans[choice, 0], 1))
    lefts = rng.integers(0, np.maximum(spans[choice, 1], 1))
    out = np.empty((count, height, width, 3), dtype=np.uint8)
    for k, texture in enumerate(textures):
        chosen = np.flatnonzero(choice == k)
        windows = np.lib.stride_tricks.sliding_window_view(texture, (height, width), axis=(0, 1))
        out[chosen] = np.moveaxis(windows[tops[chosen], lefts[chosen]], 1, -1)
    return out
