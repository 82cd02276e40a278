"""Plain data between the grader's two kernels: numbers, strings, arrays and tensors, nothing else.

The tests of a submission run in a trusted kernel; the student's code runs in a sandboxed one.
What crosses between them is one ``.npz`` file per message, written with ``np.savez``: a JSON
description of the value (``spec``) plus its arrays. No pickle, no code, no object of a class the
reader did not choose: a value that is not plain data arrives as an ``Opaque`` marker that names its
type, and using it fails with that name.

The sandbox writes the replies the trusted kernel reads, and can plant files and symbolic links in
the folder they are exchanged through, so ``read`` does not use ``np.load``: it opens only a regular
file (never a symbolic link, FIFO or device) of at most ``MAX_BYTES``, reads it into memory, and
parses the zip and the ``.npy`` headers itself, checking these caps before it allocates any
array: at most ``MAX_MEMBERS`` arrays, ``MAX_INFLATED`` bytes once inflated (and no member inflating
more than ``MAX_RATIO``-fold), a ``.npy`` header of at most ``MAX_HEADER`` bytes, plain dtypes only
(bool, integer, float, complex, unicode; no object or structured dtype), exactly as many data bytes
as the header's shape declares, and a JSON description of at most ``MAX_MESSAGE_CHARS`` characters.
Anything else is refused with ``NotPlainData``. ``write`` never follows a symbolic link: it writes a
new file under an unpredictable name (``O_EXCL | O_NOFOLLOW``) and renames it into place.

Plain data is: ``None``, ``bool``, ``int``, ``float``, ``str``; NumPy arrays and scalars of numeric
or boolean dtype; torch tensors (dtype and ``requires_grad`` kept) and dtypes; lists, tuples, dicts
and ``torch.Size`` of plain data. Two kinds of object travel as plain data in one direction only:

- to the sandbox, a module of the course (``torch.nn`` layers, or a ``course_utils`` class built
  with ``@records_init_args``): its class name, constructor arguments and tensors;
- from the sandbox, a fitted ``sklearn.mixture.GaussianMixture``: its parameters and fitted arrays
  (the trusted side builds its own mixture from those numbers).
"""
from __future__ import annotations

import errno
import io
import json
import math
import os
import secrets
import stat
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

MAX_BYTES = 512 * 1024 * 1024   # a message file larger than this is refused (before it is read)
MAX_INFLATED = 1024 * 1024 * 1024   # ... and one whose arrays add up to more than this once inflated
MAX_MEMBERS = 10_000            # ... or that holds more arrays than this
MAX_RATIO = 100                 # ... or has an array that inflates more than this (beyond its 1st MiB)
MAX_HEADER = 4096               # ... or an array whose .npy header is longer than this (bytes)
MAX_MESSAGE_CHARS = 16 * 1024 * 1024   # ... or a JSON description longer than this
MAX_DEPTH = 32

_PLAIN_KINDS = "biufcU"         # bool, int, uint, float, complex; unicode (the JSON description)
_CHUNK = 1024 * 1024            # arrays are copied out of the file this many bytes at a time
_RATIO_SLACK = 1024 * 1024      # the first MiB of an array is exempt from MAX_RATIO
_TEMP_TRIES = 8                 # random names tried for write's temporary file


class NotPlainData(TypeError):
    """A value that cannot travel between the kernels as plain data."""


