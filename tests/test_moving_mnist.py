"""Moving MNIST (week 07's data): the generator's geometry, seeding and digit split, the trivial
baselines it gives, and the reader of the standard test file."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from course_utils import data


def test_shape_range_seeding():
    a = data.make_moving_mnist(4, split="test", seed=3)
    assert a.shape == (4, 20, 64, 64) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, data.make_moving_mnist(4, split="test", seed=3))
    assert not torch.equal(a, data.make_moving_mnist(4, split="test", seed=4))
    with pytest.raises(ValueError, match="split"):
        data.make_moving_mnist(1, split="val")


def test_one_pixel_moves_at_constant_speed_and_bounces_inside_the_canvas():
    dot = torch.zeros(1, 28, 28)
    dot[0, 0, 0] = 1.0                                   # the digit's top-left pixel marks its position
    seq = data.make_moving_mnist(20, n_digits=1, seq_len=40, seed=0, digits=dot)
    for s in seq:
        pos = np.array([np.unravel_index(int(f.argmax()), f.shape) for f in s], dtype=float)
        assert (pos >= 0).all() and (pos <= 64 - 28).all()
        assert all(float(f.sum()) == 1.0 for f in s)      # the whole digit is always on the canvas
        steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
        # 0.1 of the free range (36 px) per frame, rounded to pixels; shorter only at a bounce
        assert np.median(steps) == pytest.approx(3.6, abs=0.8) and steps.max() <= 3.6 + 1.5


def test_two_digits_combine_by_pixelwise_maximum():
    block = torch.zeros(1, 28, 28)
    block[0, 10:18, 10:18] = 0.6
    seq = data.make_moving_mnist(30, n_digits=2, seq_len=5, seed=1, digits=block)
    assert float(seq.max()) == pytest.approx(0.6)        # overlaps never add up
    assert torch.all((seq == 0) | ((seq - 0.6).abs() < 1e-6))


def test_trivial_baselines_match_the_protocol():
    # 10 frames in, 10 to predict; MSE per frame = squared error summed over 64 x 64 pixels
    X, _ = data.load_mnist(split="test", flatten=False)
    seq = data.make_moving_mnist(1000, seed=1, digits=X)
    inp, tgt = seq[:, :10], seq[:, 10:]
    mse = lambda p: ((p - tgt) ** 2).sum(dim=(-1, -2)).mean(0)   # noqa: E731
    copy_last = mse(inp[:, -1:].expand_as(tgt))
    black = mse(torch.zeros_like(tgt))
    mean_in = mse(inp.mean(1, keepdim=True).expand_as(tgt))
    # measured on 2,000 sequences of the MNIST test digits: 202 at t+1, 286 over 10 steps, 174, 187
    assert 190 < float(copy_last[0]) < 212 and 272 < float(copy_last.mean()) < 300
    assert 164 < float(black.mean()) < 184 and 177 < float(mean_in.mean()) < 197
    assert float(copy_last[0]) < float(copy_last[-1])     # copying gets worse the further ahead


def test_standard_file_missing_corrupt_and_read(tmp_path, monkeypatch):
    with pytest.raises(data.DatasetNotFoundError, match="mnist_test_seq.npy"):
        data.load_moving_mnist_standard(tmp_path)
    folder = tmp_path / "MovingMNIST"
    folder.mkdir()
    frames = np.random.default_rng(0).integers(0, 256, size=(20, 3, 64, 64), dtype=np.uint8)
    np.save(folder / data.MOVING_MNIST_FILE, frames)
    with pytest.raises(data.DatasetCorruptError, match="MD5"):
        data.load_moving_mnist_standard(tmp_path)
    md5 = hashlib.md5((folder / data.MOVING_MNIST_FILE).read_bytes()).hexdigest()
    monkeypatch.setattr(data, "MOVING_MNIST_MD5", md5)
    seq = data.load_moving_mnist_standard(tmp_path)
    assert seq.shape == (3, 20, 64, 64)
    assert torch.allclose(seq[1, 7], torch.as_tensor(frames[7, 1]).float() / 255)


def test_train_and_test_sequences_use_disjoint_digits(monkeypatch):
    # digit i is a flat square of value (i + 1) / 20000, so every lit pixel names its digit
    fake = (torch.arange(10000, dtype=torch.float32) + 1)[:, None, None].expand(10000, 28, 28) / 20000
    monkeypatch.setattr(data, "load_mnist", lambda split, flatten=True: (fake.reshape(10000, 1, 28, 28),
                                                                         torch.arange(10000) % 10))
    for split, (lo, hi) in data.MOVING_MNIST_SPLIT.items():
        seq = data.make_moving_mnist(50, split=split, n_digits=1, seq_len=2, seed=0)
        used = torch.unique(torch.round(seq[seq > 0] * 20000)).long() - 1
        assert int(used.min()) >= lo and int(used.max()) < hi, (split, used.min(), used.max())


def test_meta_gives_each_digit_its_class_and_direction(monkeypatch):
    dot = torch.zeros(10000, 28, 28)
    dot[:, 0, 0] = 1.0                                   # every "digit" is one pixel: its position is findable
    monkeypatch.setattr(data, "load_mnist", lambda split, flatten=True: (dot, torch.arange(10000) % 10))
    seq, meta = data.make_moving_mnist(30, "test", n_digits=1, seq_len=12, seed=4, return_meta=True)
    assert torch.equal(seq, data.make_moving_mnist(30, "test", n_digits=1, seq_len=12, seed=4))
    assert meta["labels"].shape == (30, 1) and meta["velocity"].shape == (30, 1, 12, 2)
    assert set(meta["labels"].ravel()) <= set(range(10))
    assert np.allclose(np.linalg.norm(meta["velocity"], axis=-1), 1.0)
    moved = 0
    for s, v in zip(seq, meta["velocity"][:, 0]):
        pos = np.array([np.unravel_index(int(f.argmax()), f.shape) for f in s], dtype=float)   # (row, col) = (y, x)
        step = np.diff(pos, axis=0)
        for t in range(11):
            if np.abs(step[t]).sum() >= 3:               # a free step (no bounce, not rounded away)
                moved += 1
                assert np.sign(step[t][1]) in (0, np.sign(v[t, 0])) and np.sign(step[t][0]) in (0, np.sign(v[t, 1]))
    assert moved > 100
    clips, meta2 = data.moving_mnist_clips(3, "test", 32, seed=4, n_digits=2, return_meta=True)
    assert clips.shape == (3, 20, 1, 32, 32) and meta2["labels"].shape == (3, 2)
    _, unknown = data.make_moving_mnist(2, digits=dot[:5], seed=0, return_meta=True)
    assert (unknown["labels"] == -1).all()
