import math

import pytest
import torch

from core.callbacks import CheckpointCallback, MetricsCallback, SnapshotCallback
from core.checkpoint import load_state, save_state
from core.data import load_dataset
from core.models import build_model
from core.spec import DataSpec, ModelSpec, TrainSpec
from core.loop import Callback
from core.train import train

DATA = DataSpec(dataset="synthetic", dim=16, n_train=500, n_test=200)
MODEL = ModelSpec(width=48, depth=3)


@pytest.fixture(scope="module")
def data():
    return load_dataset(DATA)


def _run(data, spec: TrainSpec, lr=0.1, seed=0, callbacks=(), resume=None, before_rules=()):
    model = build_model(MODEL, data.in_shape, data.n_classes, seed=seed)
    return train(model, data, spec, lr=lr, batch_size=50, seed=seed, callbacks=callbacks, resume=resume,
                 before_rules=before_rules)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


FAST = TrainSpec(max_iters=3000, loss_threshold=2e-3, post_converge_iters=300, avg_window=100,
                 eval_every=50, test_every=500, alpha_every=500)


def test_converges_then_runs_post_convergence_iterations(data):
    tags = []
    out = _run(data, FAST, lr=0.5, callbacks=[SnapshotCallback(lambda tag, w: tags.append(tag))])
    assert out.status == "converged"
    assert out.converged_at is not None and out.converged_at % FAST.eval_every == 0
    assert out.iterations == out.converged_at + FAST.post_converge_iters
    assert out.avg_count == FAST.avg_window
    assert tags[0] == "init" and "converged" in tags and tags[-2:] == ["final", "avg"]
    last_train = [v for s, k, v in out.history if k == "train/loss" and s == out.converged_at]
    assert last_train and last_train[0] < FAST.loss_threshold


def test_same_seed_gives_identical_weights_and_other_seed_does_not(data):
    spec = TrainSpec(max_iters=300, alpha_every=0, test_every=1000)
    a, b, c = _run(data, spec), _run(data, spec), _run(data, spec, seed=1)
    assert _equal(a.final, b.final) and _equal(a.avg, b.avg)
    assert not _equal(a.final, c.final)


def test_huge_step_size_diverges_as_a_result(data):
    out = _run(data, TrainSpec(max_iters=2000, eval_every=20, alpha_every=0), lr=1e4)
    assert out.status == "diverged"
    assert out.iterations < 2000
    losses = [v for _, k, v in out.history if k == "batch/loss"]
    assert not math.isfinite(losses[-1]) or losses[-1] > 1e3


def test_low_train_accuracy_after_diverge_after_counts_as_diverged(data):
    out = _run(data, TrainSpec(max_iters=2000, diverge_after=100, diverge_acc=0.999, eval_every=50, alpha_every=0),
               lr=1e-4)
    assert out.status == "diverged" and out.iterations == 100


def test_cap_without_convergence_is_capped(data):
    out = _run(data, TrainSpec(max_iters=120, alpha_every=0, avg_window=50), lr=1e-3)
    assert out.status == "capped" and out.iterations == 120 and out.avg_count == 50


def test_avg_is_the_uniform_mean_of_the_last_window_iterates(data):
    spec = TrainSpec(max_iters=200, avg_window=40, alpha_every=0, test_every=1000)
    iterates = {}
    out = _run(data, spec, callbacks=[SnapshotCallback(lambda tag, w: iterates.__setitem__(tag, w), every=1)])
    window = [iterates[f"it{i}"] for i in range(161, 201)]
    for name in out.avg:
        expected = torch.stack([w[name] for w in window]).double().mean(0)
        torch.testing.assert_close(out.avg[name].double(), expected, rtol=1e-5, atol=1e-6)


def test_restart_from_checkpoint_continues_bit_for_bit(data, tmp_path):
    spec = TrainSpec(max_iters=900, loss_threshold=2e-3, post_converge_iters=200, avg_window=150,
                     eval_every=50, test_every=300, alpha_every=300)
    saved = {}

    def keep(iteration, state):
        saved[iteration] = save_state(state, tmp_path / f"ckpt{iteration}")

    full = _run(data, spec, lr=0.3, callbacks=[CheckpointCallback(keep, every=250)])
    assert set(saved) >= {250, 500}
    for at in (250, 500):
        resumed = _run(data, spec, lr=0.3, resume=load_state(saved[at]))
        assert resumed.status == full.status and resumed.iterations == full.iterations
        assert _equal(resumed.final, full.final) and _equal(resumed.avg, full.avg)
        assert resumed.history == full.history


