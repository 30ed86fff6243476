"""Knowledge distillation from the unpruned model during fine-tuning (Hinton et al. 2015).

Fine-tuning loss = CE(student, labels) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
the additive form: the label term keeps its weight, alpha sets the teacher's.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F


def distillation_penalty(teacher: nn.Module, alpha: float, temperature: float):
    """A ``train`` penalty ``(model, x, logits) -> loss`` that distils ``teacher`` into the model."""
    teacher = copy.deepcopy(teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def penalty(model: nn.Module, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = F.softmax(teacher(x) / temperature, dim=1)
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), target, reduction="batchmean")
        return alpha * temperature**2 * kl

    return penalty
