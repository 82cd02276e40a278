"""Self-checks for week 05: the GAN losses, CatGAN's entropies, InfoGAN's bound, the AAE's code game.

Every check runs the student's function on fixed inputs that can be checked by hand and on seeded
random ones (small float64 cases, then the notebook's float32 batches: B = 64, 100 and 128, K = 10
and 20 classes, codes of d = 5 to 16), and compares it with a computation written straight from the
equations in plain Python: ``math`` and loops over examples and classes, with -log sigmoid(a) =
log(1 + e^-a) evaluated stably, not the course's implementation. The inputs include saturated logits
(±30, ±100, where sigmoid and softmax round to exactly 0 or 1 in float32), real and generated
batches of different sizes, and one-hot-like predictions. The losses are backpropagated, so the
gradients are checked too (against their closed forms): which inputs they reach, and which they must
not reach (the encoder's codes in the adversarial autoencoder's discriminator loss). When the result
is wrong the message says what is off and, where it matches a known mistake (a sigmoid applied
twice, a log of a probability that is exactly 0, a flipped sign or swapped labels, a sum where a
mean belongs, real and generated images averaged together, the saturating minimax loss, conditional
and marginal entropies swapped, log base 2, H(c) left out, the cross-entropy returned instead of the
bound, (B, 1) logits broadcast against (B,) labels, ...), names it.

Usage in the notebook::

    from course_utils.checks import week05 as checks
    checks.check_discriminator_loss(discriminator_loss)
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from course_utils.checks._common import CheckFailed, NotDoneYet, call_student, ok, self_check
from course_utils.checks._common import reference_by_name as _reference_by_name

__all__ = ["CheckFailed", "check_discriminator_loss", "check_generator_loss", "check_catgan_entropies",
           "check_categorical_mi_lower_bound", "check_code_adversarial_losses", "CATGAN_KEYS",
           "reference_if_unfinished"]

#: The keys ``catgan_entropies`` must return, each a 0-d tensor (entropies in nats).
CATGAN_KEYS = ("cond_real", "cond_fake", "marginal_real", "marginal_fake")

#: The batch sizes and numbers of classes the notebook uses (fast mode: B = 64; full mode: 64 or
#: 128 for the GAN, 64 or 100 for CatGAN; K = 10 and 20 CatGAN classes, K = 10 InfoGAN codes), and
#: the adversarial autoencoders' batches of codes: B = 100 Gaussian codes of d = 10 (DAC), one-hot
#: prior samples against softmax codes of d = 16 clusters, and style codes of d = 5 (the AAE).
_NOTEBOOK_B = (64, 128)
_CATGAN_SHAPES = ((64, 10), (100, 10), (64, 20), (100, 20))
_NOTEBOOK_K = 10
_CODE_SHAPES = ((100, 10, "gaussian"), (100, 16, "one-hot"), (100, 5, "gaussian"), (128, 10, "gaussian"))

_LN2 = math.log(2.0)


# --------------------------------------------------------------------------------------------
# Plain-Python references (math and loops, one number at a time)
# --------------------------------------------------------------------------------------------

def _softplus(x: float) -> float:
    """log(1 + e^x), stable for any x: -log sigmoid(a) = softplus(-a), -log(1 - sigmoid(a)) = softplus(a)."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _log_softmax_row(row: Sequence[float]) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def _log_softmax_rows(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    return [_log_softmax_row(row) for row in rows]


def _entropy_of_logp(log_p: Sequence[float]) -> float:
    """-sum_k p_k log p_k from log-probabilities (a p_k that underflows adds 0)."""
    return -sum(math.exp(lp) * lp for lp in log_p)


def _entropy_of_p(p: Sequence[float]) -> float:
    return -sum(v * math.log(v) for v in p if v > 0)


def _list(t: Any) -> list:
    """A tensor's values as (nested) Python floats, in float64."""
    return t.detach().double().tolist()


