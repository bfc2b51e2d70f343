"""Stable rank, effective rank and PQ-index against hand-computed answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.rank_measures import pq_index, rank_measures


def test_rank_one_and_identity():
    rank_one = np.outer(np.arange(1, 6), np.arange(1, 4)).astype(float)
    m = rank_measures(rank_one)
    assert m.stable_rank == pytest.approx(1.0) and m.effective_rank == pytest.approx(1.0)
    eye = rank_measures(np.eye(7))
    assert eye.stable_rank == pytest.approx(7.0) and eye.effective_rank == pytest.approx(7.0)


def test_diagonal_by_hand():
    w = np.diag([3.0, 1.0])
    m = rank_measures(w)
    assert m.stable_rank == pytest.approx((9 + 1) / 9)
    p = np.array([0.75, 0.25])
    assert m.effective_rank == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    # |w| = (3, 0, 0, 1): l1 = 4, l2 = sqrt(10), d = 4
    assert m.pq_index == pytest.approx(1 - 4 ** (0.5 - 1) * 4 / math.sqrt(10))


def test_pq_index_flat_sparse_and_random():
    d = 400
    assert pq_index(np.ones((20, 20))) == pytest.approx(0.0, abs=1e-12)
    one_hot = np.zeros((20, 20)); one_hot[3, 4] = -2.0
    assert pq_index(one_hot) == pytest.approx(1 - d ** -0.5)
    w = np.random.default_rng(0).standard_normal((30, 40))
    flat = np.abs(w).reshape(-1)
    want = 1 - flat.size ** (1 / 2 - 1) * flat.sum() / np.sqrt((flat ** 2).sum())
    assert pq_index(w) == pytest.approx(want)


def test_conv_and_torch_inputs_are_reshaped_to_out_by_rest():
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    as_matrix = rank_measures(w.reshape(6, -1).numpy())
    assert rank_measures(w) == as_matrix


def test_zero_weight_is_nan_and_bad_shapes_raise():
    m = rank_measures(np.zeros((3, 3)))
    assert all(math.isnan(v) for v in (m.stable_rank, m.effective_rank, m.pq_index))
    with pytest.raises(ValueError, match="weight"):
        rank_measures(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        rank_measures(np.full((2, 2), np.nan))
    conv = np.ones((4, 2, 3, 3))
    conv[1, 0, 2, 2] = np.inf
    with pytest.raises(ValueError, match="^weight: contains NaN or inf$"):
        rank_measures(conv)                             # a conv weight is checked like a Linear one
    with pytest.raises(ValueError, match="^weight: empty array of shape"):
        rank_measures(np.zeros((0, 2, 3, 3)))
