"""Building blocks for the self-checks: call a student's function, compare, explain."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


class CheckFailed(AssertionError):
    """A self-check found a mistake; the message says what and where to look."""


def ok(message: str) -> None:
    """Print the one-line success message of a check."""
    print(f"\u2714 {message}")


def call_student(fn: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn "not done yet" and crashes into a readable ``CheckFailed``.

    Inputs are copied first, so a function that modifies its arguments in place cannot corrupt
    the reference computation the check compares against.
    """
    label = name or getattr(fn, "__name__", "your function")
    args = tuple(_copy(a) for a in args)
    kwargs = {k: _copy(v) for k, v in kwargs.items()}
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(
            f"{label} is not implemented yet: replace `raise NotImplementedError()` in its cell "
            "with your code, run that cell, then run this check again."
        ) from None
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(
            f"{label} raised {type(exc).__name__}: {exc}\n"
            "Read the traceback above this message: the last line that points into your cell is "
            "where it went wrong."
        ) from exc


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.clone()
    except ImportError:  # pragma: no cover
        pass
    return value


def as_array(value: Any, label: str) -> np.ndarray:
    """Convert the student's result to a NumPy array, or say what type we got instead."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, (np.ndarray, list, tuple, int, float, np.number)):
        return np.asarray(value)
    raise CheckFailed(
        f"{label} should be a NumPy array, but it is a {type(value).__name__}. Did you forget to "
        "`return` it?" if value is None else f"{label} should be a NumPy array, but it is a "
        f"{type(value).__name__}."
    )


def expect_shape(value: Any, shape: tuple[int, ...], label: str, hint: str = "") -> np.ndarray:
    """Check ``value`` has exactly ``shape``; the message names both shapes."""
    arr = as_array(value, label)
    if arr.shape != tuple(shape):
        raise CheckFailed(
            f"{label} has shape {arr.shape}, expected {tuple(shape)}." + (f" {hint}" if hint else "")
        )
    return arr


def expect_close(
    got: Any,
    want: np.ndarray,
    label: str,
    hint: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Check values agree; the message shows the first differing entry and both values."""
    got_arr = expect_shape(got, np.shape(want), label, hint)
    want = np.asarray(want)
    if not np.all(np.isfinite(got_arr)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(got_arr))[0])
        raise CheckFailed(
            f"{label} contains NaN or inf (first at index {where}). Look for a log of 0, a division "
            "by 0 or an exp that overflows." + (f" {hint}" if hint else "")
        )
    close = np.isclose(got_arr, want, rtol=rtol, atol=atol)
    if not np.all(close):
        where = tuple(int(i) for i in np.argwhere(~close)[0])
        n_bad = int((~close).sum())
        raise CheckFailed(
            f"{label} is wrong in {n_bad} of {close.size} entries; first at index {where}: "
            f"got {got_arr[where]!r}, expected {want[where]!r}." + (f" {hint}" if hint else "")
        )