def _near(a: float, b: float, rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    return math.isfinite(a) and math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def _off_by(value: float, want: float) -> str:
    """A hint for a result that is close to the right one but not within the tolerance."""
    diff = abs(value - want)
    if math.isfinite(value) and diff <= 1e-3 * max(1.0, abs(want)):
        return (f" It is close (off by {diff:.2g}): an epsilon added inside a log (log(p + 1e-5)), a clamp, or a "
                "detour through float32? Compute the logs from the logits (F.logsigmoid, F.log_softmax, "
                "F.cross_entropy): they need no epsilon.")
    return ""


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


# --------------------------------------------------------------------------------------------
# Small helpers: calling the student, reading a 0-d loss, gradients
# --------------------------------------------------------------------------------------------

def _call(fn: Callable, *args: Any, name: str, hint: Callable[[str], str] | None = None) -> Any:
    """``call_student``; a crash's message gets ``hint(message)`` appended (when not empty)."""
    try:
        return call_student(fn, *args, name=name)
    except NotDoneYet:
        raise
    except CheckFailed as exc:
        text = str(exc)
        extra = hint(text) if hint is not None and text.startswith(f"{name} raised") else ""
        if extra:
            raise CheckFailed(f"{text}\n{extra}") from exc.__cause__
        raise


def _scalar(got: Any, label: str, per_example: str) -> float:
    """The value of a loss that must be a 0-d floating torch tensor; else a message on what it is."""
    import torch

    if isinstance(got, (float, int, np.floating, np.integer, np.ndarray)) and not isinstance(got, bool):
        raise CheckFailed(
            f"{label} returned a {type(got).__name__} ({got!r}), not a torch tensor. Return the 0-d tensor "
            "itself: .item(), float() or NumPy cut it off from the computation graph, and the notebook "
            "backpropagates it (loss.backward())."
        )
    if not torch.is_tensor(got):
        raise CheckFailed(f"{label} returned a {type(got).__name__}; expected a 0-d torch tensor.")
    if not got.is_floating_point():
        raise CheckFailed(f"{label} has dtype {got.dtype}; expected a floating-point tensor.")
    if got.numel() != 1:
        shape = tuple(got.shape)
        square = (" A square (B, B) result usually comes from broadcasting a (B, 1) tensor against a (B,) one "
                  "(logits of shape (B, 1) and labels of shape (B,)): make both (B,) first, with "
                  ".reshape(-1) or .squeeze(1)." if len(shape) == 2 and shape[0] == shape[1] > 1 else "")
        raise CheckFailed(f"{label} has shape {shape}; expected one number, a 0-d tensor (shape ()). "
                          f"{per_example}{square}")
    if got.ndim != 0:
        raise CheckFailed(
            f"{label} has shape {tuple(got.shape)}; expected a 0-d tensor (shape ()). Reduce with .mean() (or "
            ".sum()) over the whole tensor, without keepdim=True, .reshape(1), .unsqueeze(0) or an extra [None]."
        )
    return float(got.detach())


def _grads(out: Any, inputs: Sequence[Any], label: str) -> list:
    """``torch.autograd.grad(out, inputs)`` with None for an input ``out`` does not depend on."""
    import torch

    try:
        return list(torch.autograd.grad(out, list(inputs), allow_unused=True, retain_graph=True))
    except RuntimeError as exc:
        raise CheckFailed(
            f"{label}: its gradient could not be computed ({exc}). Do not call .backward() inside the "
            "function (the training loop does that), and build the result from the inputs with torch operations."
        ) from None


def _zero_or_none(g: Any) -> bool:
    import torch

    return g is None or not bool(torch.any(g != 0))


def _grad_close(g: Any, want: Sequence, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    if g is None:
        return False
    got = g.detach().double().numpy()
    want = np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(np.all(np.isfinite(got)) and np.allclose(got, want, rtol=rtol, atol=atol))


def _name_mistake(name: str, value: float, mistakes: Sequence[tuple[float, str]], rtol: float = 1e-5,
                  atol: float = 1e-7) -> None:
    found: list[str] = []
    for candidate, message in mistakes:
        if math.isfinite(candidate) and _near(value, candidate, rtol, atol) and message not in found:
            found.append(message)
    if len(found) == 1:
        raise CheckFailed(f"{name}: {found[0]}")
    if found:   # on this input two mistakes give the same value: name both rather than guess
        raise CheckFailed(f"{name}: on this input your value fits {len(found)} known mistakes; look for the one you "
                          "made. " + " ".join(f"({i}) {m}" for i, m in enumerate(found, start=1)))


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Exercise 1: the discriminator's loss
# --------------------------------------------------------------------------------------------

_D_FORMULA = ("mean over the real images of -log sigmoid(real_logits) plus mean over the generated images "
              "of -log(1 - sigmoid(fake_logits)): -F.logsigmoid(real_logits).mean() - "
              "F.logsigmoid(-fake_logits).mean()")

_LOGSIGMOID = ("Compute the logs from the logits: log D(x) = F.logsigmoid(real_logits) and log(1 - D(G(z))) = "
               "F.logsigmoid(-fake_logits) (it computes -log(1 + e^-a) without forming sigmoid(a)), or use "
               "F.binary_cross_entropy_with_logits on the raw logits, which does the same.")

_SATURATED = ("In float32, sigmoid(30) and sigmoid(100) round to exactly 1 and sigmoid(-100) to exactly 0, so "
              "torch.log(torch.sigmoid(x)) or torch.log(1 - torch.sigmoid(x)) is log(0) = -inf there, "
              "F.binary_cross_entropy on probabilities clamps each log at -100, and an epsilon inside the log "
              "(log(p + 1e-8)) caps -log p at about 18: all wrong for a discriminator that is confidently wrong, "
              "exactly where the loss matters most.")


def _bce_hint(text: str) -> str:
    if "between 0 and 1" in text:
        return ("F.binary_cross_entropy expects probabilities in [0, 1], but the arguments are logits (raw scores, "
                "any real number). Use F.binary_cross_entropy_with_logits on the raw logits (and do not apply a "
                "sigmoid first), or F.logsigmoid.")
    if "must match the size" in text or "same as input size" in text or "size of tensor" in text:
        return ("real_logits and fake_logits can have different lengths (the notebook uses batches of different "
                "sizes): average each term over its own batch and add the two means; build labels with "
                "torch.ones_like(real_logits) and torch.zeros_like(fake_logits).")
    return ""


def _d_reference(real: Sequence[float], fake: Sequence[float]) -> tuple[float, list[tuple[float, str]]]:
    """The loss by loops, and the values of the known mistakes with their messages."""
    sp, s = _softplus, _sigmoid
    real_term = _mean([sp(-a) for a in real])     # mean -log D(x)
    fake_term = _mean([sp(a) for a in fake])      # mean -log(1 - D(G(z)))
    want = real_term + fake_term
    total = sum(sp(-a) for a in real) + sum(sp(a) for a in fake)
    mistakes = [
        (_mean([sp(-s(a)) for a in real]) + _mean([sp(s(a)) for a in fake]),
         "the sigmoid is applied twice: you pass torch.sigmoid(logits) to a loss that applies the sigmoid itself "
         "(F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss, F.logsigmoid). Give it the raw logits."),
        (-want, "the sign is flipped: a cross-entropy is >= 0. The loss is mean[-log D(x)] + mean[-log(1 - D(G(z)))], "
                "with a minus in front of each log (F.logsigmoid is <= 0, so -F.logsigmoid(...) >= 0)."),
        (_mean([sp(a) for a in real]) + _mean([sp(-a) for a in fake]),
         "the labels are swapped: real images must get label 1 (-log D(x) = -F.logsigmoid(real_logits)) and "
         "generated ones label 0 (-log(1 - D(G(z))) = -F.logsigmoid(-fake_logits)); you treat the real images "
         "as fake and the generated ones as real."),
        (total, "the terms are summed over the batch: average each over its own batch (.mean(), the default "
                "reduction='mean' of the losses), so the loss does not grow with the batch size."),
        (total / (len(real) + len(fake)),
         "this is half the loss: 0.5 * (real term + fake term), or one mean over both batches together "
         "(torch.cat([real_logits, fake_logits]) with labels [1, ..., 0, ...]), which with batches of equal size "
         "is the same thing (with different sizes it also weights the two terms differently). The loss is the sum of two means, one over the "
         "real images and one over the generated ones: compute the two terms separately and add them."),
        (real_term, "only the term for real images, mean[-log D(x)]: add the term for generated images, "
                    "mean[-log(1 - D(G(z)))] = -F.logsigmoid(-fake_logits).mean()."),
        (fake_term, "only the term for generated images, mean[-log(1 - D(G(z)))]: add the term for real images, "
                    "mean[-log D(x)] = -F.logsigmoid(real_logits).mean()."),
        (real_term - fake_term, "the term for generated images has the wrong sign: both terms are cross-entropies "
                                "(>= 0) and are added, mean[-log D(x)] + mean[-log(1 - D(G(z)))]."),
        (real_term + _mean([sp(-a) for a in fake]),
         "the generated images get label 1 too (-log D(G(z))): the discriminator must label them 0, "
         "-log(1 - D(G(z))) = -F.logsigmoid(-fake_logits)."),
        (_mean([1 - s(a) for a in real]) + _mean([s(a) for a in fake]),
         "the loss uses the probabilities D = sigmoid(logit) without a log: take -log D(x) and "
         "-log(1 - D(G(z))). " + _LOGSIGMOID),
        (-_mean([s(a) for a in real]) + _mean([s(a) for a in fake]),
         "the loss uses the probabilities D = sigmoid(logit) without a log: take -log D(x) and "
         "-log(1 - D(G(z))). " + _LOGSIGMOID),
        (_mean(fake) - _mean(real), "this is the Wasserstein critic's loss (mean fake logit - mean real logit), not "
                                    "the standard GAN's cross-entropy: " + _D_FORMULA + "."),
    ]
    return want, mistakes


_D_SMALL = (
    ([0.5, -1.2, 2.0, 0.0, 3.1], [-0.7, 1.5, 0.2, -2.4, 0.9]),      # equal sizes
    ([1.0, -0.3, 2.2, -1.7, 0.4], [0.8, -1.1, 2.5]),                # more real than fake
    ([-0.6, 1.9], [0.3, -2.2, 1.4, 0.0, -0.5, 2.8]),                # more fake than real
)
#: float32, saturated; the first one is the hidden tests' case.
_D_SATURATED = (
    ([0.0, 100.0, -100.0], [0.0, -100.0]),
    ([0.0, 100.0, -100.0, 30.0, -30.0], [0.0, -100.0, 100.0, -30.0, 30.0, 1.5]),
)
#: float64 and the hidden tests' float32 case, for the gradient.
_D_GRAD = (([1.0, -2.0], [0.5, 3.0, -1.0]), ([0.5, -1.2, 2.0, 0.0], [-0.7, 1.5, 0.2]))


@self_check
def check_discriminator_loss(discriminator_loss: Callable) -> None:
    """``discriminator_loss(real_logits, fake_logits) -> 0-d tensor``, the discriminator's cross-entropy."""
    import torch

    name = "discriminator_loss"
    per_example = ("Average each term over its batch (.mean()) and add the two means: "
                   "-F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean().")
    for real, fake in _D_SMALL:
        label = f"{name}(real_logits={_fmt(real)}, fake_logits={_fmt(fake)}) (float64)"
        got = _call(discriminator_loss, torch.tensor(real, dtype=torch.float64),
                    torch.tensor(fake, dtype=torch.float64), name=name, hint=_bce_hint)
        value = _scalar(got, label, per_example)
        want, mistakes = _d_reference(real, fake)
        if not math.isfinite(value):
            raise CheckFailed(
                f"{label} = {value} for moderate logits. Are you taking the log of the logits themselves? Logits "
                "are raw scores (any real number, negative too), not probabilities: D(x) = sigmoid(logit). "
                + _LOGSIGMOID)
        if _near(value, want):
            continue
        _name_mistake(name, value, mistakes)
        raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}: {_D_FORMULA}.{_off_by(value, want)}")
    # saturated logits: a confident discriminator, right and wrong
    for real, fake in _D_SATURATED:
        label = f"{name}(real_logits={_fmt(real)}, fake_logits={_fmt(fake)}) (float32)"
        got = _call(discriminator_loss, torch.tensor(real), torch.tensor(fake), name=name, hint=_bce_hint)
        value = _scalar(got, label, per_example)
        want, _ = _d_reference(real, fake)
        if not math.isfinite(value):
            raise CheckFailed(f"{label} = {value}, expected {want:.6g}: not finite for saturated logits. "
                              f"{_SATURATED} {_LOGSIGMOID}")
        if not _near(value, want, rtol=1e-6, atol=1e-5):
            raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}: right for moderate logits, wrong for "
                              f"saturated ones. {_SATURATED} {_LOGSIGMOID}")
    # the notebook's batches: float32, B = 64 and 128, real and generated batches of equal and different sizes
    g = _generator(5)
    for n_real, n_fake in ((64, 64), (128, 128), (64, 128), (128, 64)):
        real_t = 3.0 * torch.randn(n_real, generator=g)
        fake_t = 3.0 * torch.randn(n_fake, generator=g) - 1.0
        label = f"{name}(real_logits: ({n_real},), fake_logits: ({n_fake},), float32)"
        value = _scalar(_call(discriminator_loss, real_t, fake_t, name=name, hint=_bce_hint), label, per_example)
        want, _ = _d_reference(_list(real_t), _list(fake_t))
        if not _near(value, want, rtol=1e-4, atol=1e-5):
            raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}: wrong with the notebook's batch sizes "
                              "although the small cases were right. Do not hard-code sizes; average each term "
                              "over its own batch.")
    # gradients: the discriminator is trained through this loss
    for (real, fake), dtype in zip(_D_GRAD, (torch.float32, torch.float64)):
        real_t = torch.tensor(real, dtype=dtype, requires_grad=True)
        fake_t = torch.tensor(fake, dtype=dtype, requires_grad=True)
        label = f"{name}(real_logits={_fmt(real)}, fake_logits={_fmt(fake)})"
        out = _call(discriminator_loss, real_t, fake_t, name=name, hint=_bce_hint)
        _scalar(out, label, per_example)
        if not out.requires_grad:
            raise CheckFailed(f"{label} carries no gradient: the discriminator is trained by backpropagating this "
                              "loss. Do not use .detach(), .data, .item(), NumPy or torch.no_grad() inside it.")
        g_real, g_fake = _grads(out, [real_t, fake_t], label)
        for g_in, values, which, sign in ((g_real, real, "real_logits", -1), (g_fake, fake, "fake_logits", 1)):
            if _zero_or_none(g_in):
                raise CheckFailed(f"{label}: no gradient reaches {which}; do not detach it inside the loss.")
            want_g = [(_sigmoid(a) if sign > 0 else _sigmoid(a) - 1.0) / len(values) for a in values]
            if not _grad_close(g_in, want_g, rtol=1e-5, atol=1e-8):
                raise CheckFailed(
                    f"{label}: the gradient with respect to {which} is {_fmt(_list(g_in))}, expected "
                    f"{_fmt(want_g)} ({'sigmoid(a) / B_fake' if sign > 0 else '(sigmoid(a) - 1) / B_real'}), "
                    "although the value is right: is part of the loss computed from detached values (.detach(), "
                    ".data, .item())?")
    ok(f"{name}: mean[-log D(x)] + mean[-log(1 - D(G(z)))] matches a loop (also for batches of different sizes, "
       "saturated logits ±100, float32 B = 64 and 128); gradients reach both logits")


