"""The week-04 self-checks pass correct code and name the common mistakes.

Each check runs on a correct implementation written here independently of the checks' loops
(must pass and print one line) and on deliberately wrong ones (must raise ``CheckFailed`` whose
message names the mistake).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import week04 as checks
from course_utils.checks._common import CheckFailed
from course_utils.models.dec import kl_clustering_loss, soft_assignment, target_distribution


def dist2(z, mu):
    return torch.cdist(z, mu) ** 2


def q_ok(z, mu, alpha=1.0):
    kernel = (1 + dist2(z, mu) / alpha) ** (-(alpha + 1) / 2)
    return kernel / kernel.sum(1, keepdim=True)


def p_ok(q):
    w = q ** 2 / q.sum(0)
    return (w / w.sum(1, keepdim=True)).detach()


def kl_ok(p, q):
    return F.kl_div(q.log(), p, reduction="batchmean")


def expect_failure(check, fn, *words):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in: {message}"


@pytest.mark.parametrize("check, fn", [
    (checks.check_soft_assignment, q_ok), (checks.check_soft_assignment, soft_assignment),
    (checks.check_target_distribution, p_ok), (checks.check_target_distribution, target_distribution),
    (checks.check_kl_loss, kl_ok), (checks.check_kl_loss, kl_clustering_loss),
])
def test_correct_code_passes(course_implementation_allowed, check, fn, capsys):
    check(fn)
    assert capsys.readouterr().out.startswith("\u2714")


@pytest.mark.parametrize("wrong, words", [
    (lambda z, mu, a: (1 + dist2(z, mu) / a) ** (-(a + 1) / 2), ["not normalised"]),
    (lambda z, mu, a: q_ok(z, mu, 1.0), ["alpha is ignored"]),
    (lambda z, mu, a: torch.softmax(-torch.log1p(dist2(z, mu) / a), 1), ["exponent is -1"]),
    (lambda z, mu, a: torch.softmax(-(a + 1) * torch.log1p(dist2(z, mu) / a), 1), ["-(alpha + 1) / 2"]),
    (lambda z, mu, a: torch.softmax(-(a + 1) / 2 * torch.log1p(torch.cdist(z, mu) / a), 1), ["not squared"]),
    (lambda z, mu, a: torch.softmax(-dist2(z, mu), 1), ["gaussian kernel"]),
    (lambda z, mu, a: ((1 + dist2(z, mu) / a) ** (-(a + 1) / 2)) / ((1 + dist2(z, mu) / a) ** (-(a + 1) / 2)).sum(0),
     ["columns sum to 1", "dim=1"]),
    (lambda z, mu, a: q_ok(z, mu, a).t(), ["shape", "transposed"]),
    (lambda z, mu, a: q_ok(z, mu, a).detach(), ["gradients"]),
    (lambda z, mu, a: None, ["return"]),
])
def test_soft_assignment_mistakes(wrong, words):
    expect_failure(checks.check_soft_assignment, wrong, *words)


@pytest.mark.parametrize("wrong, words", [
    (lambda q: (q ** 2 / q.sum(0)).detach(), ["not normalised"]),
    (lambda q: ((q / q.sum(0)) / (q / q.sum(0)).sum(1, keepdim=True)).detach(), ["not squared"]),
    (lambda q: ((q ** 2 / q.sum(1, keepdim=True)) / (q ** 2 / q.sum(1, keepdim=True)).sum(1, keepdim=True)).detach(),
     ["sum over *examples*"]),
    (lambda q: q.detach().clone(), ["p equals q"]),
    (lambda q: (q ** 2 / q.sum(0)) / (q ** 2 / q.sum(0)).sum(1, keepdim=True), ["fixed target", "detach"]),
    (lambda q: p_ok(q)[:, :-1], ["shape"]),
])
def test_target_distribution_mistakes(wrong, words):
    expect_failure(checks.check_target_distribution, wrong, *words)


@pytest.mark.parametrize("wrong, words", [
    (lambda p, q: (q * (q / p).log()).sum(1).mean(), ["KL(Q || P)"]),
    (lambda p, q: (p * (p / q).log()).sum(), ["summed over"]),
    (lambda p, q: (p * (p / q).log()).mean(), ["averaged over the", "clusters"]),
    (lambda p, q: -(p * (p / q).log()).sum(1).mean(), ["sign"]),
    (lambda p, q: -(p * q.log()).sum(1).mean(), ["cross-entropy"]),
    (lambda p, q: (p * (p / q).log()).sum(1), ["one number"]),
    (lambda p, q: float((p * (p / q).log()).sum(1).mean()), ["torch tensor"]),
    (lambda p, q: (p * (p / q.detach()).log()).sum(1).mean(), ["no gradient"]),
])
def test_kl_loss_mistakes(wrong, words):
    expect_failure(checks.check_kl_loss, wrong, *words)



@pytest.mark.parametrize("name, reference", [("soft_assignment", soft_assignment),
                                             ("target_distribution", target_distribution),
                                             ("kl_loss", kl_clustering_loss)])
def test_reference_if_unfinished(name, reference, capsys):
    def todo(*args):
        raise NotImplementedError()

    todo.__name__ = name
    stand_in = checks.reference_if_unfinished(todo)
    z, mu = torch.randn(6, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    q = soft_assignment(z, mu)
    args = {"soft_assignment": (z, mu, 1.0), "target_distribution": (q,),
            "kl_loss": (target_distribution(q), q)}[name]
    assert torch.equal(stand_in(*args), reference(*args))
    stand_in(*args)
    out = capsys.readouterr().out
    assert out.count("is not done yet: using the reference implementation") == 1 and "Exercise" in out
    def finished(*a):
        return reference(*a)

    finished.__name__ = name
    assert checks.reference_if_unfinished(finished)(*args) is not None and capsys.readouterr().out == ""


def test_reference_if_unfinished_rejects_unknown_names():
    with pytest.raises(ValueError, match="soft_assignment"):
        checks.reference_if_unfinished(lambda q: q)
