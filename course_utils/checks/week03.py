"""Self-checks for week 03: VaDE's responsibilities gamma, its ELBO loss, and the GMM initialisation.

Every check runs the student's function on seeded random inputs (float64) and compares it with an
independent computation: ``torch.distributions`` (``MixtureSameFamily`` for log p(z),
``Normal``/``Bernoulli`` log-densities, ``kl_divergence`` and ``entropy`` for the Gaussian term),
plain Python loops over examples and clusters, and scikit-learn's ``GaussianMixture`` for the
initialisation. When the result is wrong the message names the term and, where the result matches
a known mistake (gamma not normalised, log pi left out, sigma used for log sigma^2, a sum where a
mean belongs, the entropy term left out, a flipped sign, the reference's theta^J), says which.

Usage in the notebook::

    from course_utils.checks import week03 as checks
    checks.check_log_gamma(log_gamma)
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from course_utils.checks._common import CheckFailed, as_array, call_student, expect_shape, ok, self_check
from course_utils.checks._common import reference_by_name as _reference_by_name

__all__ = ["CheckFailed", "check_log_gamma", "check_elbo_loss", "check_init_gmm", "ELBO_TERMS",
           "reference_if_unfinished"]

#: The names ``elbo_loss`` must return, each the term's contribution to the loss.
ELBO_TERMS = ("loss", "recon", "gauss", "prior_c", "entropy_c", "entropy_z")

LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Inputs and independent references
# --------------------------------------------------------------------------------------------

def _inputs(seed: int = 0, B: int = 6, K: int = 4, J: int = 3, D: int = 12):
    """Random float64 tensors for one batch: x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c."""
    import torch

    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    log_pi = torch.log_softmax(r(K), dim=0)
    mu_c = 2.0 * r(K, J)
    logvar_c = 0.5 * r(K, J)
    mu = mu_c[torch.arange(B) % K] + r(B, J)
    logvar = 0.5 * r(B, J) - 1.0
    z = mu + torch.exp(0.5 * logvar) * r(B, J)
    x = torch.rand(B, D, generator=g, dtype=torch.float64)
    x_logits = 2.0 * r(B, D)
    return x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c


def _components(mu_c, logvar_c):
    import torch
    from torch.distributions import Independent, Normal

    return Independent(Normal(mu_c, torch.exp(0.5 * logvar_c)), 1)


def _ref_log_joint(z, log_pi, mu_c, logvar_c, pi_power: float = 1.0):
    """``pi_power * log pi_c + log N(z | mu_c, sigma_c^2)``: (B, K), one cluster at a time."""
    import torch

    return torch.stack([pi_power * log_pi[c] + _components(mu_c[c], logvar_c[c]).log_prob(z)
                        for c in range(len(log_pi))], dim=1)


def _ref_log_gamma(z, log_pi, mu_c, logvar_c, pi_power: float = 1.0):
    """``log p(c|z)`` with the normaliser from ``MixtureSameFamily.log_prob`` (log p(z))."""
    import torch
    from torch.distributions import Categorical, MixtureSameFamily

    joint = _ref_log_joint(z, log_pi, mu_c, logvar_c, pi_power)
    if pi_power == 1.0:
        mixture = MixtureSameFamily(Categorical(logits=log_pi), _components(mu_c, logvar_c))
        return joint - mixture.log_prob(z)[:, None]
    return joint - torch.logsumexp(joint, dim=1, keepdim=True)


def _ref_terms(x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c, pi_power: float = 1.0) -> dict:
    """The six terms, per example, by loops over examples and clusters (torch.distributions)."""
    import torch
    from torch.distributions import Bernoulli, Normal, kl_divergence

    g = _ref_log_gamma(z, log_pi, mu_c, logvar_c, pi_power).exp()
    B, K = g.shape
    J = z.shape[1]
    out = {k: torch.zeros(B, dtype=torch.float64) for k in ELBO_TERMS if k != "loss"}
    for b in range(B):
        out["recon"][b] = -Bernoulli(logits=x_logits[b], validate_args=False).log_prob(x[b]).sum()
        q = Normal(mu[b], torch.exp(0.5 * logvar[b]))
        for c in range(K):
            p = Normal(mu_c[c], torch.exp(0.5 * logvar_c[c]))
            # E_q[-log p(z|c)] = KL(q || p_c) + H(q)
            cross = (kl_divergence(q, p) + q.entropy()).sum()
            out["gauss"][b] += g[b, c] * cross
            out["prior_c"][b] -= g[b, c] * log_pi[c]
            out["entropy_c"][b] += g[b, c] * torch.log(g[b, c])
        # -1/2 sum_j (1 + log sigma~^2) = -H(q) + J/2 log 2pi
        out["entropy_z"][b] = -q.entropy().sum() + 0.5 * J * LOG_2PI
    out["loss"] = sum(out[k] for k in ELBO_TERMS if k != "loss")
    return out


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _close(got: np.ndarray, want: Any, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    got = got.astype(np.float64)
    return bool(np.all(np.isfinite(got)) and np.allclose(got, want, rtol=rtol, atol=atol))


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def _student_array(value: Any, label: str) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{label} is None: did you forget to `return` it?")
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().astype(np.float64)
    except ImportError:  # pragma: no cover
        pass
    arr = as_array(value, label)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{label} has dtype {arr.dtype}; expected numbers.") from None


# --------------------------------------------------------------------------------------------
# Exercise 1: log gamma
# --------------------------------------------------------------------------------------------

def _diagnose_log_gamma(got: np.ndarray, z, log_pi, mu_c, logvar_c) -> str:
    import torch

    J = z.shape[1]
    joint = _ref_log_joint(z, log_pi, mu_c, logvar_c)
    want = joint - torch.logsumexp(joint, 1, keepdim=True)
    norm = lambda j: j - torch.logsumexp(j, 1, keepdim=True)  # noqa: E731
    comps = lambda mc, lv: torch.stack([_components(mc[c], lv[c]).log_prob(z)  # noqa: E731
                                        for c in range(len(log_pi))], dim=1)
    candidates = [
        (np.exp(_np(want)), "you returned gamma itself; return log gamma (take the log, or better, "
                            "do not exponentiate: `torch.log_softmax` of the log joint)."),
        (_np(joint), "log gamma is not normalised: subtract log p(z) = logsumexp_c(log pi_c + log N(z|mu_c, "
                     "sigma_c^2)) from every column, so that each row of gamma sums to 1."),
        (_np(norm(comps(mu_c, logvar_c))), "log pi is missing: the prior weights enter as log pi_c + "
                                           "log N(z | mu_c, sigma_c^2)."),
        (_np(norm(J * log_pi[None] + comps(mu_c, logvar_c))),
         "log pi_c is counted J times (theta^J, as in the reference's get_gamma, where log theta sits inside "
         "the sum over latent dimensions): add log pi_c once, outside the sum over j."),
        (_np(norm(log_pi[None] + comps(mu_c, 2.0 * logvar_c))),
         "the variance is wrong: sigma_c^2 = exp(logvar_c). It looks like you used exp(logvar_c) as the "
         "standard deviation sigma (e.g. `Normal(mu_c, logvar_c.exp())`: Normal takes sigma = exp(logvar_c / 2))."),
        (_np(norm(log_pi[None] + comps(mu_c, torch.log(torch.abs(logvar_c) + 1e-300)))),
         "the variance is wrong: logvar_c is log sigma_c^2, not sigma_c^2; use exp(logvar_c) as the variance."),
        (_np(norm(log_pi[None] + comps(mu_c, logvar_c) + 0.5 * logvar_c.sum(1)[None])),
         "the normalising term -1/2 sum_j log sigma_cj^2 of the Gaussian log-density is missing: clusters "
         "with different variances then get the wrong weight."),
        (_np(norm(log_pi[None] + comps(mu_c, logvar_c) - 0.5 * logvar_c.sum(1)[None])),
         "the term -1/2 sum_j log sigma_cj^2 is counted twice (or with log sigma_c instead of log sigma_c^2)."),
    ]
    for value, message in candidates:
        if _close(got, value, rtol=1e-4, atol=1e-5):
            return message
    return ""


@self_check
def check_log_gamma(log_gamma: Callable) -> None:
    """``log_gamma(z, log_pi, mu_c, logvar_c) -> (B, K)``: log q(c|x) = log p(c|z) for every row."""
    import torch

    name = "log_gamma"
    for seed in range(3):
        _, _, z, _, _, log_pi, mu_c, logvar_c = _inputs(seed, B=7, K=4, J=3)
        got = call_student(log_gamma, z, log_pi, mu_c, logvar_c, name=name)
        got = _student_array(got, f"{name}(...)")
        expect_shape(got, (7, 4), f"{name}(...)", hint="One row per example (B), one column per cluster (K).")
        want = _np(_ref_log_gamma(z, log_pi, mu_c, logvar_c))
        if not _close(got, want, rtol=1e-4, atol=1e-5):
            diagnosis = _diagnose_log_gamma(got, z, log_pi, mu_c, logvar_c)
            if diagnosis:
                raise CheckFailed(f"{name}: {diagnosis}")
            if not np.all(np.isfinite(got)):
                raise CheckFailed(f"{name}(...) contains NaN or inf on ordinary inputs (random seed {seed}).")
            b, c = (int(i) for i in np.argwhere(~np.isclose(got, want, rtol=1e-4, atol=1e-5))[0])
            raise CheckFailed(
                f"{name}(...) is wrong at [{b}, {c}]: got {got[b, c]:.6g}, expected {want[b, c]:.6g} "
                f"(= log pi_c + log N(z_b | mu_c, diag(exp(logvar_c))) - log p(z_b); inputs: random seed {seed}, "
                "B=7, K=4, J=3). Compare your Gaussian log-density term by term with the equation."
            )
    # far from every centre: exp of the log joint underflows; only a logsumexp survives
    _, _, z, _, _, log_pi, mu_c, logvar_c = _inputs(5, B=5, K=3, J=10)
    z_far = z + 300.0
    got = _student_array(call_student(log_gamma, z_far, log_pi, mu_c, logvar_c, name=name), f"{name}(...)")
    want = _np(_ref_log_gamma(z_far, log_pi, mu_c, logvar_c))
    if not np.all(np.isfinite(got)):
        raise CheckFailed(
            f"{name}(...) gives NaN or -inf for points far from every cluster centre (z + 300): "
            "exp(log p(c) p(z|c)) underflows to 0 and 0/0 follows. Stay in log space: "
            "`torch.log_softmax(log_joint, dim=1)` or subtract `torch.logsumexp(log_joint, dim=1, keepdim=True)`."
        )
    if not _close(got, want, rtol=1e-4, atol=1e-4):
        raise CheckFailed(
            f"{name}(...) is wrong for points far from every centre (z + 300): the rows must still be the "
            "exact posterior (one cluster dominates), not uniform. Underflow? Use logsumexp, not exp then log."
        )
    if not torch.is_tensor(call_student(log_gamma, z, log_pi, mu_c, logvar_c, name=name)):
        raise CheckFailed(f"{name} should return a torch tensor (it is used inside the loss, with gradients).")
    _log_gamma_by_hand(log_gamma, name)
    _log_gamma_as_in_the_notebook(log_gamma, name)
    ok(f"{name}: matches torch.distributions (MixtureSameFamily) on random inputs, stable far from the centres")


def _log_gamma_by_hand(log_gamma: Callable, name: str) -> None:
    """Cases worked out by hand: two unit clusters at (0, 0) and (10, 10) in 2-D."""
    import torch

    f64 = dict(dtype=torch.float64)
    z = torch.tensor([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]], **f64)
    mu_c = torch.tensor([[0.0, 0.0], [10.0, 10.0]], **f64)
    logvar_c = torch.zeros(2, 2, **f64)
    setting = ("two clusters with sigma_c^2 = 1 at (0, 0) and (10, 10), pi = (1/2, 1/2), "
               "z = (0, 0), (10, 10), (5, 5)")
    got = call_student(log_gamma, z, torch.log(torch.tensor([0.5, 0.5], **f64)), mu_c, logvar_c, name=name)
    g = np.exp(_student_array(got, f"{name}(...)"))
    expect_shape(g, (3, 2), f"{name}(...) for {setting}", hint="One row per code, one column per cluster.")
    if not np.allclose(g.sum(axis=1), 1.0, rtol=1e-5, atol=1e-8):
        raise CheckFailed(f"{name}: for {setting}, the rows of exp(log gamma) sum to {g.sum(axis=1).round(6)}, "
                          "not 1: subtract logsumexp over the clusters (dim=1).")
    if not (g[0, 0] > 0.999 and g[1, 1] > 0.999):
        raise CheckFailed(f"{name}: for {setting}, gamma = {g.round(4).tolist()}: the code at a cluster's "
                          "centre should belong to that cluster (gamma > 0.999).")
    if not np.allclose(g[2], [0.5, 0.5], rtol=1e-5, atol=1e-8):
        raise CheckFailed(f"{name}: for {setting}, the code (5, 5) halfway between the two centres has gamma = "
                          f"{g[2].round(6).tolist()}; expected (0.5, 0.5).")
    got = call_student(log_gamma, z[2:], torch.log(torch.tensor([0.9, 0.1], **f64)), mu_c, logvar_c, name=name)
    g = np.exp(_student_array(got, f"{name}(...)"))
    if g.shape != (1, 2) or not np.allclose(g, [[0.9, 0.1]], rtol=1e-5, atol=1e-8):
        raise CheckFailed(f"{name}: a code at the same distance from two equal clusters must get gamma = pi; with "
                          f"pi = (0.9, 0.1) it got {g.round(6).tolist()}. Add log pi_c (once) to the log-density.")
    far = call_student(log_gamma, z.float() * 1e3, torch.log(torch.tensor([0.5, 0.5])), mu_c.float(),
                       logvar_c.float(), name=name)
    if not torch.is_tensor(far) or not bool(torch.isfinite(far).all()):
        raise CheckFailed(f"{name}: in float32 (as in training), codes 1000 times further out give NaN or inf: "
                          "stay in log space (`torch.log_softmax` / `torch.logsumexp`), never exp then log.")


def _log_gamma_as_in_the_notebook(log_gamma: Callable, name: str) -> None:
    """float32 and the notebook's sizes: a batch of 100 codes, J = 10, K = 10 (fast and full mode)."""
    import torch

    _, _, z, _, _, log_pi, mu_c, logvar_c = (t.float() for t in _inputs(11, B=100, K=10, J=10))
    got = call_student(log_gamma, z, log_pi, mu_c, logvar_c, name=name)
    if not torch.is_tensor(got):
        raise CheckFailed(f"{name} should return a torch tensor (it is used inside the loss, with gradients).")
    if tuple(got.shape) != (100, 10):
        raise CheckFailed(f"{name}(...) on a training batch (B=100 codes, J=10, K=10, float32) has shape "
                          f"{tuple(got.shape)}; expected (100, 10). Do not hard-code sizes; take them from the inputs.")
    want = _np(_ref_log_gamma(z.double(), log_pi.double(), mu_c.double(), logvar_c.double()))
    if not _close(_np(got), want, rtol=1e-3, atol=1e-2):
        raise CheckFailed(f"{name}(...) is wrong on a training batch (B=100, J=10, K=10, float32) although it is "
                          "right on the small float64 examples: do not hard-code sizes or dtypes.")


