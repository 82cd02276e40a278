"""``course cluster`` (course_utils.own_data): reading a user's data defensively, and the files it
writes (labels, embedding, report) with scores when the true classes are given."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from course_utils import cli, own_data, results
from course_utils.own_data import OwnDataError


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))


def _blobs(n=60, d=16, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, size=(k, d))
    y = np.arange(n) % k
    return np.clip(centres[y] + 0.03 * rng.standard_normal((n, d)), 0, 1).astype(np.float32), y


def test_reads_npy_npz_and_csv(tmp_path):
    X, _ = _blobs()
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "b.npz", other=np.zeros(3), X=X)
    np.savez(tmp_path / "c.npz", X[:5])
    with open(tmp_path / "d.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{i}" for i in range(X.shape[1])])     # a header line is skipped
        w.writerows(X.tolist())
    for name, want in (("a.npy", X), ("b.npz", X), ("c.npz", X[:5]), ("d.csv", X)):
        got, names = own_data.read_data(tmp_path / name)
        assert names is None and got.dtype == np.float32 and np.allclose(got, want), name


def test_reads_a_folder_of_images_in_name_order(tmp_path):
    from PIL import Image

    X, _ = _blobs(n=6, d=12 * 10)
    for i, x in enumerate(X):
        Image.fromarray((x.reshape(10, 12) * 255).astype(np.uint8)).save(tmp_path / f"img{i:02d}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    os.symlink(tmp_path / "img00.png", tmp_path / "zz-link.png")
    got, names = own_data.read_data(tmp_path)
    assert got.shape == (6, 10, 12) and names == [f"img{i:02d}.png" for i in range(6)]
    assert np.allclose(got.reshape(6, -1), X, atol=1 / 255)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(OwnDataError, match="odd.png is 5x5 but img00.png is 12x10"):
        own_data.read_data(tmp_path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.with_suffix(".txt").write_text("1,2\n"), "is not one this command reads"),
    (lambda p: np.save(p.with_suffix(".npy"), np.arange(5.0)), "1-D array"),
    (lambda p: np.save(p.with_suffix(".npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True), "cannot be read"),
    (lambda p: p.with_suffix(".npy").write_bytes(b"\x93NUMPY garbage"), "cannot be read"),
    (lambda p: p.with_suffix(".csv").write_text("1,2\n3,x\n"), "line 2"),
    (lambda p: p.with_suffix(".csv").write_text("1,2\n3\n"), "same number"),
    (lambda p: np.save(p.with_suffix(".npy"), np.array([["a", "b"]])), "give numbers"),
])
def test_bad_data_is_named_with_what_to_do(tmp_path, make, message):
    make(tmp_path / "data")
    path = next(p for p in tmp_path.iterdir() if p.name.startswith("data"))
    with pytest.raises(OwnDataError, match=message):
        own_data.read_data(path)


def test_links_and_missing_files_are_refused(tmp_path):
    X, _ = _blobs()
    np.save(tmp_path / "a.npy", X)
    os.symlink(tmp_path / "a.npy", tmp_path / "link.npy")
    with pytest.raises(OwnDataError, match="symbolic link"):
        own_data.read_data(tmp_path / "link.npy")
    with pytest.raises(OwnDataError, match="does not exist"):
        own_data.read_data(tmp_path / "nope.npy")


def test_cluster_writes_labels_embedding_and_report(tmp_path):
    X, y = _blobs()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    lines: list[str] = []
    out = own_data.cluster(tmp_path / "X.npy", "kmeans", 3, tmp_path / "res" / "labels.csv", labels=tmp_path / "y.npy",
                           log=lines.append)
    files = out["files"]
    with open(files["labels"]) as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["index", "cluster"] and len(rows) == len(X) + 1
    assert [int(r[1]) for r in rows[1:]] == out["labels"].tolist()
    assert np.load(files["embedding"]).shape == (len(X), 3)
    assert files["report"].stat().st_size > 10_000
    assert out["scores"]["acc"] == 1.0, "three well-separated blobs"
    assert any("ACC 1.000" in line for line in lines)
    with pytest.raises(OwnDataError, match="3 labels for 60 samples"):
        own_data.cluster(tmp_path / "X.npy", "kmeans", 3, tmp_path / "l.csv", labels=_save(tmp_path, y[:3]))


def _save(tmp_path, arr):
    np.save(tmp_path / "short.npy", arr)
    return tmp_path / "short.npy"


def test_cluster_on_images_with_a_deep_model_and_a_report_row_per_cluster(tmp_path):
    X, y = _blobs(d=64)
    np.save(tmp_path / "imgs.npy", X.reshape(-1, 1, 8, 8))
    out = own_data.cluster(tmp_path / "imgs.npy", "ae-kmeans", 3, tmp_path / "ae.csv", log=lambda s: None)
    assert out["n_clusters"] == 3 and out["scores"] is None
    assert out["files"]["report"].is_file()


def test_the_command_line(tmp_path, capsys):
    X, y = _blobs()
    np.save(tmp_path / "X.npy", X)
    assert cli.main(["cluster", str(tmp_path / "X.npy"), "--method", "kmeans", "--k", "3",
                     "--out", str(tmp_path / "l.csv"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "3 clusters in" in text and "l-report.png" in text and "full mode took" in text
    assert cli.main(["cluster", str(tmp_path / "X.npy"), "--method", "decc", "--out", str(tmp_path / "m.csv")]) == 2
    assert "did you mean 'dec'" in capsys.readouterr().err
    assert cli.main(["cluster", str(tmp_path / "X.npy"), "--method", "dec", "--out", str(tmp_path / "m.txt")]) == 2
    assert "give a .csv file name" in capsys.readouterr().err
    np.save(tmp_path / "wide.npy", X * 10)
    assert cli.main(["cluster", str(tmp_path / "wide.npy"), "--method", "dec", "--k", "3",
                     "--out", str(tmp_path / "w.csv")]) == 2
    assert "input_range='minmax'" in capsys.readouterr().err


def test_full_mode_estimate_reads_the_measured_grid():
    text = own_data.full_mode_estimate("dec", 10000, 784)
    assert "10,000 MNIST images" in text and "about 11 min" in text
    assert "under a minute" in own_data.full_mode_estimate("dec", 100, 10)
    fixed = own_data.full_mode_estimate("infogan", 100, 784)      # a fixed number of updates: not scaled
    assert fixed == own_data.full_mode_estimate("infogan", 70000, 784) and "5,000 updates of 128" in fixed
    row = {e["method"]: e for e in results.read_full_summary()}["infogan"]
    assert f"{row['train_s'] / 60:.0f} min" in fixed and row["train_s"] > 2000   # the reference's budget's row
    assert own_data.fixed_budget("dec") is None


def test_sizes_are_checked_before_reading(tmp_path, monkeypatch):
    """A CSV over its cap, and an .npz whose arrays inflate past MAX_BYTES, are refused unread."""
    (tmp_path / "big.csv").write_text("1,2\n" * 100)
    monkeypatch.setattr(own_data, "MAX_CSV_BYTES", 100)
    with pytest.raises(OwnDataError, match="np.save as a .npy"):
        own_data.read_data(tmp_path / "big.csv")
    np.savez_compressed(tmp_path / "bomb.npz", X=np.zeros((1000, 1000), dtype=np.float32))   # 4 MB, a few KiB on disk
    monkeypatch.setattr(own_data, "MAX_BYTES", 2 ** 20)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load was called on an archive over the cap"))
    with pytest.raises(OwnDataError, match="inflates to"):
        own_data.read_data(tmp_path / "bomb.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(OwnDataError, match="not a readable .npz"):
        own_data.read_data(tmp_path / "broken.npz")
