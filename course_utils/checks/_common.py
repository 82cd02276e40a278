"""Building blocks for the self-checks: call a student's function, compare, explain."""
from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np


class CheckFailed(AssertionError):
    """A self-check found a mistake; the message says what and where to look."""


def ok(message: str) -> None:
    """Print the one-line success message of a check (never while the answer being checked has
    called the course's own implementation of its exercise: that fails instead)."""
    for wire in _Tripwires.active:
        if wire.hits:
            raise CheckFailed(used_message(sorted(wire.hits)[0]))
    print(f"\u2714 {message}")


# --------------------------------------------------------------------------------------------
# Answers that hand the exercise to the course's own implementation
# --------------------------------------------------------------------------------------------

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_PYTHON_DIRS = tuple(sorted({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}))


_ALLOWED: list[bool] = []   # non-empty inside course_implementation_allowed()


@contextlib.contextmanager
def course_implementation_allowed():
    """Inside: the self-checks accept the course's own implementations (the test suite checks that
    each check passes them); nowhere else."""
    _ALLOWED.append(True)
    try:
        yield
    finally:
        _ALLOWED.pop()


def used_message(used: str) -> str:
    return (f"your answer uses the course's own implementation of the exercise ({used}). The notebook "
            "falls back on it only while an exercise is unfinished; the grader gives no points for an "
            "answer that calls it, subclasses it or takes its name. Write the exercise yourself.")


def implementation_targets(module_name: str) -> dict[str, list[str]]:
    """Exercise name -> ``["package.module:Qual.name", ...]``: the course's implementations of a
    week's exercises (the week module's ``_references()`` table and its ``_ALSO_WATCHED``), or {}
    for a module that has none. The grader sends these names into the sandbox."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return {}
    table = getattr(module, "_references", None)
    if table is None:
        return {}
    also = getattr(module, "_ALSO_WATCHED", {})
    return {name: [f"{entry[0].__module__}:{entry[0].__qualname__}", *also.get(name, ())]
            for name, entry in table().items()}


def resolve_implementations(targets: dict[str, list[str]]) -> dict[str, list[tuple[Any, str]]]:
    """``implementation_targets``' names as objects: exercise -> [(object, "name used module.qualname")]
    (a name that does not import here is left out)."""
    out: dict[str, list[tuple[Any, str]]] = {}
    for name, names in targets.items():
        for target in names:
            obj = resolve(target)
            if obj is not None:
                out.setdefault(name, []).append((obj, f"{name} used {str(target).replace(':', '.')}"))
    return out


def course_implementations(module_name: str) -> dict[str, list[tuple[Any, str]]]:
    """Exercise name -> [(object, label)]: the course's implementations of a week's exercises."""
    return resolve_implementations(implementation_targets(module_name))


def resolve(target: str) -> Any:
    """The object ``"package.module:Qual.name"`` names, or None."""
    module, _, qualname = str(target).partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - not importable here: nothing to compare with
        return None
    return obj


def uses_course_implementation(value: Any, implementations: dict[str, list[tuple[Any, str]]]) -> str:
    """A label if ``value`` is one of the course's implementations itself (the course's function
    under the exercise's name), or a class derived from one of its classes; else ""."""
    if value is None:
        return ""
    code = getattr(inspect.unwrap(value), "__code__", None) if callable(value) else None
    for entries in implementations.values():
        for obj, label in entries:
            if value is obj or (code is not None and code is getattr(obj, "__code__", None)):
                return label
            if isinstance(value, type) and isinstance(obj, type) and obj in value.__mro__:
                return label
    return ""


def _student_code(code: types.CodeType) -> bool:
    """Code a student wrote: not the course package's, not Python's nor an installed package's."""
    name = code.co_filename
    return not (name.startswith(_PACKAGE_DIR) or name.startswith(_PYTHON_DIRS) or name.startswith("<frozen"))


