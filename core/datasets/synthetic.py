"""synthetic: N(0, I) inputs labelled by the argmax of a fixed random one-hidden-layer ReLU teacher.

Offline, fast and deterministic: the sweep's tests train on it. The teacher, the train inputs and the
test inputs come from three independent streams of ``data_seed``, so changing ``n_train`` leaves the
teacher and the test set as they were.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.datasets.base import Dataset
from core.spec import DataSpec

N_TRAIN, N_TEST = 2_000, 1_000
CALIBRATION_SAMPLES = 8_192   # teacher inputs used to balance the classes
CALIBRATION_STEPS = 300


@dataclass(frozen=True)
class Teacher:
    """logits(x) = relu(x @ w1.T) @ w2.T + bias; label = argmax."""

    w1: np.ndarray    # (width, dim)
    w2: np.ndarray    # (classes, width)
    bias: np.ndarray  # (classes,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ self.w1.T, 0.0) @ self.w2.T + self.bias

    def labels(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(x), axis=1).astype(np.int64)


def balancing_bias(z: np.ndarray, steps: int = CALIBRATION_STEPS) -> np.ndarray:
    """Per-class offsets that make every class win ``argmax(z + offset)`` about equally often.

    Multiplicative steps on the frequencies: a class winning too often is pushed down by the log of its
    excess, one winning too rarely pulled up. ``z`` should be standardized logits (scale about 1).
    """
    n, classes = z.shape
    offset = np.zeros(classes)
    for _ in range(steps):
        freq = np.bincount(np.argmax(z + offset, axis=1), minlength=classes) / n
        offset += 0.1 * (np.log(1.0 / classes) - np.log(freq + 0.5 / n))
    return offset


def make_teacher(dim: int, width: int, classes: int, rng: np.random.Generator) -> Teacher:
    """A random teacher whose classes are balanced on N(0, I) inputs.

    A raw random teacher's argmax is far from balanced (a few classes take most inputs, which makes the
    task nearly trivial), so each logit is standardized over a calibration sample and then offset by
    ``balancing_bias``; both are folded into the teacher's output weights and bias.
    """
    w1 = rng.standard_normal((width, dim)) / np.sqrt(dim)
    w2 = rng.standard_normal((classes, width)) / np.sqrt(width)
    logits = Teacher(w1, w2, np.zeros(classes)).logits(rng.standard_normal((CALIBRATION_SAMPLES, dim)))
    mean, std = logits.mean(axis=0), logits.std(axis=0) + 1e-12
    offset = balancing_bias((logits - mean) / std)
    return Teacher(w1, w2 / std[:, None], offset - mean / std)


def load_synthetic(spec: DataSpec, device: torch.device | str) -> Dataset:
    teacher_rng, train_rng, test_rng = (np.random.default_rng(s)
                                        for s in np.random.SeedSequence(spec.data_seed).spawn(3))
    teacher = make_teacher(spec.dim, spec.teacher_width, spec.classes, teacher_rng)
    tensors = []
    for rng, n in ((train_rng, spec.n_train or N_TRAIN), (test_rng, spec.n_test or N_TEST)):
        x = rng.standard_normal((n, spec.dim))
        tensors.append(torch.from_numpy(x.astype(np.float32)).to(device))
        tensors.append(torch.from_numpy(teacher.labels(x)).to(device))
    return Dataset("synthetic", *tensors, in_shape=(spec.dim,), n_classes=spec.classes)
