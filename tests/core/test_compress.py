"""core.compress against brute force, analytic prunable fractions, the SαS table, and torch's pruning."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import levy_stable
from torch import nn
from torch.nn.utils import prune as torch_prune

from core.compress import curve_summary, error_curve, method_view, prunable_fraction, prune_model, prune_models
from core.layers import weight_layers
from core.vocab import PRUNE_METHODS

RATIOS = [0.7, 0.0, 1.0, 0.3, 0.05, 0.55, 0.999, 0.5, 1 / 3, 0.29, 0.1, 0.9]


# ---------------------------------------------------------------- brute force (prunes, then measures)

def _lp(x: np.ndarray, p: float) -> float:
    return float(np.sum(np.abs(x) ** p) ** (1.0 / p))


def _centred(w: np.ndarray, method: str, center: str | None) -> np.ndarray:
    if center is None or method == "neuron":   # neuron pruning is uncentred, zero fill, by definition
        return w.copy()
    if method == "magnitude":
        return w - np.median(w)
    return w - np.array([np.median(w[:, j]) for j in range(w.shape[1])])


def _brute_error(w: np.ndarray, method: str, k: int, p: float, center: str | None) -> float:
    u = _centred(np.asarray(w, dtype=np.float64), method, center)
    pruned = u.copy()
    if method == "magnitude":
        pruned.reshape(-1)[np.argsort(np.abs(u), axis=None, kind="stable")[:k]] = 0.0
        return _lp(u - pruned, p) / _lp(u, p)
    if method in ("node", "neuron"):   # rows of the view: previous-layer units (node) or own units (neuron)
        norms = np.array([_lp(row, p) for row in u])
        pruned[np.argsort(norms, kind="stable")[:k]] = 0.0
        return _lp(u - pruned, p) / _lp(u, p)
    s = np.sort(np.linalg.svd(u, compute_uv=False))
    return _lp(s[:k], p) / _lp(s, p)


def _n_items(w: np.ndarray, method: str) -> int:
    return w.size if method == "magnitude" else (w.shape[0] if method in ("node", "neuron") else min(w.shape))


def _brute_curve(w, method, ratios, p, center):
    n = _n_items(w, method)
    return np.array([_brute_error(w, method, math.floor(r * n + 1e-9), p, center) for r in ratios])


def _brute_prunable(w, method, eps, p, center):
    n = _n_items(w, method)
    return max(k for k in range(n + 1) if _brute_error(w, method, k, p, center) <= eps) / n


# ---------------------------------------------------------------- curves

@pytest.mark.parametrize("center", ["median", None])
@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_curve_equals_brute_force(method, p, center):
    rng = np.random.default_rng(10 * PRUNE_METHODS.index(method) + p + (100 if center is None else 0))
    w = rng.standard_t(3, size=(42, 23)) + 0.3  # heavy-ish, off-centre so centring matters
    got = error_curve(w, method, RATIOS, p=p, center=center)
    np.testing.assert_allclose(got, _brute_curve(w, method, RATIOS, p, center), rtol=1e-10, atol=1e-12)
    wide = rng.standard_normal((18, 40))  # more columns than rows: singular items = rows
    np.testing.assert_allclose(error_curve(wide, method, RATIOS, p=p, center=center),
                               _brute_curve(wide, method, RATIOS, p, center), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_curve_every_item_count(method):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((30, 20))
    n = _n_items(w, method)
    ratios = rng.permutation(np.arange(n + 1) / n)  # k/n in floating point must remove exactly k
    want = [_brute_error(w, method, round(r * n), 2, "median") for r in ratios]
    np.testing.assert_allclose(error_curve(w, method, ratios), want, rtol=1e-10, atol=1e-12)


def test_floor_slack_removes_exact_count():
    w = np.arange(1.0, 101.0).reshape(10, 10)  # 0.29 * 100 = 28.999999999999996 in floating point
    got = error_curve(w, "magnitude", [0.29], center=None)[0]
    assert got == pytest.approx(math.sqrt(np.sum(np.arange(1.0, 30.0) ** 2) / np.sum(w ** 2)), rel=1e-12)


def test_curve_with_ties_and_float32():
    rng = np.random.default_rng(4)
    ties = rng.integers(-3, 4, size=(60, 50)).astype(np.float64)
    np.testing.assert_allclose(error_curve(ties, "magnitude", RATIOS),
                               _brute_curve(ties, "magnitude", RATIOS, 2, "median"), rtol=1e-10, atol=1e-12)
    w32 = rng.standard_normal((64, 48)).astype(np.float32)
    for method in PRUNE_METHODS:
        np.testing.assert_allclose(error_curve(w32, method, RATIOS),
                                   _brute_curve(w32, method, RATIOS, 2, "median"), rtol=1e-5, atol=1e-6)


def test_float32_overflow_falls_back_to_float64():
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((20, 20)) * 1e25).astype(np.float32)  # squares overflow float32
    np.testing.assert_allclose(error_curve(w, "magnitude", RATIOS, center=None),
                               _brute_curve(w, "magnitude", RATIOS, 2, None), rtol=1e-5)


def test_singular_p2_is_frobenius_error_of_rank_reduction():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((30, 12))
    u = w - np.median(w, axis=0)
    left, s, right = np.linalg.svd(u, full_matrices=False)
    for keep in range(13):
        approx = (left[:, :keep] * s[:keep]) @ right[:keep]
        want = np.linalg.norm(u - approx) / np.linalg.norm(u)
        assert error_curve(w, "singular", [(12 - keep) / 12])[0] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_large_magnitude_curve_matches_sorted_cumsum():
    # Exercises the divide-and-conquer selection on many segments of a big array.
    rng = np.random.default_rng(7)
    w = rng.standard_normal(300_001).astype(np.float32)
    ratios = rng.permutation(np.linspace(0, 1, 81))
    counts = np.floor(ratios * w.size + 1e-9).astype(int)
    prefix = np.concatenate(([0.0], np.cumsum(np.sort(w.astype(np.float64) ** 2))))
    np.testing.assert_allclose(error_curve(w, "magnitude", ratios, center=None),
                               np.sqrt(prefix[counts] / prefix[-1]), rtol=1e-6)


def test_curve_follows_input_order_and_is_monotone():
    rng = np.random.default_rng(8)
    w = rng.standard_normal((40, 30))
    grid = np.linspace(0, 1, 21)
    order = rng.permutation(21)
    for method in PRUNE_METHODS:
        sorted_curve = error_curve(w, method, grid)
        assert np.all(np.diff(sorted_curve) >= 0) and sorted_curve[0] == 0 and sorted_curve[-1] == pytest.approx(1)
        np.testing.assert_array_equal(error_curve(w, method, grid[order]), sorted_curve[order])


def test_torch_inputs_match_numpy():
    rng = np.random.default_rng(9)
    w = rng.standard_normal((32, 24)).astype(np.float32)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        t = torch.tensor(w, device=device, requires_grad=True)
        for method in PRUNE_METHODS:
            np.testing.assert_allclose(error_curve(t, method, RATIOS), error_curve(w, method, RATIOS), rtol=1e-6)
            assert prunable_fraction(t, method) == prunable_fraction(w, method)
    half = torch.tensor(w).to(torch.bfloat16)
    np.testing.assert_allclose(error_curve(half, "magnitude", RATIOS),
                               error_curve(half.float().numpy(), "magnitude", RATIOS))


def test_magnitude_accepts_1d_like_flattened_2d():
    w = np.random.default_rng(10).standard_normal((25, 16))
    np.testing.assert_array_equal(error_curve(w.ravel(), "magnitude", RATIOS), error_curve(w, "magnitude", RATIOS))


# ---------------------------------------------------------------- prunable fraction

@pytest.mark.parametrize("center", ["median", None])
@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_prunable_fraction_exact(method, p, center):
    rng = np.random.default_rng(11 + p)
    w = rng.standard_t(2.5, size=(36, 20)) - 0.2
    for eps in (0.0, 0.05, 0.1, 0.3, 1.0):
        assert prunable_fraction(w, method, eps, p=p, center=center) == _brute_prunable(w, method, eps, p, center)


@pytest.mark.parametrize("center", ["median", None])
@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_curve_summary_agrees_with_curve_and_prunable(method, center):
    rng = np.random.default_rng(14)
    w = rng.standard_t(2.5, size=(50, 30)).astype(np.float32)
    eps = (0.3, 0.05, 0.1)
    for p in (1, 2, 3):
        summary = curve_summary(w, method, RATIOS, eps, p=p, center=center)
        np.testing.assert_allclose(summary.errors, error_curve(w, method, RATIOS, p=p, center=center), rtol=1e-12)
        assert summary.prunable == tuple(prunable_fraction(w, method, e, p=p, center=center) for e in eps)
        np.testing.assert_allclose(summary.errors, _brute_curve(w, method, RATIOS, p, center), rtol=1e-5, atol=1e-7)
    assert curve_summary(w, method, [0.5], 0.1, center=center).prunable == (prunable_fraction(w, method, center=center),)
    with pytest.raises(ValueError, match="eps"):
        curve_summary(w, method, [0.5], (0.1, float("nan")))


@pytest.mark.parametrize("law, want", [("normal", 0.2653), ("uniform", 0.2154), ("laplace", 0.3534)])
@pytest.mark.parametrize("center", ["median", None])
def test_prunable_fraction_analytic_laws(law, want, center):
    rng = np.random.default_rng(12)
    x = {"normal": lambda: rng.standard_normal(10**6), "uniform": lambda: rng.uniform(-1, 1, 10**6),
         "laplace": lambda: rng.laplace(size=10**6)}[law]()
    assert abs(prunable_fraction(x.reshape(1000, 1000), "magnitude", 0.1, center=center) - want) <= 0.005


# The i.i.d. SαS table of docs/science.md: median relative l2 error keeping the top 10% at d = 1e4, and the
# half unit of its last printed digit.
SAS_TABLE = [(1.5, 0.21, 0.005), (1.8, 0.51, 0.005), (1.95, 0.70, 0.005), (2.0, 0.749, 0.0005)]


@pytest.mark.parametrize("alpha, median, half_unit", SAS_TABLE)
def test_sas_top10_table(alpha, median, half_unit):
    draws, d = 400, 10_000
    x = levy_stable.rvs(alpha, 0.0, size=(draws, d), random_state=np.random.default_rng(int(alpha * 100)))
    errors = np.sort([error_curve(row, "magnitude", [0.9], center=None)[0] for row in x])
    # Distribution-free 99.9% interval for the population median from order statistics.
    j = math.floor(draws / 2 - 3.29 * math.sqrt(draws) / 2)
    low, high = errors[j], errors[draws - 1 - j]
    assert low <= median + half_unit and high >= median - half_unit, (low, np.median(errors), high)


# ---------------------------------------------------------------- bad input

def test_bad_inputs_raise_clear_errors():
    w = np.random.default_rng(13).standard_normal((8, 6))
    with pytest.raises(ValueError, match="magnitude, singular, node"):
        error_curve(w, "rank", [0.5])
    with pytest.raises(ValueError, match="center"):
        error_curve(w, "magnitude", [0.5], center="mean")
    with pytest.raises(ValueError, match="ratios"):
        error_curve(w, "magnitude", [0.5, 1.2])
    with pytest.raises(ValueError, match="ratios"):
        error_curve(w, "magnitude", [float("nan")])
    for ratios in (["a"], [0.5, None], "half", [[0.1], [0.2, 0.3]]):  # numpy's bare message named no field
        with pytest.raises(ValueError, match="^ratios: "):
            error_curve(w, "magnitude", ratios)
    with pytest.raises(ValueError, match="p:"):
        error_curve(w, "magnitude", [0.5], p=0)
    with pytest.raises(ValueError, match="eps"):
        prunable_fraction(w, "magnitude", -0.1)
    with pytest.raises(ValueError, match="2-D"):
        error_curve(np.zeros((2, 3, 4)) + 1, "magnitude", [0.5])
    with pytest.raises(ValueError, match="2-D"):
        error_curve(w.ravel(), "node", [0.5])
    for method in PRUNE_METHODS:
        bad = w.copy()
        bad[2, 3] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            error_curve(bad, method, [0.5], center=None)


@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_all_zero_after_centring_raises(method):
    rows_equal = np.tile(np.arange(5.0), (7, 1))  # every row is the median unit
    with pytest.raises(ValueError, match="zero"):
        error_curve(np.zeros((4, 4)), method, [0.5], center=None)
    if method == "neuron":
        # never centred: a constant or repeated-row weight is not zero to neuron pruning
        assert prunable_fraction(np.full((4, 4), 3.0), method) == 0.0
        assert error_curve(rows_equal, method, [0.5])[0] == pytest.approx(math.sqrt(3 / 7))
        return
    with pytest.raises(ValueError, match="zero"):
        prunable_fraction(np.full((4, 4), 3.0), method)
    if method != "magnitude":
        with pytest.raises(ValueError, match="zero"):
            error_curve(rows_equal, method, [0.5])


# ---------------------------------------------------------------- method_view

def test_method_view_shapes_and_content():
    lin = torch.randn(6, 4)
    conv = torch.randn(5, 3, 2, 2)
    assert torch.equal(method_view(lin, "magnitude", "first"), lin)
    assert torch.equal(method_view(lin, "node", "hidden"), lin.T)
    assert torch.equal(method_view(lin, "node", "last"), lin.T)
    assert method_view(conv, "singular", "first").shape == (5, 12)
    assert method_view(conv, "magnitude", "hidden").shape == (5, 12)
    kernels = method_view(conv, "node", "hidden")
    assert kernels.shape == (15, 4) and torch.equal(kernels[3 * 2 + 1], conv[2, 1].reshape(-1))
    assert np.array_equal(method_view(conv.numpy(), "node", "first"), kernels.numpy())
    with pytest.raises(ValueError, match="role"):
        method_view(lin, "node", "middle")
    with pytest.raises(ValueError, match="2-D"):
        method_view(torch.randn(3, 4, 5), "magnitude", "first")


# ---------------------------------------------------------------- prune_model

def _fcn(seed: int = 0, scales: tuple[float, ...] = (1.0, 1.0, 1.0)) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(20, 32, bias=False), nn.ReLU(), nn.Linear(32, 24, bias=False), nn.ReLU(),
                        nn.Linear(24, 10, bias=False))
    with torch.no_grad():
        for layer, scale in zip(weight_layers(net), scales):
            layer.weight.mul_(scale)
    return net


def _cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, bias=False), nn.ReLU(), nn.Conv2d(6, 8, 3, bias=False),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 10, bias=False))


def _weights(net: nn.Module) -> list[np.ndarray]:
    return [layer.weight.detach().numpy().astype(np.float64) for layer in weight_layers(net)]


@pytest.mark.parametrize("make", [_fcn, _cnn])
@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_ratio_zero_is_identical_and_original_untouched(make, method):
    net = make()
    original = {k: v.clone() for k, v in net.state_dict().items()}
    zero = prune_model(net, method, 0.0, prune_last=True)
    assert zero.model is not net
    for key, value in zero.model.state_dict().items():
        assert torch.equal(value, original[key])
    assert all(layer.removed_items == 0 for layer in zero.layers)
    prune_model(net, method, 0.6, prune_last=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, original[key])


@pytest.mark.parametrize("center", ["median", None])
@pytest.mark.parametrize("make", [_fcn, _cnn])
def test_magnitude_layer_scope_fraction_and_order(make, center):
    net = make(1)
    result = prune_model(net, "magnitude", 0.45, center=center, prune_last=True)
    for before, after, acc in zip(_weights(net), _weights(result.model), result.layers):
        c = np.median(before) if center else 0.0
        changed = np.not_equal(before, after)
        k = math.floor(0.45 * before.size + 1e-9)
        assert acc.removed_items == k and changed.sum() == k and acc.kept == before.size - k
        assert np.allclose(after[changed], np.float32(c))
        assert np.abs(before - c)[changed].max() <= np.abs(before - c)[~changed].min()


def test_global_scope_one_threshold_over_layers():
    net = _fcn(2, scales=(0.1, 1.0, 3.0))
    ratio = 0.5
    glob = prune_model(net, "magnitude", ratio, scope="global", prune_last=True)
    layerwise = prune_model(net, "magnitude", ratio, scope="layer", prune_last=True)
    befores = _weights(net)
    centred = [b - np.median(b) for b in befores]
    masks = [np.not_equal(b, a) for b, a in zip(befores, _weights(glob.model))]
    pruned_max = max(np.abs(u)[m].max() for u, m in zip(centred, masks) if m.any())
    kept_min = min(np.abs(u)[~m].min() for u, m in zip(centred, masks) if (~m).any())
    assert pruned_max <= kept_min
    total = sum(b.size for b in befores)
    assert sum(m.sum() for m in masks) == math.floor(ratio * total + 1e-9) == glob.pruned
    assert [acc.removed_items for acc in glob.layers] == [int(m.sum()) for m in masks]
    fractions = [acc.removed_fraction for acc in glob.layers]
    assert fractions[0] > 0.9 and fractions[2] < 0.3  # small-scale layer pruned most
    assert all(acc.removed_items == math.floor(ratio * acc.n_items + 1e-9) for acc in layerwise.layers)
    with pytest.raises(ValueError, match="magnitude"):
        prune_model(net, "singular", ratio, scope="global")
    with pytest.raises(ValueError, match="layer, global"):
        prune_model(net, "magnitude", ratio, scope="model")


@pytest.mark.parametrize("center", ["median", None])
def test_node_removes_lowest_norm_units_and_fills_median_unit(center):
    net = _fcn(3)
    result = prune_model(net, "node", 0.4, center=center, prune_last=True)
    for before, after, acc in zip(_weights(net), _weights(result.model), result.layers):
        unit = np.median(before, axis=1) if center else np.zeros(before.shape[0])  # median over units
        changed_cols = np.flatnonzero(np.any(before != after, axis=0))
        k = math.floor(0.4 * before.shape[1] + 1e-9)
        assert acc.n_items == before.shape[1] and acc.removed_items == len(changed_cols) == k
        np.testing.assert_allclose(after[:, changed_cols], np.repeat(unit[:, None], k, axis=1), rtol=1e-6, atol=1e-7)
        norms = np.linalg.norm(before - unit[:, None], axis=0)
        kept = np.setdiff1d(np.arange(before.shape[1]), changed_cols)
        assert norms[changed_cols].max() <= norms[kept].min()
        assert acc.kept == (before.shape[1] - k) * before.shape[0]


def test_conv_node_prunes_whole_kernels():
    net = _cnn(4)
    result = prune_model(net, "node", 0.5, center=None)
    conv_before, conv_after = _weights(net)[1], _weights(result.model)[1]
    zero_kernels = np.all(conv_after == 0, axis=(2, 3))
    assert zero_kernels.sum() == 24 == result.layers[1].removed_items
    assert np.array_equal(conv_after[~zero_kernels], conv_before[~zero_kernels])


@pytest.mark.parametrize("center", ["median", None])
@pytest.mark.parametrize("make", [_fcn, _cnn])
@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_pruned_layer_error_equals_curve(make, method, center):
    net = make(5)
    ratio = 0.35
    result = prune_model(net, method, ratio, center=center, prune_last=True)
    for layer, after in zip(weight_layers(net), _weights(result.model)):
        before_view = method_view(layer.weight.detach().numpy().astype(np.float64), method, layer.role)
        after_view = method_view(after, method, layer.role)
        u = _centred(before_view, method, center)
        err = np.linalg.norm(before_view - after_view) / np.linalg.norm(u)
        want = error_curve(method_view(layer.weight, method, layer.role), method, [ratio], center=center)
        assert err == pytest.approx(want[0], rel=1e-5)


def test_singular_rank_and_accounting():
    net = _fcn(6)
    for ratio in (0.1, 0.5, 0.9, 1.0):
        result = prune_model(net, "singular", ratio, prune_last=True)
        removed = total_sv = 0
        for before, after, acc in zip(_weights(net), _weights(result.model), result.layers):
            m, n = before.shape
            k = math.floor(ratio * min(m, n) + 1e-9)
            # The last layer's view is transposed (hidden units as rows): its centre is the median unit
            # of that view, i.e. the median over each row of the weight.
            centre = np.median(before, axis=1, keepdims=True) if acc.role == "last" else np.median(before, axis=0)
            rank = np.linalg.matrix_rank(after - centre, tol=1e-4)
            assert acc.removed_items == k and rank == min(m, n) - k
            assert acc.kept == (min(m, n) - k) * (m + n) and acc.total == m * n
            removed, total_sv = removed + k, total_sv + min(m, n)
        assert result.sv_removed == removed / total_sv
        assert result.kept == sum(acc.kept for acc in result.layers)
        assert result.remaining == pytest.approx(result.kept / result.total)
    low = prune_model(net, "singular", 0.1, prune_last=True)
    assert low.remaining > 1.0  # rank-k factors cost more than the dense layers: reported as is
    assert low.pruned < 0 and low.kept + low.pruned == low.total


@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_prune_last_is_explicit_and_accounted(method):
    net = _fcn(7)
    total = sum(p.numel() for p in net.parameters())
    off = prune_model(net, method, 0.5)
    on = prune_model(net, method, 0.5, prune_last=True)
    last_before = _weights(net)[-1]
    assert np.array_equal(_weights(off.model)[-1], last_before)
    assert not off.layers[-1].applied and off.layers[-1].kept == off.layers[-1].total == last_before.size
    assert off.layers[-1].removed_items == 0 and on.layers[-1].applied and on.layers[-1].removed_items > 0
    assert not np.array_equal(_weights(on.model)[-1], last_before)
    for result in (off, on):
        assert result.total == total == sum(acc.total for acc in result.layers)
        assert result.kept + result.pruned == result.total
        assert result.remaining == pytest.approx(result.kept / result.total)
    assert on.kept < off.kept
    assert off.removed_fraction == pytest.approx(sum(a.removed_items for a in off.layers[:-1]) /
                                                 sum(a.n_items for a in off.layers[:-1]))


@pytest.mark.parametrize("ratio", [0.2, 0.55, 0.9])
def test_masks_match_torch_prune(ratio):
    net = _fcn(8)
    ours_mag = prune_model(net, "magnitude", ratio, center=None, prune_last=True)
    ours_node = prune_model(net, "node", ratio, center=None, prune_last=True)
    for i, layer in enumerate(weight_layers(net)):
        module = nn.Linear(layer.shape[1], layer.shape[0], bias=False)
        with torch.no_grad():
            module.weight.copy_(layer.weight)
        k = math.floor(ratio * layer.weight.numel() + 1e-9)
        torch_prune.l1_unstructured(module, "weight", amount=k)
        assert torch.equal(module.weight_mask == 0, weight_layers(ours_mag.model)[i].weight == 0)
        module = nn.Linear(layer.shape[1], layer.shape[0], bias=False)
        with torch.no_grad():
            module.weight.copy_(layer.weight)
        torch_prune.ln_structured(module, "weight", amount=math.floor(ratio * layer.shape[1] + 1e-9), n=2, dim=1)
        assert torch.equal(module.weight_mask == 0, weight_layers(ours_node.model)[i].weight == 0)


@pytest.mark.parametrize("scope, method", [("layer", m) for m in PRUNE_METHODS] + [("global", "magnitude")])
def test_prune_models_equals_prune_model_per_ratio(scope, method):
    net = _cnn(9)
    ratios = [0.6, 0.0, 0.25, 1.0]
    results = list(prune_models(net, method, ratios, scope=scope, prune_last=True))
    assert len(results) == len(ratios)
    for ratio, result in zip(ratios, results):
        single = prune_model(net, method, ratio, scope=scope, prune_last=True)
        assert result.ratio == ratio and result.layers == single.layers
        for (key, a), b in zip(result.model.state_dict().items(), single.model.state_dict().values()):
            assert torch.equal(a, b), key
    with pytest.raises(ValueError, match="ratio"):  # checked at the call, not at the first next()
        prune_models(net, method, [0.5, 2.0])
    with pytest.raises(ValueError, match="ratios"):
        prune_models(net, method, 0.5)


def test_prune_model_bad_arguments():
    net = _fcn()
    with pytest.raises(ValueError, match="magnitude, singular, node"):
        prune_model(net, "random", 0.5)
    with pytest.raises(ValueError, match="ratio"):
        prune_model(net, "magnitude", 1.5)
    with pytest.raises(ValueError, match="prune_last"):
        prune_model(net, "magnitude", 0.5, prune_last="yes")
    with pytest.raises(ValueError, match="center"):
        prune_model(net, "magnitude", 0.5, center="zero")
    with pytest.raises(ValueError, match="no Linear or Conv2d"):
        prune_model(nn.Sequential(nn.ReLU()), "magnitude", 0.5)


@pytest.mark.parametrize("make", [_fcn, _cnn])
def test_neuron_pruning_zero_fills_the_weakest_rows_and_records_no_centring(make):
    net = make(4)
    result = prune_model(net, "neuron", 0.5, center="median", prune_last=True)
    assert result.center == "none"                        # what was done, not what was asked
    for before, after in zip(_weights(net), _weights(result.model)):
        rows, units = before.reshape(before.shape[0], -1), after.reshape(after.shape[0], -1)
        norms = np.linalg.norm(rows, axis=1)
        gone = np.flatnonzero(~units.any(axis=1))
        assert len(gone) == math.floor(0.5 * len(rows) + 1e-9)
        assert set(gone) == set(np.argsort(norms, kind="stable")[:len(gone)])
        assert np.array_equal(np.delete(units, gone, axis=0), np.delete(rows, gone, axis=0))