class Opaque:
    """A value of type ``type_name`` that stayed in the sandbox; any use of it fails."""

    def __init__(self, type_name: str) -> None:
        object.__setattr__(self, "type_name", type_name)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise NotPlainData(
            f"a {self.type_name} object cannot be checked by the grader: return numbers, arrays or "
            "tensors (or tuples, lists and dicts of them), as the exercise asks"
        )

    __getattr__ = __call__ = __iter__ = __len__ = __getitem__ = __bool__ = __float__ = __int__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __array__ = __index__ = _refuse
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self.type_name} (stayed in the student's kernel)>"


# --------------------------------------------------------------------------------------------
# Modules of the course: rebuilt from their recipe (trusted -> sandbox only)
# --------------------------------------------------------------------------------------------

#: torch.nn layers rebuilt from their attributes: class -> attributes passed to the constructor
_TORCH_LAYERS: dict[str, tuple[str, ...]] = {
    "Linear": ("in_features", "out_features"),
    "ReLU": (), "Sigmoid": (), "Tanh": (), "Identity": (), "Softplus": ("beta", "threshold"),
    "LeakyReLU": ("negative_slope",), "ELU": ("alpha",), "Flatten": ("start_dim", "end_dim"),
    "Softmax": ("dim",), "LogSoftmax": ("dim",), "Dropout": ("p",),
    "Sequential": (), "ModuleList": (),
}


def module_recipe(module: Any) -> dict:
    """How to rebuild ``module`` elsewhere: class, constructor arguments, children (no tensors)."""
    import torch.nn as nn

    cls = type(module)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__module__.startswith("torch.nn") and cls.__name__ in _TORCH_LAYERS:
        kwargs = {a: getattr(module, a) for a in _TORCH_LAYERS[cls.__name__]}
        if cls is nn.Linear:
            kwargs["bias"] = module.bias is not None
        children = {k: module_recipe(m) for k, m in module.named_children()}
        return {"cls": f"torch.nn.{cls.__name__}", "kwargs": _spec_only(kwargs), "children": children}
    if name.startswith("course_utils.") and isinstance(getattr(module, "init_kwargs", None), dict):
        return {"cls": name, "init": _spec_only(module.init_kwargs)}
    raise NotPlainData(
        f"a {cls.__qualname__} module cannot be sent to the student's kernel: only torch.nn layers and "
        "course_utils models built with @records_init_args can (use one of those in tests)"
    )


def _spec_only(value: Any) -> Any:
    """Constructor arguments: plain Python values and small tensors, as JSON."""
    packer = Packer()
    spec = packer.encode(value)
    return {"spec": spec, "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape),
                                         "data": v.ravel().tolist()} for k, v in packer.arrays.items()}}


def _from_spec_only(packed: dict) -> Any:
    arrays = {k: np.asarray(v["data"], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
              for k, v in packed["arrays"].items()}
    return Unpacker(arrays).decode(packed["spec"])


def build_module(recipe: dict) -> Any:
    """The module a recipe describes (sandbox side), with freshly initialised tensors."""
    import importlib

    import torch.nn as nn

    cls_name = recipe["cls"]
    if cls_name.startswith("torch.nn."):
        cls = getattr(nn, cls_name.rsplit(".", 1)[1])
        kwargs = _from_spec_only(recipe["kwargs"])
        if cls in (nn.Sequential,):
            return cls(*(build_module(r) for r in recipe["children"].values()))
        if cls is nn.ModuleList:
            return cls([build_module(r) for r in recipe["children"].values()])
        return cls(**kwargs)
    if not cls_name.startswith("course_utils."):
        raise NotPlainData(f"{cls_name} is not a course module")
    module_name, _, qualname = cls_name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), qualname)
    return cls(**_from_spec_only(recipe["init"]))


# --------------------------------------------------------------------------------------------
# Values <-> (spec, arrays)
# --------------------------------------------------------------------------------------------

