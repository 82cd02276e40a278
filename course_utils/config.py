"""Run-time settings shared by every notebook: fast mode, folders, device, seeding.

Everything here is read from environment variables so that the same notebook runs
unchanged in CI (fast mode, read-only data folder) and on a student's laptop or a GPU box:

- ``COURSE_FAST=1``       fast mode: small data, few epochs (about a minute per notebook on a CPU)
- ``COURSE_DATA_DIR``     where datasets are read from / downloaded to (default ``<repo>/data``)
- ``COURSE_CACHE_DIR``    where checkpoints and derived files go (default ``<repo>/data/cache``)
- ``COURSE_DEVICE``       force a device (``cpu``, ``cuda``, ``mps``); default: best available
- ``COURSE_PORTABLE_MATH=0`` fast mode without ``portable_math`` (the CPU libraries' fastest code)
"""
from __future__ import annotations

import os
import platform
import random
import sys
import warnings
from pathlib import Path
from typing import TypeVar

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

T = TypeVar("T")


def _env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"{name}={os.environ[name]!r} is not understood: use 1 (on) or 0 (off)."
    )


def is_fast() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes/on (CI and quick checks)."""
    return _env_flag("COURSE_FAST")


def mode() -> str:
    """``"fast"`` or ``"full"``, from ``COURSE_FAST``: what a notebook's parameters cell passes to
    ``settings.week`` (the library itself takes the mode as a value, never from the environment)."""
    return "fast" if is_fast() else "full"


def pick(fast: T, full: T) -> T:
    """Choose a value for the current mode: ``N = pick(fast=2000, full=10000)``.

    The course's own settings live in ``settings.py`` (``settings.week``); this is for a value of
    your own, in a copy of a notebook or a script.
    """
    return fast if is_fast() else full


def _folder_from_env(name: str, default: Path) -> Path:
    """A folder named by an environment variable; a relative path is taken from the repo root.

    Notebook kernels run inside ``notebooks/`` or ``solutions/``, so resolving against the
    current directory would make ``COURSE_DATA_DIR=../shared/data`` mean different folders in
    a terminal and in a notebook.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    path = Path(raw).expanduser()
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def data_dir() -> Path:
    """Folder datasets are read from (``COURSE_DATA_DIR``, default ``<repo>/data``).

    It may be read-only (CI mounts a shared copy); nothing but dataset downloads is written here.
    A relative value is taken relative to the repository root.
    """
    return _folder_from_env("COURSE_DATA_DIR", REPO_ROOT / "data")


def cache_dir(create: bool = True) -> Path:
    """Folder for checkpoints and derived files (``COURSE_CACHE_DIR``, default ``<repo>/data/cache``).

    A relative value is taken relative to the repository root.
    """
    path = _folder_from_env("COURSE_CACHE_DIR", REPO_ROOT / "data" / "cache")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"Cannot create the cache folder {path} ({exc}). Point COURSE_CACHE_DIR at a "
                "writable folder, e.g. `export COURSE_CACHE_DIR=/tmp/course-cache`."
            ) from exc
    return path


def get_device(prefer: str | None = None):
    """Best available ``torch.device``: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or ``COURSE_DEVICE``) forces one; asking for a device that is not there
    raises an error that says which devices are available.
    """
    import torch

    available = ["cpu"]
    if torch.cuda.is_available():
        available.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        available.insert(len(available) - 1, "mps")
    wanted = (prefer or os.environ.get("COURSE_DEVICE", "")).strip().lower()
    if not wanted:
        return torch.device(available[0])
    if wanted.split(":")[0] not in available:
        raise ValueError(
            f"Device {wanted!r} was asked for (argument or COURSE_DEVICE) but is not available "
            f"here; available: {', '.join(available)}. Unset COURSE_DEVICE to use the best one."
        )
    return torch.device(wanted)


