"""Tests for course_utils.data: the MNIST IDX reader, checksums, download, digits, mixtures.

MNIST tests build tiny synthetic IDX files in tmp_path and point MNIST_FILES' checksums at them;
downloads are served by a loopback HTTP server, so nothing here needs the network.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import config, data

REPO_ROOT = Path(__file__).resolve().parent.parent
N_TRAIN, N_TEST = 7, 5


# ------------------------------------------------------------------------------------------------
# helpers: synthetic IDX files
# ------------------------------------------------------------------------------------------------

def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file of unsigned bytes: big-endian magic, one int32 per dim, then the data."""
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def gz(payload: bytes) -> bytes:
    return gzip.compress(payload, mtime=0)


def md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def synthetic_mnist() -> dict[str, tuple[bytes, np.ndarray]]:
    """part -> (gzipped IDX bytes, the array inside). Pixel values cover 0 and 255."""
    rng = np.random.default_rng(123)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = np.arange(n, dtype=np.uint8) % 10 if split == "train" else (np.arange(n)[::-1] % 10).astype(np.uint8)
        out[f"{split}_images"] = (gz(idx_bytes(images, 2051)), images)
        out[f"{split}_labels"] = (gz(idx_bytes(labels, 2049)), labels)
    return out


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Synthetic MNIST files (not yet written) with MNIST_FILES' checksums patched to match.

    Returns (files, root, raw): files maps part -> (name, bytes, array); root is what to pass as
    ``root=``; raw is ``root/MNIST/raw`` (not created).
    """
    payloads = synthetic_mnist()
    files = {}
    patched = {}
    for part, (name, _) in data.MNIST_FILES.items():
        blob, array = payloads[part]
        files[part] = (name, blob, array)
        patched[part] = (name, md5(blob))
    monkeypatch.setattr(data, "MNIST_FILES", patched)
    monkeypatch.setattr(data, "MNIST_MIRRORS", [])  # a test that downloads sets its own
    data.clear_cache()
    root = tmp_path / "data"
    return files, root, root / "MNIST" / "raw"


def write_files(files, raw: Path, parts=None) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for part, (name, blob, _) in files.items():
        if parts is None or part in parts:
            (raw / name).write_bytes(blob)


# ------------------------------------------------------------------------------------------------
# parsing, shapes, limit, split
# ------------------------------------------------------------------------------------------------

def test_parses_synthetic_files_flat(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    X, y = data.load_mnist("test", root=root, download=False)
    assert X.shape == (N_TEST, 784) and X.dtype == torch.float32
    assert y.shape == (N_TEST,) and y.dtype == torch.int64
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    expected = files["test_images"][2].reshape(N_TEST, 784).astype(np.float32) / 255.0
    np.testing.assert_allclose(X.numpy(), expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y.numpy(), files["test_labels"][2])


def test_images_shape_when_not_flattened(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    X, _ = data.load_mnist("train", root=root, flatten=False)
    assert X.shape == (N_TRAIN, 1, 28, 28)
    np.testing.assert_array_equal((X[:, 0] * 255).round().to(torch.uint8).numpy(), files["train_images"][2])


def test_all_is_train_then_test(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    X, y = data.load_mnist("all", root=root)
    assert X.shape == (N_TRAIN + N_TEST, 784)
    np.testing.assert_array_equal(
        y.numpy(), np.concatenate([files["train_labels"][2], files["test_labels"][2]]))
    X3, y3 = data.load_mnist("all", root=root, limit=N_TRAIN + 2)
    assert torch.equal(X3, X[: N_TRAIN + 2]) and torch.equal(y3, y[: N_TRAIN + 2])


def test_limit_takes_the_first_examples_and_caps_at_n(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    X, y = data.load_mnist("test", root=root)
    X2, y2 = data.load_mnist("test", root=root, limit=2)
    assert torch.equal(X2, X[:2]) and torch.equal(y2, y[:2])
    X_big, _ = data.load_mnist("test", root=root, limit=10_000)
    assert X_big.shape[0] == N_TEST


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_bad_limit(fake_mnist, bad):
    _, root, _ = fake_mnist
    with pytest.raises(ValueError, match="limit must be a positive int"):
        data.load_mnist("test", root=root, limit=bad)


def test_bad_split_lists_valid_ones(fake_mnist):
    _, root, _ = fake_mnist
    with pytest.raises(ValueError) as info:
        data.load_mnist("validation", root=root)
    assert "'validation'" in str(info.value)
    for name in ("all", "test", "train"):
        assert name in str(info.value)


def test_returns_fresh_tensors(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    X, y = data.load_mnist("test", root=root)
    X[:] = -1.0
    y[:] = -1
    X2, y2 = data.load_mnist("test", root=root)
    assert float(X2.min()) == 0.0 and int(y2.min()) >= 0


def test_root_defaults_to_course_data_dir(fake_mnist, monkeypatch):
    files, root, raw = fake_mnist
    write_files(files, raw, parts={"test_images", "test_labels"})
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    X, _ = data.load_mnist("test", download=False)
    assert X.shape == (N_TEST, 784)


def test_checksum_is_cached_per_file(fake_mnist, monkeypatch):
    files, root, raw = fake_mnist
    write_files(files, raw)
    data.load_mnist("test", root=root)
    calls = []
    monkeypatch.setattr(data, "_md5_of_file", lambda path: calls.append(path) or "x")
    data.load_mnist("test", root=root)
    assert calls == []  # same path, size and mtime: not hashed again


# ------------------------------------------------------------------------------------------------
# damaged and missing files
# ------------------------------------------------------------------------------------------------

def test_corrupt_file_reports_both_checksums(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    data.load_mnist("test", root=root)  # fine, and now cached
    name, blob, _ = files["test_images"]
    damaged = bytearray(blob)
    damaged[len(damaged) // 2] ^= 0xFF
    (raw / name).write_bytes(bytes(damaged))
    os.utime(raw / name, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    with pytest.raises(data.DatasetCorruptError) as info:
        data.load_mnist("test", root=root)
    message = str(info.value)
    assert md5(blob) in message  # expected
    assert md5(bytes(damaged)) in message  # actual
    assert str(raw / name) in message
    assert "download it again" in message


def test_wrong_magic_with_right_checksum_is_a_clear_error(fake_mnist, monkeypatch):
    files, root, raw = fake_mnist
    name = files["test_images"][0]
    wrong = gz(idx_bytes(files["test_images"][2], 2049))  # label magic in an image file
    write_files(files, raw)
    (raw / name).write_bytes(wrong)
    patched = dict(data.MNIST_FILES)
    patched["test_images"] = (name, md5(wrong))
    monkeypatch.setattr(data, "MNIST_FILES", patched)
    with pytest.raises(data.DatasetCorruptError) as info:
        data.load_mnist("test", root=root)
    message = str(info.value)
    assert "magic number is 2049, expected 2051" in message
    assert name in message and "Delete it" in message


def test_truncated_payload_with_right_checksum_is_a_clear_error(fake_mnist, monkeypatch):
    files, root, raw = fake_mnist
    name = files["test_labels"][0]
    short = gz(idx_bytes(files["test_labels"][2], 2049)[:-2])  # header says 5 labels, holds 3
    write_files(files, raw)
    (raw / name).write_bytes(short)
    patched = dict(data.MNIST_FILES)
    patched["test_labels"] = (name, md5(short))
    monkeypatch.setattr(data, "MNIST_FILES", patched)
    with pytest.raises(data.DatasetCorruptError, match="bytes after decompression"):
        data.load_mnist("test", root=root)


def test_missing_without_download_names_files_and_folder(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw, parts={"test_images"})
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist("test", root=root, download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert files["test_labels"][0] in message
    assert files["test_images"][0] not in message.split("\n")[0]  # only the missing one is named
    assert str(raw) in message
    assert "COURSE_DATA_DIR" in message and "download=False" in message
    assert "download=True" not in message  # downloading is the default: no such advice
    assert "rerun without download=False" in message
    assert sorted(os.listdir(raw)) == [files["test_images"][0]]  # nothing written


# ------------------------------------------------------------------------------------------------
# download from a loopback server
# ------------------------------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """serve(files: {name: bytes}) -> base URL of a loopback HTTP server for those files."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    servers = []

    def start(files: dict[str, bytes]) -> str:
        folder = tmp_path / f"served{len(servers)}"
        folder.mkdir()
        for name, blob in files.items():
            (folder / name).write_bytes(blob)
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """A loopback URL nobody listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_falls_back_to_the_next_mirror(fake_mnist, serve, monkeypatch):
    files, root, raw = fake_mnist
    url = serve({name: blob for name, blob, _ in files.values()})
    monkeypatch.setattr(data, "MNIST_MIRRORS", [dead_url(), url])
    X, y = data.load_mnist("test", root=root)
    assert X.shape == (N_TEST, 784)
    np.testing.assert_array_equal(y.numpy(), files["test_labels"][2])
    assert sorted(os.listdir(raw)) == sorted([files["test_images"][0], files["test_labels"][0]])
    assert (raw / files["test_images"][0]).read_bytes() == files["test_images"][1]


def test_download_with_corrupt_bytes_leaves_no_file(fake_mnist, serve, monkeypatch):
    files, root, raw = fake_mnist
    served = {name: blob for name, blob, _ in files.values()}
    images_name = files["test_images"][0]
    served[images_name] = served[images_name][:-10]  # cut off, wrong checksum
    monkeypatch.setattr(data, "MNIST_MIRRORS", [serve(served)])
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist("test", root=root)
    message = str(info.value)
    assert images_name in message and md5(files["test_images"][1]) in message
    assert not (raw / images_name).exists()
    assert os.listdir(raw) == [files["test_labels"][0]]  # the good file only, no temporary files


def test_offline_gives_one_clear_error(fake_mnist, monkeypatch):
    files, root, raw = fake_mnist
    mirrors = [dead_url(), dead_url()]
    monkeypatch.setattr(data, "MNIST_MIRRORS", mirrors)
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist("all", root=root)
    message = str(info.value)
    for name, _, _ in files.values():
        assert name in message
    assert mirrors[0] + files["train_images"][0] in message  # where to get it
    assert "Downloading them failed" in message and "refused" in message.lower()
    assert "download=True" not in message and "rerun on a machine with network access" in message
    assert os.listdir(raw) == []


def test_read_only_folder_says_to_use_a_writable_one(fake_mnist, serve, monkeypatch):
    files, root, raw = fake_mnist
    monkeypatch.setattr(data, "MNIST_MIRRORS", [serve({n: b for n, b, _ in files.values()})])
    raw.mkdir(parents=True)
    raw.chmod(0o555)
    try:
        if os.access(raw, os.W_OK):  # root ignores permissions: make creating the file fail
            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied", str(raw))

            monkeypatch.setattr(data.tempfile, "mkstemp", refuse)
        with pytest.raises(data.DataDirNotWritableError) as info:
            data.load_mnist("test", root=root)
    finally:
        raw.chmod(0o755)
    assert isinstance(info.value, data.DatasetNotFoundError)
    message = str(info.value)
    assert "not writable" in message and "COURSE_DATA_DIR" in message and str(raw) in message
    assert os.listdir(raw) == []


# ------------------------------------------------------------------------------------------------
# the real MNIST test split, where this machine has it
# ------------------------------------------------------------------------------------------------

def _real_data_roots() -> list[Path]:
    """Where the real MNIST files may be, in this order: the data folder the loader reads by
    default (``config.data_dir()``: ``COURSE_DATA_DIR``, else ``data/`` in the repository), the
    repository's ``data/`` when ``COURSE_DATA_DIR`` points elsewhere, and the shared copy next to
    the repository that CI machines have."""
    saved = os.environ.pop("COURSE_DATA_DIR", None)
    try:
        default = config.data_dir()
    finally:
        if saved is not None:
            os.environ["COURSE_DATA_DIR"] = saved
    roots = [config.data_dir(), default, config.REPO_ROOT.parent / "shared" / "data"]
    return list(dict.fromkeys(roots))


def _real_data_root() -> Path | None:
    for root in _real_data_roots():
        raw = root / "MNIST" / "raw"
        if all((raw / data.MNIST_FILES[p][0]).is_file() for p in ("test_images", "test_labels")):
            return root
    return None


def test_real_data_lookup_starts_where_the_loader_looks(tmp_path, monkeypatch):
    """With COURSE_DATA_DIR unset, files in the repository's data/ (README's place) are found."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path / "repo")
    raw = data.mnist_folder()
    assert raw == tmp_path / "repo" / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for part in ("test_images", "test_labels"):
        (raw / data.MNIST_FILES[part][0]).touch()
    assert _real_data_root() == tmp_path / "repo" / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert _real_data_roots()[:2] == [tmp_path / "elsewhere", tmp_path / "repo" / "data"]
    assert _real_data_root() == tmp_path / "repo" / "data"