# --------------------------------------------------------------------------------------------
# Exercise 2: the ELBO loss
# --------------------------------------------------------------------------------------------

def _term_hints(term: str, got: float, want_b, B: int, D: int, J: int,
                alt_thetaJ: float, alt_sum: float) -> str:
    """Words for a known mistake in one term, or ''."""
    want = float(want_b.mean())
    near = lambda a, b: math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)  # noqa: E731
    if near(got, -want) and not near(want, 0.0):
        return "it has the wrong sign (each entry is that term's contribution to the loss = -ELBO)."
    if near(got, 0.0) and not near(want, 0.0):
        return "it is 0: the term is missing."
    if near(got, alt_sum) and B > 1:
        return f"it is summed over the batch; average over the {B} examples instead (sum over dimensions, mean over the batch)."
    if term == "recon" and near(got, want / D):
        return f"it is averaged over the {D} pixels; sum the cross-entropy over pixels, then average over the batch."
    if term in ("gauss", "entropy_z") and near(got, want / J):
        return f"it is averaged over the {J} latent dimensions; sum over them."
    if near(got, alt_thetaJ) and not near(alt_thetaJ, want):
        return ("it matches gamma computed with log pi_c counted J times (theta^J, as in the reference's "
                "code); gamma should use log pi_c once.")
    return ""


