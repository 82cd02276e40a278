"""Self-checks for week 02: the reparameterisation trick, the VAE module, the VAE loss.

Every check runs the student's code on seeded random inputs and compares it with evidence
computed another way: sample statistics and autograd (reparameterisation),
the layer sizes and parameter count of the architecture (module), and ``torch.distributions``
(``Bernoulli(logits=...).log_prob`` and ``kl_divergence(Normal, Normal)``) for the loss. When a
result is wrong the message says which part (which term of the loss, which layer) and, where the
result matches a known mistake (a mean instead of a sum, a missing 1/2, sigma used for log sigma^2,
...), names it.

Usage in the notebook::

    from course_utils.checks import week02 as checks
    checks.check_reparameterize(reparameterize)
    checks.check_vae_module(MyVAE)
    checks.check_vae_loss(vae_loss)
    vae_loss = checks.reference_if_unfinished(vae_loss)  # the library's, while the exercise is not done
    lib_vae = checks.library_twin(my_vae)   # course_utils.models.VAE with the same weights

The checks leave torch's global random number generator as they found it (they draw their own
inputs under ``torch.random.fork_rng``), so running a check never changes the notebook's results.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from course_utils import models
from course_utils.checks._common import CheckFailed, NotDoneYet, call_student, ok, self_check
from course_utils.checks._common import reference_by_name as _reference_by_name
from course_utils.models import VAE

__all__ = [
    "CheckFailed",
    "check_reparameterize",
    "check_vae_module",
    "check_vae_loss",
    "library_twin",
    "expected_linear_layers",
    "reference_if_unfinished",
    "NOTEBOOK_SIZES",
]

#: The (in_dim, hidden, latent_dim) the notebook builds its VAEs with: fast mode (one hidden
#: layer), full mode (the papers' network), and the 2-D latent space of section 7.
NOTEBOOK_SIZES = (
    (784, (512,), 10),
    (784, (500, 500, 2000), 10),
    (784, (512,), 2),
)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _tensor(value: Any, label: str, hint: str = "") -> torch.Tensor:
    """The student's result as a tensor, or a message saying what came back instead."""
    if isinstance(value, torch.Tensor):
        return value
    if value is None:
        what = "None. Did you forget to `return` it?"
    elif isinstance(value, np.ndarray):
        what = ("a NumPy array. Stay in torch: gradients cannot flow through NumPy, so the "
                "network could not be trained.")
    elif isinstance(value, (float, int)):
        what = (f"a Python {type(value).__name__} ({value!r}). Return the tensor itself: `.item()` "
                "or `float(...)` cut it off from autograd, so nothing could be trained with it.")
    else:
        what = f"a {type(value).__name__}."
    raise CheckFailed(f"{label} should be a torch.Tensor, but it is {what}" + (f" {hint}" if hint else ""))


def _shape(t: torch.Tensor, shape: Sequence[int], label: str, hint: str = "") -> None:
    if tuple(t.shape) != tuple(shape):
        raise CheckFailed(f"{label} has shape {tuple(t.shape)}, expected {tuple(shape)}." + (f" {hint}" if hint else ""))


def _close(a: torch.Tensor | float, b: torch.Tensor | float, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.isfinite(a).all()) and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def _fmt(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):.3g}" for v in values.flatten()) + "]"


# --------------------------------------------------------------------------------------------
# reparameterize
# --------------------------------------------------------------------------------------------

@self_check
def check_reparameterize(reparameterize: Callable) -> None:
    """Check ``reparameterize(mu, logvar) -> z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``.

    Checks shape and dtype (float32 and float64), that gradients reach ``mu`` and ``logvar`` with
    the right values (``dz/dmu = 1``, ``dz/dlogvar = (z - mu) / 2``), the mean and standard
    deviation of many samples, that ``torch.manual_seed`` makes it repeatable, that each call
    draws new noise, and the batch and latent sizes the notebook uses (fast and full mode).
    """
    with torch.random.fork_rng(devices=[]):
        _check_reparameterize(reparameterize)


