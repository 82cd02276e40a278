"""Self-checks for week 01: k-means, EM for a diagonal Gaussian mixture, ACC / NMI / ARI.

Every check runs the student's function on seeded random inputs and compares it with evidence
computed a different way: plain Python loops (distances, means, weighted moments),
``scipy.stats.multivariate_normal`` (the E-step), all permutations (accuracy) and
scikit-learn (NMI, ARI). When the result is wrong, the message says what is wrong (shape,
dtype, which entry, both values) and, where the result matches a known mistake, names it.

Usage in the notebook::

    from course_utils.checks import week01 as checks
    checks.check_assign_clusters(assign_clusters)
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np

from course_utils.checks._common import (
    CheckFailed,
    as_array,
    call_student,
    expect_close,
    expect_shape,
    ok,
    self_check,
)
from course_utils.checks._common import reference_by_name as _reference_by_name

__all__ = [
    "CheckFailed",
    "check_assign_clusters",
    "check_update_centers",
    "check_e_step",
    "check_m_step",
    "check_cluster_accuracy",
    "check_nmi",
    "check_ari",
    "reference_if_unfinished",
]

LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _matches(got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """True when ``got`` has ``want``'s shape, is finite and agrees entry by entry."""
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.issubdtype(got.dtype, np.number):
        return False
    got = got.astype(np.float64)
    return bool(np.all(np.isfinite(got)) and np.allclose(got, want, rtol=rtol, atol=atol))


def _scalar(value: Any, label: str, hint: str = "") -> float:
    """The student's result as one Python float, or a message saying what came back instead."""
    arr = as_array(value, label)
    if arr.size != 1:
        raise CheckFailed(
            f"{label} should be a single number, but it has shape {arr.shape}." + (f" {hint}" if hint else "")
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise CheckFailed(f"{label} should be a real number, but it has dtype {arr.dtype}.")
    return float(arr.reshape(()))


def _unpack(result: Any, n: int, fn_name: str, names: str) -> tuple:
    """Check the student returned a tuple of ``n`` things (e.g. ``(log_resp, log_likelihood)``)."""
    if not isinstance(result, (tuple, list)) or len(result) != n:
        what = "None (did you forget `return`?)" if result is None else (
            f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list))
            else f"a {type(result).__name__}"
        )
        raise CheckFailed(f"{fn_name} should return {n} values, {names}, but it returned {what}.")
    return tuple(result)