# --------------------------------------------------------------------------------------------
# Exercise 2: the generator's non-saturating loss
# --------------------------------------------------------------------------------------------

_G_FORMULA = "mean[-log D(G(z))] = mean of -log sigmoid(fake_logits) = -F.logsigmoid(fake_logits).mean()"


def _g_reference(fake: Sequence[float]) -> tuple[float, list[tuple[float, str]]]:
    sp, s = _softplus, _sigmoid
    want = _mean([sp(-a) for a in fake])
    saturating = -_mean([sp(a) for a in fake])   # mean log(1 - D(G(z)))
    mistakes = [
        (saturating,
         "this is the saturating (minimax) generator loss mean[log(1 - D(G(z)))]. It is avoided in practice: "
         "early in training the discriminator rejects the generated images confidently (D(G(z)) ≈ 0), where "
         "log(1 - D) is flat, so its gradient vanishes and the generator learns almost nothing. Use the "
         "non-saturating loss " + _G_FORMULA + ": the same fixed point, a strong gradient exactly where the "
         "generator is bad (Goodfellow et al., 2014, Section 3)."),
        (-saturating,
         "this is the discriminator's term for generated images, mean[-log(1 - D(G(z)))] (label 0): minimising it "
         "makes the generated images *more* recognisably fake. The generator wants them labelled real (1): "
         + _G_FORMULA + "."),
        (-want, "the sign is flipped: you return mean[log D(G(z))] <= 0; the loss is " + _G_FORMULA + " >= 0."),
        (want * len(fake), "the loss is summed over the batch: average it (.mean()), so it does not grow with the "
                           "batch size."),
        (_mean([sp(-s(a)) for a in fake]),
         "the sigmoid is applied twice: you pass torch.sigmoid(fake_logits) to a loss that applies the sigmoid itself "
         "(F.binary_cross_entropy_with_logits, F.logsigmoid). Give it the raw logits."),
        (_mean([1 - s(a) for a in fake]), "the loss uses the probability D(G(z)) without a log: " + _G_FORMULA + "."),
        (-_mean([s(a) for a in fake]), "the loss uses the probability D(G(z)) without a log: " + _G_FORMULA + "."),
        (-_mean(fake), "this is the Wasserstein generator's loss (-mean of the critic's scores), not the standard "
                       "GAN's: " + _G_FORMULA + "."),
    ]
    return want, mistakes


_G_SMALL = ([0.5, -1.2, 2.0, 0.0, 3.1, -2.6], [0.8, -0.4, 1.7])
_G_SATURATED = ([0.0, 100.0, -100.0], [0.0, 100.0, -100.0, 30.0, -30.0, 1.5])
_G_GRAD = (([0.5, -2.0, 3.0], "float32"), ([0.5, -1.2, 2.0, 0.0], "float64"))


@self_check
def check_generator_loss(generator_loss: Callable) -> None:
    """``generator_loss(fake_logits) -> 0-d tensor``: the non-saturating ``mean[-log sigmoid(fake)]``."""
    import torch

    name = "generator_loss"
    per_example = "Average over the batch: -F.logsigmoid(fake_logits).mean()."
    for fake in _G_SMALL:
        label = f"{name}(fake_logits={_fmt(fake)}) (float64)"
        value = _scalar(_call(generator_loss, torch.tensor(fake, dtype=torch.float64), name=name, hint=_bce_hint),
                        label, per_example)
        want, mistakes = _g_reference(fake)
        if not math.isfinite(value):
            raise CheckFailed(
                f"{label} = {value} for moderate logits. Are you taking the log of the logits themselves? They are "
                "raw scores, not probabilities: D(G(z)) = sigmoid(logit); log D(G(z)) = F.logsigmoid(fake_logits).")
        if _near(value, want):
            continue
        _name_mistake(name, value, mistakes)
        raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}: {_G_FORMULA}.{_off_by(value, want)}")
    for fake in _G_SATURATED:
        label = f"{name}(fake_logits={_fmt(fake)}) (float32)"
        value = _scalar(_call(generator_loss, torch.tensor(fake), name=name, hint=_bce_hint), label, per_example)
        want, _ = _g_reference(fake)
        if not math.isfinite(value) or not _near(value, want, rtol=1e-6, atol=1e-5):
            raise CheckFailed(
                f"{label} = {value:.6g}, expected {want:.6g}: " + ("not finite" if not math.isfinite(value) else
                                                                   "wrong") + " for saturated logits. In float32 "
                "sigmoid(-100) is exactly 0, so torch.log(torch.sigmoid(x)) is -inf (and an epsilon inside the log, "
                "or F.binary_cross_entropy's clamp, caps it): exactly the generated images the discriminator "
                "rejects most confidently, where the generator needs its gradient. Use -F.logsigmoid(fake_logits) "
                "(or F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))).")
    g = _generator(6)
    for B in _NOTEBOOK_B:
        fake_t = 3.0 * torch.randn(B, generator=g) - 1.0
        label = f"{name}(fake_logits: ({B},), float32)"
        value = _scalar(_call(generator_loss, fake_t, name=name, hint=_bce_hint), label, per_example)
        want, _ = _g_reference(_list(fake_t))
        if not _near(value, want, rtol=1e-4, atol=1e-5):
            raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}: wrong with the notebook's batch size "
                              "although the small cases were right. Do not hard-code sizes.")
    for fake, dtype_name in _G_GRAD:
        fake_t = torch.tensor(fake, dtype=getattr(torch, dtype_name), requires_grad=True)
        label = f"{name}(fake_logits={_fmt(fake)})"
        out = _call(generator_loss, fake_t, name=name, hint=_bce_hint)
        _scalar(out, label, per_example)
        if not out.requires_grad:
            raise CheckFailed(f"{label} carries no gradient: the generator is trained by backpropagating this loss "
                              "through the discriminator's logits. Do not use .detach(), .data, .item(), NumPy or "
                              "torch.no_grad() inside it.")
        (g_fake,) = _grads(out, [fake_t], label)
        want_g = [(_sigmoid(a) - 1.0) / len(fake) for a in fake]
        if _zero_or_none(g_fake) or not _grad_close(g_fake, want_g, rtol=1e-5, atol=1e-8):
            raise CheckFailed(f"{label}: the gradient with respect to fake_logits is "
                              f"{None if g_fake is None else _fmt(_list(g_fake))}, expected {_fmt(want_g)} "
                              "((sigmoid(a) - 1) / B): is part of the loss computed from detached values?")
    ok(f"{name}: the non-saturating mean[-log D(G(z))] matches a loop (also for saturated logits ±100, float32, "
       "B = 64 and 128); its gradient reaches the logits")


# --------------------------------------------------------------------------------------------
# Exercise 3: CatGAN's entropies
# --------------------------------------------------------------------------------------------

