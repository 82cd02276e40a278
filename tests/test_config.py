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


# --- fast mode computes with the same code on every x86-64 CPU (config.portable_math) ---

_PROBE = r"""
import hashlib, os, sys
if sys.argv[1] == "fast":
    os.environ["COURSE_FAST"] = "1"
import course_utils                      # pins the libraries in fast mode, before any torch kernel
from course_utils import config
import torch
config.seed_everything(0, mode=sys.argv[1])
net = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3), torch.nn.Flatten(), torch.nn.Linear(16 * 10 * 10, 37),
                          torch.nn.Softmax(dim=1))
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
x = torch.randn(64, 8, 12, 12)
for _ in range(20):                      # a short training run: differences in the last bits grow
    opt.zero_grad()
    loss = net(x).log().sum(1).mean().neg() + (net[0].weight ** 2).sum()
    loss.backward()
    opt.step()
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters())).hexdigest(),
      os.environ.get("MKL_CBWR"), torch.backends.mkldnn.enabled, torch.backends.cpu.get_cpu_capability())
"""


def _probe(mode: str, **env: str) -> list[str]:
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items()
            if k not in ("COURSE_FAST", "MKL_CBWR", "ATEN_CPU_CAPABILITY", "COURSE_PORTABLE_MATH")}
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], env={**base, "OMP_NUM_THREADS": "1", **env},
                          capture_output=True, text=True, timeout=120, cwd=str(config.REPO_ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def _x86_with_avx2() -> bool:
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        return " avx2 " in f" {open('/proc/cpuinfo', encoding='ascii', errors='replace').read(200_000)} "
    except OSError:
        return False


@pytest.mark.kernel   # starts Python processes: the full suite, not the quick tier
@pytest.mark.skipif(not _x86_with_avx2(), reason="the pinned code path is x86-64's with AVX2")
def test_fast_mode_numbers_do_not_depend_on_which_x86_code_the_libraries_pick():
    """Another processor is imitated by capping MKL's and oneDNN's instruction sets (as on an AVX2-only
    CPU): in fast mode the trained weights are the same bits; in full mode the cap changes them (so the
    probe can tell), which is why CI's committed fast-mode outputs need the pin."""
    avx2_only = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    fast, fast_capped = _probe("fast"), _probe("fast", **avx2_only)
    assert fast[1:] == ["COMPATIBLE", "False", "AVX2"], fast
    assert fast[0] == fast_capped[0], "fast mode's training depends on the instruction set the libraries pick"
    full, full_capped = _probe("full"), _probe("full", **avx2_only)
    assert full[1:3] == ["None", "True"], full                    # full mode keeps the fastest code
    if full[0] == full_capped[0]:
        pytest.skip("this CPU computes the same with and without the cap, so the comparison shows nothing here")


@pytest.mark.kernel
def test_portable_math_can_be_turned_off():
    out = _probe("fast", COURSE_PORTABLE_MATH="0")
    assert out[1] == "None" and out[2] == "True", out


def test_portable_math_is_x86_only_and_reads_its_flag(monkeypatch):
    import os
    import platform

    monkeypatch.delenv("MKL_CBWR", raising=False)
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    config.portable_math()
    assert "MKL_CBWR" not in os.environ                         # nothing pinned on an ARM laptop
    monkeypatch.setenv("COURSE_PORTABLE_MATH", "perhaps")
    with pytest.raises(ValueError, match="COURSE_PORTABLE_MATH='perhaps'.*use 0"):
        config.portable_math()
