"""Variational Deep Embedding (VaDE; Jiang et al., IJCAI 2017, arXiv:1611.05148) in PyTorch.

The generative story, with ``K`` clusters and a ``J``-dimensional latent space::

    c ~ Cat(pi)                      pi: (K,) on the simplex (softmax of free logits)
    z ~ N(mu_c, diag(sigma_c^2))     mu_c, log sigma_c^2: (K, J) each
    x ~ Ber(sigmoid(f(z)))           f: the decoder, x: (D,) in [0, 1]

Inference uses the encoder ``q(z|x) = N(mu~(x), diag(sigma~^2(x)))`` (the VAE network of
``course_utils.models.vae``: trunk + mean and log-variance heads) and the mean-field
``q(z, c|x) = q(z|x) q(c|x)`` with ``q(c|x) = gamma_c = p(c|z)``, computed from a sample ``z``::

    log gamma_c = log pi_c + log N(z | mu_c, sigma_c^2) - logsumexp_c'(same)

The loss is the negative ELBO with one sample (``L = 1``), per example (averaged over the batch);
``j`` runs over the J latent dimensions, ``d`` over the D pixels::

    recon     = sum_d BCE(x_d, sigmoid(f(z))_d)                                     -log p(x|z)
    gauss     = 1/2 sum_c gamma_c sum_j [log 2pi + log sigma_cj^2
                                         + sigma~_j^2 / sigma_cj^2 + (mu~_j - mu_cj)^2 / sigma_cj^2]
    prior_c   = - sum_c gamma_c log pi_c
    entropy_c = + sum_c gamma_c log gamma_c                            (minus the entropy of q(c|x))
    entropy_z = - 1/2 sum_j (1 + log sigma~_j^2)                       (minus the entropy of q(z|x),
                                                                        up to a constant)
    loss      = recon + gauss + prior_c + entropy_c + entropy_z

Everything is in log space: ``gamma`` via ``log_softmax`` (a logsumexp), ``pi`` via softmax
logits (always on the simplex), variances via their logarithms (always positive). The reference
Keras code (github.com/slim1017/VaDE, ``VaDE.py``) differs in a few places, see
``REFERENCE_DEVIATIONS``; this module follows the paper's equations.

The encoder/decoder blocks are those of ``VAE`` (this class subclasses it), so an
``MLPAutoencoder`` trained with ``course_utils.train.pretrained_autoencoder`` can be copied in
with ``init_from_autoencoder`` and the mixture started with ``init_gmm_from_latent``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models.autoencoder import MLPAutoencoder
from course_utils.models.vae import VAE, reparameterize
from course_utils.models.rebuild import records_init_args

__all__ = [
    "VaDE",
    "log_gaussian_diag",
    "log_p_z_given_c",
    "log_gamma",
    "gamma",
    "vade_elbo_loss",
    "vade_objective",
    "init_from_autoencoder",
    "init_gmm_from_latent",
    "REFERENCE_DEVIATIONS",
    "VADE_RECIPE",
    "make_optimizer",
    "step_decay_callback",
]

LOG_2PI = math.log(2.0 * math.pi)

#: Where the Keras reference (``VaDE.py``) departs from the paper, and what this module does.
REFERENCE_DEVIATIONS: dict[str, str] = {
    "theta^J": "get_gamma and vae_loss add log theta_c inside the sum over the J latent dims, so "
               "gamma uses theta_c^J instead of theta_c; we use log pi_c once (the paper's Eq. 16).",
    "2pi constant": "the Gaussian term puts J*log(2 pi) inside a sum over the J dims (J^2 log 2pi "
                    "in total); a constant, it changes the loss value, not the gradients. We use log 2pi per dim.",
    "no logsumexp": "gamma = exp(sum) + 1e-10, normalised: exp underflows in float32 far from every "
                    "centre and gamma becomes uniform; we use log_softmax.",
    "theta unconstrained": "theta, lambda are raw parameters stepped by Adam: theta is never "
                           "renormalised and lambda can turn non-positive; we use softmax logits "
                           "and log-variances.",
    "theta init": "theta starts uniform (1/K); the GMM's weights_ are not copied; we copy them, as "
                  "on the lecture's slide.",
}


@records_init_args
class VaDE(VAE):
    """VaDE: the VAE network plus the parameters of a Gaussian mixture prior on ``z``.

    Args:
        in_dim: input size ``D`` (784 for flattened MNIST), pixels in ``[0, 1]``.
        hidden: encoder hidden sizes; the decoder uses them reversed (reference: 500, 500, 2000).
        latent_dim: ``J``.
        n_clusters: ``K``.

    Attributes (besides ``VAE``'s ``encoder``, ``mu_head``, ``logvar_head``, ``decoder``):
        pi_logits: ``(K,)``, ``pi = softmax(pi_logits)`` (initialised uniform).
        mu_c: ``(K, J)`` cluster means (initialised 0).
        logvar_c: ``(K, J)`` cluster log-variances ``log sigma_c^2`` (initialised 0, i.e. 1).
    """

    def __init__(self, in_dim: int = 784, hidden: Sequence[int] = (500, 500, 2000),
                 latent_dim: int = 10, n_clusters: int = 10) -> None:
        super().__init__(in_dim, hidden, latent_dim)
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters={n_clusters}; expected a positive int (K = 10 for MNIST).")
        self.n_clusters = int(n_clusters)
        K, J = self.n_clusters, self.latent_dim
        self.pi_logits = nn.Parameter(torch.zeros(K))
        self.mu_c = nn.Parameter(torch.zeros(K, J))
        self.logvar_c = nn.Parameter(torch.zeros(K, J))

    # -- the mixture ------------------------------------------------------------------------
    @property
    def log_pi(self) -> torch.Tensor:
        """``log pi: (K,)``, a normalised log-probability vector."""
        return torch.log_softmax(self.pi_logits, dim=0)

    @property
    def pi(self) -> torch.Tensor:
        """``pi: (K,)``, non-negative, sums to 1."""
        return torch.softmax(self.pi_logits, dim=0)

    def gmm_parameters(self) -> list[nn.Parameter]:
        """``[pi_logits, mu_c, logvar_c]``: the reference's theta_p, u_p, lambda_p."""
        return [self.pi_logits, self.mu_c, self.logvar_c]

    def network_parameters(self) -> list[nn.Parameter]:
        """Every parameter of the encoder, the two heads and the decoder (not the mixture)."""
        gmm = {id(p) for p in self.gmm_parameters()}
        return [p for p in self.parameters() if id(p) not in gmm]

    def log_gamma(self, z: torch.Tensor) -> torch.Tensor:
        """``log q(c|x) = log p(c|z)``: ``z: (B, J) -> (B, K)``, rows logsumexp to 0."""
        return log_gamma(z, self.log_pi, self.mu_c, self.logvar_c)

    def gamma(self, z: torch.Tensor) -> torch.Tensor:
        """``gamma = q(c|x)``: ``z: (B, J) -> (B, K)``, rows sum to 1."""
        return self.log_gamma(z).exp()

    # -- the network ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x: (B, D) -> (x_logits, z, mu, logvar)``: encode, sample ``z`` (reparameterised), decode.

        ``x_logits: (B, D)`` Bernoulli logits; ``z``, ``mu``, ``logvar``: ``(B, J)``. (Unlike
        ``VAE.forward`` the sample ``z`` is returned too: ``gamma`` is computed from it.)
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), z, mu, logvar

    @torch.no_grad()
    def predict_proba(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """``gamma`` at ``z = mu~(x)`` (no sampling) for ``X: (N, D)``: ``(N, K)`` on the CPU."""
        was_training = self.training
        self.eval()
        device = self.mu_c.device
        out = []
        for start in range(0, len(X), batch_size):
            mu, _ = self.encode(X[start:start + batch_size].to(device))
            out.append(self.gamma(mu).float().cpu())
        self.train(was_training)
        return torch.cat(out)

    @torch.no_grad()
    def predict(self, X: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
        """Cluster ids ``(N,)``: ``argmax_c gamma_c`` at ``z = mu~(x)`` (as ``VaDE_test_mnist.py``)."""
        return self.predict_proba(X, batch_size).argmax(dim=1).numpy()

    @torch.no_grad()
    def sample_clusters(self, n_per_cluster: int, generator: torch.Generator | None = None,
                        clusters: Sequence[int] | None = None) -> torch.Tensor:
        """Images generated cluster by cluster: ``z ~ N(mu_c, sigma_c^2)``, ``x = sigmoid(f(z))``.

        Returns ``(len(clusters) * n_per_cluster, D)`` probabilities in ``[0, 1]``, cluster by
        cluster in the order of ``clusters`` (default ``0..K-1``): one grid row per cluster.
        """
        clusters = list(range(self.n_clusters)) if clusters is None else [int(c) for c in clusters]
        idx = torch.tensor(clusters).repeat_interleave(int(n_per_cluster))
        eps = torch.randn(len(idx), self.latent_dim, generator=generator).to(self.mu_c.device)
        idx = idx.to(self.mu_c.device)
        z = self.mu_c[idx] + torch.exp(0.5 * self.logvar_c[idx]) * eps
        return torch.sigmoid(self.decode(z)).cpu()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", n_clusters={self.n_clusters}"


# --------------------------------------------------------------------------------------------
# Densities and responsibilities (plain functions: the student exercises mirror them)
# --------------------------------------------------------------------------------------------

def log_gaussian_diag(z: torch.Tensor, mu_c: torch.Tensor, logvar_c: torch.Tensor) -> torch.Tensor:
    """``log N(z_b | mu_c, diag(exp(logvar_c)))`` for every pair: ``z: (B, J)``, ``mu_c``,
    ``logvar_c: (K, J)`` ``-> (B, K)``."""
    diff2 = (z[:, None, :] - mu_c[None, :, :]) ** 2                       # (B, K, J)
    return -0.5 * (LOG_2PI + logvar_c[None] + diff2 * torch.exp(-logvar_c)[None]).sum(dim=2)


def log_p_z_given_c(z: torch.Tensor, mu_c: torch.Tensor, logvar_c: torch.Tensor) -> torch.Tensor:
    """Alias of ``log_gaussian_diag``: ``log p(z|c)``, ``(B, J) -> (B, K)``."""
    return log_gaussian_diag(z, mu_c, logvar_c)


def log_gamma(z: torch.Tensor, log_pi: torch.Tensor, mu_c: torch.Tensor, logvar_c: torch.Tensor) -> torch.Tensor:
    """``log gamma_c = log p(c) p(z|c) - log sum_c' p(c') p(z|c')``: ``(B, J) -> (B, K)``.

    ``log_pi: (K,)`` normalised log-weights; ``mu_c``, ``logvar_c``: ``(K, J)``. Computed with
    ``log_softmax`` (a logsumexp), so it stays finite however far ``z`` is from every centre.
    """
    return torch.log_softmax(log_pi[None, :] + log_gaussian_diag(z, mu_c, logvar_c), dim=1)


def gamma(z: torch.Tensor, log_pi: torch.Tensor, mu_c: torch.Tensor, logvar_c: torch.Tensor) -> torch.Tensor:
    """``gamma = q(c|x) = p(c|z)``: ``(B, J) -> (B, K)``, rows sum to 1 (see ``log_gamma``)."""
    return log_gamma(z, log_pi, mu_c, logvar_c).exp()


def vade_elbo_loss(
    x: torch.Tensor,
    x_logits: torch.Tensor,
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_pi: torch.Tensor,
    mu_c: torch.Tensor,
    logvar_c: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The negative ELBO of VaDE (one sample), averaged over the batch, and its named terms.

    Args:
        x: ``(B, D)`` in ``[0, 1]``; x_logits: ``(B, D)`` decoder logits for the sample ``z``.
        z: ``(B, J)`` the sample used for ``gamma``; mu, logvar: ``(B, J)`` of ``q(z|x)``.
        log_pi: ``(K,)`` normalised; mu_c, logvar_c: ``(K, J)``.

    Returns ``{"loss", "recon", "gauss", "prior_c", "entropy_c", "entropy_z", "kl"}``, 0-d tensors;
    each term is its contribution to the loss (see the module docstring),
    ``loss = recon + kl`` and ``kl = gauss + prior_c + entropy_c + entropy_z``.
    """
    if x.shape != x_logits.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but x_logits has {tuple(x_logits.shape)}; they must match.")
    if not (z.shape == mu.shape == logvar.shape) or z.shape[0] != x.shape[0]:
        raise ValueError(
            f"z {tuple(z.shape)}, mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)} must all be (B, J) "
            f"with B = {x.shape[0]}."
        )
    if mu_c.shape != logvar_c.shape or mu_c.shape[1] != z.shape[1] or log_pi.shape != (mu_c.shape[0],):
        raise ValueError(
            f"log_pi {tuple(log_pi.shape)}, mu_c {tuple(mu_c.shape)}, logvar_c {tuple(logvar_c.shape)}: "
            f"expected (K,), (K, J), (K, J) with J = {z.shape[1]}."
        )
    log_g = log_gamma(z, log_pi, mu_c, logvar_c)                            # (B, K)
    g = log_g.exp()
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=1)
    inv_var_c = torch.exp(-logvar_c)[None]                                   # (1, K, J)
    per_cluster = (LOG_2PI + logvar_c[None] + logvar.exp()[:, None, :] * inv_var_c
                   + (mu[:, None, :] - mu_c[None]) ** 2 * inv_var_c).sum(dim=2)   # (B, K)
    gauss = 0.5 * (g * per_cluster).sum(dim=1)
    prior_c = -(g * log_pi[None, :]).sum(dim=1)
    entropy_c = (g * log_g).sum(dim=1)
    entropy_z = -0.5 * (1.0 + logvar).sum(dim=1)
    terms = {
        "recon": recon.mean(),
        "gauss": gauss.mean(),
        "prior_c": prior_c.mean(),
        "entropy_c": entropy_c.mean(),
        "entropy_z": entropy_z.mean(),
    }
    kl = terms["gauss"] + terms["prior_c"] + terms["entropy_c"] + terms["entropy_z"]
    return {"loss": terms["recon"] + kl, **terms, "kl": kl}


def vade_objective(model: VaDE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``loss_fn`` for ``course_utils.train.fit``: one sample of ``z``, then ``vade_elbo_loss``."""
    x_logits, z, mu, logvar = model(x)
    return vade_elbo_loss(x, x_logits, z, mu, logvar, model.log_pi, model.mu_c, model.logvar_c)



# --------------------------------------------------------------------------------------------
# Initialisation from a pretrained autoencoder
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def init_from_autoencoder(model: VaDE, ae: MLPAutoencoder, logit_scale: float | None = None,
                          logvar_init: float = 0.0) -> VaDE:
    """Copy a pretrained ``MLPAutoencoder`` into ``model`` (in place; returns ``model``).

    - encoder trunk <- the autoencoder's hidden layers; ``mu_head`` <- its embedding layer;
    - ``logvar_head``: weights 0, bias ``logvar_init``, so every ``sigma~^2`` starts at
      ``exp(logvar_init)`` (the reference leaves this head at its random init);
    - decoder <- the autoencoder's decoder. ``VaDE`` reads its decoder output as Bernoulli
      logits. An autoencoder pretrained on the Bernoulli loss (``ae.output == "logits"``, recipe
      ``"bce-aug"``) already outputs logits: it is copied as is. One pretrained on the squared
      error (``ae.output == "pixels"``) outputs ``x_hat ≈ x``; with ``logit_scale = s`` its last
      layer is mapped to ``s * (x_hat - 1/2)`` so that ``sigmoid(logits)`` starts near its
      reconstruction. Default ``None``: copy as is, as the reference does (in our fast-mode runs
      the rescaling made the first epochs worse; the first VaDE epoch then pays for the change
      of loss, which is why the full mode pretrains with the Bernoulli loss).

    The sizes must match, and ``logit_scale`` is for a pixel decoder only (``ValueError`` otherwise).
    """
    if (ae.in_dim, tuple(ae.hidden), ae.latent_dim) != (model.in_dim, tuple(model.hidden), model.latent_dim):
        raise ValueError(
            f"autoencoder sizes (in_dim={ae.in_dim}, hidden={tuple(ae.hidden)}, latent_dim={ae.latent_dim}) "
            f"differ from VaDE's (in_dim={model.in_dim}, hidden={tuple(model.hidden)}, "
            f"latent_dim={model.latent_dim}); pretrain with the same sizes."
        )
    if logit_scale is not None and getattr(ae, "output", "pixels") == "logits":
        raise ValueError("logit_scale maps a decoder that outputs pixels to logits, but this autoencoder "
                         "already outputs logits (it was pretrained on the Bernoulli loss); leave it None.")
    ae_enc = [m for m in ae.encoder if isinstance(m, nn.Linear)]
    vade_enc = [m for m in model.encoder if isinstance(m, nn.Linear)]
    for src, dst in zip(ae_enc[:-1], vade_enc):
        dst.load_state_dict(src.state_dict())
    model.mu_head.load_state_dict(ae_enc[-1].state_dict())
    model.logvar_head.weight.zero_()
    model.logvar_head.bias.fill_(float(logvar_init))
    model.decoder.load_state_dict(ae.decoder.state_dict())
    if logit_scale is not None:
        last = [m for m in model.decoder if isinstance(m, nn.Linear)][-1]
        last.weight.mul_(float(logit_scale))
        last.bias.sub_(0.5).mul_(float(logit_scale))
    return model


def init_gmm_from_latent(model: VaDE, Z: torch.Tensor | np.ndarray, seed: int = 0,
                         reg_covar: float = 1e-6, n_init: int = 1, kmeans_restarts: int = 0, em: bool = True):
    """Fit ``GaussianMixture(K, covariance_type='diag')`` on latent means ``Z: (N, J)`` and copy it.

    ``pi_logits <- log weights_`` (so ``pi = weights_``), ``mu_c <- means_``,
    ``logvar_c <- log covariances_`` (scikit-learn's ``covariances_`` are variances ``sigma^2``
    for ``'diag'``). Fitted in float64 with ``random_state=seed``. With ``kmeans_restarts > 0`` the
    mixture's EM starts from the best of that many k-means runs (``means_init``) instead of
    scikit-learn's single k-means start, which on well-separated codes often stops in a worse
    partition. ``em=False`` runs no EM at all: the mixture is read off the best k-means partition
    (``clustering.diag_gmm_from_kmeans``; needs ``kmeans_restarts >= 1``), since EM from it can
    merge two digits. Returns the fitted mixture.
    """
    from course_utils.clustering import diag_gmm_from_kmeans, fit_diag_gmm

    Z = np.asarray(Z.detach().cpu().numpy() if isinstance(Z, torch.Tensor) else Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[1] != model.latent_dim:
        raise ValueError(f"Z has shape {Z.shape}; expected (N, {model.latent_dim}) latent means.")
    if em:
        gmm = fit_diag_gmm(Z, model.n_clusters, seed=seed, kmeans_restarts=kmeans_restarts, reg_covar=reg_covar,
                           n_init=n_init)
    else:
        gmm = diag_gmm_from_kmeans(Z, model.n_clusters, seed=seed, kmeans_restarts=kmeans_restarts,
                                   reg_covar=reg_covar)
    with torch.no_grad():
        dtype, device = model.mu_c.dtype, model.mu_c.device
        model.pi_logits.copy_(torch.as_tensor(np.log(gmm.weights_), dtype=dtype, device=device))
        model.mu_c.copy_(torch.as_tensor(gmm.means_, dtype=dtype, device=device))
        model.logvar_c.copy_(torch.as_tensor(np.log(gmm.covariances_), dtype=dtype, device=device))
    return gmm


# --------------------------------------------------------------------------------------------
# The reference's training recipe
# --------------------------------------------------------------------------------------------

#: ``VaDE.py`` for MNIST: batch 100, Adam (eps 1e-4) for the network and for the mixture, both
#: lr 2e-3, multiplied by 0.9 every 10 epochs, never below 2e-4; 3000 epochs.
VADE_RECIPE: dict = {"epochs": 3000, "batch_size": 100, "lr": 2e-3, "eps": 1e-4,
                     "decay_every": 10, "decay": 0.9, "lr_min": 2e-4}


def make_optimizer(model: VaDE, lr: float = VADE_RECIPE["lr"], eps: float = VADE_RECIPE["eps"],
                   lr_gmm: float | None = None) -> torch.optim.Adam:
    """One ``Adam`` with two parameter groups, ``"network"`` and ``"gmm"``.

    Adam's update is per parameter, so this is the reference's two optimizers (``adam_nn``,
    ``adam_gmm``) in one object; the groups keep their own learning rates.
    """
    return torch.optim.Adam(
        [{"params": model.network_parameters(), "lr": lr, "name": "network"},
         {"params": model.gmm_parameters(), "lr": lr if lr_gmm is None else lr_gmm, "name": "gmm"}],
        lr=lr, eps=eps,
    )


def step_decay_callback(optimizer: torch.optim.Optimizer, every: int = VADE_RECIPE["decay_every"],
                        factor: float = VADE_RECIPE["decay"], lr_min: float = VADE_RECIPE["lr_min"]):
    """``fit`` callback: after every ``every``-th epoch, ``lr <- max(lr * factor, lr_min)`` in each
    group, and log the network's ``lr`` (the reference's ``lr_decay`` at the start of epochs
    10, 20, ...)."""
    def callback(epoch: int, model: nn.Module, logs: dict) -> None:
        if epoch % every == 0:
            for group in optimizer.param_groups:
                group["lr"] = max(group["lr"] * factor, lr_min)
        logs["lr"] = optimizer.param_groups[0]["lr"]

    return callback

