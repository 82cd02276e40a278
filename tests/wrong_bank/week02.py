"""Wrong answers to week 02's exercises (reparameterize, MyVAE, vae_loss). See README.md.

Includes every wrong implementation ``tests/test_checks_week02.py`` feeds to the checks, in the
form a student would write it, and the audit's ``MyVAE`` that hard-codes three hidden layers.
"""
from __future__ import annotations

NOTEBOOK = "02_vae.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import time\n"
         "from typing import Sequence\n"
         "import numpy as np\n"
         "import torch\n"
         "import torch.nn.functional as F\n"
         "from torch import nn\n"
         "from course_utils import models\n"
         "from course_utils.checks import week02 as checks\n"
         "def reparameterize(mu, logvar):\n"          # Exercise 1 done (MyVAE.forward uses it)
         "    return mu + torch.exp(0.5 * logvar) * torch.randn_like(logvar)\n", ns)
    return ns


# --------------------------------------------------------------------------------------------
# Exercise 1: reparameterize
# --------------------------------------------------------------------------------------------

def _reparam(body: str) -> str:
    return "def reparameterize(mu, logvar):\n" + "".join(f"    {line}\n" for line in body.strip().split("\n"))


_REPARAM = [
    ("not done yet", "raise NotImplementedError()"),
    ("forgot return", "z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)"),
    ("returns a NumPy array", "return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach().numpy()"),
    ("mu detached", "return mu.detach() + torch.exp(0.5 * logvar) * torch.randn_like(mu)"),
    ("result detached", "return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach()"),
    ("sigma^2 instead of sigma", "return mu + torch.exp(logvar) * torch.randn_like(mu)"),
    ("noise not scaled", "return mu + torch.randn_like(mu)"),
    ("no noise", "return mu + 0 * logvar"),
    ("uniform noise", "return mu + torch.exp(0.5 * logvar) * torch.rand_like(mu)"),
    ("one noise vector for the batch", "return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[1])"),
    ("NumPy noise", "eps = torch.from_numpy(np.random.randn(*mu.shape)).float()\n"
                    "return mu + torch.exp(0.5 * logvar) * eps"),
    ("2 mu", "return 2 * mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)"),
    ("exp(logvar / 4)", "return mu + torch.exp(0.25 * logvar) * torch.randn_like(mu)"),
    ("seeded generator inside", "g = torch.Generator().manual_seed(0)\n"
                                "return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)"),
    ("torch.manual_seed inside", "torch.manual_seed(0)\n"
                                 "return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)"),
    ("casts to float32", "return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).float()"),
    ("latent size hard-coded to 10", "eps = torch.randn(mu.shape[0], 10)\n"
                                     "return mu + torch.exp(0.5 * logvar) * eps"),
    ("batch size hard-coded to 64", "eps = torch.randn(64, mu.shape[1], dtype=mu.dtype)\n"
                                    "return mu + torch.exp(0.5 * logvar) * eps[:mu.shape[0]]"),
    ("adds to mu in place", "mu += torch.exp(0.5 * logvar) * torch.randn_like(mu)\nreturn mu"),
    ("sigma = sqrt(logvar)", "return mu + torch.sqrt(logvar.abs()) * torch.randn_like(mu)"),
]


# --------------------------------------------------------------------------------------------
# Exercise 2: MyVAE
# --------------------------------------------------------------------------------------------

_INIT_OK = """
sizes = [in_dim, *hidden]
trunk = []
for n_in, n_out in zip(sizes[:-1], sizes[1:]):
    trunk += [nn.Linear(n_in, n_out), nn.ReLU()]
self.trunk = nn.Sequential(*trunk)
self.fc_mu = nn.Linear(hidden[-1], latent_dim)
self.fc_logvar = nn.Linear(hidden[-1], latent_dim)
sizes = [latent_dim, *reversed(hidden), in_dim]
layers = []
for n_in, n_out in zip(sizes[:-1], sizes[1:]):
    layers += [nn.Linear(n_in, n_out), nn.ReLU()]
self.dec = nn.Sequential(*layers[:-1])
"""
_ENCODE_OK = "h = self.trunk(x)\nreturn self.fc_mu(h), self.fc_logvar(h)"
_DECODE_OK = "return self.dec(z)"
_FORWARD_OK = "mu, logvar = self.encode(x)\nz = reparameterize(mu, logvar)\nreturn self.decode(z), mu, logvar"


def _indent(body: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in body.strip("\n").split("\n"))


