"""The week-02 self-checks pass correct code and catch the common mistakes with a useful message.

Every check is run on a correct implementation (must pass and print one line) and on several
deliberately wrong ones (must raise ``CheckFailed`` whose message names the mistake).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import models
from course_utils.checks import week02 as checks
from course_utils.checks._common import GRADING_ENV, CheckFailed


# --------------------------------------------------------------------------------------------
# reparameterize
# --------------------------------------------------------------------------------------------

def reparam_ok(mu, logvar):
    std = torch.exp(0.5 * logvar)
    return mu + std * torch.randn_like(std)


def reparam_sqrt_ok(mu, logvar):  # the same thing written differently
    return torch.randn_like(mu).mul(logvar.exp().sqrt()).add(mu)


def test_reparameterize_correct_passes(course_implementation_allowed, capsys):
    checks.check_reparameterize(reparam_ok)
    checks.check_reparameterize(reparam_sqrt_ok)
    checks.check_reparameterize(models.reparameterize)
    assert capsys.readouterr().out.count("\u2714") == 3


@pytest.mark.parametrize(
    "wrong, pattern",
    [
        (lambda mu, lv: None, "forget (to|the) `return`"),
        (lambda mu, lv: (mu + torch.exp(0.5 * lv) * torch.randn_like(mu)).detach().numpy(), "NumPy"),
        (lambda mu, lv: mu.detach() + torch.exp(0.5 * lv) * torch.randn_like(mu), "does not depend on mu"),
        (lambda mu, lv: (mu + torch.exp(0.5 * lv) * torch.randn_like(mu)).detach(), "not connected"),
        (lambda mu, lv: mu + torch.exp(lv) * torch.randn_like(mu), r"exp\(logvar\) = sigma\^2"),
        (lambda mu, lv: mu + torch.randn_like(mu), "does not depend on logvar"),
        (lambda mu, lv: mu + 0 * lv, "does not depend on logvar|no noise"),
        (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.rand_like(mu), "uniform|torch.randn_like"),
        (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn(mu.shape[1]), "same noise"),
        (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.from_numpy(np.random.randn(*mu.shape)).float(),
         "manual_seed"),
        (lambda mu, lv: 2 * mu + torch.exp(0.5 * lv) * torch.randn_like(mu), "dz/dmu should be 1"),
        (lambda mu, lv: mu + torch.exp(0.25 * lv) * torch.randn_like(mu), "gradient with respect to logvar"),
    ],
)
def test_reparameterize_mistakes(wrong, pattern):
    with pytest.raises(CheckFailed, match=pattern):
        checks.check_reparameterize(wrong)


def test_reparameterize_seeded_inside_is_caught():
    def reseeds(mu, logvar):
        g = torch.Generator().manual_seed(0)
        return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)

    with pytest.raises(CheckFailed, match="two calls in a row gave the same z"):
        checks.check_reparameterize(reseeds)


# --------------------------------------------------------------------------------------------
# The VAE module
# --------------------------------------------------------------------------------------------

def _mlp(sizes, last_relu=False):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAEOk(nn.Module):
    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__()
        self.trunk = _mlp([in_dim, *hidden], last_relu=True)
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)
        self.dec = _mlp([latent_dim, *hidden[::-1], in_dim])

    def encode(self, x):
        h = self.trunk(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return self.dec(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(reparam_ok(mu, logvar)), mu, logvar


class VAEOneHead(VAEOk):
    """A single Linear head with 2d outputs, split: the same model, also correct."""

    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__(in_dim, hidden, latent_dim)
        del self.fc_mu, self.fc_logvar
        self.heads = nn.Linear(hidden[-1], 2 * latent_dim)

    def encode(self, x):
        return self.heads(self.trunk(x)).chunk(2, dim=1)


class SigmoidDecoder(VAEOk):
    def decode(self, z):
        return torch.sigmoid(self.dec(z))


class LinearEncoder(VAEOk):
    def encode(self, x):
        h = x
        for m in self.trunk:
            if isinstance(m, nn.Linear):
                h = m(h)
        return self.fc_mu(h), self.fc_logvar(h)


class LinearDecoder(VAEOk):
    def decode(self, z):
        for m in self.dec:
            if isinstance(m, nn.Linear):
                z = m(z)
        return z


class SameHead(VAEOk):
    def encode(self, x):
        mu = self.fc_mu(self.trunk(x))
        return mu, mu


class ReluOnLogvar(VAEOk):
    def encode(self, x):
        mu, logvar = super().encode(x)
        return mu, F.relu(logvar)


class DecodesMean(VAEOk):
    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(mu), mu, logvar


class FixedSizes(VAEOk):
    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__(784, (500, 500, 2000), 10)


class NoDecoderMirror(VAEOk):
    """Decoder not mirrored: d-h1-h2-h3-D."""

    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__(in_dim, hidden, latent_dim)
        self.dec = _mlp([latent_dim, *hidden, in_dim])


class WrongDefaults(VAEOk):
    def __init__(self, in_dim=784, hidden=(500, 500, 1000), latent_dim=10):
        super().__init__(in_dim, hidden, latent_dim)


class NoArgs(VAEOk):
    def __init__(self):
        super().__init__()


class ListLayers(nn.Module):
    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__()
        self.layers = [nn.Linear(in_dim, latent_dim)]


class UnusedLayer(VAEOk):
    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__(in_dim, hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)
        self.spare = nn.Identity()

    def encode(self, x):
        h = self.trunk(x)
        return self.fc_mu(h), self.fc_mu(h) * 0.5 - 1.0


def test_vae_module_correct_passes(course_implementation_allowed, capsys):
    checks.check_vae_module(VAEOk)
    checks.check_vae_module(VAEOneHead)
    checks.check_vae_module(models.VAE)
    out = capsys.readouterr().out
    assert out.count("\u2714") == 3 and "3,350,804" in out


@pytest.mark.parametrize(
    "wrong, pattern",
    [
        (SigmoidDecoder, "sigmoid"),
        (LinearEncoder, "encode is an affine function"),
        (LinearDecoder, "decode is an affine function"),
        (SameHead, "same tensor for mu and logvar"),
        (ReluOnLogvar, "logvar .* is >= 0"),
        (DecodesMean, "decodes mu itself"),
        (FixedSizes, r"has \d+ parameters, expected .*no fixed numbers"),
        (NoDecoderMirror, r"(?s)expected decoder: 3->24, 24->12, 12->16, 16->20"),
        (WrongDefaults, r"default arguments has 2,\d+,\d+ parameters"),
        (NoArgs, "must accept in_dim, hidden and latent_dim"),
        (ListLayers, "no parameters"),
    ],
)
def test_vae_module_mistakes(wrong, pattern):
    with pytest.raises(CheckFailed, match=pattern):
        checks.check_vae_module(wrong)


class Todo(nn.Module):
    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        super().__init__()
        raise NotImplementedError()


def _todo_fn(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("check, todo", [(checks.check_reparameterize, _todo_fn),
                                         (checks.check_vae_module, Todo),
                                         (checks.check_vae_loss, _todo_fn)])
def test_not_implemented_prints_a_cross_and_raises_when_grading(check, todo, capsys, monkeypatch):
    monkeypatch.delenv(GRADING_ENV, raising=False)
    check(todo)
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented yet" in out and "\u2714" not in out
    monkeypatch.setenv(GRADING_ENV, "1")
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(todo)


class HardCodedThreeLayers(VAEOk):
    """The audit's case: h1, h2, h3 = hidden[0], hidden[1], hidden[2] (fast mode uses one layer)."""

    def __init__(self, in_dim=784, hidden=(500, 500, 2000), latent_dim=10):
        h1, h2, h3 = hidden[0], hidden[1], hidden[2]
        super().__init__(in_dim, (h1, h2, h3), latent_dim)


