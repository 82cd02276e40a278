"""Non-parametric clustering that infers the number of clusters (week 06).

**NMMC**, non-parametric maximum-margin clustering, as we reconstruct it from Gang Chen, "Deep
Learning with Nonparametric Clustering" (arXiv 1501.03084, 2015; its abstract: a maximum-margin,
discriminative clustering in the DBN's code space that infers the number of clusters and is trained
online) and its follow-up by Chen, Zhang & Xiong, "Maximum Margin Dirichlet Process Mixtures for
Clustering" (AAAI 2016: a Dirichlet-process prior over the assignments, one classifier per cluster,
online passive-aggressive updates). The week-06 notebook says which parts are ours and why.

Each cluster ``k`` has a weight vector ``w_k`` and a size ``n_k``. Its linear score for a code ``x`` is

    f_k(x) = w_k . x - ||w_k||^2 / 2           (a linear classifier whose bias is tied to its weight)

so ``f_k(x) = (||x||^2 - ||x - w_k||^2) / 2``: the weight vector is also the cluster's position.
Points are visited one at a time; a point (with the sizes counted without it) scores

    s_k(x)   = f_k(x) + prior * log n_k          for every non-empty cluster k
    s_new(x) = ||x||^2 / 2 - lam / 2              for a new cluster founded at x (w = x), at cost lam

and joins ``argmax_k s_k`` unless ``s_new`` is larger (a tie joins). Multiplied by ``1 / prior``
these are the log-weights of the Chinese restaurant process with Gaussian clusters of variance
``prior`` (``log n_k`` against ``log alpha``), so ``lam`` plays the part of the DP concentration
(``lam = -2 prior log alpha`` up to a constant) and ``prior * log n_k`` favours larger clusters; the
most probable choice is taken instead of a sample (a MAP, "small-variance" Gibbs step). With
``prior = 0`` the rule is DP-means'.

After the choice, the cluster's weight takes an online-mean step ``w_z += (x - w_z) / n_z`` and then
one passive-aggressive step (PA-I, Crammer et al., JMLR 2006) on the multi-class hinge loss of ``z``
against its best rival ``r = argmax_{k != z} f_k(x)``:

    loss = max(0, margin - (f_z(x) - f_r(x))),   g_z = x - w_z,   g_r = x - w_r   (the gradients)
    tau  = min(C, loss / (||g_z||^2 + ||g_r||^2)),   w_z += tau g_z,   w_r -= tau g_r

Clusters that lose all their points are dropped after every pass.

**DP-means** (Kulis & Jordan, ICML 2012): k-means in which a point farther than ``lam`` (squared
distance) from every centre opens a new cluster; the small-variance limit of a DP mixture of
Gaussians.

Shapes: ``X: (N, d)`` codes (``standardize_codes``), ``W: (K, d)`` weights, ``counts: (K,)``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from course_utils import settings as course_settings
from course_utils.progress import tqdm
from course_utils.loop import run_epochs

__all__ = ["standardize_codes", "cluster_scores", "assign_or_open", "hinge_update", "NMMC", "fit_nmmc",
           "nmmc_predict", "dp_means", "relabel", "merge_by_margin", "NMMC_DEFAULTS", "MERGE_SHARE",
           "hinge_objective", "finetune_encoder", "dp_gmm", "DP_MEANS_LAM",
           "FINETUNE_DEFAULTS"]

#: NMMC's, DP-means' and fine-tuning's defaults live in ``settings.py`` with every other setting of
#: the course (why these values: there); here under the names this module has always used.
NMMC_DEFAULTS = course_settings.NMMC
MERGE_SHARE = course_settings.NMMC_MERGE_SHARE
DP_MEANS_LAM = course_settings.DP_MEANS_LAM
FINETUNE_DEFAULTS = course_settings.FINETUNE


def standardize_codes(H: Any, mean: np.ndarray | None = None, scale: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """Codes centred on ``mean`` and divided by ``scale`` (defaults: the codes' own mean, and the
    root of their mean squared distance to it), so that the mean of ``||x||^2`` is 1 and the penalty
    ``lam`` means the same for any network. Returns ``(X: (N, d) float64, mean, scale)``."""
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or len(H) == 0:
        raise ValueError(f"codes have shape {H.shape}; expected (N, d) with N >= 1.")
    mean = H.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float64)
    Z = H - mean
    if scale is None:
        scale = float(np.sqrt((Z ** 2).sum(axis=1).mean()))
    return Z / max(scale, 1e-12), mean, float(scale)


def cluster_scores(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``f_k(x) = w_k . x - ||w_k||^2 / 2`` for every row of ``W: (K, d)``; ``(K,)``."""
    return W @ x - 0.5 * (W ** 2).sum(axis=1)