@self_check
def check_elbo_loss(elbo_loss: Callable) -> None:
    """``elbo_loss(x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c) -> dict`` of 0-d tensors.

    Keys ``ELBO_TERMS``: the loss and the five terms of the negative ELBO, each averaged over the batch.
    """
    import torch

    name = "elbo_loss"
    for seed in range(3):
        B, K, J, D = 6, 4, 3, 12
        args = _inputs(seed, B=B, K=K, J=J, D=D)
        got = call_student(elbo_loss, *args, name=name)
        if got is None:
            raise CheckFailed(f"{name} returned None: did you forget to `return` the dict of terms?")
        if not isinstance(got, Mapping):
            raise CheckFailed(
                f"{name} returned a {type(got).__name__}; expected a dict with keys {list(ELBO_TERMS)} "
                "(the loss and its terms, each a 0-d tensor)."
            )
        missing = [k for k in ELBO_TERMS if k not in got]
        if missing:
            raise CheckFailed(f"{name}'s dict lacks {missing}; expected the keys {list(ELBO_TERMS)}.")
        ref = _ref_terms(*args)
        alt = _ref_terms(*args, pi_power=float(J))
        problems = []
        values = {}
        for term in ELBO_TERMS:
            value = got[term]
            if not torch.is_tensor(value):
                raise CheckFailed(f"{name}(...)[{term!r}] is a {type(value).__name__}; expected a 0-d torch tensor.")
            if value.numel() != 1:
                raise CheckFailed(
                    f"{name}(...)[{term!r}] has shape {tuple(value.shape)}; expected one number (0-d tensor): "
                    "sum over dimensions, then `.mean()` over the batch."
                )
            values[term] = float(value.detach())
            if not math.isfinite(values[term]):
                raise CheckFailed(f"{name}(...)[{term!r}] is {values[term]} on ordinary inputs (random seed {seed}).")
        for term in ELBO_TERMS:
            want = float(ref[term].mean())
            if not math.isclose(values[term], want, rel_tol=1e-4, abs_tol=1e-5):
                hint = _term_hints(term, values[term], ref[term], B, D, J, float(alt[term].mean()),
                                   float(ref[term].sum()))
                problems.append((term, values[term], want, hint))
        if problems:
            # a wrong "loss" alone: not the sum of the terms
            if [p[0] for p in problems] == ["loss"]:
                total = sum(values[k] for k in ELBO_TERMS if k != "loss")
                if not math.isclose(values["loss"], total, rel_tol=1e-4, abs_tol=1e-5):
                    raise CheckFailed(
                        f"{name}: every term is right but 'loss' = {values['loss']:.6g} is not their sum "
                        f"({total:.6g}): loss = recon + gauss + prior_c + entropy_c + entropy_z."
                    )
            terms_wrong = [p for p in problems if p[0] != "loss"] or problems
            lines = [f"  '{t}': got {g:.6g}, expected {w:.6g}" + (f": {h}" if h else "") for t, g, w, h in terms_wrong]
            what = {
                "recon": "recon = sum over pixels of BCE(x, sigmoid(x_logits)), use F.binary_cross_entropy_with_logits",
                "gauss": "gauss = 1/2 sum_c gamma_c sum_j [log 2pi + logvar_c + exp(logvar)/exp(logvar_c) + (mu - mu_c)^2/exp(logvar_c)]",
                "prior_c": "prior_c = -sum_c gamma_c log pi_c",
                "entropy_c": "entropy_c = +sum_c gamma_c log gamma_c (use log gamma itself, not log of gamma)",
                "entropy_z": "entropy_z = -1/2 sum_j (1 + logvar_j)",
                "loss": "loss = recon + gauss + prior_c + entropy_c + entropy_z",
            }
            raise CheckFailed(
                f"{name}: {len(terms_wrong)} term(s) wrong (random inputs, seed {seed}, B={B}, K={K}, J={J}, D={D}; "
                "gamma is computed from z):\n" + "\n".join(lines) + "\nExpected: "
                + "; ".join(what[t] for t, *_ in terms_wrong) + ". Each is averaged over the batch."
            )
    # stability: far from every centre, large logits
    x, x_logits, z, mu, logvar, log_pi, mu_c, logvar_c = _inputs(7, B=4, K=3, J=10, D=8)
    out = call_student(elbo_loss, x, 60.0 * x_logits, z + 300.0, mu + 300.0, logvar, log_pi, mu_c, logvar_c,
                       name=name)
    bad = [k for k in ELBO_TERMS if not math.isfinite(float(out[k].detach()))]
    if bad:
        raise CheckFailed(
            f"{name}: {bad} become NaN or inf far from every centre (z + 300) or for large logits: compute "
            "gamma and log gamma with logsumexp / log_softmax, and the reconstruction with "
            "binary_cross_entropy_with_logits (not log(sigmoid(...)))."
        )
    # gradients reach every input that should be trained
    args = [a.clone().requires_grad_(True) for a in _inputs(3)]
    loss = call_student(elbo_loss, *args, name=name)["loss"]
    if not loss.requires_grad:
        raise CheckFailed(f"{name}: the loss has no gradient; do not use .detach(), .item() or NumPy inside it.")
    loss.backward()
    labels = ["x", "x_logits", "z", "mu", "logvar", "log_pi", "mu_c", "logvar_c"]
    none = [n for n, a in zip(labels, args) if n != "x" and (a.grad is None or not torch.any(a.grad != 0))]
    if none:
        raise CheckFailed(f"{name}: no gradient reaches {none}; every parameter of the model must be trained by the loss.")
    _elbo_by_hand(elbo_loss, name)
    _elbo_as_in_the_notebook(elbo_loss, name)
    ok(f"{name}: all {len(ELBO_TERMS)} terms match a per-example loop with torch.distributions; stable and differentiable")


