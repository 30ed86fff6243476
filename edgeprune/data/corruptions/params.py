"""Severity parameters of every corruption, in one place.

The numbers are facts taken from the public generator of CIFAR-10-C / ImageNet-C
(repository hendrycks/robustness): the CIFAR set from ImageNet-C/create_c/make_cifar_c.py
and the ImageNet set from ImageNet-C/create_c/make_imagenet_c.py. Each entry of a table is a
5-tuple, one value (or tuple of values) per severity 1..5, with the meaning given in the
comment beside it. Only the numbers come from there; the code using them is ours.

Choosing a set and adapting it to the image size:

- images whose larger side is at most 32 pixels use the CIFAR set (reference side 32);
  larger images use the ImageNet set (reference side 224).
- Parameters that are lengths in pixels of the generator's *geometry* are scaled by
  ``side / reference_side`` with ``side = min(height, width)`` (see ``geometry_scale``):
  the motion-blur radius and sigma (motion_blur and snow), the frost texture scale and the
  elastic-transform lengths. At the reference size (32 resp. 224) nothing changes. The
  plasma-fractal map of fog is the next power of two >= max(height, width), cropped to the
  image (32 for CIFAR, 256 cropped to 224 for ImageNet, as in the generator). zoom_blur and
  snow zoom about the centre by factors, which is already size-independent. Everything
  else (noise levels, blur sigmas, defocus radii, glass-blur displacements, JPEG quality,
  ...) is used exactly as published, so a 64x64 image gets ImageNet-C's pixel-sized blurs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from edgeprune.errors import EdgepruneError

CIFAR_SOURCE = "hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py"
IMAGENET_SOURCE = "hendrycks/robustness ImageNet-C/create_c/make_imagenet_c.py"
CIFAR_MAX_SIDE = 32


@dataclass(frozen=True)
class ParameterSet:
    """The five severities of every corruption for one image scale."""

    name: str
    source: str
    reference_side: int  # image side the generator's pixel lengths were written for
    frost_texture_scale: float  # resize factor the generator applies to its frost photos
    elastic_length_unit: float  # elastic lengths are fractions of this many pixels per side pixel
    table: Mapping[str, tuple]


_CIFAR_TABLE = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # std of additive noise, [0,1] units
    "shot_noise": (500, 250, 100, 75, 50),  # photons per unit intensity (Poisson rate scale)
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),  # fraction of values set to 0 or 1
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),  # std of multiplicative noise
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # sigma in pixels
    # (sigma, max_delta, passes) of glass blur
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # (disk radius, alias blur sigma)
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # (radius, sigma) of ImageMagick's motion blur
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # zoom factors np.arange(start, stop, step)
    "zoom_blur": (
        (1, 1.06, 0.01),
        (1, 1.11, 0.01),
        (1, 1.16, 0.01),
        (1, 1.21, 0.01),
        (1, 1.26, 0.01),
    ),
    # (loc, scale, zoom, threshold, motion radius, motion sigma, image weight)
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),  # (image, frost) weights
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),  # (strength, wibble decay)
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to HSV value
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor on the deviation from the channel mean
    # (alpha, sigma, affine jitter) as fractions of the image side
    "elastic_transform": (
        (0, 0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # side factor of the BOX down-sampling
    "jpeg_compression": (80, 65, 58, 50, 40),  # JPEG quality
    # (loc, scale, sigma, threshold, intensity, mud) of spatter; mud=0 is water
    "spatter": (
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),  # (factor, offset) on S
}

_IMAGENET_TABLE = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": (
        (1, 1.11, 0.01),
        (1, 1.16, 0.01),
        (1, 1.21, 0.02),
        (1, 1.26, 0.02),
        (1, 1.31, 0.03),
    ),
    "snow": (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
    "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
    "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    # the generator writes 244 * fraction for 224-pixel images (a typo it keeps, see
    # elastic_length_unit below); stored here as the fractions
    "elastic_transform": (
        (2, 0.7, 0.1),
        (2, 0.08, 0.2),
        (0.05, 0.01, 0.02),
        (0.07, 0.01, 0.02),
        (0.12, 0.01, 0.02),
    ),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    "jpeg_compression": (25, 18, 15, 10, 7),
    "spatter": (
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
}

CIFAR = ParameterSet(
    name="cifar",
    source=CIFAR_SOURCE,
    reference_side=32,
    frost_texture_scale=0.2,
    elastic_length_unit=1.0,  # IMSIZE * fraction with IMSIZE = 32
    table=MappingProxyType(_CIFAR_TABLE),
)

IMAGENET = ParameterSet(
    name="imagenet",
    source=IMAGENET_SOURCE,
    reference_side=224,
    frost_texture_scale=1.0,
    elastic_length_unit=244 / 224,  # the generator's 244 * fraction on 224-pixel images
    table=MappingProxyType(_IMAGENET_TABLE),
)


def parameter_set_for(height: int, width: int) -> ParameterSet:
    """The CIFAR set for images up to 32x32, the ImageNet set for anything larger."""
    return CIFAR if max(height, width) <= CIFAR_MAX_SIDE else IMAGENET


def severity_params(name: str, severity: int, height: int, width: int):
    """The published parameters of ``name`` at ``severity`` for an image of this size."""
    if severity not in (1, 2, 3, 4, 5):
        raise EdgepruneError(f"severity must be an integer 1..5, got {severity!r}")
    return parameter_set_for(height, width).table[name][severity - 1]


def geometry_scale(height: int, width: int) -> float:
    """Factor applied to the generator's pixel lengths for an image of this size."""
    return min(height, width) / parameter_set_for(height, width).reference_side


def plasma_map_size(height: int, width: int) -> int:
    """Side of the square plasma-fractal map of fog: the next power of two covering the image."""
    return 1 << int(np.ceil(np.log2(max(height, width, 2))))
