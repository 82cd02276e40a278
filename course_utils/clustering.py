"""Reference implementations of week 01's k-means and EM steps (vectorised NumPy).

These compute exactly what the week-01 solution notebook computes, in the same way, so that a
notebook whose exercise is not done yet can fall back on them (see
``course_utils.checks.week01.reference_if_unfinished``) and still give the solution's results.

Shapes: ``X: (N, D)`` points, ``centers: (K, D)``, ``labels: (N,)`` integers in ``0..K-1``,
``weights: (K,)``, ``means: (K, D)``, ``variances: (K, D)`` (diagonal covariances),
``resp: (N, K)`` responsibilities (rows sum to 1).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

__all__ = ["assign_clusters", "update_centers", "e_step", "m_step", "fit_diag_gmm", "diag_gmm_from_kmeans"]


def assign_clusters(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """k-means assignment step: ``z_n = argmin_k ||x_n - mu_k||^2``.

    ``X: (N, D)``, ``centers: (K, D)``; returns ``(N,)`` integer labels. ``||x_n||^2`` is the same
    for every ``k`` and is left out of the scores (it cannot change the argmin); the cross term is
    one matrix product, so no ``(N, K, D)`` array is built.
    """
    scores = (centers ** 2).sum(axis=1)[None, :] - 2.0 * (X @ centers.T)   # (N, K)
    return scores.argmin(axis=1)


def update_centers(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """k-means update step: a new ``(K, D)`` array of cluster means.

    Row ``k`` is the mean of the rows of ``X`` with ``labels == k``; a cluster with no points
    keeps its old centre ``centers[k]``. ``K`` is ``centers.shape[0]``; ``centers`` is not modified.
    """
    K = centers.shape[0]
    one_hot = (labels[:, None] == np.arange(K)[None, :]).astype(X.dtype)   # R: (N, K)
    N_k = one_hot.sum(axis=0)                                              # (K,) cluster sizes
    sums = one_hot.T @ X                                                   # (K, D) per-cluster sums
    new_centers = np.array(centers, dtype=X.dtype, copy=True)
    filled = N_k > 0
    new_centers[filled] = sums[filled] / N_k[filled, None]
    return new_centers


def e_step(X: np.ndarray, weights: np.ndarray, means: np.ndarray,
           variances: np.ndarray) -> tuple[np.ndarray, float]:
    """E-step of EM for a diagonal Gaussian mixture, in log space.

    ``X: (N, D)``, ``weights: (K,)``, ``means: (K, D)``, ``variances: (K, D)``. Returns
    ``(log_resp, log_likelihood)``: ``log_resp: (N, K)`` with ``log r_nk = l_nk - logsumexp_j l_nj``
    where ``l_nk = log w_k + log N(x_n | mu_k, diag var_k)``, and ``log_likelihood`` the float
    ``sum_n logsumexp_k l_nk``. The squared distances are expanded, so no ``(N, K, D)`` array.
    """
    N, D = X.shape
    precision = 1.0 / variances                                              # (K, D)
    mahalanobis = ((X ** 2) @ precision.T - 2.0 * (X @ (means * precision).T)
                   + (means ** 2 * precision).sum(axis=1)[None, :])           # (N, K)
    log_norm = -0.5 * (D * np.log(2.0 * np.pi) + np.log(variances).sum(axis=1))   # (K,)
    log_joint = np.log(weights)[None, :] + log_norm[None, :] - 0.5 * mahalanobis  # (N, K)
    log_px = logsumexp(log_joint, axis=1)                                    # (N,)
    return log_joint - log_px[:, None], float(log_px.sum())


def m_step(X: np.ndarray, resp: np.ndarray,
           reg: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """M-step of EM for a diagonal Gaussian mixture (maximum-likelihood estimates).

    ``X: (N, D)``, ``resp: (N, K)`` responsibilities (probabilities, rows sum to 1), ``reg``
    added to every variance. Returns ``weights (K,) = N_k / N``, ``means (K, D) = sum_n r_nk x_n
    / N_k`` and ``variances (K, D) = sum_n r_nk (x_nd - mu_kd)^2 / N_k + reg``, with
    ``N_k = sum_n r_nk``; tiny negative values that rounding leaves where a variance is 0 are
    clipped to 0 before ``reg`` is added.
    """
    N = X.shape[0]
    N_k = resp.sum(axis=0)                                        # (K,) soft counts
    weights = N_k / N
    means = (resp.T @ X) / N_k[:, None]
    variances = np.maximum((resp.T @ X ** 2) / N_k[:, None] - means ** 2, 0.0) + reg
    return weights, means, variances


def _checked_codes(Z: np.ndarray) -> np.ndarray:
    """``Z`` as float64 ``(N, d)`` codes; ``ValueError`` on another shape or on NaN / inf."""
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"Z has shape {Z.shape}; expected (N, d) codes.")
    if not np.isfinite(Z).all():
        raise ValueError("Z contains NaN or inf; the encoder has probably diverged.")
    return Z


def fit_diag_gmm(Z: np.ndarray, n_clusters: int, seed: int = 0, kmeans_restarts: int = 0,
                 reg_covar: float = 1e-6, n_init: int = 1):
    """scikit-learn's ``GaussianMixture(n_clusters, covariance_type="diag")`` fitted on ``Z: (N, d)``.

    Used by every week that fits a mixture to learned codes (AE/VAE + GMM, VaDE's start, the
    adversarial mixture prior of week 05). With ``kmeans_restarts > 0`` EM starts from the best of
    that many k-means runs (``means_init``) instead of scikit-learn's single k-means start, which on
    well-separated codes often stops in a worse partition. Fitted in float64 with
    ``random_state=seed``; returns the fitted mixture.
    """
    from sklearn.mixture import GaussianMixture

    Z = _checked_codes(Z)
    means_init = None
    if kmeans_restarts > 0:
        from sklearn.cluster import KMeans

        means_init = KMeans(n_clusters, n_init=kmeans_restarts, random_state=seed).fit(Z).cluster_centers_
    return GaussianMixture(n_clusters, covariance_type="diag", random_state=seed, reg_covar=reg_covar,
                           n_init=n_init, means_init=means_init).fit(Z)


def diag_gmm_from_kmeans(Z: np.ndarray, n_clusters: int, seed: int = 0, kmeans_restarts: int = 10,
                         reg_covar: float = 1e-6):
    """A diagonal Gaussian mixture read off the best of ``kmeans_restarts`` k-means runs, without EM.

    One M-step (``m_step``) on the hard k-means assignments: weights = cluster sizes / N, means = the
    centres, variances = each cluster's variance per dimension + ``reg_covar``. ``fit_diag_gmm``
    runs EM from the same centres, and EM can move to a worse partition: on week 03's full-mode codes
    of seed 1 it went from k-means' ACC 0.900 to 0.876. Returns a scikit-learn ``GaussianMixture``
    holding these parameters (``predict``, ``predict_proba`` and ``score`` work), fitted in float64
    with ``random_state=seed``.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    Z = _checked_codes(Z)
    if kmeans_restarts < 1:
        raise ValueError(f"kmeans_restarts={kmeans_restarts}; the mixture is read off k-means, so give 1 or more.")
    labels = KMeans(n_clusters, n_init=kmeans_restarts, random_state=seed).fit(Z).labels_
    resp = np.eye(n_clusters)[labels]                                  # (N, K) one-hot
    if (resp.sum(axis=0) == 0).any():
        raise ValueError(f"k-means left a cluster empty ({n_clusters} clusters for {len(Z)} codes); use fewer clusters.")
    weights, means, variances = m_step(Z, resp, reg=reg_covar)
    gmm = GaussianMixture(n_clusters, covariance_type="diag", random_state=seed, reg_covar=reg_covar)
    gmm.weights_, gmm.means_, gmm.covariances_ = weights, means, variances
    gmm.precisions_cholesky_ = 1.0 / np.sqrt(variances)
    gmm.n_features_in_, gmm.converged_, gmm.n_iter_ = Z.shape[1], True, 0
    gmm.lower_bound_ = float(gmm.score(Z))
    return gmm
