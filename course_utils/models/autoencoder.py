"""The fully connected autoencoder of the deep-clustering papers (DEC, IDEC, VaDE).

Encoder ``D-500-500-2000-d`` with ReLU after every hidden layer and a *linear* embedding layer;
the decoder mirrors it, ``d-2000-500-500-D``, and also ends with a linear layer. The layer
sizes are arguments, so fast mode can use a narrower network with the same code.

The decoder output is **unbounded** (no sigmoid). What it means is part of the model, because the
pretraining recipe decides it: ``output="pixels"`` (the reconstruction ``x_hat = g(f(x))``,
compared with ``x`` by the squared error, as DEC does) or ``output="logits"`` (Bernoulli logits,
``sigmoid`` gives the reconstruction, compared by binary cross-entropy, as the VAE and VaDE
read their decoders). ``reconstruction_loss`` and ``reconstruct`` follow it, so code that reuses
a pretrained autoencoder (IDEC, VaDE's initialisation, later weeks) never has to guess. PyTorch's default
``nn.Linear`` initialisation is used (it equals the Keras ``VarianceScaling(1/3, fan_in,
uniform)`` of DEC-keras).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["mlp", "MLPAutoencoder", "reconstruction_loss", "linear_layer_sizes", "init_glorot_",
           "OUTPUTS", "per_pixel_reconstruction_loss"]

#: What an autoencoder's decoder output means: the reconstruction itself, or Bernoulli logits.
OUTPUTS = ("pixels", "logits")


def mlp(sizes: Sequence[int], last_activation: bool = False) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), ReLU, ..., Linear(sizes[-2], sizes[-1])``.

    A ReLU follows every Linear layer except the last one (and the last one too when
    ``last_activation``). ``sizes``: at least two positive ints, input size first.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"sizes={sizes}; expected at least two positive layer sizes (input first).")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def init_glorot_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases for every ``nn.Linear`` in ``module`` (in place).

    This is Keras' default, used by the VaDE reference code. For a deep VAE it matters: PyTorch's
    default ``nn.Linear`` initialisation shrinks the signal by about 6x in variance per ReLU layer,
    so a freshly built D-500-500-2000-d encoder gives means ``mu`` near 0, the sampled ``z`` is
    almost pure noise, and training takes many epochs to get going. Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def linear_layer_sizes(module: nn.Module) -> list[tuple[int, int]]:
    """``(in_features, out_features)`` of every ``nn.Linear`` in ``module``, in registration order."""
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def _check_sizes(in_dim: int, hidden: Sequence[int], latent_dim: int) -> tuple[int, tuple[int, ...], int]:
    hidden = tuple(int(h) for h in hidden)
    if int(in_dim) < 1 or int(latent_dim) < 1 or any(h < 1 for h in hidden):
        raise ValueError(
            f"in_dim={in_dim}, hidden={hidden}, latent_dim={latent_dim}: all sizes must be positive "
            "ints, e.g. MLPAutoencoder(784, (500, 500, 2000), 10)."
        )
    return int(in_dim), hidden, int(latent_dim)


class MLPAutoencoder(nn.Module):
    """Autoencoder ``D-h1-...-hL-d`` / ``d-hL-...-h1-D`` with ReLU; linear embedding and output.

    Args:
        in_dim: input size ``D`` (784 for flattened MNIST).
        hidden: encoder hidden sizes ``(h1, ..., hL)``; the decoder uses them reversed.
        latent_dim: embedding size ``d``.
        output: ``"pixels"`` (the decoder's output is the reconstruction; squared error) or
            ``"logits"`` (Bernoulli logits; binary cross-entropy). Set by the pretraining recipe.

    Attributes:
        encoder: ``nn.Sequential``, ``x: (B, D) -> z: (B, d)``.
        decoder: ``nn.Sequential``, ``z: (B, d) -> (B, D)`` (unbounded, no sigmoid).
        output: as above.
    """

    def __init__(self, in_dim: int = 784, hidden: Sequence[int] = (500, 500, 2000), latent_dim: int = 10,
                 output: str = "pixels") -> None:
        super().__init__()
        self.in_dim, self.hidden, self.latent_dim = _check_sizes(in_dim, hidden, latent_dim)
        if output not in OUTPUTS:
            raise ValueError(f"output={output!r}; expected one of {OUTPUTS} (what the decoder's output means).")
        self.output = output
        self.encoder = mlp((self.in_dim, *self.hidden, self.latent_dim))
        self.decoder = mlp((self.latent_dim, *reversed(self.hidden), self.in_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, D) -> z = f(x): (B, d)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z: (B, d) -> x_hat = g(z): (B, D)``, unbounded (no sigmoid)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, D) -> g(f(x)): (B, D)``: the reconstruction, or its logits (see ``output``)."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, D) -> x_hat: (B, D)``, the reconstruction as pixels whatever ``output`` is."""
        out = self(x)
        return torch.sigmoid(out) if self.output == "logits" else out

    def reconstruction_loss(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The loss this autoencoder was trained for, per pixel and per image: a 0-d tensor.

        ``out``: the decoder's output for ``x`` (computed when None). See
        ``per_pixel_reconstruction_loss``.
        """
        return per_pixel_reconstruction_loss(x, self(x) if out is None else out, self.output)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, hidden={self.hidden}, latent_dim={self.latent_dim}, "
                f"output={self.output!r}")


def per_pixel_reconstruction_loss(x: torch.Tensor, out: torch.Tensor, output: str) -> torch.Tensor:
    """Mean over pixels and images of the loss that matches a decoder ``output`` kind: 0-d tensor.

    ``"pixels"``: squared error ``(out - x)^2`` (Keras' ``mse``, IDEC's reconstruction term);
    ``"logits"``: binary cross-entropy of ``x`` under Bernoulli logits ``out``. Mixing them up
    (a squared error on logits, a cross-entropy on pixels) is what this function exists to prevent.
    ``x``: ``(B, D)`` in ``[0, 1]``; ``out``: ``(B, D)``.
    """
    import torch.nn.functional as F

    if x.shape != out.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but the decoder output has {tuple(out.shape)}.")
    if output == "pixels":
        return ((out - x) ** 2).mean()
    if output == "logits":
        return F.binary_cross_entropy_with_logits(out, x)
    raise ValueError(f"output={output!r}; expected one of {OUTPUTS}.")


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``L_R = mean over the batch of ||x - x_hat||^2`` (sum over the D features). Returns a 0-d tensor.

    ``x``, ``x_hat``: ``(B, D)``.
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but x_hat has {tuple(x_hat.shape)}; they must match.")
    return ((x - x_hat) ** 2).sum(dim=1).mean()
