"""The week-05 self-checks pass correct code and name the common mistakes.

Each check runs on a correct implementation written here independently of the checks' loops and of
``course_utils.models.gan_losses`` (must pass and print one line), on the course's reference, and on
deliberately wrong ones (must raise ``CheckFailed`` whose message names the mistake).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import week05 as checks
from course_utils.checks._common import CheckFailed
from course_utils.models import gan_losses

BCE = F.binary_cross_entropy_with_logits


# ---- correct implementations, written differently from the reference -------------------------

def d_ok(real, fake):
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_ok(fake):
    return BCE(fake, torch.ones_like(fake))


def _entropy(p, dim):
    return -(p * torch.log(p.clamp_min(1e-30))).sum(dim)


def cat_ok(real, fake):
    out = {}
    for which, logits in (("real", real), ("fake", fake)):
        p = torch.softmax(logits, dim=1)
        out[f"cond_{which}"] = _entropy(p, 1).mean()
        out[f"marginal_{which}"] = _entropy(p.mean(0), 0)
    return out


def mi_ok(q_logits, codes):
    log_q = torch.log_softmax(q_logits, dim=1)
    return math.log(q_logits.shape[1]) + log_q[torch.arange(len(codes)), codes].mean()


def aae_ok(D, z_prior, z_encoded):
    real = D(z_prior).flatten()
    fake = D(z_encoded.detach()).flatten()
    d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
    return d_loss, F.softplus(-D(z_encoded).flatten()).mean()


def expect_failure(check, fn, *words):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in: {message}"


@pytest.mark.parametrize("check, fn", [
    (checks.check_discriminator_loss, d_ok), (checks.check_discriminator_loss, gan_losses.discriminator_loss),
    (checks.check_generator_loss, g_ok), (checks.check_generator_loss, gan_losses.generator_loss),
    (checks.check_catgan_entropies, cat_ok), (checks.check_catgan_entropies, gan_losses.catgan_entropies),
    (checks.check_categorical_mi_lower_bound, mi_ok),
    (checks.check_categorical_mi_lower_bound, gan_losses.categorical_mi_lower_bound),
    (checks.check_code_adversarial_losses, aae_ok),
    (checks.check_code_adversarial_losses, gan_losses.code_adversarial_losses),
])
def test_correct_code_passes(course_implementation_allowed, check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("\u2714") and out.count("\n") == 1 and "\u2718" not in out


def test_checks_leave_the_global_random_generators_alone():
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    for check, fn in ((checks.check_discriminator_loss, d_ok), (checks.check_generator_loss, g_ok),
                      (checks.check_catgan_entropies, cat_ok), (checks.check_categorical_mi_lower_bound, mi_ok),
                      (checks.check_code_adversarial_losses, aae_ok)):
        check(fn)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])


# ---- Exercise 1 ------------------------------------------------------------------------------

def _d_inplace(real_logits, fake_logits):
    fake_logits.neg_()
    return F.softplus(-real_logits).mean() + F.softplus(-fake_logits).mean()


@pytest.mark.parametrize("wrong, words", [
    (lambda r, f: BCE(torch.sigmoid(r), torch.ones_like(r)) + BCE(torch.sigmoid(f), torch.zeros_like(f)),
     ["sigmoid is applied twice"]),
    (lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),
     ["not finite for saturated logits", "logsigmoid"]),
    (lambda r, f: -torch.log(torch.sigmoid(r) + 1e-8).mean() - torch.log(1 - torch.sigmoid(f) + 1e-8).mean(),
     ["wrong for saturated", "epsilon"]),
    (lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
     + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)), ["saturated", "clamps"]),
    (lambda r, f: -torch.log(r).mean() - torch.log(1 - f).mean(), ["log of the logits themselves"]),
    (lambda r, f: F.binary_cross_entropy(r, torch.ones_like(r)) + F.binary_cross_entropy(f, torch.zeros_like(f)),
     ["expects probabilities", "with_logits"]),
    (lambda r, f: -d_ok(r, f), ["sign is flipped"]),
    (lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean(), ["labels are swapped"]),
    (lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(), ["summed over the batch"]),
    (lambda r, f: BCE(torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])),
     ["half the loss", "one mean over both batches", "sum of two means"]),
    (lambda r, f: F.softplus(-r).mean(), ["only the term for real images"]),
    (lambda r, f: F.softplus(f).mean(), ["only the term for generated images"]),
    (lambda r, f: F.softplus(-r).mean() - F.softplus(f).mean(), ["wrong sign"]),
    (lambda r, f: F.softplus(-r).mean() + F.softplus(-f).mean(), ["label 1 too"]),
    (lambda r, f: (1 - torch.sigmoid(r)).mean() + torch.sigmoid(f).mean(), ["without a log"]),
    (lambda r, f: f.mean() - r.mean(), ["wasserstein"]),
    (lambda r, f: (F.softplus(-r) + F.softplus(f)).mean(), ["different lengths"]),
    (lambda r, f: d_ok(r.detach(), f.detach()), ["carries no gradient"]),
    (lambda r, f: F.softplus(-r).mean() + F.softplus(f.detach()).mean(), ["no gradient reaches fake_logits"]),
    (_d_inplace, ["changed its input `fake_logits` in place"]),
    (lambda r, f: d_ok(r, f).item(), ["not a torch tensor", ".item()"]),
    (lambda r, f: d_ok(r, f).reshape(1), ["shape (1,)", "0-d"]),
    (lambda r, f: F.softplus(-r) + F.softplus(f).mean(), ["shape (5,)", "one number"]),
    (lambda r, f: None, ["return"]),
])
def test_discriminator_loss_mistakes(wrong, words):
    expect_failure(checks.check_discriminator_loss, wrong, *words)


# ---- Exercise 2 ------------------------------------------------------------------------------

def _g_inplace(fake_logits):
    fake_logits.mul_(-1)
    return F.softplus(fake_logits).mean()


@pytest.mark.parametrize("wrong, words", [
    (lambda f: torch.log(1 - torch.sigmoid(f)).mean(), ["saturating (minimax)", "gradient vanishes", "non-saturating"]),
    (lambda f: -F.softplus(f).mean(), ["saturating (minimax)"]),
    (lambda f: BCE(f, torch.zeros_like(f)), ["discriminator's term for generated images"]),
    (lambda f: F.logsigmoid(f).mean(), ["sign is flipped"]),
    (lambda f: -F.logsigmoid(f).sum(), ["summed over the batch"]),
    (lambda f: BCE(torch.sigmoid(f), torch.ones_like(f)), ["sigmoid is applied twice"]),
    (lambda f: -torch.log(torch.sigmoid(f)).mean(), ["not finite for saturated logits", "logsigmoid"]),
    (lambda f: -torch.log(torch.sigmoid(f) + 1e-8).mean(), ["wrong for saturated logits"]),
    (lambda f: (1 - torch.sigmoid(f)).mean(), ["without a log"]),
    (lambda f: -f.mean(), ["wasserstein"]),
    (lambda f: -F.logsigmoid(f.detach()).mean(), ["carries no gradient"]),
    (lambda f: -F.logsigmoid(f), ["one number"]),
    (lambda f: float(-F.logsigmoid(f).mean()), ["not a torch tensor"]),
    (_g_inplace, ["in place"]),
    (lambda f: None, ["return"]),
])
def test_generator_loss_mistakes(wrong, words):
    expect_failure(checks.check_generator_loss, wrong, *words)


# ---- Exercise 3 ------------------------------------------------------------------------------

def _cat(cond, marg):
    return lambda r, f: {"cond_real": cond(r), "cond_fake": cond(f), "marginal_real": marg(r),
                         "marginal_fake": marg(f)}


def _cond(x):
    return _entropy(torch.softmax(x, 1), 1).mean()


def _marg(x):
    return _entropy(torch.softmax(x, 1).mean(0), 0)


def _cat_inplace(real_logits, fake_logits):
    real_logits.sub_(real_logits.max(dim=1, keepdim=True).values)
    return cat_ok(real_logits, fake_logits)


@pytest.mark.parametrize("wrong, words", [
    (_cat(_marg, _cond), ["'cond_real'", "marginal* entropy", "swapped", "mean_b h[p(y | x_b)]",
                          "h[mean_b p(y | x_b)]"]),
    (_cat(_cond, _cond), ["'marginal_real'", "conditional* entropy", "swapped"]),
    (_cat(lambda x: -(x * torch.log(x)).sum(1).mean(), lambda x: -(x.mean(0) * torch.log(x.mean(0))).sum()),
     ["nan", "logits as probabilities", "softmax"]),
    (_cat(lambda x: _cond(x) / math.log(2), lambda x: _marg(x) / math.log(2)), ["log base 2"]),
    (_cat(lambda x: _entropy(torch.softmax(x, 1), 1).sum(), _marg), ["summed over the batch"]),
    (_cat(lambda x: -_cond(x), lambda x: -_marg(x)), ["negative"]),
    (_cat(_cond, lambda x: _entropy(torch.softmax(x, 1).mean(1), 0)), ["class axis (dim=1)"]),
    (_cat(_cond, lambda x: _entropy(torch.softmax(x, 1).sum(0), 0)), ["summed over the batch, not averaged"]),
    (_cat(_cond, lambda x: _entropy(torch.softmax(x.mean(0), 0), 0)), ["mean logits"]),
    (_cat(lambda x: _entropy(torch.softmax(x, 0), 1).mean(), _marg), ["batch axis (dim=0)"]),
    (_cat(lambda x: _entropy(torch.softmax(x, 1), 1).mean() / x.shape[1], _marg), ["averaged over the classes"]),
    (_cat(lambda x: -(torch.softmax(x, 1) * torch.log(torch.softmax(x, 1))).sum(1).mean(), _marg),
     ["not finite for saturated logits", "log_softmax"]),
    (_cat(lambda x: torch.special.entr(torch.softmax(x, 1)).sum(1).mean(),
          lambda x: torch.special.entr(torch.softmax(x, 1).mean(0)).sum()), ["gradient is nan", "entr"]),
    (lambda r, f: {**cat_ok(r, f), "cond_fake": _cond(r)}, ["'cond_fake'", "other batch"]),
    (lambda r, f: {k.replace("marginal", "marg"): v for k, v in cat_ok(r, f).items()},
     ["no key(s) ['marginal_real', 'marginal_fake']", "marg_real"]),
    (lambda r, f: tuple(cat_ok(r, f).values()), ["returned a tuple", "dict"]),
    (lambda r, f: {k: v.item() for k, v in cat_ok(r, f).items()}, ["not a torch tensor"]),
    (lambda r, f: {k: v.reshape(1) for k, v in cat_ok(r, f).items()}, ["shape (1,)"]),
    (lambda r, f: cat_ok(r.detach(), f.detach()), ["carry no gradient"]),
    (lambda r, f: {**cat_ok(r, f), "marginal_real": _marg(r.detach())}, ["'marginal_real'", "carries no gradient"]),
    (lambda r, f: {**cat_ok(r, f), "cond_real": _cond(r) + (f - f.detach()).sum()}, ["depends on the other batch"]),
    (_cat_inplace, ["changed its input `real_logits` in place"]),
    (lambda r, f: None, ["return"]),
])
def test_catgan_entropies_mistakes(wrong, words):
    expect_failure(checks.check_catgan_entropies, wrong, *words)


# ---- Exercise 4 ------------------------------------------------------------------------------

def _log_q(q):
    return torch.log_softmax(q, dim=1)


def _mi_inplace(q_logits, codes):
    q_logits -= q_logits.max(dim=1, keepdim=True).values
    return mi_ok(q_logits, codes)


@pytest.mark.parametrize("wrong, words", [
    (lambda q, c: math.log(q.shape[1]) - F.cross_entropy(torch.softmax(q, 1), c), ["softmax is applied before"]),
    (lambda q, c: F.cross_entropy(q, c), ["cross-entropy loss", "not the bound"]),
    (lambda q, c: -mi_ok(q, c), ["sign is flipped", "-l_i"]),
    (lambda q, c: -F.cross_entropy(q, c), ["h(c) = log k is left out"]),
    (lambda q, c: math.log(q.shape[1]) - F.cross_entropy(q, c, reduction="sum"), ["summed over the batch"]),
    (lambda q, c: mi_ok(q, c) / math.log(2), ["bits"]),
    (lambda q, c: math.log2(q.shape[1]) - F.cross_entropy(q, c), ["math.log2(k)"]),
    (lambda q, c: math.log(q.shape[1]) + (_log_q(q) * c).sum(1).mean(), ["one-hot"]),
    (lambda q, c: math.log(q.shape[1]) + (_log_q(q) * c[:, None]).sum(1).mean(), ["one-hot"]),
    (lambda q, c: math.log(q.shape[1]) + _log_q(q).gather(0, c[:, None]).mean(), ["wrong axis", "dim=0"]),
    (lambda q, c: math.log(q.shape[1]) + _log_q(q)[:, c].mean(), ["(b, b) matrix"]),
    (lambda q, c: math.log(q.shape[1]) + _log_q(q)[c].mean(), ["out of bounds", "int64 class indices"]),
    (lambda q, c: math.log(q.shape[1]) + _log_q(q).mean(), ["codes are not used"]),
    (lambda q, c: math.log(q.shape[1]) + _log_q(q.t()).t()[torch.arange(len(c)), c].mean(), ["batch axis (dim=0)"]),
    (lambda q, c: math.log(q.shape[1]) + torch.log(torch.softmax(q, 1))[torch.arange(len(c)), c].mean(),
     ["confidently wrong", "-inf", "log_softmax"]),
    (lambda q, c: math.log(10) - F.cross_entropy(q, c), ["log(3/4) / 2"]),
    (lambda q, c: math.log(q.shape[1]) - F.cross_entropy(q, c.flip(0)), ["expected"]),
    (lambda q, c: mi_ok(q.detach(), c), ["carries no gradient"]),
    (lambda q, c: mi_ok(q, c).item(), ["not a torch tensor"]),
    (lambda q, c: _log_q(q)[torch.arange(len(c)), c] + math.log(q.shape[1]), ["one number"]),
    (_mi_inplace, ["changed its input `q_logits` in place"]),
    (lambda q, c: mi_ok(q, c.float()), ["int64 class indices"]),
    (lambda q, c: None, ["return"]),
])
def test_categorical_mi_lower_bound_mistakes(wrong, words):
    expect_failure(checks.check_categorical_mi_lower_bound, wrong, *words)


# ---- Exercise 5 ------------------------------------------------------------------------------

def _aae_parts(D, zp, ze):
    real, fake, enc = D(zp).flatten(), D(ze.detach()).flatten(), D(ze).flatten()
    return real, fake, enc


def _aae(d_fn, e_fn):
    def fn(D, zp, ze):
        real, fake, enc = _aae_parts(D, zp, ze)
        return d_fn(real, fake), e_fn(enc)
    return fn


def _d_right(real, fake):
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _e_right(enc):
    return F.softplus(-enc).mean()


def _not_detached(D, zp, ze):
    real, fake = D(zp).flatten(), D(ze).flatten()
    return _d_right(real, fake), _e_right(fake)


def _detached_everywhere(D, zp, ze):
    real, fake = D(zp).flatten(), D(ze.detach()).flatten()
    return _d_right(real, fake), _e_right(fake)


def _output_detached(D, zp, ze):
    real, enc = D(zp).flatten(), D(ze).flatten()
    return _d_right(real, enc.detach()), _e_right(enc)


def _broadcast(D, zp, ze):
    logits = torch.cat([D(zp), D(ze.detach())])
    labels = torch.cat([torch.ones(len(zp)), torch.zeros(len(ze))]).to(logits.dtype)
    per_code = -(labels * F.logsigmoid(logits) + (1 - labels) * F.logsigmoid(-logits))
    return per_code.sum() / len(zp), -F.logsigmoid(D(ze)).mean()


def _bce_shape_mismatch(D, zp, ze):
    real, fake = D(zp), D(ze.detach())
    return (BCE(real, torch.ones(len(zp), dtype=real.dtype)) + BCE(fake, torch.zeros(len(ze), dtype=real.dtype)),
            BCE(D(ze), torch.ones(len(ze), dtype=real.dtype)))


def _no_grad_d(D, zp, ze):
    with torch.no_grad():
        d_loss = _d_right(D(zp).flatten(), D(ze).flatten())
    return d_loss, _e_right(D(ze).flatten())


def _calls_backward(D, zp, ze):
    d_loss, enc_loss = aae_ok(D, zp, ze)
    d_loss.backward(retain_graph=True)
    return d_loss, enc_loss


def _freezes_d(D, zp, ze):
    d_loss = _d_right(D(zp).flatten(), D(ze.detach()).flatten())
    for p in D.parameters():
        p.requires_grad_(False)
    return d_loss, _e_right(D(ze).flatten())


def _clamps_prior(code_discriminator, z_prior, z_encoded):
    z_prior.clamp_(-1.0, 1.0)
    return aae_ok(code_discriminator, z_prior, z_encoded)


@pytest.mark.parametrize("wrong, words", [
    (_not_detached, ["d_loss sends a gradient into z_encoded", "z_encoded.detach()", "recognised as fake"]),
    (_detached_everywhere, ["enc_loss sends no gradient into z_encoded"]),
    (_output_detached, ["wrong gradient for the discriminator's parameters", "*output*"]),
    (_aae(lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean(), _e_right), ["d_loss: the labels are swapped"]),
    (_aae(_d_right, lambda e: torch.log(1 - torch.sigmoid(e)).mean()), ["saturating (minimax)"]),
    (_aae(_d_right, lambda e: F.softplus(e).mean()), ["recognised as fake"]),
    (_aae(_d_right, lambda e: F.logsigmoid(e).mean()), ["enc_loss: the sign is flipped"]),
    (_aae(_d_right, lambda e: F.softplus(-e).sum()), ["enc_loss is summed"]),
    (_aae(lambda r, f: -_d_right(r, f), _e_right), ["d_loss: the sign is flipped"]),
    (_aae(lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(), _e_right), ["d_loss is summed"]),
    (_aae(lambda r, f: BCE(torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), _e_right),
     ["averages the prior's and the encoder's codes together"]),
    (_aae(lambda r, f: F.softplus(-r).mean(), _e_right), ["only the term for the prior's codes"]),
    (_aae(_d_right, lambda e: BCE(torch.sigmoid(e), torch.ones_like(e))), ["sigmoid is applied twice"]),
    (lambda D, zp, ze: (lambda real, fake, enc: (_d_right(real, fake), -_d_right(real, enc)))(*_aae_parts(D, zp, ze)),
     ["enc_loss is -d_loss", "minimax"]),
    (lambda D, zp, ze: (lambda real, fake, enc: (_d_right(real, fake), _e_right(enc) + (zp - zp.detach()).sum()))(
        *_aae_parts(D, zp, ze)), ["enc_loss depends on z_prior"]),
    (_broadcast, ["right for a discriminator that returns logits of shape (b,)", "(b, b) matrix", "reshape(-1)"]),
    (_bce_shape_mismatch, ["target size", "(b, 1)", "reshape(-1)"]),
    (lambda D, zp, ze: aae_ok(D, zp, ze)[::-1], ["wrong order", "(d_loss, enc_loss)"]),
    (lambda D, zp, ze: dict(zip(("d_loss", "enc_loss"), aae_ok(D, zp, ze))), ["returned dict", "tuple"]),
    (lambda D, zp, ze: aae_ok(D, zp, ze)[0], ["returned tensor", "tuple of two"]),
    (lambda D, zp, ze: tuple(x.item() for x in aae_ok(D, zp, ze)), ["not a torch tensor"]),
    (_no_grad_d, ["d_loss carries no gradient"]),
    (_calls_backward, ["backward"]),
    (_freezes_d, ["requires_grad"]),
    (_clamps_prior, ["changed its input `z_prior` in place"]),
    (lambda D, zp, ze: None, ["return"]),
])
def test_code_adversarial_losses_mistakes(wrong, words):
    expect_failure(checks.check_code_adversarial_losses, wrong, *words)


# ---- the fall-back on the reference (not done yet: tests/test_checks_common.py) ---------------


def _critic():
    lin = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -1.0, 0.25]], dtype=torch.float64))
        lin.bias.fill_(0.1)
    return lin


def _args(name):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return {"discriminator_loss": (r(6), r(4)), "generator_loss": (r(5),),
            "catgan_entropies": (r(6, 4), r(5, 4)),
            "categorical_mi_lower_bound": (r(6, 4), torch.tensor([0, 3, 1, 1, 2, 0])),
            "code_adversarial_losses": (_critic(), r(5, 3), r(5, 3))}[name]


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
    return torch.equal(a, b)


@pytest.mark.parametrize("name", ["discriminator_loss", "generator_loss", "catgan_entropies",
                                  "categorical_mi_lower_bound", "code_adversarial_losses"])
def test_reference_if_unfinished(name, capsys):
    reference = getattr(gan_losses, name)

    def todo(*args):
        raise NotImplementedError()

    todo.__name__ = name
    stand_in = checks.reference_if_unfinished(todo)
    args = _args(name)
    assert _same(stand_in(*args), reference(*args))
    stand_in(*args)
    out = capsys.readouterr().out
    assert out.count("is not done yet: using the reference implementation") == 1 and "Exercise" in out
    assert f"gan_losses.{name}" in out

    def finished(*a):
        return reference(*a)

    finished.__name__ = name
    assert checks.reference_if_unfinished(finished)(*args) is not None and capsys.readouterr().out == ""


def test_reference_if_unfinished_rejects_unknown_names():
    with pytest.raises(ValueError, match="discriminator_loss"):
        checks.reference_if_unfinished(lambda q: q)