#: What fast mode sets so that the CPU libraries add their terms in one order on every x86-64
#: processor. Fast mode's printed numbers are compared by CI (nbval, the shipped grid); a model trained
#: for a few hundred steps amplifies a different last bit into a different printed accuracy, and by
#: default MKL, torch's own kernels and oneDNN each pick code for the processor they find (AVX-512
#: and AVX2 machines sum in different orders). With these, every processor that has AVX2 runs the
#: same code: MKL's ``COMPATIBLE`` branch (SSE2, documented to give the same results on Intel and
#: compatible processors), torch's AVX2 kernels, and no oneDNN (``portable_math`` turns it off, so a
#: convolution becomes an MKL product). Full mode leaves the libraries their fastest code.
PORTABLE_MATH_ENV = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2"}


def portable_math() -> None:
    """Make this process compute fast mode's numbers with the same code on every x86-64 CPU.

    Sets ``PORTABLE_MATH_ENV`` (read by MKL at its first call and by torch at its first kernel, so
    it must come first; ``course_utils`` does it on import when ``COURSE_FAST=1``) and, once torch is
    imported, turns oneDNN off. It costs speed (measured on an AVX-512 Xeon, one thread): fast mode's
    fully connected networks train about 1.7 times slower, PredNet's convolutions 2.5 times.
    ``COURSE_PORTABLE_MATH=0`` leaves the libraries alone (the numbers then differ from the
    committed ones on some CPUs). Elsewhere than x86-64 (an ARM laptop) it does nothing: the
    committed numbers are x86-64's.
    """
    raw = os.environ.get("COURSE_PORTABLE_MATH", "").strip().lower()
    if raw in _FALSE - {""}:
        return
    if raw not in _TRUE | {""}:
        raise ValueError(f"COURSE_PORTABLE_MATH={os.environ['COURSE_PORTABLE_MATH']!r} is not understood: use 0 "
                         "(let MKL and torch pick the processor's fastest code) or 1 (the default in fast mode).")
    if platform.machine().lower() not in ("x86_64", "amd64"):   # MKL and these kernels are x86-64's
        return
    os.environ.update(PORTABLE_MATH_ENV)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.backends.mkldnn.enabled = False
        if torch.backends.cpu.get_cpu_capability() == "AVX512":   # fixed by an earlier kernel: too late
            warnings.warn("torch already chose its AVX-512 kernels in this process, so fast mode's numbers may "
                          "differ from the committed ones: import course_utils before running anything in torch "
                          "(or restart the kernel).", RuntimeWarning, stacklevel=2)


def seed_everything(seed: int, deterministic: bool = True, mode: str | None = None) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); optionally ask torch for deterministic kernels.

    ``deterministic=True`` sets ``torch.use_deterministic_algorithms(True, warn_only=True)`` and
    cuDNN's deterministic flags, so a rerun on the same machine gives the same numbers. In fast
    mode it also pins torch to one CPU thread: a matrix product split over 2 or 8 threads adds
    its terms in another order, the last bits differ, and over a few hundred training steps that
    moves a printed accuracy by a few thousandths; with one thread the fast-mode outputs (which
    CI compares) are the same on any core count. Full mode keeps all threads. ``mode`` (``"fast"``
    or ``"full"``) is the caller's; a notebook leaves it out and gets ``mode()``, from the environment.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r}).")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # week 01 can run without torch
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    fast = is_fast() if mode is None else mode == "fast"
    if deterministic and fast:
        torch.set_num_threads(1)
        portable_math()
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _shown(path: Path) -> str:
    """A folder relative to the repo root, so notebook outputs never hold an absolute path."""
    return os.path.relpath(path, REPO_ROOT).replace(os.sep, "/") + "/"


def describe() -> str:
    """One line for a notebook's first cell: mode, device, folders (relative to the repo root)."""
    mode = "FAST (COURSE_FAST=1)" if is_fast() else "FULL"
    try:
        device = str(get_device())
    except Exception as exc:  # shown to the user instead of failing
        device = f"unavailable ({exc})"
    data = _shown(data_dir())
    cache = _shown(cache_dir(create=False))
    return f"mode: {mode} | device: {device} | data: {data} | cache: {cache}"