def test_real_mnist_test_split():
    root = _real_data_root()
    if root is None:
        pytest.skip("the real MNIST test files are not here (set COURSE_DATA_DIR to a folder with MNIST/raw/)")
    # the loader's own default when the files are there (root=None), else the folder found
    X, y = data.load_mnist("test", root=None if root == config.data_dir() else root, download=False)
    assert X.shape == (10_000, 784) and X.dtype == torch.float32
    assert y.shape == (10_000,) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=10)
    assert len(counts) == 10 and int(counts.sum()) == 10_000 and int(counts.min()) > 0
    assert int(y[0]) == 7
    assert abs(float(X.mean()) - 0.1325) < 1e-3
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0


# ------------------------------------------------------------------------------------------------
# digits
# ------------------------------------------------------------------------------------------------

def test_digits_shapes_and_range():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    assert set(y.tolist()) == set(range(10))
    X_img, y_img = data.load_digits(limit=10, flatten=False)
    assert X_img.shape == (10, 1, 8, 8)
    assert torch.equal(X_img.reshape(10, 64), X[:10]) and torch.equal(y_img, y[:10])
    with pytest.raises(ValueError, match="limit"):
        data.load_digits(limit=0)


# ------------------------------------------------------------------------------------------------
# Gaussian mixtures
# ------------------------------------------------------------------------------------------------

