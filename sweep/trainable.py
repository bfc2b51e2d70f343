"""The Ray Tune function trainable: one planned trial -> core.pipeline.run_trial -> trial directory + MLflow.

Ray sits behind this one adapter (its reporting API has changed four times): ``tune.report`` for step
metrics and checkpoints, ``tune.get_checkpoint`` to continue a retried or restored trial. Everything the
trial keeps goes to the absolute trial directory (files in the worker's cwd are not kept) and MLflow.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from ray import tune

from core.callbacks import CheckpointCallback, MetricsCallback, SnapshotCallback
from core.checkpoint import TrainState, load_state, save_state
from core.pipeline import run_trial
from core.spec import TrialSpec
from sweep import console
from sweep.config import PlannedTrial
from sweep.mlflow_runs import RunLinks
from sweep.paths import Layout
from sweep.tracking import Tracker
from sweep.tracking_config import TrackingConfig
from sweep.trial_store import TrialStore

CHECKPOINT_CHECK_ITERS = 200   # how often the time-gated checkpoint is considered


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one sweep shares; picklable (handed over by ``tune.with_parameters``)."""

    root: str                       # absolute storage root, the same path on every node
    sweep: str
    tracking: TrackingConfig
    plan: Mapping[str, tuple[str, TrialSpec]]   # spec hash -> (run name, the validated spec itself)
    checkpoint_every_s: float = 60.0
    device: str = "auto"            # resources.device: placement, never part of a spec
    links: RunLinks = RunLinks()    # the sweep's parent run and the source tags, for every trial run

    def planned(self, spec_hash: str, store: TrialStore) -> tuple[str, TrialSpec]:
        """Tune's config holds only the hash (a readable progress table); the spec comes from here."""
        if spec_hash in self.plan:
            return self.plan[spec_hash]
        # A restored Tune trial whose grid point left the sweep file: its own directory knows it.
        return store.tracking_record(spec_hash).run_name or f"trial-{spec_hash}", store.load_spec(spec_hash)


def make_plan(trials: Iterable[PlannedTrial]) -> dict[str, tuple[str, TrialSpec]]:
    """Frozen specs pickle as they are: the worker gets the spec validated once, not text to re-parse."""
    return {t.spec_hash: (t.name, t.spec) for t in trials}


def _placed(device: str) -> str:
    """'auto' and 'cuda' mean the GPUs Ray gave this trial: none -> CPU, even on a GPU node (Ray's
    accounting); Ray makes its GPU the only visible one, so 'cuda' is that GPU."""
    if device not in ("auto", "cuda"):
        return device
    gpus = tune.get_context().get_trial_resources().required_resources.get("GPU", 0)
    return "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"


def _use_trial_cpus() -> None:
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))


class _TuneHooks:
    """Step metrics -> MLflow (batched by the logger) and Tune; training state -> Tune checkpoints."""

    def __init__(self, logger: Any, checkpoint_every_s: float):
        self.logger = logger
        self.checkpoint_every_s = checkpoint_every_s
        self.last_checkpoint = time.monotonic()
        self.latest: dict[str, float] = {}

    def metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.logger.log_step(step, metrics)
        self.latest.update(metrics)
        tune.report(self._row(step, metrics))

    def checkpoint(self, iteration: int, state: TrainState) -> None:
        if time.monotonic() - self.last_checkpoint < self.checkpoint_every_s:
            return
        self.logger.flush()   # the run holds every point up to the checkpoint a retry starts from
        with tempfile.TemporaryDirectory(prefix="tailsweep-ckpt-") as tmp:
            save_state(state, tmp)
            tune.report(self._row(iteration, self.latest), checkpoint=tune.Checkpoint.from_directory(tmp))
        self.last_checkpoint = time.monotonic()

    def _row(self, step: int, metrics: dict[str, float]) -> dict[str, Any]:
        return {console.ITERATION: step, **metrics, **console.step_row(self.latest)}


def _resume_state() -> TrainState | None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return load_state(directory)


def run_planned_trial(config: dict[str, Any], context: TrialContext) -> None:
    """The function trainable. ``config[console.SPEC_HASH_PARAM]`` is the spec hash of one planned trial."""
    spec_hash = config[console.SPEC_HASH_PARAM]
    root = Path(context.root)
    if not root.is_dir():
        raise RuntimeError(f"storage root {root} is not visible on node {os.uname().nodename}: a multi-node "
                           "sweep needs a storage path every node mounts (--storage)")
    store = TrialStore(Layout(root), context.sweep)
    name, spec = context.planned(spec_hash, store)
    tracker = Tracker(context.tracking)
    if store.is_done(spec_hash):   # finished by an earlier attempt: never retrain; MLflow catches up
        tracker.upload_finished(store, spec_hash, name, links=context.links)
        tune.report({**console.final_row(store.load_result(spec_hash)), "skipped": True})
        return
    _use_trial_cpus()
    logger = tracker.trial_logger(store, spec, name, links=context.links)
    hooks = _TuneHooks(logger, context.checkpoint_every_s)
    callbacks = [MetricsCallback(hooks.metrics),
                 SnapshotCallback(store.snapshot_saver(spec_hash), every=spec.train.snapshot_every),
                 CheckpointCallback(hooks.checkpoint, every=CHECKPOINT_CHECK_ITERS)]
    try:
        result = run_trial(spec, callbacks, device=_placed(context.device), resume=_resume_state())
    except Exception as err:
        logger.fail(err)
        raise   # outcome "failed": Ray retries up to max_failures, from the last checkpoint
    logger.record(result)
    tune.report(console.final_row(result))
