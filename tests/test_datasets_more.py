"""Tests for the datasets beside MNIST in course_utils.data: Fashion-MNIST and KMNIST (IDX, like
MNIST), USPS (LIBSVM's bz2 text files), and the registry (load_dataset, dataset_info).

As in test_data.py, the loaders read tiny synthetic files written into tmp_path, with the
published checksums patched to match them, and downloads come from a loopback HTTP server: nothing
here needs the network.
"""
from __future__ import annotations

import bz2
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import data
from test_data import dead_url, fake_mnist, gz, idx_bytes, md5, serve, write_files  # noqa: F401 (fixtures)

N_TRAIN, N_TEST = 6, 4

# ------------------------------------------------------------------------------------------------
# Fashion-MNIST and KMNIST: synthetic IDX files
# ------------------------------------------------------------------------------------------------

#: registry name -> (loader, files global, mirrors global, folder under the root, name in messages)
IDX_DATASETS = {
    "fashion-mnist": ("load_fashion_mnist", "FASHION_MNIST_FILES", "FASHION_MNIST_MIRRORS", "FashionMNIST",
                      "Fashion-MNIST"),
    "kmnist": ("load_kmnist", "KMNIST_FILES", "KMNIST_MIRRORS", "KMNIST", "KMNIST"),
}


@dataclass
class FakeDataset:
    name: str  # the key of data.DATASETS
    loader: str  # e.g. "load_kmnist"
    display: str  # e.g. "KMNIST"
    files_attr: str
    mirrors_attr: str
    files: dict  # part -> (file name, bytes, content)
    root: Path  # what to pass as root=
    raw: Path  # root/<folder>/raw (not created)
    published_mirrors: list  # the module's mirrors before the fixture emptied them

    def load(self, *args, **kwargs):
        return getattr(data, self.loader)(*args, **kwargs)

    def patch_file(self, monkeypatch, part: str, blob: bytes) -> Path:
        """Write ``blob`` as ``part``'s file and make its checksum the expected one."""
        name = self.files[part][0]
        self.raw.mkdir(parents=True, exist_ok=True)
        (self.raw / name).write_bytes(blob)
        patched = dict(getattr(data, self.files_attr))
        patched[part] = (name, md5(blob))
        monkeypatch.setattr(data, self.files_attr, patched)
        return self.raw / name


