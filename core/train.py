"""The SGD loop: plain SGD on index-sliced batches; everything else is a callback.

The paper's rules (convergence check, divergence, iterate averaging, test curves, alpha over time) are
callbacks in core/train_rules.py; ``train`` wires them in front of the host's callbacks.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.callbacks import Callback
from core.checkpoint import TrainState
from core.data import Dataset
from core.spec import TrainSpec

STATUS_RUNNING, STATUS_CONVERGED, STATUS_CAPPED, STATUS_DIVERGED = "running", "converged", "capped", "diverged"


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of every parameter (a snapshot that later steps cannot change)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class TrainLoop:
    """Mutable state of one training run; callbacks read and steer it (``end_iteration``, ``stop``)."""

    def __init__(self, model: nn.Module, data: Dataset, spec: TrainSpec, *, lr: float, batch_size: int,
                 seed: int, callbacks: Sequence[Callback] = ()):
        if batch_size > len(data.x_train):
            raise ValueError(f"batch_size: {batch_size} exceeds the {len(data.x_train)} training samples")
        self.model, self.data, self.spec = model, data, spec
        self.batch_size = batch_size
        self.callbacks = list(callbacks)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0, weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(seed)
        self.device = data.x_train.device
        self.iteration = 0
        self.end_iteration = spec.max_iters
        self.status = STATUS_RUNNING
        self.converged_at: int | None = None
        self.stop = False
        self.history: list[tuple[int, str, float]] = []
        self.batch_loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.batch_loss_count = 0
        self._perm = self._new_permutation()
        self._pos = 0

    # -- the loop -------------------------------------------------------------------------------
    def run(self, *, resumed: bool = False) -> None:
        if not resumed:
            for cb in self.callbacks:
                cb.on_train_start(self)
        while not self.stop and self.iteration < self.end_iteration:
            self.step()
            for cb in self.callbacks:
                cb.on_step_end(self)
        if self.status == STATUS_RUNNING:
            self.status = STATUS_CONVERGED if self.converged_at is not None else STATUS_CAPPED
        for cb in self.callbacks:
            cb.on_train_end(self)

    def step(self) -> None:
        idx = self._next_batch()
        loss = F.cross_entropy(self.model(self.data.x_train[idx]), self.data.y_train[idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.batch_loss_sum += loss.detach()
        self.batch_loss_count += 1
        self.iteration += 1

    def _new_permutation(self) -> torch.Tensor:
        return torch.randperm(len(self.data.x_train), generator=self.generator).to(self.device)

    def _next_batch(self) -> torch.Tensor:
        # Epochs of a seeded permutation; the incomplete tail batch is dropped (each batch is exactly b).
        if self._pos + self.batch_size > len(self._perm):
            self._perm, self._pos = self._new_permutation(), 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    # -- services for callbacks -------------------------------------------------------------------
    def publish(self, metrics: dict[str, float], step: int | None = None) -> None:
        step = self.iteration if step is None else step
        self.history.extend((step, k, float(v)) for k, v in metrics.items())
        for cb in self.callbacks:
            cb.on_metrics(self, step, metrics)

    def snapshot(self, tag: str, weights: dict[str, torch.Tensor] | None = None) -> None:
        weights = weights_of(self.model) if weights is None else weights
        for cb in self.callbacks:
            cb.on_snapshot(self, tag, weights)

    def take_batch_loss(self) -> float | None:
        """Mean minibatch loss since the previous call (None if no step since); resets the accumulator."""
        if self.batch_loss_count == 0:
            return None
        mean = float(self.batch_loss_sum) / self.batch_loss_count
        self.batch_loss_sum.zero_()
        self.batch_loss_count = 0
        return mean

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> TrainState:
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        tensors["loop/perm"] = self._perm
        tensors["loop/generator"] = self.generator.get_state()
        tensors["loop/batch_loss_sum"] = self.batch_loss_sum
        meta = {
            "iteration": self.iteration, "end_iteration": self.end_iteration, "status": self.status,
            "converged_at": self.converged_at, "pos": self._pos, "batch_loss_count": self.batch_loss_count,
            "history": self.history, "callbacks": {},
        }
        for i, cb in enumerate(self.callbacks):
            cb_state = cb.state_dict()
            if not cb_state:
                continue
            name = f"{i}:{type(cb).__name__}"
            tensor_keys = [k for k, v in cb_state.items() if isinstance(v, torch.Tensor)]
            tensors.update({f"cb/{name}/{k}": cb_state[k] for k in tensor_keys})
            meta["callbacks"][name] = {k: v for k, v in cb_state.items() if k not in tensor_keys}
        return TrainState(tensors=tensors, meta=copy.deepcopy(meta))

    def load_state(self, state: TrainState) -> None:
        t, meta = state.tensors, state.meta
        self.model.load_state_dict({k[len("model/"):]: v for k, v in t.items() if k.startswith("model/")})
        self._perm = t["loop/perm"].to(self.device)
        self.generator.set_state(t["loop/generator"])
        self.batch_loss_sum = t["loop/batch_loss_sum"].to(self.device, torch.float64).clone()
        self.iteration, self.end_iteration = meta["iteration"], meta["end_iteration"]
        self.status, self.converged_at = meta["status"], meta["converged_at"]
        self._pos, self.batch_loss_count = meta["pos"], meta["batch_loss_count"]
        self.history = [(int(s), k, float(v)) for s, k, v in meta["history"]]
        for i, cb in enumerate(self.callbacks):
            name = f"{i}:{type(cb).__name__}"
            prefix = f"cb/{name}/"
            cb_state = dict(meta["callbacks"].get(name, {}))
            cb_state.update({k[len(prefix):]: v.to(self.device) for k, v in t.items() if k.startswith(prefix)})
            if cb_state:
                cb.load_state_dict(cb_state)


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
          callbacks: Sequence[Callback] = (), resume: TrainState | None = None) -> TrainOutcome:
    """Train ``model`` in place with the paper's rules; ``resume`` continues a saved state bit-for-bit."""
    from core.train_rules import AlphaTracker, ConvergenceRule, IterateAverager, TestCurve

    averager = IterateAverager(spec.avg_window)
    # Rules come first and in a fixed order: checkpoints key callback state by position.
    rules = [ConvergenceRule(spec), averager, TestCurve(spec.test_every), AlphaTracker(spec.alpha_every, seed)]
    loop = TrainLoop(model, data, spec, lr=lr, batch_size=batch_size, seed=seed, callbacks=[*rules, *callbacks])
    if resume is not None:
        loop.load_state(resume)
    else:
        loop.snapshot("init")
    loop.run(resumed=resume is not None)
    final = weights_of(model)
    averaged = averager.averaged_weights(loop)
    avg = {**final, **averaged} if averaged else final
    loop.snapshot("final", final)
    loop.snapshot("avg", avg)
    return TrainOutcome(status=loop.status, iterations=loop.iteration, converged_at=loop.converged_at,
                        final=final, avg=avg, avg_count=averager.count, history=tuple(loop.history))