def _first_diff(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> tuple[int, ...]:
    bad = ~np.isclose(got.astype(np.float64), want, rtol=rtol, atol=atol)
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _sq_dist_loops(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(N, K) squared Euclidean distances, one pair at a time (slow on purpose: independent)."""
    N, K = X.shape[0], centers.shape[0]
    out = np.empty((N, K))
    for n in range(N):
        for k in range(K):
            out[n, k] = float(((X[n].astype(np.float64) - centers[k]) ** 2).sum())
    return out


def _blobs(rng: np.random.Generator, n: int, k: int, d: int, spread: float = 3.0,
           offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Points around ``k`` random centres, and the centres."""
    centers = rng.normal(offset, spread, size=(k, d))
    z = rng.integers(0, k, size=n)
    X = centers[z] + rng.normal(size=(n, d))
    return X, centers


def _pixels(rng: np.random.Generator, n: int = 400, k: int = 10, d: int = 784) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like data, the shapes and values the notebook passes in section 6: ``(n, 784)`` pixels
    in [0, 1] (float64), most of them exactly 0 (a border that is black in every image), drawn
    around ``k`` prototypes; and ``(n,)`` labels of the prototypes, every cluster used."""
    side = int(round(math.sqrt(d)))
    prototypes = np.zeros((k, d))
    inner = np.zeros((side, side), dtype=bool)
    inner[4:side - 4, 4:side - 4] = True
    inner = inner.reshape(-1)[:d]
    prototypes[:, inner] = rng.random((k, int(inner.sum()))) ** 3
    z = np.concatenate([np.arange(k), rng.integers(0, k, size=n - k)])
    X = np.clip(prototypes[z] + 0.15 * rng.normal(size=(n, d)) * inner, 0.0, 1.0)
    X[np.ix_(z == 0, np.flatnonzero(inner)[:40])] = 0.0   # pixels black in every image of cluster 0
    return X, z


# --------------------------------------------------------------------------------------------
# k-means
# --------------------------------------------------------------------------------------------

def _check_labels(got: Any, X: np.ndarray, centers: np.ndarray) -> None:
    N, K = X.shape[0], centers.shape[0]
    arr = as_array(got, "assign_clusters(X, centers)")
    if arr.shape != (N,):
        if arr.shape == (K,) and K != N:
            hint = ("You took the argmin over the wrong axis: over the points (axis 0) of the (N, K) "
                    "distance matrix. Take it over the centres axis (axis=1): one label per point.")
        elif arr.ndim == 2:
            hint = ("You returned a matrix (the distances?). Return one label per point: the argmin "
                    "of each row of the (N, K) distance matrix, i.e. `.argmin(axis=1)`.")
        else:
            hint = "Return one integer label per point (a 1-D array of length N)."
        raise CheckFailed(f"assign_clusters returned shape {arr.shape}, expected {(N,)} "
                          f"for X of shape {X.shape} and centers of shape {centers.shape}. {hint}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise CheckFailed(
            f"assign_clusters returned labels of dtype {arr.dtype}; labels must be integers (they "
            "are used as indices into `centers`). `np.argmin` already returns integers: don't store "
            "them in a float array, or convert with `.astype(np.int64)`."
        )
    if arr.min() < 0 or arr.max() >= K:
        raise CheckFailed(
            f"assign_clusters returned labels from {arr.min()} to {arr.max()}, but with K={K} "
            f"centres they must lie in 0..{K - 1}. Did you sum the squared differences over the "
            "wrong axis? Sum over the features (the last axis, D) so that the distance matrix has "
            "shape (N, K), then take argmin over axis=1."
        )
    d2 = _sq_dist_loops(X, centers)
    want = d2.argmin(axis=1)
    chosen = d2[np.arange(N), arr]
    nearest = d2[np.arange(N), want]
    if np.all(chosen <= nearest + 1e-9 * (1.0 + nearest)):  # equal, or a tie broken the other way
        return
    want = np.where(chosen <= nearest + 1e-9 * (1.0 + nearest), arr, want)
    n = int(np.flatnonzero(arr != want)[0])
    g, e = int(arr[n]), int(want[n])
    if np.array_equal(arr, d2.argmax(axis=1)):
        raise CheckFailed(
            "assign_clusters picked the FARTHEST centre for every point (argmax). Each point goes "
            "to its nearest centre: use argmin."
        )
    raise CheckFailed(
        f"assign_clusters is wrong for {int((arr != want).sum())} of {N} points; first at point "
        f"{n}: got label {g}, expected {e}. Squared distances from that point: to centre {g}: "
        f"{d2[n, g]:.4f}, to centre {e}: {d2[n, e]:.4f}. Use the squared Euclidean distance "
        "sum_d (x_nd - c_kd)^2 summed over the feature axis (taking a square root is fine, it does "
        "not change the argmin; absolute values or forgetting the square are not), and check that "
        "X is broadcast against every centre, e.g. X[:, None, :] - centers[None, :, :]."
    )


@self_check
def check_assign_clusters(assign_clusters: Callable) -> None:
    """``assign_clusters(X: (N, D), centers: (K, D)) -> (N,) int``: nearest centre per point."""
    rng = np.random.default_rng(101)
    cases = []
    X, C = _blobs(rng, n=60, k=3, d=5)
    cases.append((X, C + rng.normal(scale=0.5, size=C.shape)))
    X, C = _blobs(rng, n=40, k=7, d=2, spread=2.0, offset=50.0)  # far from the origin, K > D
    cases.append((X, C))
    X, _ = _blobs(rng, n=12, k=2, d=3)
    cases.append((X, X[:1] + 1.0))                                 # K = 1: everything in cluster 0
    cases.append((rng.normal(size=(1, 4)), rng.normal(size=(5, 4))))  # a single point
    X, z = _pixels(rng)                                  # as in section 6: MNIST-like pixels, K = 10
    cases.append((X, X[rng.choice(len(X), size=10, replace=False)]))
    for X, C in cases:
        got = call_student(assign_clusters, X, C, name="assign_clusters")
        _check_labels(got, X, C)
    ok(f"assign_clusters agrees with brute-force distances on {len(cases)} problems "
       "(incl. K=1, a single point and 400 MNIST-sized images), and leaves its inputs unchanged.")


def _means_loops(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    out = np.array(centers, dtype=np.float64, copy=True)
    for k in range(centers.shape[0]):
        rows = [X[n] for n in range(X.shape[0]) if labels[n] == k]
        if rows:
            out[k] = [sum(float(r[d]) for r in rows) / len(rows) for d in range(X.shape[1])]
    return out


@self_check
def check_update_centers(update_centers: Callable) -> None:
    """``update_centers(X, labels, centers) -> (K, D)``: cluster means; empty clusters keep theirs."""
    rng = np.random.default_rng(202)
    cases = []
    X = rng.normal(size=(50, 3))
    labels = rng.choice([0, 1, 2, 4], size=50)                     # cluster 3 is empty
    cases.append((X, labels, rng.normal(size=(5, 3))))
    X = rng.normal(size=(30, 2)) * 2 + 1
    labels = rng.integers(0, 3, size=30)                             # last cluster (3) is empty
    cases.append((X, labels, rng.normal(size=(4, 2))))
    X = rng.normal(size=(10, 4))
    cases.append((X, np.zeros(10, dtype=np.int64), rng.normal(size=(3, 4))))  # only cluster 0 used
    cases.append((X[:1], np.array([1]), rng.normal(size=(3, 4))))  # a single point, in cluster 1
    cases.append((X, np.zeros(10, dtype=np.int64), rng.normal(size=(1, 4))))  # K = 1 (section 5)
    X, z = _pixels(rng, n=300)                           # as in section 6: MNIST-like pixels, K = 10
    cases.append((X, z, X[:10].copy()))
    for X, labels, C in cases:
        K, D = C.shape
        got = call_student(update_centers, X, labels, C, name="update_centers")
        arr = as_array(got, "update_centers(X, labels, centers)")
        counts = np.bincount(labels, minlength=K)
        empty = [k for k in range(K) if counts[k] == 0]
        if arr.shape != (K, D):
            hint = "Return one row (a D-dimensional centre) per cluster, K = centers.shape[0]."
            if arr.ndim == 2 and arr.shape[1] == D and arr.shape[0] < K:
                hint = (f"Clusters {empty} have no points, but they still need a row: take K from "
                        "centers.shape[0], not from the labels (e.g. np.bincount(labels, minlength=K)).")
            raise CheckFailed(f"update_centers returned shape {arr.shape}, expected {(K, D)}. {hint}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise CheckFailed(
                f"update_centers returned dtype {arr.dtype}; centres are means and must be floats. "
                "Did you create the output with np.zeros_like(labels) or an integer array?"
            )
        want = _means_loops(X, labels, C)
        for k in empty:
            if np.any(np.isnan(arr[k])):
                raise CheckFailed(
                    f"Cluster {k} has no points and its new centre is NaN: the mean of zero points "
                    "is 0/0. An empty cluster must keep its old centre, centers[k]."
                )
            if not np.allclose(arr[k], C[k], rtol=1e-5, atol=1e-6):
                was = "set to zero" if np.allclose(arr[k], 0) else "changed"
                raise CheckFailed(
                    f"Cluster {k} has no points, and its centre was {was}: got {arr[k]}, expected "
                    f"its old centre {C[k]}. An empty cluster keeps its old centre."
                )
        if _matches(arr, want):
            continue
        used = [k for k in range(K) if counts[k] > 0]
        sums = want.copy()
        sums[used] = want[used] * counts[used, None]
        if _matches(arr[used], sums[used]):
            raise CheckFailed(
                "update_centers returned the SUM of each cluster's points; divide by the number of "
                "points in the cluster to get the mean."
            )
        if _matches(arr[used], np.broadcast_to(X.mean(axis=0), (len(used), D))):
            raise CheckFailed(
                "Every centre equals the mean of ALL points: select each cluster's points first, "
                "X[labels == k].mean(axis=0)."
            )
        k, d = _first_diff(arr, want, rtol=1e-5, atol=1e-6)
        raise CheckFailed(
            f"update_centers is wrong at centre {k}, coordinate {d}: got {arr[k, d]!r}, expected "
            f"{want[k, d]!r} (the mean of the {counts[k]} points with labels == {k}). The new centre "
            "of cluster k is the average of the rows of X assigned to it."
        )
    ok(f"update_centers agrees with loop-computed means on {len(cases)} problems (empty clusters, K=1, "
       "a single point, MNIST-sized images), and leaves `centers` unchanged.")


# --------------------------------------------------------------------------------------------
# EM for a diagonal Gaussian mixture
# --------------------------------------------------------------------------------------------

def _log_joint_scipy(X, weights, means, variances) -> np.ndarray:
    """(N, K) log w_k + log N(x_n | mu_k, diag var_k), one scipy call per component and point."""
    from scipy.stats import multivariate_normal

    N, K = X.shape[0], len(weights)
    out = np.empty((N, K))
    for k in range(K):
        dist = multivariate_normal(mean=means[k], cov=np.diag(variances[k]))
        for n in range(N):
            out[n, k] = math.log(weights[k]) + float(dist.logpdf(X[n]))
    return out


def _log_joint_variant(X, weights, means, variances, *, normaliser=True, two_pi=True,
                       log_weights=True, half=True, var_power=1.0) -> np.ndarray:
    """The E-step's log joint with one common mistake switched on (for diagnosis only)."""
    var = variances ** var_power
    sq = ((X[:, None, :] - means[None, :, :]) ** 2 / var[None]).sum(-1)
    out = -(0.5 if half else 1.0) * sq
    if normaliser:
        out = out - 0.5 * np.log(var).sum(-1)[None]
        if two_pi:
            out = out - 0.5 * X.shape[1] * LOG_2PI
    if log_weights:
        out = out + np.log(weights)[None]
    return out


def _normalise_log(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import logsumexp

    lse = logsumexp(a, axis=1)
    return a - lse[:, None], lse


def _gmm_case(rng: np.random.Generator, n: int, k: int, d: int):
    weights = rng.dirichlet(np.full(k, 3.0))
    means = rng.normal(scale=3.0, size=(k, d))
    variances = rng.uniform(0.3, 2.0, size=(k, d))
    z = rng.choice(k, size=n, p=weights)
    X = means[z] + np.sqrt(variances[z]) * rng.normal(size=(n, d))
    return X, weights, means, variances


def _check_e_result(result, X, weights, means, variances, far: bool,
                    want_joint: np.ndarray | None = None) -> None:
    from scipy.special import logsumexp

    N, K = X.shape[0], len(weights)
    log_resp, ll = _unpack(result, 2, "e_step", "(log_resp, log_likelihood)")
    lr = as_array(log_resp, "log_resp")
    if lr.shape != (N, K):
        hint = ("It looks transposed: rows are points (N), columns are components (K)."
                if lr.shape == (K, N) else "One row per point, one column per component.")
        raise CheckFailed(f"log_resp has shape {lr.shape}, expected {(N, K)}. {hint}")
    lr = lr.astype(np.float64)
    if want_joint is None:
        want_joint = _log_joint_scipy(X, weights, means, variances)
    want_lr, want_lp = _normalise_log(want_joint)
    want_ll = float(want_lp.sum())
    if not np.all(np.isfinite(lr)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(lr))[0])
        if far:
            raise CheckFailed(
                f"log_resp contains {lr[where]} (first at {where}) for points far from every "
                "component. There exp(log N(x|mu,var)) underflows to 0 for all k, so log(sum(exp(.))) "
                "gives -inf and the normalisation 0/0. Stay in log space: use "
                "scipy.special.logsumexp(..., axis=1) (it subtracts the row maximum before exp)."
            )
        raise CheckFailed(
            f"log_resp contains {lr[where]} (first at {where}). Compute log N(x|mu, var) directly in "
            "log space (no exp then log) and normalise with scipy.special.logsumexp."
        )
    row_lse = logsumexp(lr, axis=1)
    if not np.allclose(row_lse, 0.0, atol=1e-6):
        resp_like = np.all((lr >= -1e-9) & (lr <= 1 + 1e-9)) and np.allclose(lr.sum(1), 1.0, atol=1e-6)
        if resp_like:
            raise CheckFailed(
                "log_resp looks like the responsibilities themselves (each row sums to 1), not their "
                "logarithm. Return log r_nk; the M-step call does np.exp(log_resp)."
            )
        n = int(np.argmax(np.abs(row_lse)))
        raise CheckFailed(
            f"log_resp is not normalised: for point {n}, logsumexp over k of log_resp is "
            f"{row_lse[n]:.4g}, but it must be 0 (responsibilities sum to 1 over the components). "
            "Subtract log p(x_n) = logsumexp_k [log w_k + log N(x_n | mu_k, var_k)] from each row."
        )
    if not _matches(lr, want_lr, rtol=1e-6, atol=1e-6):
        diagnoses = [
            (dict(normaliser=False), "You left out the Gaussian's log-normaliser "
             "-0.5 * sum_d log(2*pi*var_kd); the term with log(var) differs between components, so "
             "it changes the responsibilities."),
            (dict(log_weights=False), "You left out the mixing weights: add log w_k to every "
             "component's log-density before normalising."),
            (dict(var_power=2.0), "You seem to use the variances as standard deviations (squaring "
             "them again). `variances` already holds sigma^2: divide (x - mu)^2 by var, not var^2."),
            (dict(var_power=0.5), "You seem to divide by the standard deviation sqrt(var) instead "
             "of the variance var."),
            (dict(half=False), "The exponent is missing its factor 0.5: "
             "log N = -0.5 * sum_d [log(2*pi*var_kd) + (x_nd - mu_kd)^2 / var_kd]."),
        ]
        for kwargs, hint in diagnoses:
            variant, _ = _normalise_log(_log_joint_variant(X, weights, means, variances, **kwargs))
            if _matches(lr, variant, rtol=1e-6, atol=1e-6):
                raise CheckFailed(f"log_resp is wrong. {hint}")
        n, k = _first_diff(lr, want_lr, rtol=1e-6, atol=1e-6)
        raise CheckFailed(
            f"log_resp is wrong at point {n}, component {k}: got {lr[n, k]!r}, expected "
            f"{want_lr[n, k]!r}. log r_nk = log w_k + log N(x_n | mu_k, diag var_k) - log p(x_n), "
            "with log N = -0.5 * sum_d [log(2*pi*var_kd) + (x_nd - mu_kd)^2 / var_kd]."
        )
    ll_arr = as_array(ll, "log_likelihood")
    if ll_arr.shape == (N,) and N > 1:
        raise CheckFailed(
            f"log_likelihood has shape {ll_arr.shape}: you returned log p(x_n) for every point. "
            "Return their sum over the points, a single float."
        )
    got_ll = _scalar(ll, "log_likelihood")
    if not math.isfinite(got_ll):
        raise CheckFailed(
            f"log_likelihood is {got_ll}. Compute it as the sum over points of "
            "logsumexp_k [log w_k + log N(x_n | mu_k, var_k)], never as log(sum(exp(...)))."
        )
    if math.isclose(got_ll, want_ll, rel_tol=1e-6, abs_tol=1e-6):
        return
    if math.isclose(got_ll, want_ll / N, rel_tol=1e-6, abs_tol=1e-9):
        raise CheckFailed(
            f"log_likelihood is {got_ll:.6g}, which is the per-point MEAN; return the total, the sum "
            f"over all N={N} points ({want_ll:.6g})."
        )
    no_2pi = want_ll + 0.5 * N * X.shape[1] * LOG_2PI
    if math.isclose(got_ll, no_2pi, rel_tol=1e-6, abs_tol=1e-6):
        raise CheckFailed(
            f"log_likelihood is {got_ll:.6g}, expected {want_ll:.6g}: it is missing the constant "
            "-0.5 * D * log(2*pi) per point (the Gaussian's log-normaliser). The responsibilities do "
            "not notice (the constant cancels), but the likelihood and BIC do."
        )
    no_norm = float(_normalise_log(_log_joint_variant(X, weights, means, variances,
                                                      normaliser=False))[1].sum())
    if math.isclose(got_ll, no_norm, rel_tol=1e-6, abs_tol=1e-6):
        raise CheckFailed(
            f"log_likelihood is {got_ll:.6g}, expected {want_ll:.6g}: it is computed without the "
            "log-normaliser -0.5 * sum_d log(2*pi*var_kd)."
        )
    if math.isclose(got_ll, float(want_joint.sum()), rel_tol=1e-6, abs_tol=1e-6) or math.isclose(
            got_ll, float(want_joint.max(axis=1).sum()), rel_tol=1e-6, abs_tol=1e-6):
        raise CheckFailed(
            f"log_likelihood is {got_ll:.6g}, expected {want_ll:.6g}. log p(x_n) is the logsumexp "
            "over the components of log w_k + log N(x_n|mu_k,var_k), not their sum or maximum."
        )
    raise CheckFailed(
        f"log_likelihood is {got_ll:.6g}, expected {want_ll:.6g} = sum_n logsumexp_k "
        "[log w_k + log N(x_n | mu_k, diag var_k)]."
    )


@self_check
def check_e_step(e_step: Callable) -> None:
    """``e_step(X, weights, means, variances) -> (log_resp (N, K), log_likelihood)``."""
    rng = np.random.default_rng(303)
    X, w, mu, var = _gmm_case(rng, n=25, k=3, d=2)
    result = call_student(e_step, X, w, mu, var, name="e_step")
    _check_e_result(result, X, w, mu, var, far=False)
    X, w, mu, var = _gmm_case(rng, n=20, k=4, d=3)
    result = call_student(e_step, X, w, mu, var, name="e_step")
    _check_e_result(result, X, w, mu, var, far=False)
    # Points so far from every component that exp(log density) is exactly 0.0 in float64.
    X_far = np.concatenate([rng.normal(size=(6, 3)) + 80.0, rng.normal(size=(6, 3)) - 60.0, X[:3]])
    result = call_student(e_step, X_far, w, mu, var, name="e_step")
    _check_e_result(result, X_far, w, mu, var, far=True)
    # One component (K = 1: every responsibility is 1), and one dimension (D = 1) with a far point.
    X, w, mu, var = _gmm_case(rng, n=8, k=1, d=2)
    _check_e_result(call_student(e_step, X, w, mu, var, name="e_step"), X, w, mu, var, far=False)
    X, w, mu, var = _gmm_case(rng, n=10, k=2, d=1)
    X = np.concatenate([X, [[1000.0]]])
    _check_e_result(call_student(e_step, X, w, mu, var, name="e_step"), X, w, mu, var, far=True)
    # As in section 6: 300 MNIST-like images (D = 784), K = 10, parameters from hard assignments,
    # variances down to reg = 1e-6 (black border pixels): log-densities in the thousands and beyond.
    X, z = _pixels(rng, n=300)
    w, mu, var = _moments_two_pass(X, np.eye(10)[z], 1e-6)
    _check_e_result(call_student(e_step, X, w, mu, var, name="e_step"), X, w, mu, var, far=True,
                    want_joint=_log_joint_variant(X, w, mu, var))
    ok("e_step agrees with scipy.stats.multivariate_normal on 4 mixtures (incl. K=1 and D=1), stays "
       "finite for far-away points (log-space normalisation) and on 300 MNIST-sized images, and "
       "leaves its inputs unchanged.")


def _m_step_loops(X, resp, reg):
    N, D = X.shape
    K = resp.shape[1]
    weights = np.empty(K)
    means = np.empty((K, D))
    variances = np.empty((K, D))
    for k in range(K):
        Nk = sum(float(resp[n, k]) for n in range(N))
        weights[k] = Nk / N
        for d in range(D):
            mu = sum(float(resp[n, k]) * float(X[n, d]) for n in range(N)) / Nk
            means[k, d] = mu
            variances[k, d] = sum(float(resp[n, k]) * (float(X[n, d]) - mu) ** 2 for n in range(N)) / Nk + reg
    return weights, means, variances


def _moments_two_pass(X, resp, reg):
    """Weighted moments, vectorised but computed in two passes (mean first, then the spread
    around it): independent of the one-pass formula E[x^2] - mu^2 the exercise suggests."""
    Nk = resp.sum(axis=0)
    means = np.stack([(resp[:, k:k + 1] * X).sum(axis=0) / Nk[k] for k in range(resp.shape[1])])
    variances = np.stack([(resp[:, k:k + 1] * (X - means[k]) ** 2).sum(axis=0) / Nk[k]
                          for k in range(resp.shape[1])]) + reg
    return Nk / X.shape[0], means, variances


def _check_m_result(result, X, resp, reg, label: str,
                    loops: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N, D = X.shape
    K = resp.shape[1]
    w, mu, var = _unpack(result, 3, "m_step", "(weights, means, variances)")
    w = expect_shape(w, (K,), "weights", "One mixing weight per component.").astype(np.float64)
    mu = expect_shape(mu, (K, D), "means", "One row per component.").astype(np.float64)
    var = expect_shape(var, (K, D), "variances",
                       "One row of D diagonal variances per component.").astype(np.float64)
    for name, arr in (("weights", w), ("means", mu), ("variances", var)):
        if not np.all(np.isfinite(arr)):
            raise CheckFailed(f"{name} contains NaN or inf ({label}).")
    want_w, want_mu, want_var = (_m_step_loops if loops else _moments_two_pass)(X, resp, reg)
    Nk = resp.sum(axis=0)
    if not math.isclose(float(w.sum()), 1.0, abs_tol=1e-6):
        hint = (" They look like the soft counts N_k = sum_n r_nk: divide by N."
                if _matches(w, Nk) else " w_k = N_k / N with N_k = sum_n r_nk.")
        raise CheckFailed(f"weights sum to {w.sum():.6g}, but mixing weights must sum to 1 ({label}).{hint}")
    expect_close(w, want_w, "weights", f"({label}) w_k = N_k / N with N_k = sum_n r_nk.", rtol=1e-6, atol=1e-9)
    if not _matches(mu, want_mu, rtol=1e-6, atol=1e-9):
        if _matches(mu, want_mu * Nk[:, None] / N, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"means are wrong ({label}): you divided the weighted sum by N; divide "
                              "by the component's soft count N_k = sum_n r_nk.")
        expect_close(mu, want_mu, "means",
                     f"({label}) mu_k = sum_n r_nk x_n / N_k: a responsibility-weighted average.",
                     rtol=1e-6, atol=1e-9)
    if _matches(var, want_var, rtol=1e-6, atol=1e-10):
        return w, mu, var
    raw = want_var - reg
    diagnoses = [
        (raw, "the variances are missing `+ reg`. Without it a component that sits on identical "
              "points gets variance 0 and the next E-step takes log(0)."),
        (raw + 2 * reg, "reg was added twice."),
        (raw * Nk[:, None] / np.maximum(Nk[:, None] - 1, 1e-12) + reg,
         "you used the unbiased estimate (divide by N_k - 1). EM's M-step is the maximum-likelihood "
         "estimate: divide by N_k (biased), as in the log-likelihood being maximised."),
        (raw * Nk[:, None] / N + reg, "you divided by N; divide the weighted sum of squares by the "
                                      "component's soft count N_k."),
        (np.sqrt(raw) + reg, "these look like standard deviations: do not take the square root."),
    ]
    around_global = np.stack([
        (resp[:, k:k + 1] * (X - X.mean(axis=0)) ** 2).sum(0) / Nk[k] for k in range(K)]) + reg
    diagnoses.append((around_global, "you measured the spread around the mean of all points; use "
                                     "the component's own new mean mu_k."))
    for variant, hint in diagnoses:
        if _matches(var, variant, rtol=1e-6, atol=1e-10):
            raise CheckFailed(f"variances are wrong ({label}): {hint}")
    if np.any(var <= 0):
        k, d = (int(i) for i in np.argwhere(var <= 0)[0])
        raise CheckFailed(
            f"variances[{k}, {d}] is {var[k, d]!r} ({label}), but a variance must be > 0: the next "
            "E-step takes its log. Where all of a component's points have the same value the spread "
            "is 0, and the one-pass formula E[x^2] - mu^2 can round to a tiny negative number: clip "
            "it at 0 (np.maximum(..., 0.0)) before adding reg.")
    expect_close(var, want_var, "variances",
                 f"({label}) var_kd = sum_n r_nk (x_nd - mu_kd)^2 / N_k + reg.", rtol=1e-6, atol=1e-10)
    return w, mu, var


@self_check
def check_m_step(m_step: Callable) -> None:
    """``m_step(X, resp (N, K), reg=1e-6) -> (weights (K,), means (K, D), variances (K, D))``."""
    rng = np.random.default_rng(404)
    # 1. Soft responsibilities, a visible reg: compare with weighted sums written as loops.
    X = rng.normal(size=(40, 3)) * 2.0
    resp = rng.dirichlet(np.full(4, 0.7), size=40)
    result = call_student(m_step, X, resp, reg=0.05, name="m_step")
    _check_m_result(result, X, resp, 0.05, "soft responsibilities, reg=0.05")
    # 2. Hard responsibilities, default reg; component 2 sits on five copies of one point.
    X = np.concatenate([rng.normal(size=(12, 2)), np.tile([[3.0, -1.0]], (5, 1)), rng.normal(size=(8, 2)) + 4])
    z = np.array([0] * 12 + [2] * 5 + [1] * 8)
    resp = np.eye(3)[z]
    result = call_student(m_step, X, resp, name="m_step")
    _check_m_result(result, X, resp, 1e-6, "one-hot responsibilities, default reg=1e-6")
    # 3. Known parameters: with the true posteriors, the M-step recovers what generated the data.
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0], [8.0, 1.0], [-6.0, 7.0]])
    variances = np.array([[1.0, 0.5], [0.3, 2.0], [1.5, 1.5]])
    z = rng.choice(3, size=20000, p=weights)
    X = means[z] + np.sqrt(variances[z]) * rng.normal(size=(20000, 2))
    resp = np.exp(_normalise_log(_log_joint_variant(X, weights, means, variances))[0])
    w, mu, var = _check_m_result(call_student(m_step, X, resp, name="m_step"), X, resp, 1e-6,
                                 "20,000 samples with known parameters")
    if not (np.allclose(w, weights, atol=0.02) and np.allclose(mu, means, atol=0.1)
            and np.allclose(var, variances, rtol=0.1)):
        raise CheckFailed(
            "With the true responsibilities, m_step should recover the parameters that generated the "
            f"data; got weights {np.round(w, 3)}, expected {weights}."
        )
    # 4. reg passed by position, as em_gmm does (m_step(X, resp, reg)), D = 1, reg = 0.
    X = rng.normal(size=(9, 1)) * 3.0
    resp = rng.dirichlet(np.ones(2), size=9)
    _check_m_result(call_student(m_step, X, resp, 0.0, name="m_step"), X, resp, 0.0,
                    "D = 1, reg = 0.0 passed by position as in m_step(X, resp, reg)")
    resp = np.ones((9, 1))                               # K = 1, as when section 5 tries K = 1
    _check_m_result(call_student(m_step, X, resp, 1e-6, name="m_step"), X, resp, 1e-6,
                    "K = 1: one component, every responsibility 1")
    # 5. As in section 6: 300 MNIST-like images, one-hot start and soft responsibilities; black
    # border pixels have spread 0, so their variance must be exactly reg (never <= 0).
    X, z = _pixels(rng, n=300)
    for resp, what in ((np.eye(10)[z], "one-hot"), (0.9 * np.eye(10)[z] + 0.01, "soft")):
        _check_m_result(call_student(m_step, X, resp, 1e-6, name="m_step"), X, resp, 1e-6,
                        f"300 MNIST-sized images, {what} responsibilities", loops=False)
    ok("m_step agrees with loop-computed weighted moments (soft and hard responsibilities, reg, K=1), "
       "recovers known mixture parameters, works on MNIST-sized images with reg passed by position, "
       "and leaves its inputs unchanged.")


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