class Packer:
    """Turns values into a JSON spec plus arrays; remembers which object each array came from.

    ``origins[key]`` is the tensor or array behind array ``key`` (so that a reply can name it);
    ``handles(value)``, if given, returns the spec of a value that is not plain data (else
    ``NotPlainData`` is raised).
    """

    def __init__(self, handles: Any = None) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.origins: dict[str, Any] = {}
        self.handles = handles

    def _key(self, array: np.ndarray, origin: Any = None) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        if origin is not None:
            self.origins[key] = origin
        return key

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise NotPlainData("the value is nested too deeply")
        if value is None or type(value) in (bool, str, int):
            return {"t": "py", "v": value}
        if type(value) is float:
            return {"t": "float", "v": repr(value)}
        if isinstance(value, np.generic) and value.dtype.kind in "biufc":
            return {"t": "npscalar", "a": self._key(np.asarray(value))}
        if type(value) is np.ndarray:
            if value.dtype.kind not in "biufcU":
                raise NotPlainData(f"an array of dtype {value.dtype} is not plain data")
            return {"t": "nd", "a": self._key(np.array(value, copy=True, order="C"), value)}
        torch = sys.modules.get("torch")   # no tensor can exist before torch is imported
        if torch is None:
            return self._other(value, depth)
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).rsplit(".", 1)[1]}
        if type(value) is torch.Size:
            return {"t": "size", "v": [int(v) for v in value]}
        if torch.is_tensor(value):
            return self.tensor(value)
        return self._other(value, depth)

    def _other(self, value: Any, depth: int) -> Any:
        if type(value) in (list, tuple):
            return {"t": type(value).__name__, "v": [self.encode(v, depth + 1) for v in value]}
        if type(value) is dict:
            return {"t": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in value.items()]}
        gmm = self._gmm(value)
        if gmm is not None:
            return gmm
        if self.handles is not None:
            return self.handles(self, value)
        raise NotPlainData(f"a {type(value).__qualname__} object is not plain data")

    def tensor(self, t: Any) -> dict:
        import torch

        data = t.detach().cpu()
        if data.dtype == torch.bfloat16:
            data = data.float()
        key = self._key(np.array(data.resolve_conj().resolve_neg().numpy(), copy=True, order="C"), t)
        spec = {"t": "tensor", "a": key, "dtype": str(t.dtype).rsplit(".", 1)[1],
                "rg": bool(t.requires_grad), "param": isinstance(t, torch.nn.Parameter)}
        if t.is_leaf and t.grad is not None:
            spec["grad"] = self._key(np.array(t.grad.detach().cpu().numpy(), copy=True, order="C"))
        return spec

    def module(self, module: Any) -> dict:
        """A course module, to be rebuilt in the sandbox: recipe plus every tensor."""
        return {"t": "module", "recipe": module_recipe(module),
                "state": {k: self.tensor(v) for k, v in module_tensors(module).items()}}

    def _gmm(self, value: Any) -> dict | None:
        if not type(value).__module__.startswith("sklearn.mixture"):
            return None
        try:
            from sklearn.mixture import GaussianMixture
        except ImportError:  # pragma: no cover
            return None
        if type(value) is not GaussianMixture:
            return None
        fitted = {k: getattr(value, k) for k in _GMM_FITTED if hasattr(value, k)}
        return {"t": "gmm", "params": self.encode(dict(value.get_params()), 1),
                "fitted": self.encode(fitted, 1)}


def module_tensors(module: Any) -> dict[str, Any]:
    """Every parameter and buffer of a module, by dotted name."""
    out = dict(module.named_parameters())
    out.update(dict(module.named_buffers()))
    return out


_GMM_FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
               "converged_", "n_iter_", "lower_bound_", "n_features_in_")