def _elbo_by_hand(elbo_loss: Callable, name: str) -> None:
    """Every term worked out by hand: one image of 2 pixels, J = 1, the code at the clusters' centre."""
    import torch

    f64 = dict(dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0]], **f64)
    x_logits = torch.zeros(1, 2, **f64)                                    # sigmoid = 1/2
    zero = torch.zeros(1, 1, **f64)
    cases = [
        ("one cluster (K = 1, pi = 1) at the code z = mu = 0, sigma~^2 = sigma_c^2 = 1; x = (1, 0), logits 0",
         torch.zeros(1, **f64), {
             "recon": 2 * math.log(2), "gauss": 0.5 * (LOG_2PI + 1), "prior_c": 0.0, "entropy_c": 0.0,
             "entropy_z": -0.5, "loss": 2 * math.log(2) + 0.5 * LOG_2PI}),
        ("two equal clusters (pi = 1/2 each) at the code z = mu = 0: gamma = (1/2, 1/2)",
         torch.log(torch.tensor([0.5, 0.5], **f64)), {
             "recon": 2 * math.log(2), "gauss": 0.5 * (LOG_2PI + 1), "prior_c": math.log(2),
             "entropy_c": -math.log(2), "entropy_z": -0.5, "loss": 2 * math.log(2) + 0.5 * LOG_2PI}),
    ]
    for setting, log_pi, want in cases:
        K = len(log_pi)
        out = call_student(elbo_loss, x, x_logits, zero, zero, zero, log_pi, torch.zeros(K, 1, **f64),
                           torch.zeros(K, 1, **f64), name=name)
        got = {k: float(out[k].detach()) for k in ELBO_TERMS}
        if K == 1 and abs(got["entropy_c"]) >= 1e-12:
            raise CheckFailed(
                f"{name}: with a single cluster gamma = 1 exactly, so entropy_c = 1 * log 1 must be exactly 0; got "
                f"{got['entropy_c']:.3g}. That is the trace of log(gamma + eps) (or a clamp): the eps shifts every "
                "term. Use the log gamma your log_gamma returns (`(g * log_g).sum(1)`), or torch.xlogy(g, g), "
                "not log(g + 1e-10)."
            )
        if K == 1 and abs(got["prior_c"]) >= 1e-12:
            raise CheckFailed(f"{name}: with a single cluster log pi = 0, so prior_c must be exactly 0; got "
                              f"{got['prior_c']:.3g}. Use log_pi as given (no eps, no log(softmax(...)) of it again).")
        for term in ELBO_TERMS:
            if term in ("prior_c", "entropy_c") and K == 1:
                continue
            if not math.isclose(got[term], want[term], rel_tol=1e-9, abs_tol=1e-12):
                raise CheckFailed(
                    f"{name}: for {setting}, {term!r} = {got[term]:.12g} but by hand it is {want[term]:.12g} "
                    "(to 9 digits). A tiny difference comes from an eps or a clamp (log(p + 1e-10), "
                    "log(sigmoid(...)), clamp(min=...)): use binary_cross_entropy_with_logits and log gamma "
                    "from log_gamma, exactly as in the equations."
                )
        if K == 2 and abs(got["prior_c"] + got["entropy_c"]) > 1e-12:
            raise CheckFailed(f"{name}: for {setting}, KL(q(c|x) || p(c)) = prior_c + entropy_c must be exactly 0; got "
                              f"{got['prior_c'] + got['entropy_c']:.3g}.")