_COND = "mean_b H[p(y | x_b)], the mean over the batch of each example's entropy"
_MARGINAL = "H[mean_b p(y | x_b)], the entropy of the batch's mean prediction"
_SWAPPED = ("The conditional entropy is " + _COND + " (small when each prediction is confident); the marginal "
            "entropy is " + _MARGINAL + " (large when the batch uses the classes evenly). They are not the same: "
            "a batch of confident predictions spread evenly over K classes has conditional ≈ 0 and marginal ≈ log K.")


def _cond_entropy(log_p: Sequence[Sequence[float]]) -> float:
    return _mean([_entropy_of_logp(row) for row in log_p])


def _marginal_entropy(log_p: Sequence[Sequence[float]]) -> float:
    B, K = len(log_p), len(log_p[0])
    return _entropy_of_p([sum(math.exp(log_p[b][k]) for b in range(B)) / B for k in range(K)])


def _catgan_reference(logits: Sequence[Sequence[float]], other: Sequence[Sequence[float]]
                      ) -> tuple[dict[str, float], dict[str, list[tuple[float, str]]]]:
    """(cond, marginal) of ``logits`` by loops, and the known mistakes' values for each of the two."""
    B, K = len(logits), len(logits[0])
    log_p = _log_softmax_rows(logits)
    p = [[math.exp(v) for v in row] for row in log_p]
    cond, marg = _cond_entropy(log_p), _marginal_entropy(log_p)
    other_lp = _log_softmax_rows(other)
    # softmax over the batch axis (dim=0) instead of the classes
    cols = _log_softmax_rows([[logits[b][k] for b in range(B)] for k in range(K)])
    log_p0 = [[cols[k][b] for k in range(K)] for b in range(B)]
    p0_mean = [sum(math.exp(log_p0[b][k]) for b in range(B)) / B for k in range(K)]
    mean_logits = [sum(logits[b][k] for b in range(B)) / B for k in range(K)]
    common = [(lambda v: -v, "the entropy is negative (the sign is flipped): H[p] = -sum_k p_k log p_k >= 0."),
              (lambda v: v / _LN2, "this is in bits (log base 2): use the natural log (nats), torch.log / "
                                   "F.log_softmax.")]
    cond_mistakes = [
        (marg, "it is the entropy of the mean prediction, the *marginal* entropy: conditional and marginal are "
               "swapped. " + _SWAPPED),
        *[(f(cond), msg) for f, msg in common],
        (cond * B, "the per-example entropies are summed over the batch: average them (.mean() over the batch); "
                   "the conditional entropy is " + _COND + "."),
        (cond / K, "the entropy is averaged over the classes too (a .mean() over all B x K entries of -p log p): "
                   "sum over the classes (dim=1), then average over the batch."),
        (_cond_entropy(log_p0), "the softmax is taken over the batch axis (dim=0); the probabilities of each example "
                                "are over the K classes: F.softmax(logits, dim=1) / F.log_softmax(logits, dim=1)."),
        (_cond_entropy(other_lp), "it is computed from the other batch's logits: the '_real' entries use "
                                  "real_logits, the '_fake' ones fake_logits."),
    ]
    marg_mistakes = [
        (cond, "it is the mean of the per-example entropies, the *conditional* entropy: conditional and marginal "
               "are swapped. " + _SWAPPED),
        *[(f(marg), msg) for f, msg in common],
        (_entropy_of_p([sum(p[b][k] for b in range(B)) for k in range(K)]),
         "the predictions are summed over the batch, not averaged: the marginal is the batch's mean prediction "
         "p_bar = p.mean(dim=0), a distribution over the K classes (it sums to 1); its entropy is "
         "-sum_k p_bar_k log p_bar_k."),
        (_entropy_of_p([sum(row) / K for row in p]),
         "the predictions are averaged over the class axis (dim=1), which gives 1/K for every example: average "
         "over the batch axis (dim=0) to get the mean prediction p_bar (K numbers), then take its entropy."),
        (marg / K, "the entropy of the mean prediction is averaged over the classes: sum -p_bar_k log p_bar_k over "
                   "the K classes."),
        (_entropy_of_p([math.exp(v) for v in _log_softmax_row(mean_logits)]),
         "you averaged the logits and then took the softmax: the marginal is the mean of the *probabilities*, "
         "p_bar = F.softmax(logits, dim=1).mean(dim=0), not the softmax of the mean logits."),
        (_entropy_of_p(p0_mean), "the softmax is taken over the batch axis (dim=0); the probabilities of each example "
                                 "are over the K classes: F.softmax(logits, dim=1)."),
        (_marginal_entropy(other_lp), "it is computed from the other batch's logits: the '_real' entries use "
                                      "real_logits, the '_fake' ones fake_logits."),
    ]
    return {"cond": cond, "marginal": marg}, {"cond": cond_mistakes, "marginal": marg_mistakes}


def _catgan_grads(logits: Sequence[Sequence[float]]) -> dict[str, list[list[float]]]:
    """Closed-form gradients of the conditional and the marginal entropy with respect to the logits.

    cond: -p_bj (log p_bj + H_b) / B; marginal: -(p_bj / B) (log p_bar_j - sum_k p_bk log p_bar_k).
    """
    B, K = len(logits), len(logits[0])
    log_p = _log_softmax_rows(logits)
    p = [[math.exp(v) for v in row] for row in log_p]
    H = [_entropy_of_logp(row) for row in log_p]
    log_bar = [math.log(sum(p[b][k] for b in range(B)) / B) for k in range(K)]
    cond = [[-p[b][j] * (log_p[b][j] + H[b]) / B for j in range(K)] for b in range(B)]
    marg = [[-(p[b][j] / B) * (log_bar[j] - sum(p[b][k] * log_bar[k] for k in range(K))) for j in range(K)]
            for b in range(B)]
    return {"cond": cond, "marginal": marg}


def _catgan_result(got: Any, label: str) -> dict[str, float]:
    """The four values of ``got`` (a dict of 0-d tensors), or a message on what is missing or wrong."""
    if not isinstance(got, dict):
        raise CheckFailed(f"{label} returned a {type(got).__name__}; expected a dict with the keys {list(CATGAN_KEYS)}, "
                          "each a 0-d tensor.")
    missing = [k for k in CATGAN_KEYS if k not in got]
    if missing:
        raise CheckFailed(f"{label} has no key(s) {missing}; your dict has {sorted(map(str, got))}. Use exactly the "
                          f"keys {list(CATGAN_KEYS)}.")
    return {k: _scalar(got[k], f"{label}[{k!r}]", "Average the per-example entropies over the batch (conditional), "
                                                  "or sum -p_bar log p_bar over the classes (marginal).")
            for k in CATGAN_KEYS}


def _split(key: str) -> tuple[str, str]:
    kind, which = key.split("_")
    return ("cond" if kind == "cond" else "marginal"), which


def _catgan_inputs(seed: int, real_shape: tuple[int, int], fake_shape: tuple[int, int], scale: float, dtype):
    import torch

    g = _generator(seed)
    return (scale * torch.randn(*real_shape, generator=g, dtype=dtype),
            scale * torch.randn(*fake_shape, generator=g, dtype=dtype) + 0.3)


def _catgan_hand_real():
    """log of [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]: cond = 1.5 log 2, marginal of p_bar = [3/8, 3/8, 1/4]."""
    import torch

    return torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]], dtype=torch.float64))


