"""Datasets for the workbook: MNIST, Fashion-MNIST and KMNIST (IDX reader, checksums, download),
USPS (LIBSVM's bz2 text files), scikit-learn's 8x8 digits, and synthetic Gaussian mixtures with
known parameters.

Every loader returns ``(X, y)`` as torch tensors:

- ``X``: ``(N, D)`` float32 in ``[0, 1]`` (or images ``(N, 1, H, W)`` with ``flatten=False``)
- ``y``: ``(N,)`` int64 class labels, used only to *evaluate* a clustering, never to train it.

``load_dataset(name)`` loads any of them by name (``DATASETS``); ``dataset_info(name)`` says what a
dataset holds (image shape, number of classes) without loading it.

MNIST, Fashion-MNIST and KMNIST are read from the original IDX ``.gz`` files in
``<COURSE_DATA_DIR>/MNIST/raw/``, ``.../FashionMNIST/raw/`` and ``.../KMNIST/raw/`` (the layout
torchvision uses), USPS from ``usps.bz2`` and ``usps.t.bz2`` in ``.../USPS/raw/``. Every file is
checked against its published MD5 checksum, and downloaded when missing and the network allows.
Nothing but those downloaded files is ever written into the data folder.
"""
from __future__ import annotations

import bz2
import difflib
import gzip
import hashlib
import math
import http.client
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from course_utils import config
from course_utils.progress import tqdm

__all__ = [
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MIRRORS",
    "KMNIST_FILES",
    "KMNIST_MIRRORS",
    "USPS_FILES",
    "USPS_MIRRORS",
    "DOWNLOAD_TIMEOUT_S",
    "DatasetNotFoundError",
    "DataDirNotWritableError",
    "DatasetCorruptError",
    "load_mnist",
    "load_mnist_or_test",
    "load_fashion_mnist",
    "load_kmnist",
    "load_usps",
    "load_digits",
    "GaussianMixtureData",
    "make_gaussian_mixture",
    "DATASETS",
    "load_dataset",
    "dataset_info",
    "clear_cache",
    "random_affine",
    "make_moving_mnist",
    "load_moving_mnist_standard",
    "MOVING_MNIST_FILE",
    "MOVING_MNIST_MD5",
    "MOVING_MNIST_SPLIT",
    "moving_mnist_clips",
]

# --------------------------------------------------------------------------------------------
# Files, checksums, mirrors
# --------------------------------------------------------------------------------------------

#: split part -> (file name, published MD5). The checksums are the ones torchvision checks.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}

#: Base URLs tried in order; a file's URL is ``mirror + file name``.
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

#: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): the same IDX files and names as MNIST.
FASHION_MNIST_FILES: dict[str, tuple[str, str]] = {
    "train_images": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}
FASHION_MNIST_MIRRORS: list[str] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]

#: Kuzushiji-MNIST (Clanuwat et al. 2018): the same IDX files and names as MNIST.
KMNIST_FILES: dict[str, tuple[str, str]] = {
    "train_images": ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
}
KMNIST_MIRRORS: list[str] = [
    "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
]

#: USPS as LIBSVM distributes it: one bz2 text file per split (images and labels together).
USPS_FILES: dict[str, tuple[str, str]] = {
    "train": ("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197"),
    "test": ("usps.t.bz2", "8ea070ee2aca1ac39742fdd1ef5ed118"),
}
USPS_MIRRORS: list[str] = [
    "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/",
]

#: Seconds to wait for a mirror to answer (and between received chunks) before giving up on it.
DOWNLOAD_TIMEOUT_S: float = 30.0

_SPLITS: dict[str, tuple[str, ...]] = {"train": ("train",), "test": ("test",), "all": ("train", "test")}
_IMAGE_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions (N, rows, cols)
_LABEL_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension (N,)
_IMAGE_SIZE = 28
_USPS_SIZE = 16
_USPS_MAX_BYTES = 64 << 20  # a USPS file decompressing to more than this is not a USPS file
_USER_AGENT = "learning-without-labels/0.1 (course_utils.data; python urllib)"
# Errors that mean "the network or the mirror failed", as opposed to a local problem (disk full).
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                   TimeoutError, ssl.SSLError)

# In-process caches. Keys include size and mtime, so a replaced or edited file is read again.
_VERIFIED: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, md5) that matched
# (path, size, mtime_ns) -> read-only parsed content: a uint8 array (IDX), (images, labels) (USPS)
_PARSED: dict[tuple[str, int, int], Any] = {}
_PARSED_MAX_ENTRIES = 8


@dataclass(frozen=True)
class _DatasetSpec:
    """What the shared download, checksum and error-message code needs to know of one dataset.

    The files and mirrors are looked up by the names of their module globals at call time, so
    replacing ``data.MNIST_FILES`` (a test, a local mirror) is seen by every helper.
    """

    display: str  # the name in messages, e.g. "Fashion-MNIST"
    folder: str  # the folder under the data root that holds raw/, e.g. "FashionMNIST"
    files_attr: str  # module global: part -> (file name, MD5)
    mirrors_attr: str  # module global: base URLs tried in order
    loader: str  # the public loader, named in advice, e.g. "load_fashion_mnist"
    file_format: Literal["idx", "libsvm"]
    n_train: int
    n_test: int

    @property
    def files(self) -> dict[str, tuple[str, str]]:
        return globals()[self.files_attr]

    @property
    def mirrors(self) -> list[str]:
        return globals()[self.mirrors_attr]


_MNIST = _DatasetSpec("MNIST", "MNIST", "MNIST_FILES", "MNIST_MIRRORS", "load_mnist", "idx", 60_000, 10_000)
_FASHION_MNIST = _DatasetSpec("Fashion-MNIST", "FashionMNIST", "FASHION_MNIST_FILES", "FASHION_MNIST_MIRRORS",
                              "load_fashion_mnist", "idx", 60_000, 10_000)
