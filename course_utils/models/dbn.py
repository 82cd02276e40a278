"""Restricted Boltzmann machines and deep belief networks (week 06), in PyTorch.

A Bernoulli RBM has binary visible units ``v: (D,)``, binary hidden units ``h: (H,)``, weights
``W: (D, H)``, visible biases ``b: (D,)`` and hidden biases ``c: (H,)``:

    E(v, h) = - b.v - c.h - v.W.h                                        energy
    p(v, h) = exp(-E(v, h)) / Z
    F(v)    = -log sum_h exp(-E(v, h)) = - b.v - sum_j softplus(c_j + (v W)_j)   free energy
    p(h_j = 1 | v) = sigmoid(c_j + (v W)_j),   p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)

The log-likelihood gradient is ``<v h>_data - <v h>_model``; contrastive divergence (CD-k)
replaces the model expectation by the statistics after k Gibbs steps started at the data
(Hinton 2002). The update used here follows Hinton's "A practical guide to training RBMs" (2010):
the hidden states that drive the reconstruction are *sampled*, the reconstruction and the
statistics use *probabilities*.

A deep belief network (Hinton, Osindero & Teh 2006) is RBMs stacked and trained greedily: the
first on the images, each next one on the hidden probabilities of the one below. Unrolled, the
stack is an encoder ``x -> sigmoid(x W1 + c1) -> sigmoid(. W2 + c2) -> ...`` (``DBN.encoder``),
which week 06 fine-tunes with its clustering objective.

Images are pixel intensities in [0, 1], used as probabilities of the binary visible units (the
usual treatment of MNIST; Hinton & Salakhutdinov 2006).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.loop import run_epochs

__all__ = [
    "free_energy",
    "energy",
    "cd_k_gradients",
    "RBM",
    "DBN",
    "train_rbm",
    "pretrain_dbn",
    "gaussian_top_cd1",
    "pretrain_dbn_gaussian_top",
    "UnrolledAutoencoder",
    "pseudo_likelihood",
    "exact_log_partition",
    "exact_gradient",
]


def energy(v: torch.Tensor, h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``E(v, h) = -b.v - c.h - v.W.h`` for rows ``v: (B, D)``, ``h: (B, H)``; returns ``(B,)``."""
    return -(v @ b) - (h @ c) - ((v @ W) * h).sum(dim=1)