@self_check
def check_catgan_entropies(catgan_entropies: Callable) -> None:
    """``catgan_entropies(real_logits, fake_logits) -> dict`` of CatGAN's four entropies (nats), 0-d tensors."""
    import torch

    name = "catgan_entropies"

    def compare(real_t, fake_t, label: str, rtol: float, atol: float, where: str) -> dict:
        got = _call(catgan_entropies, real_t, fake_t, name=name)
        values = _catgan_result(got, label)
        real, fake = _list(real_t), _list(fake_t)
        refs = {"real": _catgan_reference(real, fake), "fake": _catgan_reference(fake, real)}
        for key in CATGAN_KEYS:
            kind, which = _split(key)
            want, mistakes = refs[which][0][kind], refs[which][1][kind]
            value = values[key]
            if _near(value, want, rtol, atol):
                continue
            if not math.isfinite(value):
                if where == "moderate":
                    raise CheckFailed(
                        f"{label}[{key!r}] = {value} for moderate logits. Are you using the logits as probabilities? "
                        "Logits can be negative (log of a negative number is NaN): apply a softmax over the classes "
                        "first, p = F.softmax(logits, dim=1), log p = F.log_softmax(logits, dim=1).")
                raise CheckFailed(
                    f"{label}[{key!r}] = {value}, expected {want:.6g}: not finite for saturated logits (one class at "
                    "+100, the others at -100). In float32 softmax gives exactly 0 for the other classes, log(0) = "
                    "-inf and 0 * log(0) = 0 * (-inf) = NaN. Take log p from F.log_softmax(logits, dim=1) (finite: "
                    "-200) and p = log_p.exp(); for the marginal, log p_bar = torch.logsumexp(log_p, dim=0) - "
                    "math.log(B); or guard the log, torch.log(p + 1e-12).")
            _name_mistake(f"{name}: {key!r}", value, mistakes, rtol=max(rtol, 1e-5), atol=max(atol, 1e-6))
            formula = _COND if kind == "cond" else _MARGINAL
            raise CheckFailed(f"{label}[{key!r}] = {value:.6g}, expected {want:.6g} ({where} logits): it should be "
                              f"{formula}, in nats, from {which}_logits.{_off_by(value, want)}")
        return got

    # the hidden tests' hand cases, then seeded ones
    real_t = _catgan_hand_real()
    fake_t = torch.zeros(3, 3, dtype=torch.float64)
    compare(real_t, fake_t, f"{name}(log [[.5, .25, .25], [.25, .5, .25]], zeros(3, 3))", 1e-5, 5e-5, "moderate")
    for seed, (rs, fs) in enumerate((((5, 4), (6, 4)), ((4, 3), (4, 3)), ((7, 5), (3, 5)))):
        real_t, fake_t = _catgan_inputs(seed, rs, fs, 2.0, torch.float64)
        compare(real_t, fake_t, f"{name}(real_logits: {rs}, fake_logits: {fs}, float64, seed {seed})", 1e-5, 5e-5,
                "moderate")
    # saturated, float32: one-hot-like rows spread evenly (cond ≈ 0, marginal = log K) and two-class rows
    real_t = torch.tensor([[100.0, -100.0], [-100.0, 100.0]])
    compare(real_t, torch.zeros(3, 2), f"{name}([[100, -100], [-100, 100]], zeros(3, 2))", 1e-5, 5e-5, "saturated")
    # a class that no image of the batch uses: its mean probability is exactly 0 in float32
    real_t = torch.tensor([[100.0, -100.0, -100.0], [-100.0, 100.0, -100.0]]).repeat(2, 1)
    compare(real_t, torch.zeros(2, 3), f"{name}(logits ±100 that leave class 2 unused, zeros(2, 3), float32)",
            1e-5, 5e-5, "saturated")
    real_t = torch.full((8, 4), -100.0)
    real_t[torch.arange(8), torch.arange(8) % 4] = 100.0
    fake_t = torch.tensor([[100.0, 100.0, -100.0, -100.0], [-100.0, -100.0, 100.0, 100.0]]).repeat(4, 1)
    label = f"{name}(one-hot-like (8, 4) logits ±100, float32)"
    compare(real_t, fake_t, label, 1e-5, 5e-5, "saturated")
    real_t.requires_grad_(True)
    fake_t.requires_grad_(True)
    got = _call(catgan_entropies, real_t, fake_t, name=name)
    _catgan_result(got, label)
    total = sum((i + 1.0) * got[k] for i, k in enumerate(CATGAN_KEYS))
    if not torch.is_tensor(total) or not total.requires_grad:
        raise CheckFailed(f"{label}: the entropies carry no gradient; CatGAN trains the discriminator and the generator "
                          "through them. Do not use .detach(), .data, .item(), NumPy or torch.no_grad() inside.")
    for g_in in _grads(total, [real_t, fake_t], label):
        if g_in is not None and not bool(torch.all(torch.isfinite(g_in))):
            raise CheckFailed(
                f"{label}: the values are right but their gradient is NaN or inf for saturated logits. "
                "torch.special.entr(p) and torch.xlogy(p, p) have an infinite derivative at p = 0 (log 0), and "
                "backpropagating through the softmax turns it into NaN (0 * inf), which would poison the networks' "
                "weights. Compute the entropy from log-probabilities: -(log_p.exp() * log_p).sum(dim=1) with "
                "log_p = F.log_softmax(logits, dim=1) (or guard the log: p * torch.log(p + 1e-12)).")
    # the notebook's shapes, float32: K = 10 and 20 classes, B = 64 and 100, moderate and confident predictions
    for seed, (B, K) in enumerate(_CATGAN_SHAPES):
        for scale in (3.0, 10.0):
            real_t, fake_t = _catgan_inputs(10 + seed, (B, K), (B, K), scale, torch.float32)
            compare(real_t, fake_t, f"{name}(real_logits, fake_logits: ({B}, {K}) float32, scale {scale:g})",
                    1e-4, 1e-5, "the notebook's")
    # gradients, float64: each entropy is differentiable in its own logits, and only in those
    real_t, fake_t = (t.requires_grad_(True) for t in _catgan_inputs(3, (5, 4), (6, 4), 2.0, torch.float64))
    got = _call(catgan_entropies, real_t, fake_t, name=name)
    label = f"{name}(real_logits: (5, 4), fake_logits: (6, 4), float64)"
    _catgan_result(got, label)
    want_grads = {"real": _catgan_grads(_list(real_t)), "fake": _catgan_grads(_list(fake_t))}
    for key in CATGAN_KEYS:
        kind, which = _split(key)
        out = got[key]
        if not out.requires_grad:
            raise CheckFailed(f"{label}[{key!r}] carries no gradient: CatGAN trains the discriminator and the generator "
                              "through these entropies. Do not use .detach(), .data, .item(), NumPy or "
                              "torch.no_grad() inside.")
        g_real, g_fake = _grads(out, [real_t, fake_t], f"{label}[{key!r}]")
        own, other = (g_real, g_fake) if which == "real" else (g_fake, g_real)
        if _zero_or_none(own):
            raise CheckFailed(f"{label}[{key!r}]: no gradient reaches {which}_logits; do not detach them.")
        if not _zero_or_none(other):
            raise CheckFailed(f"{label}[{key!r}] depends on the other batch's logits; it must use {which}_logits only.")
        if not _grad_close(own, want_grads[which][kind], rtol=1e-3, atol=1e-5):
            raise CheckFailed(f"{label}[{key!r}]: the value is right but its gradient with respect to {which}_logits is "
                              "not: is part of it computed from detached values (.detach(), .data, .item())?")
    ok(f"{name}: conditional (mean of entropies) and marginal (entropy of the mean) entropies on real and generated "
       "logits match loops (also saturated logits ±100, float32 B = 64 and 100, K = 10 and 20); finite gradients")


# --------------------------------------------------------------------------------------------
# Exercise 4: InfoGAN's lower bound on the mutual information
# --------------------------------------------------------------------------------------------

_MI_FORMULA = ("L_I = log K + mean_b log Q(c_b | x_b) = math.log(K) - F.cross_entropy(q_logits, codes), "
               "with log Q = F.log_softmax(q_logits, dim=1)")


def _mi_hint(text: str) -> str:
    return ("If the error is about shapes, indices or dtypes: codes is a (B,) tensor of int64 class indices c_b in "
            "0..K-1, not one-hot rows. Pick log Q(c_b | x_b) with log_q.gather(1, codes[:, None]) or "
            "log_q[torch.arange(len(codes)), codes], or use F.cross_entropy(q_logits, codes), which takes the "
            "indices directly.")


