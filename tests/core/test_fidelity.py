"""Fidelity to the paper's per-layer procedure, checked against oracles written from the formulas
(docs/science.md, "Tail-index estimators" and "Compression"), on fresh random matrices and a trained net."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import levy_stable

from core.compress import error_curve, method_view
from core.data import load_dataset
from core.layers import weight_layers
from core.models import build_model
from core.spec import DataSpec, ModelSpec, TrainSpec
from core.tails import block_sizes, estimate_alpha, layer_alpha_variants, layer_samples
from core.train import train


def _block_sum_oracle(x: np.ndarray, seed: int, n_permutations: int = 5) -> float:
    """1/alpha = (mean log|Y| - mean log|X|) / log K1 over the K1 set, median over K1, then over
    permutations (numpy's row shuffles, as core.tails draws them); sums that do not grow read as inf."""
    x = x - np.median(x)
    n, eps = len(x), np.spacing(1)
    rng = np.random.default_rng(seed)
    per_permutation = []
    for _ in range(n_permutations):
        xp = x[rng.permutation(n)]
        values = []
        for k in block_sizes(n):
            used = (n // k) * k
            y = xp[:used].reshape(n // k, k).sum(axis=1)
            inv = (np.log(np.abs(y) + eps).mean() - np.log(np.abs(xp[:used]) + eps).mean()) / math.log(k)
            values.append(1.0 / inv if inv > 0 else math.inf)
        per_permutation.append(float(np.median(values)))
    return float(np.median(per_permutation))


def _column_centred(samples: np.ndarray) -> np.ndarray:
    return samples - np.median(samples, axis=0)


def _oracle_uni(weight: np.ndarray, role: str, seed: int) -> float:
    """Per-column median of the samples-as-rows view removed, flattened, then block sum (which removes
    the global median), median over the 5 permutations."""
    flat = _column_centred(np.asarray(layer_samples(weight, role), dtype=np.float64)).reshape(-1)
    return _block_sum_oracle(flat, seed)


def _oracle_norms(weight: np.ndarray, role: str, seed: int) -> float:
    norms = np.linalg.norm(_column_centred(np.asarray(layer_samples(weight, role), dtype=np.float64)), axis=1)
    return _block_sum_oracle(norms, seed)


def _random_weights(seed: int) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    heavy = levy_stable.rvs(1.6, 0.0, size=(int(rng.integers(60, 200)), int(rng.integers(20, 80))),
                            random_state=seed)
    gaussian = rng.standard_normal((int(rng.integers(40, 120)), int(rng.integers(10, 60))))
    conv = rng.standard_t(3.0, size=(8, 4, 3, 3))
    # An offset per column is what separates the paper's procedure from a global median.
    shifted = heavy + rng.uniform(-3, 3, size=heavy.shape[1])
    return [(heavy, "first"), (gaussian, "hidden"), (shifted.T.copy(), "last"), (conv, "hidden")]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uni_and_norms_match_the_oracle_on_random_matrices(seed):
    for weight, role in _random_weights(seed):
        variants = layer_alpha_variants(weight, role, seed=seed)
        uni, norms = variants["uni"](), variants["norms"]()
        assert uni.alpha_raw == pytest.approx(_oracle_uni(weight, role, seed), rel=1e-6)
        assert norms.alpha_raw == pytest.approx(_oracle_norms(weight, role, seed), rel=1e-6)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_constant_added_to_every_column_leaves_uni_norms_and_hill_unchanged(seed):
    rng = np.random.default_rng(seed)
    weight = levy_stable.rvs(1.5, 0.0, size=(300, 40), random_state=seed)
    for role in ("first", "last"):
        samples = layer_samples(weight, role)
        offsets = rng.uniform(-5, 5, size=samples.shape[1])
        shifted = samples + offsets
        moved = shifted if role == "first" else shifted.T   # back to the weight's own layout
        before = {k: f().alpha_raw for k, f in layer_alpha_variants(weight, role, seed=seed).items()}
        after = {k: f().alpha_raw for k, f in layer_alpha_variants(moved, role, seed=seed).items()}
        for variant in ("uni", "norms", "hill"):
            assert after[variant] == pytest.approx(before[variant], rel=1e-9, abs=1e-9), variant
        # the multivariate estimator was already column-centred: unchanged too
        assert after["multi"] == pytest.approx(before["multi"], rel=1e-9)


@pytest.mark.parametrize("n", [3072, 997, 5000, 1234, 64])
@pytest.mark.parametrize("method", ["hill", "moment"])
def test_hill_and_moment_use_the_block_sum_k1_set(n, method):
    x = np.random.default_rng(n).standard_t(2.0, n)
    assert estimate_alpha(x, method).ks == estimate_alpha(x, "block_sum").ks == block_sizes(n)


def _oracle_singular_error(view: np.ndarray, ratio: float) -> float:
    u = view - np.median(view, axis=0)
    s = np.linalg.svd(u, compute_uv=False)
    k = math.floor(ratio * len(s) + 1e-9)
    return math.sqrt(float(np.sort(s ** 2)[:k].sum() / (s ** 2).sum()))


@pytest.mark.parametrize("seed", [0, 1])
def test_singular_pruning_of_the_last_layer_uses_the_transposed_view(seed):
    w = np.random.default_rng(seed).standard_normal((10, 64)) + np.linspace(-1, 1, 64)
    view = method_view(w, "singular", "last")
    assert view.shape == (64, 10) and np.array_equal(view, w.T)
    assert method_view(w, "singular", "hidden").shape == (10, 64)
    for ratio in (0.1, 0.3, 0.7):
        got = error_curve(view, "singular", [ratio])[0]
        assert got == pytest.approx(_oracle_singular_error(w.T, ratio), rel=1e-9)
        # and it differs from the untransposed (pre-fidelity) view's error
        assert abs(got - _oracle_singular_error(w, ratio)) > 1e-6
    t = torch.from_numpy(w)
    assert torch.equal(method_view(t, "singular", "last"), t.T)


def test_a_trained_model_matches_the_oracles_layer_by_layer():
    data = load_dataset(DataSpec(dataset="synthetic", n_train=400, n_test=100))
    model = build_model(ModelSpec(arch="fcn", depth=3, width=48), data.in_shape, data.n_classes, seed=1)
    train(model, data, TrainSpec(max_iters=300, eval_every=100, alpha_every=0, test_every=300, avg_window=50),
          lr=0.2, batch_size=20, seed=1)
    for layer in weight_layers(model):
        w = layer.weight.detach().numpy().astype(np.float64)
        variants = layer_alpha_variants(layer.weight.detach(), layer.role, seed=7)
        assert variants["uni"]().alpha_raw == pytest.approx(_oracle_uni(w, layer.role, 7), rel=1e-4)
        assert variants["norms"]().alpha_raw == pytest.approx(_oracle_norms(w, layer.role, 7), rel=1e-4)
        if layer.role == "last":
            view = method_view(w, "singular", layer.role)
            assert error_curve(view, "singular", [0.1])[0] == pytest.approx(_oracle_singular_error(w.T, 0.1), rel=1e-9)
