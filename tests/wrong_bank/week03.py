"""Wrong answers to week 03's exercises (VaDE: log gamma, the ELBO loss, the GMM initialisation).

See README.md. The ELBO and init cases are the solution's answer with one thing changed, written
out as ``(old, new)`` edits of it, so that each case reads as the mistake it is.
"""
from __future__ import annotations

NOTEBOOK = "03_vade.ipynb"

# The solution's log_gamma: defined before exercise 2 in the notebook, so the ELBO answers use it.
LOG_GAMMA = '''
def log_gamma(z, log_pi, mu_c, logvar_c):
    diff2 = (z[:, None, :] - mu_c[None, :, :]) ** 2
    log_p_z_c = -0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 * torch.exp(-logvar_c)[None]).sum(dim=2)
    return torch.log_softmax(log_pi[None, :] + log_p_z_c, dim=1)
'''


def setup() -> dict:
    ns: dict = {}
    exec("import math\n"
         "import numpy as np\n"
         "import torch\n"
         "import torch.nn.functional as F\n"
         "from sklearn.mixture import GaussianMixture\n"
         "from course_utils.checks import week03 as checks\n"
         "from course_utils.models import VaDE\n" + LOG_GAMMA, ns)
    return ns


def _edit(template: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert template.count(old) == 1, f"{old!r} is not in the template exactly once"
        template = template.replace(old, new)
    return template


# --------------------------------------------------------------------------------------------
# Exercise 1: log_gamma
# --------------------------------------------------------------------------------------------

def _lg(body: str) -> str:
    return ("def log_gamma(z, log_pi, mu_c, logvar_c):\n"
            "    diff2 = (z[:, None, :] - mu_c[None, :, :]) ** 2\n" + body)


LOG_GAMMA_CASES = [
    ("not normalised (no logsumexp)", _lg(
        "    return log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 / logvar_c.exp()[None]).sum(2)\n")),
    ("returns gamma, not log gamma", _lg(
        "    lj = log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 / logvar_c.exp()[None]).sum(2)\n"
        "    return torch.softmax(lj, dim=1)\n")),
    ("log pi left out", _lg(
        "    return torch.log_softmax(-0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 / logvar_c.exp()[None]).sum(2), 1)\n")),
    ("theta^J: log pi inside the sum over j (as the reference)", _lg(
        "    return torch.log_softmax((log_pi[None, :, None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None]\n"
        "                              + diff2 / logvar_c.exp()[None])).sum(2), 1)\n")),
    ("exp(logvar_c) used as the standard deviation", '''
def log_gamma(z, log_pi, mu_c, logvar_c):
    comp = torch.distributions.Normal(mu_c[None], logvar_c.exp()[None])
    return torch.log_softmax(log_pi[None] + comp.log_prob(z[:, None, :]).sum(-1), dim=1)
'''),
    ("logvar_c used as the variance", _lg(
        "    return torch.log_softmax(log_pi[None] - 0.5 * (math.log(2 * math.pi) + torch.log(logvar_c.abs())[None]\n"
        "                             + diff2 / logvar_c.abs()[None]).sum(2), 1)\n")),
    ("the -1/2 sum_j log sigma_cj^2 term left out", _lg(
        "    return torch.log_softmax(log_pi[None] - 0.5 * (math.log(2 * math.pi) + diff2 / logvar_c.exp()[None]).sum(2), 1)\n")),
    ("exp, normalise, then log: underflows far from the centres", _lg(
        "    p = log_pi.exp()[None] * torch.exp(-0.5 * (math.log(2 * math.pi) + logvar_c[None]\n"
        "                                         + diff2 / logvar_c.exp()[None]).sum(2))\n"
        "    return torch.log(p / p.sum(1, keepdim=True))\n")),
    ("the reference's exp(...) + 1e-10, normalised", _lg(
        "    p = torch.exp(log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None]\n"
        "                                     + diff2 / logvar_c.exp()[None]).sum(2)) + 1e-10\n"
        "    return torch.log(p / p.sum(1, keepdim=True))\n")),
    ("one column dropped", _lg(
        "    lj = log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 / logvar_c.exp()[None]).sum(2)\n"
        "    return torch.log_softmax(lj, dim=1)[:, :-1]\n")),
    ("forgot return", _lg(
        "    out = torch.log_softmax(log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None]\n"
        "                                                + diff2 / logvar_c.exp()[None]).sum(2), 1)\n")),
    ("changes logvar_c in place", _lg(
        "    var_c = logvar_c.exp_()\n"
        "    return torch.log_softmax(log_pi[None] - 0.5 * (math.log(2 * math.pi) + torch.log(var_c)[None]\n"
        "                             + diff2 / var_c[None]).sum(2), 1)\n")),
    ("returns a NumPy array", _lg(
        "    lj = log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 / logvar_c.exp()[None]).sum(2)\n"
        "    return torch.log_softmax(lj, dim=1).detach().numpy()\n")),
    ("sizes hard-coded for the check's K = 4", _lg(
        "    lj = log_pi[None] - 0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff2 / logvar_c.exp()[None]).sum(2)\n"
        "    return torch.log_softmax(lj[:, :4], dim=1)\n")),
    ("not done yet", '''
def log_gamma(z, log_pi, mu_c, logvar_c):
    # YOUR CODE HERE
    raise NotImplementedError()
'''),
]

# --------------------------------------------------------------------------------------------
# Exercise 2: elbo_loss (the solution, then edits of it)
# --------------------------------------------------------------------------------------------

ELBO = '''
def elbo_loss(x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c):
    log_g = log_gamma(z, log_pi, mu_c, logvar_c)
    g = log_g.exp()
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1)
    var_c = logvar_c.exp()[None]
    per_cluster = (math.log(2 * math.pi) + logvar_c[None] + logvar.exp()[:, None, :] / var_c
                   + (mu[:, None, :] - mu_c[None]) ** 2 / var_c).sum(dim=2)
    terms = {
        "recon": recon.mean(),
        "gauss": (0.5 * (g * per_cluster).sum(dim=1)).mean(),
        "prior_c": (-(g * log_pi[None]).sum(dim=1)).mean(),
        "entropy_c": (g * log_g).sum(dim=1).mean(),
        "entropy_z": (-0.5 * (1.0 + logvar).sum(dim=1)).mean(),
    }
    return {"loss": sum(terms.values()), **terms}
'''

ELBO_CASES = [
    # the audit's case: self-check said tick, the hidden test abs(entropy_c) < 1e-12 took 3 points
    ("entropy_c as g * log(g + 1e-10)", _edit(ELBO, ('"entropy_c": (g * log_g)', '"entropy_c": (g * torch.log(g + 1e-10))'))),
    ("entropy_c with log gamma clamped", _edit(ELBO, ('"entropy_c": (g * log_g)', '"entropy_c": (g * log_g.clamp(min=-30))'))),
    ("entropy_c left out", _edit(ELBO, ('"entropy_c": (g * log_g).sum(dim=1).mean()', '"entropy_c": torch.zeros(())'))),
    ("prior_c left out", _edit(ELBO, ('"prior_c": (-(g * log_pi[None]).sum(dim=1)).mean()', '"prior_c": torch.zeros(())'))),
    ("entropy_c with the wrong sign", _edit(ELBO, ('"entropy_c": (g * log_g)', '"entropy_c": (-g * log_g)'))),
    ("entropy_z with the wrong sign", _edit(ELBO, ('(-0.5 * (1.0 + logvar)', '(0.5 * (1.0 + logvar)'))),
    ("prior_c with the wrong sign", _edit(ELBO, ('(-(g * log_pi[None])', '((g * log_pi[None])'))),
    ("recon averaged over the pixels", _edit(ELBO, ('reduction="none").sum(dim=1)', 'reduction="none").mean(dim=1)'))),
    ("gauss averaged over the latent dimensions", _edit(ELBO, ('/ var_c).sum(dim=2)', '/ var_c).mean(dim=2)'))),
    ("recon summed over the batch", _edit(ELBO, ('"recon": recon.mean()', '"recon": recon.sum()'))),
    ("gamma with theta^J", _edit(ELBO, ("log_g = log_gamma(z, log_pi, mu_c, logvar_c)",
                                        "log_g = log_gamma(z, z.shape[1] * log_pi, mu_c, logvar_c)"))),
    ("sigma instead of sigma^2 in the Gaussian term", _edit(ELBO, ("var_c = logvar_c.exp()[None]",
                                                                   "var_c = (0.5 * logvar_c).exp()[None]"))),
    ("loss is not the sum of the terms", _edit(ELBO, ('{"loss": sum(terms.values()), **terms}',
                                                      '{"loss": sum(terms.values()) - terms["entropy_c"], **terms}'))),
    ("a key missing", _edit(ELBO, ('"entropy_z": (-0.5 * (1.0 + logvar).sum(dim=1)).mean(),', ''),
                            ('{"loss": sum(terms.values()), **terms}',
                             '{"loss": sum(terms.values()) - 0.5 * (1.0 + logvar).sum(1).mean(), **terms}'))),
    ("returns the loss only", _edit(ELBO, ('return {"loss": sum(terms.values()), **terms}', 'return sum(terms.values())'))),
    ("forgot return", _edit(ELBO, ('return {"loss": sum(terms.values()), **terms}', 'out = {"loss": sum(terms.values()), **terms}'))),
    ("per-example terms (no mean over the batch)", _edit(ELBO, ('"recon": recon.mean()', '"recon": recon'))),
    ("detached terms", _edit(ELBO, ('return {"loss": sum(terms.values()), **terms}',
                                    'return {k: v.detach() for k, v in {"loss": sum(terms.values()), **terms}.items()}'))),
    ("recon as log(sigmoid): unstable for large logits", _edit(ELBO, (
        'recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1)',
        'p = torch.sigmoid(x_logits)\n    recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=1)'))),
    ("recon with log(p + 1e-10)", _edit(ELBO, (
        'recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1)',
        'p = torch.sigmoid(x_logits)\n    recon = -(x * torch.log(p + 1e-10) + (1 - x) * torch.log(1 - p + 1e-10)).sum(dim=1)'))),
    ("changes mu in place", _edit(ELBO, ("(mu[:, None, :] - mu_c[None]) ** 2", "(mu.sub_(0.0)[:, None, :] - mu_c[None]) ** 2"),
                                  ("log_g = log_gamma(z, log_pi, mu_c, logvar_c)",
                                   "log_g = log_gamma(z, log_pi, mu_c, logvar_c)\n    mu.mul_(1.0001)"))),
    ("not done yet", '''
def elbo_loss(x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c):
    # YOUR CODE HERE
    raise NotImplementedError()
'''),
]

# --------------------------------------------------------------------------------------------
# Exercise 3: init_gmm (the solution, then edits of it)
# --------------------------------------------------------------------------------------------

INIT = '''
def init_gmm(model, Z, seed=0):
    gmm = GaussianMixture(model.n_clusters, covariance_type="diag", random_state=seed)
    gmm.fit(np.asarray(Z, dtype=np.float64))
    with torch.no_grad():
        model.pi_logits.copy_(torch.as_tensor(np.log(gmm.weights_)))
        model.mu_c.copy_(torch.as_tensor(gmm.means_))
        model.logvar_c.copy_(torch.as_tensor(np.log(gmm.covariances_)))
    return gmm
'''

INIT_CASES = [
    # the audit's case: check and hidden tests passed, the next cell failed on None.predict
    ("forgot return gmm", _edit(INIT, ("    return gmm\n", ""))),
    ("returns the model", _edit(INIT, ("    return gmm\n", "    return model\n"))),
    ("pi left uniform (as the reference)", _edit(INIT, ("        model.pi_logits.copy_(torch.as_tensor(np.log(gmm.weights_)))\n", ""))),
    ("pi_logits = weights", _edit(INIT, ("np.log(gmm.weights_)", "gmm.weights_"))),
    ("logvar_c = the variances", _edit(INIT, ("np.log(gmm.covariances_)", "gmm.covariances_"))),
    ("logvar_c = log sigma", _edit(INIT, ("np.log(gmm.covariances_)", "0.5 * np.log(gmm.covariances_)"))),
    ("logvar_c = sigma", _edit(INIT, ("np.log(gmm.covariances_)", "np.sqrt(gmm.covariances_)"))),
    ("random_state not the seed", _edit(INIT, ("random_state=seed", "random_state=seed + 1"))),
    ("mu_c not set", _edit(INIT, ("        model.mu_c.copy_(torch.as_tensor(gmm.means_))\n", ""))),
    ("mu_c stored transposed (J, K), as the reference's u_p", _edit(INIT, (
        "        model.mu_c.copy_(torch.as_tensor(gmm.means_))\n",
        "        model.mu_c = torch.nn.Parameter(torch.as_tensor(gmm.means_.T, dtype=torch.float32))\n"))),
    ("pi_logits replaced by a plain tensor", _edit(INIT, (
        "        model.pi_logits.copy_(torch.as_tensor(np.log(gmm.weights_)))\n",
        "        model.pi_logits = torch.as_tensor(np.log(gmm.weights_), dtype=torch.float32)\n"))),
    ("parameters' data replaced by float64 tensors", _edit(INIT, (
        "        model.mu_c.copy_(torch.as_tensor(gmm.means_))\n",
        "        model.mu_c.data = torch.as_tensor(gmm.means_)\n"))),
    ("logvar_c of the full-covariance fit's diagonal, cluster order of another fit", _edit(INIT, (
        "        model.logvar_c.copy_(torch.as_tensor(np.log(gmm.covariances_)))\n",
        "        model.logvar_c.copy_(torch.as_tensor(np.log(gmm.covariances_[::-1].copy())))\n"))),
    ("not done yet", '''
def init_gmm(model, Z, seed=0):
    # YOUR CODE HERE
    raise NotImplementedError()
'''),
]

CASES = ([("test_log_gamma", name, src) for name, src in LOG_GAMMA_CASES]
         + [("test_elbo_loss", name, src) for name, src in ELBO_CASES]
         + [("test_init_gmm", name, src) for name, src in INIT_CASES])
