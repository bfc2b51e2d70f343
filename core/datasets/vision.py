"""mnist and cifar10: the full datasets, read from torchvision's on-disk layout under ``spec.root``.

When the files are missing, ``download: true`` fetches them with torchvision into the same layout;
otherwise a one-line error says where to put them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.datasets.base import Dataset, image_dataset
from core.datasets.formats import read_cifar_batch, read_idx
from core.datasets.mnist5k import MNIST_MEAN, MNIST_STD
from core.spec import DataSpec

CIFAR10_MEAN, CIFAR10_STD = (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = CIFAR10_TRAIN + ("test_batch",)


def _root(spec: DataSpec) -> Path:
    if spec.root is None:
        raise ValueError(f"data.root: dataset {spec.dataset!r} needs a root folder that holds (or, with "
                         f"download: true, receives) its files")
    return Path(spec.root).expanduser().resolve()


def _find(folder: Path, names: tuple[str, ...], gz_ok: bool) -> list[Path] | None:
    """The paths of ``names`` in ``folder`` (falling back to ``name.gz`` where allowed), or None if any is missing."""
    found = []
    for name in names:
        plain, packed = folder / name, folder / f"{name}.gz"
        if plain.is_file():
            found.append(plain)
        elif gz_ok and packed.is_file():
            found.append(packed)
        else:
            return None
    return found


def _download(root: Path, cls_name: str) -> None:
    try:
        import torchvision.datasets as tvd
    except Exception as err:  # a broken torchvision raises RuntimeError at import, not ImportError
        raise ValueError(f"data.download: torchvision cannot be imported here ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); put the files under {root} "
                         f"yourself") from None
    cls = getattr(tvd, cls_name)
    for train in (True, False):
        cls(str(root), train=train, download=True)


def _locate(spec: DataSpec, folder_name: str, names: tuple[str, ...], cls_name: str,
            gz_ok: bool) -> list[Path]:
    root = _root(spec)
    folder = root / folder_name
    found = _find(folder, names, gz_ok)
    if found is None and spec.download:
        _download(root, cls_name)
        found = _find(folder, names, gz_ok)
    if found is None:
        raise ValueError(f"data.root: {spec.dataset} files missing in {folder} (need {', '.join(names)}); "
                         f"put them there or set data.download: true")
    return found


def load_mnist(spec: DataSpec, device: torch.device | str) -> Dataset:
    """Full MNIST (60,000 / 10,000) from ``root/MNIST/raw`` IDX files, normalized as the paper."""
    paths = _locate(spec, "MNIST/raw", MNIST_FILES, "MNIST", gz_ok=True)
    x_tr, y_tr, x_te, y_te = (read_idx(p) for p in paths)
    for x, y, part in ((x_tr, y_tr, "train"), (x_te, y_te, "t10k")):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise ValueError(f"mnist: {part} images {x.shape} and labels {y.shape} do not pair up as (n, 28, 28) / (n,)")
    return image_dataset("mnist", (x_tr[:, None], y_tr.astype(np.int64)), (x_te[:, None], y_te.astype(np.int64)),
                         mean=MNIST_MEAN, std=MNIST_STD, n_classes=10, spec=spec, device=device)


def load_cifar10(spec: DataSpec, device: torch.device | str) -> Dataset:
    """Full CIFAR-10 (50,000 / 10,000) from ``root/cifar-10-batches-py``, normalized as the paper."""
    paths = _locate(spec, "cifar-10-batches-py", CIFAR10_FILES, "CIFAR10", gz_ok=False)
    train = [read_cifar_batch(p) for p in paths[:-1]]
    x_te, y_te = read_cifar_batch(paths[-1])
    x_tr = np.concatenate([x for x, _ in train])
    y_tr = np.concatenate([y for _, y in train])
    return image_dataset("cifar10", (x_tr, y_tr), (x_te, y_te),
                         mean=CIFAR10_MEAN, std=CIFAR10_STD, n_classes=10, spec=spec, device=device)
