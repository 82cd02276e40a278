"""Week 06's self-checks: the course's implementations pass; typical mistakes fail with a message
that names them (the hidden tests' side of each mistake is in tests/wrong_bank/week06.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import week06 as checks
from course_utils.models import dbn, nmmc


def test_the_reference_implementations_pass(course_implementation_allowed, capsys):
    checks.check_free_energy(dbn.free_energy)
    checks.check_cd1_gradients(checks._cd1_reference)
    checks.check_assign_or_open(nmmc.assign_or_open)
    checks.check_hinge_update(nmmc.hinge_update)
    assert capsys.readouterr().out.count("\u2714") == 4


@pytest.mark.parametrize("wrong, message", [
    (lambda v, W, b, c: v @ b + F.softplus(v @ W + c).sum(1), "sign is flipped"),
    (lambda v, W, b, c: -F.softplus(v @ W + c).sum(1), "visible-bias term -b.v is missing"),
    (lambda v, W, b, c: -(v @ b) - torch.sigmoid(v @ W + c).sum(1), "summed sigmoid"),
    (lambda v, W, b, c: -(v @ b) - F.softplus(v @ W).sum(1), "hidden biases c are missing"),
    (lambda v, W, b, c: -(v @ b) - torch.log(1 + torch.exp(v @ W + c)).sum(1), "F.softplus"),
    (lambda v, W, b, c: (-(v.half() @ b.half()) - F.softplus((v.half() @ W.half() + c.half()).float()).half().sum(1)),
     "differs most"),   # float16 loses the precision
    (lambda v, W, b, c: -(v @ b).sum() - F.softplus(v @ W + c).sum(), "One free energy per row"),
    (lambda v, W, b, c: None, "None"),
])
def test_free_energy_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_free_energy(wrong)


def test_acceptable_dtypes_pass(capsys):
    """A free energy computed in float64, and hinge weights kept in float32, are right answers."""
    checks.check_free_energy(lambda v, W, b, c: -(v.double() @ b.double())
                             - F.softplus(v.double() @ W.double() + c.double()).sum(1))

    def hinge32(W, x, z, margin=0.1, C=0.1):
        return nmmc.hinge_update(np.asarray(W, dtype=np.float32), np.asarray(x, dtype=np.float32), z, margin,
                                 C).astype(np.float32)

    checks.check_hinge_update(hinge32)
    assert capsys.readouterr().out.count("\u2714") == 2


def test_cd1_gradients_that_return_nothing_or_flip_the_sign_are_named():
    with pytest.raises(checks.CheckFailed, match="returned None"):
        checks.check_cd1_gradients(lambda v0, W, b, c, u: None)

    def flipped(v0, W, b, c, u):
        dW, db, dc = checks._cd1_reference(v0, W, b, c, u)
        return -dW, -db, -dc

    with pytest.raises(checks.CheckFailed, match="sign is flipped"):
        checks.check_cd1_gradients(flipped)


def test_assign_or_open_that_never_opens_or_returns_a_float_fails():
    with pytest.raises(checks.CheckFailed):
        checks.check_assign_or_open(lambda x, W, counts, lam, prior: 0)
    with pytest.raises(checks.CheckFailed, match="return an int"):
        checks.check_assign_or_open(lambda x, W, counts, lam, prior: float(len(W)))


def test_hinge_update_mistakes_are_named():
    with pytest.raises(checks.CheckFailed, match="returned a tuple"):
        checks.check_hinge_update(lambda W, x, z, margin, C: (W, 0))
    with pytest.raises(checks.CheckFailed, match="^hinge_update"):   # W back unchanged: no step at all
        checks.check_hinge_update(lambda W, x, z, margin, C: np.array(W, copy=True))

    def in_place(W, x, z, margin, C):
        W[...] = nmmc.hinge_update(W, x, z, margin, C)   # right values, written into the caller's array
        return W

    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.check_hinge_update(in_place)