def _elbo_as_in_the_notebook(elbo_loss: Callable, name: str) -> None:
    """float32 and the notebook's sizes: a batch of 100 MNIST-sized images, J = 10, K = 10."""
    import torch

    from course_utils.models.vade import vade_elbo_loss

    args = [t.float() for t in _inputs(12, B=100, K=10, J=10, D=784)]
    out = call_student(elbo_loss, *args, name=name)
    if not isinstance(out, Mapping) or any(k not in out for k in ELBO_TERMS):
        raise CheckFailed(f"{name} on a training batch (B=100, D=784, J=10, K=10, float32) did not return a dict "
                          f"with the keys {list(ELBO_TERMS)}.")
    want = vade_elbo_loss(*[a.double() for a in args])
    for term in ELBO_TERMS:
        value = out[term]
        if not torch.is_tensor(value) or value.numel() != 1:
            raise CheckFailed(f"{name}(...)[{term!r}] on a training batch (B=100, D=784, J=10, K=10) is not one number "
                              "(a 0-d tensor); sum over dimensions, then .mean() over the batch.")
        if not math.isclose(float(value.detach()), float(want[term]), rel_tol=1e-3, abs_tol=1e-2):
            raise CheckFailed(
                f"{name}(...)[{term!r}] = {float(value.detach()):.6g} on a training batch (B=100, D=784, J=10, K=10, "
                f"float32), expected {float(want[term]):.6g}, although it is right on the small float64 examples: "
                "do not hard-code sizes or dtypes."
            )


