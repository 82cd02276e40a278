"""Training: ``fit`` for any model with a loss function, the shared pretraining steps, predictors.

``fit`` trains any ``nn.Module`` on a tensor (or a ``DataLoader``) with a loss function
``loss_fn(model, x)`` in the course's one loop (``loop.run_epochs``): a ``tqdm`` bar, the
callbacks after every epoch (to score the latent space, update a ``TrainingMonitor``, ...), and a
stop with ``TrainingDiverged`` as soon as a loss is NaN or infinite, naming the epoch and batch.

The checkpoint cache (``cached``, "load if cached, else train and cache") lives in
``checkpoints.py``; its names are re-exported here.

``pretrained_autoencoder`` and ``pretrained_vae`` are the cached training steps that several weeks
share (week 02 trains them; weeks 03 and 04 start from the same autoencoder).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from course_utils import config as course_config
from course_utils.checkpoints import (  # noqa: F401  (re-exported: notebooks import them from train)
    CACHE_EVENTS,
    CheckpointWarning,
    cached,
    checkpoint_path,
    config_hash,
    fingerprint,
    load_history,
    replay_history,
)
from course_utils.loop import Callback, TrainingDiverged, append_history, encode_dataset, run_epochs
from course_utils.progress import tqdm
from course_utils.metrics import evaluate
from course_utils.models import MLPAutoencoder, VAE, reconstruction_loss, vae_loss

__all__ = [
    "TrainingDiverged",
    "CheckpointWarning",
    "Callback",
    "fit",
    "append_history",
    "ae_objective",
    "vae_objective",
    "encode_dataset",
    "cluster_latent",
    "cluster_metrics_callback",
    "monitor_callback",
    "replay_history",
    "fingerprint",
    "config_hash",
    "checkpoint_path",
    "cached",
    "load_history",
    "AE_RECIPE",
    "AE_RECIPES",
    "ae_mse_objective",
    "ae_bce_objective",
    "VAE_RECIPE",
    "pretrained_autoencoder",
    "pretrained_vae",
    "train_predictor",
    "predict_frames",
    "predictor_scores",
    "training_memory",
]

LossFn = Callable[[nn.Module, torch.Tensor], Any]


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------

def _batches(
    data: torch.Tensor | Iterable,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator,
) -> Iterable[torch.Tensor]:
    """Mini-batches ``x: (B, ...)`` of a tensor (shuffled with ``generator``) or of a loader."""
    if isinstance(data, torch.Tensor):
        n = len(data)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            yield data[order[start:start + batch_size]]
    else:
        for batch in data:
            # labels are never used for training: a loader of (x, y) pairs gives x
            yield batch[0] if isinstance(batch, (tuple, list)) else batch


def _n_batches(data: Any, batch_size: int) -> int | None:
    if isinstance(data, torch.Tensor):
        return math.ceil(len(data) / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def _loss_terms(out: Any) -> dict[str, torch.Tensor]:
    """A loss function's result as ``{"loss": ..., other terms}``."""
    if isinstance(out, torch.Tensor):
        return {"loss": out}
    if isinstance(out, Mapping) and "loss" in out:
        return dict(out)
    raise TypeError(
        f"loss_fn returned a {type(out).__name__}; it must return the loss as a 0-d tensor, or a "
        "dict with key 'loss' (and, to log them, other terms such as 'recon' and 'kl')."
    )


def _diverged_message(term: str, value: float, epoch: int, batch: int, n_batches: int | None,
                      optimizer: torch.optim.Optimizer) -> str:
    lrs = sorted({g["lr"] for g in optimizer.param_groups})
    lr_text = ", ".join(f"{lr:g}" for lr in lrs)
    of = f" of {n_batches}" if n_batches else ""
    return (
        f"The {term} became {value} at epoch {epoch}, batch {batch}{of}; training stopped. "
        f"What to try: a lower learning rate (now {lr_text}, try a tenth of it); for a VAE, keep "
        "the log-variance in a sane range (e.g. `logvar.clamp(-10, 10)`) so that exp(logvar) "
        "cannot overflow, and use `binary_cross_entropy_with_logits` on logits rather than a log "
        "of sigmoid outputs; check that the inputs are finite and, for BCE, in [0, 1]."
    )


