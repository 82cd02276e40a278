"""Peak memory (course_utils.memory) and what ``course results`` records for a model that the
checkpoint cache trained earlier: the training's peak, saved with it, not the smaller one of
loading it (week 08 once showed the AAE below its own weights, gradients and Adam state)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import checkpoints, memory, results

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self (Linux)")

MIB = 2 ** 20


def _touch(mib: int) -> np.ndarray:
    """``mib`` MiB of memory, written so that it is resident."""
    block = np.empty(mib * MIB, dtype=np.uint8)
    block.fill(1)
    return block


def test_a_block_counts_what_it_allocated():
    with memory.PeakMemory("cpu") as mem:
        block = _touch(64)
        del block
    assert mem.how == "peak resident memory above the start"
    assert 60 <= mem.mb < 200, mem.mb


def test_an_inner_block_does_not_hide_the_outer_peak():
    """The inner block resets the kernel's high-water mark; the outer one still counts the 96 MiB it
    held before the inner block began."""
    with memory.PeakMemory("cpu") as outer:
        block = _touch(96)
        del block
        with memory.PeakMemory("cpu") as inner:
            small = _touch(8)
            del small
    assert inner.mb < 60, inner.mb
    assert outer.mb >= 90, outer.mb


class _Big(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4))


def _train_with_80_mib(model: nn.Module) -> None:
    scratch = torch.ones(80 * MIB // 4)           # a training step's activations, freed at the end
    model.w.data += float(scratch[:4].sum()) * 0


def test_the_cache_saves_the_trainings_peak_and_a_run_counts_it(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    cfg = {"model": "big", "v": 1}
    checkpoints.cached("big", cfg, _Big, _train_with_80_mib, verbose=False)
    meta = json.loads(checkpoints.checkpoint_path("big", cfg).with_suffix(".json").read_text())
    assert meta["train_peak_mb"] >= 75, meta
    assert checkpoints.CACHE_EVENTS[-1]["train_peak_mb"] == meta["train_peak_mb"]

    with memory.PeakMemory("cpu") as mem, results._CacheWatch() as watch:   # as run_one measures a run
        checkpoints.cached("big", cfg, _Big, _train_with_80_mib, verbose=False)
    assert watch.loaded and watch.saved_peak_mb == meta["train_peak_mb"]
    assert mem.mb < meta["train_peak_mb"]             # loading alone needs far less
    peak, how = results._run_peak(mem, watch)
    assert peak == meta["train_peak_mb"] and "saved with the cached model" in how


def test_a_cache_file_without_the_peak_is_named_as_such(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    cfg = {"model": "old"}
    checkpoints.cached("old", cfg, _Big, _train_with_80_mib, verbose=False)
    meta_path = checkpoints.checkpoint_path("old", cfg).with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    del meta["train_peak_mb"]                          # as the cache wrote it before the peak was saved
    meta_path.write_text(json.dumps(meta))
    with memory.PeakMemory("cpu") as mem, results._CacheWatch() as watch:
        checkpoints.cached("old", cfg, _Big, _train_with_80_mib, verbose=False)
    peak, how = results._run_peak(mem, watch)
    assert watch.peak_unknown and "does not record its training's peak" in how
    assert peak == round(mem.mb, 1)