def _check_reparameterize(reparameterize: Callable) -> None:
    name = "reparameterize(mu, logvar)"
    gen = torch.Generator().manual_seed(2)
    mu = torch.randn(5, 3, generator=gen).requires_grad_()
    logvar = (0.8 * torch.randn(5, 3, generator=gen)).requires_grad_()

    # 1. shape, dtype and the gradient path
    z = _tensor(call_student(reparameterize, mu, logvar, name="reparameterize"), name)
    _shape(z, (5, 3), name, "z has the shape of mu: one sample per row, one entry per latent dimension.")
    if z.dtype != mu.dtype:
        raise CheckFailed(f"{name} returned dtype {z.dtype}, but mu is {mu.dtype}; keep the dtype "
                          "(torch.randn_like(mu) draws noise of mu's shape and dtype).")
    if not z.requires_grad:
        raise CheckFailed(
            f"{name} returned a tensor that is not connected to mu and logvar (no gradient can flow "
            "back). Did you use torch.no_grad(), .detach(), .data or NumPy? The whole point of the "
            "trick is that z = mu + sigma * eps is differentiable in mu and sigma."
        )
    z.sum().backward()
    if mu.grad is None or not torch.any(mu.grad != 0):
        raise CheckFailed(f"{name}: z does not depend on mu (its gradient is zero). z = mu + sigma * eps.")
    if not torch.allclose(mu.grad, torch.ones_like(mu)):
        raise CheckFailed(
            f"{name}: dz/dmu should be 1 for every entry (z = mu + sigma * eps), got {_fmt(mu.grad[0])} "
            "in the first row. Add mu once, unscaled."
        )
    if logvar.grad is None or not torch.any(logvar.grad != 0):
        raise CheckFailed(
            f"{name}: z does not depend on logvar (its gradient is zero): the noise must be scaled "
            "by sigma = exp(logvar / 2)."
        )
    noise = (z - mu).detach()
    if not torch.allclose(logvar.grad, 0.5 * noise, rtol=1e-4, atol=1e-6):
        if torch.allclose(logvar.grad, noise, rtol=1e-4, atol=1e-6):
            raise CheckFailed(
                f"{name}: the noise is scaled by exp(logvar) = sigma^2, the variance. Scale it by the "
                "standard deviation sigma = exp(logvar / 2) = exp(0.5 * logvar)."
            )
        raise CheckFailed(
            f"{name}: the gradient with respect to logvar is not what z = mu + exp(logvar / 2) * eps "
            f"gives (dz/dlogvar = (z - mu) / 2). Got {_fmt(logvar.grad[0])}, expected "
            f"{_fmt(0.5 * noise[0])} in the first row. Is sigma computed as exp(0.5 * logvar)?"
        )

    # 2. one eps per entry
    with torch.no_grad():
        zeros = torch.zeros(400, 3)
        z0 = _tensor(call_student(reparameterize, zeros, zeros, name="reparameterize"), name)
    if torch.allclose(z0, z0[:1].expand_as(z0)):
        raise CheckFailed(
            f"{name}: every row got the same noise. Draw one eps per entry of mu: "
            "eps = torch.randn_like(mu), shape (B, d), not (d,) or (1, d)."
        )

    # 3. statistics of many samples: mean mu, standard deviation sigma, normal shape
    n = 40_000
    mu_s = torch.tensor([1.0, -2.0, 0.5])
    sigma = torch.tensor([2.0, 0.5, 1.5])
    logvar_s = torch.log(sigma**2)
    torch.manual_seed(1234)
    with torch.no_grad():
        zs = _tensor(call_student(reparameterize, mu_s.expand(n, 3).clone(), logvar_s.expand(n, 3).clone(),
                                  name="reparameterize"), name)
    _shape(zs, (n, 3), name)
    mean, std = zs.mean(0), zs.std(0)
    if not torch.isfinite(zs).all():
        raise CheckFailed(f"{name} returned NaN or inf for finite mu and logvar.")
    if torch.all(std < 1e-6):
        raise CheckFailed(f"{name} returned z = mu: no noise was added. Add sigma * eps with eps ~ N(0, I).")
    if torch.allclose(std, sigma**2, rtol=0.05):
        raise CheckFailed(
            f"{name}: the samples have standard deviation {_fmt(std)} = sigma^2 (expected sigma = "
            f"{_fmt(sigma)}). exp(logvar) is the variance; the standard deviation is exp(logvar / 2)."
        )
    if torch.allclose(std, torch.ones(3), rtol=0.05):
        raise CheckFailed(
            f"{name}: the samples have standard deviation 1 in every dimension, expected sigma = "
            f"{_fmt(sigma)}. Multiply eps by sigma = exp(logvar / 2)."
        )
    if torch.allclose(mean, mu_s + 0.5 * sigma, atol=0.05) and not torch.allclose(mean, mu_s, atol=0.05):
        raise CheckFailed(
            f"{name}: the samples have mean {_fmt(mean)}, mu + sigma / 2 instead of mu = {_fmt(mu_s)}. "
            "eps looks uniform on [0, 1] (torch.rand_like); it must be standard normal: torch.randn_like."
        )
    se = sigma / math.sqrt(n)
    if not torch.all((mean - mu_s).abs() < 5 * se + 1e-3):
        raise CheckFailed(
            f"{name}: over {n} samples with mu = {_fmt(mu_s)} and sigma = {_fmt(sigma)} the mean of z "
            f"is {_fmt(mean)}; expected mu. z = mu + sigma * eps with eps of mean 0."
        )
    if not torch.all((std / sigma - 1).abs() < 0.03):
        raise CheckFailed(
            f"{name}: over {n} samples with logvar = {_fmt(logvar_s)} the standard deviation of z is "
            f"{_fmt(std)}; expected sigma = exp(logvar / 2) = {_fmt(sigma)}."
        )
    within = (((zs - mu_s) / sigma).abs() < 1).double().mean().item()
    if abs(within - 0.6827) > 0.02:
        raise CheckFailed(
            f"{name}: {within:.1%} of the samples lie within one sigma of mu; a normal distribution has "
            "68.3% there. Draw eps from N(0, I) with torch.randn_like(mu)."
        )

    # 4. repeatable under torch.manual_seed, fresh noise on every call
    small_mu, small_logvar = mu.detach(), logvar.detach()
    with torch.no_grad():
        torch.manual_seed(7)
        a = call_student(reparameterize, small_mu, small_logvar, name="reparameterize")
        b = call_student(reparameterize, small_mu, small_logvar, name="reparameterize")
        torch.manual_seed(7)
        c = call_student(reparameterize, small_mu, small_logvar, name="reparameterize")
    if not torch.equal(a, c):
        raise CheckFailed(
            f"{name}: two calls after the same torch.manual_seed(7) gave different z. Draw eps with "
            "torch (torch.randn_like(mu)), not with NumPy or Python's random, so that seeding torch "
            "makes a run repeatable."
        )
    if torch.equal(a, b):
        raise CheckFailed(
            f"{name}: two calls in a row gave the same z. Draw new noise on every call (do not seed "
            "inside the function, and do not store eps)."
        )

    # 5. the shapes the notebook uses (batches of 64 / 256, d = 10 and 2), and float64 inputs
    for B, d, dtype in ((64, 10, torch.float32), (256, 10, torch.float32), (64, 2, torch.float32),
                        (1, 1, torch.float32), (2, 3, torch.float64)):
        gen_s = torch.Generator().manual_seed(B + d)
        mu_b = torch.randn(B, d, generator=gen_s).to(dtype)
        logvar_b = (0.5 * torch.randn(B, d, generator=gen_s)).to(dtype)
        torch.manual_seed(11)
        z_b = _tensor(call_student(reparameterize, mu_b, logvar_b, name="reparameterize"), name)
        _shape(z_b, (B, d), f"{name} for mu and logvar of shape {(B, d)}",
               "z has the shape of mu, whatever the batch size and latent size (the notebook uses "
               "batches of 64 or 256 and d = 10 or 2): no fixed sizes inside the function.")
        if z_b.dtype != dtype:
            raise CheckFailed(
                f"{name} returned dtype {z_b.dtype} for {dtype} inputs; keep the dtype of mu "
                "(torch.randn_like(mu) draws noise of mu's shape and dtype; do not call .float()).")
        if not torch.isfinite(z_b).all():
            raise CheckFailed(f"{name} returned NaN or inf for finite mu and logvar of shape {(B, d)}.")
        torch.manual_seed(11)
        eps = torch.randn_like(mu_b)
        expected = mu_b + torch.exp(0.5 * logvar_b) * eps
        if B > 1 and not torch.allclose(z_b, expected, rtol=1e-4, atol=1e-5):
            # Other correct ways of drawing eps exist (torch.randn(mu.shape), ...); only the
            # statistics matter. Check that z - mu is sigma times standard normal noise.
            scaled = ((z_b - mu_b) / torch.exp(0.5 * logvar_b)).double()
            if scaled.numel() >= 100 and not (abs(float(scaled.mean())) < 0.3 and 0.8 < float(scaled.std()) < 1.2):
                raise CheckFailed(
                    f"{name} for mu and logvar of shape {(B, d)}: (z - mu) / sigma has mean "
                    f"{float(scaled.mean()):.3g} and standard deviation {float(scaled.std()):.3g}; "
                    "expected about 0 and 1 (eps ~ N(0, I), one draw per entry).")
    ok("reparameterize: right shape, gradients reach mu and logvar, samples have mean mu and "
       "standard deviation exp(logvar / 2), repeatable with torch.manual_seed.")