def fit(
    model: nn.Module,
    data: torch.Tensor | Iterable,
    loss_fn: LossFn,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    lr: float = 1e-3,
    batch_size: int = 256,
    shuffle: bool = True,
    callbacks: Sequence[Callback] = (),
    device: torch.device | str | None = None,
    progress: bool = True,
    seed: int = 0,
    desc: str = "training",
) -> dict[str, list[float | None]]:
    """Train ``model`` for ``epochs`` passes over ``data``; returns the per-epoch history.

    Args:
        model: any ``nn.Module``; moved to ``device`` (default ``config.get_device()``).
        data: ``X: (N, ...)`` tensor, cut into shuffled mini-batches of ``batch_size`` (the order
            is drawn from a generator seeded with ``seed``, so a run is repeatable), or any
            iterable of batches such as a ``DataLoader`` (a batch ``(x, y)`` gives ``x``).
        loss_fn: ``loss_fn(model, x) -> loss`` (0-d tensor) or ``{"loss": ..., "recon": ...}``;
            every term is averaged over the epoch (weighted by batch size) and logged.
        epochs: number of passes over the data.
        optimizer: default ``torch.optim.Adam(model.parameters(), lr=lr)``.
        callbacks: ``callback(epoch, model, logs)`` after every epoch, in order; ``logs`` holds
            the epoch's mean loss terms and a callback may add values (e.g. ``acc``), which
            the next callbacks see and the history keeps. ``epoch`` counts from 1.
        progress: show a ``tqdm`` bar over the epochs (turn off when a ``TrainingMonitor``
            shows its own).

    Returns:
        ``{"epoch": [1, 2, ...], "loss": [...], ...}``: one entry per epoch for every logged
        name (``None`` where a value was not logged that epoch).

    Raises:
        TrainingDiverged: a loss term is NaN or infinite (the message names the epoch and batch).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs={epochs!r}; expected a non-negative int.")
    if isinstance(data, torch.Tensor) and len(data) == 0:
        raise ValueError("data is empty; expected at least one example.")
    device = torch.device(device) if device is not None else course_config.get_device()
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    n_batches = _n_batches(data, batch_size)

    def step(x: torch.Tensor, epoch: int, b: int) -> tuple[dict[str, float], int]:
        x = x.to(device)
        terms = _loss_terms(loss_fn(model, x))
        values = {name: float(t.detach()) for name, t in terms.items()}
        for name, value in values.items():
            if not math.isfinite(value):
                raise TrainingDiverged(_diverged_message(name, value, epoch, b, n_batches, optimizer))
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        return values, len(x)   # each term averaged over the epoch, weighted by batch size

    return run_epochs(model, epochs, lambda epoch: _batches(data, batch_size, shuffle, generator), step,
                      callbacks=callbacks, progress=progress, desc=desc)


def ae_objective(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` for ``fit``: the squared reconstruction error of an autoencoder."""
    _require_output(model, "pixels", "the squared error (ae_objective)")
    return reconstruction_loss(x, model(x))


