"""The losses of week 05's adversarial models (reference implementations of its exercises).

Every function takes *logits* (raw scores before a sigmoid or softmax) and works in log space
(``F.logsigmoid``, ``F.log_softmax``), so it stays finite for saturated scores (a logit of 100).
Reductions: a mean over the examples of a batch, sums over classes.

- ``discriminator_loss(real_logits, fake_logits)``: the discriminator's cross-entropy,
  ``E_real[-log D(x)] + E_fake[-log(1 - D(G(z)))]`` with ``D = sigmoid(logit)``;
- ``generator_loss(fake_logits)``: the non-saturating generator loss ``E_fake[-log D(G(z))]``;
- ``catgan_entropies(real_logits, fake_logits)``: CatGAN's four entropies (conditional and
  marginal, on real and generated images), and ``catgan_losses`` that combines them;
- ``categorical_mi_lower_bound(q_logits, codes)``: InfoGAN's variational lower bound on the mutual
  information between a uniform categorical code and the generated image;
- ``code_adversarial_losses(code_discriminator, z_prior, z_encoded)``: the adversarial
  autoencoder's two losses on codes (discriminator and encoder).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "discriminator_loss",
    "generator_loss",
    "catgan_entropies",
    "catgan_losses",
    "CATGAN_TERMS",
    "categorical_mi_lower_bound",
    "code_adversarial_losses",
]

#: The keys of ``catgan_entropies``' result.
CATGAN_TERMS = ("cond_real", "cond_fake", "marginal_real", "marginal_fake")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean_b[-log sigmoid(real_b)] + mean_b[-log(1 - sigmoid(fake_b))]``, a 0-d tensor.

    ``real_logits: (B,)`` the discriminator's logits on real images (label 1), ``fake_logits:
    (B',)`` on generated ones (label 0). The two terms are averaged separately and added: the
    cross-entropy H((x, y), D) of the lecture, in expectation over real and over generated images.
    ``-log(1 - sigmoid(a)) = -logsigmoid(-a)``.
    """
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``mean_b[-log sigmoid(fake_b)]``, a 0-d tensor.

    The minimax game's ``mean log(1 - D(G(z)))`` has almost no gradient where the discriminator
    rejects the samples confidently (early in training); this one has the same fixed point and a
    strong gradient there (Goodfellow et al., 2014, Section 3).
    """
    per_sample = -F.logsigmoid(fake_logits)       # -log D(G(z_b))
    return per_sample.mean()


def _entropy_of_rows(log_p: torch.Tensor) -> torch.Tensor:
    """``-sum_k p_k log p_k`` of each row of log-probabilities ``(B, K)``; ``(B,)``."""
    return -(log_p.exp() * log_p).sum(dim=1)


def _marginal_log(log_p: torch.Tensor) -> torch.Tensor:
    """``log mean_b p(y | x_b)``, the log of the batch's average prediction; ``(K,)``."""
    return torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])


def catgan_entropies(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """CatGAN's entropies in nats, each a 0-d tensor, from ``(B, K)`` class logits.

    - ``cond_real``: ``mean_b H[p(y | x_b, D)]`` over real images (the discriminator should be
      *certain*: small);
    - ``cond_fake``: the same over generated images (the discriminator should be *uncertain*);
    - ``marginal_real``: ``H[mean_b p(y | x_b, D)]``, the entropy of the batch's average
      prediction on real images (all classes used evenly: large);
    - ``marginal_fake``: the same for generated images (the generator should produce every class).

    The entropy of the marginal is not the mean of the entropies: a batch of confident predictions
    spread evenly over the classes has ``cond ≈ 0`` and ``marginal ≈ log K``.
    """
    log_real = F.log_softmax(real_logits, dim=1)
    log_fake = F.log_softmax(fake_logits, dim=1)
    return {
        "cond_real": _entropy_of_rows(log_real).mean(),
        "cond_fake": _entropy_of_rows(log_fake).mean(),
        "marginal_real": _entropy_of_rows(_marginal_log(log_real)[None])[0],
        "marginal_fake": _entropy_of_rows(_marginal_log(log_fake)[None])[0],
    }


def catgan_losses(entropies: dict[str, torch.Tensor], marginal_weight: float = 1.0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d_loss, g_loss)`` from ``catgan_entropies``' result (Springenberg, 2016, Eq. 7 and 8).

    The discriminator minimises ``cond_real - cond_fake - w * marginal_real``: certain on real
    images, uncertain on generated ones, every class used. The generator minimises
    ``cond_fake - w * marginal_fake``: samples the discriminator is certain about, of every class.
    """
    e = entropies
    d_loss = e["cond_real"] - e["cond_fake"] - marginal_weight * e["marginal_real"]
    g_loss = e["cond_fake"] - marginal_weight * e["marginal_fake"]
    return d_loss, g_loss


def categorical_mi_lower_bound(q_logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """InfoGAN's ``L_I = H(c) + mean_b log Q(c_b | x_b)`` in nats, a 0-d tensor.

    ``q_logits: (B, K)`` the Q head's logits on the generated images ``x_b = G(z_b, c_b)``,
    ``codes: (B,)`` int64 the categorical codes ``c_b`` (drawn uniformly, so ``H(c) = log K``).
    ``L_I <= I(c; G(z, c))``; it is ``log K`` when Q recovers every code with certainty and 0 when Q
    predicts the uniform distribution. InfoGAN *maximises* it: the loss adds ``-lambda * L_I``.
    """
    log_q = F.log_softmax(q_logits, dim=1)
    return math.log(q_logits.shape[1]) + log_q.gather(1, codes.long().reshape(-1, 1)).mean()


def code_adversarial_losses(code_discriminator: Callable[[torch.Tensor], torch.Tensor],
                            z_prior: torch.Tensor, z_encoded: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d_loss, enc_loss)``: the adversarial autoencoder's game on codes.

    ``code_discriminator`` maps codes ``(B, d)`` to logits ``(B,)`` or ``(B, 1)``; ``z_prior:
    (B, d)`` samples of the prior ("true codes"), ``z_encoded: (B, d)`` the encoder's codes of
    images ("fake codes"). ``d_loss`` is the discriminator's cross-entropy with the encoded codes
    *detached* (it trains the discriminator only, never the encoder); ``enc_loss`` is the
    non-saturating loss of the encoder, ``mean[-log D(z_encoded)]``, whose gradient reaches the
    encoder through ``z_encoded``.
    """
    real = code_discriminator(z_prior).reshape(-1)
    fake_detached = code_discriminator(z_encoded.detach()).reshape(-1)
    d_loss = discriminator_loss(real, fake_detached)
    enc_loss = generator_loss(code_discriminator(z_encoded).reshape(-1))
    return d_loss, enc_loss