class _Tripwires:
    """While active, each function in ``functions`` reports a call that a student's code made
    (a student's frame among its callers, below the self-check's own ``stop`` frame): its
    ``__code__`` is swapped for a trampoline that looks, then calls the original. Nothing else is
    slowed down; a function with a closure is left alone."""

    active: list["_Tripwires"] = []

    def __init__(self, functions: dict[Callable, str], stop: types.CodeType) -> None:
        self.functions, self.stop = functions, stop
        self.hits: set[str] = set()
        self._swapped: list[tuple[types.FunctionType, types.CodeType, str]] = []

    def _seen(self, label: str) -> None:
        frame = sys._getframe(2)   # the caller of the trampoline
        while frame is not None and frame.f_code is not self.stop:
            if _student_code(frame.f_code):
                self.hits.add(label)
                return
            frame = frame.f_back

    def __enter__(self) -> "_Tripwires":
        for fn, label in self.functions.items():
            if fn.__closure__ or fn.__code__.co_freevars:
                continue
            original = fn.__code__
            clone = types.FunctionType(original, fn.__globals__, fn.__name__, fn.__defaults__)
            clone.__kwdefaults__ = fn.__kwdefaults__
            key = f"__course_tripwire_{id(fn)}__"
            fn.__globals__[key] = (self._seen, clone, label)
            space: dict = {}
            exec(f"def trampoline(*args, **kwargs):\n    {key}[0]({key}[2])\n"
                 f"    return {key}[1](*args, **kwargs)\n", fn.__globals__, space)
            fn.__code__ = space["trampoline"].__code__
            self._swapped.append((fn, original, key))
        _Tripwires.active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _Tripwires.active.remove(self)
        for fn, original, key in self._swapped:
            fn.__code__ = original
            fn.__globals__.pop(key, None)
        self._swapped = []


#: Set to 1 by ``course grade``: a self-check then raises on an unfinished exercise (so the
#: grade's reason says "not implemented yet") instead of printing a line and letting the notebook go on.
GRADING_ENV = "COURSE_GRADING"


class NotDoneYet(CheckFailed):
    """The student's function still raises ``NotImplementedError``: the exercise is not done yet."""


def self_check(check: Callable) -> Callable:
    """Decorator for every ``check_*`` function of a week.

    A wrong answer raises ``CheckFailed`` (the cell fails, the message says what is wrong). An
    exercise that is not done yet (its function still raises ``NotImplementedError``) prints one
    line starting with a cross instead of raising, so that "Run All" goes on to the end of the
    notebook (the cells after it use the reference implementation, see
    ``reference_if_unfinished``). Under ``course grade`` (``COURSE_GRADING=1``) it raises, so the
    grade's reason says "not implemented yet". A check that passes prints one line starting
    with a tick; nothing else does.
    """

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> None:
        # the student's own code, also when the name now holds reference_if_unfinished's
        # stand-in (the check cell run again after the fallback cell): never tick the reference
        args = tuple(unwrap_student(a) for a in args)
        kwargs = {k: unwrap_student(v) for k, v in kwargs.items()}
        student = args[0] if args else next(iter(kwargs.values()), None)
        implementations = {} if _ALLOWED else course_implementations(check.__module__)
        try:
            used = uses_course_implementation(student, implementations)
            if used:
                raise CheckFailed(used_message(used))
            watched = {f: label for f, label in implementations.get(getattr(student, "__name__", ""), [])
                       if isinstance(f, types.FunctionType)}
            with _Tripwires(watched, run.__code__):
                check(*args, **kwargs)
        except NotDoneYet as exc:
            if os.environ.get(GRADING_ENV) == "1":
                raise
            print(f"\u2718 {exc}")
        return None

    return run


def unwrap_student(fn: Any) -> Any:
    """The student's own function behind a ``reference_if_unfinished`` stand-in (else ``fn``)."""
    return getattr(fn, "__course_reference_for__", None) or fn