def vae_objective(beta: float = 1.0, loss: Callable = vae_loss) -> LossFn:
    """``loss_fn`` for ``fit`` that trains a VAE with ``loss(x, x_logits, mu, logvar, beta)``.

    ``loss`` returns ``(loss, recon, kl)`` like ``models.vae_loss`` (default); all three are logged.
    """
    def objective(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x_logits, mu, logvar = model(x)
        total, recon, kl = loss(x, x_logits, mu, logvar, beta=beta)
        return {"loss": total, "recon": recon, "kl": kl}

    return objective


# --------------------------------------------------------------------------------------------
# Callbacks: score the latent space, feed a TrainingMonitor
# --------------------------------------------------------------------------------------------

def cluster_latent(Z: torch.Tensor | np.ndarray, n_clusters: int = 10, method: str = "gmm",
                   seed: int = 0, kmeans_restarts: int = 0) -> np.ndarray:
    """Cluster ids ``(N,)`` of points ``Z: (N, d)``.

    ``method``: ``"gmm"`` (scikit-learn ``GaussianMixture``, diagonal covariances, k-means
    initialisation) or ``"kmeans"`` (``KMeans``, 10 restarts). With ``kmeans_restarts > 0`` the
    mixture's EM starts from the best of that many k-means runs (``means_init``) instead of
    scikit-learn's single k-means start (as ``models.init_gmm_from_latent``). Computed in float64,
    so the result does not depend on the float32 rounding of ``Z``'s producer beyond its values.
    """
    Z = np.asarray(Z.detach().cpu().numpy() if isinstance(Z, torch.Tensor) else Z, dtype=np.float64)
    if not np.isfinite(Z).all():
        raise ValueError("Z contains NaN or inf; the model has probably diverged.")
    if method == "gmm":
        from course_utils.clustering import fit_diag_gmm

        return fit_diag_gmm(Z, n_clusters, seed=seed, kmeans_restarts=kmeans_restarts).predict(Z)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(Z)
    raise ValueError(f"method={method!r}; use 'gmm' or 'kmeans'.")


def cluster_metrics_callback(
    X: torch.Tensor,
    y: Any,
    n_clusters: int = 10,
    method: str = "gmm",
    every: int = 1,
    seed: int = 0,
) -> Callback:
    """Callback that clusters the latent means of ``X`` and logs ``acc``, ``nmi``, ``ari``.

    Runs after epoch 1 and every ``every`` epochs (labels ``y`` are used for scoring only).
    """
    if every < 1:
        raise ValueError(f"every={every}; expected a positive int.")

    def callback(epoch: int, model: nn.Module, logs: dict) -> None:
        if epoch == 1 or epoch % every == 0:
            labels = cluster_latent(encode_dataset(model, X), n_clusters, method, seed)
            logs.update(evaluate(y, labels))

    return callback


def monitor_callback(monitor: Any, keys: Sequence[str] | None = None) -> Callback:
    """Callback that sends the epoch's logs (or only ``keys``) to ``monitor.update``.

    Works with ``course_utils.widgets.TrainingMonitor`` or anything with ``update(epoch, **values)``.
    """
    def callback(epoch: int, model: nn.Module, logs: dict) -> None:
        values = logs if keys is None else {k: logs[k] for k in keys if k in logs}
        monitor.update(epoch, **values)

    return callback


# --------------------------------------------------------------------------------------------
# The shared, cached pretraining steps
# --------------------------------------------------------------------------------------------

#: Autoencoder pretraining recipes (``pretrained_autoencoder(recipe=...)``).
#:
#: - ``"adam"``: Adam 1e-3 on the squared error summed over pixels; quick, and good enough for
#:   fast mode (weeks 02-04 share this one there).
#: - ``"dec-keras"``: DEC-keras' MNIST recipe: SGD lr 1, momentum 0.9, batch 256, 300 epochs,
#:   on Keras' ``mse`` (the squared error *averaged* over pixels, so lr 1 is a step of 1/D on the
#:   per-image sum). Slower to start, but it gives codes that k-means separates much better.
#: - ``"dec-keras-aug"``: the same, trained on randomly rotated (up to 10 degrees) and shifted (up
#:   to 10%) copies of the images, drawn afresh for every batch (``data.random_affine``), as in
#:   DEC-DA (Guo et al., ACML 2018). Not part of the DEC/IDEC papers: a later improvement.
#: - ``"bce-aug"``: Adam 1e-3 for 150 epochs on the Bernoulli loss (binary cross-entropy of the
#:   decoder's output read as *logits*, summed over pixels), on the same augmented images. This is
#:   the loss VaDE's decoder uses, so VaDE can start from it without a shock in its first epoch;
#:   the decoder's output is then logits (``sigmoid`` gives the reconstruction), not pixels.
AE_RECIPES: dict[str, dict[str, Any]] = {
    "adam": {"optimizer": "adam", "lr": 1e-3, "momentum": 0.0, "batch_size": 256, "loss": "sse", "epochs": 100},
    "dec-keras": {"optimizer": "sgd", "lr": 1.0, "momentum": 0.9, "batch_size": 256, "loss": "mse", "epochs": 300},
    "dec-keras-aug": {"optimizer": "sgd", "lr": 1.0, "momentum": 0.9, "batch_size": 256, "loss": "mse", "epochs": 300,
                      "augment": {"max_rotation": 10.0, "max_shift": 0.1}},
    "bce-aug": {"optimizer": "adam", "lr": 1e-3, "momentum": 0.0, "batch_size": 256, "loss": "bce", "epochs": 150,
                "augment": {"max_rotation": 10.0, "max_shift": 0.1}},
}
#: The default recipe (``"adam"``).
AE_RECIPE: dict[str, Any] = AE_RECIPES["adam"]
#: VAE training: Adam on the negative ELBO.
VAE_RECIPE: dict[str, Any] = {"epochs": 100, "batch_size": 256, "lr": 1e-3}


def _train_config(kind: str, X: torch.Tensor, hidden: Sequence[int], latent_dim: int, epochs: int,
                  batch_size: int, lr: float, optimizer: str = "adam", **extra: Any) -> dict[str, Any]:
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError(
            f"X must be a (N, D) float tensor of flattened inputs, got "
            f"{type(X).__name__} {tuple(getattr(X, 'shape', ()))}; use data.load_mnist(flatten=True)."
        )
    return {
        "model": kind,
        "in_dim": int(X.shape[1]),
        "hidden": [int(h) for h in hidden],
        "latent_dim": int(latent_dim),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "optimizer": optimizer,
        "n": int(len(X)),
        "data": fingerprint(X),
        **extra,
    }


def _require_output(model: nn.Module, wanted: str, loss: str) -> None:
    """A loss must match what the decoder's output means (``MLPAutoencoder.output``)."""
    got = getattr(model, "output", "pixels")
    if got != wanted:
        raise ValueError(
            f"{loss} needs an autoencoder whose decoder outputs {wanted}, but this one outputs {got}: "
            f"a {'squared error on logits' if got == 'logits' else 'cross-entropy on pixels'} is meaningless. "
            f"Use model.reconstruction_loss(x), the loss the autoencoder was built for."
        )


def ae_bce_objective(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` for ``fit``: binary cross-entropy of ``x`` under logits ``model(x)``, summed over
    pixels, averaged over the batch (the reconstruction term of the VAE and VaDE losses)."""
    import torch.nn.functional as F

    _require_output(model, "logits", "the Bernoulli loss (ae_bce_objective)")
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="none").sum(dim=1).mean()


def ae_mse_objective(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` for ``fit``: the squared error averaged over pixels and batch (Keras' ``mse``)."""
    _require_output(model, "pixels", "the squared error (ae_mse_objective)")
    return reconstruction_loss(x, model(x)) / x[0].numel()


def pretrained_autoencoder(
    X: torch.Tensor,
    latent_dim: int = 10,
    hidden: Sequence[int] = (500, 500, 2000),
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    on_load: Callable[[dict | None], Any] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    verbose: bool = True,
    recipe: str = "adam",
) -> MLPAutoencoder:
    """The ``MLPAutoencoder`` trained on ``X: (N, D)`` in ``[0, 1]``, from the cache when it is there.

    ``recipe`` names one of ``AE_RECIPES`` (``"adam"``: Adam on the per-image squared error;
    ``"dec-keras"``: SGD with momentum on the per-pixel mean squared error; ``"dec-keras-aug"``:
    the same on randomly rotated and shifted images, which need ``X: (N, H*W)`` square images); ``epochs``,
    ``batch_size`` and ``lr`` override the recipe's values. Mini-batches are shuffled with a
    generator seeded by ``seed``. The cache key holds every argument that changes the weights and
    a fingerprint of ``X``; ``callbacks`` (only called when it trains) and ``on_load`` (called
    with the saved history when it loads) do not change it. Weeks 02-04 call this with the same
    arguments to share one trained network.
    """
    if recipe not in AE_RECIPES:
        raise ValueError(f"recipe={recipe!r}; expected one of {sorted(AE_RECIPES)}.")
    r = AE_RECIPES[recipe]
    epochs = r["epochs"] if epochs is None else epochs
    batch_size = r["batch_size"] if batch_size is None else batch_size
    lr = r["lr"] if lr is None else lr
    extra: dict[str, Any] = {"loss": r["loss"], "init": "pytorch"}
    if r["optimizer"] == "sgd":
        extra["momentum"] = r["momentum"]
    if r.get("augment"):
        extra["augment"] = dict(r["augment"])
    cfg = _train_config("MLPAutoencoder", X, hidden, latent_dim, epochs, batch_size, lr, r["optimizer"], **extra)
    loss = {"sse": ae_objective, "mse": ae_mse_objective, "bce": ae_bce_objective}[r["loss"]]
    objective = loss
    if r.get("augment"):
        from course_utils.data import random_affine

        augment_rng = torch.Generator().manual_seed(int(seed) + 1)

        def objective(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return loss(model, random_affine(x, generator=augment_rng, **r["augment"]))

    def build() -> MLPAutoencoder:  # the recipe's loss decides what the decoder's output means
        return MLPAutoencoder(cfg["in_dim"], cfg["hidden"], cfg["latent_dim"],
                              output="logits" if r["loss"] == "bce" else "pixels")

    def train(model: nn.Module) -> dict:
        optimizer = None
        if r["optimizer"] == "sgd":
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=r["momentum"])
        return fit(model, X, objective, epochs, optimizer, lr=lr, batch_size=batch_size, callbacks=callbacks,
                   device=device, progress=progress, seed=seed, desc=f"autoencoder d={latent_dim} ({recipe})")

    name = f"ae-d{latent_dim}" + ("" if recipe == "adam" else f"-{recipe}")
    return cached(name, cfg, build, train, seed=seed, on_load=on_load, device=device, verbose=verbose)


def pretrained_unrolled_dbn(
    X: torch.Tensor,
    sizes: Sequence[int],
    rbm_epochs: int,
    rbm_lr: float,
    top_epochs: int,
    top_lr: float,
    epochs: int,
    lr: float,
    batch_size: int,
    augment: Mapping[str, float],
    seed: int = 0,
    rbm_batch: int = 100,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> nn.Module:
    """Week 06's DBN unrolled into a deep autoencoder and fine-tuned, from the cache when it is there.

    The recipe of ``settings.DBN_UNROLLED`` (Hinton & Salakhutdinov, Science 2006): greedy CD-1
    pretraining of the RBMs ``sizes`` with a linear top layer (``dbn.pretrain_dbn_gaussian_top``,
    ``rbm_epochs`` per logistic RBM at ``rbm_lr``, ``top_epochs`` for the top one at ``top_lr``,
    mini-batches of ``rbm_batch``), then ``dbn.UnrolledAutoencoder`` trained with ``fit`` (Adam ``lr``,
    ``epochs``, ``batch_size``) on the Bernoulli loss of randomly rotated and shifted copies of
    ``X`` (``augment``: ``data.random_affine``'s ``max_rotation`` and ``max_shift``; square images).
    Week 06's notebook runs the same steps one by one; ``course results`` and
    ``benchmarks/dbn_unrolled.py`` call this. ``callbacks`` run only when it trains. A network
    loaded from the cache is not pretrained again; a trained one's saved time and peak memory
    include its pretraining.
    """
    from course_utils.data import random_affine
    from course_utils.models import dbn as dbn_lib

    sizes = [int(X.shape[1]), *[int(v) for v in sizes[1:]]]   # the input layer is the data's width
    cfg = {"model": "dbn-unrolled", "data": fingerprint(X), "sizes": sizes, "rbm_epochs": int(rbm_epochs),
           "rbm_lr": float(rbm_lr), "top_epochs": int(top_epochs), "top_lr": float(top_lr), "epochs": int(epochs),
           "lr": float(lr), "batch_size": int(batch_size), "augment": dict(augment)}
    if int(rbm_batch) != 100:     # keys of the networks trained with the course's 100 unchanged
        cfg["rbm_batch"] = int(rbm_batch)

    def build() -> nn.Module:     # the architecture only: a network loaded from the cache needs no pretraining
        return dbn_lib.UnrolledAutoencoder(dbn_lib.DBN(sizes))

    def train(model: nn.Module) -> dict:
        course_config.seed_everything(seed, deterministic=False)   # seeds only: threads stay the caller's
        stack = dbn_lib.DBN(sizes)
        dbn_lib.pretrain_dbn_gaussian_top(stack, X, epochs=rbm_epochs, top_epochs=top_epochs, lr=rbm_lr,
                                          top_lr=top_lr, batch_size=rbm_batch, seed=seed)
        model.load_state_dict(dbn_lib.UnrolledAutoencoder(stack).state_dict())
        augment_rng = torch.Generator().manual_seed(int(seed) + 1)

        def objective(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return ae_bce_objective(m, random_affine(x, generator=augment_rng, **augment))

        return fit(model, X, objective, epochs, lr=lr, batch_size=batch_size, seed=seed, callbacks=callbacks,
                   device=device, progress=progress, desc="fine-tuning the unrolled DBN")

    return cached("dbn-unrolled", cfg, build, train, seed=seed, device=device, verbose=verbose)


def pretrained_vae(
    X: torch.Tensor,
    latent_dim: int = 10,
    hidden: Sequence[int] = (500, 500, 2000),
    beta: float = 1.0,
    epochs: int = VAE_RECIPE["epochs"],
    batch_size: int = VAE_RECIPE["batch_size"],
    lr: float = VAE_RECIPE["lr"],
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    on_load: Callable[[dict | None], Any] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> VAE:
    """The ``VAE`` (``beta``-VAE for ``beta != 1``) trained on ``X: (N, D)`` in ``[0, 1]``, cached.

    Recipe: Adam (``lr``), mini-batches of ``batch_size``, ``epochs`` passes, loss
    ``vae_loss(..., beta)``, seeded by ``seed``. Cached like ``pretrained_autoencoder``.
    """
    cfg = _train_config("VAE", X, hidden, latent_dim, epochs, batch_size, lr, loss="bce", beta=float(beta),
                        init="glorot")

    def build() -> VAE:
        return VAE(cfg["in_dim"], cfg["hidden"], cfg["latent_dim"])

    def train(model: nn.Module) -> dict:
        return fit(model, X, vae_objective(beta), epochs, lr=lr, batch_size=batch_size, callbacks=callbacks,
                   device=device, progress=progress, seed=seed, desc=f"VAE d={latent_dim} beta={beta:g}")

    name = f"vae-d{latent_dim}" + ("" if beta == 1 else f"-beta{beta:g}")
    return cached(name, cfg, build, train, seed=seed, on_load=on_load, device=device, verbose=verbose)


# --------------------------------------------------------------------------------------------
# Next-frame prediction (week 07): training by steps, evaluation, memory
# --------------------------------------------------------------------------------------------

def _clip_batch(data: Any, batch_size: int, n_frames: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` clips of ``n_frames`` consecutive frames from random sequences and start times."""
    if callable(data):
        return data(batch_size, generator)
    idx = torch.randint(len(data), (batch_size,), generator=generator)
    start = int(torch.randint(0, data.shape[1] - n_frames + 1, (1,), generator=generator))
    return data[idx, start:start + n_frames]


def train_predictor(
    model: nn.Module,
    data: torch.Tensor | Callable[[int, torch.Generator], torch.Tensor],
    steps: int,
    *,
    loss: str = "L_0",
    n_frames: int = 10,
    extrap_start: int | None = None,
    batch_size: int = 8,
    lr: float = 1e-3,
    lr_drop_at: int | None = None,
    log_every: int = 50,
    callbacks: Sequence[Callback] = (),
    device: torch.device | str | None = None,
    progress: bool = True,
    seed: int = 0,
    desc: str = "training",
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, list[float | None]]:
    """Train a next-frame predictor (``PredNet`` or ``ConvLSTMPredictor``) for ``steps`` Adam steps.

    Its own loop, not ``loop.run_epochs``: there are no epochs, each step draws random clips (random
    sequences and start times) and the learning rate drops at a step; it logs every ``log_every``
    steps with ``append_history`` and stops with ``TrainingDiverged`` as the course's loop does.

    Args:
        data: sequences ``(N, T, C, H, W)`` in [0, 1], from which each step draws ``batch_size``
            clips of ``n_frames`` frames (random sequences and start times, from a generator seeded
            with ``seed``), or ``data(batch_size, generator) -> (B, n_frames, C, H, W)``.
        loss: ``"L_0"`` or ``"L_all"``: ``prednet_loss`` of the error units with those layer weights
            and ``time_weights(n_frames)`` (teacher forcing: every frame is given); ``"MSE"``: the
            squared error of the predicted frames (``frame_loss(..., "MSE")``, same time weights).
        extrap_start: train extrapolation instead: frames from ``extrap_start`` on are not given and
            the loss is ``frame_loss`` of the predictions against the frames, L1 (the reference's
            extrapolation fine-tuning) unless ``loss="MSE"``.
        lr_drop_at: from this step on the learning rate is ``lr / 10`` (the reference drops it once).
        log_every: every ``log_every`` steps the mean loss of those steps is logged as one "epoch"
            and the callbacks are called (``callback(epoch, model, logs)``, ``logs["step"]`` the step).
        loss_fn: ``(errors, layer_w, time_w) -> loss`` for ``"L_0"`` / ``"L_all"`` in place of
            ``prednet_loss`` (e.g. the one written in the notebook).

    Returns the history (``fit``'s format: ``epoch``, ``step``, ``loss`` and what callbacks add).
    Raises ``TrainingDiverged`` on a NaN or infinite loss.
    """
    from course_utils.models import prednet as pn

    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps={steps!r}; expected a non-negative int.")
    if log_every < 1:
        raise ValueError(f"log_every={log_every}; expected a positive int.")
    if not callable(data):
        if not isinstance(data, torch.Tensor) or data.ndim != 5:
            raise ValueError(f"data has shape {tuple(getattr(data, 'shape', ()))}; expected sequences "
                             "(N, T, C, H, W) or a function (batch_size, generator) -> clips.")
        if data.shape[1] < n_frames:
            raise ValueError(f"sequences have {data.shape[1]} frames; n_frames={n_frames} needs at least that many.")
    if extrap_start is not None and not 0 < extrap_start < n_frames:
        raise ValueError(f"extrap_start={extrap_start}; expected 0 < extrap_start < n_frames={n_frames}.")
    device = torch.device(device) if device is not None else course_config.get_device()
    model.to(device)
    if loss not in ("L_0", "L_all", "MSE"):
        raise ValueError(f"loss={loss!r}; expected 'L_0', 'L_all' or 'MSE'.")
    n_layers = getattr(model, "n_layers", 1)
    layer_w = pn.layer_weights(n_layers, "L_0" if loss == "MSE" else loss).to(device)
    time_w = pn.time_weights(n_frames).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    history: dict[str, list[float | None]] = {"epoch": []}
    total, count = 0.0, 0
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=True)
    try:
        for step in range(1, steps + 1):
            if lr_drop_at is not None and step == lr_drop_at + 1:
                for group in optimizer.param_groups:
                    group["lr"] = lr / 10
            model.train()
            x = _clip_batch(data, batch_size, n_frames, generator).to(device)
            if extrap_start is None and loss != "MSE":
                _, errors = model(x)
                value = (loss_fn or pn.prednet_loss)(errors, layer_w, time_w)
            else:
                predictions, _ = model(x, extrap_start=extrap_start)
                value = pn.frame_loss(predictions, x, time_w, "MSE" if loss == "MSE" else "L1")
            v = float(value.detach())
            if not math.isfinite(v):
                raise TrainingDiverged(_diverged_message("loss", v, step // log_every + 1, step, steps, optimizer))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            total, count = total + v, count + 1
            bar.update(1)
            if step % log_every == 0 or step == steps:
                logs: dict[str, Any] = {"step": step, "loss": total / count}
                total, count = 0.0, 0
                model.eval()
                epoch = len(history["epoch"]) + 1
                for callback in callbacks:
                    callback(epoch, model, logs)
                append_history(history, epoch, logs)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, float)}, refresh=False)
    finally:
        bar.close()
    model.eval()
    return history


@torch.no_grad()
def predict_frames(model: nn.Module, sequences: torch.Tensor, extrap_start: int | None = None,
                   batch_size: int = 100) -> torch.Tensor:
    """The model's predictions for ``sequences: (N, T, C, H, W)``, on the CPU: teacher-forced
    (``extrap_start=None``: frame ``t`` predicted from the true frames before it) or extrapolated
    from ``extrap_start`` on (its own predictions fed back in)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model(sequences[i:i + batch_size].to(device), extrap_start=extrap_start)[0].cpu()
           for i in range(0, len(sequences), batch_size)]
    return torch.cat(out)


def predictor_scores(model: nn.Module, sequences: torch.Tensor, n_in: int = 10,
                     batch_size: int = 100) -> dict[str, Any]:
    """Next-frame and extrapolation scores of a predictor on ``sequences: (N, T, C, H, W)``.

    ``"next"``: frames ``n_in..T-1``, each predicted from all the true frames before it (t+1);
    ``"extrap"``: the same frames predicted after seeing only frames ``0..n_in-1``. Each holds
    ``mse``, ``ssim``, ``psnr`` per target frame (``metrics.frame_mse`` etc.: arrays of ``T - n_in``)
    and ``predictions``. Compare with ``metrics.prediction_baselines(sequences, n_in)``.
    """
    from course_utils import metrics

    out: dict[str, Any] = {}
    for name, start in (("next", None), ("extrap", n_in)):
        pred = predict_frames(model, sequences, extrap_start=start, batch_size=batch_size)[:, n_in:]
        target = sequences[:, n_in:]
        out[name] = {"mse": metrics.frame_mse(pred, target), "ssim": metrics.frame_ssim(pred, target),
                     "psnr": metrics.frame_psnr(pred, target), "predictions": pred}
    return out


def training_memory(model: nn.Module, clips: torch.Tensor, loss: str = "L_0") -> dict[str, Any]:
    """What one training step of ``model`` on ``clips`` holds in memory, in bytes.

    On a GPU: the peak allocated during the step (``torch.cuda.max_memory_allocated``). On the CPU,
    where PyTorch keeps no such counter: the tensors autograd saves for the backward pass (counted
    once per storage) plus the weights, their gradients and Adam's two moments (4 x the parameter
    bytes). The CPU number is a floor on the real peak (temporaries come and go) but it is exact,
    repeatable and grows with the same things: batch, frames, resolution, channels.
    Returns ``{"bytes": ..., "activations": ..., "parameters": ..., "how": ...}``.
    """
    from course_utils.models import prednet as pn

    device = next(model.parameters()).device
    clips = clips.to(device)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    layer_w = pn.layer_weights(getattr(model, "n_layers", 1), "L_0" if loss == "MSE" else loss).to(device)
    time_w = pn.time_weights(clips.shape[1]).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        _, errors = model(clips)
        pn.prednet_loss(errors, layer_w, time_w).backward()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        model.zero_grad(set_to_none=True)
        return {"bytes": int(peak + 3 * param_bytes), "activations": int(peak), "parameters": int(param_bytes),
                "how": "CUDA peak of one step + Adam state"}
    seen: dict[int, int] = {}
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                seen[storage.data_ptr()] = storage.nbytes()
        except Exception:  # noqa: BLE001 - a tensor without storage counts nothing
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, errors = model(clips)
        value = pn.prednet_loss(errors, layer_w, time_w)
    value.backward()
    model.zero_grad(set_to_none=True)
    activations = sum(seen.values())
    return {"bytes": int(activations + 4 * param_bytes), "activations": int(activations),
            "parameters": int(param_bytes), "how": "saved for backward + weights, gradients, Adam moments"}