_KMNIST = _DatasetSpec("KMNIST", "KMNIST", "KMNIST_FILES", "KMNIST_MIRRORS", "load_kmnist", "idx", 60_000, 10_000)
_USPS = _DatasetSpec("USPS", "USPS", "USPS_FILES", "USPS_MIRRORS", "load_usps", "libsvm", 7_291, 2_007)


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing and could not be downloaded; the message says how to get them."""


class DataDirNotWritableError(DatasetNotFoundError):
    """Dataset files are missing and the data folder is read-only, so they cannot be downloaded."""


class DatasetCorruptError(RuntimeError):
    """A dataset file is damaged (wrong checksum, or not a valid IDX or LIBSVM file)."""


def clear_cache() -> None:
    """Forget verified checksums and parsed arrays (the next call re-reads the files)."""
    _VERIFIED.clear()
    _PARSED.clear()


# --------------------------------------------------------------------------------------------
# MNIST, Fashion-MNIST, KMNIST: 28x28 IDX files
# --------------------------------------------------------------------------------------------

def load_mnist(
    split: str = "test",
    limit: int | None = None,
    flatten: bool = True,
    root: str | Path | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST from the original IDX ``.gz`` files.

    Args:
        split: ``"train"`` (60,000), ``"test"`` (10,000) or ``"all"`` (train then test, 70,000).
        limit: keep only the first ``limit`` examples (deterministic); ``None`` keeps all.
            A limit larger than the split gives the whole split.
        flatten: ``True`` gives ``X: (N, 784)``, ``False`` gives images ``X: (N, 1, 28, 28)``.
        root: folder holding ``MNIST/raw/``; default ``config.data_dir()`` (``COURSE_DATA_DIR``).
        download: download missing files from ``MNIST_MIRRORS`` into ``<root>/MNIST/raw/``.

    Returns:
        ``X``: ``(N, 784)`` or ``(N, 1, 28, 28)`` float32 in ``[0, 1]``;
        ``y``: ``(N,)`` int64 digit labels 0-9. Fresh tensors: changing them changes no cache.

    Raises:
        ValueError: unknown ``split`` or a ``limit`` that is not a positive int.
        DatasetNotFoundError: files missing and not downloadable (offline, or ``download=False``).
        DataDirNotWritableError: files missing and the folder is read-only.
        DatasetCorruptError: a file has the wrong checksum or is not a valid IDX file.
    """
    return _load_idx(_MNIST, split, limit, flatten, root, download)