def call_student(
    fn: Callable, *args: Any, name: str | None = None, allow_none: bool = False, **kwargs: Any
) -> Any:
    """Call the student's ``fn``; turn "not done yet", crashes, ``None`` and in-place edits into
    a readable ``CheckFailed``.

    Arrays and tensors are copied before the call, so a function that modifies its arguments in
    place cannot corrupt the reference computation the check compares against; the copies are
    then compared with the originals, and a function that changed one of them fails (the
    exercises say not to modify the inputs, and the hidden tests check it). A ``None`` result
    fails too (a forgotten ``return``), unless ``allow_none``.
    """
    label = name or getattr(fn, "__name__", "your function")
    pristine_args = args
    pristine_kwargs = kwargs
    args = tuple(_copy(a) for a in args)
    kwargs = {k: _copy(v) for k, v in kwargs.items()}
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise NotDoneYet(
            f"{label} is not implemented yet: replace `raise NotImplementedError()` in its cell "
            "with your code, run that cell, then run this check again. Until then the notebook "
            "uses the reference implementation from course_utils in its place, so that you can read on."
        ) from None
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(
            f"{label} raised {type(exc).__name__}: {exc}\n"
            "Read the traceback above this message: the last line that points into your cell is "
            "where it went wrong."
        ) from exc
    names = _argument_names(fn, len(args), list(kwargs))
    for arg_name, before, after in zip(names, [*pristine_args, *pristine_kwargs.values()],
                                       [*args, *kwargs.values()]):
        if not _same_values(before, after):
            raise CheckFailed(
                f"{label} changed its input `{arg_name}` in place. Do not modify the arguments: "
                "the caller still needs them (the notebook reuses them in later steps). Work on a "
                "new array instead, e.g. `out = x.copy()` (NumPy) or `x.clone()` (torch), or an "
                "expression that builds a new one (`x + 1` instead of `x += 1`)."
            )
    if result is None and not allow_none:
        raise CheckFailed(
            f"{label} returned None. Did you forget the `return` statement at the end of your code?"
        )
    return result


def reference_if_unfinished(
    fn: Callable, reference: Callable, what: str, probe: Callable[[Callable], Any] | None = None
) -> Callable:
    """``fn`` itself, or a stand-in that uses ``reference`` while ``fn`` is not written yet.

    The notebook calls this right after an exercise's self-check, e.g.
    ``assign_clusters = checks.reference_if_unfinished(assign_clusters)``. As long as the
    student's ``fn`` raises ``NotImplementedError``, every call goes to ``reference`` (the
    course package's implementation) and one line says so, the first time; as soon as ``fn``
    works, its own result is used. A wrong ``fn`` is not replaced: its errors stay visible.
    ``what`` names the exercise in that line, e.g. ``"Exercise 1 (assign_clusters)"``.

    ``probe(fn)``, when given, is tried at once (e.g. build a tiny model and run it forward): if
    it raises ``NotImplementedError`` the reference is used from the start and the line is printed
    now. Use it where "not written yet" would only show later (a class whose ``forward`` is
    missing can still be constructed).
    """
    fn = unwrap_student(fn)  # wrapped already (the cell was run twice)
    state = {"reference": False}
    ref_name = f"{getattr(reference, '__module__', 'course_utils')}.{getattr(reference, '__qualname__', reference)}"

    def announce() -> None:
        state["reference"] = True
        print(f"{what} is not done yet: using the reference implementation ({ref_name}) "
              "so that you can read on.")

    if probe is not None:
        try:
            probe(fn)
        except NotImplementedError:
            announce()

    def call(*args: Any, **kwargs: Any) -> Any:
        if not state["reference"]:
            try:
                return fn(*args, **kwargs)
            except NotImplementedError:
                announce()
        return reference(*args, **kwargs)

    call.__name__ = getattr(fn, "__name__", "student_function")
    call.__qualname__ = call.__name__
    call.__doc__ = getattr(fn, "__doc__", None)
    call.__course_reference_for__ = fn  # type: ignore[attr-defined]
    return call


def reference_by_name(fn: Callable, table: dict[str, tuple], week: str) -> Callable:
    """``reference_if_unfinished`` for one of a week's exercises, looked up by ``fn.__name__``.

    ``table``: ``{exercise function name: (reference, "Exercise N (name)")}``, with an optional
    third entry, the ``probe``. An unknown name is a clear error.
    """
    name = getattr(unwrap_student(fn), "__name__", None)
    if name not in table:
        raise ValueError(
            f"reference_if_unfinished does not know a week-{week} exercise called {name!r}; it knows "
            f"{sorted(table)}. Pass the function defined in the exercise cell, under its own name."
        )
    reference, what, *probe = table[name]
    return reference_if_unfinished(fn, reference, what, probe=probe[0] if probe else None)