# --------------------------------------------------------------------------------------------
# The VAE module
# --------------------------------------------------------------------------------------------

def expected_linear_layers(in_dim: int, hidden: Sequence[int], latent_dim: int) -> dict[str, list[tuple[int, int]]]:
    """The ``(in, out)`` sizes of the Linear layers of the VAE: trunk, two heads, decoder."""
    sizes = [in_dim, *hidden]
    trunk = list(zip(sizes[:-1], sizes[1:]))
    heads = [(hidden[-1], latent_dim), (hidden[-1], latent_dim)]
    dec_sizes = [latent_dim, *reversed(hidden), in_dim]
    decoder = list(zip(dec_sizes[:-1], dec_sizes[1:]))
    return {"encoder trunk": trunk, "mu and logvar heads": heads, "decoder": decoder}


def _n_params(layers: Sequence[tuple[int, int]]) -> int:
    return sum(i * o + o for i, o in layers)


def _layer_report(model: nn.Module, in_dim: int, hidden: Sequence[int], latent_dim: int) -> str:
    got = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    want = expected_linear_layers(in_dim, hidden, latent_dim)
    lines = [f"Your Linear layers (in -> out): {', '.join(f'{i}->{o}' for i, o in got) or 'none'}."]
    for part, layers in want.items():
        lines.append(f"  expected {part}: {', '.join(f'{i}->{o}' for i, o in layers)}")
    flat = [layer for layers in want.values() for layer in layers]
    missing = Counter(flat) - Counter(got)
    extra = Counter(got) - Counter(flat)
    if missing:
        lines.append("Missing: " + ", ".join(f"{i}->{o}" + (f" (x{c})" if c > 1 else "") for (i, o), c in missing.items()) + ".")
    if extra:
        lines.append("Not expected: " + ", ".join(f"{i}->{o}" + (f" (x{c})" if c > 1 else "") for (i, o), c in extra.items()) + ".")
    return "\n".join(lines)


def _build(model_class: Callable, label: str, **kwargs: Any) -> nn.Module:
    try:
        model = call_student(model_class, name=f"{label}.__init__", **kwargs)
    except CheckFailed as exc:
        if isinstance(exc.__cause__, TypeError) and "argument" in str(exc.__cause__):
            raise CheckFailed(
                f"{label}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) failed: {exc.__cause__}. "
                "The constructor must accept in_dim, hidden and latent_dim (with the defaults 784, "
                "(500, 500, 2000), 10)."
            ) from None
        raise
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"{label}(...) gave a {type(model).__name__}; the class must subclass nn.Module.")
    return model


def _linear_test(fn: Callable, x1: torch.Tensor, x2: torch.Tensor) -> bool:
    """True when ``fn`` looks affine on these inputs: f(a) + f(b) == f(a + b) + f(0)."""
    with torch.no_grad():
        lhs = fn(x1) + fn(x2)
        rhs = fn(x1 + x2) + fn(torch.zeros_like(x1))
    return bool(torch.allclose(lhs, rhs, atol=1e-5))


@self_check
def check_vae_module(model_class: Callable) -> None:
    """Check the VAE class: layer sizes and parameter count, ``encode`` / ``decode`` / ``forward``.

    Builds ``model_class(in_dim=20, hidden=(16, 12, 24), latent_dim=3)`` and checks: the number of
    parameters of the Linear layers ``D-h1-h2-h3`` + two heads ``h3-d`` + ``d-h3-h2-h1-D``;
    ``encode(x) -> (mu, logvar)`` of shape ``(B, d)`` each, from two different heads with no
    activation; ReLUs in between (the network is not affine); ``decode(z) -> (B, D)`` logits (no
    sigmoid); ``forward(x) -> (x_logits, mu, logvar)`` decoding a *sample*, and gradients for every
    parameter. Then builds it (with keyword arguments, as the notebook does) with one, two and four
    hidden layers and with the notebook's own sizes (``NOTEBOOK_SIZES``: fast mode ``hidden=(512,)``,
    full mode ``(500, 500, 2000)``, latent sizes 10 and 2) and runs each; copies the fast-mode
    model into the library's ``VAE`` as section 4 does (``library_twin``); and checks the default
    ``model_class()`` (784, (500, 500, 2000), 10).
    """
    with torch.random.fork_rng(devices=[]):
        _check_vae_module(model_class)


#: Sizes (in_dim, hidden, latent_dim) the check builds besides the notebook's, and what they test.
_OTHER_DEPTHS = (
    (20, (16,), 3, "one hidden layer"),
    (12, (7, 5), 2, "two hidden layers"),
    (10, (9, 8, 7, 6), 2, "four hidden layers"),
)


