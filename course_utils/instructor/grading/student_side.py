"""The grader's agent inside the student's (sandboxed) kernel: calls the student's code on request.

The trusted kernel that runs a test cell asks, through ``serve(request_path)``, for one of:

- ``describe``: what the notebook's names are (a function, a class, a module, a value, missing);
- ``call``: call a function, a class, or a method of an object that lives here, with plain-data
  arguments, and answer with the result as plain data (objects that are not plain data stay
  here as numbered handles, or are answered as opaque);
- ``backward``: gradients of the outputs of an earlier call with respect to its inputs;
- ``release``: forget the calls and handles of a finished test cell, and put back the random state
  the notebook had before the test.

It never sees a test. Nothing here is trusted: the answer is plain data that the trusted kernel
reads with ``allow_pickle=False`` and checks itself. Requests are read from a folder this kernel
cannot write; replies go to the exchange folder, where the trusted side reads them without
following links.

While it calls the student's code, it watches (``sys.setprofile``) whether the course's own
implementation of the exercise under test runs (``delegation.py``), and says so in its answer.
"""
from __future__ import annotations

import inspect
import json
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.checks._common import resolve_implementations, uses_course_implementation
from course_utils.instructor.grading import plain

_CALLS: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}   # call id -> (leaves, outputs)
_OBJECTS: dict[int, Any] = {}                                     # handle id -> object
_SAVED_RNG: list[Any] = []
_MAX_MESSAGE = 4000
_WATCHED: dict[str, tuple[dict, dict]] = {}   # watch spec (JSON) -> (code objects, classes)
_LAST_HITS: list[str] = []                     # what the last call's watch saw (errors too)


def _namespace() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def _unwrap(value: Any) -> Any:
    """The student's own function behind the course's reference fallback stand-in."""
    return getattr(value, "__course_reference_for__", None) or value


def _signature(value: Any) -> list | None:
    try:
        sig = inspect.signature(value)
    except (TypeError, ValueError):
        return None
    return [[p.name, int(p.kind), p.default is not inspect.Parameter.empty]
            for p in sig.parameters.values()]


def _handle(packer: plain.Packer, value: Any) -> dict:
    """The spec of a value that stays here: a module (with its tree and tensors) or opaque."""
    if _is_module(value):
        hid = len(_OBJECTS) + 1
        _OBJECTS[hid] = value
        return {"t": "handle", "id": hid, "kind": "module", "tree": _tree(packer, value)}
    return {"t": "opaque", "type": type(value).__qualname__[:200]}


def _tree(packer: plain.Packer, module: Any) -> dict:
    """A module's structure: its type, standard layers' recipes, its own tensors, its children."""
    try:
        recipe = plain.module_recipe(module) if type(module).__module__.startswith("torch.nn") else None
    except plain.NotPlainData:
        recipe = None
    own = {k: packer.tensor(v) for k, v in module._parameters.items() if v is not None}
    buffers = {k: packer.tensor(v) for k, v in module._buffers.items() if v is not None}
    attrs = {}
    for name, value in vars(module).items():   # plain attributes (sizes, flags): copied
        if name.startswith("_") or name == "training" or callable(value):
            continue
        try:
            attrs[name] = packer.encode(value)
        except plain.NotPlainData:
            continue
    return {"type": type(module).__qualname__[:200], "torch": recipe is not None, "attrs": attrs,
            "cls": recipe["cls"] if recipe else None,
            "kwargs": recipe.get("kwargs") if recipe else None,
            "params": own, "buffers": buffers,
            "children": {k: _tree(packer, m) for k, m in module.named_children()}}


def _rng_state() -> dict:
    """The global random states (torch's only if the notebook imported torch)."""
    torch = sys.modules.get("torch")
    state = torch.get_rng_state().numpy().copy() if torch is not None else np.zeros(0, np.uint8)
    return {"torch": state, "np": np.random.get_state()}


def _set_rng(state: dict) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and np.asarray(state["torch"]).size:
        torch.set_rng_state(torch.from_numpy(np.asarray(state["torch"], dtype=np.uint8).copy()))
    np.random.set_state(tuple(state["np"]))


def _pack_rng(packer: plain.Packer) -> dict:
    state = _rng_state()
    name, keys, pos, has_gauss, cached = state["np"]
    return {"torch": packer._key(state["torch"]),
            "np": [name, packer._key(np.asarray(keys)), int(pos), int(has_gauss), float(cached)]}


def _unpack_rng(spec: dict, unpacker: plain.Unpacker) -> dict:
    name, keys, pos, has_gauss, cached = spec["np"]
    return {"torch": unpacker.array(spec["torch"]),
            "np": (str(name), unpacker.array(keys), int(pos), int(has_gauss), float(cached))}