def _argument_names(fn: Callable, n_args: int, kw_names: list[str]) -> list[str]:
    """Parameter names of the positional arguments (from the signature), then the keywords."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    positional = [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n_args)]
    return positional + kw_names


def _same_values(before: Any, after: Any) -> bool:
    """True unless ``after`` (the copy the student got) no longer equals ``before``."""
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape
                and bool(np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")))
    try:
        import torch

        if isinstance(before, torch.Tensor):
            if not isinstance(after, torch.Tensor) or before.shape != after.shape:
                return False
            b, a = before.detach(), after.detach()
            if b.is_floating_point():
                return bool(torch.equal(torch.nan_to_num(b, nan=0.0), torch.nan_to_num(a, nan=0.0))
                            and torch.equal(torch.isnan(b), torch.isnan(a)))
            return bool(torch.equal(b, a))
    except ImportError:  # pragma: no cover
        pass
    return True


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


def check_gradient_flow(fn: Callable, reference: Callable, inputs: dict[str, Any], *, name: str,
                        constants: tuple = (), hints: dict[str, str] | None = None) -> None:
    """Where the gradient of the student's ``fn`` flows, compared with ``reference``'s.

    ``inputs`` (name -> tensor, in the call's order) become fresh leaves that require grad, for the
    student and, separately, for the reference; ``constants`` follow them in the call, without
    gradient. The same random weighting of the outputs is back-propagated through both, and every
    input's gradient must match the reference's. Fails with a message that names what happened: a
    result that is not a tensor, one cut from the inputs (``.detach()``, ``torch.no_grad()``, NumPy)
    or re-wrapped as a new tensor with ``requires_grad=True``, an input the gradient does not reach
    (``hints[name]`` says why it must), or a gradient that differs.
    """
    import torch

    def leaves() -> list:
        return [t.detach().clone().requires_grad_(True) for t in inputs.values()]

    mine, theirs = leaves(), leaves()
    got = call_student(fn, *mine, *constants, name=name)
    want = reference(*theirs, *constants)
    wants = tuple(want) if isinstance(want, (tuple, list)) else (want,)
    gots = tuple(got) if isinstance(got, (tuple, list)) else (got,)
    if len(gots) != len(wants):
        raise CheckFailed(f"{name} returned {len(gots)} values; expected {len(wants)}.")
    for i, (g, w) in enumerate(zip(gots, wants)):
        what = f"{name}'s result" if len(wants) == 1 else f"{name}'s result [{i}]"
        if not isinstance(g, torch.Tensor):
            raise CheckFailed(f"{what} is a {type(g).__name__}, not a tensor: training back-propagates through it, "
                              "so stay in torch (no float(), .item(), .tolist() or NumPy).")
        if g.grad_fn is None:
            if g.requires_grad:
                raise CheckFailed(
                    f"{what} is a new tensor, cut from the inputs: it requires grad, but no operation links it "
                    f"to {', '.join(f'`{n}`' for n in inputs)} (it was built with torch.tensor(...) or "
                    "torch.from_numpy(...), or computed under torch.no_grad(), and then marked requires_grad). "
                    "A gradient would stop at it and train nothing: compute it with torch operations on the "
                    "inputs themselves.")
            raise CheckFailed(f"{what} carries no gradient: it was .detach()-ed, computed under torch.no_grad() "
                              "or outside torch, so training could not back-propagate through it.")
        if tuple(g.shape) != tuple(w.shape):
            raise CheckFailed(f"{what} has shape {tuple(g.shape)}, expected {tuple(w.shape)}.")
    gen = torch.Generator().manual_seed(0)
    weights = [torch.randn(tuple(w.shape), generator=gen, dtype=w.dtype) for w in wants]
    mine_grads = torch.autograd.grad(sum((g.to(w.dtype) * c).sum() for g, c, w in zip(gots, weights, wants)),
                                     mine, allow_unused=True)
    ref_grads = torch.autograd.grad(sum((w * c).sum() for w, c in zip(wants, weights)), theirs, allow_unused=True)
    for (arg, leaf), a, b in zip(inputs.items(), mine_grads, ref_grads):
        b = torch.zeros_like(leaf) if b is None else b
        why = f" {hints[arg]}" if hints and arg in hints else ""
        if a is None or (not a.any() and b.any()):
            raise CheckFailed(f"{name}: no gradient reaches `{arg}`.{why} Look for .detach(), .data, "
                              f"torch.no_grad() or NumPy on the way from `{arg}` to the result.")
        if not torch.allclose(a.to(b.dtype), b, rtol=1e-4, atol=1e-6):
            worst = float((a.to(b.dtype) - b).abs().max())
            raise CheckFailed(f"{name}: the gradient with respect to `{arg}` differs from the reference's (by up "
                              f"to {worst:.3g}): part of the way from `{arg}` to the result is cut (.detach(), "
                              "no_grad) or computed outside torch.{why}")
