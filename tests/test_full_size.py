"""Full-size MNIST without a download: stand-in files at real size, and notebooks whose cost does not grow with them.

The stand-ins are 60,000 / 10,000 shifted copies of the bundled real digits in torchvision's raw
format (advlab.mnist_files); they stand for full MNIST in time and memory, never in accuracy.
"""

import os
import sys
from pathlib import Path

import pytest
import torch

from advlab import data, idx, mnist_files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def full_size_folder(tmp_path_factory):
    return mnist_files.write_full_size_stand_in(tmp_path_factory.mktemp("full-size"))


@pytest.fixture
def full_size_source(full_size_folder, monkeypatch):
    """ADVLAB_DATA points at the stand-in files; torchvision's loader is asked afresh."""
    monkeypatch.setenv("ADVLAB_DATA", str(full_size_folder))
    data._torchvision_uint8.cache_clear()
    yield "torchvision"
    data._torchvision_uint8.cache_clear()


def test_stand_in_files_load_through_torchvision_at_real_size(full_size_source):
    x, y = data.load_mnist("train", source=full_size_source)
    x_test, y_test = data.load_mnist("test", source=full_size_source)
    assert x.shape == (60_000, 1, 28, 28) and x_test.shape == (10_000, 1, 28, 28)
    assert 0 <= x.min() and x.max() <= 1 and y.dtype == torch.int64
    bundled_x, bundled_y = data.load_mnist("train", source="bundled")
    assert torch.equal(y[: len(bundled_y)], bundled_y)  # copy k of digit k keeps its label
    assert torch.bincount(y, minlength=10).min() >= 5_000  # every digit, about equally often
    assert not torch.equal(x[: len(bundled_x)], bundled_x)  # shifted, not copied


def test_default_budgets_give_the_same_sizes_on_the_subset_and_on_full_size(full_size_source):
    for quick in (True, False):
        n_train = data.sample_size(None, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
        n_test = data.sample_size(None, quick, full=data.TEST_PAIRS, small=data.QUICK_TEST_PAIRS)
        for source in ("bundled", full_size_source):
            x, y, digits = data.digit0_mixture("train", n=n_train, source=source)
            x_test, _, _ = data.digit0_mixture("test", n=n_test, source=source)
            assert (len(x), len(x_test)) == (n_train, n_test)
            assert torch.equal(y, (digits == 0).any(1).long())


def test_all_asks_for_the_whole_split_and_grows_with_the_source(full_size_source):
    n = data.sample_size("all", False, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
    assert len(data.digit0_mixture("train", n=n, source=full_size_source)[0]) == 60_000
    assert len(data.digit0_mixture("train", n=n, source="bundled")[0]) == 4_000


@pytest.mark.parametrize("bad", ["everything", 0, -5, 2.5, True])
def test_sample_size_rejects_nonsense_naming_the_argument(bad):
    with pytest.raises((TypeError, ValueError), match="n "):
        data.sample_size(bad, False, full=10, small=5)


def test_write_idx_rejects_wrong_images(tmp_path):
    with pytest.raises(ValueError, match="images"):
        idx.write_idx(tmp_path, "train", torch.zeros(3, 28, 28), torch.zeros(3))


@pytest.mark.skipif(os.environ.get("ADVLAB_SLOW") != "1",
                    reason="about 10 minutes on a busy 2-core machine: set ADVLAB_SLOW=1 "
                           "(or run python benchmarks/full_size_mnist.py 03)")
def test_notebook_03_in_full_mode_on_full_size_data_stays_under_the_memory_target(full_size_folder):
    """The notebook that once reached 3.16 GB (PGD over the whole test set in one batch), run end to end."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from full_size_mnist import MEMORY_TARGET_MIB, measure

    from advlab.reports import find_notebooks

    (notebook,) = find_notebooks(["03"])
    result = measure(notebook, "torchvision", full_size_folder)
    assert result["status"] == 0, "notebook 03 failed in full mode on full-size data"
    assert result["peak_mib"] < MEMORY_TARGET_MIB, f"peak kernel memory {result['peak_mib']:.0f} MiB"