class LeakyDecoder(VAEOk):
    """Passes every shape test, but the notebook's copy into models.VAE (section 4) would fail."""

    def decode(self, z):
        for m in self.dec:
            z = F.leaky_relu(z, 0.3) if isinstance(m, nn.ReLU) else m(z)
        return z


def test_vae_module_tries_the_notebooks_sizes():
    with pytest.raises(CheckFailed, match=r"(?s)hidden=\(512,\).*fast mode.*IndexError.*any length"):
        checks.check_vae_module(HardCodedThreeLayers)
    with pytest.raises(CheckFailed, match=r"library_twin.*hidden=\(512,\)"):
        checks.check_vae_module(LeakyDecoder)


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    checks.check_reparameterize(reparam_ok)
    checks.check_vae_module(VAEOk)
    checks.check_vae_loss(loss_ok)
    assert torch.equal(before, torch.random.get_rng_state())


def test_reference_if_unfinished_picks_the_library(capsys):
    def reparameterize(mu, logvar):
        raise NotImplementedError()

    def vae_loss(x, x_logits, mu, logvar, beta=1.0):
        raise NotImplementedError()

    class MyVAE(VAEOk):
        def forward(self, x):
            raise NotImplementedError()

    rep = checks.reference_if_unfinished(reparameterize)
    assert rep(torch.zeros(3, 2), torch.zeros(3, 2)).shape == (3, 2)
    loss = checks.reference_if_unfinished(vae_loss)
    x = torch.rand(4, 6)
    assert all(torch.equal(a, b) for a, b in zip(loss(x, x, x[:, :2], x[:, :2]), models.vae_loss(x, x, x[:, :2], x[:, :2])))
    cls = checks.reference_if_unfinished(MyVAE)     # forward missing: the probe finds out at once
    out = capsys.readouterr().out
    for what in ("Exercise 1 (reparameterize)", "Exercise 2 (MyVAE)", "Exercise 3 (vae_loss)"):
        assert f"{what} is not done yet" in out
    model = models.init_glorot_(cls(in_dim=784, hidden=(512,), latent_dim=10))
    assert isinstance(model, models.VAE)
    checks.library_twin(model)                      # section 4 still works with the fallback
    class MyVAE(VAEOk):  # noqa: F811 - now done
        pass

    assert type(checks.reference_if_unfinished(MyVAE)(in_dim=5, hidden=(3,), latent_dim=2)) is MyVAE
    with pytest.raises(ValueError, match="does not know"):
        checks.reference_if_unfinished(loss_ok)