# --------------------------------------------------------------------------------------------
# Exercise 3: GMM initialisation
# --------------------------------------------------------------------------------------------

@self_check
def check_init_gmm(init_gmm: Callable) -> None:
    """``init_gmm(model, Z, seed)``: fit ``GaussianMixture(K, 'diag', random_state=seed)`` on ``Z`` and
    set ``model.pi_logits`` (log weights), ``model.mu_c`` (means), ``model.logvar_c`` (log variances),
    and return the fitted mixture (the notebook calls its ``predict``).

    The check builds small models; it does so inside ``torch.random.fork_rng()`` so that the global
    random state (and with it everything the notebook draws later) is the same as without the check.
    """
    import torch

    with torch.random.fork_rng():
        _check_init_gmm_fits(init_gmm)
        _init_gmm_by_hand(init_gmm)
        _init_gmm_as_in_the_notebook(init_gmm)
    ok("init_gmm: pi, mu_c and log sigma_c^2 are scikit-learn's weights_, means_ and log covariances_; "
       "returns the fitted mixture")


def _check_init_gmm_fits(init_gmm: Callable) -> None:
    import torch
    from sklearn.mixture import GaussianMixture

    from course_utils.models.vade import VaDE

    name = "init_gmm"
    K, J = 4, 3
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 6.0, size=(K, J))
    scales = rng.uniform(0.3, 1.5, size=(K, J))
    sizes = [60, 90, 120, 150]
    Z = np.concatenate([c + s * rng.normal(size=(n, J)) for c, s, n in zip(centres, scales, sizes)])
    Z = Z[rng.permutation(len(Z))].astype(np.float32)
    for seed in (0, 3):
        torch.manual_seed(0)
        model = VaDE(in_dim=16, hidden=(8,), latent_dim=J, n_clusters=K)
        returned = call_student(init_gmm, model, torch.from_numpy(Z), seed, name=name)
        ref = GaussianMixture(K, covariance_type="diag", random_state=seed).fit(Z.astype(np.float64))
        pi_logits, mu_c, logvar_c = _np(model.pi_logits), _np(model.mu_c), _np(model.logvar_c)
        if mu_c.shape != (K, J) or logvar_c.shape != (K, J):
            raise CheckFailed(
                f"{name}: model.mu_c / model.logvar_c changed shape to {mu_c.shape} / {logvar_c.shape}; they must "
                f"stay (K, J) = ({K}, {J}), like scikit-learn's means_ (the reference stores them transposed, "
                "(J, K): do not copy that). Copy in place: `model.mu_c.data.copy_(...)` under torch.no_grad()."
            )
        tol = dict(rtol=1e-4, atol=1e-5)
        if np.allclose(mu_c, 0.0):
            raise CheckFailed(f"{name}: model.mu_c is still 0: copy gmm.means_ into it (in place, as float32).")
        if not np.allclose(mu_c, ref.means_, **tol):
            same_set = np.allclose(np.sort(mu_c, axis=0), np.sort(ref.means_, axis=0), rtol=1e-3, atol=1e-3)
            raise CheckFailed(
                f"{name}: model.mu_c does not match GaussianMixture({K}, covariance_type='diag', "
                f"random_state={seed}).fit(Z).means_" + (
                    " (the same centres in another order: different random_state? use random_state=seed)."
                    if same_set else ". Fit with covariance_type='diag' and random_state=seed on the Z given.")
            )
        var = ref.covariances_
        if not np.allclose(logvar_c, np.log(var), **tol):
            if np.allclose(logvar_c, var, **tol):
                msg = "model.logvar_c holds the variances sigma^2 (covariances_); it must hold log sigma^2 = log(covariances_)."
            elif np.allclose(logvar_c, 0.5 * np.log(var), **tol):
                msg = "model.logvar_c holds log sigma (half the log-variance); it must hold log sigma^2 = log(covariances_)."
            elif np.allclose(logvar_c, np.sqrt(var), **tol):
                msg = "model.logvar_c holds sigma (standard deviations); it must hold log sigma^2 = log(covariances_)."
            elif np.allclose(logvar_c, 0.0):
                msg = "model.logvar_c is still 0: set it to log(covariances_)."
            else:
                msg = "model.logvar_c is not log(gmm.covariances_) (for 'diag' these are the variances sigma^2)."
            raise CheckFailed(f"{name}: {msg}")
        pi = _np(torch.softmax(model.pi_logits.detach().double(), dim=0))
        if not np.allclose(pi, ref.weights_, **tol):
            if np.allclose(pi, 1.0 / K):
                msg = ("pi is still uniform: set model.pi_logits = log(gmm.weights_) (the reference leaves theta "
                       "uniform; our lecture copies the weights).")
            elif np.allclose(pi_logits, ref.weights_, **tol):
                msg = ("model.pi_logits holds the weights; pi = softmax(pi_logits), so store log(weights_) "
                       "(softmax(log w) = w).")
            else:
                msg = f"softmax(model.pi_logits) = {np.round(pi, 4)} but gmm.weights_ = {np.round(ref.weights_, 4)}."
            raise CheckFailed(f"{name}: {msg}")
        for label, p in (("pi_logits", model.pi_logits), ("mu_c", model.mu_c), ("logvar_c", model.logvar_c)):
            if not isinstance(p, torch.nn.Parameter) or p is not dict(model.named_parameters()).get(label):
                raise CheckFailed(
                    f"{name}: model.{label} is no longer the model's nn.Parameter (it was replaced by a plain "
                    "tensor?), so the optimizer would not train it. Copy into it: "
                    f"`with torch.no_grad(): model.{label}.copy_(torch.as_tensor(...))`."
                )
            if p.dtype != torch.float32:
                raise CheckFailed(
                    f"{name}: model.{label} is now {p.dtype}, the model is float32: copy the values into the "
                    f"parameter (`model.{label}.copy_(torch.as_tensor(...))` converts them), do not replace its data."
                )
        if not isinstance(returned, GaussianMixture):
            raise CheckFailed(
                f"{name} returned a {type(returned).__name__}; return the fitted GaussianMixture (`return gmm`): "
                "the notebook calls its predict() for the AE+GMM baseline."
            )
        if not hasattr(returned, "means_") or not np.allclose(returned.means_, ref.means_, rtol=1e-4, atol=1e-5):
            raise CheckFailed(f"{name} returned a GaussianMixture that is not the one fitted on Z (or not fitted): "
                              "return the mixture whose parameters you copied into the model.")