def load_fashion_mnist(
    split: str = "test",
    limit: int | None = None,
    flatten: bool = True,
    root: str | Path | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load Fashion-MNIST (28x28 grey images of clothing) from the original IDX ``.gz`` files.

    Classes: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
    7 sneaker, 8 bag, 9 ankle boot.

    Args:
        split: ``"train"`` (60,000), ``"test"`` (10,000) or ``"all"`` (train then test, 70,000).
        limit: keep only the first ``limit`` examples (deterministic); ``None`` keeps all.
            A limit larger than the split gives the whole split.
        flatten: ``True`` gives ``X: (N, 784)``, ``False`` gives images ``X: (N, 1, 28, 28)``.
        root: folder holding ``FashionMNIST/raw/``; default ``config.data_dir()`` (``COURSE_DATA_DIR``).
        download: download missing files from ``FASHION_MNIST_MIRRORS`` into
            ``<root>/FashionMNIST/raw/``.

    Returns:
        ``X``: ``(N, 784)`` or ``(N, 1, 28, 28)`` float32 in ``[0, 1]``;
        ``y``: ``(N,)`` int64 class labels 0-9. Fresh tensors: changing them changes no cache.

    Raises:
        ValueError: unknown ``split`` or a ``limit`` that is not a positive int.
        DatasetNotFoundError: files missing and not downloadable (offline, or ``download=False``).
        DataDirNotWritableError: files missing and the folder is read-only.
        DatasetCorruptError: a file has the wrong checksum or is not a valid IDX file.
    """
    return _load_idx(_FASHION_MNIST, split, limit, flatten, root, download)


def load_kmnist(
    split: str = "test",
    limit: int | None = None,
    flatten: bool = True,
    root: str | Path | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load Kuzushiji-MNIST (28x28 grey cursive Japanese characters, one hiragana per class)
    from the original IDX ``.gz`` files.

    Args:
        split: ``"train"`` (60,000), ``"test"`` (10,000) or ``"all"`` (train then test, 70,000).
        limit: keep only the first ``limit`` examples (deterministic); ``None`` keeps all.
            A limit larger than the split gives the whole split.
        flatten: ``True`` gives ``X: (N, 784)``, ``False`` gives images ``X: (N, 1, 28, 28)``.
        root: folder holding ``KMNIST/raw/``; default ``config.data_dir()`` (``COURSE_DATA_DIR``).
        download: download missing files from ``KMNIST_MIRRORS`` into ``<root>/KMNIST/raw/``.

    Returns:
        ``X``: ``(N, 784)`` or ``(N, 1, 28, 28)`` float32 in ``[0, 1]``;
        ``y``: ``(N,)`` int64 class labels 0-9. Fresh tensors: changing them changes no cache.

    Raises:
        ValueError: unknown ``split`` or a ``limit`` that is not a positive int.
        DatasetNotFoundError: files missing and not downloadable (offline, or ``download=False``).
        DataDirNotWritableError: files missing and the folder is read-only.
        DatasetCorruptError: a file has the wrong checksum or is not a valid IDX file.
    """
    return _load_idx(_KMNIST, split, limit, flatten, root, download)


def _load_idx(spec: _DatasetSpec, split: str, limit: int | None, flatten: bool,
              root: str | Path | None, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``load_mnist`` for the dataset ``spec`` describes (28x28 IDX images and labels)."""
    _check_split(spec, split)
    limit = _check_limit(limit)
    folder = _folder(spec, root)
    parts = [f"{s}_{kind}" for s in _SPLITS[split] for kind in ("images", "labels")]
    _ensure_files(spec, folder, parts, split=split, download=download)

    images_per_split, labels_per_split = [], []
    for s in _SPLITS[split]:
        images = _read_verified(spec, folder, f"{s}_images")
        labels = _read_verified(spec, folder, f"{s}_labels")
        if len(images) != len(labels):
            files = spec.files
            raise DatasetCorruptError(
                f"{folder / files[f'{s}_images'][0]} holds {len(images)} images but "
                f"{folder / files[f'{s}_labels'][0]} holds {len(labels)} labels; they must "
                f"match. Delete both files and rerun {spec.loader}() to download them again."
            )
        images_per_split.append(images)
        labels_per_split.append(labels)
    images = images_per_split[0] if len(images_per_split) == 1 else np.concatenate(images_per_split)
    labels = labels_per_split[0] if len(labels_per_split) == 1 else np.concatenate(labels_per_split)

    n = len(images) if limit is None else min(limit, len(images))
    x = images[:n].astype(np.float32)  # a copy: the cached uint8 array is never exposed
    x /= 255.0
    X = torch.from_numpy(x)
    X = X.reshape(n, _IMAGE_SIZE * _IMAGE_SIZE) if flatten else X.reshape(n, 1, _IMAGE_SIZE, _IMAGE_SIZE)
    y = torch.from_numpy(labels[:n].astype(np.int64))
    return X, y


def load_mnist_or_test(split: str, limit: int | None = None, log: Callable[[str], Any] = print
                       ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``load_mnist(split, limit)``, or the test split where ``split``'s files are not there (a
    machine with only the test files, no network), as the notebooks' full mode does; ``log`` says
    so. Returns ``(X, y, the split used)``."""
    try:
        X, y = load_mnist(split, limit=limit)
    except DatasetNotFoundError as err:
        log(f"MNIST split {split!r} not available ({type(err).__name__}); using the test split.")
        split = "test"
        X, y = load_mnist(split, limit=limit)
    return X, y, split


def mnist_folder(root: str | Path | None = None) -> Path:
    """The folder MNIST's ``.gz`` files live in: ``<root or config.data_dir()>/MNIST/raw``."""
    return _folder(_MNIST, root)


def _folder(spec: _DatasetSpec, root: str | Path | None) -> Path:
    """``<root or config.data_dir()>/<spec.folder>/raw``: where the dataset's files live."""
    base = config.data_dir() if root is None else Path(root).expanduser()
    return base / spec.folder / "raw"


def _check_split(spec: _DatasetSpec, split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(
            f"Unknown {spec.display} split {split!r}. Valid splits: {', '.join(sorted(_SPLITS))} "
            f"('all' = train then test, {spec.n_train + spec.n_test:,} images)."
        )


def _check_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit <= 0:
        raise ValueError(
            f"limit must be a positive int (the number of examples to keep) or None for all, "
            f"got {limit!r}."
        )
    return int(limit)


# --------------------------------------------------------------------------------------------
# USPS: 16x16 digits in LIBSVM's bz2 text files
# --------------------------------------------------------------------------------------------

def load_usps(
    split: str = "test",
    limit: int | None = None,
    flatten: bool = True,
    root: str | Path | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load USPS (16x16 grey handwritten digits) from LIBSVM's ``usps.bz2`` / ``usps.t.bz2``.

    Each line of those files is ``label index:value ...`` with labels 1-10 (digits 0-9 plus one)
    and pixel values in ``[-1, 1]`` at indices 1-256 (row by row); a missing index is background
    (-1). Pixels are mapped to ``(value + 1) / 2``, clipped to ``[0, 1]``.

    Args:
        split: ``"train"`` (7,291), ``"test"`` (2,007) or ``"all"`` (train then test, 9,298).
        limit: keep only the first ``limit`` examples (deterministic); ``None`` keeps all.
            A limit larger than the split gives the whole split.
        flatten: ``True`` gives ``X: (N, 256)``, ``False`` gives images ``X: (N, 1, 16, 16)``.
        root: folder holding ``USPS/raw/``; default ``config.data_dir()`` (``COURSE_DATA_DIR``).
        download: download missing files from ``USPS_MIRRORS`` into ``<root>/USPS/raw/``.

    Returns:
        ``X``: ``(N, 256)`` or ``(N, 1, 16, 16)`` float32 in ``[0, 1]``;
        ``y``: ``(N,)`` int64 digit labels 0-9. Fresh tensors: changing them changes no cache.

    Raises:
        ValueError: unknown ``split`` or a ``limit`` that is not a positive int.
        DatasetNotFoundError: files missing and not downloadable (offline, or ``download=False``).
        DataDirNotWritableError: files missing and the folder is read-only.
        DatasetCorruptError: a file has the wrong checksum, is not valid bz2, or holds a line
            that is not ``label index:value ...`` with a label 1-10 and at most 256 numbers.
    """
    spec = _USPS
    _check_split(spec, split)
    limit = _check_limit(limit)
    folder = _folder(spec, root)
    _ensure_files(spec, folder, list(_SPLITS[split]), split=split, download=download)

    parsed = [_read_verified(spec, folder, s) for s in _SPLITS[split]]
    images = parsed[0][0] if len(parsed) == 1 else np.concatenate([p[0] for p in parsed])
    labels = parsed[0][1] if len(parsed) == 1 else np.concatenate([p[1] for p in parsed])

    n = len(images) if limit is None else min(limit, len(images))
    X = torch.from_numpy(images[:n].copy())  # a copy: the cached array is never exposed
    X = X.reshape(n, _USPS_SIZE * _USPS_SIZE) if flatten else X.reshape(n, 1, _USPS_SIZE, _USPS_SIZE)
    y = torch.from_numpy(labels[:n].copy())
    return X, y


# --------------------------------------------------------------------------------------------
# Finding and downloading the files (every file-based dataset)
# --------------------------------------------------------------------------------------------

def _ensure_files(spec: _DatasetSpec, folder: Path, parts: list[str], split: str, download: bool) -> None:
    """Make sure the files of ``parts`` (keys of ``spec.files``) exist in ``folder``,
    downloading them if allowed.

    Raises:
        DatasetNotFoundError: some are missing and ``download`` is false or downloading failed.
        DataDirNotWritableError: some are missing and ``folder`` cannot be written.
    """
    files = spec.files
    missing = [files[p][0] for p in parts if not (folder / files[p][0]).is_file()]
    if not missing:
        return
    if not download:
        raise DatasetNotFoundError(_not_found_message(
            spec, folder, missing, split, "Nothing was downloaded because download=False.",
            download_off=True))

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirNotWritableError(_not_writable_message(spec, folder, missing, split, exc)) from exc

    md5_of = {name: md5 for name, md5 in files.values()}
    dead_mirrors: set[str] = set()  # mirrors that did not answer at all; not retried
    errors: list[str] = []
    still_missing = []
    for name in missing:
        if dead_mirrors.issuperset(spec.mirrors) and errors:  # offline: do not retry each file
            still_missing.append(name)
            continue
        error = _download(spec, name, md5_of[name], folder, split, dead_mirrors)
        if error is not None:
            errors.append(error)
            still_missing.append(name)
    if still_missing:
        raise DatasetNotFoundError(_not_found_message(
            spec, folder, still_missing, split, f"Downloading them failed; last error: {errors[-1]}."))


def _download(spec: _DatasetSpec, name: str, md5: str, folder: Path, split: str,
              dead_mirrors: set[str]) -> str | None:
    """Download ``name`` into ``folder`` from the first of ``spec.mirrors`` that gives the right bytes.

    The bytes go to a temporary file in the same folder, are checked against ``md5``, and only
    then renamed (atomically) to ``name``; on any failure the temporary file is removed.
    Returns ``None`` on success, else a short description of the last failure.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise DataDirNotWritableError(_not_writable_message(spec, folder, [name], split, exc)) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    last_error = f"no mirror was tried ({spec.mirrors_attr} is empty)"
    try:
        for mirror in spec.mirrors:
            if mirror in dead_mirrors:
                continue
            url = mirror + name
            try:
                actual = _fetch(url, tmp, name)
            except urllib.error.HTTPError as exc:  # the mirror answered, but not with the file
                last_error = f"{url}: HTTP {exc.code} {exc.reason}"
                continue
            except _NETWORK_ERRORS as exc:
                dead_mirrors.add(mirror)
                last_error = f"{url}: {_short_reason(exc)}"
                continue
            if actual != md5:
                last_error = f"{url} gave a file with MD5 {actual}, expected {md5} (discarded)"
                continue
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a dataset file is for everyone
            os.replace(tmp, folder / name)
            return None
        return last_error
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful os.replace


def _fetch(url: str, dest: Path, name: str) -> str:
    """Stream ``url`` into ``dest`` (overwriting it) with a progress bar; return the MD5 of the bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, open(dest, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=f"Downloading {name}", leave=False) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _short_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}"


def _urls_for(spec: _DatasetSpec, names: list[str]) -> str:
    mirrors = spec.mirrors
    if not mirrors:
        return f"    (no mirrors configured in course_utils.data.{spec.mirrors_attr})"
    lines = [f"    {mirrors[0]}{name}" for name in names]
    if len(mirrors) > 1:
        lines.append(f"    (or the same names under {', '.join(mirrors[1:])})")
    return "\n".join(lines)


def _not_found_message(spec: _DatasetSpec, folder: Path, names: list[str], split: str, why: str,
                       download_off: bool = False) -> str:
    return (
        f"{spec.display} split {split!r} is not available: missing {', '.join(names)} in {folder}.\n"
        f"{why}\n"
        "To fix this, do one of:\n"
        f"  - copy the files into {folder}/ ; they can be downloaded from\n{_urls_for(spec, names)}\n"
        f"  - set COURSE_DATA_DIR (or pass root=...) to a folder that holds {spec.folder}/raw/ with "
        "these files, e.g. `export COURSE_DATA_DIR=/path/to/shared/data`;\n"
        + ("  - rerun without download=False (downloading missing files is the default) on a "
           "machine with network access." if download_off else
           "  - rerun on a machine with network access (missing files are downloaded then).")
    )


def _not_writable_message(spec: _DatasetSpec, folder: Path, names: list[str], split: str,
                          exc: OSError) -> str:
    return (
        f"{spec.display} split {split!r} is not available: missing {', '.join(names)} in {folder}, and "
        f"they cannot be downloaded there because the folder is not writable "
        f"({type(exc).__name__}: {exc}).\n"
        "To fix this, do one of:\n"
        "  - set COURSE_DATA_DIR to a writable folder (e.g. `export COURSE_DATA_DIR=$HOME/course-data`) "
        "and rerun to download there;\n"
        f"  - copy the files into {folder}/ ; they can be downloaded from\n{_urls_for(spec, names)}"
    )


# --------------------------------------------------------------------------------------------
# Checksums and the file formats (IDX, LIBSVM text in bz2)
# --------------------------------------------------------------------------------------------

def _read_verified(spec: _DatasetSpec, folder: Path, part: str) -> Any:
    """Check the MD5 of one file of ``spec``, then parse it (both cached per path, size and mtime).

    Returns, read-only (callers must copy): for an IDX dataset uint8 images ``(N, 28, 28)`` or
    labels ``(N,)``; for USPS ``(images, labels)``, float32 ``(N, 16, 16)`` in ``[0, 1]`` and
    int64 ``(N,)`` digits 0-9.

    Raises:
        DatasetCorruptError: the checksum does not match, or the file is not in the right format.
    """
    name, md5 = spec.files[part]
    path = folder / name
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key + (md5,) not in _VERIFIED:
        actual = _md5_of_file(path)
        if actual != md5:
            raise DatasetCorruptError(
                f"{spec.display} file {path} is corrupt: its MD5 checksum is {actual}, expected {md5} "
                "(the published checksum). It was probably cut off during a download or changed "
                f"since. Delete it (`rm '{path}'`) and rerun {spec.loader}() to download it again, or "
                f"copy a fresh copy of {name} into {folder}/."
            )
        _VERIFIED.add(key + (md5,))
    if key not in _PARSED:
        if len(_PARSED) >= _PARSED_MAX_ENTRIES:
            _PARSED.pop(next(iter(_PARSED)))  # forget the oldest entry
        if spec.file_format == "libsvm":
            _PARSED[key] = _read_usps(path, spec)
        else:
            is_images = part.endswith("_images")
            _PARSED[key] = _read_idx(path, _IMAGE_MAGIC if is_images else _LABEL_MAGIC, spec)
    return _PARSED[key]


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_idx(path: Path, magic: int, spec: _DatasetSpec = _MNIST) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes (of the dataset ``spec``, named in errors).

    Layout: big-endian int32 magic (``2051`` images, ``2049`` labels), then one big-endian
    int32 per dimension, then the data. Returns images ``(N, 28, 28)`` or labels ``(N,)`` uint8.

    Raises:
        DatasetCorruptError: not gzip, wrong magic or image size, a length that does not match
            the header, or a label above 9.
    """

    def malformed(problem: str) -> DatasetCorruptError:
        return DatasetCorruptError(
            f"{path} is not a valid {spec.display} IDX file: {problem}. Delete it and rerun "
            f"{spec.loader}() to download it again (or copy a fresh copy of the original .gz file there)."
        )

    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise malformed(f"it could not be decompressed as gzip ({exc})") from exc

    kind, ndim = ("images", 3) if magic == _IMAGE_MAGIC else ("labels", 1)
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise malformed(f"it has only {len(raw)} bytes, less than the {header_bytes}-byte header")
    found_magic = int.from_bytes(raw[:4], "big")
    if found_magic != magic:
        raise malformed(f"its magic number is {found_magic}, expected {magic} (an IDX {kind} file)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and dims[1:] != (_IMAGE_SIZE, _IMAGE_SIZE):
        raise malformed(f"its images are {dims[1]}x{dims[2]}, expected {_IMAGE_SIZE}x{_IMAGE_SIZE}")
    expected_bytes = header_bytes + int(np.prod(dims))
    if len(raw) != expected_bytes:
        raise malformed(
            f"it has {len(raw)} bytes after decompression, but its header (dims {dims}) "
            f"implies {expected_bytes}"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(dims)
    if kind == "labels" and data.size and data.max() > 9:
        raise malformed(f"it holds label {int(data.max())}, expected 0-9")
    return data


# One LIBSVM line: a label, then `index:value` pairs separated by white space.
_LIBSVM_LINE = re.compile(r"\s*(\S+)((?:\s+[0-9]+:[^\s:]+)*)\s*")
_LIBSVM_PAIR = re.compile(r"[0-9]+:[^\s:]+")


def _read_usps(path: Path, spec: _DatasetSpec = _USPS) -> tuple[np.ndarray, np.ndarray]:
    """Parse one of LIBSVM's USPS files: bz2-compressed ASCII, one ``label index:value ...`` line
    per image, labels 1-10, indices 1-256 (missing ones are background, -1), values in ``[-1, 1]``.

    Never evaluates anything; reads at most ``_USPS_MAX_BYTES`` decompressed bytes.

    Returns:
        read-only ``images``: ``(N, 16, 16)`` float32 ``(value + 1) / 2`` clipped to ``[0, 1]``,
        and ``labels``: ``(N,)`` int64 ``label - 1`` (digits 0-9).

    Raises:
        DatasetCorruptError: not bz2, too large, not ASCII, no examples, or a line with a label
            that is not an integer 1-10, a pair that is not ``index:value``, a value that is not a
            finite number, an index outside 1-256 or given twice, or more than 256 values.
    """
    n_pixels = _USPS_SIZE * _USPS_SIZE

    def malformed(problem: str) -> DatasetCorruptError:
        return DatasetCorruptError(
            f"{path} is not a valid {spec.display} file (LIBSVM text, one `label index:value ...` line "
            f"per image): {problem}. Delete it and rerun {spec.loader}() to download it again (or copy "
            f"a fresh copy of {path.name} into {path.parent}/)."
        )

    try:
        with bz2.open(path, "rb") as f:
            raw = f.read(_USPS_MAX_BYTES + 1)  # bounded: a bz2 bomb stops here
    except (OSError, EOFError, ValueError) as exc:
        raise malformed(f"it could not be decompressed as bz2 ({exc})") from exc
    if len(raw) > _USPS_MAX_BYTES:
        raise malformed(f"it decompresses to more than {_USPS_MAX_BYTES:,} bytes, far more than USPS holds")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise malformed(f"it is not ASCII text (byte {exc.start} is {raw[exc.start]:#04x})") from exc

    rows: list[np.ndarray] = []
    labels: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LIBSVM_LINE.fullmatch(line)
        if match is None:
            bad = next((t for t in line.split()[1:] if not _LIBSVM_PAIR.fullmatch(t)), line.strip())
            raise malformed(f"line {lineno}: {bad[:40]!r} is not an `index:value` pair")
        label_text, pairs_text = match.groups()
        try:
            label = float(label_text)
        except ValueError:
            raise malformed(f"line {lineno}: the label {label_text[:40]!r} is not a number") from None
        if not (label.is_integer() and 1 <= label <= 10):
            raise malformed(f"line {lineno}: the label {label_text[:40]!r} is not an integer 1-10")
        numbers = pairs_text.replace(":", " ").split()  # index, value, index, value, ...
        if len(numbers) > 2 * n_pixels:
            raise malformed(f"line {lineno} has {len(numbers) // 2} values, expected at most {n_pixels}")
        try:
            pairs = np.array(numbers, dtype=np.float64).reshape(-1, 2)
        except ValueError:
            bad = next((v for v in numbers[1::2] if not _is_float(v)), "?")
            raise malformed(f"line {lineno}: the value {bad[:40]!r} is not a number") from None
        index, value = pairs[:, 0], pairs[:, 1]
        if not np.all(np.isfinite(value)):
            bad_at = int(np.flatnonzero(~np.isfinite(value))[0])
            raise malformed(f"line {lineno}: the value {numbers[2 * bad_at + 1][:40]!r} is not a finite number")
        if index.size and (index.min() < 1 or index.max() > n_pixels):
            raise malformed(f"line {lineno}: index {int(index.max() if index.max() > n_pixels else index.min())} "
                            f"is outside 1-{n_pixels}")
        index = index.astype(np.int64) - 1
        if np.unique(index).size != index.size:
            raise malformed(f"line {lineno} gives a pixel index twice")
        row = np.full(n_pixels, -1.0)  # a missing index is background
        row[index] = value
        rows.append(row)
        labels.append(int(label) - 1)
    if not rows:
        raise malformed("it holds no examples")

    images = np.clip((np.stack(rows) + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)
    images = images.reshape(-1, _USPS_SIZE, _USPS_SIZE)
    targets = np.array(labels, dtype=np.int64)
    images.setflags(write=False)
    targets.setflags(write=False)
    return images, targets


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# scikit-learn's 8x8 digits
# --------------------------------------------------------------------------------------------

def load_digits(limit: int | None = None, flatten: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's embedded 8x8 handwritten digits (1,797 images; no download needed).

    Args:
        limit: keep only the first ``limit`` examples; ``None`` keeps all.
        flatten: ``True`` gives ``X: (N, 64)``, ``False`` gives images ``X: (N, 1, 8, 8)``.

    Returns:
        ``X``: ``(N, 64)`` or ``(N, 1, 8, 8)`` float32 in ``[0, 1]`` (pixel values 0-16 / 16);
        ``y``: ``(N,)`` int64 digit labels 0-9.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    limit = _check_limit(limit)
    bunch = sklearn_load_digits()
    n = len(bunch.target) if limit is None else min(limit, len(bunch.target))
    X = torch.from_numpy((bunch.data[:n] / 16.0).astype(np.float32))
    X = X.reshape(n, 64) if flatten else X.reshape(n, 1, 8, 8)
    y = torch.from_numpy(bunch.target[:n].astype(np.int64))
    return X, y


# --------------------------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------------------------

def random_affine(
    x: torch.Tensor,
    max_rotation: float = 10.0,
    max_shift: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly rotated and shifted copies of a batch of square grey images.

    ``x``: ``(B, H*W)`` flattened or ``(B, 1, H, W)`` images; the result has the same shape.
    Each image is rotated by an angle drawn uniformly from ``[-max_rotation, max_rotation]``
    degrees and shifted by up to ``max_shift`` of its width and height (uniformly, in each
    direction), with bilinear interpolation and zeros (black) filled in at the borders.
    ``generator`` makes the draws repeatable.
    """
    import torch.nn.functional as F

    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features per row, not a square image; pass (B, 1, H, W).")
        images = x.reshape(len(x), 1, side, side)
    elif x.ndim == 4 and x.shape[1] == 1:
        images = x
    else:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (B, H*W) or (B, 1, H, W) grey images.")
    b = len(images)
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_rotation)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * 2 * max_shift   # the grid spans [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


# --------------------------------------------------------------------------------------------
# Synthetic Gaussian mixtures with known parameters
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)  # eq on NumPy arrays is ambiguous; compare fields yourself
class GaussianMixtureData:
    """Samples from a diagonal Gaussian mixture, with the true parameters that generated them.

    Attributes:
        X: ``(N, D)`` float32 samples.
        y: ``(N,)`` int64 index of the component each sample came from.
        weights: ``(K,)`` float64 mixing weights (sum to 1).
        means: ``(K, D)`` float64 component means.
        variances: ``(K, D)`` float64 diagonal variances.
    """

    X: torch.Tensor
    y: torch.Tensor
    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray


def make_gaussian_mixture(
    n: int = 1000,
    k: int = 3,
    d: int = 2,
    weights: Any = None,
    means: Any = None,
    variances: Any = None,
    spread: float = 5.0,
    seed: int = 0,
) -> GaussianMixtureData:
    """Sample ``n`` points from a ``k``-component diagonal Gaussian mixture in ``d`` dimensions.

    Parameters not given are drawn at random from ``np.random.default_rng(seed)`` (global random
    state is neither used nor changed):

    - ``weights: (K,)`` ~ Dirichlet(5, ..., 5): unequal but no tiny cluster;
    - ``means: (K, D)`` ~ Normal(0, spread^2): larger ``spread``, better separated clusters;
    - ``variances: (K, D)`` ~ Uniform(0.5, 1.5).

    Given ``weights`` must be positive; they are normalised to sum to 1. Given ``variances`` must
    be positive. Component labels ``z ~ Categorical(weights)``, then
    ``x = means[z] + sqrt(variances[z]) * eps`` with ``eps ~ Normal(0, I)``.

    Returns:
        ``GaussianMixtureData`` with ``X: (n, d)`` float32, ``y: (n,)`` int64 and the true
        parameters as float64 NumPy arrays.
    """
    for label, value in (("n", n), ("k", k), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{label} must be a positive int, got {value!r}.")
    if not np.isfinite(spread) or spread <= 0:
        raise ValueError(f"spread must be a positive number (the scale of the random means), got {spread!r}.")
    rng = np.random.default_rng(seed)

    if weights is None:
        weights = rng.dirichlet(np.full(k, 5.0))
    else:
        weights = _as_param(weights, "weights", (k,), hint="one weight per component")
        if np.any(weights <= 0):
            raise ValueError(
                f"weights must all be positive (they are normalised to sum to 1), got {weights.tolist()}."
            )
        weights = weights / weights.sum()
    if means is None:
        means = rng.normal(0.0, spread, size=(k, d))
    else:
        means = _as_param(means, "means", (k, d), hint="one row of d coordinates per component")
    if variances is None:
        variances = rng.uniform(0.5, 1.5, size=(k, d))
    else:
        variances = _as_param(variances, "variances", (k, d),
                              hint="one row of d diagonal variances per component")
        if np.any(variances <= 0):
            raise ValueError(
                "variances must all be positive (they are the diagonal of each covariance), "
                f"got minimum {variances.min()}."
            )

    z = rng.choice(k, size=n, p=weights)
    x = means[z] + np.sqrt(variances[z]) * rng.standard_normal((n, d))
    return GaussianMixtureData(
        X=torch.from_numpy(x.astype(np.float32)),
        y=torch.from_numpy(z.astype(np.int64)),
        weights=weights,
        means=means,
        variances=variances,
    )


def _as_param(value: Any, label: str, shape: tuple[int, ...], hint: str) -> np.ndarray:
    """A given mixture parameter as a float64 array of exactly ``shape``, or a clear error."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must be an array of numbers with shape {shape}, got {value!r}.") from exc
    if arr.shape != shape:
        names = "(k,)" if len(shape) == 1 else "(k, d)"
        raise ValueError(
            f"{label} has shape {arr.shape}, expected {names} = {shape} ({hint}). "
            "Pass k= and d= that match the parameters you give."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label} must be finite numbers (no NaN or inf).")
    return arr


# --------------------------------------------------------------------------------------------
# One entry point by name
# --------------------------------------------------------------------------------------------

def _gaussian_mixture_xy(**kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    data = make_gaussian_mixture(**kwargs)
    return data.X, data.y


#: name -> loader returning ``(X, y)``; keyword arguments go to the loader.
DATASETS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "digits": load_digits,
    "fashion-mnist": load_fashion_mnist,
    "gaussian_mixture": _gaussian_mixture_xy,
    "kmnist": load_kmnist,
    "mnist": load_mnist,
    "usps": load_usps,
}

# name -> (image shape (C, H, W) or None, number of classes or None, one-line description)
_DATASET_INFO: dict[str, tuple[tuple[int, int, int] | None, int | None, str]] = {
    "digits": ((1, 8, 8), 10,
               "scikit-learn's 8x8 handwritten digits: 1,797 grey images, digits 0-9 (no download)."),
    "fashion-mnist": ((1, 28, 28), 10,
                      "Fashion-MNIST: 28x28 grey images of 10 kinds of clothing, 60,000 train / 10,000 test."),
    "gaussian_mixture": (None, None,
                         ("Synthetic points from a diagonal Gaussian mixture: k classes (default 3) "
                          "in d dimensions (default 2).")),
    "kmnist": ((1, 28, 28), 10,
               ("Kuzushiji-MNIST: 28x28 grey cursive Japanese characters (10 hiragana), "
                "60,000 train / 10,000 test.")),
    "mnist": ((1, 28, 28), 10, "MNIST: 28x28 grey handwritten digits 0-9, 60,000 train / 10,000 test."),
    "usps": ((1, 16, 16), 10, "USPS: 16x16 grey handwritten digits 0-9, 7,291 train / 2,007 test."),
}


def load_dataset(name: str, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset by name: ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ``"usps"``,
    ``"digits"`` or ``"gaussian_mixture"`` (the keys of ``DATASETS``).

    ``kwargs`` go to the loader: ``load_mnist``, ``load_fashion_mnist``, ``load_kmnist``,
    ``load_usps``, ``load_digits`` or ``make_gaussian_mixture``.

    Returns:
        ``(X, y)``: ``X: (N, D)`` float32 (images ``(N, 1, H, W)`` with ``flatten=False``),
        ``y: (N,)`` int64.

    Raises:
        ValueError: an unknown ``name`` (the message lists the valid ones and suggests the
            closest); otherwise whatever the loader raises.
    """
    if name not in DATASETS:
        raise _unknown_dataset(name)
    return DATASETS[name](**kwargs)


def dataset_info(name: str) -> dict[str, Any]:
    """What the dataset ``name`` (a key of ``DATASETS``) holds, without loading it.

    Returns:
        a new dict with ``"name"``; ``"image_shape"``: ``(channels, height, width)`` of one
        image, e.g. ``(1, 28, 28)``, or ``None`` where the data are not images
        (``gaussian_mixture``); ``"n_classes"``: the number of classes, or ``None`` where the
        arguments set it (``gaussian_mixture``'s ``k``); ``"description"``: one line.

    Raises:
        ValueError: an unknown ``name`` (as ``load_dataset`` says it).
    """
    if name not in DATASETS:
        raise _unknown_dataset(name)
    if name not in _DATASET_INFO:
        raise ValueError(f"Dataset {name!r} is registered in DATASETS but has no entry in "
                         "course_utils.data._DATASET_INFO; add its image shape, classes and description there.")
    image_shape, n_classes, description = _DATASET_INFO[name]
    return {"name": name, "image_shape": image_shape, "n_classes": n_classes, "description": description}


def _unknown_dataset(name: object) -> ValueError:
    message = f"Unknown dataset {name!r}. Valid names: {', '.join(sorted(DATASETS))}."
    close = difflib.get_close_matches(str(name).lower(), sorted(DATASETS), n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return ValueError(message)


# --------------------------------------------------------------------------------------------
# Moving MNIST (week 07)
# --------------------------------------------------------------------------------------------

#: The standard Moving MNIST test file (Srivastava et al. 2015): 10,000 sequences of 20 frames of
#: 64x64 pixels, ``(20, 10000, 64, 64)`` uint8; its MD5 as torchvision's ``MovingMNIST`` checks it.
MOVING_MNIST_FILE = "mnist_test_seq.npy"
MOVING_MNIST_MD5 = "be083ec986bfe91a449d63653c411eb2"

#: How the 10,000 MNIST test digits are split between the sequences we generate: the first 8,000
#: make training sequences, the last 2,000 test sequences, so no test digit is ever seen in training.
MOVING_MNIST_SPLIT = {"train": (0, 8000), "test": (8000, 10000)}


def make_moving_mnist(
    n_sequences: int,
    split: str = "train",
    seq_len: int = 20,
    size: int = 64,
    n_digits: int = 2,
    step: float = 0.1,
    seed: int = 0,
    digits: torch.Tensor | None = None,
    return_meta: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Moving MNIST sequences generated as Srivastava, Mansimov & Salakhutdinov (ICML 2015) do.

    Each sequence puts ``n_digits`` 28x28 MNIST digits on a ``size`` x ``size`` black canvas; each
    digit starts at a random position and moves in a random direction at a constant speed of
    ``step`` times the free range (``size - 28`` pixels) per frame, bouncing off the walls; digits
    are combined by the pixel-wise maximum. The digits come from the MNIST test split: indices
    0-7,999 for ``split="train"``, 8,000-9,999 for ``"test"`` (``MOVING_MNIST_SPLIT``), or from
    ``digits: (M, 28, 28)`` when given. Seeded: the same arguments give the same sequences.

    Returns ``(n_sequences, seq_len, size, size)`` float32 in [0, 1]; with ``return_meta=True`` also
    a dict of what made each sequence (to evaluate, never to train on): ``"labels"``
    ``(n_sequences, n_digits)`` the digits' classes (-1 when ``digits`` were given) and
    ``"velocity"`` ``(n_sequences, n_digits, seq_len, 2)`` each digit's unit direction ``(vx, vy)``
    when frame ``t`` was drawn (after the bounces so far; x to the right, y down).
    """
    if split not in MOVING_MNIST_SPLIT:
        raise ValueError(f"split={split!r}; expected one of {sorted(MOVING_MNIST_SPLIT)}.")
    if n_sequences < 1 or seq_len < 1 or n_digits < 1:
        raise ValueError(f"n_sequences={n_sequences}, seq_len={seq_len}, n_digits={n_digits}: all must be >= 1.")
    if size < 28:
        raise ValueError(f"size={size}: the canvas must hold a 28x28 digit.")
    classes = None
    if digits is None:
        lo, hi = MOVING_MNIST_SPLIT[split]
        images, image_labels = load_mnist(split="test", flatten=False)
        digits, classes = images[lo:hi], image_labels[lo:hi].numpy()
    digits = torch.as_tensor(digits, dtype=torch.float32).reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    lim = size - 28
    out = torch.zeros(n_sequences, seq_len, size, size)
    labels = np.full((n_sequences, n_digits), -1, dtype=np.int64)
    velocity = np.zeros((n_sequences, n_digits, seq_len, 2))
    for n in range(n_sequences):
        for d in range(n_digits):
            index = int(rng.integers(len(digits)))
            image = digits[index]
            if classes is not None:
                labels[n, d] = classes[index]
            x, y = rng.random(2)
            theta = rng.random() * 2 * np.pi
            vx, vy = np.sin(theta), np.cos(theta)
            for t in range(seq_len):
                velocity[n, d, t] = vx, vy
                top, left = int(round(y * lim)), int(round(x * lim))
                window = out[n, t, top:top + 28, left:left + 28]
                torch.maximum(window, image, out=window)
                x, y = x + vx * step, y + vy * step
                if x < 0.0 or x > 1.0:
                    vx, x = -vx, min(max(x, 0.0), 1.0)
                if y < 0.0 or y > 1.0:
                    vy, y = -vy, min(max(y, 0.0), 1.0)
    return (out, {"labels": labels, "velocity": velocity}) if return_meta else out


def moving_mnist_clips(n_sequences: int, split: str = "train", resolution: int = 64, seed: int = 0,
                       seq_len: int = 20, n_digits: int = 2,
                       return_meta: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[str, np.ndarray]]:
    """``make_moving_mnist`` sequences at 64x64 as ``(N, T, 1, R, R)`` videos for the predictors,
    average-pooled to ``resolution`` (64, 32 or 16) for the fast mode: the same motion, smaller frames.
    ``return_meta``: also ``make_moving_mnist``'s labels and velocities."""
    if resolution not in (16, 32, 64):
        raise ValueError(f"resolution={resolution}; expected 64 (the standard), 32 or 16.")
    video, meta = make_moving_mnist(n_sequences, split, seq_len=seq_len, n_digits=n_digits, seed=seed,
                                    return_meta=True)
    video = video[:, :, None]
    if resolution != 64:
        factor = 64 // resolution
        video = torch.nn.functional.avg_pool2d(video.flatten(0, 1), factor).unflatten(0, video.shape[:2])
    return (video, meta) if return_meta else video


def load_moving_mnist_standard(root: str | Path | None = None) -> torch.Tensor:
    """The standard Moving MNIST test set, ``(10000, 20, 64, 64)`` float32 in [0, 1].

    Read with torchvision's ``MovingMNIST`` from ``<root>/MovingMNIST/mnist_test_seq.npy`` (default
    root: ``COURSE_DATA_DIR``) after checking the file's MD5. It is never downloaded here: a missing
    file is a ``DatasetNotFoundError`` that says where to put it; a damaged one a ``DatasetCorruptError``.
    """
    from torchvision.datasets import MovingMNIST

    root = Path(root) if root is not None else config.data_dir()
    path = root / "MovingMNIST" / MOVING_MNIST_FILE
    if not path.exists():
        raise DatasetNotFoundError(
            f"The standard Moving MNIST file is not at {path}. Download {MOVING_MNIST_FILE} (about 800 MB) from "
            "http://www.cs.toronto.edu/~nitish/unsupervised_video/ into that folder, or use "
            "make_moving_mnist() to generate sequences from the MNIST digits.")
    if _md5_of_file(path) != MOVING_MNIST_MD5:
        raise DatasetCorruptError(
            f"{path} does not have the published MD5 {MOVING_MNIST_MD5}: it is damaged or another file. "
            "Delete it and download it again.")
    frames = MovingMNIST(root=str(root), split=None, download=False)
    return torch.stack([frames[i] for i in range(len(frames))]).squeeze(2).float() / 255.0
