"""Tail-index estimators: pure functions over weights, returning a TailEstimate.

Methods (registry ``METHODS``):
    block_sum  Mohammadi-Mohammadpour-Ogata (2015) block-sum estimator, univariate (1-D x) or
               multivariate (2-D x, rows are samples), the reference code's defaults (docs/science.md,
               "Tail-index estimators").
    hill       Hill: 1/H_k, H_k = mean_{i<=k} log|X|_(i) - log|X|_(k+1) (descending order statistics).
    moment     Dekkers-Einmahl-de Haan moment estimator of gamma = 1/alpha.

All methods act on the samples' magnitudes: |x| for 1-D input, row norms for 2-D input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

from core.vocab import ALPHA_VARIANTS, ROLES, TAIL_METHODS, check_center, check_choice, check_registry

# The reference code's block-size candidates (docs/science.md, "Tail-index estimators").
CANDIDATES = (2, 5, 10, 20, 50, 100, 500, 1000)
MIN_SAMPLES = 4
# Added inside every log, as the reference did (np.spacing(1)), so exact zeros stay finite.
LOG_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class TailEstimate:
    """One tail-index estimate and the per-block-size (per-k) values behind its median.

    ``alpha`` = min(``alpha_raw``, ``cap``) (= ``alpha_raw`` when ``cap`` is None). ``alpha_raw`` is inf
    when the data show no growth of sums at all (e.g. a constant sample) or a moment estimate has
    gamma <= 0. ``ks`` are the block sizes K1 (block_sum) or the k values (hill, moment); ``per_k`` the
    uncapped estimate at each (block_sum: median over permutations). ``per_permutation`` (block_sum only)
    holds each permutation's median over ``ks``; ``alpha_raw`` is their median.
    """

    alpha: float
    alpha_raw: float
    method: str
    n: int
    ks: tuple[int, ...]
    per_k: tuple[float, ...]
    per_permutation: tuple[float, ...] = ()
    cap: float | None = 2.0

    def __post_init__(self) -> None:
        check_choice("method", self.method, TAIL_METHODS)
        if self.n < MIN_SAMPLES:
            raise ValueError(f"n: {self.n} samples; at least {MIN_SAMPLES} are needed")
        if not self.ks or len(self.ks) != len(self.per_k):
            raise ValueError(f"ks/per_k: need equally many, at least one (got {len(self.ks)}, {len(self.per_k)})")
        values = (self.alpha, self.alpha_raw, *self.per_k, *self.per_permutation)
        if any(math.isnan(v) for v in values):
            raise ValueError("alpha, alpha_raw, per_k, per_permutation: NaN is not an estimate")
        expected = self.alpha_raw if self.cap is None else min(self.alpha_raw, self.cap)
        if self.alpha != expected:
            raise ValueError(f"alpha: {self.alpha} != min(alpha_raw={self.alpha_raw}, cap={self.cap})")


# ---------------------------------------------------------------------------------------------------
# Samples


def layer_samples(weight: Any, role: str) -> Any:
    """The estimator's samples-as-rows view of a weight (numpy in -> numpy out, torch -> torch).

    Linear (out, in): rows are neurons' incoming weights; role 'last' transposes (each hidden unit's
    outgoing vector is a sample, as the output layer has few rows). Conv (out, in, kh, kw) ->
    (out*in, kh*kw): each kernel is a sample, whatever the role.
    """
    check_choice("role", role, ROLES)
    if isinstance(weight, torch.Tensor):
        weight = weight.detach()
    elif not isinstance(weight, np.ndarray):
        raise ValueError(f"weight: expected a numpy array or torch tensor, got {type(weight).__name__}")
    shape = tuple(weight.shape)
    if len(shape) == 2:
        return weight.T if role == "last" else weight
    if len(shape) == 4:
        return weight.reshape(shape[0] * shape[1], shape[2] * shape[3])
    raise ValueError(f"weight: expected a 2-D (Linear) or 4-D (conv) weight, got shape {shape}")


def _as_samples(x: Any) -> torch.Tensor:
    """Validated (N, d) float32/float64 tensor on x's own device; numpy arrays are shared, not copied."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        a = np.asarray(x)
        if a.dtype.kind not in "fiu":
            raise ValueError(f"x: expected real numbers, got dtype {a.dtype}")
        if any(s < 0 for s in a.strides) or not a.flags.writeable:
            a = np.array(a)  # torch.from_numpy refuses negative strides and warns on read-only memory
        t = torch.from_numpy(a)
    if t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"x: expected real numbers, got dtype {t.dtype}")
    if t.dim() not in (1, 2):
        raise ValueError(f"x: expected 1-D samples or a 2-D (samples, dim) matrix, got shape {tuple(t.shape)}")
    if t.dim() == 2 and t.shape[1] == 0:
        raise ValueError(f"x: rows have no entries (shape {tuple(t.shape)})")
    if t.shape[0] < MIN_SAMPLES:
        raise ValueError(f"x: {t.shape[0]} samples; at least {MIN_SAMPLES} are needed")
    if t.dtype != torch.float64:
        t = t.to(torch.float32)  # half/bfloat16/ints: float32 holds them exactly enough
    if not bool(torch.isfinite(t).all()):
        raise ValueError("x: contains NaN or inf; estimate the tail of finite weights only")
    return t.reshape(t.shape[0], -1)