def _vae(init: str = _INIT_OK, encode: str = _ENCODE_OK, decode: str = _DECODE_OK,
         forward: str = _FORWARD_OK, defaults: str = "in_dim: int = 784, hidden: Sequence[int] = (500, 500, 2000), "
                                                    "latent_dim: int = 10") -> str:
    return ("class MyVAE(nn.Module):\n"
            f"    def __init__(self, {defaults}):\n"
            "        super().__init__()\n"
            "        self.in_dim, self.hidden, self.latent_dim = in_dim, tuple(hidden), latent_dim\n"
            + _indent(init, 8)
            + "\n    def encode(self, x):\n" + _indent(encode, 8)
            + "\n    def decode(self, z):\n" + _indent(decode, 8)
            + "\n    def forward(self, x):\n" + _indent(forward, 8))


_THREE_LAYERS = """
h1, h2, h3 = hidden[0], hidden[1], hidden[2]
self.trunk = nn.Sequential(nn.Linear(in_dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                           nn.Linear(h2, h3), nn.ReLU())
self.fc_mu = nn.Linear(h3, latent_dim)
self.fc_logvar = nn.Linear(h3, latent_dim)
self.dec = nn.Sequential(nn.Linear(latent_dim, h3), nn.ReLU(), nn.Linear(h3, h2), nn.ReLU(),
                         nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, in_dim))
"""

_MODULE = [
    ("not done yet", _vae(init="raise NotImplementedError()", encode="raise NotImplementedError()",
                          decode="raise NotImplementedError()")),
    ("__init__ done, encode and decode not yet", _vae(encode="raise NotImplementedError()",
                                                      decode="raise NotImplementedError()")),
    ("three hidden layers hard-coded (h1, h2, h3 = hidden[0], hidden[1], hidden[2])", _vae(init=_THREE_LAYERS)),
    ("sigmoid at the end of the decoder", _vae(decode="return torch.sigmoid(self.dec(z))")),
    ("no ReLU in the encoder", _vae(encode="h = x\nfor m in self.trunk:\n    if isinstance(m, nn.Linear):\n"
                                           "        h = m(h)\nreturn self.fc_mu(h), self.fc_logvar(h)")),
    ("no ReLU in the decoder", _vae(decode="for m in self.dec:\n    if isinstance(m, nn.Linear):\n"
                                           "        z = m(z)\nreturn z")),
    ("mu and logvar from the same head", _vae(encode="mu = self.fc_mu(self.trunk(x))\nreturn mu, mu")),
    ("ReLU on logvar", _vae(encode="h = self.trunk(x)\nreturn self.fc_mu(h), F.relu(self.fc_logvar(h))")),
    ("forward decodes mu", _vae(forward="mu, logvar = self.encode(x)\nreturn self.decode(mu), mu, logvar")),
    ("sizes fixed to 784-500-500-2000-10", _vae(init=_INIT_OK.replace("in_dim, *hidden", "784, 500, 500, 2000")
                                                .replace("latent_dim, *reversed(hidden), in_dim", "10, 2000, 500, 500, 784")
                                                .replace("hidden[-1], latent_dim", "2000, 10"))),
    ("decoder not mirrored", _vae(init=_INIT_OK.replace("[latent_dim, *reversed(hidden), in_dim]",
                                                        "[latent_dim, *hidden, in_dim]"))),
    ("wrong default sizes", _vae(defaults="in_dim=784, hidden=(500, 500, 1000), latent_dim=10")),
    ("no constructor arguments", _vae(defaults="").replace("self, )", "self)").replace(
        "super().__init__()\n", "super().__init__()\n        in_dim, hidden, latent_dim = 784, (500, 500, 2000), 10\n", 1)),
    ("layers in a plain list", _vae(init="self.layers = [nn.Linear(in_dim, latent_dim)]",
                                    encode="h = self.layers[0](x)\nreturn h, h - 1",
                                    decode="return z")),
    ("logvar computed from the mu head", _vae(encode="h = self.trunk(x)\nreturn self.fc_mu(h), self.fc_mu(h) * 0.5 - 1.0")),
    ("leaky ReLU in the decoder (section 4's copy into models.VAE fails)",
     _vae(decode="for m in self.dec:\n    z = F.leaky_relu(z, 0.3) if isinstance(m, nn.ReLU) else m(z)\nreturn z")),
    ("forward returns mu and logvar in the wrong order",
     _vae(forward="mu, logvar = self.encode(x)\nreturn self.decode(reparameterize(mu, logvar)), logvar, mu")),
    ("hidden taken as a single width", _vae(init=_INIT_OK.replace("[in_dim, *hidden]", "[in_dim, hidden[0]]")
                                            .replace("[latent_dim, *reversed(hidden), in_dim]",
                                                     "[latent_dim, hidden[0], in_dim]")
                                            .replace("hidden[-1], latent_dim", "hidden[0], latent_dim"))),
]


# --------------------------------------------------------------------------------------------
# Exercise 3: vae_loss
# --------------------------------------------------------------------------------------------

