"""Wrong answers to week 01's exercises (k-means, EM, ACC / NMI / ARI). See README.md.

Every wrong implementation that ``tests/test_checks_week01.py`` feeds to the checks is here in
source form too, with the mistakes the audit of weeks 01-04 found (e.g. ``update_centers``
writing into ``centers``) and the ones that hidden tests caught before the self-check did
(cluster ids with gaps, NMI of two one-group labellings).
"""
from __future__ import annotations

NOTEBOOK = "01_kmeans_em.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import numpy as np\n"
         "from scipy.optimize import linear_sum_assignment\n"
         "from scipy.special import logsumexp\n"
         "from course_utils.checks import week01 as checks\n", ns)
    return ns


# Correct helpers that the wrong E- and M-steps below build on (defined inside each case).
_LOG_JOINT = '''
def _log_joint(X, weights, means, variances):
    D = X.shape[1]
    maha = (((X[:, None, :] - means[None]) ** 2) / variances[None]).sum(-1)
    return np.log(weights) - 0.5 * (D * np.log(2 * np.pi) + np.log(variances).sum(1)) - 0.5 * maha


def _e_step_ok(X, weights, means, variances):
    lj = _log_joint(X, weights, means, variances)
    lp = logsumexp(lj, axis=1)
    return lj - lp[:, None], float(lp.sum())
'''

_M_STEP_OK = '''
def _m_step_ok(X, resp, reg=1e-6):
    Nk = resp.sum(0)
    means = resp.T @ X / Nk[:, None]
    variances = np.maximum(resp.T @ X**2 / Nk[:, None] - means**2, 0.0) + reg
    return Nk / X.shape[0], means, variances
'''

_TABLE = '''
def _table(y_true, y_pred):
    _, t = np.unique(y_true, return_inverse=True)
    _, p = np.unique(y_pred, return_inverse=True)
    n = np.zeros((t.max() + 1, p.max() + 1))
    np.add.at(n, (t, p), 1)
    return n


def _mi_h(y_true, y_pred):
    P = _table(y_true, y_pred) / len(y_true)
    a, b = P.sum(1), P.sum(0)
    nz = P > 0
    mi = (P[nz] * np.log(P[nz] / np.outer(a, b)[nz])).sum()
    h = lambda q: -(q[q > 0] * np.log(q[q > 0])).sum()
    return mi, h(a), h(b)
'''

_ACC_OK = '''
def _acc_ok(y_true, y_pred):
    K = max(y_pred.max(), y_true.max()) + 1
    w = np.zeros((K, K))
    np.add.at(w, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(w, maximize=True)
    return w[r, c].sum() / len(y_true)
'''

