"""Wrong answers to week 04's exercises (DEC's soft assignment, target distribution, KL loss).

See README.md. Besides the audit's findings, this holds every wrong implementation that
``tests/test_checks_week04.py`` feeds to the checks, in source form.
"""
from __future__ import annotations

NOTEBOOK = "04_dec.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import math\n"
         "import numpy as np\n"
         "import torch\n"
         "import torch.nn.functional as F\n"
         "from course_utils.checks import week04 as checks\n", ns)
    return ns


def _q(name: str, body: str) -> tuple[str, str, str]:
    return ("test_soft_assignment", name,
            "def soft_assignment(z, centers, alpha=1.0):\n"
            "    dist2 = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(dim=2)\n" + body)


def _p(name: str, body: str) -> tuple[str, str, str]:
    return ("test_target_distribution", name, "def target_distribution(q):\n" + body)


def _kl(name: str, body: str) -> tuple[str, str, str]:
    return ("test_kl_loss", name, "def kl_loss(p, q):\n" + body)


CASES = [
    # ---- Exercise 1: soft assignment --------------------------------------------------------
    _q("not done yet", "    raise NotImplementedError()\n"),
    _q("kernel not normalised", "    return (1 + dist2 / alpha) ** (-(alpha + 1) / 2)\n"),
    _q("alpha ignored", "    k = 1 / (1 + dist2)\n    return k / k.sum(1, keepdim=True)\n"),
    _q("exponent -1 whatever alpha", "    return torch.softmax(-torch.log1p(dist2 / alpha), 1)\n"),
    _q("exponent -(alpha + 1)", "    return torch.softmax(-(alpha + 1) * torch.log1p(dist2 / alpha), 1)\n"),
    _q("distance not squared",
       "    return torch.softmax(-(alpha + 1) / 2 * torch.log1p(dist2.sqrt() / alpha), 1)\n"),
    _q("Gaussian kernel", "    return torch.softmax(-dist2, 1)\n"),
    _q("normalised over examples (dim=0)",
       "    k = (1 + dist2 / alpha) ** (-(alpha + 1) / 2)\n    return k / k.sum(0, keepdim=True)\n"),
    _q("transposed", "    return torch.softmax(-(alpha + 1) / 2 * torch.log1p(dist2 / alpha), 1).t()\n"),
    _q("detached (no gradient)",
       "    return torch.softmax(-(alpha + 1) / 2 * torch.log1p(dist2 / alpha), 1).detach()\n"),
    _q("forgot return", "    q = torch.softmax(-(alpha + 1) / 2 * torch.log1p(dist2 / alpha), 1)\n"),
    _q("through NumPy", "    k = (1 + dist2.detach().numpy() / alpha) ** (-(alpha + 1) / 2)\n"
                        "    return k / k.sum(1, keepdims=True)\n"),
    _q("converts to float64",
       "    return torch.softmax(-(alpha + 1) / 2 * torch.log1p(dist2.double() / alpha), 1)\n"),
    ("test_soft_assignment", "unsqueeze_ changes z in place", '''
def soft_assignment(z, centers, alpha=1.0):
    dist2 = ((z.unsqueeze_(1) - centers[None, :, :]) ** 2).sum(dim=2)
    return torch.softmax(-(alpha + 1) / 2 * torch.log1p(dist2 / alpha), 1)
'''),
    # ---- Exercise 2: target distribution ----------------------------------------------------
    _p("not done yet", "    raise NotImplementedError()\n"),
    _p("not normalised", "    return (q ** 2 / q.sum(0)).detach()\n"),
    _p("q not squared", "    w = q / q.sum(0)\n    return (w / w.sum(1, keepdim=True)).detach()\n"),
    _p("f summed over clusters",
       "    w = q ** 2 / q.sum(1, keepdim=True)\n    return (w / w.sum(1, keepdim=True)).detach()\n"),
    _p("no division by f", "    w = q ** 2\n    return (w / w.sum(1, keepdim=True)).detach()\n"),
    _p("p equals q", "    return q.detach().clone()\n"),
    _p("not detached", "    w = q ** 2 / q.sum(0)\n    return w / w.sum(1, keepdim=True)\n"),
    _p("drops the last cluster", "    w = q ** 2 / q.sum(0)\n    return (w / w.sum(1, keepdim=True)).detach()[:, :-1]\n"),
    _p("squares q in place", "    q = q.detach()\n    q **= 2\n    w = q / q.sqrt().sum(0)\n"
                             "    return w / w.sum(1, keepdim=True)\n"),
    _p("normalised over examples", "    w = q ** 2 / q.sum(0)\n    return (w / w.sum(0, keepdim=True)).detach()\n"),
    # ---- Exercise 3: KL loss ----------------------------------------------------------------
    _kl("not done yet", "    raise NotImplementedError()\n"),
    _kl("audit: log(p / q) gives NaN where p = 0", "    return (p * torch.log(p / q)).sum(dim=1).mean()\n"),
    _kl("KL(Q || P)", "    return (q * (q / p).log()).sum(1).mean()\n"),
    _kl("summed over examples", "    return (p * (torch.log(p + 1e-10) - torch.log(q + 1e-10))).sum()\n"),
    _kl("mean over clusters too", "    return (p * (torch.log(p + 1e-10) - torch.log(q + 1e-10))).mean()\n"),
    _kl("F.kl_div with reduction='mean'", "    return F.kl_div(q.log(), p, reduction='mean')\n"),
    _kl("sign flipped", "    return -(p * (torch.log(p + 1e-10) - torch.log(q + 1e-10))).sum(1).mean()\n"),
    _kl("cross-entropy", "    return -(p * torch.log(q)).sum(1).mean()\n"),
    _kl("one value per row", "    return (p * (torch.log(p + 1e-10) - torch.log(q + 1e-10))).sum(1)\n"),
    _kl("keepdim: shape (1,)",
        "    return (p * (torch.log(p + 1e-10) - torch.log(q + 1e-10))).sum(1).mean().reshape(1)\n"),
    _kl("a Python float", "    return float((p * (torch.log(p + 1e-10) - torch.log(q + 1e-10))).sum(1).mean())\n"),
    _kl("q detached", "    return (p * (torch.log(p + 1e-10) - torch.log(q.detach() + 1e-10))).sum(1).mean()\n"),
    _kl("nansum: right value, NaN gradient", "    return (p * torch.log(p / q)).nansum(1).mean()\n"),
    _kl("rows with a zero dropped", "    t = (p * torch.log(p / q)).sum(1)\n    return t[torch.isfinite(t)].mean()\n"),
    _kl("forgot return", "    loss = F.kl_div(q.log(), p, reduction='batchmean')\n"),
]
