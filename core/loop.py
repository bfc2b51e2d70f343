"""The SGD loop and its state: plain SGD on index-sliced batches; everything else is a callback.

A leaf of the training modules: the paper's rules (core/train_rules.py), the host callbacks
(core/callbacks.py) and the wiring (core/train.py) all import this module, and it imports none of them.

The loop calls, in order, ``on_train_start``; after every SGD step ``after_step`` on each callback in
list order; ``on_metrics`` whenever a callback publishes step metrics; ``on_snapshot`` whenever weights
are snapshotted; and ``on_train_end``. List order is the contract: a callback that changes the weights
after a step (e.g. one adding iterate noise) goes before the callbacks that read them (the averager, the
convergence rule). A callback whose state must survive a restart returns it from ``state_dict``
(tensors and JSON-able values only); checkpoints key that state by the callback's ``name``.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.checkpoint import TrainState
from core.data import Dataset
from core.evaluate import Evaluation, evaluate
from core.spec import TrainSpec
from core.vocab import CAPPED, CONVERGED, RUNNING, SPLITS, check_choice


class Callback:
    """No-op base; override what you need. ``name`` keys the callback's checkpointed state, so it must
    be stable across versions and unique within one loop."""

    name: str = ""

    def on_train_start(self, loop: "TrainLoop") -> None:
        pass

    def after_step(self, loop: "TrainLoop") -> None:
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


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of every parameter (a snapshot that later steps cannot change)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class EvalCache:
    """Full-split evaluations of the weights at one iteration, so two rules firing at the same step
    share one pass. Entries of an older iteration are dropped; a callback that changes the weights
    within an iteration calls ``clear``."""

    def __init__(self) -> None:
        self.iteration: int | None = None
        self.by_split: dict[str, Evaluation] = {}

    def get(self, iteration: int, split: str, compute: Callable[[], Evaluation]) -> Evaluation:
        if iteration != self.iteration:
            self.iteration, self.by_split = iteration, {}
        if split not in self.by_split:
            self.by_split[split] = compute()
        return self.by_split[split]

    def clear(self) -> None:
        self.iteration, self.by_split = None, {}


def _check_names(callbacks: Sequence[Callback]) -> None:
    seen: set[str] = set()
    for callback in callbacks:
        name = callback.name
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"callback {type(callback).__name__}: needs a non-empty 'name' without '/' "
                             f"(it keys the callback's checkpointed state), got {name!r}")
        if name in seen:
            raise ValueError(f"callback name {name!r} is used twice in one loop: give each callback its own name")
        seen.add(name)


class TrainLoop:
    """Mutable state of one training run; callbacks read and steer it (``end_iteration``, ``stop``)."""

    def __init__(self, model: nn.Module, data: Dataset, spec: TrainSpec, *, lr: float, batch_size: int,
                 seed: int, callbacks: Sequence[Callback] = (), step_scale: float = 1.0):
        if batch_size > len(data.x_train):
            raise ValueError(f"batch_size: {batch_size} exceeds the {len(data.x_train)} training samples")
        _check_names(callbacks)
        self.model, self.data, self.spec = model, data, spec
        self.batch_size = batch_size
        self.callbacks = list(callbacks)
        # step_scale: the parametrization's factor over eta (mean_field: the width; core.models.step_scale)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr * step_scale, momentum=0.0, weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(seed)
        self.device = data.x_train.device
        self.iteration = 0
        self.end_iteration = spec.max_iters
        self.status = RUNNING
        self.converged_at: int | None = None
        self.stop = False
        self.history: list[tuple[int, str, float]] = []
        self.eval_cache = EvalCache()
        self.batch_loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.batch_loss_count = 0
        self._perm = self._new_permutation()
        self._pos = 0

    # -- the loop -------------------------------------------------------------------------------
    def run(self, *, resumed: bool = False) -> None:
        if not resumed:
            for callback in self.callbacks:
                callback.on_train_start(self)
        while not self.stop and self.iteration < self.end_iteration:
            self.step()
            for callback in self.callbacks:
                callback.after_step(self)
        if self.status == RUNNING:
            self.status = CONVERGED if self.converged_at is not None else CAPPED
        for callback in self.callbacks:
            callback.on_train_end(self)

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
    def evaluate_split(self, split: str) -> Evaluation:
        """Loss and accuracy of the current weights on a whole split, cached for this iteration."""
        check_choice("split", split, SPLITS)
        data = self.data
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        return self.eval_cache.get(self.iteration, split,
                                   lambda: evaluate(self.model, x, y, self.spec.eval_batch_size))

    def publish(self, metrics: dict[str, float], step: int | None = None) -> None:
        step = self.iteration if step is None else step
        self.history.extend((step, k, float(v)) for k, v in metrics.items())
        for callback in self.callbacks:
            callback.on_metrics(self, step, metrics)

    def snapshot(self, tag: str, weights: dict[str, torch.Tensor] | None = None) -> None:
        weights = weights_of(self.model) if weights is None else weights
        for callback in self.callbacks:
            callback.on_snapshot(self, tag, weights)

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
        meta: dict[str, Any] = {
            "iteration": self.iteration, "end_iteration": self.end_iteration, "status": self.status,
            "converged_at": self.converged_at, "pos": self._pos, "batch_loss_count": self.batch_loss_count,
            "history": self.history, "callbacks": {},
        }
        for callback in self.callbacks:
            callback_state = callback.state_dict()
            if not callback_state:
                continue
            tensor_keys = [k for k, v in callback_state.items() if isinstance(v, torch.Tensor)]
            tensors.update({f"cb/{callback.name}/{k}": callback_state[k] for k in tensor_keys})
            meta["callbacks"][callback.name] = {k: v for k, v in callback_state.items() if k not in tensor_keys}
        return TrainState(tensors=tensors, meta=copy.deepcopy(meta))

    def load_state(self, state: TrainState) -> None:
        tensors, meta = state.tensors, state.meta
        self.model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
        self._perm = tensors["loop/perm"].to(self.device)
        self.generator.set_state(tensors["loop/generator"])
        self.batch_loss_sum = tensors["loop/batch_loss_sum"].to(self.device, torch.float64).clone()
        self.iteration, self.end_iteration = meta["iteration"], meta["end_iteration"]
        self.status, self.converged_at = meta["status"], meta["converged_at"]
        self._pos, self.batch_loss_count = meta["pos"], meta["batch_loss_count"]
        self.history = [(int(s), k, float(v)) for s, k, v in meta["history"]]
        self.eval_cache.clear()
        self._load_callback_states(tensors, meta["callbacks"])

    def _load_callback_states(self, tensors: dict[str, torch.Tensor], saved: dict[str, dict[str, Any]]) -> None:
        # A state nobody claims, or a stateful callback without one, would break bit-for-bit resume
        # silently: refuse instead.
        by_name = {callback.name: callback for callback in self.callbacks}
        unclaimed = sorted(set(saved) - set(by_name))
        if unclaimed:
            raise ValueError(f"checkpoint: holds state for callbacks {', '.join(unclaimed)} that this loop does "
                             f"not have (callbacks: {', '.join(by_name)})")
        for name, callback in by_name.items():
            prefix = f"cb/{name}/"
            callback_state = dict(saved.get(name, {}))
            callback_state.update({k[len(prefix):]: v.to(self.device) for k, v in tensors.items()
                                   if k.startswith(prefix)})
            if callback_state:
                callback.load_state_dict(callback_state)
            elif callback.state_dict():
                raise ValueError(f"checkpoint: holds no state for callback {name!r}, which keeps state")
