"""The in-memory dataset every trial trains on, and the one path from arrays to it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.datasets.split import stratified_subset
from core.spec import DataSpec
from core.vocab import SPLITS


@dataclass(frozen=True, eq=False)
class Dataset:
    """A whole dataset as tensors on one device; training batches are index slices of it."""

    name: str
    x_train: torch.Tensor    # float32 (N, *in_shape), normalized
    y_train: torch.Tensor    # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    in_shape: tuple[int, ...]
    n_classes: int

    def __post_init__(self) -> None:
        for split in SPLITS:
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != torch.float32 or y.dtype != torch.int64:
                raise ValueError(f"{self.name}: x_{split} must be float32 and y_{split} int64, "
                                 f"got {x.dtype} and {y.dtype}")
            if tuple(x.shape[1:]) != tuple(self.in_shape) or y.shape != (x.shape[0],):
                raise ValueError(f"{self.name}: x_{split} {tuple(x.shape)} / y_{split} {tuple(y.shape)} "
                                 f"do not match in_shape {self.in_shape}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
                raise ValueError(f"{self.name}: y_{split} has labels outside 0..{self.n_classes - 1}")
        if self.x_train.device != self.x_test.device:
            raise ValueError(f"{self.name}: train and test tensors are on different devices")

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


def take(labels: np.ndarray, n: int | None, seed: int, *, field: str, name: str) -> np.ndarray | None:
    """Stratified subset indices for ``n`` requested examples, or None for all of them."""
    if n is None or n == labels.size:
        return None
    if n > labels.size:
        raise ValueError(f"data.{field}: {n} exceeds the {labels.size} examples {name} has for that split")
    return stratified_subset(labels, n, seed)


def normalized(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], scale: float,
               device: torch.device | str) -> torch.Tensor:
    """(N, C, H, W) raw pixel values -> float32 ``(pixels / scale - mean) / std`` per channel, on ``device``.

    The raw array goes to the device first (uint8 is a quarter of the bytes) and is converted there, once.
    """
    x = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).to(torch.float32)
    shape = (1, len(mean)) + (1,) * (x.dim() - 2)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(shape)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(shape)
    return x.div_(scale).sub_(m).div_(s)


def image_dataset(name: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], *,
                  mean: tuple[float, ...], std: tuple[float, ...], n_classes: int, spec: DataSpec,
                  device: torch.device | str, scale: float = 255.0) -> Dataset:
    """Subset (stratified, by ``spec.n_train``/``n_test`` and ``spec.data_seed``), normalize, move."""
    parts = []
    for (x, y), field in ((train, "n_train"), (test, "n_test")):
        y = np.asarray(y, dtype=np.int64)
        idx = take(y, getattr(spec, field), spec.data_seed, field=field, name=name)
        if idx is not None:
            x, y = x[idx], y[idx]
        parts.append((normalized(x, mean, std, scale, device), torch.from_numpy(y).to(device)))
    (x_tr, y_tr), (x_te, y_te) = parts
    return Dataset(name, x_tr, y_tr, x_te, y_te, tuple(x_tr.shape[1:]), n_classes)