def test_step_metrics_reach_the_host_with_their_iteration(data):
    seen = []
    _run(data, TrainSpec(max_iters=400, test_every=200, alpha_every=200), callbacks=[
        MetricsCallback(lambda step, m: seen.append((step, dict(m))))])
    steps_with_test = [s for s, m in seen if "test/acc" in m]
    assert steps_with_test == [200, 400]
    alpha_points = [m for s, m in seen if any(k.startswith("alpha/current/multi/layer") for k in m)]
    assert len(alpha_points) == 2 and len(alpha_points[0]) == 3
    assert all(0 < v <= 2 for v in alpha_points[0].values())


def test_batch_larger_than_the_training_set_is_rejected(data):
    model = build_model(MODEL, data.in_shape, data.n_classes, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        train(model, data, TrainSpec(), lr=0.1, batch_size=10_000, seed=0)


def test_progress_lines_show_iteration_metrics_and_outcome(data):
    import io

    from core.callbacks import ProgressCallback

    stream = io.StringIO()
    _run(data, TrainSpec(max_iters=400, test_every=200, alpha_every=0),
         callbacks=[ProgressCallback(every_seconds=0.0, stream=stream, prefix="[t] ")])
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[t] it 200 batch/loss=")
    assert any(line.startswith("[t] it 200 ") and "test/acc=" in line for line in lines)
    assert lines[-1].startswith("[t] it 400 capped")


class IterateNoise(Callback):
    """The shape of a weight-changing rule: Gaussian noise on the weights right after each step, from its
    own generator, whose state must travel in checkpoints for a bit-for-bit resume."""

    name = "iterate_noise"

    def __init__(self, scale: float, seed: int):
        self.scale = scale
        self.generator = torch.Generator().manual_seed(seed)

    def after_step(self, loop) -> None:
        with torch.no_grad():
            for p in loop.model.parameters():
                p.add_(torch.randn(p.shape, generator=self.generator) * self.scale)

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"].cpu())


def test_a_weight_changing_rule_before_the_rules_resumes_bit_for_bit(data, tmp_path):
    spec = TrainSpec(max_iters=400, avg_window=100, eval_every=50, test_every=200, alpha_every=200)
    saved = {}

    def keep(iteration, state):
        saved[iteration] = save_state(state, tmp_path / f"ckpt{iteration}")

    plain = _run(data, spec)
    full = _run(data, spec, callbacks=[CheckpointCallback(keep, every=150)], before_rules=[IterateNoise(1e-3, 7)])
    assert not _equal(full.final, plain.final)       # the noise reached the weights ...
    state = load_state(saved[300])
    assert "cb/iterate_noise/generator" in state.tensors                   # state keyed by name
    assert set(state.meta["callbacks"]) == {"iterate_noise", "convergence", "averager"}
    resumed = _run(data, spec, resume=state, before_rules=[IterateNoise(1e-3, 7)])
    assert _equal(resumed.final, full.final) and _equal(resumed.avg, full.avg)   # ... and resumes exactly
    assert resumed.history == full.history


def test_resuming_without_a_callback_whose_state_was_saved_fails_loudly(data, tmp_path):
    spec = TrainSpec(max_iters=100, alpha_every=0, avg_window=20)
    saved = {}
    _run(data, spec, callbacks=[CheckpointCallback(lambda i, s: saved.setdefault(i, s), every=50)],
         before_rules=[IterateNoise(1e-3, 7)])
    with pytest.raises(ValueError, match="iterate_noise"):
        _run(data, spec, resume=saved[50])


def test_two_callbacks_with_one_name_fail_loudly(data):
    with pytest.raises(ValueError, match="'metrics' is used twice"):
        _run(data, TrainSpec(max_iters=10), callbacks=[MetricsCallback(print), MetricsCallback(print)])
    out = _run(data, TrainSpec(max_iters=10, alpha_every=0),
               callbacks=[MetricsCallback(print), MetricsCallback(print, name="metrics2")])
    assert out.iterations == 10


def test_rules_firing_at_one_iteration_share_one_evaluation_pass(data, monkeypatch):
    import core.loop

    calls = []
    real = core.loop.evaluate
    monkeypatch.setattr(core.loop, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    # Every eval_every the convergence check evaluates train (eval_trigger huge); at 100 the test curve
    # wants train and test too: train must come from the cache.
    out = _run(data, TrainSpec(max_iters=100, eval_every=50, eval_trigger=1e12, test_every=100, alpha_every=0,
                               diverge_after=10**6))
    train_points = [s for s, k, _ in out.history if k == "train/loss"]
    assert train_points == [50, 100, 100]
    assert len(calls) == 3   # train at 50, train at 100 (shared), test at 100
