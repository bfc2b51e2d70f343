"""Unit-scale symmetric alpha-stable draws on the CPU in one fused pass (float32), for iterate noise.

Why a kernel of its own: ``entry`` noise draws one SaS variate per weight at every step, and in eager
torch each Chambers-Mallows-Stuck draw is two serial Mersenne-twister uniforms plus six transcendental
passes over memory, ~30 ns a draw on one core, twice the SGD step it follows (bench/bench_noise.py).
Here the uniforms come from a counter-based generator and the whole formula runs in registers, 8 lanes at
a time, compiled once by numba (cached on disk).

The recipe, which ``tests/core/test_sas_kernel.py`` replays in float64:
- Words. Draw ``k`` (0-based) of a call keyed ``(k0, k1)`` takes 32-bit words ``2(k % 2)`` and
  ``2(k % 2) + 1`` of Philox4x32-10 (Salmon et al. 2011, the generator of cuRAND and JAX) at counter
  ``(k // 2 mod 2^32, k // 2 >> 32, 0, 0)``. The caller draws the key from its torch generator, so the
  generator's state alone fixes the stream (and checkpoints as before).
- Uniforms. From word ``a``: ``j = (a >> 8) - 2^23 + 1/2``, a half-integer, and ``V = pi * j / 2^24``,
  uniform on 2^24 points strictly inside (-pi/2, pi/2), symmetric about 0. From word ``b``:
  ``U = (2 * (b >> 9) + 1) / 2^24``, on 2^23 points strictly inside (0, 1); ``W = -log U``.
- CMS, S1, unit scale (scipy's ``levy_stable(alpha, 0)``):
  ``X = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha) / alpha)``.
  Every cosine is taken as a sine of the distance to pi/2, computed from ``j`` without cancellation, so
  the draws far in the tails (V near +-pi/2, where X is large) keep float32's relative accuracy.

The float32 sine, log and exp below are polynomial approximations with relative errors near 1e-7
(tested against numpy in float64); a draw as a whole is within ~1e-5 of the float64 formula.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

F32, I32, U32, U64 = np.float32, np.int32, np.uint32, np.uint64
# Numba's float division raises on zero unless told otherwise; that branch stops vectorization.
_JIT = dict(fastmath={"contract"}, error_model="numpy", cache=True)
_INLINE = dict(_JIT, inline="always")


@intrinsic
def _float_bits(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _bits_float(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


# ---------------------------------------------------------------- Philox4x32-10
_PHILOX_M0, _PHILOX_M1 = U64(0xD2511F53), U64(0xCD9E8D57)
_PHILOX_W0, _PHILOX_W1 = U32(0x9E3779B9), U32(0xBB67AE85)
_LOW32, _SHIFT32 = U64(0xFFFFFFFF), U64(32)


@numba.njit(**_INLINE)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32 with 10 rounds: four uint32 words from a 4-word counter and a 2-word key."""
    for _ in range(10):
        p0 = _PHILOX_M0 * U64(c0)
        p1 = _PHILOX_M1 * U64(c2)
        c0, c1, c2, c3 = (U32(p1 >> _SHIFT32) ^ c1 ^ k0, U32(p1 & _LOW32),
                          U32(p0 >> _SHIFT32) ^ c3 ^ k1, U32(p0 & _LOW32))
        k0, k1 = U32(k0 + _PHILOX_W0), U32(k1 + _PHILOX_W1)
    return c0, c1, c2, c3


# ---------------------------------------------------------------- float32 elementary functions
_ONE, _TWO, _ZERO = F32(1.0), F32(2.0), F32(0.0)
# Polynomial coefficients: least squares in float64 on Chebyshev nodes, weighted for relative error, then
# rounded to float32 (the fit itself is in tests/core/test_sas_kernel.py, which also checks the errors).
# sin on [0, pi/2] as x + x^3 q(x^2), q of degree 3: relative error 1.1e-7 in float32 (Taylor needs x^13).
_S0, _S1, _S2, _S3 = F32(-1.66666600e-01), F32(8.33307569e-03), F32(-1.98102083e-04), F32(2.60698216e-06)


