"""The week-03 self-checks pass correct code and catch the common mistakes with a useful message.

Each check runs on a correct implementation (must pass and print one line) and on deliberately
wrong ones (must raise ``CheckFailed`` whose message names the term or the mistake).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.mixture import GaussianMixture

from course_utils.checks import week03 as checks
from course_utils.checks._common import CheckFailed

LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------------------------
# Correct implementations (written independently of the checks' reference code)
# --------------------------------------------------------------------------------------------

def log_joint(z, log_pi, mu_c, logvar_c, pi_power=1.0, var=None):
    var = torch.exp(logvar_c) if var is None else var
    d2 = (z[:, None, :] - mu_c[None]) ** 2 / var[None]
    return pi_power * log_pi[None] - 0.5 * (LOG_2PI + torch.log(var)[None] + d2).sum(-1)


def log_gamma_ok(z, log_pi, mu_c, logvar_c):
    lj = log_joint(z, log_pi, mu_c, logvar_c)
    return lj - torch.logsumexp(lj, dim=1, keepdim=True)


def terms_ok(x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c, log_gamma=log_gamma_ok):
    lg = log_gamma(z, log_pi, mu_c, logvar_c)
    g = lg.exp()
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(1)
    var_c = logvar_c.exp()[None]
    inner = LOG_2PI + logvar_c[None] + logvar.exp()[:, None] / var_c + (mu[:, None] - mu_c[None]) ** 2 / var_c
    t = {
        "recon": recon,
        "gauss": 0.5 * (g * inner.sum(-1)).sum(1),
        "prior_c": -(g * log_pi[None]).sum(1),
        "entropy_c": (g * lg).sum(1),
        "entropy_z": -0.5 * (1 + logvar).sum(1),
    }
    return t


def elbo_ok(*args, **kw):
    t = {k: v.mean() for k, v in terms_ok(*args, **kw).items()}
    t["loss"] = sum(t.values())
    return t


def init_ok(model, Z, seed=0):
    g = GaussianMixture(model.n_clusters, covariance_type="diag", random_state=seed).fit(np.asarray(Z, dtype=np.float64))
    with torch.no_grad():
        model.pi_logits.copy_(torch.as_tensor(np.log(g.weights_)))
        model.mu_c.copy_(torch.as_tensor(g.means_))
        model.logvar_c.copy_(torch.as_tensor(np.log(g.covariances_)))
    return g


# --------------------------------------------------------------------------------------------
# log_gamma
# --------------------------------------------------------------------------------------------

def test_log_gamma_correct_passes(capsys):
    checks.check_log_gamma(log_gamma_ok)
    assert capsys.readouterr().out.startswith("\u2714")


def test_library_log_gamma_passes(course_implementation_allowed):
    from course_utils.models.vade import log_gamma

    checks.check_log_gamma(log_gamma)


@pytest.mark.parametrize("wrong, words", [
    (lambda z, lp, m, v: log_joint(z, lp, m, v), "not normalised"),
    (lambda z, lp, m, v: log_gamma_ok(z, lp, m, v).exp(), "returned gamma itself"),
    (lambda z, lp, m, v: log_gamma_ok(z, torch.zeros_like(lp), m, v), "log pi is missing"),
    (lambda z, lp, m, v: torch.log_softmax(log_joint(z, lp, m, v, pi_power=z.shape[1]), 1), "theta^J"),
    (lambda z, lp, m, v: torch.log_softmax(log_joint(z, lp, m, v, var=torch.exp(v) ** 2), 1), "standard deviation"),
    (lambda z, lp, m, v: torch.log_softmax(log_joint(z, lp, m, v, var=v.abs()), 1), "not sigma_c^2"),
    (lambda z, lp, m, v: torch.log_softmax(log_joint(z, lp, m, v) + 0.5 * v.sum(1)[None], 1), "-1/2 sum_j log sigma_cj^2"),
    # exp then log: underflows far from the centres
    (lambda z, lp, m, v: torch.log(log_joint(z, lp, m, v).exp() / log_joint(z, lp, m, v).exp().sum(1, keepdim=True)),
     "logsumexp"),
    (lambda z, lp, m, v: log_gamma_ok(z, lp, m, v)[:, :-1], "shape"),
    (lambda z, lp, m, v: None, "None"),
])
def test_log_gamma_mistakes_are_named(wrong, words):
    with pytest.raises(CheckFailed, match=None) as err:
        checks.check_log_gamma(wrong)
    assert words in str(err.value), str(err.value)


def test_log_gamma_not_implemented(capsys, monkeypatch):
    def todo(*args):
        raise NotImplementedError()

    monkeypatch.delenv("COURSE_GRADING", raising=False)
    checks.check_log_gamma(todo)                                     # a cross, and Run All goes on
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented yet" in out and "\u2714" not in out
    monkeypatch.setenv("COURSE_GRADING", "1")               # under course grade: it raises
    with pytest.raises(CheckFailed, match="not implemented"):
        checks.check_log_gamma(todo)


# --------------------------------------------------------------------------------------------
# elbo_loss
# --------------------------------------------------------------------------------------------

def test_elbo_correct_passes(capsys):
    checks.check_elbo_loss(elbo_ok)
    assert capsys.readouterr().out.startswith("\u2714")


def test_library_loss_passes(course_implementation_allowed):
    from course_utils.models.vade import vade_elbo_loss

    checks.check_elbo_loss(vade_elbo_loss)


def _with(change):
    def wrong(*args):
        t = {k: v.mean() for k, v in terms_ok(*args).items()}
        change(t, args)
        t["loss"] = sum(v for k, v in t.items() if k != "loss")
        return t
    return wrong


def _flip(key):
    return _with(lambda t, a: t.__setitem__(key, -t[key]))


@pytest.mark.parametrize("wrong, words", [
    (_with(lambda t, a: t.__setitem__("entropy_c", torch.zeros(()))), ["'entropy_c'", "missing"]),
    (_with(lambda t, a: t.__setitem__("prior_c", torch.zeros(()))), ["'prior_c'", "missing"]),
    (_flip("entropy_c"), ["'entropy_c'", "wrong sign"]),
    (_flip("entropy_z"), ["'entropy_z'", "wrong sign"]),
    (_flip("prior_c"), ["'prior_c'", "wrong sign"]),
    (_with(lambda t, a: t.__setitem__("recon", t["recon"] / a[0].shape[1])), ["'recon'", "averaged over the 12 pixels"]),
    (_with(lambda t, a: t.__setitem__("gauss", t["gauss"] / a[2].shape[1])), ["'gauss'", "latent dimensions"]),
    (_with(lambda t, a: t.__setitem__("recon", t["recon"] * a[0].shape[0])), ["'recon'", "summed over the batch"]),
    (lambda *a: {k: v.mean() for k, v in terms_ok(*a, log_gamma=lambda z, lp, m, v: torch.log_softmax(
        log_joint(z, lp, m, v, pi_power=z.shape[1]), 1)).items()} | {"loss": torch.tensor(0.0)}, ["theta^J"]),
    # sigma instead of log sigma^2 in the Gaussian term
    (_with(lambda t, a: t.__setitem__("gauss", 0.5 * (log_gamma_ok(*a[2:3], *a[5:]).exp() * (
        LOG_2PI + a[7][None] + a[4].exp()[:, None] / a[7].exp()[None].sqrt()
        + (a[3][:, None] - a[7 - 1][None]) ** 2 / a[7].exp()[None].sqrt()).sum(-1)).sum(1).mean())), ["'gauss'"]),
    (lambda *a: {**elbo_ok(*a), "loss": elbo_ok(*a)["loss"] - elbo_ok(*a)["entropy_c"]}, ["not their sum"]),
    (lambda *a: {k: v for k, v in elbo_ok(*a).items() if k != "entropy_z"}, ["lacks", "entropy_z"]),
    (lambda *a: elbo_ok(*a)["loss"], ["expected a dict"]),
    (lambda *a: None, ["None"]),
    (lambda *a: {k: terms_ok(*a)[k] if k != "loss" else elbo_ok(*a)["loss"] for k in checks.ELBO_TERMS},
     ["shape", "one number"]),
    (lambda *a: {k: v.detach() for k, v in elbo_ok(*a).items()}, ["no gradient"]),
])
def test_elbo_mistakes_are_named(wrong, words):
    with pytest.raises(CheckFailed) as err:
        checks.check_elbo_loss(wrong)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_elbo_unstable_is_caught():
    def unstable(x, x_logits, *rest):
        t = elbo_ok(x, x_logits, *rest)
        p = torch.sigmoid(x_logits)
        t["recon"] = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1).mean()
        t["loss"] = sum(v for k, v in t.items() if k != "loss")
        return t

    with pytest.raises(CheckFailed, match="binary_cross_entropy_with_logits"):
        checks.check_elbo_loss(unstable)


def test_elbo_not_implemented(capsys, monkeypatch):
    def todo(*args):
        raise NotImplementedError()

    monkeypatch.delenv("COURSE_GRADING", raising=False)
    checks.check_elbo_loss(todo)                                     # a cross, and Run All goes on
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented yet" in out and "\u2714" not in out
    monkeypatch.setenv("COURSE_GRADING", "1")               # under course grade: it raises
    with pytest.raises(CheckFailed, match="not implemented"):
        checks.check_elbo_loss(todo)


# --------------------------------------------------------------------------------------------
# init_gmm
# --------------------------------------------------------------------------------------------

def test_init_correct_passes(capsys):
    checks.check_init_gmm(init_ok)
    assert capsys.readouterr().out.startswith("\u2714")


def test_library_init_passes(course_implementation_allowed):
    from course_utils.models.vade import init_gmm_from_latent

    checks.check_init_gmm(init_gmm_from_latent)


def _init_with(pi=None, mu=None, var=None, seed_offset=0):
    def wrong(model, Z, seed=0):
        g = GaussianMixture(model.n_clusters, covariance_type="diag", random_state=seed + seed_offset).fit(
            np.asarray(Z, dtype=np.float64))
        with torch.no_grad():
            if pi is not None:
                model.pi_logits.copy_(torch.as_tensor(pi(g.weights_)))
            model.mu_c.copy_(torch.as_tensor(g.means_ if mu is None else mu(g.means_)))
            model.logvar_c.copy_(torch.as_tensor(np.log(g.covariances_) if var is None else var(g.covariances_)))
        return g
    return wrong


@pytest.mark.parametrize("wrong, words", [
    (_init_with(pi=None), "still uniform"),
    (_init_with(pi=lambda w: w), "holds the weights"),
    (_init_with(pi=np.log, var=lambda v: v), "variances sigma^2"),
    (_init_with(pi=np.log, var=lambda v: 0.5 * np.log(v)), "log sigma (half"),
    (_init_with(pi=np.log, var=np.sqrt), "holds sigma"),
    (_init_with(pi=np.log, seed_offset=1), "mu_c"),
    (_init_with(pi=np.log, mu=lambda m: 0 * m), "still 0"),
    (lambda model, Z, seed=0: setattr(model, "mu_c", torch.nn.Parameter(torch.zeros(model.latent_dim, model.n_clusters))) or True,
     "(J, K)"),
])
def test_init_mistakes_are_named(wrong, words):
    with pytest.raises(CheckFailed) as err:
        checks.check_init_gmm(wrong)
    assert words in str(err.value), str(err.value)


def test_init_replacing_parameter_is_caught():
    def replace(model, Z, seed=0):
        init_ok(model, Z, seed)
        model.pi_logits = model.pi_logits.detach().clone()   # plain tensor: no longer trained

    with pytest.raises(CheckFailed):
        checks.check_init_gmm(replace)


def test_init_not_implemented(capsys, monkeypatch):
    def todo(*args):
        raise NotImplementedError()

    monkeypatch.delenv("COURSE_GRADING", raising=False)
    checks.check_init_gmm(todo)                                     # a cross, and Run All goes on
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented yet" in out and "\u2714" not in out
    monkeypatch.setenv("COURSE_GRADING", "1")               # under course grade: it raises
    with pytest.raises(CheckFailed, match="not implemented"):
        checks.check_init_gmm(todo)


# --------------------------------------------------------------------------------------------
# reference_if_unfinished, and the audit's cases
# --------------------------------------------------------------------------------------------

def test_reference_if_unfinished_uses_the_library_until_done(capsys):
    from course_utils.models import vade

    def log_gamma(z, log_pi, mu_c, logvar_c):
        raise NotImplementedError()

    args = checks._inputs(0)
    stand_in = checks.reference_if_unfinished(log_gamma)
    assert torch.equal(stand_in(*args[2:3], *args[5:]), vade.log_gamma(*args[2:3], *args[5:]))
    assert "Exercise 1 (log_gamma) is not done yet" in capsys.readouterr().out
    def done(z, log_pi, mu_c, logvar_c):                  # a finished exercise is used as it is
        return log_gamma_ok(z, log_pi, mu_c, logvar_c) + 1.0

    done.__name__ = "log_gamma"
    assert torch.equal(checks.reference_if_unfinished(done)(*args[2:3], *args[5:]),
                       log_gamma_ok(*args[2:3], *args[5:]) + 1.0)
    with pytest.raises(ValueError, match="does not know"):
        checks.reference_if_unfinished(elbo_ok)


def test_entropy_with_eps_is_caught():
    def with_eps(*a):
        t = elbo_ok(*a)
        g = log_gamma_ok(a[2], *a[5:]).exp()
        t["entropy_c"] = (g * torch.log(g + 1e-10)).sum(1).mean()
        t["loss"] = sum(v for k, v in t.items() if k != "loss")
        return t

    with pytest.raises(CheckFailed, match="log\\(g \\+ 1e-10\\)"):
        checks.check_elbo_loss(with_eps)


def test_init_without_return_is_caught():
    def no_return(model, Z, seed=0):
        init_ok(model, Z, seed)

    with pytest.raises(CheckFailed, match="return"):
        checks.check_init_gmm(no_return)


def test_init_check_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_init_gmm(init_ok)
    assert torch.equal(torch.rand(3), expected)
