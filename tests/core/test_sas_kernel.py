"""The fused CPU kernel for SaS draws (core/sas_kernel.py) against known answers: Random123's Philox
vectors, numpy's float64 elementary functions, and the CMS recipe replayed in float64."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core import sas_kernel
from core.sas_kernel import cms_from_words, exp_scaled_float32, fill_sas, log_positive, \
    philox4x32_10, sin_first_quadrant
from tests.core import sas_reference

# Random123's published known-answer vectors for Philox4x32-10: counter, key, output.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
F32 = np.float32


@pytest.mark.parametrize("counter, key, expected", PHILOX_KAT)
def test_philox_matches_random123_known_answers(counter, key, expected):
    kernel = philox4x32_10(*(np.uint32(c) for c in counter), *(np.uint32(k) for k in key))
    assert tuple(int(w) for w in kernel) == expected
    reference = sas_reference.philox4x32_10(np.array([counter], dtype=np.uint64), key)
    assert tuple(int(w) for w in reference[0]) == expected


def _exp(y):
    return exp_scaled_float32(y, F32(0))          # the kernel's exp, unscaled


def _elementwise(fn, x: np.ndarray) -> np.ndarray:
    return np.array([fn(F32(v)) for v in x], dtype=np.float64)


def test_sine_log_exp_have_float32_relative_accuracy():
    rng = np.random.default_rng(0)
    angles = np.concatenate([rng.uniform(0, math.pi / 2, 3000), [1e-7, 1e-3, math.pi / 2]]).astype(F32)
    exact = np.sin(angles.astype(np.float64))
    assert np.max(np.abs(_elementwise(sin_first_quadrant, angles) / exact - 1)) < 3e-7
    positive = np.exp(rng.uniform(-80, 80, 3000)).astype(F32)
    positive = np.concatenate([positive, np.array([1.0, 1 - 2 ** -24, 1 + 2 ** -23, 2 ** -24, 1.7e14], F32)])
    exact = np.log(positive.astype(np.float64))
    assert np.all(np.abs(_elementwise(log_positive, positive) - exact) <= 3e-7 * np.abs(exact) + 1e-7)
    # Near 1 the log is small and must stay relatively accurate: W = -log U for U near 1.
    near_one = positive[(np.abs(exact) < 0.5) & (positive != 1)]
    rel = np.abs(_elementwise(log_positive, near_one) / np.log(near_one.astype(np.float64)) - 1)
    assert np.max(rel) < 3e-7 and log_positive(F32(1.0)) == 0.0
    # Up to ln of float32's largest value, 88.72 (exp of 88.5 is 2.7e38: 2^128 times a factor below 1).
    ys = np.concatenate([rng.uniform(-87, 88.72, 3000), [0.0, -1e-8, 1e-8, 88.5, 88.7, 88.72]]).astype(F32)
    rel = np.abs(_elementwise(_exp, ys) / np.exp(ys.astype(np.float64)) - 1)
    assert np.max(rel) < 3e-7
    assert _elementwise(_exp, np.array([88.73, 89.0, 500.0], F32)).tolist() == [math.inf] * 3
    assert _elementwise(_exp, np.array([-90.0, -500.0], F32)).tolist() == [0.0, 0.0]


def test_scaled_exp_is_exact_in_its_power_of_two():
    ys = np.concatenate([np.linspace(-60, 105, 2001), [88.73, 100.0, 105.0]]).astype(F32)
    scaled = np.array([exp_scaled_float32(y, F32(24)) for y in ys], dtype=np.float64)
    exact = np.exp(ys.astype(np.float64)) / 2.0 ** 24
    assert np.max(np.abs(scaled / exact - 1)) < 3e-7              # exp(100) / 2^24 = 1.6e36 is no overflow
    assert exp_scaled_float32(F32(106.0), F32(24)) == math.inf    # 6.2e38 is


@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.5, 1.0, 1.3, 1.75, 1.99, 1.99999, 2.0])
def test_fill_is_the_cms_recipe_in_float64(alpha):
    key = (0x1234ABCD, 0x9E3779B9)
    n = 200_001                                              # odd: the last draw takes half a counter
    out = np.empty(n, dtype=F32)
    fill_sas(out, alpha, *key)
    expected = sas_reference.cms(alpha, *sas_reference.uniforms(n, key))
    # At alpha 0.1 a few draws lie beyond float32's largest value (3.4e38): those, and only those, are inf
    # (a power that overflows on its own while the draw does not must not make one).
    beyond = np.abs(expected) > np.finfo(F32).max
    np.testing.assert_allclose(out[~beyond], expected[~beyond], rtol=2e-5, atol=1e-6)
    assert np.array_equal(np.isinf(out), beyond) and not np.isnan(out).any()
    assert beyond.sum() == 0 if alpha >= 0.2 else beyond.sum() > 0


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.75, 2.0])
def test_draws_at_the_edges_of_the_words_keep_relative_accuracy(alpha):
    # The outermost angles are pi/2 - pi/2^25 from +-pi/2: cos V ~ 9e-8, where a float32 cosine of V
    # itself would have no correct digit, and these are the draws far in the tails.
    edges = np.array([0, 0xFF, 0x100, 0x7FFFFF00, 0x80000000, 0xFFFFFEFF, 0xFFFFFF00, 0xFFFFFFFF], dtype=np.uint64)
    angle, exponential = np.repeat(edges, edges.size), np.tile(edges, edges.size)
    out = np.empty(angle.size, dtype=F32)
    cms_from_words(out, angle.astype(np.uint32), exponential.astype(np.uint32), alpha)
    u1 = ((angle >> np.uint64(8)).astype(np.float64) + 0.5) / 2.0 ** 24
    u2 = (2.0 * (exponential >> np.uint64(9)).astype(np.float64) + 1.0) / 2.0 ** 24
    np.testing.assert_allclose(out, sas_reference.cms(alpha, u1, u2), rtol=2e-5)


def test_a_shorter_fill_is_a_prefix_and_the_key_changes_everything():
    long, short, other = np.empty(1001, F32), np.empty(10, F32), np.empty(1001, F32)
    fill_sas(long, 1.5, 7, 8)
    fill_sas(short, 1.5, 7, 8)
    fill_sas(other, 1.5, 7, 9)
    assert np.array_equal(long[:10], short)
    assert np.mean(long == other) < 0.01


def _fit_relative(fn, basis, low: float, high: float, terms: int) -> np.ndarray:
    """Least squares on Chebyshev nodes in float64, weighted for relative error: how the kernel's
    coefficients were made."""
    k = np.arange(4000)
    x = (low + high) / 2 + (high - low) / 2 * np.cos(np.pi * (k + 0.5) / 4000)
    design = np.stack([basis(x, i) for i in range(terms)], axis=1)
    target, weight = fn(x)
    return np.linalg.lstsq(design / weight[:, None], target / weight, rcond=None)[0]


def test_the_kernel_coefficients_are_the_documented_fits():
    sine = _fit_relative(lambda x: (np.sin(x) - x, np.sin(x)), lambda x, i: x ** (3 + 2 * i), 1e-3, math.pi / 2, 4)
    half_ln2 = math.log(2) / 2
    exp = _fit_relative(lambda x: (np.exp(x) - 1 - x, np.exp(x)), lambda x, i: x ** (2 + i), -half_ln2, half_ln2, 5)
    kernel_sine = [sas_kernel._S0, sas_kernel._S1, sas_kernel._S2, sas_kernel._S3]
    kernel_exp = [sas_kernel._E0, sas_kernel._E1, sas_kernel._E2, sas_kernel._E3, sas_kernel._E4]
    np.testing.assert_allclose(np.array(kernel_sine, np.float64), sine, rtol=1e-5)
    np.testing.assert_allclose(np.array(kernel_exp, np.float64), exp, rtol=1e-5)
