"""Callbacks: everything the SGD loop does besides stepping.

The loop calls, in order, ``on_train_start``, then ``on_step_end`` after every SGD step, ``on_metrics``
whenever any callback publishes step metrics, ``on_snapshot`` whenever weights are snapshotted, and
``on_train_end``. A callback with state that must survive a restart implements ``state_dict`` /
``load_state_dict`` (tensors and JSON-able values only).

The host-facing callbacks at the bottom of this file are how a host (the Ray trainable, a notebook)
receives metrics, weight snapshots and checkpoints without core knowing where they go.
"""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Callable, TextIO

import torch

from core.checkpoint import TrainState

if TYPE_CHECKING:
    from core.train import TrainLoop


class Callback:
    """No-op base; override what you need."""

    def on_train_start(self, loop: "TrainLoop") -> None:
        pass

    def on_step_end(self, loop: "TrainLoop") -> None:
        pass

    def on_metrics(self, loop: "TrainLoop", step: int, metrics: dict[str, float]) -> None:
        pass

    def on_snapshot(self, loop: "TrainLoop", tag: str, weights: dict[str, torch.Tensor]) -> None:
        pass

    def on_train_end(self, loop: "TrainLoop") -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class MetricsCallback(Callback):
    """Hands every batch of step metrics to ``fn(step, metrics)``."""

    def __init__(self, fn: Callable[[int, dict[str, float]], None]):
        self.fn = fn

    def on_metrics(self, loop: "TrainLoop", step: int, metrics: dict[str, float]) -> None:
        self.fn(step, metrics)


class SnapshotCallback(Callback):
    """Hands weight snapshots to ``fn(tag, weights)``: 'init', 'converged', 'final', 'avg', and 'it{N}'
    every ``every`` iterations when ``every`` > 0."""

    def __init__(self, fn: Callable[[str, dict[str, torch.Tensor]], None], every: int = 0):
        self.fn, self.every = fn, every

    def on_step_end(self, loop: "TrainLoop") -> None:
        if self.every and loop.iteration % self.every == 0:
            loop.snapshot(f"it{loop.iteration}")

    def on_snapshot(self, loop: "TrainLoop", tag: str, weights: dict[str, torch.Tensor]) -> None:
        self.fn(tag, weights)


class CheckpointCallback(Callback):
    """Hands the full training state to ``fn(iteration, state)`` every ``every`` iterations."""

    def __init__(self, fn: Callable[[int, TrainState], None], every: int):
        if every < 1:
            raise ValueError(f"every: must be >= 1, got {every}")
        self.fn, self.every = fn, every

    def on_step_end(self, loop: "TrainLoop") -> None:
        if loop.iteration % self.every == 0 and not loop.stop:
            self.fn(loop.iteration, loop.state())


class ProgressCallback(Callback):
    """One line per ``every_seconds`` with the latest metrics, so long trials show signs of life."""

    def __init__(self, every_seconds: float = 30.0, stream: TextIO | None = None, prefix: str = ""):
        self.every_seconds, self.stream, self.prefix = every_seconds, stream, prefix
        self._last_print = 0.0
        self._latest: dict[str, float] = {}

    def on_train_start(self, loop: "TrainLoop") -> None:
        self._last_print = time.monotonic()

    def on_metrics(self, loop: "TrainLoop", step: int, metrics: dict[str, float]) -> None:
        self._latest.update(metrics)
        if time.monotonic() - self._last_print >= self.every_seconds:
            self._print(loop)

    def on_train_end(self, loop: "TrainLoop") -> None:
        self._print(loop, done=True)

    def _print(self, loop: "TrainLoop", done: bool = False) -> None:
        self._last_print = time.monotonic()
        shown = {k: v for k, v in self._latest.items() if k.split("/")[0] in ("train", "test", "batch")}
        parts = " ".join(f"{k}={v:.4g}" for k, v in sorted(shown.items()))
        status = f" {loop.status}" if done else ""
        print(f"{self.prefix}it {loop.iteration}{status} {parts}".rstrip(), file=self.stream or sys.stdout,
              flush=True)
