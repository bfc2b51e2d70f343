"""Ray and Tune: connect, check shared storage, build or restore the Tuner, and summarise the outcome.

Tune's experiment state lives under the sweep's directory (``Layout.ray_dir``), so ``Tuner.restore``
finds it again from the sweep name alone.
"""
from __future__ import annotations

import os
import uuid
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

import ray
from ray import tune

from sweep.config import PlannedTrial, Resources
from sweep.console import SPEC_HASH_PARAM, TUNE_VERBOSITY, Console
from sweep.errors import UserError
from sweep.paths import Layout
from sweep.trainable import TrialContext, run_planned_trial

LOCAL = None   # the --address of an embedded, single-machine Ray


def init_ray(address: str | None = LOCAL, console: Console | None = None) -> None:
    """Embedded Ray (machine's CPUs, no dashboard, token auth off) or an existing cluster; its logs as
    quiet as ``console`` asks (default: Ray's own)."""
    if ray.is_initialized():
        return
    options = console.ray_init_options(local=address is LOCAL) if console is not None else {}
    if address is LOCAL:
        # Local Ray turns token auth on and writes ~/.ray/auth_token; an embedded run has no other users.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        # "local": a new Ray of this process's own. With no address, ray.init() joins the cluster the
        # machine's last `ray start` recorded (or RAY_ADDRESS), and an embedded sweep would then run on, and
        # die with, somebody else's cluster.
        ray.init(address="local", include_dashboard=False, **options)
    else:
        ray.init(address=address, **options)


def require_shared_storage(address: str | None, storage_given: bool) -> None:
    """A cluster's trials write on other machines: the storage root must be a path every node mounts."""
    if address is not LOCAL and not storage_given:
        raise UserError(f"--address {address}: a cluster run needs a shared storage path that every node "
                        "mounts (an NFS or similar mount): pass --storage DIR or set storage: in the sweep file")


@ray.remote(num_cpus=0)
def _sees(path: str) -> bool:
    return Path(path).exists()


def check_storage_visible(root: Path) -> None:
    """Every live node must see the storage root (checked with a marker file the driver writes)."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2:
        return
    marker = root / f".visible-{uuid.uuid4().hex}"
    marker.write_text("tailsweep storage check\n")
    try:
        strategy = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy
        checks = {n["NodeManagerAddress"]: _sees.options(scheduling_strategy=strategy(n["NodeID"], soft=False))
                  .remote(str(marker)) for n in nodes}
        blind = [addr for addr, ref in checks.items() if not ray.get(ref, timeout=120)]
    finally:
        marker.unlink(missing_ok=True)
    if blind:
        raise UserError(f"--storage {root}: not visible on node(s) {', '.join(blind)}: a multi-node sweep needs a "
                        "storage path every node mounts")


def _trainable(context: TrialContext, resources: Resources):
    return tune.with_resources(tune.with_parameters(run_planned_trial, context=context),
                               {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial})


def _trial_name(names: Mapping[str, str], trial) -> str:
    spec_hash = trial.config[SPEC_HASH_PARAM]
    return names.get(spec_hash, f"trial-{spec_hash}")


def _trial_dirname(names: Mapping[str, str], trial) -> str:
    return f"{_trial_name(names, trial)}_{trial.config[SPEC_HASH_PARAM][:8]}"


def build_tuner(layout: Layout, sweep: str, trials: Sequence[PlannedTrial], context: TrialContext,
                resources: Resources, callbacks: Sequence[tune.Callback] = (),
                console: Console | None = None) -> tune.Tuner:
    """One Tune trial per planned trial (a grid_search over their configs), Tune state under the sweep."""
    console = console or Console(sweep)
    console.prepare()
    space = {SPEC_HASH_PARAM: tune.grid_search([t.spec_hash for t in trials])}
    ray_dir = layout.ray_dir(sweep)
    names = {t.spec_hash: t.name for t in trials}   # pickled into Tune's state: keep it small
    return tune.Tuner(
        _trainable(context, resources),
        param_space=space,
        # reuse_actors: a trial's worker keeps torch/MLflow imported for the next one (the trainable holds
        # no state between trials).
        tune_config=tune.TuneConfig(max_concurrent_trials=resources.max_concurrent, reuse_actors=True,
                                    trial_name_creator=partial(_trial_name, names),
                                    trial_dirname_creator=partial(_trial_dirname, names)),
        run_config=tune.RunConfig(
            name=ray_dir.name, storage_path=str(ray_dir.parent), callbacks=list(callbacks),
            failure_config=tune.FailureConfig(max_failures=resources.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            progress_reporter=console.reporter(), verbose=TUNE_VERBOSITY),
    )


def can_restore(layout: Layout, sweep: str) -> bool:
    return tune.Tuner.can_restore(str(layout.ray_dir(sweep)))


def restore_tuner(layout: Layout, sweep: str, context: TrialContext, resources: Resources, *,
                  restart_errored: bool = False, console: Console | None = None) -> tune.Tuner:
    """Continue the last `run` of this sweep: unfinished and errored trials go on from their last
    checkpoint (``restart_errored``: errored ones start over instead)."""
    console = console or Console(sweep)
    console.prepare()
    tuner = tune.Tuner.restore(str(layout.ray_dir(sweep)), trainable=_trainable(context, resources),
                               resume_unfinished=True, resume_errored=not restart_errored,
                               restart_errored=restart_errored)
    # The restored RunConfig is the one pickled by the first `run` (its reporter and verbosity, or Ray's
    # defaults in stores made before this console): show this command's choice. Ray Client runs hold
    # the Tuner remotely (no _local_tuner) and keep theirs.
    local = getattr(tuner, "_local_tuner", None)
    if local is not None:
        run_config = local.get_run_config()
        run_config.progress_reporter, run_config.verbose = console.reporter(), TUNE_VERBOSITY
    return tuner