def free_energy(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``F(v) = -b.v - sum_j softplus(c_j + (v W)_j)`` for ``v: (B, D)``; returns ``(B,)``.

    ``softplus(x) = log(1 + e^x)`` is the sum over ``h_j in {0, 1}`` of ``exp(h_j x)``, taken in log
    space; ``F.softplus`` stays exact for large ``|x|``.
    """
    return -(v @ b) - F.softplus(v @ W + c).sum(dim=1)


def cd_k_gradients(v0: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor, k: int = 1,
                   generator: torch.Generator | None = None,
                   noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The CD-k estimate of the log-likelihood gradient, averaged over the batch ``v0: (B, D)``.

    Returns ``(dW: (D, H), db: (D,), dc: (H,))`` = positive minus negative statistics:
    ``dW = (v0^T p(h|v0) - vk^T p(h|vk)) / B``, ``db = mean(v0 - vk)``, ``dc = mean(p(h|v0) - p(h|vk))``.
    Each of the ``k`` steps samples ``h ~ p(h | v)`` and moves to ``v = p(v | h)`` (probabilities,
    not samples). ``noise: (k, B, H)`` uniform numbers, when given, do the sampling (``h = u < p``),
    so the result is a deterministic function of its inputs; else ``generator`` draws them.
    """
    if k < 1:
        raise ValueError(f"k={k}: CD-k needs at least one Gibbs step.")
    B = v0.shape[0]
    ph0 = torch.sigmoid(v0 @ W + c)
    ph, v = ph0, v0
    for step in range(k):
        u = noise[step] if noise is not None else torch.rand(ph.shape, generator=generator, dtype=ph.dtype,
                                                             device=ph.device)
        h = (u < ph).to(v0.dtype)
        v = torch.sigmoid(h @ W.T + b)
        ph = torch.sigmoid(v @ W + c)
    dW = (v0.T @ ph0 - v.T @ ph) / B
    db = (v0 - v).mean(dim=0)
    dc = (ph0 - ph).mean(dim=0)
    return dW, db, dc


class RBM(nn.Module):
    """A Bernoulli-Bernoulli RBM with ``W: (D, H)``, ``b: (D,)``, ``c: (H,)`` (trained by CD, not autograd)."""

    def __init__(self, n_visible: int, n_hidden: int, init_std: float = 0.01) -> None:
        super().__init__()
        if n_visible < 1 or n_hidden < 1:
            raise ValueError(f"an RBM needs at least one visible and one hidden unit, got {n_visible} and {n_hidden}.")
        self.n_visible, self.n_hidden = int(n_visible), int(n_hidden)
        self.W = nn.Parameter(init_std * torch.randn(n_visible, n_hidden), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(n_visible), requires_grad=False)
        self.c = nn.Parameter(torch.zeros(n_hidden), requires_grad=False)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """``p(h = 1 | v): (B, H)``."""
        return torch.sigmoid(v @ self.W + self.c)

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        """``p(v = 1 | h): (B, D)``."""
        return torch.sigmoid(h @ self.W.T + self.b)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """``F(v): (B,)``."""
        return free_energy(v, self.W, self.b, self.c)

    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """One deterministic up-down pass: ``p(v | h = p(h | v))``, ``(B, D)``."""
        return self.visible_probs(self.hidden_probs(v))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.hidden_probs(v)


def pseudo_likelihood(rbm: RBM, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic pseudo-log-likelihood per row of binary ``v: (B, D)``, as scikit-learn's
    ``BernoulliRBM.score_samples`` defines it: ``D * log sigmoid(F(v~) - F(v))`` where ``v~`` is ``v``
    with one randomly chosen unit flipped. Higher is better; comparable between the two libraries."""
    B, D = v.shape
    idx = torch.randint(0, D, (B,), generator=generator)
    flipped = v.clone()
    rows = torch.arange(B)
    flipped[rows, idx] = 1.0 - flipped[rows, idx]
    return D * F.logsigmoid(rbm.free_energy(flipped) - rbm.free_energy(v))


def _all_states(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The ``2^n`` binary vectors of length ``n``, as rows ``(2^n, n)``."""
    if n > 20:
        raise ValueError(f"enumerating 2^{n} states is too many; use at most 20 units.")
    codes = torch.arange(2 ** n)
    return ((codes[:, None] >> torch.arange(n)) & 1).to(dtype)


def exact_log_partition(W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``log Z = logsumexp_v -F(v)`` by enumerating every visible state (tiny RBMs only)."""
    states = _all_states(W.shape[0], W.dtype)
    return torch.logsumexp(-free_energy(states, W, b, c), dim=0)


def exact_gradient(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor,
                   c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exact gradient of the mean log-likelihood of ``v: (B, D)`` w.r.t. ``(W, b, c)``, by
    enumerating all ``2^D`` visible states: ``<v h>_data - <v h>_model`` (tiny RBMs only)."""
    states = _all_states(W.shape[0], W.dtype)
    p_model = torch.softmax(-free_energy(states, W, b, c), dim=0)               # (2^D,)
    ph_model = torch.sigmoid(states @ W + c)
    ph_data = torch.sigmoid(v @ W + c)
    dW = v.T @ ph_data / v.shape[0] - states.T @ (p_model[:, None] * ph_model)
    db = v.mean(0) - p_model @ states
    dc = ph_data.mean(0) - p_model @ ph_model
    return dW, db, dc


def train_rbm(
    rbm: RBM,
    X: torch.Tensor,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 0.1,
    k: int = 1,
    momentum: tuple[float, float] = (0.5, 0.9),
    weight_decay: float = 2e-4,
    seed: int = 0,
    gradients: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
    X_val: torch.Tensor | None = None,
    callback: Callable[[int, dict[str, float]], Any] | None = None,
    desc: str = "RBM",
) -> dict[str, list]:
    """Train ``rbm`` in place with CD-k on ``X: (N, D)`` in [0, 1]; returns the per-epoch history.

    Hinton's recipe (practical guide, 2010): mini-batches, learning rate ``lr`` on the batch-mean
    gradient, momentum ``momentum[0]`` for the first 5 epochs then ``momentum[1]``, L2 weight decay
    on ``W`` only, visible biases started at ``log(p / (1 - p))`` of the pixel means.
    ``gradients(v0, W, b, c, generator=g)`` computes the CD estimate (default: ``cd_k_gradients``
    with ``k``; the notebook passes the student's CD-1). History keys: ``epoch``, ``recon_error``
    (mean squared error of one up-down pass, per pixel) and, with ``X_val``, ``free_energy_gap``
    (mean F of held-out images minus mean F of training images: it grows when the RBM overfits)
    and ``val_free_energy``.
    """
    if X.ndim != 2 or X.shape[1] != rbm.n_visible:
        raise ValueError(f"X has shape {tuple(X.shape)}; this RBM expects (N, {rbm.n_visible}).")
    g = torch.Generator().manual_seed(seed)
    X = X.to(rbm.W.dtype)
    with torch.no_grad():
        p = X.mean(0).clamp(1e-3, 1 - 1e-3)
        rbm.b.copy_(torch.log(p / (1 - p)))
    grad_fn = gradients or (lambda v0, W, b, c, generator=None: cd_k_gradients(v0, W, b, c, k=k, generator=generator))
    vel = [torch.zeros_like(t) for t in (rbm.W, rbm.b, rbm.c)]
    N = X.shape[0]

    def batches(epoch: int):
        order = torch.randperm(N, generator=g)
        return (X[order[start:start + batch_size]] for start in range(0, N, batch_size))

    def step(v0: torch.Tensor, epoch: int, _: int) -> tuple[dict[str, float], int]:
        mom = momentum[0] if epoch <= 5 else momentum[1]
        dW, db, dc = grad_fn(v0, rbm.W.data, rbm.b.data, rbm.c.data, generator=g)
        with torch.no_grad():
            for t, d, vt, decay in ((rbm.W, dW, vel[0], weight_decay), (rbm.b, db, vel[1], 0.0),
                                    (rbm.c, dc, vel[2], 0.0)):
                vt.mul_(mom).add_(lr * (d - decay * t))
                t.add_(vt)
            return {"recon_error": float(((rbm.reconstruct(v0) - v0) ** 2).mean())}, len(v0)

    def free_energies(epoch: int, model: nn.Module, logs: dict) -> None:
        if X_val is not None:
            with torch.no_grad():
                f_val = float(rbm.free_energy(X_val.to(X.dtype)).mean())
                f_train = float(rbm.free_energy(X[:len(X_val)]).mean())
            logs["val_free_energy"] = f_val
            logs["free_energy_gap"] = f_val - f_train
        if not all(math.isfinite(v) for v in logs.values()):
            raise FloatingPointError(f"{desc}: the RBM diverged in epoch {epoch} ({logs}); lower the learning rate "
                                     f"(now {lr}).")

    def user(epoch: int, model: nn.Module, logs: dict) -> None:
        if callback is not None:
            callback(epoch, logs)

    # the course's loop (loop.run_epochs): each batch's reconstruction error, weighted by its size
    return run_epochs(rbm, epochs, batches, step, callbacks=[free_energies, user], progress=True, desc=desc,
                      leave=False, train_mode=False)


class DBN(nn.Module):
    """A stack of RBMs ``sizes[0]-sizes[1]-...``; ``transform`` is the deterministic up-pass."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes={sizes}: a DBN needs the input size and at least one hidden layer.")
        self.sizes = sizes
        self.rbms = nn.ModuleList(RBM(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    @torch.no_grad()
    def transform(self, X: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Hidden probabilities of layer ``upto`` (default: the top), ``(N, sizes[upto])``."""
        h = X.to(self.rbms[0].W.dtype)
        for rbm in self.rbms[: upto if upto is not None else len(self.rbms)]:
            h = rbm.hidden_probs(h)
        return h

    @torch.no_grad()
    def reconstruct(self, X: torch.Tensor) -> torch.Tensor:
        """Up through every layer with probabilities, then down again: ``(N, D)``."""
        h = self.transform(X)
        for rbm in reversed(self.rbms):
            h = rbm.visible_probs(h)
        return h

    def encoder(self) -> nn.Sequential:
        """The stack unrolled into a feed-forward encoder (a copy): Linear + Sigmoid per RBM."""
        layers: list[nn.Module] = []
        for rbm in self.rbms:
            lin = nn.Linear(rbm.n_visible, rbm.n_hidden)
            with torch.no_grad():
                lin.weight.copy_(rbm.W.T)
                lin.bias.copy_(rbm.c)
            layers += [lin, nn.Sigmoid()]
        return nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.transform(X)


def pretrain_dbn(
    dbn: DBN,
    X: torch.Tensor,
    epochs: int | Sequence[int] = 10,
    X_val: torch.Tensor | None = None,
    callback: Callable[[int, int, RBM, dict[str, float]], Any] | None = None,
    gradients: Callable | None = None,
    seed: int = 0,
    **rbm_kwargs: Any,
) -> dict[str, dict[str, list]]:
    """Greedy layer-wise training: RBM ``l`` on the hidden probabilities of RBM ``l - 1``.

    ``epochs`` per layer (one number or one per layer); ``callback(layer, epoch, rbm, logs)`` after
    every epoch. ``gradients`` (the CD estimate, see ``train_rbm``) is used for every layer. A layer
    given 0 epochs is left as it is (no training, no progress bar, no history): ``epochs=[30, 30, 0]``
    trains the stack below the top, as ``pretrain_dbn_gaussian_top`` does. Returns
    ``{"layer1": history, ...}``.
    """
    n = len(dbn.rbms)
    per_layer = [int(epochs)] * n if isinstance(epochs, (int, np.integer)) else [int(e) for e in epochs]
    if len(per_layer) != n:
        raise ValueError(f"epochs has {len(per_layer)} entries for {n} RBMs; give one number or one per layer.")
    histories = {}
    h, h_val = X, X_val
    for layer, (rbm, ep) in enumerate(zip(dbn.rbms, per_layer), start=1):
        def cb(epoch: int, logs: dict[str, float], layer: int = layer, rbm: RBM = rbm) -> None:
            if callback is not None:
                callback(layer, epoch, rbm, logs)
        if ep > 0:
            histories[f"layer{layer}"] = train_rbm(rbm, h, epochs=ep, seed=seed + layer, X_val=h_val, callback=cb,
                                                   gradients=gradients, desc=f"RBM {layer}/{n}", **rbm_kwargs)
        with torch.no_grad():
            h = rbm.hidden_probs(h.to(rbm.W.dtype))
            h_val = rbm.hidden_probs(h_val.to(rbm.W.dtype)) if h_val is not None else None
    return histories


# --------------------------------------------------------------------------------------------
# Unrolled and fine-tuned (Hinton & Salakhutdinov, Science 2006)
# --------------------------------------------------------------------------------------------

def gaussian_top_cd1(v0: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CD-1 for an RBM with *linear* (Gaussian, unit variance) hidden units and logistic visible
    units, the top layer of Hinton & Salakhutdinov's autoencoders: ``h = v W + c + noise``.

    The same statistics as ``cd_k_gradients`` (``train_rbm``'s ``gradients``), with the hidden
    means ``v W + c`` in place of ``sigmoid(v W + c)`` and a Gaussian sample in place of a binary one.
    """
    B = v0.shape[0]
    mean0 = v0 @ W + c
    h = mean0 + torch.randn(mean0.shape, generator=generator, dtype=mean0.dtype, device=mean0.device)
    v = torch.sigmoid(h @ W.T + b)
    mean1 = v @ W + c
    return (v0.T @ mean0 - v.T @ mean1) / B, (v0 - v).mean(dim=0), (mean0 - mean1).mean(dim=0)


def pretrain_dbn_gaussian_top(dbn: DBN, X: torch.Tensor, epochs: int = 30, top_epochs: int = 30,
                              lr: float = 0.1, top_lr: float = 1e-3, batch_size: int = 100, seed: int = 0
                              ) -> dict[str, dict[str, list]]:
    """Greedy pretraining with a linear top layer: the logistic RBMs as ``pretrain_dbn`` (``epochs``
    each, rate ``lr``), then the top RBM with ``gaussian_top_cd1`` on the hidden probabilities below
    it (``top_epochs``, the small rate ``top_lr`` that linear units need). Returns the histories."""
    n = len(dbn.rbms)
    histories = pretrain_dbn(dbn, X, epochs=[epochs] * (n - 1) + [0], seed=seed, lr=lr, batch_size=batch_size)
    with torch.no_grad():
        h = dbn.transform(X, upto=n - 1)
    histories[f"layer{n}"] = train_rbm(dbn.rbms[-1], h, epochs=top_epochs, seed=seed + n + 1, lr=top_lr,
                                       batch_size=batch_size, gradients=gaussian_top_cd1,
                                       desc=f"RBM {n}/{n} (linear units)")
    return histories


class UnrolledAutoencoder(nn.Module):
    """A DBN unrolled into a deep autoencoder (the lecture's step 3, "fine-tune the DBN").

    Encoder: each RBM's ``W, c`` as a ``Linear`` layer with a sigmoid, the top one without it
    (``linear_top``: the code is the linear top layer's mean). Decoder: the same RBMs in reverse,
    ``W^T`` and the visible biases ``b``, with sigmoids between; its last layer gives pixel
    *logits* (``output = "logits"``). Copies of the weights: fine-tuning leaves ``dbn`` as it is.
    """

    output = "logits"

    def __init__(self, dbn: DBN, linear_top: bool = True) -> None:
        super().__init__()
        layers = list(dbn.encoder())
        self.encoder = nn.Sequential(*(layers[:-1] if linear_top else layers))
        decoder: list[nn.Module] = []
        for i, rbm in enumerate(reversed(dbn.rbms)):
            lin = nn.Linear(rbm.n_hidden, rbm.n_visible)
            with torch.no_grad():
                lin.weight.copy_(rbm.W)
                lin.bias.copy_(rbm.b)
            decoder.append(lin)
            if i < len(dbn.rbms) - 1:
                decoder.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*decoder)
        self.latent_dim = dbn.sizes[-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