CASES = [
    # ---------------------------------------------------------------- assign_clusters (exercise 1)
    ("test_assign_clusters", "argmax instead of argmin", '''
def assign_clusters(X, centers):
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
    return d2.argmax(axis=1)
'''),
    ("test_assign_clusters", "not done yet", '''
def assign_clusters(X, centers):
    raise NotImplementedError()
'''),
    ("test_assign_clusters", "forgot return", '''
def assign_clusters(X, centers):
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
    labels = d2.argmin(axis=1)
'''),
    ("test_assign_clusters", "argmin over the points (axis 0)", '''
def assign_clusters(X, centers):
    return ((X[:, None] - centers[None]) ** 2).sum(-1).argmin(axis=0)
'''),
    ("test_assign_clusters", "sums over the centres axis", '''
def assign_clusters(X, centers):
    return ((X[:, None] - centers[None]) ** 2).sum(1).argmin(1)
'''),
    ("test_assign_clusters", "float labels", '''
def assign_clusters(X, centers):
    d2 = (X**2).sum(1)[:, None] - 2 * X @ centers.T + (centers**2).sum(1)[None, :]
    return d2.argmin(axis=1).astype(float)
'''),
    ("test_assign_clusters", "returns the distance matrix", '''
def assign_clusters(X, centers):
    return ((X[:, None] - centers[None]) ** 2).sum(-1)
'''),
    ("test_assign_clusters", "differences not squared", '''
def assign_clusters(X, centers):
    return (X[:, None] - centers[None]).sum(-1).argmin(1)
'''),
    ("test_assign_clusters", "L1 distance", '''
def assign_clusters(X, centers):
    return np.abs(X[:, None] - centers[None]).sum(-1).argmin(1)
'''),
    ("test_assign_clusters", "crashes: X @ centers", '''
def assign_clusters(X, centers):
    return (X @ centers).argmin(1)
'''),
    ("test_assign_clusters", "squared norms of the wrong matrix", '''
def assign_clusters(X, centers):
    d2 = (X**2).sum(1)[:, None] - 2 * X @ centers.T + (X**2).sum(1)[:, None]
    return d2.argmin(axis=1)
'''),
    ("test_assign_clusters", "sqrt of the distance (fine)", '''
def assign_clusters(X, centers):
    return np.sqrt(((X[:, None] - centers[None]) ** 2).sum(-1)).argmin(1)
'''),
    # ---------------------------------------------------------------- update_centers (exercise 2)
    ("test_update_centers", "writes into centers in place", '''
def update_centers(X, labels, centers):
    for k in range(centers.shape[0]):
        if (labels == k).any():
            centers[k] = X[labels == k].mean(axis=0)
    return centers
'''),
    ("test_update_centers", "empty cluster gives NaN", '''
def update_centers(X, labels, centers):
    with np.errstate(all="ignore"):
        return np.stack([X[labels == k].mean(0) if (labels == k).any() else np.full(X.shape[1], np.nan)
                         for k in range(centers.shape[0])])
'''),
    ("test_update_centers", "empty cluster set to zero", '''
def update_centers(X, labels, centers):
    counts = np.bincount(labels, minlength=centers.shape[0])
    sums = np.zeros_like(centers)
    np.add.at(sums, labels, X)
    return sums / np.maximum(counts, 1)[:, None]
'''),
    ("test_update_centers", "bincount without minlength", '''
def update_centers(X, labels, centers):
    counts = np.bincount(labels)
    sums = np.zeros((len(counts), X.shape[1]))
    np.add.at(sums, labels, X)
    return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers[:len(counts)])
'''),
    ("test_update_centers", "K from the labels", '''
def update_centers(X, labels, centers):
    K = labels.max() + 1
    new = centers[:K].copy()
    for k in range(K):
        if (labels == k).any():
            new[k] = X[labels == k].mean(axis=0)
    return new
'''),
    ("test_update_centers", "sum instead of mean", '''
def update_centers(X, labels, centers):
    out = centers.copy()
    for k in np.unique(labels):
        out[k] = X[labels == k].sum(0)
    return out
'''),
    ("test_update_centers", "mean of all points", '''
def update_centers(X, labels, centers):
    out = centers.copy()
    for k in np.unique(labels):
        out[k] = X.mean(0)
    return out
'''),
    ("test_update_centers", "integer output", '''
def update_centers(X, labels, centers):
    return np.zeros(centers.shape, dtype=np.int64)
'''),
    ("test_update_centers", "count off by one", '''
def update_centers(X, labels, centers):
    out = centers.copy()
    for k in np.unique(labels):
        out[k] = X[labels == k].sum(0) / ((labels == k).sum() + 1)
    return out
'''),
    ("test_update_centers", "forgot return", '''
def update_centers(X, labels, centers):
    new = centers.copy()
    for k in np.unique(labels):
        new[k] = X[labels == k].mean(0)
'''),
    ("test_update_centers", "not done yet", '''
def update_centers(X, labels, centers):
    raise NotImplementedError()
'''),
    # ---------------------------------------------------------------- e_step (exercise 3)
    ("test_e_step", "exp then log: underflows far away", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    with np.errstate(all="ignore"):
        joint = np.exp(_log_joint(X, weights, means, variances))
        px = joint.sum(1)
        return np.log(joint / px[:, None]), float(np.log(px).sum())
'''),
    ("test_e_step", "not normalised", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lj = _log_joint(X, weights, means, variances)
    return lj, float(logsumexp(lj, axis=1).sum())
'''),
    ("test_e_step", "responsibilities, not their log", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lr, ll = _e_step_ok(X, weights, means, variances)
    return np.exp(lr), ll
'''),
    ("test_e_step", "mean log-likelihood instead of the sum", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lr, ll = _e_step_ok(X, weights, means, variances)
    return lr, ll / X.shape[0]
'''),
    ("test_e_step", "log-likelihood per point", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lj = _log_joint(X, weights, means, variances)
    lp = logsumexp(lj, axis=1)
    return lj - lp[:, None], lp
'''),
    ("test_e_step", "no log-normaliser", '''
def e_step(X, weights, means, variances):
    lj = np.log(weights) - 0.5 * (((X[:, None] - means[None]) ** 2) / variances[None]).sum(-1)
    lp = logsumexp(lj, axis=1)
    return lj - lp[:, None], float(lp.sum())
'''),
    ("test_e_step", "no log(2 pi)", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lj = _log_joint(X, weights, means, variances) + 0.5 * X.shape[1] * np.log(2 * np.pi)
    lp = logsumexp(lj, axis=1)
    return lj - lp[:, None], float(lp.sum())
'''),
    ("test_e_step", "no mixing weights", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    return _e_step_ok(X, np.ones_like(weights), means, variances)
'''),
    ("test_e_step", "variances used as standard deviations", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    return _e_step_ok(X, weights, means, variances ** 2)
'''),
    ("test_e_step", "log_resp transposed", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lr, ll = _e_step_ok(X, weights, means, variances)
    return lr.T, ll
'''),
    ("test_e_step", "returns one value", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    return _e_step_ok(X, weights, means, variances)[0]
'''),
    ("test_e_step", "squeeze breaks K = 1", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lr, ll = _e_step_ok(X, weights, means, variances)
    return np.squeeze(lr), ll
'''),
    ("test_e_step", "max instead of logsumexp", _LOG_JOINT + '''
def e_step(X, weights, means, variances):
    lj = _log_joint(X, weights, means, variances)
    lp = lj.max(axis=1)
    return lj - logsumexp(lj, axis=1)[:, None], float(lp.sum())
'''),
    ("test_e_step", "not done yet", '''
def e_step(X, weights, means, variances):
    raise NotImplementedError()
'''),
    # ---------------------------------------------------------------- m_step (exercise 4)
    ("test_m_step", "no reg", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    return _m_step_ok(X, resp, reg=0.0)
'''),
    ("test_m_step", "reg argument ignored", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    return _m_step_ok(X, resp)
'''),
    ("test_m_step", "unbiased variance", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    w, mu, var = _m_step_ok(X, resp, 0.0)
    Nk = resp.sum(0)[:, None]
    return w, mu, var * Nk / (Nk - 1) + reg
'''),
    ("test_m_step", "weights not normalised", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    w, mu, var = _m_step_ok(X, resp, reg)
    return resp.sum(0), mu, var
'''),
    ("test_m_step", "means divided by N", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    w, mu, var = _m_step_ok(X, resp, reg)
    return w, resp.T @ X / X.shape[0], var
'''),
    ("test_m_step", "variances divided by N", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    w, mu, var = _m_step_ok(X, resp, 0.0)
    return w, mu, var * resp.sum(0)[:, None] / X.shape[0] + reg
'''),
    ("test_m_step", "standard deviations", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    w, mu, var = _m_step_ok(X, resp, 0.0)
    return w, mu, np.sqrt(var) + reg
'''),
    ("test_m_step", "means and variances transposed", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    w, mu, var = _m_step_ok(X, resp, reg)
    return w, mu.T, var.T
'''),
    ("test_m_step", "returns two values", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    return _m_step_ok(X, resp, reg)[:2]
'''),
    ("test_m_step", "normalises resp in place", _M_STEP_OK + '''
def m_step(X, resp, reg=1e-6):
    resp /= resp.sum(axis=1, keepdims=True)
    return _m_step_ok(X, resp, reg)
'''),
    ("test_m_step", "spread around the global mean", '''
def m_step(X, resp, reg=1e-6):
    Nk = resp.sum(0)
    means = resp.T @ X / Nk[:, None]
    variances = resp.T @ (X - X.mean(0)) ** 2 / Nk[:, None] + reg
    return Nk / X.shape[0], means, variances
'''),
    ("test_m_step", "not done yet", '''
def m_step(X, resp, reg=1e-6):
    raise NotImplementedError()
'''),
    # ---------------------------------------------------------------- cluster_accuracy (exercise 5)
    ("test_cluster_accuracy", "identity mapping", '''
def cluster_accuracy(y_true, y_pred):
    return float(np.mean(y_true == y_pred))
'''),
    ("test_cluster_accuracy", "count, not fraction", _ACC_OK + '''
def cluster_accuracy(y_true, y_pred):
    return _acc_ok(y_true, y_pred) * len(y_true)
'''),
    ("test_cluster_accuracy", "majority mapping", '''
def cluster_accuracy(y_true, y_pred):
    total = 0
    for k in np.unique(y_pred):
        total += np.bincount(y_true[y_pred == k]).max()
    return total / len(y_true)
'''),
    ("test_cluster_accuracy", "minimises", '''
def cluster_accuracy(y_true, y_pred):
    K = max(y_true.max(), y_pred.max()) + 1
    w = np.zeros((K, K))
    np.add.at(w, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(w)
    return w[r, c].sum() / len(y_true)
'''),
    ("test_cluster_accuracy", "square matrix from the classes only", '''
def cluster_accuracy(y_true, y_pred):
    K = y_true.max() + 1
    w = np.zeros((K, K))
    np.add.at(w, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(w, maximize=True)
    return w[r, c].sum() / len(y_true)
'''),
    ("test_cluster_accuracy", "matrix sized by the number of distinct labels", '''
def cluster_accuracy(y_true, y_pred):
    K = max(len(np.unique(y_true)), len(np.unique(y_pred)))
    w = np.zeros((K, K))
    np.add.at(w, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(w, maximize=True)
    return w[r, c].sum() / len(y_true)
'''),
    ("test_cluster_accuracy", "returns a tuple", _ACC_OK + '''
def cluster_accuracy(y_true, y_pred):
    return _acc_ok(y_true, y_pred), None
'''),
    ("test_cluster_accuracy", "not done yet", '''
def cluster_accuracy(y_true, y_pred):
    raise NotImplementedError()
'''),
    # ---------------------------------------------------------------- nmi_score (exercise 6)
    ("test_nmi", "geometric mean", _TABLE + '''
def nmi_score(y_true, y_pred):
    mi, ha, hb = _mi_h(y_true, y_pred)
    return mi / np.sqrt(ha * hb) if ha * hb > 0 else 0.0
'''),
    ("test_nmi", "max of the entropies", _TABLE + '''
def nmi_score(y_true, y_pred):
    mi, ha, hb = _mi_h(y_true, y_pred)
    return mi / max(ha, hb)
'''),
    ("test_nmi", "mutual information, unnormalised", _TABLE + '''
def nmi_score(y_true, y_pred):
    return _mi_h(y_true, y_pred)[0]
'''),
    ("test_nmi", "0 log 0 not skipped", _TABLE + '''
def nmi_score(y_true, y_pred):
    P = _table(y_true, y_pred) / len(y_true)
    a, b = P.sum(1), P.sum(0)
    with np.errstate(all="ignore"):
        mi = (P * np.log(P / np.outer(a, b))).sum()
        return mi / ((-(a * np.log(a)).sum() - (b * np.log(b)).sum()) / 2)
'''),
    ("test_nmi", "one group on both sides gives 0", _TABLE + '''
def nmi_score(y_true, y_pred):
    mi, ha, hb = _mi_h(y_true, y_pred)
    return 0.0 if mi <= 0 else mi / ((ha + hb) / 2)
'''),
    ("test_nmi", "not done yet", '''
def nmi_score(y_true, y_pred):
    raise NotImplementedError()
'''),
    # ---------------------------------------------------------------- ari_score (exercise 7)
    ("test_ari", "plain Rand index", '''
def ari_score(y_true, y_pred):
    same_y = y_true[:, None] == y_true[None]
    same_p = y_pred[:, None] == y_pred[None]
    iu = np.triu_indices(len(y_true), 1)
    return float((same_y == same_p)[iu].mean())
'''),
    ("test_ari", "n^2 / 2 pairs", _TABLE + '''
def ari_score(y_true, y_pred):
    n = _table(y_true, y_pred)
    f = lambda m: m * m / 2.0
    index, sa, sb = f(n).sum(), f(n.sum(1)).sum(), f(n.sum(0)).sum()
    expected = sa * sb / f(n.sum())
    return (index - expected) / (0.5 * (sa + sb) - expected)
'''),
    ("test_ari", "not rescaled", _TABLE + '''
from scipy.special import comb


def ari_score(y_true, y_pred):
    n = _table(y_true, y_pred)
    index, sa, sb = comb(n, 2).sum(), comb(n.sum(1), 2).sum(), comb(n.sum(0), 2).sum()
    return (index - sa * sb / comb(n.sum(), 2)) / comb(n.sum(), 2)
'''),
    ("test_ari", "forgot return", _TABLE + '''
from scipy.special import comb


def ari_score(y_true, y_pred):
    n = _table(y_true, y_pred)
    index, sa, sb = comb(n, 2).sum(), comb(n.sum(1), 2).sum(), comb(n.sum(0), 2).sum()
    expected = sa * sb / comb(n.sum(), 2)
    ari = (index - expected) / (0.5 * (sa + sb) - expected)
'''),
    ("test_ari", "not done yet", '''
def ari_score(y_true, y_pred):
    raise NotImplementedError()
'''),
]