def _init_gmm_by_hand(init_gmm: Callable) -> None:
    """Two clusters in 2-D: 80 points around (-5, -5) with sigma 1 and 20 around (5, 5) with sigma 1/2."""
    import torch

    from course_utils.models.vade import VaDE

    name = "init_gmm"
    rng = np.random.default_rng(7)
    Z = torch.as_tensor(np.concatenate([rng.normal(-5, 1.0, (80, 2)), rng.normal(5, 0.5, (20, 2))]))
    model = VaDE(8, (4,), 2, 2)
    call_student(init_gmm, model, Z, 0, name=name)
    setting = "80 points around (-5, -5) (sigma 1) and 20 around (5, 5) (sigma 0.5), float64 Z"
    pi = model.pi.detach().double().sort().values
    if not torch.allclose(pi, torch.tensor([0.2, 0.8], dtype=torch.float64), atol=1e-3):
        raise CheckFailed(f"{name}: for {setting}, pi = softmax(pi_logits) = {pi.numpy().round(4).tolist()}; "
                          "expected the mixture's weights (0.2, 0.8).")
    mu = model.mu_c.detach().double()
    if not torch.allclose(mu.sort(dim=0).values[:, 0], torch.tensor([-5.0, 5.0], dtype=torch.float64), atol=0.5):
        raise CheckFailed(f"{name}: for {setting}, mu_c = {mu.numpy().round(3).tolist()}; expected centres near "
                          "(-5, -5) and (5, 5), as (K, J) rows.")
    order = mu[:, 0].argsort()
    logvar = model.logvar_c.detach()
    if not bool((logvar[order[1]] < logvar[order[0]]).all()):
        raise CheckFailed(f"{name}: for {setting}, logvar_c = {logvar.numpy().round(3).tolist()}: the tight cluster "
                          "at (5, 5) should have the smaller log-variance; logvar_c[c] must belong to mu_c[c].")
    if not set(dict(model.named_parameters())) >= {"pi_logits", "mu_c", "logvar_c"}:
        raise CheckFailed(f"{name}: pi_logits, mu_c and logvar_c must stay parameters of the model.")