def _mi_reference(logits: Sequence[Sequence[float]], codes: Sequence[int]
                  ) -> tuple[float, list[tuple[float, str]]]:
    B, K = len(logits), len(logits[0])
    log_q = _log_softmax_rows(logits)
    picked = [log_q[b][codes[b]] for b in range(B)]
    ce = -_mean(picked)
    want = math.log(K) - ce
    log_q_of_q = _log_softmax_rows([[math.exp(v) for v in row] for row in log_q])
    cols = _log_softmax_rows([[logits[b][k] for b in range(B)] for k in range(K)])
    mistakes = [
        (math.log(K) + _mean([max(row) for row in log_q]),
         "you take log Q of each example's most likely code (log_q.max(1), or the argmax), not of the code c_b "
         "the generator was given: pick the given code's entry, log_q.gather(1, codes[:, None]) (or "
         "F.cross_entropy(q_logits, codes))."),
        (math.log(K) + _mean([log_q_of_q[b][codes[b]] for b in range(B)]),
         "the softmax is applied before F.cross_entropy (or F.log_softmax): those take *logits* and apply the "
         "softmax themselves, so yours is applied twice. Pass q_logits as they are: " + _MI_FORMULA + "."),
        (ce, "this is the cross-entropy loss -mean_b log Q(c_b | x_b) (what F.cross_entropy returns), not the bound. "
             "The bound subtracts it from H(c) = log K: " + _MI_FORMULA + "."),
        (-want, "the sign is flipped: you return -L_I (the term InfoGAN's loss adds, -lambda * L_I), not the bound "
                "L_I itself, which is <= log K and is maximised: " + _MI_FORMULA + "."),
        (-ce, "H(c) = log K is left out: the bound is L_I = H(c) + mean_b log Q(c_b | x_b), and H(c) = log K for a "
              "uniform code (it makes L_I = 0 for a Q that predicts the uniform distribution): " + _MI_FORMULA + "."),
        (math.log(K) + sum(picked), "log Q(c_b | x_b) is summed over the batch: average it (.mean()): "
                                    + _MI_FORMULA + "."),
        (B * want, "the bound is summed over the batch: average log Q(c_b | x_b) over it and add log K once: "
                   + _MI_FORMULA + "."),
        (want / _LN2, "this is in bits (log base 2): use natural logs, math.log(K) and F.log_softmax (nats)."),
        (math.log2(K) - ce, "H(c) is in bits (math.log2(K)) and log Q in nats: use math.log(K)."),
        (math.log(K) + _mean([log_q[b][codes[c]] for b in range(B) for c in range(B)]),
         "log_q[:, codes] builds a (B, B) matrix (every example against every code) and its mean is wrong: pick one "
         "entry per row, log_q[torch.arange(B), codes] or log_q.gather(1, codes[:, None])."),
        (math.log(K) + _mean([sum(log_q[b][k] * codes[b] for k in range(K)) for b in range(B)]),
         "codes is multiplied with log Q as if it were a one-hot row (or a weight); it holds class indices: pick "
         "log_q.gather(1, codes[:, None]) (or multiply with F.one_hot(codes, K))."),
        (math.log(K) + _mean([v for row in log_q for v in row]),
         "the codes are not used: log Q is averaged over all classes; take log Q(c_b | x_b), the entry of each "
         "example's code, log_q.gather(1, codes[:, None])."),
        (math.log(K) + _mean([cols[codes[b]][b] for b in range(B)]),
         "the softmax is taken over the batch axis (dim=0): Q(c | x_b) is a distribution over the K codes, "
         "F.log_softmax(q_logits, dim=1)."),
    ]
    if B == K:   # codes (B,) broadcast against the K columns
        mistakes.append((math.log(K) + _mean([sum(log_q[b][k] * codes[k] for k in range(K)) for b in range(B)]),
                         "codes is multiplied with log Q as if it were a one-hot row: it holds class indices (B,); "
                         "pick log_q.gather(1, codes[:, None]) (or multiply with F.one_hot(codes, K))."))
    if all(c < B for c in codes):   # indexing rows by the codes only works (silently) then
        mistakes += [
            (math.log(K) + _mean([log_q[codes[b]][0] for b in range(B)]),
             "the gather is along the wrong axis (dim=0 picks rows, the examples): log_q.gather(1, codes[:, None])."),
            (math.log(K) + _mean([v for b in range(B) for v in log_q[codes[b]]]),
             "log_q[codes] picks *rows* (examples) by the codes: pick the code's column in each row, "
             "log_q[torch.arange(B), codes] or log_q.gather(1, codes[:, None])."),
        ]
    return want, mistakes


def _mi_inputs(seed: int, B: int, K: int, scale: float, dtype):
    import torch

    g = _generator(seed)
    return scale * torch.randn(B, K, generator=g, dtype=dtype), torch.randint(0, K, (B,), generator=g)


@self_check
def check_categorical_mi_lower_bound(categorical_mi_lower_bound: Callable) -> None:
    """``categorical_mi_lower_bound(q_logits, codes) -> 0-d tensor``, ``log K + mean_b log Q(c_b | x_b)``."""
    import torch

    name = "categorical_mi_lower_bound"
    per_example = "Average log Q(c_b | x_b) over the batch (.mean()) and add log K."

    def value_of(q_t, codes_t, label: str) -> float:
        return _scalar(_call(categorical_mi_lower_bound, q_t, codes_t, name=name, hint=_mi_hint), label, per_example)

    def expect(q_t, codes_t, label: str, rtol: float, atol: float, explain: str) -> None:
        value = value_of(q_t, codes_t, label)
        want, mistakes = _mi_reference(_list(q_t), [int(c) for c in codes_t])
        if _near(value, want, rtol, atol):
            return
        if math.isfinite(value):
            _name_mistake(name, value, mistakes, max(rtol, 1e-5), max(atol, 1e-7))
        raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}: {explain} " + _MI_FORMULA + "."
                          + _off_by(value, want))

    # hand cases (the hidden tests'): a small K = 2 case, perfect prediction, uniform prediction
    expect(torch.log(torch.tensor([[3.0, 1.0], [3.0, 1.0]], dtype=torch.float64)), torch.tensor([0, 1]),
           f"{name}(q_logits=log [[3, 1], [3, 1]], codes=[0, 1])", 1e-6, 1e-6,
           "Q(c | x) = [3/4, 1/4] for both examples, so L_I = log 2 + (log 3/4 + log 1/4) / 2 = log(3/4) / 2.")
    codes_t = torch.tensor([3, 0, 9, 3])
    q_t = torch.full((4, 10), -100.0)
    q_t[torch.arange(4), codes_t] = 100.0
    expect(q_t, codes_t, f"{name}(q_logits: (4, 10) float32, +100 at each code and -100 elsewhere, "
                         "codes=[3, 0, 9, 3])", 1e-6, 1e-6,
           "when Q recovers every code with certainty, L_I takes its largest value, H(c) = log K = log 10.")
    expect(torch.zeros(5, 10), torch.arange(5), f"{name}(q_logits=zeros(5, 10), codes=[0, 1, 2, 3, 4])", 1e-6, 5e-7,
           "when Q predicts the uniform distribution (log Q = -log K for every code) the bound is 0: "
           "log K + mean_b log(1/K) = 0.")
    # seeded cases, float64
    for seed, (B, K) in enumerate(((6, 4), (3, 5), (8, 3))):
        q_t, codes_t = _mi_inputs(seed, B, K, 2.0, torch.float64)
        expect(q_t, codes_t, f"{name}(q_logits: ({B}, {K}) float64, codes={[int(c) for c in codes_t]})", 1e-6, 1e-6,
               "moderate logits (a NaN here: are you taking the log of the logits themselves? Use "
               "F.log_softmax(q_logits, dim=1) or F.cross_entropy).")
    # saturated and confidently wrong: log Q(c | x) = -200 is finite
    codes_t = torch.tensor([1, 4, 7, 7])
    q_t = torch.full((4, 10), -100.0)
    q_t[torch.arange(4), (codes_t + 1) % 10] = 100.0
    expect(q_t, codes_t, f"{name}(q_logits: (4, 10) float32, +100 next to each code, -100 elsewhere, "
                         "codes=[1, 4, 7, 7])", 1e-5, 1e-3,
           "a Q that is confidently wrong gives log Q(c | x) = -200, so L_I = log 10 - 200. In float32 softmax "
           "rounds that probability to exactly 0 and torch.log gives -inf: take log Q from "
           "F.log_softmax(q_logits, dim=1) (or use F.cross_entropy).")
    # the notebook's batches: float32, K = 10 codes
    for seed, B in enumerate(_NOTEBOOK_B):
        q_t, codes_t = _mi_inputs(20 + seed, B, _NOTEBOOK_K, 3.0, torch.float32)
        expect(q_t, codes_t, f"{name}(q_logits: ({B}, {_NOTEBOOK_K}) float32, codes: ({B},) int64)", 1e-4, 1e-5,
               "wrong with the notebook's shapes although the small cases were right. Do not hard-code sizes "
               "(K = q_logits.shape[1]).")
    # gradients (the hidden tests' K = 2 case and a seeded one): (one_hot(c) - softmax) / B
    for q_t, codes_t in ((torch.log(torch.tensor([[3.0, 1.0], [3.0, 1.0]])), torch.tensor([0, 1])),
                         _mi_inputs(4, 6, 4, 2.0, torch.float64)):
        q_t.requires_grad_(True)
        label = f"{name}(q_logits: {tuple(q_t.shape)}, codes={[int(c) for c in codes_t]})"
        out = _call(categorical_mi_lower_bound, q_t, codes_t, name=name, hint=_mi_hint)
        _scalar(out, label, per_example)
        if not out.requires_grad:
            raise CheckFailed(f"{label} carries no gradient: InfoGAN trains Q and the generator by maximising this "
                              "bound. Do not use .detach(), .data, .item(), NumPy or torch.no_grad() inside.")
        (g_q,) = _grads(out, [q_t], label)
        B, K = q_t.shape
        probs = [[math.exp(v) for v in row] for row in _log_softmax_rows(_list(q_t))]
        want_g = [[((1.0 if k == int(codes_t[b]) else 0.0) - probs[b][k]) / B for k in range(K)] for b in range(B)]
        if _zero_or_none(g_q) or not _grad_close(g_q, want_g, rtol=1e-5, atol=1e-8):
            raise CheckFailed(f"{label}: the gradient with respect to q_logits is wrong or missing (expected "
                              "(one_hot(c_b) - softmax(q_logits)_b) / B): is part of it computed from detached values?")
    ok(f"{name}: log K + mean_b log Q(c_b | x_b) matches a loop; log K for a perfect Q, 0 for a uniform one; "
       "finite for saturated logits; float32 B = 64 and 128, K = 10; differentiable")


