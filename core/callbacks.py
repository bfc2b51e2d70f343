"""Host-facing callbacks: how a host (the Ray trainable, a notebook) receives step metrics, weight
snapshots, checkpoints and progress lines without core knowing where they go.

The callback protocol (hooks, order, ``name`` and state) is ``core.loop.Callback``. Each callback here
takes a ``name`` so a host can use two of one kind in a loop.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

import torch

from core.checkpoint import TrainState
from core.loop import Callback, TrainLoop
from core.vocab import STEP_SOURCES

__all__ = ["Callback", "MetricsCallback", "SnapshotCallback", "CheckpointCallback", "ProgressCallback"]


class MetricsCallback(Callback):
    """Hands every batch of step metrics to ``fn(step, metrics)``."""

    def __init__(self, fn: Callable[[int, dict[str, float]], None], *, name: str = "metrics"):
        self.fn, self.name = fn, name

    def on_metrics(self, loop: TrainLoop, step: int, metrics: dict[str, float]) -> None:
        self.fn(step, metrics)


class SnapshotCallback(Callback):
    """Hands weight snapshots to ``fn(tag, weights)``: 'init', 'converged', 'final', 'avg', and 'it{N}'
    every ``every`` iterations when ``every`` > 0."""

    def __init__(self, fn: Callable[[str, dict[str, torch.Tensor]], None], every: int = 0, *,
                 name: str = "snapshot"):
        self.fn, self.every, self.name = fn, every, name

    def after_step(self, loop: TrainLoop) -> None:
        if self.every and loop.iteration % self.every == 0:
            loop.snapshot(f"it{loop.iteration}")

    def on_snapshot(self, loop: TrainLoop, tag: str, weights: dict[str, torch.Tensor]) -> None:
        self.fn(tag, weights)


class CheckpointCallback(Callback):
    """Hands the full training state to ``fn(iteration, state)`` every ``every`` iterations."""

    def __init__(self, fn: Callable[[int, TrainState], None], every: int, *, name: str = "checkpoint"):
        if every < 1:
            raise ValueError(f"every: must be >= 1, got {every}")
        self.fn, self.every, self.name = fn, every, name

    def after_step(self, loop: TrainLoop) -> None:
        if loop.iteration % self.every == 0 and not loop.stop:
            self.fn(loop.iteration, loop.state())


class ProgressCallback(Callback):
    """One line per ``every_seconds`` with the latest metrics, so long trials show signs of life."""

    def __init__(self, every_seconds: float = 30.0, stream: TextIO | None = None, prefix: str = "", *,
                 name: str = "progress"):
        self.every_seconds, self.stream, self.prefix, self.name = every_seconds, stream, prefix, name
        self._last_print = 0.0
        self._latest: dict[str, float] = {}

    def on_train_start(self, loop: TrainLoop) -> None:
        self._last_print = time.monotonic()

    def on_metrics(self, loop: TrainLoop, step: int, metrics: dict[str, float]) -> None:
        self._latest.update(metrics)
        if time.monotonic() - self._last_print >= self.every_seconds:
            self._print(loop)

    def on_train_end(self, loop: TrainLoop) -> None:
        self._print(loop, done=True)

    def _print(self, loop: TrainLoop, done: bool = False) -> None:
        self._last_print = time.monotonic()
        shown = {k: v for k, v in self._latest.items() if k.split("/")[0] in STEP_SOURCES}
        parts = " ".join(f"{k}={v:.4g}" for k, v in sorted(shown.items()))
        status = f" {loop.status}" if done else ""
        print(f"{self.prefix}it {loop.iteration}{status} {parts}".rstrip(), file=self.stream or sys.stdout,
              flush=True)
