"""Deep Embedded Clustering (DEC; Xie, Girshick & Farhadi, ICML 2016) and Improved DEC (IDEC;
Guo et al., IJCAI 2017) in PyTorch.

Both start from a pretrained ``MLPAutoencoder`` (the network of ``course_utils.models.autoencoder``)
and ``K`` cluster centres ``mu: (K, d)`` placed by k-means on its embedding. Then, for embeddings
``z_i = f(x_i)``:

    q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)  /  sum_j' (same)     soft assignment
    p_ij = (q_ij^2 / f_j)  /  sum_j' (q_ij'^2 / f_j'),   f_j = sum_i q_ij          target distribution
    L_c  = KL(P || Q) = 1/N sum_i sum_j p_ij log(p_ij / q_ij)                      clustering loss

``q`` is a Student's t kernel (``alpha = 1``: a Cauchy kernel); ``p`` sharpens ``q`` (squaring) and
divides by the soft cluster sizes ``f_j`` so that a big cluster does not swallow the others. ``P`` is
recomputed on the whole data set every ``update_interval`` iterations and held fixed in between,
and training stops when fewer than ``tol`` of the hard assignments change between two updates.

- **DEC** drops the decoder and trains the encoder and the centres on ``L_c`` alone.
- **IDEC** keeps the decoder and trains on ``L = L_r + gamma * L_c`` (``gamma = 0.1``), where
  ``L_r`` is the reconstruction error: the decoder keeps the embedding faithful to the images
  (local structure), so the clustering loss cannot distort it freely.

``L_r`` is the squared error *averaged over pixels* (Keras' ``mse``, as in the IDEC and DEC-keras
code): with a per-image sum it would be D = 784 times larger and ``gamma = 0.1`` would leave the
clustering term with almost no weight. ``L_c`` uses ``reduction='batchmean'``: KL summed over
clusters, averaged over images (Keras' ``kld``); a plain mean would also divide by K.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from course_utils import settings as course_settings
from course_utils.models.autoencoder import MLPAutoencoder, per_pixel_reconstruction_loss
from course_utils.progress import tqdm

__all__ = [
    "soft_assignment",
    "target_distribution",
    "kl_clustering_loss",
    "DEC",
    "init_centers_kmeans",
    "train_dec",
    "DEC_RECIPE",
    "IDEC_RECIPE",
    "DEC_DA_RECIPE",
    "stop_reason",
]


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Student's t soft assignment ``q: (N, K)`` of embeddings ``z: (N, d)`` to ``centers: (K, d)``.

    ``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)``, every row sums to 1. Computed as a
    ``log_softmax`` of the log-kernel, so it stays exact far from every centre.
    """
    if z.ndim != 2 or centers.ndim != 2 or z.shape[1] != centers.shape[1]:
        raise ValueError(f"z has shape {tuple(z.shape)} and centers {tuple(centers.shape)}; expected "
                         "(N, d) and (K, d) with the same d.")
    if alpha <= 0:
        raise ValueError(f"alpha={alpha}; the Student's t degrees of freedom must be positive (DEC uses 1).")
    dist2 = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(dim=2)          # (N, K)
    log_kernel = -(alpha + 1.0) / 2.0 * torch.log1p(dist2 / alpha)
    return torch.softmax(log_kernel, dim=1)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's auxiliary target ``p: (N, K)`` from ``q: (N, K)``: ``p_ij ∝ q_ij^2 / f_j``, ``f_j = sum_i q_ij``.

    Rows sum to 1. ``p`` is a fixed target: the result carries no gradient.
    """
    q = q.detach()
    weight = q ** 2 / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


def kl_clustering_loss(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``KL(P || Q) = 1/N sum_i sum_j p_ij log(p_ij / q_ij)``: 0-d tensor (``batchmean``)."""
    if p.shape != q.shape:
        raise ValueError(f"p has shape {tuple(p.shape)} but q has {tuple(q.shape)}; they must match.")
    return (p * (torch.log(p + eps) - torch.log(q + eps))).sum(dim=1).mean()


