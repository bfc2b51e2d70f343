"""The paper's training rules as callbacks: convergence/divergence, iterate averaging, curves, alpha(t).

``PaperRules`` holds them in their one order (see core/loop.py: list order is the contract).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from core import keys
from core.evaluate import Evaluation
from core.layers import weight_layers
from core.loop import Callback, TrainLoop
from core.spec import TrainSpec
from core.tails import estimate_alpha, layer_samples
from core.vocab import BATCH, DIVERGED, EVAL_WHATS, SPLITS


def _publish_eval(loop: TrainLoop, split: str) -> Evaluation:
    evaluation = loop.evaluate_split(split)
    loop.publish({keys.step_key(split, what): getattr(evaluation, what) for what in EVAL_WHATS})
    return evaluation


class ConvergenceRule(Callback):
    """Converged: full-train loss < threshold and 100% accuracy, checked every ``eval_every`` iterations,
    but only when the running minibatch loss is under ``eval_trigger`` x threshold (the full pass is the
    expensive part; the rule stays exact because a full-train loss under the threshold cannot hide behind a
    running batch loss ten times higher for long). With ``stop_acc`` set, converged instead means full
    train accuracy >= stop_acc, checked every ``eval_every`` without the gate. Then
    ``post_converge_iters`` more iterations.
    Diverged: a non-finite loss, or train accuracy <= ``diverge_acc`` at the first check past
    ``diverge_after``."""

    name = "convergence"

    def __init__(self, spec: TrainSpec):
        self.spec = spec
        self.diverge_checked = False

    def after_step(self, loop: TrainLoop) -> None:
        if loop.iteration % self.spec.eval_every:
            return
        batch_loss = loop.take_batch_loss()
        if batch_loss is None:
            return
        loop.publish({keys.step_key(BATCH, "loss"): batch_loss})
        if not math.isfinite(batch_loss):
            return self._diverge(loop)
        if loop.converged_at is not None:
            return
        diverge_check_due = not self.diverge_checked and loop.iteration >= self.spec.diverge_after
        # The batch-loss gate serves the loss threshold; an accuracy target (stop_acc) is checked at every
        # eval_every, since the gate would never open at, say, 95% accuracy.
        gated = self.spec.stop_acc is None
        if gated and batch_loss >= self.spec.eval_trigger * self.spec.loss_threshold and not diverge_check_due:
            return
        train = _publish_eval(loop, "train")
        if not math.isfinite(train.loss):
            return self._diverge(loop)
        if diverge_check_due:
            self.diverge_checked = True
            if train.acc <= self.spec.diverge_acc:
                return self._diverge(loop)
        if self._reached(train):
            loop.converged_at = loop.iteration
            loop.end_iteration = min(loop.iteration + self.spec.post_converge_iters, self.spec.max_iters)
            loop.snapshot("converged")

    def _reached(self, train: Evaluation) -> bool:
        if self.spec.stop_acc is not None:
            return train.acc >= self.spec.stop_acc
        return train.loss < self.spec.loss_threshold and train.acc == 1.0

    @staticmethod
    def _diverge(loop: TrainLoop) -> None:
        loop.status, loop.stop = DIVERGED, True

    def state_dict(self) -> dict[str, Any]:
        return {"diverge_checked": self.diverge_checked}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.diverge_checked = bool(state["diverge_checked"])


class IterateAverager(Callback):
    """Uniform mean of the last ``window`` iterates before the loop's (possibly moving) end."""

    name = "averager"

    def __init__(self, window: int):
        self.window = window
        self.count = 0
        self.window_end: int | None = None
        self.avg: list[torch.Tensor] = []

    def after_step(self, loop: TrainLoop) -> None:
        if loop.iteration <= loop.end_iteration - self.window:
            return
        if loop.end_iteration != self.window_end:
            # The end moved (convergence): iterates gathered for the old end are outside the new window.
            self.window_end, self.count = loop.end_iteration, 0
        params = [p.detach() for p in loop.model.parameters()]
        self.count += 1
        if self.count == 1:
            self.avg = [p.clone() for p in params]
        else:
            torch._foreach_lerp_(self.avg, params, 1.0 / self.count)

    def averaged_weights(self, loop: TrainLoop) -> dict[str, torch.Tensor] | None:
        if self.count == 0:
            return None
        names = [name for name, _ in loop.model.named_parameters()]
        return {name: a.detach().to("cpu", copy=True) for name, a in zip(names, self.avg)}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"count": self.count, "window_end": self.window_end}
        state.update({f"avg{i}": a for i, a in enumerate(self.avg)})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count, self.window_end = int(state["count"]), state["window_end"]
        n = sum(1 for k in state if k.startswith("avg"))
        self.avg = [state[f"avg{i}"].clone() for i in range(n)]


class TestCurve(Callback):
    """Train and test loss/accuracy every ``every`` iterations, for the curves (not for the rule)."""

    name = "test_curve"

    def __init__(self, every: int):
        self.every = every

    def after_step(self, loop: TrainLoop) -> None:
        if loop.iteration % self.every == 0 and not loop.stop:
            for split in SPLITS:
                _publish_eval(loop, split)


class AlphaTracker(Callback):
    """Multivariate block-sum alpha of each layer's current weights every ``every`` iterations."""

    name = "alpha_tracker"

    def __init__(self, every: int, seed: int):
        self.every, self.seed = every, seed

    def after_step(self, loop: TrainLoop) -> None:
        if self.every and loop.iteration % self.every == 0 and not loop.stop:
            metrics = {}
            for layer in weight_layers(loop.model):
                samples = layer_samples(layer.weight.detach(), layer.role)
                if samples.shape[0] >= 4 and bool(torch.isfinite(samples).all()):
                    metrics[keys.current_alpha_key(layer.index)] = estimate_alpha(samples, seed=self.seed).alpha
            loop.publish(metrics)


@dataclass(frozen=True)
class PaperRules:
    """The paper's rules, by role and in their one order (``ordered``): the convergence rule may move
    the loop's end before the averager decides whether this iterate is inside its window; the curves and
    alpha(t) only read."""

    convergence: ConvergenceRule
    averager: IterateAverager
    test_curve: TestCurve
    alpha_tracker: AlphaTracker

    @classmethod
    def of(cls, spec: TrainSpec, seed: int) -> "PaperRules":
        return cls(ConvergenceRule(spec), IterateAverager(spec.avg_window), TestCurve(spec.test_every),
                   AlphaTracker(spec.alpha_every, seed))

    @property
    def ordered(self) -> tuple[Callback, ...]:
        return (self.convergence, self.averager, self.test_curve, self.alpha_tracker)