def _build_sized(model_class: Callable, label: str, D: int, hidden: tuple, d: int, where: str) -> nn.Module:
    call = f"{label}(in_dim={D}, hidden={hidden}, latent_dim={d})"
    try:
        model = _build(model_class, label, in_dim=D, hidden=hidden, latent_dim=d)
    except NotDoneYet:
        raise
    except CheckFailed as exc:
        raise CheckFailed(
            f"{call} ({where}) failed:\n{exc}\n`hidden` may have any length: the notebook uses "
            "HIDDEN = (512,) (one hidden layer) in fast mode and (500, 500, 2000) in full mode. Build "
            "the layers with a loop over the sizes (e.g. over zip(sizes[:-1], sizes[1:])) instead of "
            "unpacking h1, h2, h3 = hidden."
        ) from None
    want = [layer for layers in expected_linear_layers(D, hidden, d).values() for layer in layers]
    n_got = sum(p.numel() for p in model.parameters())
    if n_got != _n_params(want):
        raise CheckFailed(
            f"{call} ({where}) has {n_got:,} parameters, expected {_n_params(want):,}. Build the layers "
            "from in_dim, hidden (any length) and latent_dim, with no fixed numbers.\n"
            + _layer_report(model, D, hidden, d)
        )
    return model


def _run_sized(model: nn.Module, label: str, D: int, hidden: tuple, d: int, where: str) -> None:
    """encode / decode / forward of a model of these sizes give tensors of the right shapes."""
    call = f"{label}(in_dim={D}, hidden={hidden}, latent_dim={d})"
    B = 5
    gen = torch.Generator().manual_seed(D + d)
    x = torch.rand(B, D, generator=gen)
    out = call_student(model.encode, x, name=f"{call}.encode ({where})")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"{call}.encode(x) ({where}) should return two tensors (mu, logvar).")
    for i, part in enumerate(("mu", "logvar")):
        _shape(_tensor(out[i], f"{part} = {call}.encode(x)"), (B, d),
               f"{part} = {call}.encode(x) for x of shape {(B, D)} ({where})")
    z = torch.randn(B, d, generator=gen)
    logits = _tensor(call_student(model.decode, z, name=f"{call}.decode ({where})"), f"{call}.decode(z)")
    _shape(logits, (B, D), f"{call}.decode(z) for z of shape {(B, d)} ({where})")
    out = call_student(model, x, name=f"{call}.forward ({where})")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed(f"{call}(x) ({where}) should return (x_logits, mu, logvar).")
    for t, part, shape in zip(out, ("x_logits", "mu", "logvar"), ((B, D), (B, d), (B, d))):
        _shape(_tensor(t, f"{part} of {call}(x)"), shape, f"{part} of {call}(x) for x of shape {(B, D)} ({where})")