class DEC(nn.Module):
    """A pretrained autoencoder's encoder (IDEC: and decoder) plus ``K`` trainable cluster centres.

    Args:
        autoencoder: a trained ``MLPAutoencoder``; it is deep-copied, the original is left as it is.
        n_clusters: ``K``.
        alpha: the Student's t degrees of freedom (1 in both papers).
        keep_decoder: ``False`` for DEC (the decoder is dropped), ``True`` for IDEC.

    ``forward(x: (B, D)) -> (z: (B, d), q: (B, K), x_hat: (B, D) or None)``.
    """

    def __init__(self, autoencoder: MLPAutoencoder, n_clusters: int = 10, alpha: float = 1.0,
                 keep_decoder: bool = False) -> None:
        super().__init__()
        if not isinstance(autoencoder, MLPAutoencoder):
            raise TypeError(f"autoencoder must be an MLPAutoencoder, got {type(autoencoder).__name__}; "
                            "pretrain one with course_utils.train.pretrained_autoencoder.")
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters={n_clusters}; expected at least 1.")
        self.n_clusters = int(n_clusters)
        self.alpha = float(alpha)
        self.latent_dim = autoencoder.latent_dim
        self.encoder = copy.deepcopy(autoencoder.encoder)
        self.decoder = copy.deepcopy(autoencoder.decoder) if keep_decoder else None
        self.output = autoencoder.output  # what the decoder's output means: its loss comes with it
        self.centers = nn.Parameter(torch.zeros(self.n_clusters, self.latent_dim))

    @property
    def keeps_decoder(self) -> bool:
        return self.decoder is not None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        z = self.encoder(x)
        q = soft_assignment(z, self.centers, self.alpha)
        x_hat = self.decoder(z) if self.decoder is not None else None
        return z, q, x_hat

    def reconstruction_loss(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """IDEC's ``L_r``: the pretrained autoencoder's own loss, per pixel and image (0-d).

        Squared error for an autoencoder that outputs pixels, binary cross-entropy for one that
        outputs logits (``MLPAutoencoder.output``).
        """
        if self.decoder is None:
            raise ValueError("this model has no decoder (DEC); build it with keep_decoder=True (IDEC).")
        return per_pixel_reconstruction_loss(x, out, self.output)

    @torch.no_grad()
    def predict_proba(self, X: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
        """``q: (N, K)`` for ``X: (N, D)``, in batches, on the CPU."""
        was_training = self.training
        self.eval()
        device = self.centers.device
        out = [self(X[i:i + batch_size].to(device))[1].cpu() for i in range(0, len(X), batch_size)]
        self.train(was_training)
        return torch.cat(out)

    def predict(self, X: torch.Tensor, batch_size: int = 2048) -> np.ndarray:
        """Hard clusters ``argmax_j q_ij``: ``(N,)`` int64 NumPy array."""
        return self.predict_proba(X, batch_size).argmax(dim=1).numpy()

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}, alpha={self.alpha:g}, keep_decoder={self.keeps_decoder}"


@torch.no_grad()
def init_centers_kmeans(model: DEC, X: torch.Tensor, seed: int = 0, n_init: int = 20) -> np.ndarray:
    """k-means (``n_init`` restarts, as DEC) on the embedding of ``X``; its centres into ``model.centers``.

    Returns the k-means labels ``(N,)`` (the AE+k-means baseline).
    """
    from sklearn.cluster import KMeans

    from course_utils.loop import encode_dataset

    Z = encode_dataset(model, X).double().numpy()
    if not np.isfinite(Z).all():
        raise ValueError("the embedding contains NaN or inf; the autoencoder has probably diverged.")
    km = KMeans(model.n_clusters, n_init=n_init, random_state=seed).fit(Z)
    model.centers.copy_(torch.as_tensor(km.cluster_centers_, dtype=model.centers.dtype))
    return km.labels_.astype(np.int64)


#: DEC on MNIST (paper, DEC-keras): SGD lr 0.01 momentum 0.9, batch 256, tol 0.1%.
DEC_RECIPE: dict[str, Any] = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 256,
                              "tol": 0.001, "gamma": None, "max_iter": 20000}
#: IDEC on MNIST (IDEC code): Adam lr 1e-3, batch 256, gamma 0.1, tol 0.1%.
IDEC_RECIPE: dict[str, Any] = {"optimizer": "adam", "lr": 0.001, "momentum": None, "batch_size": 256,
                               "tol": 0.001, "gamma": 0.1, "max_iter": 20000}