def _is_module(value: Any, cls: bool = False) -> bool:
    """An nn.Module (or, with ``cls``, a subclass of it); torch is not imported for this."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return issubclass(value, torch.nn.Module) if cls else isinstance(value, torch.nn.Module)


def _watched(watch: dict | None) -> tuple[dict, dict]:
    """The course's implementations the grader watches for: {code object: label} and
    {exercise: [(object, label)]} (``course_utils.checks._common``'s form)."""
    if not watch:
        return {}, {}
    key = json.dumps(watch, sort_keys=True)
    if key in _WATCHED:
        return _WATCHED[key]
    implementations = resolve_implementations({str(k): [str(t) for t in v] for k, v in watch.items()})
    codes: dict = {}
    for entries in implementations.values():
        for obj, label in entries:
            functions = [getattr(v, "__func__", v) for v in vars(obj).values()] if isinstance(obj, type) else [obj]
            for fn in functions:
                code = getattr(inspect.unwrap(fn) if callable(fn) else fn, "__code__", None)
                if code is not None:
                    codes[code] = label
    _WATCHED[key] = (codes, implementations)
    return codes, implementations


def _delegates(value: Any, watch: dict | None) -> str:
    """A label if ``value`` is the course's implementation itself, or a class derived from it."""
    return uses_course_implementation(value, _watched(watch)[1])


class _Watch:
    """While active: which watched code objects ran (in any thread), and whether the student's
    code switched the watching off (a call of ``sys.setprofile`` or ``threading.setprofile``)."""

    def __init__(self, watch: dict | None) -> None:
        self.codes, _ = _watched(watch)
        self.hits: set[str] = set()
        self.active = False

    def _hook(self, frame, event, arg) -> None:
        if not self.active:
            return
        if event == "call":
            label = self.codes.get(frame.f_code)
            if label:
                self.hits.add(label)
        elif event == "c_call" and arg in (sys.setprofile, threading.setprofile, sys.settrace, sys.getprofile):
            self.hits.add("switched off the grader's watch for the course's implementation")

    def __enter__(self) -> "_Watch":
        if self.codes:
            threading.setprofile(self._hook)
            sys.setprofile(self._hook)
            self.active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.codes:
            self.active = False
            sys.setprofile(None)
            threading.setprofile(None)


def _describe(names: list[str], packer: plain.Packer, watch: dict | None = None) -> dict:
    ns, out = _namespace(), {}
    for name in names:
        if name not in ns:
            out[name] = {"kind": "missing"}
            continue
        value = _unwrap(ns[name])
        used = _delegates(value, watch)
        if used:
            out[name] = {"kind": "missing", "delegated": used}
            continue
        if isinstance(value, type):
            out[name] = {"kind": "class", "module": _is_module(value, cls=True),
                         "signature": _signature(value)}
        elif _is_module(value) or not callable(value):
            out[name] = {"kind": "value", "value": packer.encode(value)}
        else:
            out[name] = {"kind": "function", "signature": _signature(value)}
    return out


def _target(spec: dict) -> Any:
    if "name" in spec:
        ns = _namespace()
        if spec["name"] not in ns:
            raise NameError(f"name {spec['name']!r} is not defined")
        return _unwrap(ns[spec["name"]])
    obj = _OBJECTS[int(spec["handle"])]
    attr = str(spec.get("attr", "__call__"))
    return obj if attr == "__call__" else getattr(obj, attr)


def _decode_handles(unpacker: plain.Unpacker, spec: dict) -> Any:
    """Arguments the trusted side sends: course modules (rebuilt here) and handles of ours."""
    import torch

    if spec.get("t") == "module":
        module = plain.build_module(spec["recipe"])
        _load_state(module, spec["state"], unpacker)
        unpacker.modules.append((spec.get("id"), module))
        return module
    if spec.get("t") == "handle":
        module = _OBJECTS[int(spec["id"])]
        if isinstance(module, torch.nn.Module):
            _load_state(module, spec.get("state", {}), unpacker)
        return module
    raise plain.NotPlainData("malformed message")


def _load_state(module: Any, state: dict, unpacker: plain.Unpacker) -> None:
    """Copy tensors (by dotted name) into a module; parameters stay the module's own leaves."""
    import torch

    current = plain.module_tensors(module)
    with torch.no_grad():
        for name, tspec in state.items():
            value = unpacker.tensor(tspec)
            target = current.get(name)
            if target is None:
                continue
            if target.shape == value.shape and target.dtype == value.dtype:
                if not torch.equal(target, value):   # unchanged: keep earlier graphs usable
                    target.copy_(value)
            else:
                target.data = value.detach()
            if isinstance(target, torch.nn.Parameter):
                if target.requires_grad != bool(tspec.get("rg")):
                    target.requires_grad_(bool(tspec.get("rg")))
                target.grad = None if tspec.get("grad") is None else value.grad
            unpacker.decoded[tspec["a"]] = target   # the leaf for gradients is the module's own


def _call(message: dict, unpacker: plain.Unpacker, packer: plain.Packer) -> dict:
    torch = sys.modules.get("torch")   # not imported by the notebook: no tensor can be involved
    _set_rng(_unpack_rng(message["rng"], unpacker))
    unpacker.modules = []
    target = _target(message["target"])
    args, kwargs = unpacker.decode(message["args"]), unpacker.decode(message["kwargs"])
    if message["target"].get("self_first"):   # the model's own tensors came first: skip them
        args = args[1:]
    before = {k: unpacker.array(k) for k, v in unpacker.decoded.items()
              if torch is None or not isinstance(v, torch.nn.Parameter)}
    trace: list = []
    hooks = []
    if torch is not None and message.get("trace") and message["target"].get("self_first"):
        named = dict(_OBJECTS[int(message["target"]["handle"])].named_modules())
        for name in message["trace"]:
            if name in named:
                hooks.append(named[name].register_forward_hook(
                    lambda m, i, o, name=name: trace.append([name, [t.detach() for t in i if torch.is_tensor(t)],
                                                             o.detach() if torch.is_tensor(o) else None])))
    watch = _Watch(message.get("watch"))
    try:
        with watch:
            if torch is None:
                result = target(*args, **kwargs)
            else:
                with torch.set_grad_enabled(bool(message.get("grad", True))):
                    result = target(*args, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
        _LAST_HITS[:] = sorted(watch.hits)
    reply: dict[str, Any] = {"result": packer.encode(result), "trace": packer.encode(trace),
                             "delegated": sorted(watch.hits)}
    # inputs the call changed in place (the trusted side copies the change into its own)
    changed = {}
    for key, obj in unpacker.decoded.items():
        if key not in before:
            continue
        is_tensor = torch is not None and torch.is_tensor(obj)
        now = obj.detach().cpu().numpy() if is_tensor else np.asarray(obj)
        if now.shape != before[key].shape or not np.array_equal(now, before[key], equal_nan=True):
            changed[key] = packer.encode(obj.detach() if is_tensor else np.asarray(obj))
    reply["changed"] = changed
    reply["modules"] = {str(mid): {k: packer.tensor(v) for k, v in plain.module_tensors(m).items()}
                        for mid, m in unpacker.modules}
    reply["rng"] = _pack_rng(packer)
    if torch is None:
        return reply
    outputs = {k: v for k, v in packer.origins.items() if torch.is_tensor(v) and v.requires_grad}
    leaves = {k: v for k, v in unpacker.decoded.items() if torch.is_tensor(v) and v.requires_grad}
    if outputs and leaves:
        call_id = len(_CALLS) + 1
        _CALLS[call_id] = (leaves, outputs)
        reply["call"] = call_id
    return reply


def _backward(message: dict, unpacker: plain.Unpacker, packer: plain.Packer) -> dict:
    import torch

    leaves, outputs = _CALLS[int(message["call"])]
    grads_out = {k: unpacker.tensor(v) for k, v in message["grads"].items()}
    outs = [outputs[k] for k in grads_out if k in outputs]
    gos = [grads_out[k].to(outputs[k].dtype) for k in grads_out if k in outputs]
    wrt = [k for k in message["wrt"] if k in leaves]
    grads = torch.autograd.grad(outs, [leaves[k] for k in wrt], gos, retain_graph=True,
                                allow_unused=True) if outs and wrt else []
    return {"grads": {k: (None if g is None else packer.tensor(g)) for k, g in zip(wrt, grads)}}


def _release(message: dict) -> dict:
    _CALLS.clear()
    _OBJECTS.clear()
    if message.get("save_rng"):
        _SAVED_RNG[:] = [_rng_state()]
    elif _SAVED_RNG:
        _set_rng(_SAVED_RNG.pop())
    return {}


def _student_frames(exc: BaseException) -> str:
    """The part of a traceback that lies in the student's notebook cells (never the grader's)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(str(Path(__file__).parent))]
    return "".join(traceback.format_list(frames[-6:]))[-_MAX_MESSAGE:]


def _error(exc: BaseException) -> dict:
    builtin = next((c.__name__ for c in type(exc).__mro__
                    if c.__module__ == "builtins" and issubclass(c, Exception)), "Exception")
    try:
        text = str(exc)
    except Exception:  # a student's exception whose __str__ fails
        text = "(its message could not be read)"
    return {"ok": False, "ename": type(exc).__name__[:100], "base": builtin,
            "evalue": text[:_MAX_MESSAGE], "where": _student_frames(exc)}


def serve(request_path: str, reply_path: str) -> None:
    """Answer the request in ``request_path`` with the file ``reply_path``."""
    request, reply_path = Path(request_path), Path(reply_path)
    packer = plain.Packer(handles=_handle)
    _LAST_HITS.clear()
    try:
        message, arrays = plain.read(request)
        unpacker = plain.Unpacker(arrays, handles=_decode_handles)
        op = message.get("op")
        if op == "describe":
            reply = {"names": _describe(list(message["names"]), packer, message.get("watch"))}
        elif op == "call":
            reply = _call(message, unpacker, packer)
        elif op == "backward":
            reply = _backward(message, unpacker, packer)
        elif op == "release":
            reply = _release(message)
        else:
            raise ValueError(f"unknown request {op!r}")
        reply["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - every failure of the student's code is the answer
        packer = plain.Packer()
        reply = _error(exc)
        reply["delegated"] = list(_LAST_HITS)
        if isinstance(exc, KeyboardInterrupt):
            reply["interrupted"] = True
    plain.write(reply_path, reply, packer.arrays)
