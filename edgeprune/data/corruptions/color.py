"""RGB <-> HSV on float batches, with scikit-image's conventions.

brightness and saturate round-trip through HSV in the generator
(``skimage.color.rgb2hsv`` / ``hsv2rgb``). These functions use the same definitions so the
deterministic outputs agree to floating-point rounding: V = max(R, G, B), S = (max - min)
/ V (0 where max == min), H in [0, 1) from the sector of the maximal channel (0 where max
== min), and the usual six-sector reconstruction.
"""

from __future__ import annotations

import numpy as np


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB floats in [0, 1] to HSV in [0, 1]."""
    red, green, blue = np.moveaxis(rgb, -1, 0)
    value = np.maximum(np.maximum(red, green), blue)
    delta = value - np.minimum(np.minimum(red, green), blue)
    grey = delta == 0
    # skimage assigns the red, then the green, then the blue formula, so on ties the
    # later maximal channel wins; the same arithmetic per pixel keeps results bit-equal
    blue_max = blue == value
    green_max = (green == value) & ~blue_max
    numerator = np.where(blue_max, red - green, np.where(green_max, blue - red, green - blue))
    offset = np.where(blue_max, 4.0, np.where(green_max, 2.0, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        saturation = delta / value
        hue = (offset + numerator / delta) / 6.0 % 1.0
    saturation[grey] = 0.0
    hue[grey] = 0.0
    return np.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(..., 3) HSV in [0, 1] back to RGB."""
    hue, saturation, value = np.moveaxis(hsv, -1, 0)
    sector = np.floor(hue * 6.0)
    frac = hue * 6.0 - sector
    sector = sector.astype(np.int8) % 6
    p = value * (1 - saturation)
    q = value * (1 - frac * saturation)
    t = value * (1 - (1 - frac) * saturation)
    s0, s1, s2, s3, s4, s5 = (sector == k for k in range(6))
    out = np.empty(hsv.shape, dtype=np.result_type(hsv.dtype, np.float32))
    # sectors 0..5 give (R, G, B) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q)
    out[..., 0] = np.where(s0 | s5, value, np.where(s1, q, np.where(s4, t, p)))
    out[..., 1] = np.where(s1 | s2, value, np.where(s0, t, np.where(s3, q, p)))
    out[..., 2] = np.where(s3 | s4, value, np.where(s2, t, np.where(s5, q, p)))
    return out