def _median(t: torch.Tensor) -> torch.Tensor:
    """Per-column median, averaging the two middle values for an even count (as np.median)."""
    if t.device.type == "cpu":  # numpy selects both middle values in one partition: faster on CPU
        return torch.from_numpy(np.asarray(np.median(t.numpy(), axis=0), dtype=t.numpy().dtype))
    return _median_torch(t)


def _median_torch(t: torch.Tensor) -> torch.Tensor:
    """``_median`` on the tensor's own device (GPU tensors stay there)."""
    n = t.shape[0]
    lo = t.median(dim=0).values  # torch returns the lower of the two middle values
    if n % 2:
        return lo
    # The upper middle value: lo again if enough ties, else the smallest value above lo.
    ties = (t <= lo).sum(dim=0) >= n // 2 + 1
    above = t.masked_fill(t <= lo, math.inf).amin(dim=0)
    return (lo + torch.where(ties, lo, above)) / 2


def _center(t: torch.Tensor, center: str | None) -> torch.Tensor:
    return t - _median(t) if check_center(center) == "median" else t


def _norms(t: torch.Tensor) -> torch.Tensor:
    return t[:, 0].abs() if t.shape[1] == 1 else torch.linalg.vector_norm(t, dim=1)


def _mean_log(values: torch.Tensor) -> torch.Tensor:
    return torch.log(values + LOG_EPS).sum(dtype=torch.float64) / values.shape[0]


# ---------------------------------------------------------------------------------------------------
# Block sum


def block_sizes(n: int) -> tuple[int, ...]:
    """The reference K1 rule for n samples.

    Each candidate <= n/2 is replaced by the largest divisor of n not above it, plus the largest divisor
    <= sqrt(n); duplicates and 1 are removed. When nothing > 1 is left (n prime), the candidates
    themselves are returned and the estimator drops the n mod K1 remainder rows.
    """
    if n < MIN_SAMPLES:
        raise ValueError(f"n: {n} samples; at least {MIN_SAMPLES} are needed")
    candidates = [c for c in CANDIDATES if c <= n / 2]
    divisors = _divisors(n)
    chosen = {max(d for d in divisors if d <= c) for c in candidates}
    chosen.add(max(d for d in divisors if d <= math.isqrt(n)))
    chosen.discard(1)
    return tuple(sorted(chosen)) if chosen else tuple(candidates)


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _permuted_rows(t: torch.Tensor, seed: int, count: int) -> Iterator[torch.Tensor]:
    """``count`` seeded random row permutations of t (copies).

    On the CPU numpy shuffles the rows themselves, which beats an index permutation plus a gather
    (fewer cache misses); other devices draw the permutation there.
    """
    if t.device.type == "cpu":
        rng = np.random.default_rng(seed)
        rows = t.numpy()
        for _ in range(count):
            yield torch.from_numpy(rng.permutation(rows))
    else:
        gen = torch.Generator(device=t.device).manual_seed(seed)
        for _ in range(count):
            yield t[torch.randperm(t.shape[0], generator=gen, device=t.device)]


def _nested_block_sums(rows: torch.Tensor, ks: tuple[int, ...]) -> list[torch.Tensor]:
    """Sums of consecutive blocks of k rows (the first n // k blocks) for each k in ascending ks.

    Each k is summed from the largest block size already done that divides it (ks from the K1 rule
    nest: 2, 4, 8, ... or 5, 10, 20, 50, 100, ...), so the whole ladder costs about one pass over the
    rows, and every float sum has few terms: hierarchical summation keeps float32 accurate.
    """
    n = rows.shape[0]
    done = {1: rows}
    out = []
    for k in ks:
        base = max(b for b in done if k % b == 0)
        blocks = n // k
        step = k // base
        done[k] = sums = _sum_consecutive(done[base], blocks, step)
        out.append(sums)
    return out


