"""Wrong answers to week 05's exercises (GAN losses, CatGAN's entropies, InfoGAN's bound, the AAE's code game).

See README.md. Each exercise's list starts with "not done yet", then the mistakes the self-check names
(``course_utils/checks/week05.py``), an in-place edit of an input and a forgotten ``return``. The
hidden tests these answers run against are those of the solution notebook's graded cells.
"""
from __future__ import annotations

NOTEBOOK = "05_gan_clustering.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import math\n"
         "import numpy as np\n"
         "import torch\n"
         "from torch import nn\n"
         "import torch.nn.functional as F\n"
         "from course_utils.models import gan\n"
         "from course_utils.checks import week05 as checks\n", ns)
    return ns


def _d(name: str, body: str) -> tuple[str, str, str]:
    return ("test_discriminator_loss", name, "def discriminator_loss(real_logits, fake_logits):\n" + body)


def _g(name: str, body: str) -> tuple[str, str, str]:
    return ("test_generator_loss", name, "def generator_loss(fake_logits):\n" + body)


def _c(name: str, body: str) -> tuple[str, str, str]:
    return ("test_catgan_entropies", name, "def catgan_entropies(real_logits, fake_logits):\n" + body)


def _mi(name: str, body: str) -> tuple[str, str, str]:
    return ("test_categorical_mi_lower_bound", name, "def categorical_mi_lower_bound(q_logits, codes):\n" + body)


def _aae(name: str, body: str) -> tuple[str, str, str]:
    return ("test_code_adversarial_losses", name,
            "def code_adversarial_losses(code_discriminator, z_prior, z_encoded):\n" + body)


_BCE = "F.binary_cross_entropy_with_logits"

#: CatGAN answers: ``cond(logits)`` and ``marg(logits)`` defined in the body, then the usual dict.
_CAT_DICT = ('    return {"cond_real": cond(real_logits), "cond_fake": cond(fake_logits),\n'
             '            "marginal_real": marg(real_logits), "marginal_fake": marg(fake_logits)}\n')
_COND_OK = ("    def cond(x):\n"
            "        lp = F.log_softmax(x, dim=1)\n"
            "        return -(lp.exp() * lp).sum(1).mean()\n")
_MARG_OK = ("    def marg(x):\n"
            "        pm = F.softmax(x, dim=1).mean(0)\n"
            "        return -(pm * torch.log(pm + 1e-12)).sum()\n")

#: AAE answers: the right d_loss and enc_loss, for the cases that only change the return or the inputs.
_AAE_OK = ("    real = code_discriminator(z_prior).reshape(-1)\n"
           "    fake = code_discriminator(z_encoded.detach()).reshape(-1)\n"
           f"    d_loss = {_BCE}(real, torch.ones_like(real)) + {_BCE}(fake, torch.zeros_like(fake))\n"
           "    enc = code_discriminator(z_encoded).reshape(-1)\n"
           f"    enc_loss = {_BCE}(enc, torch.ones_like(enc))\n")