def _check_vae_module(model_class: Callable) -> None:
    label = getattr(model_class, "__name__", "your VAE class")
    D, hidden, d, B = 20, (16, 12, 24), 3, 64
    torch.manual_seed(0)
    model = _build(model_class, label, in_dim=D, hidden=hidden, latent_dim=d)
    params = list(model.parameters())
    if not params:
        raise CheckFailed(
            f"{label} has no parameters. Assign the layers to attributes of self (self.encoder = "
            "nn.Sequential(...)) after calling super().__init__(); layers kept in a plain Python list "
            "are invisible to PyTorch (use nn.Sequential or nn.ModuleList)."
        )
    want_layers = [layer for layers in expected_linear_layers(D, hidden, d).values() for layer in layers]
    n_want = _n_params(want_layers)
    n_got = sum(p.numel() for p in params)
    if n_got != n_want:
        raise CheckFailed(
            f"{label}(in_dim={D}, hidden={hidden}, latent_dim={d}) has {n_got} parameters, expected "
            f"{n_want} for Linear layers {D}-{'-'.join(map(str, hidden))} (ReLU), two heads "
            f"{hidden[-1]}->{d}, and the mirrored decoder {d}-{'-'.join(map(str, reversed(hidden)))}-{D}. "
            "Build the layers from in_dim, hidden and latent_dim (no fixed numbers).\n"
            + _layer_report(model, D, hidden, d)
        )

    gen = torch.Generator().manual_seed(1)
    x = torch.rand(B, D, generator=gen)
    # encode
    out = call_student(model.encode, x, name=f"{label}.encode")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"{label}.encode(x) should return two tensors (mu, logvar), got "
                          f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "") + ".")
    mu = _tensor(out[0], f"{label}.encode(x)[0] (mu)")
    logvar = _tensor(out[1], f"{label}.encode(x)[1] (logvar)")
    _shape(mu, (B, d), f"mu = {label}.encode(x)[0] for x of shape {(B, D)}")
    _shape(logvar, (B, d), f"logvar = {label}.encode(x)[1] for x of shape {(B, D)}")
    if torch.allclose(mu, logvar):
        raise CheckFailed(f"{label}.encode returns the same tensor for mu and logvar; they come from two "
                          "separate Linear heads on the encoder's last hidden layer.")
    if bool((mu >= 0).all()):
        raise CheckFailed(f"every mu {label}.encode returned is >= 0: is there a ReLU after the mu head? "
                          "The heads are plain Linear layers (mu can be any real number).")
    if bool((logvar >= 0).all()):
        raise CheckFailed(f"every logvar {label}.encode returned is >= 0: is there a ReLU, softplus or exp "
                          "after the logvar head? log sigma^2 is negative whenever sigma < 1; keep the "
                          "head a plain Linear layer.")
    x2 = torch.rand(B, D, generator=gen)
    if _linear_test(lambda t: model.encode(t)[0], x, x2):
        raise CheckFailed(f"{label}.encode is an affine function of x: put a ReLU after every hidden "
                          "layer of the encoder (nn.ReLU() between the Linear layers).")
    # decode
    z = 2 * torch.randn(B, d, generator=gen)
    logits = _tensor(call_student(model.decode, z, name=f"{label}.decode"), f"{label}.decode(z)")
    _shape(logits, (B, D), f"{label}.decode(z) for z of shape {(B, d)}")
    if bool(((logits >= 0) & (logits <= 1)).all()):
        raise CheckFailed(
            f"all outputs of {label}.decode lie in [0, 1]: it looks like a sigmoid is applied. decode "
            "returns the logits (the last Linear layer's output); the loss applies the sigmoid "
            "inside binary_cross_entropy_with_logits, and we call torch.sigmoid only to show images."
        )
    if _linear_test(model.decode, z, 2 * torch.randn(B, d, generator=gen)):
        raise CheckFailed(f"{label}.decode is an affine function of z: put a ReLU after every hidden "
                          "layer of the decoder (not after the last one).")
    # forward
    torch.manual_seed(3)
    out = call_student(model, x, name=f"{label}.forward")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed(f"{label}(x) (forward) should return (x_logits, mu, logvar), got "
                          f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "") + ".")
    x_logits, mu_f, logvar_f = (_tensor(t, f"{label}(x)[{i}]") for i, t in enumerate(out))
    _shape(x_logits, (B, D), f"x_logits = {label}(x)[0]")
    if not (_close(mu_f, mu) and _close(logvar_f, logvar)):
        raise CheckFailed(f"{label}(x) should return the mu and logvar of encode(x) as its 2nd and 3rd values.")
    with torch.no_grad():
        from_mean = model.decode(mu)
    if _close(x_logits, from_mean):
        raise CheckFailed(
            f"{label}(x) decodes mu itself. During training, decode a sample z = reparameterize(mu, "
            "logvar): the noise is what makes it a VAE (and what the KL term pays for)."
        )
    total = x_logits.sum() + mu_f.sum() + logvar_f.sum()
    model.zero_grad()
    total.backward()
    idle = [n for n, p in model.named_parameters() if p.grad is None]
    if idle:
        raise CheckFailed(f"these parameters of {label} get no gradient from forward(x): {', '.join(idle)}. "
                          "Is every layer used in encode/decode?")

    # the sizes the notebook itself uses (fast mode, full mode, 2-D latent space), and other depths
    for (D_k, hidden_k, d_k), where in zip(NOTEBOOK_SIZES, (
            "the notebook's fast mode: HIDDEN = (512,), LATENT_DIM = 10",
            "the notebook's full mode: HIDDEN = (500, 500, 2000), LATENT_DIM = 10",
            "a 2-D latent space, as in section 7, fast mode")):
        sized = _build_sized(model_class, label, D_k, hidden_k, d_k, where)
        _run_sized(sized, label, D_k, hidden_k, d_k, where)
        if hidden_k == (512,) and d_k == 10:
            # what sections 3 and 4 do with it: Glorot initialisation, then the copy into models.VAE
            models.init_glorot_(sized)
            try:
                _library_twin(sized)
            except CheckFailed as exc:
                raise CheckFailed(
                    f"section 4 copies your trained model into course_utils.models.VAE "
                    f"(checks.library_twin(my_vae)), and for {label}(in_dim={D_k}, hidden={hidden_k}, "
                    f"latent_dim={d_k}) that fails: {exc} Use ReLU after every hidden layer, plain "
                    "Linear heads, and call the layers in order (encoder trunk, heads; decoder)."
                ) from None
    for D_k, hidden_k, d_k, where in _OTHER_DEPTHS:
        _run_sized(_build_sized(model_class, label, D_k, hidden_k, d_k, where), label, D_k, hidden_k, d_k, where)

    # the default sizes
    torch.manual_seed(0)
    default = _build(model_class, label)
    layers_784 = [layer for layers in expected_linear_layers(784, (500, 500, 2000), 10).values() for layer in layers]
    n_default = sum(p.numel() for p in default.parameters())
    if n_default != _n_params(layers_784):
        raise CheckFailed(
            f"{label}() with its default arguments has {n_default:,} parameters, expected "
            f"{_n_params(layers_784):,} for in_dim=784, hidden=(500, 500, 2000), latent_dim=10 "
            "(the network of the DEC / VaDE papers). Check the default values.\n"
            + _layer_report(default, 784, (500, 500, 2000), 10)
        )
    ok(f"{label}: layer sizes and parameter count right ({n_default:,} parameters with the default "
       "sizes), encode gives (mu, logvar), decode gives logits, forward decodes a sample.")


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------