def _init_gmm_as_in_the_notebook(init_gmm: Callable) -> None:
    """The notebook's call: float32 codes (N, 10) of the encoder, K = 10, and it uses the return value."""
    import torch
    from sklearn.mixture import GaussianMixture

    from course_utils.models.vade import VaDE

    name = "init_gmm"
    rng = np.random.default_rng(1)
    Z = (rng.normal(0.0, 4.0, size=(10, 10))[rng.integers(0, 10, 400)] + rng.normal(size=(400, 10))).astype(np.float32)
    model = VaDE(16, (8,), 10, 10)
    returned = call_student(init_gmm, model, torch.from_numpy(Z), 0, name=name)
    ref = GaussianMixture(10, covariance_type="diag", random_state=0).fit(Z.astype(np.float64))
    if not isinstance(returned, GaussianMixture):
        raise CheckFailed(f"{name} returned a {type(returned).__name__}; return the fitted GaussianMixture.")
    if not np.allclose(_np(model.mu_c), ref.means_, rtol=1e-4, atol=1e-4):
        raise CheckFailed(f"{name}: on float32 codes of shape (400, 10) with K = 10 (as in the notebook), model.mu_c is "
                          "not the mixture's means_: convert Z with np.asarray(Z, dtype=np.float64) and fit on all of it.")
    if not np.array_equal(returned.predict(Z.astype(np.float64)), ref.predict(Z.astype(np.float64))):
        raise CheckFailed(f"{name}: the returned mixture's predict() disagrees with a GaussianMixture fitted on Z.")


# --------------------------------------------------------------------------------------------
# The reference implementations, while an exercise is not done yet
# --------------------------------------------------------------------------------------------

def _references() -> dict[str, tuple[Callable, str]]:
    from course_utils.models import vade

    return {
        "log_gamma": (vade.log_gamma, "Exercise 1 (log_gamma)"),
        "elbo_loss": (vade.vade_elbo_loss, "Exercise 2 (elbo_loss)"),
        "init_gmm": (vade.init_gmm_from_latent, "Exercise 3 (init_gmm)"),
    }


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn`` itself, or, while it still raises ``NotImplementedError``, the course package's
    implementation, announced in one line: ``log_gamma`` -> ``models.vade.log_gamma``,
    ``elbo_loss`` -> ``models.vade.vade_elbo_loss`` (the same six terms, plus ``kl``),
    ``init_gmm`` -> ``models.vade.init_gmm_from_latent`` (same arguments, returns the fitted
    mixture). Picked by ``fn.__name__``; used in the notebook right after each self-check, e.g.
    ``log_gamma = checks.reference_if_unfinished(log_gamma)``, so that the rest of the notebook
    runs before every exercise is done. A wrong (but finished) ``fn`` is kept.
    """
    return _reference_by_name(fn, _references(), "03")