CASES = [
    # ---- Exercise 1: the discriminator's loss -----------------------------------------------
    _d("not done yet", "    raise NotImplementedError()\n"),
    _d("double sigmoid (sigmoid before a with-logits loss)",
       f"    real = {_BCE}(torch.sigmoid(real_logits), torch.ones_like(real_logits))\n"
       f"    fake = {_BCE}(torch.sigmoid(fake_logits), torch.zeros_like(fake_logits))\n"
       "    return real + fake\n"),
    _d("naive log(sigmoid): inf at +-100",
       "    return -torch.log(torch.sigmoid(real_logits)).mean() - torch.log(1 - torch.sigmoid(fake_logits)).mean()\n"),
    _d("epsilon inside the log: capped at 18",
       "    return (-torch.log(torch.sigmoid(real_logits) + 1e-8).mean()\n"
       "            - torch.log(1 - torch.sigmoid(fake_logits) + 1e-8).mean())\n"),
    _d("sigmoid then F.binary_cross_entropy (probabilities, clamped at 100)",
       "    real = F.binary_cross_entropy(torch.sigmoid(real_logits), torch.ones_like(real_logits))\n"
       "    fake = F.binary_cross_entropy(torch.sigmoid(fake_logits), torch.zeros_like(fake_logits))\n"
       "    return real + fake\n"),
    _d("logits used as probabilities (log of a logit)",
       "    return -torch.log(real_logits).mean() - torch.log(1 - fake_logits).mean()\n"),
    _d("F.binary_cross_entropy on raw logits",
       "    return (F.binary_cross_entropy(real_logits, torch.ones_like(real_logits))\n"
       "            + F.binary_cross_entropy(fake_logits, torch.zeros_like(fake_logits)))\n"),
    _d("sign flipped", "    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()\n"),
    _d("labels swapped (real as 0)",
       f"    return {_BCE}(real_logits, torch.zeros_like(real_logits)) + {_BCE}(fake_logits, torch.ones_like(fake_logits))\n"),
    _d("summed over the batch",
       f"    return ({_BCE}(real_logits, torch.ones_like(real_logits), reduction='sum')\n"
       f"            + {_BCE}(fake_logits, torch.zeros_like(fake_logits), reduction='sum'))\n"),
    _d("real and fake concatenated and averaged together",
       "    logits = torch.cat([real_logits, fake_logits])\n"
       "    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])\n"
       f"    return {_BCE}(logits, labels)\n"),
    _d("only the real term", "    return -F.logsigmoid(real_logits).mean()\n"),
    _d("only the fake term", "    return -F.logsigmoid(-fake_logits).mean()\n"),
    _d("fake term with the wrong sign", "    return -F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()\n"),
    _d("fake images labelled 1 too",
       f"    return {_BCE}(real_logits, torch.ones_like(real_logits)) + {_BCE}(fake_logits, torch.ones_like(fake_logits))\n"),
    _d("probabilities without a log", "    return (1 - torch.sigmoid(real_logits)).mean() + torch.sigmoid(fake_logits).mean()\n"),
    _d("Wasserstein critic loss", "    return fake_logits.mean() - real_logits.mean()\n"),
    _d("per-example terms added (needs equal batch sizes)",
       "    return (-F.logsigmoid(real_logits) - F.logsigmoid(-fake_logits)).mean()\n"),
    _d("inputs detached inside (no gradient)",
       "    real_logits, fake_logits = real_logits.detach(), fake_logits.detach()\n"
       "    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()\n"),
    _d("negates fake_logits in place",
       "    fake_logits.neg_()\n"
       "    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(fake_logits).mean()\n"),
    _d("a Python float (.item())",
       "    return (-F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()).item()\n"),
    _d("shape (1,)", "    return (-F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()).reshape(1)\n"),
    _d("one value per example (B,)", "    return -F.logsigmoid(real_logits) - F.logsigmoid(-fake_logits).mean()\n"),
    _d("forgot return", "    loss = -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()\n"),
    # ---- Exercise 2: the generator's loss ---------------------------------------------------
    _g("not done yet", "    raise NotImplementedError()\n"),
    _g("saturating minimax loss mean log(1 - D)", "    return torch.log(1 - torch.sigmoid(fake_logits)).mean()\n"),
    _g("saturating minimax loss, stable form", "    return -F.softplus(fake_logits).mean()\n"),
    _g("the discriminator's fake term (label 0)", f"    return {_BCE}(fake_logits, torch.zeros_like(fake_logits))\n"),
    _g("sign flipped", "    return F.logsigmoid(fake_logits).mean()\n"),
    _g("summed over the batch", "    return -F.logsigmoid(fake_logits).sum()\n"),
    _g("double sigmoid", f"    return {_BCE}(torch.sigmoid(fake_logits), torch.ones_like(fake_logits))\n"),
    _g("naive log(sigmoid): inf at -100", "    return -torch.log(torch.sigmoid(fake_logits)).mean()\n"),
    _g("epsilon inside the log", "    return -torch.log(torch.sigmoid(fake_logits) + 1e-8).mean()\n"),
    _g("probability without a log", "    return (1 - torch.sigmoid(fake_logits)).mean()\n"),
    _g("Wasserstein generator loss", "    return -fake_logits.mean()\n"),
    _g("detached (no gradient)", "    return -F.logsigmoid(fake_logits.detach()).mean()\n"),
    _g("one value per example (B,)", "    return -F.logsigmoid(fake_logits)\n"),
    _g("a Python float", "    return float(-F.logsigmoid(fake_logits).mean())\n"),
    _g("negates fake_logits in place", "    fake_logits.mul_(-1)\n    return F.softplus(fake_logits).mean()\n"),
    _g("forgot return", "    loss = -F.logsigmoid(fake_logits).mean()\n"),
    # ---- Exercise 3: CatGAN's entropies -----------------------------------------------------
    _c("not done yet", "    raise NotImplementedError()\n"),
    _c("conditional and marginal swapped",
       _COND_OK.replace("def cond(", "def marg(") + _MARG_OK.replace("def marg(", "def cond(") + _CAT_DICT),
    _c("marginal = mean of the entropies (conditional twice)", _COND_OK + "    marg = cond\n" + _CAT_DICT),
    _c("conditional = entropy of the mean (marginal twice)", _MARG_OK + "    cond = marg\n" + _CAT_DICT),
    _c("no softmax (logits used as probabilities)",
       "    def cond(x):\n        return -(x * torch.log(x)).sum(1).mean()\n"
       "    def marg(x):\n        pm = x.mean(0)\n        return -(pm * torch.log(pm)).sum()\n" + _CAT_DICT),
    _c("log base 2",
       "    def cond(x):\n        p = F.softmax(x, dim=1)\n        return -(p * torch.log2(p + 1e-12)).sum(1).mean()\n"
       "    def marg(x):\n        pm = F.softmax(x, dim=1).mean(0)\n        return -(pm * torch.log2(pm + 1e-12)).sum()\n"
       + _CAT_DICT),
    _c("sum over the batch instead of mean",
       "    def cond(x):\n        lp = F.log_softmax(x, dim=1)\n        return -(lp.exp() * lp).sum()\n" + _MARG_OK + _CAT_DICT),
    _c("negative entropies (sign)",
       "    def cond(x):\n        lp = F.log_softmax(x, dim=1)\n        return (lp.exp() * lp).sum(1).mean()\n"
       "    def marg(x):\n        pm = F.softmax(x, dim=1).mean(0)\n        return (pm * torch.log(pm + 1e-12)).sum()\n"
       + _CAT_DICT),
    _c("marginal averaged over the class axis",
       _COND_OK + "    def marg(x):\n        pm = F.softmax(x, dim=1).mean(1)\n"
                  "        return -(pm * torch.log(pm + 1e-12)).sum()\n" + _CAT_DICT),
    _c("marginal of the summed predictions",
       _COND_OK + "    def marg(x):\n        pm = F.softmax(x, dim=1).sum(0)\n"
                  "        return -(pm * torch.log(pm)).sum()\n" + _CAT_DICT),
    _c("marginal from the mean logits",
       _COND_OK + "    def marg(x):\n        pm = F.softmax(x.mean(0), dim=0)\n"
                  "        return -(pm * torch.log(pm)).sum()\n" + _CAT_DICT),
    _c("softmax over the batch axis",
       "    def cond(x):\n        lp = F.log_softmax(x, dim=0)\n        return -(lp.exp() * lp).sum(1).mean()\n"
       "    def marg(x):\n        pm = F.softmax(x, dim=0).mean(0)\n        return -(pm * torch.log(pm)).sum()\n"
       + _CAT_DICT),
    _c("averaged over the classes too",
       "    def cond(x):\n        lp = F.log_softmax(x, dim=1)\n        return -(lp.exp() * lp).mean()\n" + _MARG_OK
       + _CAT_DICT),
    _c("log(softmax): NaN for saturated logits",
       "    def cond(x):\n        p = F.softmax(x, dim=1)\n        return -(p * torch.log(p)).sum(1).mean()\n"
       "    def marg(x):\n        pm = F.softmax(x, dim=1).mean(0)\n        return -(pm * torch.log(pm)).sum()\n"
       + _CAT_DICT),
    _c("torch.special.entr: NaN gradient for saturated logits",
       "    def cond(x):\n        return torch.special.entr(F.softmax(x, dim=1)).sum(1).mean()\n"
       "    def marg(x):\n        return torch.special.entr(F.softmax(x, dim=1).mean(0)).sum()\n" + _CAT_DICT),
    _c("cond_fake computed from the real logits",
       _COND_OK + _MARG_OK
       + '    return {"cond_real": cond(real_logits), "cond_fake": cond(real_logits),\n'
         '            "marginal_real": marg(real_logits), "marginal_fake": marg(fake_logits)}\n'),
    _c("misspelt keys",
       _COND_OK + _MARG_OK
       + '    return {"cond_real": cond(real_logits), "cond_fake": cond(fake_logits),\n'
         '            "marg_real": marg(real_logits), "marg_fake": marg(fake_logits)}\n'),
    _c("a tuple instead of a dict",
       _COND_OK + _MARG_OK
       + "    return cond(real_logits), cond(fake_logits), marg(real_logits), marg(fake_logits)\n"),
    _c("Python floats in the dict",
       _COND_OK + _MARG_OK
       + '    return {"cond_real": cond(real_logits).item(), "cond_fake": cond(fake_logits).item(),\n'
         '            "marginal_real": marg(real_logits).item(), "marginal_fake": marg(fake_logits).item()}\n'),
    _c("detached (no gradient)",
       _COND_OK + _MARG_OK + "    real_logits, fake_logits = real_logits.detach(), fake_logits.detach()\n" + _CAT_DICT),
    _c("subtracts the row maximum in place",
       "    real_logits.sub_(real_logits.max(dim=1, keepdim=True).values)\n"
       "    fake_logits.sub_(fake_logits.max(dim=1, keepdim=True).values)\n" + _COND_OK + _MARG_OK + _CAT_DICT),
    _c("forgot return",
       _COND_OK + _MARG_OK + _CAT_DICT.replace("    return {", "    out = {")),
    # ---- Exercise 4: InfoGAN's lower bound ---------------------------------------------------
    _mi("not done yet", "    raise NotImplementedError()\n"),
    _mi("softmax before cross_entropy",
        "    return math.log(q_logits.shape[1]) - F.cross_entropy(torch.softmax(q_logits, dim=1), codes)\n"),
    _mi("returns the cross-entropy", "    return F.cross_entropy(q_logits, codes)\n"),
    _mi("sign flipped (-L_I)", "    return F.cross_entropy(q_logits, codes) - math.log(q_logits.shape[1])\n"),
    _mi("H(c) = log K left out", "    return -F.cross_entropy(q_logits, codes)\n"),
    _mi("summed over the batch",
        "    return math.log(q_logits.shape[1]) - F.cross_entropy(q_logits, codes, reduction='sum')\n"),
    _mi("log base 2",
        "    log_q = torch.log2(torch.softmax(q_logits, dim=1))\n"
        "    return math.log2(q_logits.shape[1]) + log_q[torch.arange(len(codes)), codes].mean()\n"),
    _mi("codes treated as one-hot rows",
        "    log_q = F.log_softmax(q_logits, dim=1)\n"
        "    return math.log(q_logits.shape[1]) + (log_q * codes).sum(1).mean()\n"),
    _mi("codes as weights of the rows",
        "    log_q = F.log_softmax(q_logits, dim=1)\n"
        "    return math.log(q_logits.shape[1]) + (log_q * codes[:, None]).sum(1).mean()\n"),
    _mi("gather along dim 0",
        "    log_q = F.log_softmax(q_logits, dim=1)\n"
        "    return math.log(q_logits.shape[1]) + log_q.gather(0, codes[:, None]).mean()\n"),
    _mi("log_q[:, codes]: a (B, B) matrix",
        "    log_q = F.log_softmax(q_logits, dim=1)\n"
        "    return math.log(q_logits.shape[1]) + log_q[:, codes].mean()\n"),
    _mi("codes ignored (mean over all classes)",
        "    return math.log(q_logits.shape[1]) + F.log_softmax(q_logits, dim=1).mean()\n"),
    _mi("log(softmax): -inf for a confidently wrong Q",
        "    log_q = torch.log(torch.softmax(q_logits, dim=1))\n"
        "    return math.log(q_logits.shape[1]) + log_q[torch.arange(len(codes)), codes].mean()\n"),
    _mi("K hard-coded to 10", "    return math.log(10) - F.cross_entropy(q_logits, codes)\n"),
    _mi("detached (no gradient)", "    return math.log(q_logits.shape[1]) - F.cross_entropy(q_logits.detach(), codes)\n"),
    _mi("a Python float", "    return (math.log(q_logits.shape[1]) - F.cross_entropy(q_logits, codes)).item()\n"),
    _mi("subtracts the row maximum in place",
        "    q_logits -= q_logits.max(dim=1, keepdim=True).values\n"
        "    return math.log(q_logits.shape[1]) - F.cross_entropy(q_logits, codes)\n"),
    _mi("forgot return", "    bound = math.log(q_logits.shape[1]) - F.cross_entropy(q_logits, codes)\n"),
    # ---- Exercise 5: the adversarial autoencoder's code game ---------------------------------
    _aae("not done yet", "    raise NotImplementedError()\n"),
    _aae("z_encoded not detached in d_loss",
         "    real = code_discriminator(z_prior).reshape(-1)\n"
         "    fake = code_discriminator(z_encoded).reshape(-1)\n"
         f"    d_loss = {_BCE}(real, torch.ones_like(real)) + {_BCE}(fake, torch.zeros_like(fake))\n"
         f"    enc_loss = {_BCE}(fake, torch.ones_like(fake))\n"
         "    return d_loss, enc_loss\n"),
    _aae("z_encoded detached in enc_loss too",
         "    real = code_discriminator(z_prior).reshape(-1)\n"
         "    fake = code_discriminator(z_encoded.detach()).reshape(-1)\n"
         f"    d_loss = {_BCE}(real, torch.ones_like(real)) + {_BCE}(fake, torch.zeros_like(fake))\n"
         f"    enc_loss = {_BCE}(fake, torch.ones_like(fake))\n"
         "    return d_loss, enc_loss\n"),
    _aae("the discriminator's output detached instead of its input",
         "    real = code_discriminator(z_prior).reshape(-1)\n"
         "    fake = code_discriminator(z_encoded).reshape(-1)\n"
         f"    d_loss = {_BCE}(real, torch.ones_like(real)) + {_BCE}(fake.detach(), torch.zeros_like(fake))\n"
         f"    enc_loss = {_BCE}(fake, torch.ones_like(fake))\n"
         "    return d_loss, enc_loss\n"),
    _aae("labels swapped (prior as fake)",
         "    real = code_discriminator(z_prior).reshape(-1)\n"
         "    fake = code_discriminator(z_encoded.detach()).reshape(-1)\n"
         f"    d_loss = {_BCE}(real, torch.zeros_like(real)) + {_BCE}(fake, torch.ones_like(fake))\n"
         "    enc = code_discriminator(z_encoded).reshape(-1)\n"
         f"    enc_loss = {_BCE}(enc, torch.ones_like(enc))\n"
         "    return d_loss, enc_loss\n"),
    _aae("saturating encoder loss",
         _AAE_OK.replace(f"    enc_loss = {_BCE}(enc, torch.ones_like(enc))\n",
                         "    enc_loss = torch.log(1 - torch.sigmoid(enc)).mean()\n") + "    return d_loss, enc_loss\n"),
    _aae("encoder trained to be recognised as fake",
         _AAE_OK.replace("torch.ones_like(enc)", "torch.zeros_like(enc)") + "    return d_loss, enc_loss\n"),
    _aae("enc_loss = -d_loss (minimax)",
         "    real = code_discriminator(z_prior).reshape(-1)\n"
         "    fake = code_discriminator(z_encoded).reshape(-1)\n"
         f"    d_loss = {_BCE}(real, torch.ones_like(real)) + {_BCE}(fake.detach(), torch.zeros_like(fake))\n"
         f"    enc_loss = -({_BCE}(real, torch.ones_like(real)) + {_BCE}(fake, torch.zeros_like(fake)))\n"
         "    return d_loss, enc_loss\n"),
    _aae("d_loss: prior and encoded codes averaged together",
         "    logits = torch.cat([code_discriminator(z_prior), code_discriminator(z_encoded.detach())]).reshape(-1)\n"
         "    labels = torch.cat([torch.ones(len(z_prior)), torch.zeros(len(z_encoded))]).to(logits.dtype)\n"
         f"    d_loss = {_BCE}(logits, labels)\n"
         "    enc_loss = -F.logsigmoid(code_discriminator(z_encoded)).mean()\n"
         "    return d_loss, enc_loss\n"),
    _aae("(B, 1) logits broadcast against (B,) labels to (B, B)",
         "    logits = torch.cat([code_discriminator(z_prior), code_discriminator(z_encoded.detach())])\n"
         "    labels = torch.cat([torch.ones(len(z_prior)), torch.zeros(len(z_encoded))]).to(logits.dtype)\n"
         "    per_code = -(labels * F.logsigmoid(logits) + (1 - labels) * F.logsigmoid(-logits))\n"
         "    d_loss = per_code.sum() / len(z_prior)     # the two means (equal batch sizes)\n"
         "    enc_loss = -F.logsigmoid(code_discriminator(z_encoded)).mean()\n"
         "    return d_loss, enc_loss\n"),
    _aae("(B, 1) logits with (B,) labels in BCE-with-logits",
         "    real = code_discriminator(z_prior)\n"
         "    fake = code_discriminator(z_encoded.detach())\n"
         f"    d_loss = {_BCE}(real, torch.ones(len(z_prior), dtype=real.dtype))\n"
         f"    d_loss = d_loss + {_BCE}(fake, torch.zeros(len(z_encoded), dtype=fake.dtype))\n"
         f"    enc_loss = {_BCE}(code_discriminator(z_encoded), torch.ones(len(z_encoded), dtype=real.dtype))\n"
         "    return d_loss, enc_loss\n"),
    _aae("returned in the wrong order", _AAE_OK + "    return enc_loss, d_loss\n"),
    _aae("d_loss summed over the batch",
         _AAE_OK.replace("torch.ones_like(real))", "torch.ones_like(real), reduction='sum')")
                .replace("torch.zeros_like(fake))", "torch.zeros_like(fake), reduction='sum')")
         + "    return d_loss, enc_loss\n"),
    _aae("d_loss computed under no_grad",
         "    with torch.no_grad():\n"
         "        real = code_discriminator(z_prior).reshape(-1)\n"
         "        fake = code_discriminator(z_encoded).reshape(-1)\n"
         f"        d_loss = {_BCE}(real, torch.ones_like(real)) + {_BCE}(fake, torch.zeros_like(fake))\n"
         "    enc = code_discriminator(z_encoded).reshape(-1)\n"
         f"    enc_loss = {_BCE}(enc, torch.ones_like(enc))\n"
         "    return d_loss, enc_loss\n"),
    _aae("a dict instead of a tuple", _AAE_OK + "    return {'d_loss': d_loss, 'enc_loss': enc_loss}\n"),
    _aae("detach_() on z_encoded (in place)",
         "    z_encoded.detach_()\n" + _AAE_OK + "    return d_loss, enc_loss\n"),
    _aae("clips the prior samples in place", "    z_prior.clamp_(-1.0, 1.0)\n" + _AAE_OK + "    return d_loss, enc_loss\n"),
    _aae("forgot return", _AAE_OK),
]

