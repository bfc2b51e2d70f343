"""Shared fixtures: one Ray for the whole session (a ray.init costs seconds), tiny sweep files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before Ray or MLflow is imported anywhere: no token auth, no telemetry, no usage stats.
for _key, _value in (("RAY_AUTH_MODE", "disabled"), ("MLFLOW_DISABLE_TELEMETRY", "true"),
                     ("RAY_USAGE_STATS_ENABLED", "0"), ("DO_NOT_TRACK", "1")):
    os.environ.setdefault(_key, _value)

TINY_SWEEP = """\
name: {name}
data: {{dataset: synthetic, n_train: 240, n_test: 120, dim: 16, classes: 4, teacher_width: 16}}
model: {{arch: fcn, depth: 3}}
train: {{max_iters: {max_iters}, eval_every: 50, test_every: 100, alpha_every: 100, post_converge_iters: 50,
         avg_window: 20, eval_batch_size: 500}}
compress: {{methods: [magnitude, singular, node], ratios: [0.0, 0.5], curve_ratios: [0.0, 0.5, 0.9], eps: [0.1]}}
grid:
  eta_over_b: {etas}
  batch_size: [10]
  width: {widths}
  seed: [0]
resources: {{cpus_per_trial: {cpus}, gpus_per_trial: {gpus}, max_concurrent: {concurrent}, max_failures: 0,
             checkpoint_every_s: 0}}
"""


def tiny_sweep_text(name: str = "tiny", *, etas=(1.0e-3, 4.0e-3), widths=(16, 32), max_iters: int = 200,
                    cpus: float = 1, gpus: float = 0, concurrent: int = 2) -> str:
    """A sweep of len(etas) x len(widths) synthetic trials, seconds each."""
    return TINY_SWEEP.format(name=name, etas=list(etas), widths=list(widths), max_iters=max_iters,
                             cpus=cpus, gpus=gpus, concurrent=concurrent)


@pytest.fixture
def write_sweep(tmp_path: Path):
    def write(text: str, filename: str = "sweep.yaml") -> Path:
        path = tmp_path / filename
        path.write_text(text)
        return path
    return write


@pytest.fixture(scope="session")
def ray_session():
    """The session's one Ray: 2 CPUs and one *logical* GPU, so GPU packing is testable on CPU machines."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray
    ray.shutdown()
