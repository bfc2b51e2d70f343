"""run_trial: spec -> data -> model -> SGD -> tails -> compression curves -> pruned accuracy -> result."""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import torch
from torch import nn

from core import keys
from core.checkpoint import TrainState
from core.data import load_dataset
from core.evaluate import evaluate, generalization_gap
from core.layers import weight_layers
from core.iterate_noise import IterateNoise
from core.loop import Callback
from core.measure import curve_metrics, pruned_accuracy_metrics, rank_metrics, tail_metrics
from core.models import build_model, step_scale
from core.result import TrialResult
from core.spec import TrialSpec
from core.train import train
from core.version import MEASURE_VERSION
from core.vocab import DEVICES, DIVERGED, EVAL_WHATS, SPLITS, WEIGHT_SETS, ChoiceError


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' -> the GPU when one is visible, else CPU (a GPU trial on a CPU-only worker still runs)."""
    if isinstance(name, torch.device):
        return name
    if not isinstance(name, str) or not (name in DEVICES or name.startswith("cuda:")):
        raise ChoiceError("device", name, DEVICES + ("cuda:N",))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(name)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _measure_weight_set(model: nn.Module, weights: dict[str, torch.Tensor], wset: str, spec: TrialSpec,
                        data, timer: _Timer) -> dict[str, float]:
    model.load_state_dict(weights)
    metrics: dict[str, float] = {}
    with timer.stage("evaluate"):
        splits = {"train": evaluate(model, data.x_train, data.y_train, spec.train.eval_batch_size),
                  "test": evaluate(model, data.x_test, data.y_test, spec.train.eval_batch_size)}
        for split in SPLITS:
            for what in EVAL_WHATS:
                metrics[keys.eval_key(wset, split, what)] = getattr(splits[split], what)
        gap = generalization_gap(splits["train"], splits["test"])
        for what in EVAL_WHATS:
            metrics[keys.gap_key(wset, what)] = getattr(gap, what)
    layers = weight_layers(model)
    with torch.no_grad():
        with timer.stage("tails"):
            metrics.update(tail_metrics(layers, wset, spec.seed))
        with timer.stage("ranks"):
            metrics.update(rank_metrics(layers, wset))
        with timer.stage("curves"):
            metrics.update(curve_metrics(layers, wset, spec.compress))
    with timer.stage("pruned_eval"):
        metrics.update(pruned_accuracy_metrics(model, data.x_test, data.y_test, wset, spec.compress,
                                               spec.train.eval_batch_size))
    return metrics


def run_trial(spec: TrialSpec, callbacks: Sequence[Callback] = (), *, device: str | torch.device = "auto",
              resume: TrainState | None = None) -> TrialResult:
    """Train one spec on ``device`` and measure it. Diverged training is a result (analysis stages
    skipped), not an error. ``device`` is placement: it never enters the spec or its hash."""
    device = resolve_device(device)
    timer = _Timer()
    with timer.stage("data"):
        data = load_dataset(spec.data, device)
    model = build_model(spec.model, data.in_shape, data.n_classes, seed=spec.seed).to(device)
    layer_info = tuple({"index": l.index, "name": l.name, "role": l.role, "shape": list(l.shape)}
                       for l in weight_layers(model))
    noise = [IterateNoise(model, spec.train, eta=spec.eta, seed=spec.seed, device=device)] \
        if spec.train.has_noise else []
    with timer.stage("train"):
        outcome = train(model, data, spec.train, lr=spec.eta, batch_size=spec.batch_size, seed=spec.seed,
                        callbacks=callbacks, resume=resume, before_rules=noise, step_scale=step_scale(spec.model))
    metrics: dict[str, float] = {keys.ITERATIONS: float(outcome.iterations)}
    notes: list[str] = []
    if outcome.status == DIVERGED:
        notes.append(f"diverged at iteration {outcome.iterations}: tails, curves and pruning skipped")
    else:
        if outcome.avg_count < spec.train.avg_window:
            notes.append(f"avg weights average {outcome.avg_count} iterates (window {spec.train.avg_window})")
        metrics.update(_measure_weight_sets(copy.deepcopy(model), {"final": outcome.final, "avg": outcome.avg},
                                            spec, data, timer))
    metrics.update({keys.time_key(stage): secs for stage, secs in timer.seconds.items()})
    return TrialResult(spec=spec, status=outcome.status, iterations=outcome.iterations, metrics=metrics,
                       history=outcome.history, layers=layer_info, notes=tuple(notes),
                       measure_version=MEASURE_VERSION)


def _measure_weight_sets(model: nn.Module, weight_sets: Mapping[str, Mapping[str, torch.Tensor]], spec: TrialSpec,
                         data, timer: _Timer) -> dict[str, float]:
    device = data.x_train.device
    metrics: dict[str, float] = {}
    for wset in WEIGHT_SETS:
        weights = {k: v.to(device) for k, v in weight_sets[wset].items()}
        metrics.update(_measure_weight_set(model, weights, wset, spec, data, timer))
    return metrics


def measure_trial(spec: TrialSpec, weight_sets: Mapping[str, Mapping[str, torch.Tensor]], *,
                  device: str | torch.device = "auto") -> dict[str, float]:
    """The measurement stages alone (evaluation, gaps, tails, ranks, curves, pruned accuracy) of saved
    ``final`` and ``avg`` weights, as this version defines them: what ``tailsweep remeasure`` reruns
    without training. Includes the stages' ``time/...`` keys."""
    device = resolve_device(device)
    timer = _Timer()
    with timer.stage("data"):
        data = load_dataset(spec.data, device)
    model = build_model(spec.model, data.in_shape, data.n_classes, seed=spec.seed).to(device)
    metrics = _measure_weight_sets(model, weight_sets, spec, data, timer)
    metrics.update({keys.time_key(stage): secs for stage, secs in timer.seconds.items() if stage != "data"})
    return metrics
