"""Tail-index estimators against known answers: stable, Gaussian, Pareto, Student-t samples, brute force."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import levy_stable

from core.tails import METHODS, TailEstimate, _median_torch, block_sizes, estimate_alpha, layer_samples

N = 100_000
STABLE_ALPHAS = (1.2, 1.5, 1.8, 1.95)
# Per-draw sd of the multivariate estimate on 2048x512 i.i.d. SaS entries (docs/science.md, 12 draws).
MULTI_SD = {1.5: 0.040, 1.7: 0.034, 1.9: 0.026}


@pytest.fixture(scope="module")
def stable() -> dict[float, np.ndarray]:
    return {a: levy_stable.rvs(a, 0.0, size=N, random_state=11) for a in STABLE_ALPHAS}


@pytest.fixture(scope="module")
def stable_rows() -> dict[float, np.ndarray]:
    return {a: levy_stable.rvs(a, 0.0, size=(2048, 512), random_state=100) for a in MULTI_SD}


@pytest.fixture(scope="module")
def gaussian() -> np.ndarray:
    return np.random.default_rng(3).standard_normal(N)


def pareto(alpha: float, n: int = N, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).pareto(alpha, n) + 1.0  # P(X > x) = x^-alpha, x >= 1


# --- block_sum accuracy -----------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", STABLE_ALPHAS)
def test_block_sum_recovers_stable_alpha(stable, alpha):
    est = estimate_alpha(stable[alpha])
    assert abs(est.alpha_raw - alpha) <= 0.03
    assert est.alpha == est.alpha_raw  # all below the cap
    assert est.method == "block_sum" and est.n == N and len(est.per_permutation) == 5


def test_block_sum_gaussian_is_two(gaussian):
    est = estimate_alpha(gaussian)
    assert abs(est.alpha_raw - 2.0) <= 0.03
    assert abs(est.alpha - 2.0) <= 0.03 and est.alpha <= 2.0


@pytest.mark.parametrize("alpha", sorted(MULTI_SD))
def test_block_sum_multivariate_rows(stable_rows, alpha):
    est = estimate_alpha(stable_rows[alpha])
    assert est.n == 2048
    assert est.ks == (2, 4, 8, 16, 32, 64, 256, 512)
    assert abs(est.alpha_raw - alpha) <= 3 * MULTI_SD[alpha]


def test_row_norms_and_flattened_entries_are_the_callers_choice(stable_rows):
    # A float32 copy of a layer estimates like the float64 original (block sums are float32 there).
    w = stable_rows[1.5]
    flat64, flat32 = estimate_alpha(w.ravel()), estimate_alpha(w.astype(np.float32).ravel())
    assert abs(flat64.alpha_raw - 1.5) <= 0.03
    assert flat32.alpha_raw == pytest.approx(flat64.alpha_raw, abs=1e-4)


def _brute_block_sum(x: np.ndarray, seed: int, n_permutations: int) -> list[float]:
    """The estimator written the slow, obvious way, with the same permutations as core.tails."""
    x = x.reshape(len(x), -1).astype(np.float64)
    x = x - np.median(x, axis=0)
    n, eps = len(x), np.spacing(1)
    rng = np.random.default_rng(seed)  # core.tails shuffles CPU rows with numpy
    out = []
    for _ in range(n_permutations):
        xp = x[rng.permutation(n)]
        values = []
        for k in block_sizes(n):
            used = (n // k) * k
            y = xp[:used].reshape(n // k, k, -1).sum(axis=1)
            log_y = np.log(np.linalg.norm(y, axis=1) + eps).mean()
            log_x = np.log(np.linalg.norm(xp[:used], axis=1) + eps).mean()
            values.append(math.log(k) / (log_y - log_x))
        out.append(float(np.median(values)))
    return out


# Composite and prime N; 1011 = 3 * 337 sums K1 = 337 straight from the rows (no smaller K1 divides it).
@pytest.mark.parametrize("shape", [(1000,), (997,), (600, 3), (509, 7), (1011, 2)])
def test_block_sum_equals_brute_force(shape):
    x = levy_stable.rvs(1.1, 0.0, size=shape, random_state=2) + 4.0  # heavy tail, off-centre
    est = estimate_alpha(x, seed=4, n_permutations=3, cap=None)
    assert est.per_permutation == pytest.approx(_brute_block_sum(x, 4, 3), rel=1e-9)
    assert est.alpha_raw == pytest.approx(float(np.median(est.per_permutation)), rel=1e-12)


# --- the K1 rule ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, expected", [
    (10**6, (2, 5, 10, 20, 50, 100, 500, 1000)),   # every candidate divides; sqrt(n) = 1000
    (10**5, (2, 5, 10, 20, 50, 100, 250, 500, 1000)),  # largest divisor <= sqrt(1e5) = 316 is 250
    (2048, (2, 4, 8, 16, 32, 64, 256, 512)),        # powers of two; sqrt -> 32
    (100, (2, 5, 10, 20, 50)),                      # candidates <= n/2 only; square: sqrt 10
    (49, (7,)),                                     # square of a prime: every candidate -> 7
    (202, (2,)),                                    # 2 * prime: every candidate -> 2
    (1011, (3, 337)),                               # 3 * 337: 2..100 -> 3, 500 -> 337, sqrt -> 3
    (600, (2, 5, 10, 20, 24, 50, 100)),             # sqrt(600) = 24.5 adds 24
    (97, (2, 5, 10, 20)),                           # prime: the candidates themselves
    (5, (2,)),                                      # smallest prime allowed
    (4, (2,)),
])
def test_block_sizes_rule(n, expected):
    assert block_sizes(n) == expected


def test_estimate_uses_the_rule_and_prime_n_drops_remainder_rows():
    x = np.random.default_rng(0).standard_normal(97)
    est = estimate_alpha(x, cap=None)
    assert est.ks == (2, 5, 10, 20) and est.n == 97
    # Rows beyond the last full block do not enter: with a single permutation the estimate at K1 = 20
    # (4 blocks, 80 rows) must not change when values at permuted positions 81, 83, ..., 95 are rescaled.
    perm = np.random.default_rng(0).permutation(97)  # the first permutation of seed 0
    y = x - np.median(x)
    y[perm[81::2]] *= 1000.0
    a = estimate_alpha(x, n_permutations=1, cap=None, center="median")
    b = estimate_alpha(y, n_permutations=1, cap=None, center=None)
    assert b.per_k[0] != pytest.approx(a.per_k[0], rel=1e-3)  # K1 = 2 sums rows 80..95 too
    assert b.per_k[3] == pytest.approx(a.per_k[3], rel=1e-9)


def test_too_few_samples_for_the_rule():
    with pytest.raises(ValueError, match="at least 4"):
        block_sizes(3)


# --- Hill and moment --------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha, tol", [(1.5, 0.05), (3.0, 0.10)])  # ~3 sd at k = 1e4 of 1e5
def test_hill_on_pareto(alpha, tol):
    est = estimate_alpha(pareto(alpha), "hill", k=10_000, cap=None)
    assert abs(est.alpha_raw - alpha) <= tol
    assert est.ks == (10_000,)


@pytest.mark.parametrize("alpha, tol", [(1.5, 0.08), (3.0, 0.26)])
def test_moment_on_pareto(alpha, tol):
    est = estimate_alpha(pareto(alpha), "moment", k=10_000, cap=None)
    assert abs(est.alpha_raw - alpha) <= tol


def test_hill_and_moment_on_student_t():
    # Student-t(nu) has tail exponent nu; both sign halves fold into |x|.
    t15 = np.random.default_rng(8).standard_t(1.5, N)
    assert abs(estimate_alpha(t15, "hill", k=1000, cap=None).alpha_raw - 1.5) <= 0.13
    assert abs(estimate_alpha(t15, "moment", k=10_000, cap=None).alpha_raw - 1.5) <= 0.08
    t3 = np.random.default_rng(9).standard_t(3.0, N)
    assert abs(estimate_alpha(t3, "hill", k=1000, cap=None).alpha_raw - 3.0) <= 0.3
    # Block sum is built for stable laws and reads Student-t(1.5) lower (docs/science.md: 1.32 vs 1.50).
    assert estimate_alpha(t15).alpha_raw < 1.42


def _brute_hill(x: np.ndarray, k: int) -> float:
    logs = np.log(np.sort(np.abs(x))[::-1] + np.spacing(1))
    return 1.0 / (logs[:k].mean() - logs[k])


def _brute_moment(x: np.ndarray, k: int) -> float:
    logs = np.log(np.sort(np.abs(x))[::-1] + np.spacing(1))
    e = logs[:k] - logs[k]
    m1, m2 = e.mean(), (e * e).mean()
    gamma = m1 + 1 - 0.5 / (1 - m1 * m1 / m2)
    return 1.0 / gamma if gamma > 0 else math.inf


@pytest.mark.parametrize("method, brute", [("hill", _brute_hill), ("moment", _brute_moment)])
def test_default_k_grid_is_the_median_over_candidates(method, brute):
    x = np.random.default_rng(1).standard_t(2.0, 5000)
    est = estimate_alpha(x, method, cap=None)
    assert est.ks == (2, 5, 10, 20, 50, 100, 500, 1000)
    assert est.per_k == pytest.approx([brute(x, k) for k in est.ks], rel=1e-9)
    assert est.alpha_raw == pytest.approx(float(np.median(est.per_k)), rel=1e-12)
    assert est.per_permutation == ()


def test_moment_without_power_tail_is_inf():
    u = np.random.default_rng(2).uniform(size=N)  # extreme-value index -1: gamma_hat < 0
    est = estimate_alpha(u, "moment", k=5000)
    assert est.alpha_raw == math.inf and est.alpha == 2.0


def test_hill_on_rows_uses_row_norms():
    rows = np.random.default_rng(4).standard_normal((3000, 4))
    norms = np.linalg.norm(rows, axis=1)
    assert estimate_alpha(rows, "hill", k=300).per_k == estimate_alpha(norms, "hill", k=300).per_k


# --- cap, centring, determinism, input types --------------------------------------------------------

def test_cap_none_reports_light_tails_above_two():
    u = np.random.default_rng(6).uniform(-1, 1, N)
    capped, uncapped = estimate_alpha(u), estimate_alpha(u, cap=None)
    assert uncapped.alpha == uncapped.alpha_raw > 2.05
    assert capped.alpha == 2.0 and capped.alpha_raw == uncapped.alpha_raw
    assert estimate_alpha(u, cap=1.5).alpha == 1.5


def test_constant_sample_has_infinite_raw_alpha():
    est = estimate_alpha(np.full(1000, 0.3))
    assert est.alpha_raw == math.inf and est.alpha == 2.0


def test_median_centring_is_np_median():
    # Even N and a per-column shift: centring by the (averaged) median is the same as subtracting it.
    x = np.random.default_rng(7).standard_normal((1000, 3)) + np.array([5.0, -2.0, 0.5])
    a = estimate_alpha(x, cap=None)
    b = estimate_alpha(x - np.median(x, axis=0), center=None, cap=None)
    assert a.per_permutation == pytest.approx(b.per_permutation, rel=1e-9)
    assert estimate_alpha(x, center=None, cap=None).alpha_raw != pytest.approx(a.alpha_raw, abs=0.05)


@pytest.mark.parametrize("column", [
    [3.0, 1.0, 2.0, 5.0, 4.0], [3.0, 1.0, 2.0, 4.0], [1.0, 1.0, 1.0, 2.0], [2.0, 1.0, 2.0, 2.0],
    [0.5, -1.0, 7.0, 7.0, -3.0, 0.0],
])
def test_device_median_matches_np_median(column):
    # The path GPU tensors take (CPU tensors use np.median), checked here on the CPU.
    x = np.array([column, column[::-1]], dtype=np.float64).T
    assert _median_torch(torch.from_numpy(x)).numpy().tolist() == np.median(x, axis=0).tolist()


def test_same_seed_same_result_other_seed_other_permutations(gaussian):
    x = gaussian[:20_000]
    before = x.copy()
    assert estimate_alpha(x, seed=3) == estimate_alpha(x, seed=3)
    assert estimate_alpha(x, center=None) == estimate_alpha(x, center=None)
    assert np.array_equal(x, before)  # the caller's array is never shuffled or centred in place
    assert estimate_alpha(x, seed=3).per_permutation != estimate_alpha(x, seed=4).per_permutation


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_input_equals_numpy_input(stable_rows, dtype):
    w = stable_rows[1.7][:512].astype(dtype)
    for x in (w, w.ravel()):
        for method in METHODS:
            assert estimate_alpha(torch.from_numpy(x.copy()), method) == estimate_alpha(x, method)


def test_other_dtypes_and_layouts_are_accepted(gaussian):
    x = gaussian[:4096]
    ref = estimate_alpha(x.astype(np.float32))
    half = estimate_alpha(torch.from_numpy(x).to(torch.bfloat16))
    assert abs(half.alpha_raw - ref.alpha_raw) < 0.02
    assert estimate_alpha(torch.tensor(x, requires_grad=True)).alpha_raw == estimate_alpha(x).alpha_raw
    read_only = x.copy()
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert estimate_alpha(read_only) == estimate_alpha(x)
    reversed_view = x[::-1]  # negative strides
    assert estimate_alpha(reversed_view) == estimate_alpha(reversed_view.copy())
    w = np.random.default_rng(1).standard_normal((300, 200))
    assert estimate_alpha(w.T) == estimate_alpha(np.ascontiguousarray(w.T))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_tensor_is_computed_on_device(stable_rows):
    w = torch.from_numpy(stable_rows[1.5])
    cpu, gpu = estimate_alpha(w), estimate_alpha(w.cuda())
    assert gpu == estimate_alpha(w.cuda())
    assert abs(gpu.alpha_raw - cpu.alpha_raw) <= 3 * MULTI_SD[1.5]  # other permutations on device
    assert abs(gpu.alpha_raw - 1.5) <= 3 * MULTI_SD[1.5]


# --- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, kwargs, message", [
    (np.ones(10), {"method": "pickands"}, r"method: unknown value 'pickands' \(allowed: block_sum, hill, moment\)"),
    (np.ones(10), {"k": 3}, r"block_sum: unknown option 'k' \(allowed: center, n_permutations\)"),
    (np.ones(10), {"method": "hill", "n_permutations": 3}, r"hill: unknown option 'n_permutations'"),
    (np.array([1.0, 2.0, np.nan, 4.0, 5.0]), {}, "NaN or inf"),
    (np.array([1.0, 2.0, np.inf, 4.0, 5.0]), {}, "NaN or inf"),
    (np.ones((4, 4, 4)), {}, r"got shape \(4, 4, 4\)"),
    (np.float64(3.0), {}, r"got shape \(\)"),
    (np.ones(3), {}, "3 samples; at least 4"),
    (np.ones((3, 100)), {}, "3 samples; at least 4"),
    (np.ones((10, 0)), {}, "no entries"),
    (np.ones(10, dtype=complex), {}, "real numbers"),
    (np.ones(10), {"center": "mean"}, "center: unknown value 'mean'"),
    (np.ones(10), {"n_permutations": 0}, "n_permutations"),
    (np.ones(10), {"method": "hill", "k": 10}, r"k: expected None or an int in \[1, 9\]"),
    (np.ones(10), {"method": "moment", "k": 2.5}, "k: expected"),
    (np.ones(10), {"cap": 0}, "cap: expected a positive number or None"),
    (np.ones(10), {"seed": -1}, "seed: expected an int >= 0"),
])
def test_bad_input_raises_value_error(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_alpha(x, **kwargs)


def test_tail_estimate_validates_itself():
    good = dict(alpha=1.5, alpha_raw=1.5, method="hill", n=10, ks=(2,), per_k=(1.5,))
    assert TailEstimate(**good).cap == 2.0
    with pytest.raises(ValueError, match="alpha"):
        TailEstimate(**{**good, "alpha": 1.4})
    with pytest.raises(ValueError, match="method"):
        TailEstimate(**{**good, "method": "nope"})
    with pytest.raises(ValueError, match="ks/per_k"):
        TailEstimate(**{**good, "per_k": ()})
    with pytest.raises(ValueError, match="NaN"):
        TailEstimate(**{**good, "per_k": (math.nan,)})


# --- layer_samples ----------------------------------------------------------------------------------

def test_layer_samples_views():
    linear = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(layer_samples(linear, "first"), linear)
    assert np.array_equal(layer_samples(linear, "hidden"), linear)
    assert np.array_equal(layer_samples(linear, "last"), linear.T)
    conv = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    rows = layer_samples(conv, "hidden")
    assert isinstance(rows, torch.Tensor) and rows.shape == (6, 25)
    assert torch.equal(rows[4], conv[1, 1].reshape(-1))  # kernel (out=1, in=1) is row 1*3 + 1
    assert layer_samples(conv, "last").shape == (6, 25)


@pytest.mark.parametrize("weight, role, message", [
    (np.ones((3, 4)), "output", r"role: unknown value 'output' \(allowed: first, hidden, last\)"),
    (np.ones(5), "first", r"got shape \(5,\)"),
    (np.ones((2, 2, 2)), "first", "2-D .* or 4-D"),
    ([[1.0, 2.0]], "first", "numpy array or torch tensor"),
])
def test_layer_samples_errors(weight, role, message):
    with pytest.raises(ValueError, match=message):
        layer_samples(weight, role)