@numba.njit(**_INLINE)
def sin_first_quadrant(x):
    """sin(x) for float32 x in [0, pi/2]."""
    z = x * x
    return x + x * z * (((_S3 * z + _S2) * z + _S1) * z + _S0)


_LN2_HI, _LN2_LO = F32(0.693145751953125), F32(1.42860682030941723212e-06)   # hi has 8 zero low bits
_SQRT_HALF_BITS, _EXP_SHIFT = I32(0x3F3504F3), I32(23)
_L3, _L5, _L7, _L9 = F32(1 / 3), F32(1 / 5), F32(1 / 7), F32(1 / 9)


@numba.njit(**_INLINE)
def log_positive(x):
    """log(x) for a positive normal float32: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), and
    log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its series to s^9."""
    bits = _float_bits(x)
    e = I32(I32(bits - _SQRT_HALF_BITS) >> _EXP_SHIFT)
    m = _bits_float(I32(bits - I32(e << _EXP_SHIFT)))
    s = (m - _ONE) / (m + _ONE)
    z = s * s
    p = ((_L9 * z + _L7) * z + _L5) * z + _L3
    ef = F32(e)
    return ef * _LN2_HI + (ef * _LN2_LO + (_TWO * s + _TWO * s * z * p))


_LOG2E, _ROUNDER = F32(1.4426950408889634), F32(12582912.0)    # 1.5 * 2^23: adding it rounds to an integer
# exp on [-ln(2)/2, ln(2)/2] as 1 + r + r^2 q(r), q of degree 4: relative error 7e-8 in float32.
_E0, _E1, _E2, _E3, _E4 = F32(0.49999989), F32(0.16666518), F32(0.04166953), F32(0.00836892), F32(0.00137514)
_MAX_EXP, _MIN_EXP, _EXP_BIAS, _CLAMP = F32(127.0), F32(-126.0), I32(127), F32(200.0)
_INF = F32(np.inf)


@numba.njit(**_INLINE)
def exp_scaled_float32(y, down):
    """exp(y) * 2^-down for float32 y and an integer-valued float32 ``down``, as 2^(n - down) exp(r),
    |r| <= ln(2)/2 (the scaling is exact); inf above the float32 range, 0 below its normal range."""
    t = min(max(y * _LOG2E, -_CLAMP), _CLAMP)
    n = (t + _ROUNDER) - _ROUNDER
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = _ONE + (r + r * r * ((((_E4 * r + _E3) * r + _E2) * r + _E1) * r + _E0))
    m = n - down
    power_of_two = _bits_float(I32(I32(I32(min(max(m, _MIN_EXP), _MAX_EXP)) + _EXP_BIAS) << _EXP_SHIFT))
    # m = 128 can still fit (exp(r) < 1) though 2^128 does not: its last factor of 2 goes on the polynomial.
    result = (p * (_TWO if m > _MAX_EXP else _ONE)) * power_of_two
    result = _INF if m > _MAX_EXP + _ONE else result
    return _ZERO if m < _MIN_EXP else result


# ---------------------------------------------------------------- Chambers-Mallows-Stuck
_HALF_PI = F32(math.pi / 2)
_ANGLE_STEP = F32(math.pi * 2.0 ** -24)
_TWO_23, _CENTER = F32(2.0 ** 23), F32(2.0 ** 23 - 0.5)
_UNIFORM_STEP = F32(2.0 ** -24)
_V_SHIFT, _U_SHIFT = U32(8), U32(9)
# At small alpha (below ~0.2; never from 0.5 up) the power can pass float32's largest value while the draw,
# the power times sin(alpha V) / cos(V) < 1, does not: the power is taken exactly 2^24 smaller and the
# factor carries 2^24 back. The price: powers below ~2e-31 flush to 0, which only alpha below ~0.04 reaches.
_POWER_DOWN, _POWER_SCALE = F32(24.0), F32(2.0 ** 24)