# ---- Saturated logits where the first checks had none (both really wrong: they lose the points) --
CASES += [
    _c("marginal without a guard: NaN once a class is unused",
       _COND_OK + "    def marg(x):\n        pm = F.softmax(x, dim=1).mean(0)\n"
                  "        return -(pm * torch.log(pm)).sum()\n" + _CAT_DICT),
    _aae("sigmoid, then F.binary_cross_entropy on probabilities",
         "    real = torch.sigmoid(code_discriminator(z_prior).reshape(-1))\n"
         "    fake = torch.sigmoid(code_discriminator(z_encoded.detach()).reshape(-1))\n"
         "    d_loss = F.binary_cross_entropy(real, torch.ones_like(real)) + "
         "F.binary_cross_entropy(fake, torch.zeros_like(fake))\n"
         "    enc = torch.sigmoid(code_discriminator(z_encoded).reshape(-1))\n"
         "    return d_loss, F.binary_cross_entropy(enc, torch.ones_like(enc))\n"),
]
#: Answers that are really wrong: the hidden tests must reject them, not only the self-check.
REALLY_WRONG = {CASES[-2][1], CASES[-1][1]}
CASES += [
    _d("half the loss: 0.5 * (real + fake)",
       "    return 0.5 * (-F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean())\n"),
    _mi("log Q of the most likely code, not the given one",
        "    return math.log(q_logits.shape[1]) + F.log_softmax(q_logits, dim=1).max(dim=1).values.mean()\n"),
]
