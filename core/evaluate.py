"""Loss and accuracy of a model on a whole (device-resident) split, in batches."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Evaluation:
    loss: float
    acc: float


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> Evaluation:
    """Mean cross-entropy and accuracy over all of (x, y); the model is left in its original mode."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    model.train(was_training)
    n = max(len(x), 1)
    return Evaluation(loss=float(loss_sum) / n, acc=float(correct) / n)


def generalization_gap(train: Evaluation, test: Evaluation) -> Evaluation:
    """Test minus train, for loss and accuracy (the paper's gap)."""
    return Evaluation(loss=test.loss - train.loss, acc=test.acc - train.acc)
