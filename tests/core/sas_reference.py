"""The fused SaS kernel's recipe (core/sas_kernel.py) written out again in numpy, float64, independent of
numba: Philox4x32-10 words, the uniforms made from them, and Chambers-Mallows-Stuck."""
from __future__ import annotations

import math

import numpy as np
import torch

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LOW = np.uint64(0xFFFFFFFF)


def philox4x32_10(counters: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 of each row of ``counters`` (n x 4, uint32 values) under ``key``: n x 4 uint64."""
    c = [counters[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = key
    for _ in range(10):
        p0, p1 = _M0 * c[0], _M1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & _LOW, (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1),
             p0 & _LOW]
        k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
    return np.stack(c, axis=1)


def words(n: int, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The angle word and the exponential word of draws 0..n-1: draw k takes words 2(k%2), 2(k%2)+1 at
    counter (k//2, 0, 0, 0)."""
    pairs = (n + 1) // 2
    counters = np.zeros((pairs, 4), dtype=np.uint64)
    counters[:, 0] = np.arange(pairs)
    out = philox4x32_10(counters, key)
    return out[:, [0, 2]].reshape(-1)[:n], out[:, [1, 3]].reshape(-1)[:n]


def uniforms(n: int, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """U1 = V/pi + 1/2 on 2^24 midpoints of (0, 1), and U2 on 2^23 midpoints of (0, 1)."""
    a, b = words(n, key)
    u1 = ((a >> np.uint64(8)).astype(np.float64) + 0.5) / 2.0 ** 24
    u2 = (2.0 * (b >> np.uint64(9)).astype(np.float64) + 1.0) / 2.0 ** 24
    return u1, u2


def cms(alpha: float, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Chambers-Mallows-Stuck written out: V = pi (U1 - 1/2), W = -log U2,
    X = sin(aV) / cos(V)^(1/a) * (cos((1 - a) V) / W)^((1 - a) / a)."""
    v, w = math.pi * (u1 - 0.5), -np.log(u2)
    return np.sin(alpha * v) / np.cos(v) ** (1 / alpha) * (np.cos((1 - alpha) * v) / w) ** ((1 - alpha) / alpha)


def replay_key(generator: torch.Generator) -> tuple[int, int]:
    """The key a fused draw takes from its generator: two integers in [0, 2^32)."""
    k0, k1 = torch.randint(0, 2 ** 32, (2,), generator=generator, dtype=torch.int64).tolist()
    return k0, k1