# --------------------------------------------------------------------------------------------
# Exercise 5: the adversarial autoencoder's game on codes
# --------------------------------------------------------------------------------------------

def _critic(w: Any, b: Any, column: bool):
    """A linear code discriminator ``logit(z) = z . w + b`` with explicit parameters (no random init), returning
    ``(B,)`` or, with ``column``, ``(B, 1)``."""
    from course_utils.models.gan import LinearCodeDiscriminator

    return LinearCodeDiscriminator(w, b, column)


def _aae_reference(w: Sequence[float], b: float, z_prior: Sequence[Sequence[float]],
                   z_enc: Sequence[Sequence[float]]):
    sp, s = _softplus, _sigmoid
    a_p = [sum(wi * zi for wi, zi in zip(w, z)) + b for z in z_prior]
    a_e = [sum(wi * zi for wi, zi in zip(w, z)) + b for z in z_enc]
    want_d = _mean([sp(-a) for a in a_p]) + _mean([sp(a) for a in a_e])
    want_e = _mean([sp(-a) for a in a_e])
    d_mistakes = [
        (_mean([sp(a) for a in a_p]) + _mean([sp(-a) for a in a_e]),
         "d_loss: the labels are swapped. The prior's samples are the 'true' codes (label 1: -log D(z_prior)), the "
         "encoder's codes are the 'fake' ones (label 0: -log(1 - D(z_encoded)))."),
        (-want_d, "d_loss: the sign is flipped; it is a cross-entropy (>= 0): "
                  "mean[-log D(z_prior)] + mean[-log(1 - D(z_encoded))]."),
        (sum(sp(-a) for a in a_p) + sum(sp(a) for a in a_e), "d_loss is summed over the batch: average each term."),
        ((sum(sp(-a) for a in a_p) + sum(sp(a) for a in a_e)) / (len(a_p) + len(a_e)),
         "d_loss averages the prior's and the encoder's codes together (one mean over the concatenated batch), which "
         "is half the loss: it is the sum of two means, mean[-log D(z_prior)] + mean[-log(1 - D(z_encoded))]."),
        (_mean([sp(-a) for a in a_p]), "d_loss has only the term for the prior's codes: add "
                                       "mean[-log(1 - D(z_encoded))] for the encoder's (detached) codes."),
        (_mean([sp(a) for a in a_e]), "d_loss has only the term for the encoder's codes: add mean[-log D(z_prior)] "
                                      "for the prior's samples."),
        (_mean([sp(-s(a)) for a in a_p]) + _mean([sp(s(a)) for a in a_e]),
         "d_loss: the sigmoid is applied twice (torch.sigmoid before a with-logits loss): pass the raw logits."),
    ]
    e_mistakes = [
        (-_mean([sp(a) for a in a_e]),
         "enc_loss is the saturating (minimax) loss mean[log(1 - D(z_encoded))]: its gradient vanishes when the "
         "discriminator rejects the codes confidently (early in training). Use the non-saturating "
         "mean[-log D(z_encoded)] = -F.logsigmoid(logits).mean()."),
        (_mean([sp(a) for a in a_e]),
         "enc_loss uses label 0 (fake) for the encoder's codes, mean[-log(1 - D(z_encoded))]: that trains the encoder "
         "to be recognised as fake. The encoder wants its codes taken for prior samples: mean[-log D(z_encoded)]."),
        (-want_e, "enc_loss: the sign is flipped; the non-saturating loss is mean[-log D(z_encoded)] >= 0."),
        (len(a_e) * want_e, "enc_loss is summed over the batch: average it."),
        (-want_d, "enc_loss is -d_loss, the minimax form: it saturates and depends on z_prior. The encoder's loss is "
                  "the non-saturating mean[-log D(z_encoded)] alone."),
        (_mean([sp(-s(a)) for a in a_e]), "enc_loss: the sigmoid is applied twice (torch.sigmoid before a with-logits "
                                          "loss): pass the raw logits."),
    ]
    return (want_d, want_e), (d_mistakes, e_mistakes), (a_p, a_e)


def _aae_pair(got: Any, label: str) -> tuple[Any, Any]:
    if isinstance(got, dict) or not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(f"{label} returned {type(got).__name__}"
                          f"{' of length ' + str(len(got)) if isinstance(got, (tuple, list)) else ''}; expected a "
                          "tuple of two 0-d tensors, (d_loss, enc_loss), e.g. `return d_loss, enc_loss`.")
    return got[0], got[1]


#: (w, b, z_prior, z_encoded): the hidden tests' hand case first, then seeded float64 ones
_AAE_HAND = ([1.0, 0.0], 0.0, [[0.0, 5.0], [0.0, -1.0]], [[2.0, 0.0], [-1.0, 3.0]])


