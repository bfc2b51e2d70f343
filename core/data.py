"""Dataset registry: a DataSpec in, a ``Dataset`` (whole splits as tensors on one device) out.

Loaders live in ``core.datasets``; this module only names them. The registry must cover exactly
``core.vocab.DATASETS``, checked at import.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

import torch

from core.datasets.base import Dataset
from core.datasets.mnist5k import load_mnist5k
from core.datasets.synthetic import load_synthetic
from core.datasets.vision import load_cifar10, load_mnist
from core.spec import DataSpec
from core.vocab import DATASETS, check_choice, check_registry

__all__ = ["Dataset", "load_dataset", "dataset_names", "dataset_loader", "build_registry"]

Loader = Callable[[DataSpec, "torch.device | str"], Dataset]


def build_registry(entries: tuple[tuple[str, Callable], ...], kind: str) -> Mapping[str, Callable]:
    """A read-only name -> function map; a name given twice is an error rather than a silent overwrite."""
    out: dict[str, Callable] = {}
    for name, fn in entries:
        if name in out:
            raise ValueError(f"duplicate {kind} name {name!r} in the registry")
        out[name] = fn
    return MappingProxyType(out)


_LOADERS: Mapping[str, Loader] = build_registry((
    ("mnist5k", load_mnist5k),
    ("mnist", load_mnist),
    ("cifar10", load_cifar10),
    ("synthetic", load_synthetic),
), "dataset")
check_registry("dataset", _LOADERS, DATASETS)


def dataset_names() -> tuple[str, ...]:
    return tuple(_LOADERS)


def dataset_loader(name: str) -> Loader:
    return _LOADERS[check_choice("data.dataset", name, DATASETS)]


def load_dataset(spec: DataSpec, device: torch.device | str = "cpu") -> Dataset:
    """Load ``spec.dataset`` whole onto ``device``; the split depends on ``spec.data_seed`` only."""
    return dataset_loader(spec.dataset)(spec, device)