def test_expected_layers_count_matches_library():
    layers = checks.expected_linear_layers(784, (500, 500, 2000), 10)
    n = sum(i * o + o for part in layers.values() for i, o in part)
    assert n == sum(p.numel() for p in models.VAE().parameters())
    assert sorted(models.linear_layer_sizes(models.VAE(20, (16, 12, 24), 3))) == sorted(
        [l for part in checks.expected_linear_layers(20, (16, 12, 24), 3).values() for l in part])


@pytest.mark.parametrize("cls", [VAEOk, VAEOneHead])
def test_library_twin_copies_weights(cls, capsys):
    torch.manual_seed(0)
    mine = cls(30, (20, 10, 40), 4)
    lib = checks.library_twin(mine)
    assert isinstance(lib, models.VAE) and lib.hidden == (20, 10, 40) and lib.latent_dim == 4
    x = torch.rand(5, 30)
    with torch.no_grad():
        assert all(torch.allclose(a, b) for a, b in zip(lib.encode(x), mine.encode(x)))
        z = torch.randn(5, 4)
        assert torch.allclose(lib.decode(z), mine.decode(z))
    assert "same function" in capsys.readouterr().out


def test_library_twin_rejects_another_function():
    class Leaky(VAEOk):
        def decode(self, z):
            for m in self.dec:
                z = F.leaky_relu(z, 0.3) if isinstance(m, nn.ReLU) else m(z)
            return z

    with pytest.raises(CheckFailed, match="computes something else"):
        checks.library_twin(Leaky(30, (20, 10, 40), 4))


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------

def loss_ok(x, x_logits, mu, logvar, beta=1.0):
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / x.shape[0]
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / x.shape[0]
    return recon + beta * kl, recon, kl


def _bce(x, x_logits):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")


def _kl(mu, logvar):
    return -0.5 * (1 + logvar - mu**2 - logvar.exp())


def make_loss(recon_fn=None, kl_fn=None, combine=None):
    def loss(x, x_logits, mu, logvar, beta=1.0):
        recon = recon_fn(x, x_logits) if recon_fn else _bce(x, x_logits).sum(1).mean()
        kl = kl_fn(mu, logvar) if kl_fn else _kl(mu, logvar).sum(1).mean()
        total = combine(recon, kl, beta) if combine else recon + beta * kl
        return total, recon, kl

    return loss


def test_vae_loss_correct_passes(course_implementation_allowed, capsys):
    checks.check_vae_loss(loss_ok)
    checks.check_vae_loss(models.vae_loss)
    assert capsys.readouterr().out.count("\u2714") == 2