def synthetic_idx(seed: int) -> dict[str, tuple[bytes, np.ndarray]]:
    """part -> (gzipped IDX bytes, the array inside); pixels cover 0 and 255, labels 0-9."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        labels[0] = 9
        out[f"{split}_images"] = (gz(idx_bytes(images, 2051)), images)
        out[f"{split}_labels"] = (gz(idx_bytes(labels, 2049)), labels)
    return out


@pytest.fixture(params=sorted(IDX_DATASETS))
def fake_idx(request, tmp_path, monkeypatch) -> FakeDataset:
    """Synthetic files (not yet written) of Fashion-MNIST or KMNIST, checksums patched to match."""
    name = request.param
    loader, files_attr, mirrors_attr, folder, display = IDX_DATASETS[name]
    payloads = synthetic_idx(seed=7 if name == "kmnist" else 8)
    files, patched = {}, {}
    for part, (file_name, _) in getattr(data, files_attr).items():
        blob, array = payloads[part]
        files[part] = (file_name, blob, array)
        patched[part] = (file_name, md5(blob))
    published = list(getattr(data, mirrors_attr))
    monkeypatch.setattr(data, files_attr, patched)
    monkeypatch.setattr(data, mirrors_attr, [])  # a test that downloads sets its own
    data.clear_cache()
    root = tmp_path / "data"
    return FakeDataset(name, loader, display, files_attr, mirrors_attr, files, root, root / folder / "raw",
                       published)


def test_idx_datasets_parse_shapes_dtypes_and_labels(fake_idx):
    write_files(fake_idx.files, fake_idx.raw)
    X, y = fake_idx.load("test", root=fake_idx.root, download=False)
    assert X.shape == (N_TEST, 784) and X.dtype == torch.float32
    assert y.shape == (N_TEST,) and y.dtype == torch.int64
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    expected = fake_idx.files["test_images"][2].reshape(N_TEST, 784).astype(np.float32) / 255.0
    np.testing.assert_allclose(X.numpy(), expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y.numpy(), fake_idx.files["test_labels"][2])
    images, _ = fake_idx.load("train", root=fake_idx.root, flatten=False)
    assert images.shape == (N_TRAIN, 1, 28, 28)
    assert images.shape[1:] == data.dataset_info(fake_idx.name)["image_shape"]
    np.testing.assert_array_equal((images[:, 0] * 255).round().to(torch.uint8).numpy(),
                                  fake_idx.files["train_images"][2])


def test_idx_datasets_all_is_train_then_test_and_limit(fake_idx):
    write_files(fake_idx.files, fake_idx.raw)
    X, y = fake_idx.load("all", root=fake_idx.root)
    assert X.shape == (N_TRAIN + N_TEST, 784)
    np.testing.assert_array_equal(
        y.numpy(), np.concatenate([fake_idx.files["train_labels"][2], fake_idx.files["test_labels"][2]]))
    X2, y2 = fake_idx.load("all", root=fake_idx.root, limit=N_TRAIN + 1)
    assert torch.equal(X2, X[:N_TRAIN + 1]) and torch.equal(y2, y[:N_TRAIN + 1])
    assert fake_idx.load("test", root=fake_idx.root, limit=1000)[0].shape == (N_TEST, 784)
    with pytest.raises(ValueError, match=f"Unknown {fake_idx.display} split 'valid'"):
        fake_idx.load("valid", root=fake_idx.root)


def test_idx_datasets_missing_files_name_the_dataset_folder_and_url(fake_idx, monkeypatch):
    monkeypatch.setattr(data, fake_idx.mirrors_attr, fake_idx.published_mirrors)
    with pytest.raises(data.DatasetNotFoundError) as info:
        fake_idx.load("test", root=fake_idx.root, download=False)
    message = str(info.value)
    assert message.startswith(f"{fake_idx.display} split 'test' is not available")
    assert str(fake_idx.raw) in message and f"{fake_idx.raw.parent.name}/raw/" in message
    assert f"{os.sep}MNIST{os.sep}raw" not in message  # not MNIST's folder
    image_name = fake_idx.files["test_images"][0]
    assert fake_idx.published_mirrors[0] + image_name in message
    assert "rerun without download=False" in message
    assert not fake_idx.raw.exists()  # nothing written


def test_idx_datasets_offline_download_fails_with_one_clear_error(fake_idx, monkeypatch):
    mirror = dead_url()
    monkeypatch.setattr(data, fake_idx.mirrors_attr, [mirror])
    with pytest.raises(data.DatasetNotFoundError) as info:
        fake_idx.load("test", root=fake_idx.root)
    message = str(info.value)
    assert message.startswith(f"{fake_idx.display} split 'test'")
    assert mirror + fake_idx.files["test_images"][0] in message and "Downloading them failed" in message
    assert os.listdir(fake_idx.raw) == []


def test_idx_datasets_wrong_checksum_names_the_file_and_the_fix(fake_idx):
    write_files(fake_idx.files, fake_idx.raw)
    name, blob, _ = fake_idx.files["test_labels"]
    damaged = bytearray(blob)
    damaged[-5] ^= 0xFF
    (fake_idx.raw / name).write_bytes(bytes(damaged))
    with pytest.raises(data.DatasetCorruptError) as info:
        fake_idx.load("test", root=fake_idx.root)
    message = str(info.value)
    assert message.startswith(f"{fake_idx.display} file {fake_idx.raw / name} is corrupt")
    assert md5(blob) in message and md5(bytes(damaged)) in message
    assert f"rerun {fake_idx.loader}() to download it again" in message


def test_idx_datasets_bad_idx_content_names_the_dataset(fake_idx, monkeypatch):
    write_files(fake_idx.files, fake_idx.raw)
    wrong = gz(idx_bytes(fake_idx.files["test_images"][2], 2049))  # label magic in an image file
    fake_idx.patch_file(monkeypatch, "test_images", wrong)
    with pytest.raises(data.DatasetCorruptError) as info:
        fake_idx.load("test", root=fake_idx.root)
    message = str(info.value)
    assert f"not a valid {fake_idx.display} IDX file" in message
    assert "magic number is 2049, expected 2051" in message and f"{fake_idx.loader}()" in message


def test_idx_datasets_download_from_a_local_server(fake_idx, serve, monkeypatch):  # noqa: F811
    url = serve({name: blob for name, blob, _ in fake_idx.files.values()})
    monkeypatch.setattr(data, fake_idx.mirrors_attr, [dead_url(), url])
    X, y = fake_idx.load("test", root=fake_idx.root)
    assert X.shape == (N_TEST, 784)
    np.testing.assert_array_equal(y.numpy(), fake_idx.files["test_labels"][2])
    names = [fake_idx.files[p][0] for p in ("test_images", "test_labels")]
    assert sorted(os.listdir(fake_idx.raw)) == sorted(names)  # no temporary files left
    assert (fake_idx.raw / names[0]).read_bytes() == fake_idx.files["test_images"][1]


def test_idx_datasets_and_mnist_keep_to_their_own_folders(fake_idx, fake_mnist):  # noqa: F811
    """Same file names, different folders: each loader reads its own (and its cache entries)."""
    mnist_files, mnist_root, mnist_raw = fake_mnist
    root = fake_idx.root
    assert mnist_root == root
    write_files(fake_idx.files, fake_idx.raw)
    with pytest.raises(data.DatasetNotFoundError, match="^MNIST split 'test'"):
        data.load_mnist("test", root=root, download=False)
    write_files(mnist_files, mnist_raw)
    _, y_mnist = data.load_mnist("test", root=root)
    _, y_other = fake_idx.load("test", root=root)
    np.testing.assert_array_equal(y_mnist.numpy(), mnist_files["test_labels"][2])
    np.testing.assert_array_equal(y_other.numpy(), fake_idx.files["test_labels"][2])


# ------------------------------------------------------------------------------------------------
# USPS: synthetic LIBSVM bz2 text files
# ------------------------------------------------------------------------------------------------

def usps_line(label: int, values: dict[int, float | str]) -> str:
    return " ".join([str(label)] + [f"{i}:{v}" for i, v in values.items()])


def synthetic_usps(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A dense LIBSVM USPS file of ``n`` lines: (bz2 bytes, expected pixels (n, 256), labels 0-9)."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.uniform(-1.0, 1.0, size=(n, 256)), 4)
    values[0, 0], values[0, 1] = -1.0, 1.0
    labels = rng.integers(1, 11, size=n)
    labels[0] = 10
    text = "".join(usps_line(int(lab), {i + 1: repr(float(v)) for i, v in enumerate(row)}) + "\n"
                   for lab, row in zip(labels, values))
    return bz2.compress(text.encode("ascii")), ((values + 1) / 2).astype(np.float32), labels - 1


@pytest.fixture
def fake_usps(tmp_path, monkeypatch) -> FakeDataset:
    """Synthetic USPS files (not yet written), checksums patched to match; mirrors emptied."""
    files, patched = {}, {}
    for part, (name, _) in data.USPS_FILES.items():
        blob, images, labels = synthetic_usps(N_TRAIN if part == "train" else N_TEST, seed=len(part))
        files[part] = (name, blob, (images, labels))
        patched[part] = (name, md5(blob))
    published = list(data.USPS_MIRRORS)
    monkeypatch.setattr(data, "USPS_FILES", patched)
    monkeypatch.setattr(data, "USPS_MIRRORS", [])
    data.clear_cache()
    root = tmp_path / "data"
    return FakeDataset("usps", "load_usps", "USPS", "USPS_FILES", "USPS_MIRRORS", files, root,
                       root / "USPS" / "raw", published)


def test_usps_parses_shapes_dtypes_values_and_labels(fake_usps):
    write_files(fake_usps.files, fake_usps.raw)
    X, y = data.load_usps("test", root=fake_usps.root, download=False)
    images, labels = fake_usps.files["test"][2]
    assert X.shape == (N_TEST, 256) and X.dtype == torch.float32
    assert y.shape == (N_TEST,) and y.dtype == torch.int64
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    np.testing.assert_allclose(X.numpy(), images, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels)
    assert int(y[0]) == 9  # label 10 is the digit 9 (LIBSVM counts from 1)
    X_img, _ = data.load_usps("test", root=fake_usps.root, flatten=False)
    assert X_img.shape == (N_TEST, 1, 16, 16) == (N_TEST, *data.dataset_info("usps")["image_shape"])
    # indices run row by row: pixel 17 (1-based) is row 1, column 0
    assert float(X_img[1, 0, 1, 0]) == pytest.approx(images[1, 16], abs=1e-6)
    assert torch.equal(X_img.reshape(N_TEST, 256), X)


def test_usps_all_is_train_then_test_and_limit(fake_usps):
    write_files(fake_usps.files, fake_usps.raw)
    X, y = data.load_usps("all", root=fake_usps.root)
    assert X.shape == (N_TRAIN + N_TEST, 256)
    np.testing.assert_array_equal(y.numpy(), np.concatenate([fake_usps.files["train"][2][1],
                                                             fake_usps.files["test"][2][1]]))
    X2, y2 = data.load_usps("all", root=fake_usps.root, limit=N_TRAIN + 2)
    assert torch.equal(X2, X[:N_TRAIN + 2]) and torch.equal(y2, y[:N_TRAIN + 2])
    assert data.load_usps("train", root=fake_usps.root, limit=10_000)[0].shape == (N_TRAIN, 256)
    X2[:] = -1.0  # fresh tensors: the cache is untouched
    assert float(data.load_usps("all", root=fake_usps.root)[0].min()) == 0.0
    with pytest.raises(ValueError, match="limit must be a positive int"):
        data.load_usps("test", root=fake_usps.root, limit=0)
    with pytest.raises(ValueError, match=r"Unknown USPS split 'val'.*9,298"):
        data.load_usps("val", root=fake_usps.root)


def test_usps_sparse_line_is_background_and_values_are_clipped(fake_usps, monkeypatch):
    text = usps_line(3, {1: 1, 2: "0", 256: "-0.5", 20: "1.5", 21: "-1.25"}) + "\n" + usps_line(1, {}) + "\n"
    fake_usps.patch_file(monkeypatch, "test", bz2.compress(text.encode()))
    X, y = data.load_usps("test", root=fake_usps.root)
    assert y.tolist() == [2, 0]
    expected = np.zeros((2, 256), dtype=np.float32)  # a missing index is -1: background, 0
    expected[0, [0, 1, 255, 19, 20]] = [1.0, 0.5, 0.25, 1.0, 0.0]
    np.testing.assert_array_equal(X.numpy(), expected)


@pytest.mark.parametrize("line, fragment", [
    (usps_line(11, {1: 0.5}), "line 2: the label '11' is not an integer 1-10"),
    (usps_line(0, {1: 0.5}), "line 2: the label '0' is not an integer 1-10"),
    ("2.5 1:0.5", "line 2: the label '2.5' is not an integer 1-10"),
    ("seven 1:0.5", "line 2: the label 'seven' is not a number"),
    ("3 1:0.5 2:abc", "line 2: the value 'abc' is not a number"),
    ("3 1:0.5 2:nan", "line 2: the value 'nan' is not a finite number"),
    ("3 1:0.5 0.25", "line 2: '0.25' is not an `index:value` pair"),
    ("3 1:0.5 2:0.1:0.2", "line 2: '2:0.1:0.2' is not an `index:value` pair"),
    ("3 0:0.5", "line 2: index 0 is outside 1-256"),
    ("3 257:0.5", "line 2: index 257 is outside 1-256"),
    ("3 4:0.5 4:0.25", "line 2 gives a pixel index twice"),
    (usps_line(3, {i % 256 + 1: 0.0 for i in range(256)}) + " 1:0.0", "line 2 has 257 values, expected at most 256"),
])
def test_usps_malformed_line_is_a_clear_error(fake_usps, monkeypatch, line, fragment):
    text = usps_line(1, {1: 0.5}) + "\n" + line + "\n"
    path = fake_usps.patch_file(monkeypatch, "test", bz2.compress(text.encode()))
    with pytest.raises(data.DatasetCorruptError) as info:
        data.load_usps("test", root=fake_usps.root)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(f"{path} is not a valid USPS file")
    assert "Delete it and rerun load_usps() to download it again" in message


@pytest.mark.parametrize("blob, fragment", [
    (b"3 1:0.5\n", "could not be decompressed as bz2"),
    (bz2.compress(b"3 1:0.5\n")[:-8], "could not be decompressed as bz2"),
    (bz2.compress(b""), "it holds no examples"),
    (bz2.compress("3 1:0.5\u00e9\n".encode()), "it is not ASCII text"),
])
def test_usps_damaged_file_is_a_clear_error(fake_usps, monkeypatch, blob, fragment):
    fake_usps.patch_file(monkeypatch, "test", blob)
    with pytest.raises(data.DatasetCorruptError, match=fragment):
        data.load_usps("test", root=fake_usps.root)


def test_usps_decompression_is_capped(fake_usps, monkeypatch):
    fake_usps.patch_file(monkeypatch, "test", bz2.compress(b"1 1:0.5\n" * 1000))
    monkeypatch.setattr(data, "_USPS_MAX_BYTES", 4096)
    with pytest.raises(data.DatasetCorruptError, match="decompresses to more than 4,096 bytes"):
        data.load_usps("test", root=fake_usps.root)


def test_usps_wrong_checksum_names_the_file_and_the_fix(fake_usps):
    write_files(fake_usps.files, fake_usps.raw)
    name, blob, _ = fake_usps.files["train"]
    (fake_usps.raw / name).write_bytes(blob[:-3])
    with pytest.raises(data.DatasetCorruptError) as info:
        data.load_usps("all", root=fake_usps.root)
    message = str(info.value)
    assert message.startswith(f"USPS file {fake_usps.raw / name} is corrupt")
    assert md5(blob) in message and md5(blob[:-3]) in message
    assert "rerun load_usps() to download it again" in message


def test_usps_missing_files_name_the_dataset_folder_and_url(fake_usps, monkeypatch):
    monkeypatch.setattr(data, "USPS_MIRRORS", fake_usps.published_mirrors)
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_usps("all", root=fake_usps.root, download=False)
    message = str(info.value)
    assert message.startswith("USPS split 'all' is not available: missing usps.bz2, usps.t.bz2")
    assert str(fake_usps.raw) in message and "USPS/raw/" in message
    assert "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.t.bz2" in message
    assert not fake_usps.raw.exists()


def test_usps_download_from_a_local_server(fake_usps, serve, monkeypatch):  # noqa: F811
    served = {name: blob for name, blob, _ in fake_usps.files.values()}
    train_name = fake_usps.files["train"][0]
    served[train_name] = served[train_name][:-4]  # a mirror with a cut-off copy of the train file
    monkeypatch.setattr(data, "USPS_MIRRORS", [dead_url(), serve(served)])
    X, y = data.load_usps("test", root=fake_usps.root)
    assert X.shape == (N_TEST, 256)
    np.testing.assert_array_equal(y.numpy(), fake_usps.files["test"][2][1])
    assert os.listdir(fake_usps.raw) == ["usps.t.bz2"]
    assert (fake_usps.raw / "usps.t.bz2").read_bytes() == fake_usps.files["test"][1]
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_usps("train", root=fake_usps.root)
    assert "usps.bz2" in str(info.value) and md5(fake_usps.files["train"][1]) in str(info.value)
    assert os.listdir(fake_usps.raw) == ["usps.t.bz2"]  # the bad copy was discarded, no temporary file


# ------------------------------------------------------------------------------------------------
# the registry: load_dataset and dataset_info
# ------------------------------------------------------------------------------------------------

def test_load_dataset_takes_the_new_names(fake_idx, fake_usps):
    write_files(fake_idx.files, fake_idx.raw)
    write_files(fake_usps.files, fake_usps.raw)
    X, y = data.load_dataset(fake_idx.name, split="train", limit=3, root=fake_idx.root, flatten=False)
    assert X.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(y.numpy(), fake_idx.files["train_labels"][2][:3])
    X, y = data.load_dataset("usps", split="test", limit=2, root=fake_usps.root)
    assert X.shape == (2, 256) and torch.equal(y, torch.from_numpy(fake_usps.files["test"][2][1][:2]))


@pytest.mark.parametrize("spelling, suggestion", [
    ("fashion_mnist", "fashion-mnist"),
    ("FashionMNIST", "fashion-mnist"),
    ("KMNIST", "kmnist"),
    ("USPS", "usps"),
])
def test_other_spellings_are_only_suggested(spelling, suggestion):
    for call in (data.load_dataset, data.dataset_info):
        with pytest.raises(ValueError) as info:
            call(spelling)
        message = str(info.value)
        assert message.startswith(f"Unknown dataset {spelling!r}. Valid names: digits, fashion-mnist, ")
        assert message.endswith(f"Did you mean {suggestion!r}?")


def test_dataset_info_for_every_dataset():
    expected = {
        "mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10), "kmnist": ((1, 28, 28), 10),
        "usps": ((1, 16, 16), 10), "digits": ((1, 8, 8), 10), "gaussian_mixture": (None, None),
    }
    assert set(expected) == set(data.DATASETS)
    for name, (shape, n_classes) in expected.items():
        info = data.dataset_info(name)
        assert info["name"] == name and info["image_shape"] == shape and info["n_classes"] == n_classes
        assert isinstance(info["description"], str) and info["description"] and "\n" not in info["description"]
    info = data.dataset_info("digits")
    info["image_shape"] = None  # a fresh dict each call
    assert data.dataset_info("digits")["image_shape"] == (1, 8, 8)