@numba.njit(**_INLINE)
def _cms(a, b, alpha, exponent, sin_far, cos_base, cos_slope):
    """One draw from words a (the angle) and b (the exponential); the rest are ``_per_call(alpha)``."""
    j = F32(I32(a >> _V_SHIFT)) - _CENTER
    abs_j = abs(j)
    to_edge = (_TWO_23 - abs_j) * _ANGLE_STEP          # pi/2 - |V|, exact up to one rounding
    cos_v = sin_first_quadrant(to_edge)
    near = alpha * (abs_j * _ANGLE_STEP)               # alpha |V|
    far = sin_far + alpha * to_edge                    # pi - alpha |V|, for alpha |V| > pi/2
    sin_av = sin_first_quadrant(near if near <= _HALF_PI else far)
    cos_1ma_v = sin_first_quadrant(cos_base + cos_slope * to_edge)   # pi/2 - |1 - alpha| |V|
    u = F32(I32(I32(b >> _U_SHIFT) * I32(2) + I32(1))) * _UNIFORM_STEP
    w = -log_positive(u)
    power = exp_scaled_float32(exponent * log_positive(cos_1ma_v / (w * cos_v)), _POWER_DOWN)
    x = sin_av / cos_v * _POWER_SCALE * power   # cos(V)^(-1/alpha) = cos(V)^(-1) cos(V)^(-(1-alpha)/alpha)
    return x if j > _ZERO else -x


@numba.njit(**_INLINE)
def _per_call(alpha):
    """``_cms``'s constants for one alpha: alpha, the exponent (1 - alpha) / alpha, and the parts of
    pi - alpha |V| = sin_far + alpha (pi/2 - |V|) and pi/2 - |1 - alpha| |V| = cos_base + cos_slope (pi/2 - |V|),
    sums of non-negative terms, so no digits cancel near the edges."""
    # In float64, then rounded: alpha near 2 rounded to float32 first would leave 1 - alpha / 2 with few
    # correct digits (relative error 7e-4 in a draw at alpha = 1.99999).
    alpha = np.float64(alpha)
    slope = abs(1.0 - alpha)
    return (F32(alpha), F32((1.0 - alpha) / alpha), F32((1.0 - alpha * 0.5) * math.pi),
            F32((1.0 - slope) * (math.pi / 2)), F32(slope))


@numba.njit(**_JIT)
def cms_from_words(out, angle_words, exponential_words, alpha):
    """Draw i of ``out`` (float32) from uint32 words ``angle_words[i]`` and ``exponential_words[i]``."""
    alpha, exponent, sin_far, cos_base, cos_slope = _per_call(alpha)    # inlined calls take no *args
    for i in range(out.shape[0]):
        out[i] = _cms(U32(angle_words[i]), U32(exponential_words[i]), alpha, exponent, sin_far, cos_base, cos_slope)


@numba.njit(**_JIT)
def fill_sas(out, alpha, k0, k1):
    """Fill the float32 vector ``out`` with unit-scale SaS(alpha) draws of the call keyed (k0, k1)."""
    alpha, exponent, sin_far, cos_base, cos_slope = _per_call(alpha)
    k0, k1 = U32(k0), U32(k1)
    n = out.shape[0]
    zero = U32(0)
    for i in range(n // 2):          # a branch for odd n inside this loop would stop its vectorization
        r0, r1, r2, r3 = philox4x32_10(U32(i & 0xFFFFFFFF), U32(i >> 32), zero, zero, k0, k1)
        out[2 * i] = _cms(r0, r1, alpha, exponent, sin_far, cos_base, cos_slope)
        out[2 * i + 1] = _cms(r2, r3, alpha, exponent, sin_far, cos_base, cos_slope)
    if n % 2:
        r0, r1, r2, r3 = philox4x32_10(U32((n // 2) & 0xFFFFFFFF), U32(n // 2 >> 32), zero, zero, k0, k1)
        out[n - 1] = _cms(r0, r1, alpha, exponent, sin_far, cos_base, cos_slope)
