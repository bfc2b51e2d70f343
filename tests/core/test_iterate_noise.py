"""Heavy-tailed iterate noise, the accuracy stop, neuron pruning's place in a trial, and the mean-field
parametrization, against known answers (docs/science.md, "The follow-up")."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from core.callbacks import CheckpointCallback
from core.checkpoint import load_state, save_state
from core.data import load_dataset
from core.iterate_noise import IterateNoise, noise_seed, noise_step_scale, noisy_layers, unit_shape
from core.models import MeanFieldFCN, build_model, step_scale
from core.pipeline import run_trial
from core.spec import CompressSpec, DataSpec, ModelSpec, SpecError, TrainSpec, TrialSpec
from core.train import train
from tests.core import sas_reference

DATA = DataSpec(dataset="synthetic", dim=16, n_train=400, n_test=100)


@pytest.fixture(scope="module")
def data():
    return load_dataset(DATA)


class _Loop:
    """The one thing IterateNoise touches on the loop besides the weights."""

    class _Cache:
        cleared = 0

        def clear(self):
            self.cleared += 1

    eval_cache = _Cache()


def _tiny() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        model[2].weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]))
    return model


@pytest.mark.parametrize("rescale", [True, False])
def test_one_row_noise_step_by_hand(rescale):
    spec = TrainSpec(noise="row", noise_alpha=1.5, noise_scale=0.2, noise_lr_rescale=rescale)
    model, eta, seed = _tiny(), 0.04, 3
    before = [p.detach().clone() for p in model.parameters()]
    rule = IterateNoise(model, spec, eta=eta, seed=seed, device=torch.device("cpu"))
    rule.after_step(_Loop())
    # The step's draw by hand: the key from the noise generator, Philox words, uniforms, then CMS.
    key = sas_reference.replay_key(torch.Generator().manual_seed(noise_seed(seed)))
    u1, u2 = sas_reference.uniforms(3, key)
    scale = 0.2 * eta ** (1 / 1.5) if rescale else 0.2
    per_row = sas_reference.cms(1.5, u1, u2).reshape(3, 1)
    expected = before[0].double().numpy() + scale * per_row                     # one scalar per row
    np.testing.assert_allclose(model[0].weight.detach().double().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(model[2].weight, before[1])                 # the last layer gets none by default
    assert noise_step_scale(spec, eta) == pytest.approx(scale)


def test_entry_and_elliptic_noise_shapes_and_exclusions():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Conv2d(2, 4, 3, bias=False), nn.Flatten(),
                          nn.Linear(4, 3, bias=False))
    assert [layer.index for layer in noisy_layers(model, ("first_conv", "last"))] == [1]
    assert [layer.index for layer in noisy_layers(model, ("last",))] == [0, 1]
    assert [layer.index for layer in noisy_layers(model, ())] == [0, 1, 2]
    assert unit_shape((4, 2, 3, 3), "kernel") == (4, 2, 1, 1) and unit_shape((4, 2, 3, 3), "filter") == (4, 1, 1, 1)
    assert unit_shape((3, 4), "kernel") == (3, 1)
    for kind in ("entry", "elliptic", "row"):
        for conv in ("kernel", "filter"):
            m = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Conv2d(2, 4, 3, bias=False), nn.Flatten(),
                              nn.Linear(4, 3, bias=False))
            first, second = m[0].weight.detach().clone(), m[1].weight.detach().clone()
            spec = TrainSpec(noise=kind, noise_scale=0.1, noise_conv=conv)
            IterateNoise(m, spec, eta=0.1, seed=0, device=torch.device("cpu")).after_step(_Loop())
            delta = m[1].weight.detach() - second
            assert torch.equal(m[0].weight, first) and bool(torch.isfinite(delta).all())
            if kind == "row":   # one value per kernel or per filter
                per_unit = delta.reshape(4, 2, 9) if conv == "kernel" else delta.reshape(4, 18)
                assert torch.allclose(per_unit, per_unit[..., :1].expand_as(per_unit))
            else:
                assert delta.reshape(-1).unique().numel() == delta.numel()


def test_noise_keeps_init_and_batches_and_changes_the_weights(data):
    """The noise generator is its own: same init and batch order with and without noise."""
    base = TrainSpec(max_iters=60, eval_every=20, test_every=60, alpha_every=0, avg_window=10)
    noisy = TrainSpec(max_iters=60, eval_every=20, test_every=60, alpha_every=0, avg_window=10,
                      noise="row", noise_scale=0.05)
    spec = ModelSpec(width=16, depth=3)
    plain_model = build_model(spec, data.in_shape, data.n_classes, seed=1)
    noisy_model = build_model(spec, data.in_shape, data.n_classes, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(plain_model.parameters(), noisy_model.parameters()))
    from core.loop import Callback

    class Batches(Callback):
        name = "batches"

        def __init__(self):
            self.perms = []

        def after_step(self, loop):
            self.perms.append(loop._perm.clone())

    seen_plain, seen_noisy = Batches(), Batches()
    out_plain = train(plain_model, data, base, lr=0.1, batch_size=40, seed=1, callbacks=[seen_plain])
    rule = IterateNoise(noisy_model, noisy, eta=0.1, seed=1, device=torch.device("cpu"))
    out_noisy = train(noisy_model, data, noisy, lr=0.1, batch_size=40, seed=1, callbacks=[seen_noisy],
                      before_rules=[rule])
    assert all(torch.equal(a, b) for a, b in zip(seen_plain.perms, seen_noisy.perms))
    assert not torch.equal(out_plain.final["net.1.weight"], out_noisy.final["net.1.weight"])


@pytest.mark.parametrize("kind", ["row", "entry", "elliptic"])
def test_noise_runs_resume_bit_for_bit(kind, tmp_path):
    spec = TrialSpec(eta_over_b=2e-3, batch_size=20, data=DATA, model=ModelSpec(width=24, depth=3),
                     train=TrainSpec(max_iters=300, eval_every=50, test_every=150, alpha_every=150, avg_window=60,
                                     noise=kind, noise_scale=0.02),
                     compress=CompressSpec(methods=("neuron",), ratios=(0.0, 0.5)))
    saved = {}

    def keep(iteration, state):
        saved[iteration] = save_state(state, tmp_path / f"ckpt{iteration}")

    full = run_trial(spec, [CheckpointCallback(keep, every=100)], device="cpu")
    state = load_state(saved[200])
    assert "cb/iterate_noise/generator" in state.tensors
    resumed = run_trial(spec, [CheckpointCallback(lambda i, s: None, every=100)], device="cpu", resume=state)
    assert resumed.history == full.history and resumed.status == full.status
    stable = {k: v for k, v in full.metrics.items() if not k.startswith("time/")}
    assert {k: v for k, v in resumed.metrics.items() if not k.startswith("time/")} == stable


def test_stop_acc_stops_at_the_first_check_that_reaches_it(data):
    spec = TrainSpec(max_iters=5000, eval_every=10, stop_acc=0.6, post_converge_iters=0, test_every=5000,
                     alpha_every=0, avg_window=5)
    model = build_model(ModelSpec(width=32, depth=2), data.in_shape, data.n_classes, seed=0)
    out = train(model, data, spec, lr=0.2, batch_size=40, seed=0)
    checks = [(s, v) for s, k, v in out.history if k == "train/acc"]
    assert out.status == "converged" and out.converged_at == out.iterations == checks[-1][0]
    assert checks[-1][1] >= 0.6 and all(v < 0.6 for _, v in checks[:-1])
    assert [s for s, _ in checks] == list(range(10, out.iterations + 1, 10))   # every eval_every, no gate
    more = train(build_model(ModelSpec(width=32, depth=2), data.in_shape, data.n_classes, seed=0), data,
                 TrainSpec(max_iters=5000, eval_every=10, stop_acc=0.6, post_converge_iters=30, test_every=5000,
                           alpha_every=0, avg_window=5), lr=0.2, batch_size=40, seed=0)
    assert more.converged_at == out.iterations and more.iterations == out.iterations + 30


def test_mean_field_forward_is_the_hand_written_one():
    spec = ModelSpec(arch="fcn", depth=2, width=300, parametrization="mean_field")
    model = build_model(spec, (1, 4, 4), 5, seed=2)
    assert isinstance(model, MeanFieldFCN) and step_scale(spec) == 300.0
    w1, w2 = model.net[1].weight.detach(), model.net[3].weight.detach()
    assert abs(float(w2.std()) - 1.0) < 0.05 and abs(float(w2.mean())) < 0.05   # W2 ~ N(0, 1)
    assert float(w1.abs().max()) <= 1 / math.sqrt(16)    # W1: PyTorch's default uniform(+-1/sqrt(fan_in))
    x = torch.randn(7, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    by_hand = torch.relu(x.reshape(7, 16) @ w1.T) @ w2.T / 300
    assert torch.allclose(model(x), by_hand, atol=1e-6)
    assert step_scale(ModelSpec(width=300, depth=2)) == 1.0


def test_mean_field_steps_eta_times_width(data):
    spec = ModelSpec(depth=2, width=50, parametrization="mean_field")
    model = build_model(spec, data.in_shape, data.n_classes, seed=0)
    start = [p.detach().clone() for p in model.parameters()]
    x, y = data.x_train[:40], data.y_train[:40]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    from core.loop import TrainLoop
    loop = TrainLoop(model, data, TrainSpec(max_iters=1), lr=0.01, batch_size=40, seed=0, step_scale=step_scale(spec))
    loop._perm = torch.arange(len(data.x_train))      # the first batch is x, y above
    loop.step()
    for p, p0, g in zip(model.parameters(), start, grads):
        assert torch.allclose(p.detach(), p0 - 0.01 * 50 * g, atol=1e-6)


@pytest.mark.parametrize("kwargs, field", [
    (dict(arch="fcn", depth=3, parametrization="mean_field"), "parametrization"),
    (dict(arch="vgg11", parametrization="mean_field"), "parametrization"),
    (dict(parametrization="meanfield"), "parametrization"),
])
def test_mean_field_needs_a_two_layer_fcn(kwargs, field):
    with pytest.raises(SpecError) as err:
        ModelSpec(**kwargs)
    assert [p[0] for p in err.value.problems] == [field]


def test_no_noise_hashes_as_plain_sgd_and_noise_fields_validate():
    plain = TrialSpec(eta_over_b=1e-3)
    for train_spec in (TrainSpec(noise="row", noise_scale=0), TrainSpec(noise="none", noise_scale=0.3),
                       TrainSpec(noise="none", noise_alpha=1.2, noise_exclude=("last",)),
                       TrainSpec(noise="entry", noise_scale=0.0, noise_conv="filter")):
        assert TrialSpec(eta_over_b=1e-3, train=train_spec).spec_hash() == plain.spec_hash()
    noisy = TrialSpec(eta_over_b=1e-3, train=TrainSpec(noise="row", noise_scale=0.05))
    assert noisy.spec_hash() != plain.spec_hash()
    same = TrialSpec(eta_over_b=1e-3, train=TrainSpec(noise="row", noise_scale=0.05, noise_exclude=["last", "first_conv"]))
    assert same.spec_hash() == noisy.spec_hash()    # exclusion order carries no meaning
    for kwargs, field in [(dict(noise="gauss"), "noise"), (dict(noise="row"), "noise_scale"),
                          (dict(noise="row", noise_scale=-1), "noise_scale"),
                          (dict(noise="row", noise_scale=0.1, noise_alpha=2.5), "noise_alpha"),
                          (dict(noise="row", noise_scale=0.1, noise_alpha=0), "noise_alpha"),
                          (dict(noise="row", noise_scale=0.1, noise_exclude=("first",)), "noise_exclude"),
                          (dict(noise="row", noise_scale=0.1, noise_conv="unit"), "noise_conv"),
                          (dict(noise="row", noise_scale=0.1, noise_lr_rescale="yes"), "noise_lr_rescale"),
                          (dict(stop_acc=0.0), "stop_acc"), (dict(stop_acc=1.5), "stop_acc")]:
        with pytest.raises(SpecError) as err:
            TrainSpec(**kwargs)
        assert [p[0] for p in err.value.problems] == [field], kwargs


def test_a_trial_measures_neuron_pruning_and_the_rank_measures(data):
    spec = TrialSpec(eta_over_b=4e-3, batch_size=20, data=DATA, model=ModelSpec(width=32, depth=3),
                     train=TrainSpec(max_iters=200, eval_every=50, test_every=200, alpha_every=0, avg_window=20),
                     compress=CompressSpec(methods=("magnitude", "neuron"), ratios=(0.0, 0.5), eps=(0.1, 0.316)))
    result = run_trial(spec, device="cpu")
    keys = set(result.metrics)
    for wset in ("final", "avg"):
        for i in range(3):
            assert {f"stable_rank/{wset}/layer{i}", f"effective_rank/{wset}/layer{i}", f"pq_index/{wset}/layer{i}"} <= keys
            assert f"prunable/{wset}/neuron/none/eps0.316/layer{i}" in keys
            assert f"prunable/{wset}/neuron/median/eps0.316/layer{i}" not in keys   # neuron is never centred
    assert "pruned_acc/final/neuron/r0.50" in keys and result.measure_version == 2