def test_mixture_shapes_and_dtypes():
    mix = data.make_gaussian_mixture(n=200, k=4, d=3, seed=1)
    assert mix.X.shape == (200, 3) and mix.X.dtype == torch.float32
    assert mix.y.shape == (200,) and mix.y.dtype == torch.int64
    assert mix.weights.shape == (4,) and mix.means.shape == (4, 3) and mix.variances.shape == (4, 3)
    assert mix.means.dtype == np.float64
    assert np.isclose(mix.weights.sum(), 1.0) and np.all(mix.variances > 0)
    assert int(mix.y.min()) >= 0 and int(mix.y.max()) < 4


def test_mixture_is_reproducible_and_leaves_global_state_alone():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    a = data.make_gaussian_mixture(n=100, seed=7)
    b = data.make_gaussian_mixture(n=100, seed=7)
    c = data.make_gaussian_mixture(n=100, seed=8)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    np.testing.assert_array_equal(a.means, b.means)
    assert not torch.equal(a.X, c.X)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_mixture_empirical_statistics_match_the_truth():
    mix = data.make_gaussian_mixture(n=60_000, k=3, d=2, seed=0)
    X, y = mix.X.double().numpy(), mix.y.numpy()
    for j in range(3):
        members = X[y == j]
        np.testing.assert_allclose(members.mean(0), mix.means[j], atol=0.05)
        np.testing.assert_allclose(members.var(0), mix.variances[j], rtol=0.05)
        assert abs(len(members) / len(X) - mix.weights[j]) < 0.01