#: DEC-DA (DEC-DA code, FcDEC-DA): DEC's recipe, with the clustering phase on augmented images, and a
#: plateau stop besides ``tol`` (``train_dec``'s ``patience``): the augmentation keeps some labels
#: flipping, so ``tol`` may never be met, and a run to ``max_iter`` drifts from its best partition
#: (full mode, seed 0: ACC 0.975 at update 132, 0.963 at update 500).
DEC_DA_RECIPE: dict[str, Any] = {**DEC_RECIPE, "augment": {"max_rotation": 10.0, "max_shift": 0.1},
                                 **course_settings.DEC_DA_STOP}


def make_dec_optimizer(model: DEC, recipe: dict[str, Any]) -> torch.optim.Optimizer:
    """The recipe's optimiser over all of ``model``'s parameters."""
    if recipe["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"] or 0.0)
    if recipe["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    raise ValueError(f"optimizer {recipe['optimizer']!r}; expected 'sgd' or 'adam'.")


def train_dec(
    model: DEC,
    X: torch.Tensor,
    *,
    gamma: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    batch_size: int = 256,
    update_interval: int | None = None,
    tol: float = 0.001,
    max_iter: int = 20000,
    seed: int = 0,
    callbacks: Sequence[Callable[[int, nn.Module, dict], Any]] = (),
    progress: bool = True,
    desc: str = "DEC",
    loss_fns: dict[str, Callable] | None = None,
    augment: dict[str, float] | None = None,
    patience: int | None = None,
    window: int = 10,
) -> dict[str, list]:
    """DEC's self-training (IDEC's when ``gamma`` is a number and the model keeps its decoder).

    Every ``update_interval`` iterations (default: one pass over ``X``, ``ceil(N / batch_size)``):
    compute ``q`` on all of ``X``, the target ``p`` from it, and the hard labels; stop if fewer than
    ``tol`` of them changed since the last update; else continue with mini-batches (shuffled,
    seeded) on ``L = L_c`` (DEC) or ``L = L_r + gamma * L_c`` (IDEC), using the batch's rows of the
    fixed ``p``.

    Its own loop, not ``loop.run_epochs``: its unit is a target update (``update_interval``
    iterations, which need not be a pass over the data) and it stops when the labels stop
    changing, not after a number of epochs. It records with ``loop.append_history`` and stops with
    ``loop.TrainingDiverged`` as the course's loop does.

    After every update ``callbacks(update, model, logs)`` are called (``update`` counts from 1;
    ``logs`` has the last interval's mean ``loss``, ``kl`` (and ``recon``), ``delta_label``, the
    fraction of labels that changed; callbacks may add entries, e.g. ``acc``).

    ``augment`` (DEC-DA, Guo et al., ACML 2018): ``{"max_rotation": 10.0, "max_shift": 0.1}``
    makes every mini-batch a randomly rotated and shifted copy of its images
    (``data.random_affine``), so ``q`` (and IDEC's reconstruction) is computed on augmented
    images, while the target ``p`` and the labels are computed on the clean ``X`` at every update.

    ``patience`` (DEC-DA's plateau stop; None: off): on augmented batches the clean labels keep
    flipping at a rate set by the augmentation's noise, often above ``tol`` for good, and a long run
    drifts away from its best partition. With ``patience`` the loop also stops when the mean
    ``delta_label`` of the last ``window`` updates (logged as ``delta_smooth``) has not reached a new
    low for ``patience`` updates: the labels stopped settling. It reads no label.

    ``loss_fns`` lets a notebook plug in its own ``{"q": soft_assignment, "p": target_distribution,
    "kl": kl_clustering_loss}``. Returns the per-update history (``fit``'s format); why it stopped
    is ``stop_reason(history, tol, max_iter, update_interval)``: ``"tol"``, ``"plateau"`` or
    ``"max_iter"``.
    """
    from course_utils.loop import TrainingDiverged, append_history

    fns = {"q": soft_assignment, "p": target_distribution, "kl": kl_clustering_loss, **(loss_fns or {})}
    if gamma is not None and not model.keeps_decoder:
        raise ValueError("gamma is set (IDEC) but the model has no decoder: build it with keep_decoder=True.")
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty (N, D) tensor, got {tuple(getattr(X, 'shape', ()))}.")
    if patience is not None and (isinstance(patience, bool) or int(patience) < 1 or int(window) < 1):
        raise ValueError(f"patience={patience!r}, window={window!r}: use positive ints (or patience=None for no "
                         "plateau stop).")
    n = len(X)
    device = model.centers.device
    update_interval = update_interval or math.ceil(n / batch_size)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(int(seed))
    if augment:
        from course_utils.data import random_affine

        augment_rng = torch.Generator().manual_seed(int(seed) + 2)
    history: dict[str, list] = {"epoch": []}
    previous: np.ndarray | None = None
    deltas: list[float] = []
    lowest, since_lowest = math.inf, 0
    perm = torch.randperm(n, generator=generator)
    cursor = 0
    sums: dict[str, float] = {}
    seen = 0
    total_updates = math.ceil(max_iter / update_interval)
    bar = tqdm(total=total_updates, desc=desc, disable=not progress, leave=True)
    try:
        for it in range(max_iter + 1):
            if it % update_interval == 0 or it == max_iter:  # a last, shorter interval ends at max_iter
                with torch.no_grad():
                    model.eval()
                    z_all = torch.cat([model.encode(X[i:i + 2048].to(device)) for i in range(0, n, 2048)])
                    q_all = fns["q"](z_all, model.centers, model.alpha)
                    p_all = fns["p"](q_all).detach()
                    labels = q_all.argmax(dim=1).cpu().numpy()
                delta = float((labels != previous).mean()) if previous is not None else 1.0
                previous = labels
                if it > 0:
                    logs = {name: total / max(seen, 1) for name, total in sums.items()}
                    logs["delta_label"] = delta
                    deltas.append(delta)
                    plateau = False
                    if patience is not None:
                        smooth = float(np.mean(deltas[-int(window):]))
                        logs["delta_smooth"] = smooth
                        if smooth < lowest:
                            lowest, since_lowest = smooth, 0
                        else:
                            since_lowest += 1
                        plateau = since_lowest >= int(patience)
                    update = math.ceil(it / update_interval)
                    for callback in callbacks:
                        callback(update, model, logs)
                    append_history(history, update, logs)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, float)}, refresh=False)
                    bar.update(1)
                    sums, seen = {}, 0
                    if delta < tol or plateau:
                        break
                if it == max_iter:
                    break
                model.train()
            if cursor >= n:
                perm = torch.randperm(n, generator=generator)
                cursor = 0
            idx = perm[cursor:cursor + batch_size]
            cursor += batch_size
            x = X[idx]
            if augment:  # DEC-DA: the soft assignment of an augmented copy, the clean image's target
                x = random_affine(x, generator=augment_rng, **augment)
            x = x.to(device)
            z, q, x_hat = model(x)
            kl = fns["kl"](p_all[idx.to(p_all.device)], q)
            terms = {"kl": kl}
            if gamma is not None:  # the autoencoder's own loss (squared error, or BCE on logits)
                terms["recon"] = model.reconstruction_loss(x, x_hat)
                terms["loss"] = terms["recon"] + gamma * kl
            else:
                terms["loss"] = kl
            values = {k: float(v.detach()) for k, v in terms.items()}
            for name, value in values.items():
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"{desc}: the {name} term became {value} at iteration {it}; lower the learning rate "
                        "or check the soft assignment for a division by 0."
                    )
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v * len(x)
            seen += len(x)
    finally:
        bar.close()
    model.eval()
    return history


def stop_reason(history: dict[str, list], tol: float, max_iter: int, update_interval: int) -> str:
    """Why ``train_dec`` stopped: ``"tol"`` (the last ``delta_label`` is below ``tol``),
    ``"max_iter"`` (it ran ``max_iter`` iterations) or ``"plateau"`` (``patience``: the smoothed label
    change stopped falling)."""
    if history["delta_label"] and history["delta_label"][-1] < tol:
        return "tol"
    if len(history["epoch"]) >= math.ceil(max_iter / update_interval):
        return "max_iter"
    return "plateau"