class Unpacker:
    """Turns a spec plus arrays back into values; ``decoded[key]`` is the tensor built from ``key``.

    ``handles(unpacker, spec)`` decodes the kinds this module does not know (e.g. handles of
    objects that stayed in the other kernel); without it such a spec is an error.
    """

    def __init__(self, arrays: dict[str, np.ndarray], handles: Any = None) -> None:
        self.arrays = arrays
        self.decoded: dict[str, Any] = {}
        self.handles = handles

    def array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise NotPlainData("malformed message")
        return self.arrays[key]

    def decode(self, spec: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH or not isinstance(spec, dict):
            raise NotPlainData("malformed message")
        kind = spec.get("t")
        if kind == "py":
            v = spec.get("v")
            if v is None or type(v) in (bool, int, str):
                return v
            raise NotPlainData("malformed message")
        if kind == "float":
            return float(spec["v"])
        if kind == "npscalar":
            return self.array(spec["a"])[()]
        if kind == "nd":
            out = np.array(self.array(spec["a"]), copy=True)
            self.decoded[spec["a"]] = out
            return out
        if kind == "tensor":
            return self.tensor(spec)
        import torch

        if kind == "dtype":
            dtype = getattr(torch, str(spec.get("v")), None)
            if not isinstance(dtype, torch.dtype):
                raise NotPlainData("malformed message")
            return dtype
        if kind == "size":
            return torch.Size([int(v) for v in spec["v"]])
        if kind in ("list", "tuple"):
            items = [self.decode(v, depth + 1) for v in spec["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            out = {}
            for k, v in spec["v"]:
                key = self.decode(k, depth + 1)
                if not isinstance(key, (str, int, float, bool, type(None))):
                    raise NotPlainData("malformed message")
                out[key] = self.decode(v, depth + 1)
            return out
        if kind == "gmm":
            from sklearn.mixture import GaussianMixture

            params, fitted = self.decode(spec["params"], 1), self.decode(spec["fitted"], 1)
            if not isinstance(params, dict) or not isinstance(fitted, dict):
                raise NotPlainData("malformed message")
            gmm = GaussianMixture(**{k: v for k, v in params.items() if isinstance(k, str)})
            for k, v in fitted.items():
                if k in _GMM_FITTED:
                    setattr(gmm, k, v)
            return gmm
        if kind == "opaque":
            return Opaque(str(spec.get("type", "unknown"))[:200])
        if self.handles is not None:
            return self.handles(self, spec)
        raise NotPlainData(f"malformed message (kind {kind!r})")

    def tensor(self, spec: dict) -> Any:
        import torch

        dtype = getattr(torch, str(spec.get("dtype")), None)
        if not isinstance(dtype, torch.dtype):
            raise NotPlainData("malformed message")
        t = torch.from_numpy(np.array(self.array(spec["a"]), copy=True)).to(dtype)
        grad = spec.get("grad")
        if spec.get("param"):
            t = torch.nn.Parameter(t, requires_grad=bool(spec.get("rg")))
        elif spec.get("rg") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        if grad is not None:
            t.grad = torch.from_numpy(np.array(self.array(grad), copy=True)).to(dtype)
        self.decoded[spec["a"]] = t
        return t


# --------------------------------------------------------------------------------------------
# Messages: one .npz file each
# --------------------------------------------------------------------------------------------

def dumps(message: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """A message (JSON-able dict) and its arrays as the bytes of one ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, __message__=np.array(json.dumps(message)), **arrays)
    return buffer.getvalue()


def write(path: Path, message: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a message to ``path`` (atomically), never following a symbolic link.

    The bytes go to a new file of an unpredictable name next to ``path``, created with
    ``O_EXCL | O_NOFOLLOW`` (so nothing planted there, link or file, is ever opened), then renamed
    onto ``path`` (a link already at ``path`` is replaced, not followed).
    """
    path = Path(path)
    data = dumps(message, arrays)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMP_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileExistsError:   # someone else's file or link: leave it alone, pick another name
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, f"could not create a new temporary file next to {path} "
                              f"({_TEMP_TRIES} random names were taken)")
    try:
        with memoryview(data) as view:
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A message written by ``write``; never unpickles anything, never trusts the file.

    Refuses (``NotPlainData``) what is not a regular file, a file over ``MAX_BYTES``, an archive
    over the caps above, and any array that is not plain data; reads without ``np.load``.
    """
    arrays = _read_npz(_read_file(Path(path)))
    raw = arrays.pop("__message__", None)
    if raw is None or raw.dtype.kind != "U" or raw.shape != ():
        raise NotPlainData("malformed message")
    if raw.dtype.itemsize // 4 > MAX_MESSAGE_CHARS:
        raise NotPlainData(f"a message of {raw.dtype.itemsize // 4} characters is larger than the "
                           "grader accepts")
    try:
        message = json.loads(str(raw[()]))
    except (ValueError, RecursionError, SystemError):
        raise NotPlainData("malformed message") from None
    if not isinstance(message, dict):
        raise NotPlainData("malformed message")
    return message, arrays


class NotARegularFile(ValueError):
    """What ``open_regular`` found instead of a regular file (a link, a folder, a pipe, ...)."""


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A read-only descriptor of ``path`` and its ``fstat``, if it is a regular file: never
    follows a symbolic link, never blocks on a FIFO (``O_NOFOLLOW | O_NONBLOCK``). Else
    ``NotARegularFile`` says what it is; other errors (a missing file) are raised as they are.
    The caller closes the descriptor."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
            raise NotARegularFile("a symbolic link") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotARegularFile("not a regular file (a folder, a pipe or a device)")
    return fd, info


def _too_large(size: int) -> NotPlainData:
    return NotPlainData(f"a message of {size / 2**20:.0f} MiB is larger than the grader accepts")


def _read_file(path: Path) -> np.ndarray:
    """The bytes of ``path``, if it is a regular file (not a link) of at most MAX_BYTES.

    They are read into a NumPy buffer: a snapshot the sandbox cannot change while it is parsed, and
    (NumPy asks for large pages) much faster to fill than a ``bytes`` of 100 MB.
    """
    try:
        fd, info = open_regular(path)
    except NotARegularFile as exc:
        raise NotPlainData(f"{path.name} is {exc}, not a message") from None
    try:
        if info.st_size > MAX_BYTES:
            raise _too_large(info.st_size)
        # one byte more than the size: a file that grew since fstat is refused, not read on and on
        buffer = np.empty(min(info.st_size, MAX_BYTES) + 1, dtype=np.uint8)
        view, size = memoryview(buffer), 0
        while size < len(view):
            got = os.readv(fd, [view[size:size + (1 << 30)]])
            if not got:
                break
            size += got
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise _too_large(size)
    if size != info.st_size:
        raise NotPlainData(f"{path.name} changed while it was read")
    return buffer[:size]


class _MemoryFile:
    """A read-only, seekable file over a buffer (``io.BytesIO`` would copy a non-``bytes`` one)."""

    def __init__(self, buffer: Any) -> None:
        self._view = memoryview(buffer).cast("B").toreadonly()
        self._pos = 0

    def read(self, n: int | None = -1) -> bytes:
        start = min(self._pos, len(self._view))
        end = len(self._view) if n is None or n < 0 else min(start + n, len(self._view))
        self._pos = max(self._pos, end)
        return self._view[start:end].tobytes()

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def flush(self) -> None:
        pass


#: what a zip or .npy header that does not parse raises (all of it becomes NotPlainData)
_MALFORMED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, TypeError,
              KeyError, IndexError, OverflowError, struct.error, zlib.error, NotImplementedError,
              RuntimeError)


def _read_npz(data: Any) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file whose bytes are ``data``, read within the caps."""
    _check_directory_size(data)
    try:
        with zipfile.ZipFile(_MemoryFile(data)) as zf:
            infos = zf.infolist()
            keys = _check_members(infos, len(data))
            return {key: _read_member(zf, info) for key, info in zip(keys, infos)}
    except NotPlainData:
        raise
    except _MALFORMED as exc:
        raise NotPlainData(f"malformed message file ({type(exc).__name__}: {str(exc)[:200]})") from None


def _check_directory_size(data: Any) -> None:
    """Refuse an archive of far more than MAX_MEMBERS entries before ``zipfile`` parses them all.

    ``zipfile`` builds an object per entry of the central directory, which a 512 MiB file could
    make millions of; the bound here is loose (an entry takes 46 bytes or more; ``np.savez``'s take
    about 55), so the exact count is checked once they are parsed.
    """
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is not None:
        try:
            end = end_record(_MemoryFile(data))
        except NotPlainData:
            raise
        except _MALFORMED:
            end = None
        if end is None:
            raise NotPlainData("malformed message file (not a zip archive)")
        # zipfile reads the central directory's entries from these bytes, 46 bytes at least each
        entries = min(int(end[zipfile._ECD_SIZE]), len(data)) // zipfile.sizeCentralDir
    else:  # pragma: no cover - an upper bound too: every entry starts with this signature
        entries = bytes(data).count(zipfile.stringCentralDir)
    if entries > 2 * MAX_MEMBERS:
        raise NotPlainData(f"a message of more than {MAX_MEMBERS} arrays is more than the grader accepts")


def _check_members(infos: list[zipfile.ZipInfo], file_size: int) -> list[str]:
    """The keys of the arrays, once every member is known to be within the caps."""
    if len(infos) > MAX_MEMBERS:
        raise NotPlainData(f"a message of {len(infos)} arrays is more than the grader accepts")
    keys: list[str] = []
    keys_seen: set[str] = set()
    total = 0
    for info in infos:
        if not info.filename.endswith(".npy") or info.filename[:-4] in keys_seen:
            raise NotPlainData("malformed message file (unexpected member)")
        if info.flag_bits & 0x1:
            raise NotPlainData("malformed message file (encrypted member)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise NotPlainData("malformed message file (unexpected compression)")
        if info.compress_size > file_size or (info.compress_type == zipfile.ZIP_STORED
                                              and info.compress_size != info.file_size):
            raise NotPlainData("malformed message file (inconsistent sizes)")
        if info.file_size > _RATIO_SLACK + MAX_RATIO * info.compress_size:
            raise NotPlainData(f"an array of the message inflates {info.file_size / 2**20:.0f} MiB out "
                               f"of {info.compress_size / 2**20:.1f} MiB: refused")
        total += info.file_size
        if total > MAX_INFLATED:
            raise NotPlainData(f"a message of more than {MAX_INFLATED / 2**20:.0f} MiB (inflated) is "
                               "larger than the grader accepts")
        keys.append(info.filename[:-4])
        keys_seen.add(keys[-1])
    return keys


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member: header checked first, then exactly the bytes it declares."""
    with zf.open(info) as f:
        shape, fortran_order, dtype, header_size = _read_npy_header(f)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if header_size + nbytes != info.file_size:
            raise NotPlainData(f"an array of the message declares shape {shape[:8]} of {dtype} "
                               f"({nbytes} bytes) but holds {info.file_size - header_size} bytes")
        flat = np.empty(count, dtype=dtype)     # at most info.file_size bytes: within the caps
        raw = flat.view(np.uint8)
        done = 0
        while done < nbytes:
            chunk = f.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise NotPlainData("malformed message file (truncated array)")
            raw[done:done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            done += len(chunk)
        if f.read(1):
            raise NotPlainData("malformed message file (trailing bytes after an array)")
    if dtype.kind == "U" and count:   # code points past U+10FFFF would crash str() (SystemError)
        if int(raw.view(np.dtype("u4").newbyteorder(dtype.byteorder)).max()) > sys.maxunicode:
            raise NotPlainData("malformed message file (a string that is not unicode)")
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)


def _read_npy_header(f: Any) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, order, dtype and header length of a ``.npy`` stream; only plain dtypes pass."""
    magic = f.read(np.lib.format.MAGIC_LEN)
    version = np.lib.format.read_magic(io.BytesIO(magic))
    if version not in ((1, 0), (2, 0)):
        raise NotPlainData(f"malformed message file (.npy version {version})")
    length_format = "<H" if version == (1, 0) else "<I"
    length = f.read(struct.calcsize(length_format))
    header_length = struct.unpack(length_format, length)[0]
    if header_length > MAX_HEADER:
        raise NotPlainData(f"malformed message file (.npy header of {header_length} bytes)")
    header = f.read(header_length)
    if len(header) != header_length:
        raise NotPlainData("malformed message file (truncated .npy header)")
    parse = (np.lib.format.read_array_header_1_0 if version == (1, 0)
             else np.lib.format.read_array_header_2_0)
    shape, fortran_order, dtype = parse(io.BytesIO(length + header), max_header_size=MAX_HEADER)
    if (dtype.kind not in _PLAIN_KINDS or dtype.hasobject or dtype.names is not None
            or dtype.subdtype is not None or dtype.itemsize == 0):
        raise NotPlainData(f"an array of dtype {dtype} is not plain data")
    if any(type(n) is not int or n < 0 for n in shape):
        raise NotPlainData(f"malformed message file (shape {shape[:8]})")
    return tuple(shape), bool(fortran_order), dtype, len(magic) + len(length) + header_length
