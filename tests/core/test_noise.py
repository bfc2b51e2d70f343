"""The alpha-stable samplers against scipy's draws and the block-sum estimator (docs/science.md,
"The follow-up": S1, unit scale; alpha = 2 is N(0, 2))."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp, levy_stable

from core.noise import sample_positive_stable, sample_sas, sample_sas_by_torch_ops
from core.tails import estimate_alpha
from tests.core import sas_reference

# Block-sum accuracy at n = 1e5 on SaS samples: |bias| <= 0.003, sd <= 0.015 (docs/science.md).
BLOCK_SUM_SD_1E5 = 0.015


# float32 on the CPU draws with the fused kernel (core.sas_kernel); float64 with torch ops. Both must be
# the same law.
DTYPES = [torch.float32, torch.float64]


def _draw(alpha: float, n: int, seed: int, sampler=sample_sas, dtype: torch.dtype = torch.float64) -> np.ndarray:
    return sampler(alpha, (n,), generator=torch.Generator().manual_seed(seed), dtype=dtype).double().numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.6, 1.0, 1.3, 1.75, 1.95, 2.0])
def test_sas_matches_scipy_in_distribution(alpha, dtype):
    ours = _draw(alpha, 50_000, seed=1, dtype=dtype)
    theirs = levy_stable.rvs(alpha, 0.0, size=20_000, random_state=7)
    assert np.isfinite(ours).all()
    assert ks_2samp(ours, theirs).pvalue > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_sas_at_two_is_gaussian_with_variance_two(dtype):
    x = _draw(2.0, 200_000, seed=2, dtype=dtype)
    assert x.var() == pytest.approx(2.0, rel=0.02) and abs(x.mean()) < 0.02


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.75, 1.95])
def test_block_sum_recovers_the_sampler_alpha_within_3_sd(alpha, dtype):
    est = estimate_alpha(_draw(alpha, 100_000, seed=3, dtype=dtype))
    assert abs(est.alpha_raw - alpha) <= 3 * BLOCK_SUM_SD_1E5 + 0.003


@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.75])
def test_positive_stable_matches_scipy_and_gives_unit_scale_elliptic_marginals(alpha):
    a = _draw(alpha, 50_000, seed=4, sampler=sample_positive_stable)
    assert (a >= 0).all() and np.isfinite(a).all()
    scale = math.cos(math.pi * alpha / 4) ** (2 / alpha)
    theirs = levy_stable.rvs(alpha / 2, 1.0, scale=scale, size=20_000, random_state=8)
    assert ks_2samp(a, theirs).pvalue > 1e-3
    gauss = np.random.default_rng(5).standard_normal(a.shape) * math.sqrt(2.0)   # G ~ N(0, 2)
    marginal = np.sqrt(a) * gauss
    assert ks_2samp(marginal, levy_stable.rvs(alpha, 0.0, size=20_000, random_state=9)).pvalue > 1e-3


def test_positive_stable_at_two_is_one():
    assert np.array_equal(_draw(2.0, 10, seed=0, sampler=sample_positive_stable), np.ones(10))


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_generator_state_same_draws_and_dtype_shape_device(dtype):
    first = sample_sas(1.5, (3, 4), generator=torch.Generator().manual_seed(9), dtype=dtype)
    again = sample_sas(1.5, (3, 4), generator=torch.Generator().manual_seed(9), dtype=dtype)
    other = sample_sas(1.5, (3, 4), generator=torch.Generator().manual_seed(10), dtype=dtype)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.dtype == dtype and first.shape == (3, 4) and first.device.type == "cpu"


def test_the_cpu_float32_draw_is_the_kernel_keyed_by_the_generator():
    generator = torch.Generator().manual_seed(11)
    x = sample_sas(1.3, (5, 7), generator=generator)
    replay = torch.Generator().manual_seed(11)
    key = sas_reference.replay_key(replay)
    expected = sas_reference.cms(1.3, *sas_reference.uniforms(35, key)).reshape(5, 7)
    np.testing.assert_allclose(x.numpy(), expected, rtol=2e-5)
    assert torch.equal(generator.get_state(), replay.get_state())    # the draw took one key, as replayed
    assert sample_sas(1.3, (0, 3), generator=generator).shape == (0, 3)


@pytest.mark.parametrize("alpha", [0.0, -1.0, 2.5, float("nan"), True, "1.5"])
def test_bad_alpha_names_the_field(alpha):
    with pytest.raises(ValueError, match=r"^alpha: must be a number in \(0, 2\]"):
        sample_sas(alpha, (3,), generator=torch.Generator())


@pytest.mark.parametrize("sampler", [sample_sas, sample_sas_by_torch_ops])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.75, 2.0])
def test_draws_are_finite_even_at_the_edges_of_the_uniforms(alpha, sampler):
    # 4M of torch's float32 uniforms hit U = 0 (V = -pi/2, W = inf) with probability ~0.2, and the torch-ops
    # path (CUDA's) must clamp both; the kernel's uniforms are midpoints, strictly inside (0, 1).
    x = sampler(alpha, (4_000_000,), generator=torch.Generator().manual_seed(3), device=torch.device("cpu"),
                dtype=torch.float32)
    assert bool(torch.isfinite(x).all())


@pytest.mark.parametrize("alpha", [1.0, 1.75])
def test_the_torch_ops_path_in_float32_matches_scipy(alpha):
    ours = sample_sas_by_torch_ops(alpha, (50_000,), generator=torch.Generator().manual_seed(1),
                                   device=torch.device("cpu"), dtype=torch.float32).double().numpy()
    assert ks_2samp(ours, levy_stable.rvs(alpha, 0.0, size=20_000, random_state=7)).pvalue > 1e-3
