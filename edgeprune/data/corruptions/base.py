"""What a corruption is: a callable ``(images, severity, rng) -> images``.

uint8 (N, H, W, C) in, uint8 of the same shape out, severity 1..5, and every random draw
from ``rng``. Defined apart from the suite so that corruption modules (weather's frost
factory) can name the type without importing the suite that imports them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
