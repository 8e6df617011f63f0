"""advlab.config: quick mode, seeding, device and cache folder from the environment."""

import pytest
import torch

from advlab import config


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False), ("off", False)])
def test_quick_mode_follows_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("ADVLAB_QUICK", value)
    assert config.quick_mode() is expected
    assert config.quick_mode(None) is expected


def test_explicit_quick_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("ADVLAB_QUICK", "1")
    assert config.quick_mode(False) is False


def test_quick_mode_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("ADVLAB_QUICK", "maybe")
    with pytest.raises(ValueError, match="ADVLAB_QUICK"):
        config.quick_mode()
    with pytest.raises(TypeError, match="quick"):
        config.quick_mode("yes")


def test_seed_everything_repeats_the_same_numbers():
    config.seed_everything(3)
    first = torch.rand(5)
    generator = config.seed_everything(3)
    assert torch.equal(first, torch.rand(5))
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-2)


def test_device_can_be_forced_and_defaults_to_cpu_without_gpu(monkeypatch):
    monkeypatch.setenv("ADVLAB_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.delenv("ADVLAB_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.get_device().type == expected


def test_cache_dir_moves_with_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path / "mnist-cache"))
    assert config.cache_dir() == tmp_path / "mnist-cache"
    assert (tmp_path / "mnist-cache").is_dir()


def test_thread_count_follows_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("ADVLAB_THREADS", "1")
        assert config.apply_thread_setting() == 1
        monkeypatch.setenv("ADVLAB_THREADS", "two")
        with pytest.raises(ValueError, match="ADVLAB_THREADS"):
            config.apply_thread_setting()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "150000 100000\n"}, 2),  # cgroup v2: 1.5 CPUs -> 2 threads
    ({"cpu.max": "max 100000\n"}, None),  # v2, no quota
    ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1: one CPU (Binder)
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no quota
    ({}, None),  # no cgroup files at all
])
def test_cpu_quota_reads_the_container_limit(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert config.cpu_quota(tmp_path) == expected


def test_threads_follow_the_quota_unless_advlab_threads_is_set(monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.delenv("ADVLAB_THREADS", raising=False)
        monkeypatch.setattr(config, "cpu_quota", lambda: 1)
        assert config.apply_thread_setting() == 1
        monkeypatch.setenv("ADVLAB_THREADS", "2")
        assert config.apply_thread_setting() == 2
    finally:
        torch.set_num_threads(before)


def test_language_follows_the_edition_folder_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv("ADVLAB_LANG", raising=False)
    (tmp_path / "zh").mkdir()
    monkeypatch.chdir(tmp_path)
    assert config.language() == "en"
    monkeypatch.chdir(tmp_path / "zh")
    assert config.language() == "zh"
    monkeypatch.setenv("ADVLAB_LANG", "en")
    assert config.language() == "en"
    assert config.language("zh") == "zh"


def test_language_rejects_unknown_languages(monkeypatch):
    monkeypatch.setenv("ADVLAB_LANG", "fr")
    with pytest.raises(ValueError, match="ADVLAB_LANG"):
        config.language()
    with pytest.raises(ValueError, match="lang"):
        config.language("de")