def _sum_consecutive(rows: torch.Tensor, blocks: int, step: int) -> torch.Tensor:
    """Sums of rows [i*step, (i+1)*step) for i < blocks."""
    if step > 32:
        return rows[:blocks * step].reshape(blocks, step, rows.shape[1]).sum(dim=1)
    # A few strided adds run 2-3x faster than torch's reduction over a short middle axis.
    end = blocks * step
    out = rows[0:end:step].clone()
    for j in range(1, step):
        out += rows[j:end:step]
    return out


def _block_sum(t: torch.Tensor, *, seed: int, center: str | None = "median",
               n_permutations: int = 5) -> tuple[tuple[int, ...], np.ndarray]:
    """Per-permutation, per-K1 estimates, shape (n_permutations, len(ks))."""
    if not isinstance(n_permutations, int) or isinstance(n_permutations, bool) or n_permutations < 1:
        raise ValueError(f"n_permutations: expected an int >= 1, got {n_permutations!r}")
    n = t.shape[0]
    t = _center(t, center).contiguous()
    # mean_j log||X_j|| over all samples is the same for every permutation: computed once. Only a
    # prime n, whose blocks leave n mod K1 rows out, subtracts the left-out rows of each permutation.
    log_total = torch.log(_norms(t) + LOG_EPS).to(torch.float64).sum()
    ks = block_sizes(n)
    log_k = torch.tensor([math.log(k) for k in ks], dtype=torch.float64, device=t.device)
    rows = []
    for shuffled in _permuted_rows(t, seed, n_permutations):
        diffs = []
        for k, sums in zip(ks, _nested_block_sums(shuffled, ks)):
            used = sums.shape[0] * k
            left_out = torch.log(_norms(shuffled[used:]) + LOG_EPS).to(torch.float64).sum()
            diffs.append(_mean_log(_norms(sums)) - (log_total - left_out) / used)
        rows.append(torch.stack(diffs))
    inv = (torch.stack(rows) / log_k).cpu().numpy()  # one device sync for everything
    with np.errstate(divide="ignore"):
        # Sums that do not grow (inv <= 0) mean a tail lighter than any alpha: report inf, not < 0.
        return ks, np.where(inv > 0, 1.0 / np.maximum(inv, 1e-300), np.inf)


# ---------------------------------------------------------------------------------------------------
# Hill and moment


def _k_grid(n: int, k: int | None) -> tuple[int, ...]:
    """The reference's Hill/moment k grid is the block-sum K1 set for the same n (its divisor rule
    included), so the tail estimators of one sample are taken at the same k's."""
    if k is None:
        return block_sizes(n)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k < n:
        raise ValueError(f"k: expected None or an int in [1, {n - 1}], got {k!r}")
    return (k,)


def _top_logs(t: torch.Tensor, center: str | None, count: int) -> np.ndarray:
    """log of the `count` largest magnitudes, descending, as float64 numpy."""
    magnitudes = _norms(_center(t, center))
    top = torch.topk(magnitudes, count, sorted=True).values
    return np.log(top.cpu().numpy().astype(np.float64) + LOG_EPS)


def _excesses(t: torch.Tensor, k: int | None, center: str | None) -> tuple[tuple[int, ...], list[np.ndarray]]:
    ks = _k_grid(t.shape[0], k)
    logs = _top_logs(t, center, max(ks) + 1)
    return ks, [logs[:j] - logs[j] for j in ks]


def _hill(t: torch.Tensor, *, seed: int, k: int | None = None,
          center: str | None = None) -> tuple[tuple[int, ...], np.ndarray]:
    ks, excess = _excesses(t, k, center)
    h = np.array([e.mean() for e in excess])
    with np.errstate(divide="ignore"):
        return ks, np.where(h > 0, 1.0 / np.maximum(h, 1e-300), np.inf)[None, :]


