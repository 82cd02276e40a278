"""The building blocks every week's self-checks share (course_utils/checks/_common.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.checks._common import (
    GRADING_ENV,
    CheckFailed,
    NotDoneYet,
    call_student,
    ok,
    reference_if_unfinished,
    self_check,
)


def _unfinished(x):
    raise NotImplementedError()


def _double(x):
    return 2 * x


@self_check
def check_double(fn):
    got = call_student(fn, np.arange(3.0), name="double")
    if not np.allclose(got, [0.0, 2.0, 4.0]):
        raise CheckFailed(f"double gave {got}")
    ok("double works")


def test_in_place_change_of_an_input_is_named():
    def in_place(x, y):
        y += 1
        return x
    with pytest.raises(CheckFailed, match=r"changed its input `y` in place"):
        call_student(in_place, np.zeros(2), np.zeros(2))
    with pytest.raises(CheckFailed, match=r"changed its input `t` in place"):
        call_student(lambda t: t.mul_(2), torch.ones(2))
    original = np.zeros(2)
    with pytest.raises(CheckFailed):
        call_student(in_place, np.zeros(2), original)
    assert original.tolist() == [0.0, 0.0]  # the caller's array is untouched either way


def test_none_result_is_a_forgotten_return():
    with pytest.raises(CheckFailed, match="returned None.*`return`"):
        call_student(lambda x: None, 1)
    assert call_student(lambda x: None, 1, allow_none=True) is None


def test_unfinished_exercise_prints_a_cross_and_raises_only_under_the_grader(capsys, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    check_double(_unfinished)
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented yet" in out and "\u2714" not in out
    monkeypatch.setenv(GRADING_ENV, "1")
    with pytest.raises(NotDoneYet, match="not implemented yet"):
        check_double(_unfinished)


def test_reference_stand_in_says_so_once_and_steps_aside_when_done(capsys):
    stand_in = reference_if_unfinished(_unfinished, _double, "Exercise 9 (double)")
    assert stand_in(3) == 6 and stand_in(4) == 8
    out = capsys.readouterr().out
    assert out.count("Exercise 9 (double) is not done yet: using the reference implementation") == 1
    assert reference_if_unfinished(_double, lambda x: -1, "Exercise 9") (5) == 10
    assert capsys.readouterr().out == ""
    # a wrong answer is not replaced: its error stays visible
    with pytest.raises(ZeroDivisionError):
        reference_if_unfinished(lambda x: 1 / 0, _double, "Exercise 9")(1)


def test_probe_decides_at_once(capsys):
    class Half:
        def __init__(self):
            pass

        def forward(self):
            raise NotImplementedError()

    stand_in = reference_if_unfinished(Half, dict, "Exercise 2 (Half)", probe=lambda cls: cls().forward())
    assert "is not done yet" in capsys.readouterr().out
    assert stand_in(a=1) == {"a": 1}


def test_check_run_again_on_the_stand_in_still_sees_the_unfinished_function(capsys, monkeypatch):
    """A student who reruns the check after the fallback cell must not get a tick for the reference."""
    monkeypatch.delenv(GRADING_ENV, raising=False)
    stand_in = reference_if_unfinished(_unfinished, _double, "Exercise 9 (double)")
    stand_in(1)
    capsys.readouterr()
    check_double(stand_in)
    out = capsys.readouterr().out
    assert "\u2718" in out and "\u2714" not in out
    assert reference_if_unfinished(stand_in, _double, "Exercise 9").__course_reference_for__ is _unfinished


def _every_check():
    import importlib
    import pkgutil

    import course_utils.checks as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("week"):
            module = importlib.import_module(f"course_utils.checks.{info.name}")
            for name in sorted(getattr(module, "__all__", ())):
                if name.startswith("check_"):
                    yield pytest.param(getattr(module, name), id=f"{info.name}.{name}")


@pytest.mark.parametrize("check", list(_every_check()))
def test_every_check_says_an_unfinished_exercise_is_not_done(check, capsys, monkeypatch):
    def todo(*args, **kwargs):
        raise NotImplementedError()

    monkeypatch.delenv(GRADING_ENV, raising=False)
    check(todo)                      # prints a cross, so that Run All goes on
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented yet" in out and "\u2714" not in out
    monkeypatch.setenv(GRADING_ENV, "1")
    with pytest.raises(NotDoneYet, match="not implemented yet"):   # under `course grade` it raises
        check(todo)


# --- an answer that hands the exercise to the course's own implementation (issue 27) -----------

def _answer(source: str, name: str):
    ns: dict = {}
    exec(source, ns)   # as a notebook cell defines it: not a file of the course package
    return ns[name]


@pytest.mark.parametrize("source, name", [
    ("from course_utils import clustering\n"
     "def assign_clusters(X, centers):\n    return clustering.assign_clusters(X, centers)", "assign_clusters"),
    ("from course_utils.clustering import assign_clusters as _ref\n"
     "def assign_clusters(X, centers):\n    labels = _ref(X, centers)\n    return labels.copy()", "assign_clusters"),
    ("from course_utils.clustering import assign_clusters", "assign_clusters"),
])
def test_a_self_check_refuses_an_answer_that_calls_the_course_implementation(source, name, capsys):
    from course_utils import clustering
    from course_utils.checks import week01

    original = clustering.assign_clusters.__code__
    with pytest.raises(CheckFailed, match="course's own implementation .*course_utils.clustering.assign_clusters"):
        week01.check_assign_clusters(_answer(source, name))
    assert "\u2714" not in capsys.readouterr().out          # never a tick before the failure
    assert clustering.assign_clusters.__code__ is original  # the check put the function back


def test_a_self_check_refuses_the_course_function_under_the_exercise_name_and_a_derived_class():
    from course_utils.checks import week01, week02
    from course_utils.metrics import cluster_acc

    with pytest.raises(CheckFailed, match="cluster_accuracy used course_utils.metrics.cluster_acc"):
        week01.check_cluster_accuracy(cluster_acc)
    derived = _answer("from course_utils import models\nclass MyVAE(models.VAE):\n    pass", "MyVAE")
    with pytest.raises(CheckFailed, match="MyVAE used course_utils.models"):
        week02.check_vae_module(derived)


def test_a_self_check_still_ticks_an_answer_that_only_uses_the_course_to_compare(capsys):
    """The check itself calls the course's functions to compute what to expect, and an answer may
    use other helpers of the package: neither counts."""
    from course_utils.checks import week01

    answer = _answer("import numpy as np\nfrom course_utils import clustering\n"
                     "def assign_clusters(X, centers):\n"
                     "    d = ((X[:, None, :] - centers[None]) ** 2).sum(-1)\n"
                     "    return d.argmin(1)\n", "assign_clusters")
    week01.check_assign_clusters(answer)
    assert "\u2714" in capsys.readouterr().out