def _counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(M, M) counts w[cluster, class], zero-padded to a square of side max(#clusters, #classes)."""
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    M = max(len(classes), len(clusters))
    w = np.zeros((M, M))
    for i, j in zip(p, t):
        w[i, j] += 1
    return w


def _acc_all_permutations(y_true: np.ndarray, y_pred: np.ndarray, best: Callable = max) -> float:
    w = _counts(y_true, y_pred)
    M = w.shape[0]
    return best(sum(w[i, perm[i]] for i in range(M)) for perm in itertools.permutations(range(M))) / len(y_true)


def _metric_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Label pairs: noisy relabelling, perfect but permuted, more / fewer clusters than classes."""
    cases = []
    y = rng.integers(0, 4, size=60)
    pred = np.array([2, 0, 3, 1])[y]
    noise = rng.random(60) < 0.3
    pred[noise] = rng.integers(0, 4, size=int(noise.sum()))
    cases.append(("4 clusters, 4 classes, 30% noise", y, pred))
    y = rng.integers(0, 5, size=40)
    cases.append(("perfect clustering with permuted ids", y, np.array([3, 4, 0, 2, 1])[y]))
    y = rng.integers(0, 3, size=90)
    pred = 2 * y + rng.integers(0, 2, size=90)                        # each class split in two
    flip = rng.random(90) < 0.2
    pred[flip] = rng.integers(0, 6, size=int(flip.sum()))
    cases.append(("6 clusters, 3 classes", y, pred))
    y = rng.integers(0, 5, size=70)
    pred = (y >= 2).astype(np.int64)
    flip = rng.random(70) < 0.1
    pred[flip] = 1 - pred[flip]
    cases.append(("2 clusters, 5 classes", y, pred))
    y = rng.integers(0, 3, size=30)
    pred = np.array([5, 1, 0])[y]                                     # cluster ids 0, 1, 5: a gap
    flip = rng.random(30) < 0.2
    pred[flip] = 1
    cases.append(("cluster ids 0, 1 and 5 (not 0..K-1)", y, pred))
    cases.append(("one cluster (id 1), 3 classes", np.array([0, 1, 1, 1, 2]), np.ones(5, dtype=np.int64)))
    cases.append(("4 points, independent labellings", np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])))
    return cases


@self_check
def check_cluster_accuracy(cluster_accuracy: Callable) -> None:
    """``cluster_accuracy(y_true, y_pred) -> float``: best one-to-one (Hungarian) mapping."""
    rng = np.random.default_rng(505)
    for desc, y, pred in _metric_cases(rng):
        got = _scalar(call_student(cluster_accuracy, y, pred, name="cluster_accuracy"),
                      "cluster_accuracy(y_true, y_pred)", "Return the accuracy as one float.")
        want = _acc_all_permutations(y, pred)
        N = len(y)
        if math.isclose(got, want, abs_tol=1e-9):
            continue
        if got > 1.0 + 1e-9:
            hint = (f"It equals the number of correctly matched points ({want * N:.0f}): divide by "
                    f"N={N}." if math.isclose(got, want * N, abs_tol=1e-6) else
                    "Divide the number of matched points by the number of points N.")
            raise CheckFailed(f"cluster_accuracy returned {got:.4g} > 1 ({desc}). An accuracy lies in "
                              f"[0, 1]. {hint}")
        k_vs_c = len(np.unique(pred)) != len(np.unique(y))
        extra = (f" Note: this case has {len(np.unique(pred))} clusters and {len(np.unique(y))} classes; "
                 "the count matrix is (#clusters x #classes), and linear_sum_assignment matches "
                 "min(#clusters, #classes) pairs, leaving the rest unmatched (they count as errors)."
                 if k_vs_c else "")
        if math.isclose(got, float(np.mean(y == pred)), abs_tol=1e-9):
            raise CheckFailed(
                f"cluster_accuracy returned {got:.4f}, expected {want:.4f} ({desc}). This is the "
                "accuracy with the IDENTITY mapping (cluster i = class i). Cluster ids are arbitrary: "
                "build the count matrix w[cluster, class] and find the best one-to-one mapping with "
                "scipy.optimize.linear_sum_assignment(w, maximize=True)." + extra
            )
        w = _counts(y, pred)
        majority = float(w.max(axis=1).sum()) / N
        if math.isclose(got, majority, abs_tol=1e-9) and not math.isclose(majority, want, abs_tol=1e-9):
            raise CheckFailed(
                f"cluster_accuracy returned {got:.4f}, expected {want:.4f} ({desc}). You mapped each "
                "cluster to its majority class, so several clusters can share a class (many-to-one). "
                "This accuracy is one-to-one: use the Hungarian matching (linear_sum_assignment)." + extra
            )
        if math.isclose(got, _acc_all_permutations(y, pred, best=min), abs_tol=1e-9):
            raise CheckFailed(
                f"cluster_accuracy returned {got:.4f}, expected {want:.4f} ({desc}). You found the WORST "
                "mapping: linear_sum_assignment minimises cost by default; pass maximize=True (or use "
                "w.max() - w as the cost)." + extra
            )
        raise CheckFailed(
            f"cluster_accuracy returned {got:.4f}, expected {want:.4f} ({desc}; expected value found by "
            "trying every one-to-one mapping of clusters to classes)." + extra
        )
    # As in the notebook: 2,000 MNIST-sized labellings, 10 classes and 10 clusters (too many for
    # brute force: the expected value is the Hungarian matching of the count matrix).
    from scipy.optimize import linear_sum_assignment

    y = rng.integers(0, 10, size=2000)
    pred = rng.permutation(10)[y]
    noise = rng.random(2000) < 0.4
    pred[noise] = rng.integers(0, 10, size=int(noise.sum()))
    w = _counts(y, pred)
    rows, cols = linear_sum_assignment(w, maximize=True)
    want = float(w[rows, cols].sum()) / len(y)
    got = _scalar(call_student(cluster_accuracy, y, pred, name="cluster_accuracy"),
                  "cluster_accuracy(y_true, y_pred)", "Return the accuracy as one float.")
    if not math.isclose(got, want, abs_tol=1e-9):
        raise CheckFailed(
            f"cluster_accuracy returned {got:.4f}, expected {want:.4f} on 2,000 labels with 10 classes "
            "and 10 clusters (as on MNIST). Build the 10 x 10 count matrix w[cluster, class] and use "
            "linear_sum_assignment(w, maximize=True); do not try all 10! mappings."
        )
    ok("cluster_accuracy matches brute force over all cluster-to-class permutations (incl. more "
       "and fewer clusters than classes, ids with gaps) and the Hungarian matching on 2,000 labels.")


def _entropies(y_true, y_pred):
    w = _counts(y_true, y_pred)
    N = len(y_true)
    p = w / N
    pi, pj = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pi, pj)[nz])).sum())
    h_pred = float(-(pi[pi > 0] * np.log(pi[pi > 0])).sum())
    h_true = float(-(pj[pj > 0] * np.log(pj[pj > 0])).sum())
    return mi, h_true, h_pred


@self_check
def check_nmi(nmi_score: Callable) -> None:
    """``nmi_score(y_true, y_pred) -> float``: NMI with the arithmetic mean of the entropies."""
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(606)
    cases = _metric_cases(rng)
    cases.append(("independent labellings", rng.integers(0, 3, size=200), rng.integers(0, 3, size=200)))
    cases.append(("all points in one cluster", rng.integers(0, 4, size=30), np.zeros(30, dtype=np.int64)))
    cases.append(("one group on both sides (NMI is 1.0)", np.zeros(5, dtype=np.int64), np.zeros(5, dtype=np.int64)))
    for desc, y, pred in cases:
        got = _scalar(call_student(nmi_score, y, pred, name="nmi_score"), "nmi_score(y_true, y_pred)",
                      "Return NMI as one float.")
        want = float(normalized_mutual_info_score(y, pred, average_method="arithmetic"))
        if math.isclose(got, want, abs_tol=1e-7):
            continue
        if not math.isfinite(got):
            raise CheckFailed(
                f"nmi_score returned {got} ({desc}). Empty cells of the contingency table give "
                "0 * log 0: skip them (they contribute 0), and if an entropy is 0 make sure you do not "
                "divide 0 by 0."
            )
        mi, h_t, h_p = _entropies(y, pred)
        if h_t == 0.0 and h_p == 0.0:
            raise CheckFailed(
                f"nmi_score returned {got:.6f}, expected 1.0 ({desc}). Both labellings put every point "
                "in one group, so they are identical, but both entropies are 0 and the formula gives "
                "0/0: return 1.0 in that case (as the exercise says, and as scikit-learn does)."
            )
        variants = [
            (mi, "this is the mutual information itself; divide it by the mean of the two entropies."),
            (mi / math.log(2), "this is the (unnormalised) mutual information in bits; divide it by "
                               "the mean of the two entropies."),
            (mi / math.sqrt(h_t * h_p) if h_t * h_p > 0 else math.nan,
             "you normalised with the GEOMETRIC mean sqrt(H(Y) H(C)); this course (and scikit-learn's "
             "default) uses the arithmetic mean (H(Y) + H(C)) / 2."),
            (mi / max(h_t, h_p) if max(h_t, h_p) > 0 else math.nan,
             "you normalised with max(H(Y), H(C)); use the arithmetic mean (H(Y) + H(C)) / 2."),
            (mi / min(h_t, h_p) if min(h_t, h_p) > 0 else math.nan,
             "you normalised with min(H(Y), H(C)); use the arithmetic mean (H(Y) + H(C)) / 2."),
            (mi / (h_t + h_p) if h_t + h_p > 0 else math.nan,
             "you divided by H(Y) + H(C); the arithmetic mean is (H(Y) + H(C)) / 2."),
            (mi / h_t if h_t > 0 else math.nan, "you divided by H(Y) only; use (H(Y) + H(C)) / 2."),
        ]
        for value, hint in variants:
            if math.isfinite(value) and math.isclose(got, value, abs_tol=1e-7):
                raise CheckFailed(f"nmi_score returned {got:.6f}, expected {want:.6f} ({desc}): {hint}")
        raise CheckFailed(
            f"nmi_score returned {got:.6f}, expected {want:.6f} ({desc}; scikit-learn's "
            "normalized_mutual_info_score with average_method='arithmetic'). NMI = I(Y; C) / "
            "((H(Y) + H(C)) / 2), with I and H from the joint distribution p_ij = n_ij / N."
        )
    ok(f"nmi_score agrees with scikit-learn (arithmetic normalisation) on {len(cases)} label pairs.")


@self_check
def check_ari(ari_score: Callable) -> None:
    """``ari_score(y_true, y_pred) -> float``: the adjusted Rand index."""
    from sklearn.metrics import adjusted_rand_score, rand_score

    rng = np.random.default_rng(707)
    cases = _metric_cases(rng)
    cases.append(("independent labellings", rng.integers(0, 3, size=200), rng.integers(0, 3, size=200)))
    cases.append(("all points in one cluster", rng.integers(0, 4, size=30), np.zeros(30, dtype=np.int64)))
    for desc, y, pred in cases:
        got = _scalar(call_student(ari_score, y, pred, name="ari_score"), "ari_score(y_true, y_pred)",
                      "Return ARI as one float.")
        want = float(adjusted_rand_score(y, pred))
        if math.isclose(got, want, abs_tol=1e-7):
            continue
        if not math.isfinite(got):
            raise CheckFailed(f"ari_score returned {got} ({desc}): check for a division by zero.")
        if math.isclose(got, float(rand_score(y, pred)), abs_tol=1e-7):
            raise CheckFailed(
                f"ari_score returned {got:.6f}, expected {want:.6f} ({desc}). That is the plain "
                "(unadjusted) Rand index. ARI subtracts the value expected by chance and rescales: "
                "(index - expected) / (max_index - expected)."
            )
        w = _counts(y, pred)
        n = len(y)
        a, b = w.sum(axis=1), w.sum(axis=0)
        for pairs, hint in ((lambda m: m * m / 2.0, "count pairs with n(n-1)/2 (n choose 2), not n^2/2."),
                            (lambda m: m * m, "count pairs with n(n-1)/2 (n choose 2), not n^2.")):
            index, sa, sb, tot = pairs(w).sum(), pairs(a).sum(), pairs(b).sum(), pairs(np.float64(n))
            expected = sa * sb / tot
            value = (index - expected) / (0.5 * (sa + sb) - expected)
            if math.isclose(got, value, abs_tol=1e-7):
                raise CheckFailed(f"ari_score returned {got:.6f}, expected {want:.6f} ({desc}): {hint}")
        raise CheckFailed(
            f"ari_score returned {got:.6f}, expected {want:.6f} ({desc}; scikit-learn's "
            "adjusted_rand_score). ARI = (sum_ij C(n_ij,2) - E) / (0.5 [sum_i C(a_i,2) + sum_j "
            "C(b_j,2)] - E), with E = sum_i C(a_i,2) sum_j C(b_j,2) / C(N,2) and C(n,2) = n(n-1)/2."
        )
    ok(f"ari_score agrees with scikit-learn's adjusted_rand_score on {len(cases)} label pairs.")


# --------------------------------------------------------------------------------------------
# Reference implementations for exercises that are not done yet
# --------------------------------------------------------------------------------------------

def _references() -> dict[str, tuple[Callable, str]]:
    """Exercise function name -> (the course package's implementation, the exercise's label)."""
    from course_utils import clustering, metrics

    return {
        "assign_clusters": (clustering.assign_clusters, "Exercise 1 (assign_clusters)"),
        "update_centers": (clustering.update_centers, "Exercise 2 (update_centers)"),
        "e_step": (clustering.e_step, "Exercise 3 (e_step)"),
        "m_step": (clustering.m_step, "Exercise 4 (m_step)"),
        "cluster_accuracy": (metrics.cluster_acc, "Exercise 5 (cluster_accuracy)"),
        "nmi_score": (metrics.nmi, "Exercise 6 (nmi_score)"),
        "ari_score": (metrics.ari, "Exercise 7 (ari_score)"),
    }


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn`` itself, or, while it still raises ``NotImplementedError``, the course package's
    implementation (``course_utils.clustering`` for k-means and EM, ``course_utils.metrics`` for
    ACC / NMI / ARI), announced in one line. Picked by ``fn.__name__``; used in the notebook as
    ``assign_clusters = checks.reference_if_unfinished(assign_clusters)`` right after a self-check,
    so that the rest of the notebook runs before every exercise is done. A wrong (but finished)
    ``fn`` is kept: its mistakes stay visible.
    """
    return _reference_by_name(fn, _references(), "01")