@pytest.mark.parametrize(
    "wrong, pattern",
    [
        # reconstruction term
        (make_loss(recon_fn=lambda x, l: _bce(x, l).mean()), r"recon .*averaged over the D = 15 pixels"),
        (make_loss(recon_fn=lambda x, l: F.binary_cross_entropy_with_logits(l, x)), r"recon .*averaged over the D"),
        (make_loss(recon_fn=lambda x, l: _bce(x, l).sum()), r"recon .*summed over the B = 6 examples"),
        (make_loss(recon_fn=lambda x, l: -_bce(x, l).sum(1).mean()), r"recon .*negative"),
        (make_loss(recon_fn=lambda x, l: _bce(x, torch.sigmoid(l)).sum(1).mean()), r"recon .*sigmoid\(x_logits\)"),
        (make_loss(recon_fn=lambda x, l: ((torch.sigmoid(l) - x) ** 2).sum(1).mean()), r"recon .*squared error"),
        (make_loss(recon_fn=lambda x, l: F.binary_cross_entropy_with_logits(x, l, reduction="none").sum(1).mean()),
         r"recon .*swapped"),
        (make_loss(recon_fn=lambda x, l: _bce(x, l).sum(1)), r"recon \(2nd value\) has shape \(6,\).*average over the batch"),
        (make_loss(recon_fn=lambda x, l: -(x * torch.log(torch.sigmoid(l)) + (1 - x) * torch.log(1 - torch.sigmoid(l))).sum(1).mean()),
         r"recon is (nan|-?inf) for logits of \+-100.*binary_cross_entropy_with_logits"),
        (make_loss(recon_fn=lambda x, l: _bce(x, l).sum(1).mean() * 0.9), r"recon .*expected .*binary cross-entropy"),
        # KL term
        (make_loss(kl_fn=lambda m, lv: -_kl(m, lv).sum(1).mean()), r"kl .*wrong sign"),
        (make_loss(kl_fn=lambda m, lv: 2 * _kl(m, lv).sum(1).mean()), r"kl .*factor 1/2 is missing"),
        (make_loss(kl_fn=lambda m, lv: _kl(m, lv).mean()), r"kl .*averaged over the d = 4 latent"),
        (make_loss(kl_fn=lambda m, lv: _kl(m, lv).sum()), r"kl .*summed over the B = 6"),
        (make_loss(kl_fn=lambda m, lv: (-0.5 * (1 + 2 * lv - m**2 - torch.exp(2 * lv))).sum(1).mean()),
         r"kl .*treats logvar as log sigma"),
        (make_loss(kl_fn=lambda m, lv: (-0.5 * (1 + torch.log(lv**2) - m**2 - lv**2)).sum(1).mean()),
         r"kl .*treats logvar as sigma itself"),
        (make_loss(kl_fn=lambda m, lv: (-0.5 * (1 + torch.log(lv) - m**2 - lv)).sum(1).mean()),
         r"kl .*is nan.*no log"),
        (make_loss(kl_fn=lambda m, lv: (-0.5 * (1 + lv - m**2 - torch.exp(0.5 * lv))).sum(1).mean()),
         r"kl .*exp\(logvar / 2\) = sigma"),
        (make_loss(kl_fn=lambda m, lv: (-0.5 * (lv - m**2 - lv.exp())).sum(1).mean()), r"kl .*missing the 1"),
        (make_loss(kl_fn=lambda m, lv: (-0.5 * (1 + lv - lv.exp())).sum(1).mean()), r"kl .*mu\^2 term"),
        (make_loss(kl_fn=lambda m, lv: _kl(m, lv).sum(1)), r"kl \(3rd value\) has shape \(6,\)"),
        # combining the terms
        (make_loss(combine=lambda r, k, b: r - b * k), r"loss = recon - kl"),
        (make_loss(combine=lambda r, k, b: -(r + b * k)), r"that is the ELBO"),
        (make_loss(combine=lambda r, k, b: r + k), r"beta is ignored"),
        (make_loss(combine=lambda r, k, b: b * r + k), r"beta multiplies the reconstruction"),
        (make_loss(combine=lambda r, k, b: (r + b * k).item()), r"Python float.*\.item\(\)"),
        (make_loss(combine=lambda r, k, b: (r + b * k).detach()), r"not connected"),
        (lambda x, l, m, lv, beta=1.0: loss_ok(x, l, m, lv, beta)[0], "three values"),
        (lambda x, l, m, lv, beta=2.0: loss_ok(x, l, m, lv, beta), "without beta should use beta = 1.0"),
    ],
)
def test_vae_loss_mistakes(wrong, pattern):
    with pytest.raises(CheckFailed, match=pattern):
        checks.check_vae_loss(wrong)


def test_vae_loss_kl_of_sigma_names_the_kl_term():
    """Any wrong KL with a right reconstruction is reported as the KL term, not the total."""
    wrong = make_loss(kl_fn=lambda m, lv: _kl(m, lv).sum(1).mean() + 0.1)
    with pytest.raises(CheckFailed, match=r"^kl \(the KL term\)"):
        checks.check_vae_loss(wrong)