def assign_or_open(x: np.ndarray, W: np.ndarray, counts: np.ndarray, lam: float, prior: float = 0.001) -> int:
    """The NMMC assignment rule for one point ``x: (d,)``: the index of the cluster it joins, or
    ``K = len(W)`` to open a new one. ``s_k = f_k(x) + prior * log n_k`` over the clusters with
    ``n_k > 0`` (the others cannot be joined); a new cluster scores ``||x||^2 / 2 - lam / 2``; a tie joins."""
    K = len(W)
    alive = counts > 0
    if K == 0 or not alive.any():
        return K
    scores = np.full(K, -np.inf)
    scores[alive] = cluster_scores(x, W[alive]) + prior * np.log(counts[alive])
    best = int(np.argmax(scores))
    return best if scores[best] >= 0.5 * (x @ x) - 0.5 * lam else K


def hinge_update(W: np.ndarray, x: np.ndarray, z: int, margin: float = 0.1, C: float = 0.1) -> np.ndarray:
    """One PA-I step on the multi-class hinge loss of cluster ``z`` for ``x``; returns a new ``W``.

    Rival ``r = argmax_{k != z} f_k(x)``; ``loss = max(0, margin - (f_z(x) - f_r(x)))``; with the
    gradients ``g_z = x - w_z`` and ``g_r = x - w_r`` of ``f_z`` and ``f_r``,
    ``tau = min(C, loss / (||g_z||^2 + ||g_r||^2))``, ``w_z += tau g_z``, ``w_r -= tau g_r``. With
    fewer than two clusters there is no rival and nothing changes. ``W`` itself is not modified.
    """
    W = np.array(W, dtype=np.float64, copy=True)
    if len(W) < 2:
        return W
    scores = cluster_scores(x, W)
    rivals = scores.copy()
    rivals[z] = -np.inf
    r = int(np.argmax(rivals))
    loss = max(0.0, margin - (scores[z] - scores[r]))
    if loss == 0.0:
        return W
    g_z, g_r = x - W[z], x - W[r]
    norm = float(g_z @ g_z + g_r @ g_r)
    if norm == 0.0:
        return W
    tau = min(C, loss / norm)
    W[z] += tau * g_z
    W[r] -= tau * g_r
    return W


class NMMC:
    """A fitted NMMC: ``W: (K, d)``, ``counts: (K,)``, ``labels: (N,)``, the settings and the history."""

    def __init__(self, W: np.ndarray, counts: np.ndarray, labels: np.ndarray, history: dict[str, list],
                 settings: dict[str, float]) -> None:
        self.W, self.counts, self.labels, self.history, self.settings = W, counts, labels, history, settings

    @property
    def n_clusters(self) -> int:
        return int((self.counts > 0).sum())

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Assign codes ``X: (N, d)`` to the fitted clusters (no new ones): ``argmax_k s_k``."""
        return nmmc_predict(X, self.W, self.counts, self.settings.get("prior", 0.0))

    def __repr__(self) -> str:
        return f"NMMC(K={self.n_clusters}, {', '.join(f'{k}={v:g}' for k, v in self.settings.items())})"


def _all_scores(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``f_k(x)`` for every row of ``X: (N, d)`` and of ``W: (K, d)``: ``(N, K)``."""
    return X @ W.T - 0.5 * (W ** 2).sum(1)[None, :]