def _loss_inputs(seed: int, B: int = 6, D: int = 15, d: int = 4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(B, D, generator=gen)
    x[: B // 2] = (x[: B // 2] > 0.5).float()  # some binary images, some grey values
    x_logits = 2.0 * torch.randn(B, D, generator=gen)
    mu = torch.randn(B, d, generator=gen)
    logvar = 0.8 * torch.randn(B, d, generator=gen)
    return x, x_logits, mu, logvar


def _reference_terms(x, x_logits, mu, logvar) -> tuple[torch.Tensor, torch.Tensor]:
    """recon and kl computed with torch.distributions, independently of the closed forms."""
    log_lik = Bernoulli(logits=x_logits, validate_args=False).log_prob(x)        # (B, D)
    recon = -log_lik.sum(dim=1).mean()
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = kl_divergence(q, p).sum(dim=1).mean()
    return recon, kl


def _recon_mistakes(x, x_logits) -> dict[str, torch.Tensor]:
    B, D = x.shape
    bce = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")
    return {
        f"averaged over the D = {D} pixels instead of summed (this is also what the default "
        "reduction='mean' of binary_cross_entropy_with_logits gives). Sum over the pixels, "
        "`.sum(dim=1)`, then average over the batch, `.mean()`": bce.mean(),
        f"summed over the B = {B} examples instead of averaged. Sum over the pixels, then take "
        "the mean over the batch": bce.sum(),
        "negative: recon is the negative log-likelihood, -log p(x|z) >= 0 (the binary "
        "cross-entropy itself, not minus it)": -bce.sum(1).mean(),
        "computed on sigmoid(x_logits) as if they were logits: binary_cross_entropy_with_logits "
        "applies the sigmoid itself, so pass x_logits unchanged":
            F.binary_cross_entropy_with_logits(torch.sigmoid(x_logits), x, reduction="none").sum(1).mean(),
        "the squared error between sigmoid(x_logits) and x. The Bernoulli decoder's "
        "reconstruction term is the binary cross-entropy":
            ((torch.sigmoid(x_logits) - x) ** 2).sum(1).mean(),
        "computed with input and target swapped: binary_cross_entropy_with_logits(x_logits, x) "
        "takes the logits first and the data second":
            F.binary_cross_entropy_with_logits(x, x_logits, reduction="none").sum(1).mean(),
    }


def _kl_mistakes(mu, logvar) -> dict[str, torch.Tensor]:
    B, d = mu.shape
    per_dim = -0.5 * (1 + logvar - mu**2 - logvar.exp())  # (B, d)
    var_as_sigma = logvar  # "logvar is sigma": sigma^2 = logvar^2
    return {
        "has the wrong sign: KL(q || p) >= 0, and KL = -1/2 sum_k (1 + log sigma_k^2 - mu_k^2 - "
        "sigma_k^2), with a minus in front": -per_dim.sum(1).mean(),
        "is twice too large: the factor 1/2 is missing": 2 * per_dim.sum(1).mean(),
        f"is averaged over the d = {d} latent dimensions; sum over them": per_dim.mean(),
        f"is summed over the B = {B} examples; average over the batch": per_dim.sum(),
        "treats logvar as log sigma (it used exp(logvar) as sigma, exp(2 logvar) as sigma^2). "
        "The encoder's output is log sigma^2, so sigma^2 = exp(logvar)":
            (-0.5 * (1 + 2 * logvar - mu**2 - torch.exp(2 * logvar))).sum(1).mean(),
        "treats logvar as sigma itself. It is log sigma^2: sigma^2 = exp(logvar), "
        "log sigma^2 = logvar":
            (-0.5 * (1 + torch.log(var_as_sigma**2) - mu**2 - var_as_sigma**2)).sum(1).mean(),
        "uses exp(logvar / 2) = sigma where sigma^2 = exp(logvar) belongs (in the last term)":
            (-0.5 * (1 + logvar - mu**2 - torch.exp(0.5 * logvar))).sum(1).mean(),
        "is missing the 1 inside the sum (-1/2 sum_k (1 + logvar_k - mu_k^2 - exp(logvar_k)))":
            (-0.5 * (logvar - mu**2 - logvar.exp())).sum(1).mean(),
        "is missing the mu^2 term (the prior pulls the means to 0)":
            (-0.5 * (1 + logvar - logvar.exp())).sum(1).mean(),
    }


def _scalar_term(value: Any, label: str, B: int, reduce_hint: str) -> torch.Tensor:
    t = _tensor(value, label)
    if t.numel() != 1:
        if tuple(t.shape) and t.shape[0] == B:
            raise CheckFailed(f"{label} has shape {tuple(t.shape)}: one value per example. {reduce_hint}")
        raise CheckFailed(f"{label} has shape {tuple(t.shape)}; expected a single number (a 0-d tensor). {reduce_hint}")
    return t.reshape(())


def _diagnose(got: torch.Tensor, want: torch.Tensor, mistakes: dict[str, torch.Tensor], label: str,
              what: str) -> None:
    if _close(got, want):
        return
    if not torch.isfinite(got):
        raise CheckFailed(
            f"{label} is {float(got.detach())} for finite inputs. A log of 0 or of a negative number? For the "
            "reconstruction use binary_cross_entropy_with_logits (never log(sigmoid(...))); logvar is "
            "already a logarithm and may be negative, so it needs no log."
        )
    for explanation, value in mistakes.items():
        if _close(got, value.detach()):
            raise CheckFailed(f"{label} = {float(got.detach()):.5g}, expected {float(want):.5g}: it is {explanation}.")
    raise CheckFailed(f"{label} = {float(got.detach()):.5g}, expected {float(want):.5g}. {what}")


@self_check
def check_vae_loss(vae_loss: Callable) -> None:
    """Check ``vae_loss(x, x_logits, mu, logvar, beta=1.0) -> (loss, recon, kl)``.

    ``recon`` is compared with ``-Bernoulli(logits=x_logits).log_prob(x)`` summed over pixels and
    averaged over the batch, ``kl`` with ``kl_divergence(Normal(mu, sigma), Normal(0, 1))`` summed
    over latent dimensions and averaged over the batch, and ``loss`` with ``recon + beta * kl``
    for beta = 1 and beta = 4. Also checks gradients, that very large logits stay finite, and the
    shapes the notebook trains with (batches of 64 and 256 images of 784 pixels, d = 10 and 2) and
    tiny ones (one latent dimension, one example). When a term is off, the message says which one and, for common mistakes, what happened.
    """
    name = "vae_loss"
    for seed in (0, 1):
        x, x_logits, mu, logvar = _loss_inputs(seed)
        B, D = x.shape
        d = mu.shape[1]
        leaves = [t.clone().requires_grad_() for t in (x_logits, mu, logvar)]
        out = call_student(vae_loss, x, *leaves, beta=1.0, name=name)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            what = "None (did you forget `return`?)" if out is None else (
                f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) else f"a {type(out).__name__}")
            raise CheckFailed(f"{name} should return three values (loss, recon, kl), but it returned {what}.")
        recon = _scalar_term(out[1], "recon (2nd value)", B,
                             "Sum the binary cross-entropy over the pixels (dim=1), then average over the batch (.mean()).")
        kl = _scalar_term(out[2], "kl (3rd value)", B,
                          "Sum the KL over the latent dimensions (dim=1), then average over the batch (.mean()).")
        loss = _scalar_term(out[0], "loss (1st value)", B, "Average the per-example losses over the batch.")
        with torch.no_grad():
            want_recon, want_kl = _reference_terms(x, x_logits, mu, logvar)
        if not _close(recon, want_recon) and (_close(recon, want_kl) or _close(loss, want_recon)):
            raise CheckFailed(f"{name} returns its three values in another order: return (loss, recon, kl), "
                              "the total first, then the reconstruction term, then the KL term.")
        _diagnose(recon, want_recon, _recon_mistakes(x, x_logits), "recon (the reconstruction term)",
                  f"recon is the binary cross-entropy between x and sigmoid(x_logits), summed over the "
                  f"D = {D} pixels and averaged over the B = {B} examples (we compute it as -Bernoulli("
                  "logits=x_logits).log_prob(x)).")
        _diagnose(kl, want_kl, _kl_mistakes(mu, logvar), "kl (the KL term)",
                  f"kl is KL(N(mu, sigma^2) || N(0, 1)) with sigma^2 = exp(logvar), summed over the d = {d} "
                  "latent dimensions and averaged over the batch (we compute it with "
                  "torch.distributions.kl_divergence).")
        want_loss = want_recon + want_kl
        if not _close(loss, want_loss):
            if _close(loss, want_recon - want_kl):
                raise CheckFailed("loss = recon - kl, but the loss to minimise is the negative ELBO: "
                                  "loss = recon + beta * kl.")
            if _close(loss, -(want_recon + want_kl)):
                raise CheckFailed("loss = -(recon + kl): that is the ELBO, which we maximise. Return "
                                  "its negative, loss = recon + beta * kl, to minimise.")
            raise CheckFailed(f"loss = {float(loss.detach()):.5g}, but recon + beta * kl = {float(want_loss):.5g} "
                              "(recon and kl are right; check how you combine them).")
        # gradients
        if not loss.requires_grad:
            raise CheckFailed("loss is not connected to x_logits, mu and logvar (no gradient). Did you use "
                              ".item(), .detach(), torch.no_grad() or NumPy on the way?")
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        ref_leaves = [t.clone().requires_grad_() for t in (x_logits, mu, logvar)]
        r, k = _reference_terms(x, *ref_leaves)
        ref_grads = torch.autograd.grad(r + k, ref_leaves)
        for label_g, g, rg in zip(("x_logits", "mu", "logvar"), grads, ref_grads):
            if g is None or not _close(g, rg):
                raise CheckFailed(f"the gradient of loss with respect to {label_g} is wrong"
                                  + (" (none: is it used?)" if g is None else "")
                                  + ", although the value is right. Is part of the computation detached?")

        # beta
        out4 = call_student(vae_loss, x, x_logits, mu, logvar, beta=4.0, name=name)
        loss4 = _scalar_term(out4[0], "loss with beta=4", B, "")
        if not _close(loss4, want_recon + 4 * want_kl):
            if _close(loss4, want_loss):
                raise CheckFailed("vae_loss(..., beta=4.0) gives the same loss as beta=1: beta is ignored. "
                                  "loss = recon + beta * kl.")
            if _close(loss4, 4 * want_recon + want_kl):
                raise CheckFailed("beta multiplies the reconstruction term; it belongs to the KL term: "
                                  "loss = recon + beta * kl.")
            raise CheckFailed(f"with beta=4 the loss is {float(loss4.detach()):.5g}, expected recon + 4 * kl = "
                              f"{float(want_recon + 4 * want_kl):.5g}.")
        if not (_close(out4[1], want_recon) and _close(out4[2], want_kl)):
            raise CheckFailed("with beta=4, recon and kl should stay the plain terms (beta only weights "
                              "kl inside the loss).")
        default_out = call_student(vae_loss, x, x_logits, mu, logvar, name=name)
        if not _close(_tensor(default_out[0], "loss"), want_loss):
            raise CheckFailed("vae_loss(x, x_logits, mu, logvar) without beta should use beta = 1.0 (the default).")

    # very confident decoder: large logits must not give inf or NaN
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    big = torch.tensor([[-100.0, 100.0, -100.0, 100.0]])
    zeros = torch.zeros(1, 2)
    out = call_student(vae_loss, x, big, zeros, zeros, beta=1.0, name=name)
    recon_big = _tensor(out[1], "recon")
    if not torch.isfinite(recon_big).all():
        raise CheckFailed(
            f"recon is {float(recon_big.detach().reshape(-1)[0])} for logits of +-100: sigmoid(100) rounds to 1 in "
            "float32 and log(1 - 1) = -inf. Use F.binary_cross_entropy_with_logits, which computes the "
            "same loss stably from the logits."
        )
    if not _close(recon_big, torch.tensor(200.0), rtol=1e-3):
        raise CheckFailed(f"recon for logits +-100 (two pixels right, two wrong by 100) should be 200, got "
                          f"{float(recon_big.detach().reshape(-1)[0]):.5g}.")
    # the sizes the notebook trains with (B x 784 images, d = 10 or 2), and tiny ones
    for B, D, d in ((64, 784, 10), (256, 784, 2), (2, 2, 1), (1, 3, 2)):
        x, x_logits, mu, logvar = _loss_inputs(B + D + d, B, D, d)
        where = f"for x of shape {(B, D)} and mu, logvar of shape {(B, d)}"
        out = call_student(vae_loss, x, x_logits, mu, logvar, beta=1.0, name=name)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise CheckFailed(f"{name} {where} should return three values (loss, recon, kl).")
        hint = "No fixed sizes inside the function: sum over dim=1, then .mean() over the batch."
        loss = _scalar_term(out[0], f"loss (1st value) {where}", B, hint)
        recon = _scalar_term(out[1], f"recon (2nd value) {where}", B, hint)
        kl = _scalar_term(out[2], f"kl (3rd value) {where}", B, hint)
        want_recon, want_kl = _reference_terms(x, x_logits, mu, logvar)
        for label_t, got, want in (("recon", recon, want_recon), ("kl", kl, want_kl),
                                   ("loss", loss, want_recon + want_kl)):
            if not _close(got, want):
                raise CheckFailed(
                    f"{label_t} {where} = {float(got.detach()):.5g}, expected {float(want):.5g}, although "
                    "it was right for the other sizes. Does your code depend on the sizes? E.g. "
                    ".squeeze() also drops a latent dimension (or a batch) of size 1, a fixed batch size "
                    "or number of pixels, or .sum() / .mean() without dim. Sum over dim=1, then take "
                    ".mean() over the batch.")
    ok("vae_loss: recon (BCE summed over pixels) and kl (summed over latent dims) match "
       "torch.distributions, both averaged over the batch; loss = recon + beta * kl; stable for large logits.")


# --------------------------------------------------------------------------------------------
# From the student's module to the library's
# --------------------------------------------------------------------------------------------

def _linear_calls(fn: Callable, model: nn.Module, *args: Any) -> tuple[Any, list[tuple[nn.Linear, torch.Tensor]]]:
    calls: list[tuple[nn.Linear, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append((mod, out.detach())))
             for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            result = fn(*args)
    finally:
        for h in hooks:
            h.remove()
    return result, calls


def _copy_linear(src: nn.Linear, dst: nn.Linear, rows: slice = slice(None)) -> None:
    with torch.no_grad():
        dst.weight.copy_(src.weight[rows])
        dst.bias.copy_(src.bias[rows])


def library_twin(model: nn.Module) -> VAE:
    """A ``course_utils.models.VAE`` holding the weights of the student's VAE ``model``.

    The Linear layers are matched by the order in which ``encode`` and ``decode`` call them (the
    heads by which output is ``mu`` and which ``logvar``), copied, and both models are then
    compared on random inputs. Raises ``CheckFailed`` when the two do not compute the same
    function (a different activation, a layer the library model does not have, ...).
    """
    lib = _library_twin(model)
    ok(f"{type(model).__name__} and course_utils.models.VAE compute the same function with the same weights "
       f"({sum(p.numel() for p in lib.parameters()):,} parameters).")
    return lib


def _library_twin(model: nn.Module) -> VAE:
    """``library_twin`` without the line it prints."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise CheckFailed("the model has no Linear layers to copy.")
    gen = torch.Generator().manual_seed(0)
    D = getattr(model, "in_dim", None) or linears[0].in_features
    device = next(model.parameters()).device
    x = torch.rand(8, D, generator=gen).to(device)
    (mu, logvar), enc_calls = _linear_calls(model.encode, model, x)
    d = mu.shape[1]
    heads: dict[str, tuple[nn.Linear, slice]] = {}
    trunk: list[nn.Linear] = []
    for layer, out in enc_calls:
        if out.shape == mu.shape and torch.equal(out, mu) and "mu" not in heads:
            heads["mu"] = (layer, slice(None))
        elif out.shape == logvar.shape and torch.equal(out, logvar) and "logvar" not in heads:
            heads["logvar"] = (layer, slice(None))
        elif out.shape[1] == 2 * d and torch.equal(out[:, :d], mu) and torch.equal(out[:, d:], logvar):
            heads["mu"], heads["logvar"] = (layer, slice(0, d)), (layer, slice(d, 2 * d))
        else:
            trunk.append(layer)
    if set(heads) != {"mu", "logvar"}:
        raise CheckFailed("could not find the Linear layers whose outputs are mu and logvar; the library "
                          "VAE has two Linear heads on the encoder trunk.")
    z = torch.randn(8, d, generator=gen).to(device)
    _, dec_calls = _linear_calls(model.decode, model, z)
    decoder = [layer for layer, _ in dec_calls]
    sizes = [trunk[0].in_features] + [layer.out_features for layer in trunk] if trunk else [D]
    lib = VAE(in_dim=sizes[0], hidden=tuple(sizes[1:]), latent_dim=d)
    lib_trunk = [m for m in lib.encoder if isinstance(m, nn.Linear)]
    lib_decoder = [m for m in lib.decoder if isinstance(m, nn.Linear)]
    if len(lib_trunk) != len(trunk) or len(lib_decoder) != len(decoder):
        raise CheckFailed(f"your encoder calls {len(trunk)} Linear layers before the heads and the decoder "
                          f"{len(decoder)}; the library VAE has {len(lib_trunk)} and {len(lib_decoder)}.")
    lib = lib.to(device)
    try:
        for src, dst in zip(trunk, lib_trunk):
            _copy_linear(src, dst)
        _copy_linear(heads["mu"][0], lib.mu_head, heads["mu"][1])
        _copy_linear(heads["logvar"][0], lib.logvar_head, heads["logvar"][1])
        for src, dst in zip(decoder, lib_decoder):
            _copy_linear(src, dst)
    except RuntimeError as exc:
        raise CheckFailed(f"the layer sizes differ from the library VAE's: {exc}") from None
    lib = lib.to(device).eval()
    with torch.no_grad():
        lib_mu, lib_logvar = lib.encode(x)
        same = (torch.allclose(lib_mu, mu, atol=1e-5) and torch.allclose(lib_logvar, logvar, atol=1e-5)
                and torch.allclose(lib.decode(z), model.decode(z), atol=1e-5))
    if not same:
        raise CheckFailed("with the same weights, course_utils.models.VAE computes something else than your "
                          "model: a different activation, or layers used in another order?")
    return lib


# --------------------------------------------------------------------------------------------
# Reference implementations for exercises that are not done yet
# --------------------------------------------------------------------------------------------

def _probe_vae_class(model_class: Callable) -> None:
    """Build a tiny model and run it forward: raises NotImplementedError if a part is not written."""
    with torch.random.fork_rng(devices=[]):
        try:
            model = model_class(in_dim=4, hidden=(3,), latent_dim=2)
            model(torch.rand(2, 4))
        except NotImplementedError:
            raise
        except Exception:  # noqa: BLE001 - a wrong class stays the student's; its errors show where it is used
            pass


_REFERENCES: dict[str, tuple[Callable, str, Callable | None]] = {
    "reparameterize": (models.reparameterize, "Exercise 1 (reparameterize)", None),
    "MyVAE": (models.VAE, "Exercise 2 (MyVAE)", _probe_vae_class),
    "vae_loss": (models.vae_loss, "Exercise 3 (vae_loss)", None),
}


def _references() -> dict[str, tuple[Callable, str, Callable | None]]:
    """Exercise name -> (the course package's implementation, the exercise's label, its probe)."""
    return _REFERENCES


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn`` itself, or the course's implementation while the exercise is not done yet.

    ``reparameterize`` -> ``models.reparameterize``, ``MyVAE`` -> ``models.VAE`` (same constructor
    ``(in_dim, hidden, latent_dim)``, same ``encode`` / ``decode`` / ``forward``), ``vae_loss`` ->
    ``models.vae_loss`` (same ``(loss, recon, kl)``). Used right after each self-check, so that a
    student who skips an exercise can still run the rest of the notebook.
    """
    return _reference_by_name(fn, _REFERENCES, "02")
