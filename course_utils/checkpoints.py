"""The checkpoint cache: "load if cached, else train and cache".

``cached(name, config, build, train)`` stores a model's ``state_dict`` as
``<COURSE_CACHE_DIR>/<name>-<hash>.pt``, where ``hash`` is a hash of ``config`` (JSON, sorted
keys) and the seed, so a changed config never loads a stale model. It is loaded with
``torch.load(..., weights_only=True)``; a damaged or incompatible file is reported with a
warning and retrained. Nothing is ever written to the data folder.

It sits below ``models/`` (it imports only ``config``), so a model module may cache what it
trains; ``train`` re-exports every name here.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from course_utils import config as course_config
from course_utils.memory import PeakMemory

__all__ = ["CheckpointWarning", "fingerprint", "config_hash", "checkpoint_path", "cached", "load_history",
           "replay_history", "CACHE_EVENTS"]


class CheckpointWarning(UserWarning):
    """A cached checkpoint could not be used and the model is trained again."""


def replay_history(monitor: Any, history: Mapping[str, Sequence[Any]] | None,
                   keys: Sequence[str] | None = None) -> None:
    """Send a recorded history (``fit``'s result) to ``monitor.update``, one epoch at a time.

    Used when a model comes from the cache, so the monitor still shows how it was trained.
    """
    if not history:
        return
    names = [k for k in (keys or history) if k != "epoch" and k in history]
    for i, epoch in enumerate(history["epoch"]):
        values = {k: history[k][i] for k in names}
        monitor.update(int(epoch), **values)



_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def fingerprint(X: torch.Tensor | np.ndarray) -> str:
    """A short hash of an array's shape, dtype and values, for cache keys (``'f3a9...'``)."""
    arr = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def _key_text(config: Mapping[str, Any], seed: int) -> str:
    try:
        return json.dumps({"config": config, "seed": seed}, sort_keys=True, separators=(",", ":"),
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"config must be JSON-serialisable (numbers, strings, lists, dicts) to be hashed "
            f"({exc}). Put sizes and settings in it, not tensors or functions; for data use "
            "`train.fingerprint(X)`."
        ) from None


def config_hash(config: Mapping[str, Any], seed: int = 0) -> str:
    """12 hex digits of the SHA-256 of ``config`` and ``seed`` (JSON with sorted keys)."""
    return hashlib.sha256(_key_text(config, seed).encode()).hexdigest()[:12]


def checkpoint_path(name: str, config: Mapping[str, Any], seed: int = 0) -> Path:
    """``<COURSE_CACHE_DIR>/<name>-<config_hash>.pt``, where ``cached`` keeps this model."""
    if not _NAME.match(name):
        raise ValueError(f"name={name!r}; use letters, digits, '_', '-' and '.' only (it becomes a file name).")
    return course_config.cache_dir() / f"{name}-{config_hash(config, seed)}.pt"


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then ``os.replace`` it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _rng_state() -> tuple:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _set_rng_state(state: tuple) -> None:
    torch.set_rng_state(state[0])
    np.random.set_state(state[1])
    random.setstate(state[2])


def load_history(name: str, config: Mapping[str, Any], seed: int = 0) -> dict[str, list] | None:
    """The training history saved next to a cached model (``None`` if there is none)."""
    meta = checkpoint_path(name, config, seed).with_suffix(".json")
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("history")
    except (OSError, ValueError, AttributeError):
        return None


#: One entry per ``cached`` call: ``{"name", "loaded", "train_seconds", "load_seconds", "train_peak_mb"}``,
#: where ``train_seconds`` and ``train_peak_mb`` are how long the training took when it ran and its
#: peak memory (``course_utils.memory.PeakMemory``; read back from the cache's file when the model is
#: loaded, None for a file saved before the peak was recorded), so ``course results`` counts a
#: loaded model's training time and memory, not those of loading it.
CACHE_EVENTS: list[dict[str, Any]] = []


def _saved(meta_path: Path, key: str) -> float | None:
    """A number saved in a cached model's JSON (None if the file or the number is missing)."""
    try:
        return float(json.loads(meta_path.read_text(encoding="utf-8")).get(key))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def cached(
    name: str,
    config: Mapping[str, Any],
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], Any],
    *,
    seed: int = 0,
    on_load: Callable[[dict | None], Any] | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> nn.Module:
    """Load a trained model from the cache, or build, train and cache it.

    Args:
        name: file-name prefix (``"ae"``, ``"vae-beta4"``); the file is
            ``<COURSE_CACHE_DIR>/<name>-<hash>.pt`` with ``hash = config_hash(config, seed)``.
        config: everything that decides the trained weights (sizes, epochs, learning rate,
            ``fingerprint(X)`` of the data, ...), JSON-serialisable. Change anything in it and a
            new file is used; nothing stale is ever loaded.
        build: ``build() -> model``, an untrained model (called after ``torch.manual_seed(seed)``).
        train: ``train(model)`` trains in place; if it returns a history dict (``fit``'s result)
            it is saved in ``<name>-<hash>.json`` next to the weights.
        seed: seeds ``build`` and is part of the key.
        on_load: called with the saved history when the model came from the cache (e.g.
            ``lambda h: replay_history(monitor, h)``).
        device: where the returned model lives (default ``config.get_device()``).

    Returns the model in eval mode. Only the ``state_dict`` is stored; it is read back with
    ``torch.load(..., weights_only=True)``. A file that cannot be loaded (damaged, or saved by a
    different architecture) gives a ``CheckpointWarning`` and the model is trained again and the
    file replaced. The global random state (torch, NumPy, ``random``) is the same after this call
    whether the model was loaded or trained, so what follows does not depend on the cache.
    """
    path = checkpoint_path(name, config, seed)
    meta_path = path.with_suffix(".json")
    device = torch.device(device) if device is not None else course_config.get_device()
    outer_state = _rng_state()
    try:
        if path.exists():
            load_start = time.perf_counter()
            torch.manual_seed(seed)
            model = build()
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
            except Exception as exc:  # damaged file, other architecture, not a state_dict, ...
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                warnings.warn(
                    f"The cached checkpoint {path.name} in {path.parent} could not be loaded "
                    f"({type(exc).__name__}: {reason[:300]}). Training the model again; the file "
                    "will be replaced.",
                    CheckpointWarning,
                    stacklevel=2,
                )
            else:
                CACHE_EVENTS.append({"name": name, "loaded": True, "train_seconds": _saved(meta_path, "train_seconds"),
                                     "load_seconds": time.perf_counter() - load_start,
                                     "train_peak_mb": _saved(meta_path, "train_peak_mb")})
                if verbose:
                    print(f"{name}: loaded from the cache ({path.name})")
                if on_load is not None:
                    on_load(load_history(name, config, seed))
                return model.to(device).eval()

        torch.manual_seed(seed)
        model = build()
        start = time.perf_counter()
        # no garbage collection first: cheap enough for every cached training (malloc_trim only)
        with PeakMemory(str(next(model.parameters(), torch.empty(0)).device), collect=False) as mem:
            history = train(model)
        seconds = time.perf_counter() - start
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        _write_atomic(path, lambda tmp: torch.save(state, tmp))
        meta = {
            "name": name,
            "config": config,
            "seed": seed,
            "history": history if isinstance(history, Mapping) else None,
            "train_seconds": round(seconds, 2),
            "train_peak_mb": None if mem.mb != mem.mb else round(mem.mb, 1),
            "train_mem_how": mem.how,
            "torch": torch.__version__,
        }
        _write_atomic(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8"))
        CACHE_EVENTS.append({"name": name, "loaded": False, "train_seconds": round(seconds, 2), "load_seconds": 0.0,
                             "train_peak_mb": meta["train_peak_mb"]})
        if verbose:
            print(f"{name}: trained in {seconds:.1f} s, saved to the cache ({path.name})")
        return model.to(device).eval()
    finally:
        _set_rng_state(outer_state)