@self_check
def check_code_adversarial_losses(code_adversarial_losses: Callable) -> None:
    """``code_adversarial_losses(code_discriminator, z_prior, z_encoded) -> (d_loss, enc_loss)``."""
    import torch

    name = "code_adversarial_losses"
    per_example = "Average over the batch (.mean())."

    def size_hint(text: str) -> str:
        if "size" in text or "shape" in text:
            return ("The code discriminator may return logits of shape (B,) or (B, 1) (an nn.Linear(d, 1) last "
                    "layer does, as in the notebook): flatten them with .reshape(-1) (or .squeeze(1)) before "
                    "comparing with labels of shape (B,), or build the labels with torch.ones_like(logits).")
        return ""

    cases = [(torch.tensor(_AAE_HAND[0]), _AAE_HAND[1], torch.tensor(_AAE_HAND[2]), torch.tensor(_AAE_HAND[3]),
              "the hand case (w = [1, 0], b = 0), float32")]
    for seed, (B, d) in enumerate(((5, 3), (4, 2))):
        g = _generator(30 + seed)
        cases.append((torch.randn(d, generator=g, dtype=torch.float64), 0.3 * (seed + 1),
                      torch.randn(B, d, generator=g, dtype=torch.float64),
                      1.5 * torch.randn(B, d, generator=g, dtype=torch.float64) + 0.5,
                      f"seeded (B = {B}, d = {d}), float64"))
    # saturated logits (±100), float32: a confident discriminator, right and wrong; only a loss computed from
    # the logits (F.binary_cross_entropy_with_logits, F.logsigmoid) keeps the gradient there
    cases.append((torch.tensor([50.0, 0.0]), 0.0, torch.tensor([[2.0, 0.3], [-2.0, 1.0]]),
                  torch.tensor([[-2.0, 0.5], [2.0, -1.0]]), "saturated logits ±100, float32"))
    g = _generator(40)
    for B, d, kind in _CODE_SHAPES:
        w = 0.7 * torch.randn(d, generator=g)
        if kind == "one-hot":   # one-hot prior samples against the encoder's softmax codes
            z_prior = torch.nn.functional.one_hot(torch.randint(0, d, (B,), generator=g), d).float()
            z_enc = torch.softmax(2.0 * torch.randn(B, d, generator=g), dim=1)
        else:
            z_prior = torch.randn(B, d, generator=g)
            z_enc = 1.5 * torch.randn(B, d, generator=g) + 0.5
        cases.append((w, -0.2, z_prior, z_enc, f"the notebook's batch ({kind} codes, B = {B}, d = {d}), float32"))
    for w, b, z_prior, z_enc, what in cases:
        notebook = "notebook" in what
        # the hand case is the hidden tests': at least as strict as they are (values 1e-5, gradients allclose)
        rtol, atol = (1e-4, 1e-5) if notebook else (1e-6, 1e-6) if w.dtype == torch.float32 else (1e-6, 1e-9)
        g_rtol, g_atol = (1e-4, 1e-6) if notebook else (1e-5, 1e-8)
        for column in (False, True):
            critic = _critic(w, b, column)
            shape = "(B, 1)" if column else "(B,)"
            label = f"{name}(a linear code discriminator returning {shape} logits, z_prior, z_encoded) on {what}"
            z_p = z_prior.clone().requires_grad_(True)
            z_e = z_enc.clone().requires_grad_(True)
            got = _call(code_adversarial_losses, critic, z_p, z_e, name=name, hint=size_hint)
            d_out, e_out = _aae_pair(got, label)
            d_val = _scalar(d_out, f"{label}: d_loss", per_example)
            e_val = _scalar(e_out, f"{label}: enc_loss", per_example)
            (want_d, want_e), (d_mistakes, e_mistakes), (a_p, a_e) = _aae_reference(
                _list(w), float(b), _list(z_prior), _list(z_enc))
            d_ok, e_ok = _near(d_val, want_d, rtol, atol), _near(e_val, want_e, rtol, atol)
            if not (d_ok and e_ok):
                if _near(d_val, want_e, rtol, atol) and _near(e_val, want_d, rtol, atol):
                    raise CheckFailed(f"{name}: the two losses are returned in the wrong order; return "
                                      "(d_loss, enc_loss): the discriminator's loss first, the encoder's second.")
                if not (math.isfinite(d_val) and math.isfinite(e_val)):
                    raise CheckFailed(f"{label}: d_loss = {d_val}, enc_loss = {e_val}; not finite. Compute the logs "
                                      "from the logits with F.logsigmoid or F.binary_cross_entropy_with_logits.")
                if column:   # the same inputs were right with (B,) logits
                    which, got_v, want_v = ("d_loss", d_val, want_d) if not d_ok else ("enc_loss", e_val, want_e)
                    raise CheckFailed(
                        f"{label}: {which} = {got_v:.6g}, expected {want_v:.6g}. It is right for a discriminator that "
                        "returns logits of shape (B,) and wrong for one that returns (B, 1) (an nn.Linear(d, 1) last "
                        "layer, as in the notebook): a (B, 1) tensor combined with a (B,) one (labels, or the other "
                        "batch's terms) broadcasts to a (B, B) matrix, every logit paired with every label, and its "
                        "mean or sum is not the loss. "
                        "Flatten the discriminator's output first: code_discriminator(z).reshape(-1) (or .squeeze(1)).")
                if not d_ok:
                    _name_mistake(name, d_val, d_mistakes, max(rtol, 1e-5), max(atol, 1e-7))
                    raise CheckFailed(f"{label}: d_loss = {d_val:.6g}, expected {want_d:.6g}, the discriminator's "
                                      "cross-entropy mean[-log D(z_prior)] + mean[-log(1 - D(z_encoded))] (prior "
                                      f"samples labelled 1, the encoder's codes 0).{_off_by(d_val, want_d)}")
                _name_mistake(name, e_val, e_mistakes, max(rtol, 1e-5), max(atol, 1e-7))
                raise CheckFailed(f"{label}: enc_loss = {e_val:.6g}, expected {want_e:.6g}, the encoder's "
                                  f"non-saturating loss mean[-log D(z_encoded)].{_off_by(e_val, want_e)}")
            # the module is left as it was: trainable, no .grad, the same parameters
            for p_name, param, before in (("w", critic.w, w), ("b", critic.b, b)):
                if not param.requires_grad:
                    raise CheckFailed(f"{name} switched off requires_grad of the discriminator's parameters and left "
                                      "them so: the discriminator could no longer be trained. Do not change the module.")
                if param.grad is not None:
                    raise CheckFailed(f"{name} called .backward() (the discriminator's parameters have a .grad): "
                                      "return the two losses and leave backward() and the optimisers to the "
                                      "training loop.")
                if not torch.equal(param.detach(), torch.as_tensor(before, dtype=param.dtype)):
                    raise CheckFailed(f"{name} changed the discriminator's parameter {p_name}: do not modify the module.")
            # gradients: d_loss trains the discriminator only; enc_loss reaches the encoder through z_encoded only
            if not d_out.requires_grad:
                raise CheckFailed(f"{label}: d_loss carries no gradient, so it cannot train the discriminator's "
                                  "parameters. Do not compute it under torch.no_grad() or from .detach()ed logits; "
                                  "detach only the encoder's codes (its input).")
            g_ze, g_w, g_b = _grads(d_out, [z_e, critic.w, critic.b], f"{label}: d_loss")
            if not _zero_or_none(g_ze):
                raise CheckFailed(
                    f"{name}: d_loss sends a gradient into z_encoded. Detach the encoder's codes in the "
                    "discriminator's loss, code_discriminator(z_encoded.detach()): otherwise the encoder also gets a "
                    "gradient from d_loss, one that trains it to have its codes recognised as fake, the opposite "
                    "of its goal (d_loss is the discriminator's loss only).")
            zp_rows, ze_rows = _list(z_prior), _list(z_enc)
            want_gw = [_mean([(_sigmoid(a) - 1.0) * z[i] for a, z in zip(a_p, zp_rows)])
                       + _mean([_sigmoid(a) * z[i] for a, z in zip(a_e, ze_rows)]) for i in range(len(w))]
            want_gb = _mean([_sigmoid(a) - 1.0 for a in a_p]) + _mean([_sigmoid(a) for a in a_e])
            saturated = "saturated" in what
            vanishing = (f" At these saturated logits the gradient vanished although the value is right: a sigmoid "
                         "followed by a loss on probabilities (F.binary_cross_entropy, or a log of sigmoid) has a zero "
                         "gradient once the sigmoid rounds to 0 or 1, where the discriminator is most wrong. Compute "
                         "both losses from the logits: F.binary_cross_entropy_with_logits or F.logsigmoid."
                         if saturated else "")
            if _zero_or_none(g_w) and _zero_or_none(g_b):
                raise CheckFailed(f"{label}: d_loss does not reach the discriminator's parameters; it must train "
                                  f"them.{vanishing}")
            if saturated and not (_grad_close(g_w, want_gw, g_rtol, g_atol) and _grad_close(g_b, want_gb, g_rtol, g_atol)):
                raise CheckFailed(f"{label}: d_loss has the right value but the wrong gradient.{vanishing}")
            if not (_grad_close(g_w, want_gw, g_rtol, g_atol) and _grad_close(g_b, want_gb, g_rtol, g_atol)):
                raise CheckFailed(
                    f"{label}: d_loss has the right value but the wrong gradient for the discriminator's parameters. "
                    "Did you detach the discriminator's *output* on the encoder's codes "
                    "(code_discriminator(z_encoded).detach())? Then the fake term does not train the discriminator. "
                    "Detach its *input*: code_discriminator(z_encoded.detach()).")
            if not e_out.requires_grad:
                raise CheckFailed(f"{label}: enc_loss carries no gradient: the encoder is trained through it. Do not "
                                  "detach z_encoded there (only in d_loss).")
            g_ze, g_zp = _grads(e_out, [z_e, z_p], f"{label}: enc_loss")
            if _zero_or_none(g_ze):
                raise CheckFailed(f"{name}: enc_loss sends no gradient into z_encoded, so it cannot train the encoder. "
                                  "Do not detach z_encoded in enc_loss: code_discriminator(z_encoded), not "
                                  "code_discriminator(z_encoded.detach()).")
            if not _zero_or_none(g_zp):
                raise CheckFailed(f"{name}: enc_loss depends on z_prior. The encoder's loss is "
                                  "mean[-log D(z_encoded)] alone; the prior's samples enter only d_loss.")
            want_ge = [[(_sigmoid(a) - 1.0) * wi / len(a_e) for wi in _list(w)] for a in a_e]
            if not _grad_close(g_ze, want_ge, g_rtol, g_atol):
                raise CheckFailed(f"{label}: enc_loss has the right value but the wrong gradient with respect to "
                                  "z_encoded (expected (sigmoid(D(z)) - 1) w / B): is part of it detached?")
    ok(f"{name}: d_loss (prior = 1, encoder's codes = 0, codes detached) and the non-saturating enc_loss match loops "
       "for discriminators returning (B,) and (B, 1) logits (also float32 batches of 100 Gaussian, one-hot and "
       "softmax codes); d_loss trains only the discriminator, enc_loss reaches the encoder through z_encoded only")


# --------------------------------------------------------------------------------------------
# Reference implementations for the rest of the notebook while an exercise is not done yet
# --------------------------------------------------------------------------------------------

def _references() -> dict[str, tuple[Callable, str]]:
    """Exercise name -> (the course package's implementation, the exercise's label)."""
    from course_utils.models import gan_losses

    return {
        "discriminator_loss": (gan_losses.discriminator_loss, "Exercise 1 (discriminator_loss)"),
        "generator_loss": (gan_losses.generator_loss, "Exercise 2 (generator_loss)"),
        "catgan_entropies": (gan_losses.catgan_entropies, "Exercise 3 (catgan_entropies)"),
        "categorical_mi_lower_bound": (gan_losses.categorical_mi_lower_bound,
                                       "Exercise 4 (categorical_mi_lower_bound)"),
        "code_adversarial_losses": (gan_losses.code_adversarial_losses, "Exercise 5 (code_adversarial_losses)"),
    }


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn``, or (while it still raises ``NotImplementedError``) the course's implementation of it.

    ``discriminator_loss``, ``generator_loss``, ``catgan_entropies``, ``categorical_mi_lower_bound`` and
    ``code_adversarial_losses`` fall back on the functions of the same name in
    ``course_utils.models.gan_losses`` (the same arguments, the same results as the exercises' solutions).
    """
    return _reference_by_name(fn, _references(), "05")
