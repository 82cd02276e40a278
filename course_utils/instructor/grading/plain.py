"""Plain data between the grader's two kernels: numbers, strings, arrays and tensors, nothing else.

The tests of a submission run in a trusted kernel; the student's code runs in a sandboxed one.
What crosses between them is written with ``np.savez`` and read with
``np.load(..., allow_pickle=False)``: a JSON description of the value (``spec``) plus its arrays.
No pickle, no code, no object of a class the reader did not choose: a value that is not plain data
arrives as an ``Opaque`` marker that names its type, and using it fails with that name.

Plain data is: ``None``, ``bool``, ``int``, ``float``, ``str``; NumPy arrays and scalars of numeric
or boolean dtype; torch tensors (dtype and ``requires_grad`` kept) and dtypes; lists, tuples, dicts
and ``torch.Size`` of plain data. Two kinds of object travel as plain data in one direction only:

- to the sandbox, a module of the course (``torch.nn`` layers, or a ``course_utils`` class built
  with ``@records_init_args``): its class name, constructor arguments and tensors;
- from the sandbox, a fitted ``sklearn.mixture.GaussianMixture``: its parameters and fitted arrays
  (the trusted side builds its own mixture from those numbers).
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

MAX_BYTES = 512 * 1024 * 1024   # a message larger than this is refused (before it is read)
MAX_DEPTH = 32


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
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(dumps(message, arrays))
    tmp.replace(path)


def read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A message written by ``write``; never unpickles anything; refuses files over MAX_BYTES."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise NotPlainData(f"a message of {size / 2**20:.0f} MiB is larger than the grader accepts")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    raw = arrays.pop("__message__", None)
    if raw is None or raw.dtype.kind != "U" or raw.shape != ():
        raise NotPlainData("malformed message")
    message = json.loads(str(raw[()]))
    if not isinstance(message, dict):
        raise NotPlainData("malformed message")
    return message, arrays
