"""course_utils.config: fast mode, folders, device, seeding."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from course_utils import config


@pytest.mark.parametrize("raw, fast", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_fast_flag(monkeypatch, raw, fast):
    monkeypatch.setenv("COURSE_FAST", raw)
    assert config.is_fast() is fast
    assert config.pick(fast="small", full="big") == ("small" if fast else "big")


def test_fast_flag_unset_means_full(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert config.is_fast() is False


def test_bad_fast_flag_says_what_to_use(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST='maybe'.*use 1"):
        config.is_fast()


def test_folders_default_to_repo_data(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    assert config.data_dir() == config.REPO_ROOT / "data"
    assert config.cache_dir(create=False) == config.REPO_ROOT / "data" / "cache"


def test_folders_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "c"))
    assert config.data_dir() == tmp_path / "d"
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_unwritable_cache_dir_says_what_to_do(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(OSError, match="COURSE_CACHE_DIR"):
        config.cache_dir()


def test_describe_shows_no_absolute_repo_path(monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", "../shared/data")
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    text = config.describe()
    assert str(config.REPO_ROOT) not in text
    assert "data: ../shared/data/" in text and "cache: data/cache/" in text


def test_relative_folders_are_taken_from_the_repo_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a notebook kernel runs in notebooks/ or solutions/
    monkeypatch.setenv("COURSE_DATA_DIR", "../shared/data")
    monkeypatch.setenv("COURSE_CACHE_DIR", "data/other-cache")
    assert config.data_dir() == (config.REPO_ROOT / "../shared/data").resolve()
    assert config.cache_dir(create=False) == config.REPO_ROOT / "data" / "other-cache"


def test_device_cpu_and_unknown(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert config.get_device("cpu").type == "cpu"
    assert config.get_device().type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="available: .*cpu"):
        config.get_device("tpu")


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    config.seed_everything(123)
    first = draw()
    config.seed_everything(123)
    assert draw() == first
    config.seed_everything(124)
    assert draw() != first


def test_seed_must_be_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        config.seed_everything("0")


def test_fast_mode_pins_torch_to_one_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("COURSE_FAST", "1")
        config.seed_everything(0)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        monkeypatch.setenv("COURSE_FAST", "0")
        config.seed_everything(0)
        assert torch.get_num_threads() == 2          # full mode leaves the threads alone
    finally:
        torch.set_num_threads(before)
