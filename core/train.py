"""``train``: the SGD loop (core/loop.py) wired with the paper's rules (core/train_rules.py).

Callback order in the loop: ``before_rules`` (callbacks that change the weights after each step, e.g.
iterate noise, so every rule reads the changed weights), then the paper's rules in their fixed order,
then the host's callbacks (metrics, snapshots, checkpoints, progress).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from core.checkpoint import TrainState
from core.data import Dataset
from core.loop import Callback, TrainLoop, weights_of
from core.spec import TrainSpec
from core.train_rules import PaperRules


@dataclass(frozen=True)
class TrainOutcome:
    status: str
    iterations: int
    converged_at: int | None
    final: dict[str, torch.Tensor]   # CPU copies
    avg: dict[str, torch.Tensor]
    avg_count: int                   # iterates actually averaged (< avg_window if training ended early)
    history: tuple[tuple[int, str, float], ...]


def train(model: nn.Module, data: Dataset, spec: TrainSpec, *, lr: float, batch_size: int, seed: int,
          callbacks: Sequence[Callback] = (), resume: TrainState | None = None,
          before_rules: Sequence[Callback] = (), step_scale: float = 1.0) -> TrainOutcome:
    """Train ``model`` in place with the paper's rules; ``resume`` continues a saved state bit-for-bit
    (given the same callbacks: their state is matched by name)."""
    rules = PaperRules.of(spec, seed)
    loop = TrainLoop(model, data, spec, lr=lr, batch_size=batch_size, seed=seed,
                     callbacks=[*before_rules, *rules.ordered, *callbacks], step_scale=step_scale)
    if resume is not None:
        loop.load_state(resume)
    else:
        loop.snapshot("init")
    loop.run(resumed=resume is not None)
    final = weights_of(model)
    averaged = rules.averager.averaged_weights(loop)
    avg = {**final, **averaged} if averaged else final
    loop.snapshot("final", final)
    loop.snapshot("avg", avg)
    return TrainOutcome(status=loop.status, iterations=loop.iteration, converged_at=loop.converged_at,
                        final=final, avg=avg, avg_count=rules.averager.count, history=tuple(loop.history))