def _moment(t: torch.Tensor, *, seed: int, k: int | None = None,
            center: str | None = None) -> tuple[tuple[int, ...], np.ndarray]:
    ks, excess = _excesses(t, k, center)
    m1 = np.array([e.mean() for e in excess])
    m2 = np.array([(e * e).mean() for e in excess])
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = m1 + 1.0 - 0.5 / (1.0 - m1 * m1 / m2)
        # gamma <= 0 (no power tail) or undefined (all excesses equal or zero): alpha_raw = inf.
        return ks, np.where(gamma > 0, 1.0 / np.where(gamma > 0, gamma, 1.0), np.inf)[None, :]


@dataclass(frozen=True)
class _Method:
    run: Callable[..., tuple[tuple[int, ...], np.ndarray]]
    options: tuple[str, ...]


METHODS: Mapping[str, _Method] = MappingProxyType({
    "block_sum": _Method(_block_sum, ("center", "n_permutations")),
    "hill": _Method(_hill, ("k", "center")),
    "moment": _Method(_moment, ("k", "center")),
})
check_registry("tail estimator", METHODS, TAIL_METHODS)


def estimate_alpha(x: Any, method: str = "block_sum", *, cap: float | None = 2.0, seed: int = 0,
                   **method_options: Any) -> TailEstimate:
    """Tail index of x: 1-D samples, or a 2-D (N, d) matrix whose rows are N samples in R^d.

    x may be a numpy array or a torch tensor of any real dtype on any device (computed there).
    Options: block_sum: center='median' (per-column median; 'none' or None: none), n_permutations=5.
    hill / moment: k=None (median over the block-sum K1 set of N, ``block_sizes(N)``) or an int; center=None
    ('none'; or 'median').
    Same input and seed -> same result. ``cap=None`` disables the cap (``alpha_raw`` is always uncapped).
    """
    spec = METHODS[check_choice("method", method, TAIL_METHODS)]
    unknown = sorted(set(method_options) - set(spec.options))
    if unknown:
        raise ValueError(f"{method}: unknown option {unknown[0]!r} (allowed: {', '.join(spec.options)})")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0):
        raise ValueError(f"cap: expected a positive number or None, got {cap!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    t = _as_samples(x)
    ks, table = spec.run(t, seed=seed, **method_options)
    per_permutation = np.median(table, axis=1)
    raw = float(np.median(per_permutation))
    return TailEstimate(
        alpha=raw if cap is None else min(raw, float(cap)),
        alpha_raw=raw,
        method=method,
        n=int(t.shape[0]),
        ks=tuple(int(k) for k in ks),
        per_k=tuple(float(v) for v in np.median(table, axis=0)),
        per_permutation=tuple(float(v) for v in per_permutation) if method == "block_sum" else (),
        cap=None if cap is None else float(cap),
    )


# The per-layer alpha variants a trial logs, from (samples-as-rows view, its entries, seed).
def _column_centred(samples: Any) -> torch.Tensor:
    """The samples-as-rows view less each column's median: the reference removes it before every
    univariate variant, whose estimators then remove the global median (entries) or the norms' median
    again, as it did. Taken before any size check: the entries may be enough where the rows are not."""
    t = samples if isinstance(samples, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(samples))
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t - _median(t)


# Each variant gets the view and a deferred column-centred copy of it.
_VARIANTS: Mapping[str, Callable[[Any, Callable[[], torch.Tensor], int], TailEstimate]] = MappingProxyType({
    "multi": lambda samples, centred, seed: estimate_alpha(samples, seed=seed),
    "uni": lambda samples, centred, seed: estimate_alpha(centred().reshape(-1), seed=seed),
    "norms": lambda samples, centred, seed: estimate_alpha(_norms(centred()), seed=seed),
    "hill": lambda samples, centred, seed: estimate_alpha(centred().reshape(-1), "hill", seed=seed, center="median"),
})
check_registry("alpha variant", _VARIANTS, ALPHA_VARIANTS)


def layer_alpha_variants(weight: Any, role: str, *, seed: int = 0) -> dict[str, Callable[[], "TailEstimate"]]:
    """The per-layer alpha variants a trial logs, as deferred calls (a caller may handle one failing):
    multi (block-sum over the samples-as-rows view), uni (block-sum over its entries), norms (block-sum
    over the row norms) and hill (Hill over the entries, median-centred); uni, norms and hill first
    remove each column's median of the view. One definition for the
    pipeline, `tailsweep inspect` and the benchmarks, so their numbers agree."""
    samples = layer_samples(weight, role)
    centred = partial(_column_centred, samples)
    return {name: partial(variant, samples, centred, seed) for name, variant in _VARIANTS.items()}