_RECON_OK = 'F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1).mean()'
_KL_PER = "(-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()))"
_KL_OK = _KL_PER + ".sum(dim=1).mean()"


def _loss(recon: str = _RECON_OK, kl: str = _KL_OK, total: str = "recon + beta * kl",
          ret: str = "total, recon, kl", beta_default: str = "1.0") -> str:
    return (f"def vae_loss(x, x_logits, mu, logvar, beta={beta_default}):\n"
            f"    recon = {recon}\n    kl = {kl}\n    total = {total}\n    return {ret}\n")


_BCE = 'F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")'

_LOSS = [
    ("not done yet", "def vae_loss(x, x_logits, mu, logvar, beta=1.0):\n    raise NotImplementedError()\n"),
    ("forgot return", _loss().replace("    return total, recon, kl\n", "")),
    # the reconstruction term
    ("recon averaged over pixels", _loss(recon=_BCE + ".mean()")),
    ("recon with the default reduction", _loss(recon="F.binary_cross_entropy_with_logits(x_logits, x)")),
    ("recon summed over the batch", _loss(recon=_BCE + ".sum()")),
    ("recon negative", _loss(recon="-" + _RECON_OK)),
    ("sigmoid applied twice", _loss(recon='F.binary_cross_entropy_with_logits(torch.sigmoid(x_logits), x, '
                                          'reduction="none").sum(1).mean()')),
    ("squared error", _loss(recon="((torch.sigmoid(x_logits) - x) ** 2).sum(1).mean()")),
    ("input and target swapped", _loss(recon='F.binary_cross_entropy_with_logits(x, x_logits, '
                                             'reduction="none").sum(1).mean()')),
    ("recon per example", _loss(recon=_BCE + ".sum(1)")),
    ("log(sigmoid) by hand", _loss(recon="-(x * torch.log(torch.sigmoid(x_logits)) + (1 - x) * "
                                         "torch.log(1 - torch.sigmoid(x_logits))).sum(1).mean()")),
    ("recon off by 10 %", _loss(recon=_RECON_OK + " * 0.9")),
    # the KL term
    ("kl with the wrong sign", _loss(kl="-" + _KL_OK)),
    ("kl without 1/2", _loss(kl="2 * " + _KL_OK)),
    ("kl averaged over latent dims", _loss(kl=_KL_PER + ".mean()")),
    ("kl summed over the batch", _loss(kl=_KL_PER + ".sum()")),
    ("logvar taken as log sigma", _loss(kl="(-0.5 * (1 + 2 * logvar - mu**2 - torch.exp(2 * logvar))).sum(1).mean()")),
    ("logvar taken as sigma", _loss(kl="(-0.5 * (1 + torch.log(logvar**2) - mu**2 - logvar**2)).sum(1).mean()")),
    ("log of logvar", _loss(kl="(-0.5 * (1 + torch.log(logvar) - mu**2 - logvar)).sum(1).mean()")),
    ("sigma where sigma^2 belongs", _loss(kl="(-0.5 * (1 + logvar - mu**2 - torch.exp(0.5 * logvar))).sum(1).mean()")),
    ("kl missing the 1", _loss(kl="(-0.5 * (logvar - mu**2 - logvar.exp())).sum(1).mean()")),
    ("kl missing mu^2", _loss(kl="(-0.5 * (1 + logvar - logvar.exp())).sum(1).mean()")),
    ("kl per example", _loss(kl=_KL_PER + ".sum(1)")),
    ("kl off by 0.1", _loss(kl=_KL_OK + " + 0.1")),
    ("kl squeezed (breaks for d = 1)", _loss(kl=_KL_PER + ".squeeze().sum(dim=-1).mean()")),
    ("batch size hard-coded to 64", _loss(recon=_BCE + ".sum() / 64", kl=_KL_PER + ".sum() / 64")),
    # combining the terms
    ("recon - kl", _loss(total="recon - beta * kl")),
    ("the ELBO instead of its negative", _loss(total="-(recon + beta * kl)")),
    ("beta ignored", _loss(total="recon + kl")),
    ("beta on the reconstruction", _loss(total="beta * recon + kl")),
    ("loss as a Python float", _loss(total="(recon + beta * kl).item()")),
    ("loss detached", _loss(total="(recon + beta * kl).detach()")),
    ("returns only the loss", _loss(ret="total")),
    ("default beta = 2", _loss(beta_default="2.0")),
    ("terms in the wrong order", _loss(ret="recon, kl, total")),
    ("squares mu in place", _loss(kl="(-0.5 * (1 + logvar - mu.pow_(2) - logvar.exp())).sum(1).mean()")),
]


CASES = ([("test_reparameterize", name, _reparam(body)) for name, body in _REPARAM]
         + [("test_vae_module", name, source) for name, source in _MODULE]
         + [("test_vae_loss", name, source) for name, source in _LOSS])