def nmmc_predict(X: np.ndarray, W: np.ndarray, counts: np.ndarray, prior: float = 0.0) -> np.ndarray:
    """``argmax_k (f_k(x) + prior log n_k)`` for every row of ``X``, over the non-empty clusters."""
    alive = counts > 0
    scores = _all_scores(X, W)
    scores = scores + np.where(alive, prior * np.log(np.maximum(counts, 1)), -np.inf)[None, :]
    return scores.argmax(axis=1)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered ``0..K-1`` by decreasing cluster size (ties: the smaller old label first)."""
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    order = values[np.argsort(-counts, kind="stable")]
    lookup = np.empty(values.max() + 1 if len(values) else 0, dtype=np.int64)
    lookup[order] = np.arange(len(order))
    return lookup[labels]


def fit_nmmc(
    X: np.ndarray,
    lam: float = NMMC_DEFAULTS["lam"],
    prior: float = NMMC_DEFAULTS["prior"],
    margin: float = NMMC_DEFAULTS["margin"],
    C: float = NMMC_DEFAULTS["C"],
    passes: int = NMMC_DEFAULTS["passes"],
    seed: int = 0,
    assign: Callable[..., int] = assign_or_open,
    update: Callable[..., np.ndarray] = hinge_update,
    callback: Callable[[int, dict[str, Any]], Any] | None = None,
    progress: bool = True,
) -> NMMC:
    """Online NMMC on codes ``X: (N, d)`` (standardised, see ``standardize_codes``).

    Each pass visits the points in a new random order: a point leaves its cluster (``n_k - 1``), is
    assigned by ``assign(x, W, counts, lam, prior)`` (join, or open a cluster founded at ``x``), its
    cluster's weight takes the online-mean step, and then ``update(W, x, z, margin, C)`` (the hinge
    step). Empty clusters are dropped after each pass. ``callback(pass, logs)`` gets ``n_clusters``,
    ``opened`` and ``changed`` (points that moved). The notebook passes the student's functions.

    Its own loop, not ``loop.run_epochs``: one point at a time in NumPy, with no optimiser and no
    batches, and a pass ends by dropping empty clusters; its history counts passes, not epochs.
    (The fine-tuning that follows, ``finetune_encoder``, runs in the course's loop.)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X has shape {X.shape}; expected (N, d) codes with N >= 1 (see standardize_codes).")
    if lam <= 0:
        raise ValueError(f"lam={lam}: the cost of a new cluster must be a positive squared distance.")
    if passes < 1:
        raise ValueError(f"passes={passes}: NMMC needs at least one pass over the data.")
    rng = np.random.default_rng(seed)
    N, d = X.shape
    W = np.zeros((0, d))
    counts = np.zeros(0, dtype=np.int64)
    labels = np.full(N, -1, dtype=np.int64)
    history: dict[str, list] = {"pass": [], "n_clusters": [], "opened": [], "changed": []}
    bar = tqdm(total=passes, desc="NMMC passes", leave=False, disable=not progress)
    for p in range(1, passes + 1):
        opened = changed = 0
        for i in rng.permutation(N):
            x, old = X[i], labels[i]
            if old >= 0:
                counts[old] -= 1
            k = assign(x, W, counts, lam, prior)
            if k is None or not isinstance(k, (int, np.integer)) or not 0 <= k <= len(W):
                raise ValueError(f"assign returned {k!r}; it must be an int: a cluster index 0..{len(W) - 1}, "
                                 f"or {len(W)} to open a new cluster.")
            k = int(k)
            if k == len(W):
                W = np.vstack([W, x[None, :]])
                counts = np.append(counts, 0)
                opened += 1
            counts[k] += 1
            labels[i] = k
            changed += int(k != old)
            W[k] += (x - W[k]) / counts[k]
            W = update(W, x, k, margin, C)
            if not isinstance(W, np.ndarray) or W.shape != (len(counts), d):
                raise ValueError(f"update returned {type(W).__name__} {getattr(W, 'shape', '')}; expected the "
                                 f"new weights, an array of shape ({len(counts)}, {d}).")
        keep = counts > 0
        W, counts, labels = W[keep], counts[keep], (np.cumsum(keep) - 1)[labels]
        logs = {"n_clusters": int(len(W)), "opened": opened, "changed": changed}
        history["pass"].append(p)
        for key, value in logs.items():
            history[key].append(value)
        if callback is not None:
            callback(p, logs)
        bar.update(1)
    bar.close()
    settings = {"lam": float(lam), "prior": float(prior), "margin": float(margin), "C": float(C)}
    return NMMC(W, counts, labels, history, settings)


def merge_by_margin(X: np.ndarray, labels: np.ndarray, margin: float = NMMC_DEFAULTS["margin"],
                    share: float = MERGE_SHARE) -> tuple[np.ndarray, dict[str, list]]:
    """Merge clusters whose boundary runs through a crowd: NMMC's clusters, joined after its passes.

    ``X: (N, d)`` codes, ``labels: (N,)`` cluster ids (NMMC's, any ints). Each cluster sits at the
    mean of its codes ``c_k`` and scores ``f_k(x) = c_k . x - ||c_k||^2 / 2``, NMMC's tied-bias score;
    a group of merged clusters scores the best of its members' scores, so a group can be any shape.
    Each round, every point's best group ``a`` and runner-up ``b`` are found, and the point is a
    *margin violator* of the boundary ``a | b`` when ``f_a(x) - f_b(x) < margin``: the hinge step
    would still push it, were the weights at these means. The pair whose violators are the largest share of the smaller group's
    size is merged, as long as that share is at least ``share``; then the next round. A boundary
    with few points inside the margin runs through a gap between clusters, as a maximum-margin
    boundary should; one with many runs through a single cluster that the online passes cut.

    Returns ``(labels (N,) renumbered 0..K-1 by decreasing size, history)``, where ``history``
    has ``n_clusters`` (before each round) and ``share`` (that round's largest share; the last
    entry is the one below ``share`` that stopped the merging, absent when one group is left).
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X has shape {X.shape}; expected (N, d) codes with N >= 1.")
    if labels.shape != (len(X),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels has shape {labels.shape} and dtype {labels.dtype}; expected {len(X)} integer "
                         "cluster ids, one per row of X (NMMC's labels).")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values; encode the data again (see standardize_codes).")
    if margin <= 0 or share <= 0:
        raise ValueError(f"margin={margin}, share={share}: both must be positive.")
    _, labels = np.unique(labels, return_inverse=True)
    K = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=K)
    centres = np.zeros((K, X.shape[1]))
    np.add.at(centres, labels, X)
    centres /= sizes[:, None]
    F = _all_scores(X, centres)                                     # (N, K) scores f_k(x)
    groups = [[k] for k in range(K)]
    history: dict[str, list] = {"n_clusters": [], "share": []}
    rows = np.arange(len(X))
    best = np.zeros(len(X), dtype=np.int64)
    while len(groups) > 1:
        G = np.stack([F[:, g].max(axis=1) for g in groups], axis=1)
        top2 = np.argsort(-G, axis=1, kind="stable")[:, :2]
        best, second = top2[:, 0], top2[:, 1]
        inside = G[rows, best] - G[rows, second] < margin
        n = np.bincount(best, minlength=len(groups))
        V = np.zeros((len(groups), len(groups)))
        np.add.at(V, (best[inside], second[inside]), 1)
        V = V + V.T
        S = V / np.maximum(np.minimum.outer(n, n), 1)
        np.fill_diagonal(S, -1.0)
        i, j = np.unravel_index(int(np.argmax(S)), S.shape)
        history["n_clusters"].append(len(groups))
        history["share"].append(float(S[i, j]))
        if S[i, j] < share:
            break
        groups[min(i, j)] = groups[min(i, j)] + groups[max(i, j)]
        del groups[max(i, j)]
    if len(groups) == 1:
        best = np.zeros(len(X), dtype=np.int64)
    return relabel(best), history


def dp_means(X: np.ndarray, lam: float, max_iter: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """DP-means (Kulis & Jordan 2012) on ``X: (N, d)`` with new-cluster cost ``lam`` (a squared distance).

    Starts with one cluster at the mean; each iteration visits the points in order, opening a
    cluster at a point whose squared distance to every centre exceeds ``lam``, then recomputes the
    centres and drops empty clusters; stops when no label changes. Returns ``(labels: (N,), centers: (K, d))``.
    """
    X = np.asarray(X, dtype=np.float64)
    if lam <= 0:
        raise ValueError(f"lam={lam}: the new-cluster cost must be a positive squared distance.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    centers = X.mean(axis=0, keepdims=True)
    labels = np.zeros(len(X), dtype=np.int64)
    sq_norms = (X ** 2).sum(1)
    for _ in range(max_iter):
        old = labels.copy()
        for i in order:
            d2 = sq_norms[i] - 2 * centers @ X[i] + (centers ** 2).sum(1)
            k = int(np.argmin(d2))
            if d2[k] > lam:
                centers = np.vstack([centers, X[i]])
                k = len(centers) - 1
            labels[i] = k
        K = len(centers)
        counts = np.bincount(labels, minlength=K)
        keep = counts > 0
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, X)
        centers = sums[keep] / counts[keep, None]
        labels = (np.cumsum(keep) - 1)[labels]
        if len(old) and np.array_equal(labels, old):
            break
    return labels, centers


def hinge_objective(codes: torch.Tensor, labels: torch.Tensor, W: torch.Tensor,
                    margin: float = 1.0) -> torch.Tensor:
    """The multi-class hinge loss of NMMC, differentiable: ``mean_i max(0, margin - (f_{z_i} - max_{k != z_i} f_k))``
    for codes ``(B, d)`` (standardised), cluster labels ``(B,)`` and weights ``W: (K, d)``; 0-d tensor."""
    f = codes @ W.T - 0.5 * (W ** 2).sum(dim=1)[None, :]                     # (B, K)
    own = f.gather(1, labels[:, None]).squeeze(1)
    rival = f.scatter(1, labels[:, None], float("-inf")).max(dim=1).values
    return torch.relu(margin - (own - rival)).mean()


def finetune_encoder(
    encoder: torch.nn.Module,
    X: torch.Tensor,
    labels: np.ndarray,
    W: np.ndarray,
    mean: np.ndarray,
    scale: float,
    epochs: int = 10,
    lr: float = FINETUNE_DEFAULTS["lr"],
    margin: float = FINETUNE_DEFAULTS["margin"],
    batch_size: int = 256,
    seed: int = 0,
    callback: Callable[[int, dict[str, float]], Any] | None = None,
) -> dict[str, list]:
    """The paper's step 3: refine the unrolled DBN ``encoder`` (in place) with NMMC's objective.

    The clusters ``labels`` found on the DBN's codes are held fixed; the encoder and the weight
    vectors ``W`` (a copy, returned in the history as ``"W"``) are trained with Adam on
    ``hinge_objective`` of the standardised codes ``(encoder(x) - mean) / scale``, so that every
    image scores higher for its own cluster than for any other by ``margin``. Returns the history:
    ``epoch``, ``loss`` (mean hinge loss per epoch), ``violations`` (fraction of images whose margin
    is not met at the end of the epoch) and ``W``.
    """
    if len(labels) != len(X):
        raise ValueError(f"{len(labels)} labels for {len(X)} images; give one cluster label per image.")
    g = torch.Generator().manual_seed(seed)
    device = next(encoder.parameters()).device
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device)
    Wt = torch.nn.Parameter(torch.as_tensor(W, dtype=torch.float32, device=device).clone())
    z = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device)
    opt = torch.optim.Adam(list(encoder.parameters()) + [Wt], lr=lr)
    N = len(X)

    def step(idx: torch.Tensor, epoch: int, _: int) -> tuple[dict[str, float], int]:
        codes = (encoder(X[idx].to(device)) - mean_t) / scale
        loss = hinge_objective(codes, z[idx], Wt, margin)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}, len(idx)   # the mean over all N images

    def violations(epoch: int, model: torch.nn.Module, logs: dict) -> None:
        with torch.no_grad():
            codes = (encoder(X.to(device)) - mean_t) / scale
            f = codes @ Wt.T - 0.5 * (Wt ** 2).sum(1)[None, :]
            own = f.gather(1, z[:, None]).squeeze(1)
            rival = f.scatter(1, z[:, None], float("-inf")).max(1).values
            logs["violations"] = float(((own - rival) < margin).float().mean())
        if callback is not None:
            callback(epoch, logs)

    # the course's loop (loop.run_epochs)
    history = run_epochs(encoder, epochs, lambda epoch: torch.randperm(N, generator=g).split(batch_size), step,
                         callbacks=[violations], progress=True, desc="fine-tuning", leave=False)
    history["W"] = Wt.detach().cpu().numpy().astype(np.float64)
    return history


def dp_gmm(Z: np.ndarray, gamma: float = 1.0, truncation: int = 30, seed: int = 0,
           max_iter: int = 300) -> tuple[np.ndarray, int]:
    """A Dirichlet-process Gaussian mixture (scikit-learn's variational ``BayesianGaussianMixture``,
    diagonal covariances, at most ``truncation`` components, concentration ``gamma``) on ``Z: (N, d)``.
    Returns ``(labels: (N,), k)`` with ``k`` the number of components used (most probable for at
    least one point)."""
    from sklearn.mixture import BayesianGaussianMixture

    model = BayesianGaussianMixture(n_components=truncation, covariance_type="diag",
                                    weight_concentration_prior_type="dirichlet_process",
                                    weight_concentration_prior=gamma, max_iter=max_iter, random_state=seed)
    labels = model.fit(Z).predict(Z)
    return labels, int(len(np.unique(labels)))
