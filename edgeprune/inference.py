"""PyTorch inference on the run's uint8 images: the reference every artifact is compared with.

Training, evaluation (parity), pruning criteria and explanations all feed a PyTorch model
the same way: uint8 NHWC -> float32 NCHW in 0..255 -> normalised with the eval bundle's mean
and std. That conversion lives here once, apart from the training loop.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn


class Normalizer:
    """Float NCHW in 0..255 -> normalised, with the same mean and std as the eval bundle."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) * 255.0
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1) * 255.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC numpy (memory-mapped arrays included) -> float32 NCHW tensor in 0..255."""
    return torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2).float()


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, normalize: Normalizer, batch_size: int = 256
) -> np.ndarray:
    """PyTorch logits in eval mode (the reference the artifact is compared with)."""
    model.eval()
    parts = [
        model(normalize(to_tensor(images[i : i + batch_size]))).float().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
