"""Variational autoencoder (Kingma & Welling, 2014) on the MLP blocks of the deep-clustering papers.

Encoder: the trunk ``D-h1-...-hL`` (ReLU after every layer) and two linear heads ``hL -> d`` for
the mean ``mu`` and the log-variance ``logvar = log sigma^2`` of ``q(z|x) = N(mu, diag(sigma^2))``.
Decoder: ``d-hL-...-h1-D`` with ReLU, ending in a linear layer whose output are the *logits* of a
Bernoulli likelihood ``p(x|z)`` per pixel (``sigmoid(logits)`` is the mean image).

Loss (the negative ELBO, per example, averaged over the batch)::

    recon = sum_j BCE(x_j, sigmoid(logits_j))                          (j over the D pixels)
    kl    = -1/2 sum_k (1 + logvar_k - mu_k^2 - exp(logvar_k))        (k over the d latent dims)
    loss  = recon + beta * kl

``beta = 1`` is the VAE, ``beta > 1`` the beta-VAE of Higgins et al. (2017).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models.autoencoder import _check_sizes, init_glorot_, mlp

__all__ = ["VAE", "reparameterize", "kl_std_normal", "vae_loss"]


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)`` and ``eps ~ N(0, I)``.

    ``mu``, ``logvar``: ``(B, d)``. Returns ``z: (B, d)``, differentiable in ``mu`` and ``logvar``.
    The noise comes from torch's global generator (``torch.manual_seed`` fixes it).
    """
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """VAE with an MLP encoder (trunk + ``mu`` / ``logvar`` heads) and an MLP Bernoulli decoder.

    Args:
        in_dim: input size ``D`` (784 for flattened MNIST), pixels in ``[0, 1]``.
        hidden: encoder hidden sizes ``(h1, ..., hL)``; the decoder uses them reversed.
        latent_dim: latent size ``d``.

    Weights are Glorot-uniform, biases zero (``init_glorot_``, as the VaDE reference code), not
    PyTorch's default, with which a deep VAE starts with almost no signal in ``mu``.

    Attributes:
        encoder: trunk ``nn.Sequential``, ``x: (B, D) -> h: (B, hL)`` (ReLU at the end).
        mu_head, logvar_head: ``nn.Linear(hL, d)``.
        decoder: ``nn.Sequential``, ``z: (B, d) -> logits: (B, D)`` (no sigmoid).
    """

    def __init__(self, in_dim: int = 784, hidden: Sequence[int] = (500, 500, 2000), latent_dim: int = 10) -> None:
        super().__init__()
        self.in_dim, self.hidden, self.latent_dim = _check_sizes(in_dim, hidden, latent_dim)
        self.encoder = mlp((self.in_dim, *self.hidden), last_activation=True)
        self.mu_head = nn.Linear(self.hidden[-1], self.latent_dim)
        self.logvar_head = nn.Linear(self.hidden[-1], self.latent_dim)
        self.decoder = mlp((self.latent_dim, *reversed(self.hidden), self.in_dim))
        init_glorot_(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x: (B, D) -> (mu, logvar)``, each ``(B, d)``."""
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z: (B, d) -> logits: (B, D)``; ``torch.sigmoid(logits)`` is the image."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x: (B, D) -> (x_logits, mu, logvar)``: encode, sample ``z`` by reparameterisation, decode."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from ``z ~ N(0, I)``: ``(n, D)`` probabilities in ``[0, 1]``."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, hidden={self.hidden}, latent_dim={self.latent_dim}"


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per example: ``(B, d) -> (B,)``."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def vae_loss(
    x: torch.Tensor,
    x_logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO of a Bernoulli-decoder VAE: ``(loss, recon, kl)``, three 0-d tensors.

    ``x``: ``(B, D)`` in ``[0, 1]``; ``x_logits``: ``(B, D)`` decoder logits; ``mu``, ``logvar``:
    ``(B, d)``. ``recon`` sums the binary cross-entropy over the D pixels, ``kl`` sums over the d
    latent dimensions; both are then averaged over the B examples, and
    ``loss = recon + beta * kl``. Uses ``binary_cross_entropy_with_logits`` (stable for large
    logits).
    """
    if x.shape != x_logits.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but x_logits has {tuple(x_logits.shape)}; they must match.")
    if mu.shape != logvar.shape or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must both be (B, d) with "
            f"B = {x.shape[0]}, the batch size of x."
        )
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1).mean()
    kl = kl_std_normal(mu, logvar).mean()
    return recon + beta * kl, recon, kl
