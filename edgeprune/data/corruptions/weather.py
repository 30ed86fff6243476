"""Weather corruptions: snow, frost, fog and brightness (spatter has its own module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprune.data.corruptions.base import Corruption
from edgeprune.data.corruptions.color import hsv_to_rgb, rgb_to_hsv
from edgeprune.data.corruptions.filters import pixels_to_uint8, to_unit, unit_to_uint8
from edgeprune.data.corruptions.frost_textures import FrostTextures, ProceduralFrost
from edgeprune.data.corruptions.geometry import apply_image_operator, centre_zoom_operator
from edgeprune.data.corruptions.motion import motion_blur_batch
from edgeprune.data.corruptions.params import (
    geometry_scale,
    parameter_set_for,
    plasma_map_size,
    severity_params,
)
from edgeprune.data.corruptions.plasma import plasma_fractal

# cv2.COLOR_RGB2GRAY weights, used by the generator for the snow-covered look
_GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def brightness(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Add c to the HSV value channel (clipped to 1) and convert back."""
    shift = severity_params("brightness", severity, *images.shape[1:3])
    hsv = rgb_to_hsv(to_unit(images))
    hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0, 1)
    return unit_to_uint8(hsv_to_rgb(hsv))


def fog(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Add a plasma-fractal haze of strength c, then rescale by max / (max + c).

    The map side is the next power of two covering the image, cropped to it (32 for
    CIFAR, 256 cropped to 224 for ImageNet, as in the generator).
    """
    strength, decay = severity_params("fog", severity, *images.shape[1:3])
    n, height, width = images.shape[:3]
    x = to_unit(images)
    peak = x.max(axis=(1, 2, 3), keepdims=True)  # taken before the haze is added
    haze = plasma_fractal(n, plasma_map_size(height, width), decay, rng)[:, :height, :width]
    x = x + strength * haze[..., None]
    return unit_to_uint8(x * peak / (peak + strength))


def snow(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Zoomed, thresholded noise streaked by motion blur, over a whitened image.

    As in the generator: a Gaussian noise layer is zoomed into its centre, thresholded,
    stored as an 8-bit grey image and motion-blurred at an angle in [-135, -45) degrees
    (ImageMagick-style, see ``motion.py``; radius and sigma scale with the image side);
    the image is mixed with max(x, 1.5 * grey + 0.5) and the layer is added twice, once
    rotated by 180 degrees.
    """
    loc, scale, zoom, threshold, radius, sigma, weight = severity_params(
        "snow", severity, *images.shape[1:3]
    )
    n, height, width = images.shape[:3]
    layer = rng.normal(loc=loc, scale=scale, size=(n, height, width))
    if zoom != 1:
        operator = centre_zoom_operator(height, width, (zoom,))
        layer = apply_image_operator(layer, operator, height, width)
    layer[layer < threshold] = 0
    layer = unit_to_uint8(layer)
    angles = rng.uniform(-135, -45, size=n)
    length = geometry_scale(height, width)
    flakes = motion_blur_batch(layer, radius * length, sigma * length, angles) / 255.0
    flakes = flakes[..., None]

    x = images.astype(np.float32) / 255.0
    grey = (x @ _GREY_WEIGHTS)[..., None]
    x = weight * x + (1 - weight) * np.maximum(x, grey * 1.5 + 0.5)
    return unit_to_uint8(x + flakes + flakes[:, ::-1, ::-1])


def make_frost(texture_dir: Path | str | None = None) -> Corruption:
    """A frost corruption blending each image with a random crop of a frost texture.

    With ``texture_dir=None`` the textures are synthesised procedurally (``ProceduralFrost``);
    otherwise every image file in ``texture_dir`` is a candidate texture, resized by the
    parameter set's texture scale (0.2 for CIFAR, 1.0 for ImageNet, times the image-size
    factor) as the generator does with its frost photographs. The returned callable has the
    corruption signature ``(images, severity, rng) -> images``.
    """
    source = ProceduralFrost() if texture_dir is None else FrostTextures(Path(texture_dir))

    def frost(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
        """out = a * x + b * frost_crop, in 0..255 units, clipped and truncated."""
        image_weight, frost_weight = severity_params("frost", severity, *images.shape[1:3])
        height, width = images.shape[1:3]
        texture_scale = parameter_set_for(height, width).frost_texture_scale
        crops = source.crops(
            len(images), height, width, texture_scale * geometry_scale(height, width), rng
        )
        return pixels_to_uint8(image_weight * images.astype(np.float64) + frost_weight * crops)

    return frost


frost = make_frost()