def test_mixture_uses_given_parameters_and_normalises_weights():
    means = [[0.0, 0.0], [10.0, 10.0]]
    mix = data.make_gaussian_mixture(n=20_000, k=2, d=2, weights=[1, 3], means=means,
                                     variances=[[1.0, 1.0], [0.25, 0.25]], seed=3)
    np.testing.assert_allclose(mix.weights, [0.25, 0.75])
    np.testing.assert_array_equal(mix.means, means)
    assert abs(float((mix.y == 1).double().mean()) - 0.75) < 0.02
    np.testing.assert_allclose(mix.X[mix.y == 1].double().std(0).numpy(), [0.5, 0.5], rtol=0.05)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(k=3, d=2, means=np.zeros((4, 2))), "means has shape (4, 2), expected (k, d) = (3, 2)"),
    (dict(k=3, d=2, variances=np.ones((3, 3))), "variances has shape (3, 3), expected (k, d) = (3, 2)"),
    (dict(k=3, weights=[1.0, 1.0]), "weights has shape (2,), expected (k,) = (3,)"),
    (dict(k=2, weights=[1.0, 0.0]), "weights must all be positive"),
    (dict(k=2, d=1, variances=[[1.0], [-1.0]]), "variances must all be positive"),
    (dict(n=0), "n must be a positive int"),
    (dict(spread=0.0), "spread must be a positive number"),
])
def test_mixture_bad_parameters(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        data.make_gaussian_mixture(**kwargs)
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------------
# load_dataset
# ------------------------------------------------------------------------------------------------

def test_load_dataset_dispatches():
    X, y = data.load_dataset("digits", limit=5)
    assert X.shape == (5, 64) and y.shape == (5,)
    X, y = data.load_dataset("gaussian_mixture", n=50, k=2, d=4, seed=0)
    mix = data.make_gaussian_mixture(n=50, k=2, d=4, seed=0)
    assert torch.equal(X, mix.X) and torch.equal(y, mix.y)
    assert set(data.DATASETS) == {"mnist", "fashion-mnist", "kmnist", "usps", "digits", "gaussian_mixture"}


def test_load_dataset_mnist_passes_arguments(fake_mnist):
    files, root, raw = fake_mnist
    write_files(files, raw)
    X, y = data.load_dataset("mnist", split="train", limit=3, root=root)
    assert X.shape == (3, 784) and torch.equal(y, torch.tensor([0, 1, 2]))


def test_load_dataset_unknown_name_suggests():
    with pytest.raises(ValueError) as info:
        data.load_dataset("mnsit")
    assert str(info.value) == (
        "Unknown dataset 'mnsit'. Valid names: digits, fashion-mnist, gaussian_mixture, kmnist, mnist, usps. "
        "Did you mean 'mnist'?"
    )
    with pytest.raises(ValueError) as info:
        data.load_dataset("cifar10")
    assert str(info.value).startswith(
        "Unknown dataset 'cifar10'. Valid names: digits, fashion-mnist, gaussian_mixture, kmnist, mnist, usps.")


def test_random_affine_shapes_identity_and_repeatability():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 28 * 28)
    assert torch.allclose(data.random_affine(x, 0.0, 0.0), x, atol=1e-5)           # no move: the same image
    a = data.random_affine(x, generator=torch.Generator().manual_seed(1))
    b = data.random_affine(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.allclose(a, x)
    img = x.reshape(6, 1, 28, 28)
    assert data.random_affine(img, generator=g).shape == img.shape
    # a pure shift by a whole number of pixels moves the picture (10% of 10 px = 1 px)
    one = torch.zeros(1, 1, 10, 10)
    one[0, 0, 4:6, 4:6] = 1.0
    moved = data.random_affine(one, 0.0, 0.1, generator=torch.Generator().manual_seed(3))
    assert moved.sum() > 0 and not torch.allclose(moved, one)
    with pytest.raises(ValueError, match="square"):
        data.random_affine(torch.rand(2, 10))
    with pytest.raises(ValueError, match="grey"):
        data.random_affine(torch.rand(2, 3, 4, 4))


def test_load_mnist_or_test_falls_back_to_the_test_split_and_says_so(monkeypatch):
    calls, said = [], []

    def fake(split, limit=None):
        calls.append(split)
        if split != "test":
            raise data.DatasetNotFoundError("no training files here")
        return torch.zeros(3, 784), torch.zeros(3, dtype=torch.long)

    monkeypatch.setattr(data, "load_mnist", fake)
    X, y, split = data.load_mnist_or_test("all", limit=3, log=said.append)
    assert split == "test" and calls == ["all", "test"] and X.shape == (3, 784)
    assert said == ["MNIST split 'all' not available (DatasetNotFoundError); using the test split."]
    assert data.load_mnist_or_test("test", log=said.append)[2] == "test" and len(said) == 1
