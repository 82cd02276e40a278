"""The week-01 self-checks pass correct code and catch the common mistakes with a useful message.

Every check is run on a correct implementation (must pass and print one line) and on several
deliberately wrong ones (must raise ``CheckFailed`` whose message names the mistake).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import comb, logsumexp

from course_utils.checks import week01 as checks
from course_utils.checks._common import CheckFailed


# --------------------------------------------------------------------------------------------
# Correct implementations (written independently of the checks' own reference code)
# --------------------------------------------------------------------------------------------

def assign_ok(X, centers):
    d2 = (X**2).sum(1)[:, None] - 2 * X @ centers.T + (centers**2).sum(1)[None, :]
    return d2.argmin(axis=1)


def update_ok(X, labels, centers):
    K = centers.shape[0]
    counts = np.bincount(labels, minlength=K)
    sums = np.zeros_like(centers, dtype=float)
    np.add.at(sums, labels, X)
    return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centers)


def _log_joint(X, weights, means, variances):
    D = X.shape[1]
    maha = (((X[:, None, :] - means[None]) ** 2) / variances[None]).sum(-1)
    return np.log(weights) - 0.5 * (D * np.log(2 * np.pi) + np.log(variances).sum(1)) - 0.5 * maha


def e_step_ok(X, weights, means, variances):
    lj = _log_joint(X, weights, means, variances)
    lp = logsumexp(lj, axis=1)
    return lj - lp[:, None], float(lp.sum())


def m_step_ok(X, resp, reg=1e-6):
    Nk = resp.sum(0)
    means = resp.T @ X / Nk[:, None]
    variances = resp.T @ X**2 / Nk[:, None] - means**2 + reg
    return Nk / X.shape[0], means, variances


def acc_ok(y_true, y_pred):
    K = max(y_pred.max(), y_true.max()) + 1
    w = np.zeros((K, K))
    np.add.at(w, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(w, maximize=True)
    return w[r, c].sum() / len(y_true)


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
    h = lambda q: -(q[q > 0] * np.log(q[q > 0])).sum()  # noqa: E731
    return mi, h(a), h(b)


def nmi_ok(y_true, y_pred):
    mi, ha, hb = _mi_h(y_true, y_pred)
    if ha == 0 and hb == 0:
        return 1.0  # one group on both sides: identical partitions
    return 0.0 if mi <= 0 else mi / ((ha + hb) / 2)


def ari_ok(y_true, y_pred):
    n = _table(y_true, y_pred)
    index = comb(n, 2).sum()
    sa, sb = comb(n.sum(1), 2).sum(), comb(n.sum(0), 2).sum()
    expected = sa * sb / comb(n.sum(), 2)
    return (index - expected) / (0.5 * (sa + sb) - expected)


def not_done(*args, **kwargs):
    raise NotImplementedError()


def returns_none(*args, **kwargs):
    return None


def _fails(check, fn, *words):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    msg = str(info.value).lower()
    for word in words:
        assert word.lower() in msg, f"expected {word!r} in the message:\n{info.value}"
    return msg


@pytest.mark.parametrize("check, fn", [
    (checks.check_assign_clusters, assign_ok),
    (checks.check_update_centers, update_ok),
    (checks.check_e_step, e_step_ok),
    (checks.check_m_step, m_step_ok),
    (checks.check_cluster_accuracy, acc_ok),
    (checks.check_nmi, nmi_ok),
    (checks.check_ari, ari_ok),
])
def test_correct_implementation_passes(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("\u2714"), out


@pytest.mark.parametrize("check", [
    checks.check_assign_clusters, checks.check_update_centers, checks.check_e_step,
    checks.check_m_step, checks.check_cluster_accuracy, checks.check_nmi, checks.check_ari,
])
def test_not_implemented_and_none(check, capsys, monkeypatch):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    check(not_done)                       # the notebook goes on: one cross, no exception
    out = capsys.readouterr().out
    assert out.startswith("\u2718") and "not implemented" in out and "\u2714" not in out, out
    monkeypatch.setenv("COURSE_GRADING", "1")
    _fails(check, not_done, "not implemented")   # under `course grade` it raises
    monkeypatch.delenv("COURSE_GRADING")
    with pytest.raises(CheckFailed) as info:
        check(returns_none)
    assert "none" in str(info.value).lower() or "return" in str(info.value).lower()


def test_crash_is_reported_with_its_exception():
    def crashes(X, centers):
        return X @ centers  # shapes do not align
    _fails(checks.check_assign_clusters, crashes, "ValueError", "traceback")


# --------------------------------------------------------------------------------------------
# assign_clusters
# --------------------------------------------------------------------------------------------

def test_assign_sqrt_distance_is_fine():
    checks.check_assign_clusters(lambda X, C: np.sqrt(((X[:, None] - C[None]) ** 2).sum(-1)).argmin(1))


def test_assign_wrong_axis():
    _fails(checks.check_assign_clusters,
           lambda X, C: ((X[:, None] - C[None]) ** 2).sum(-1).argmin(axis=0), "wrong axis", "axis=1")


def test_assign_sum_over_wrong_axis():
    # sums over the centres axis: (N, D) matrix, argmin gives a feature index
    _fails(checks.check_assign_clusters,
           lambda X, C: ((X[:, None] - C[None]) ** 2).sum(1).argmin(1), "feature")


def test_assign_float_labels():
    _fails(checks.check_assign_clusters, lambda X, C: assign_ok(X, C).astype(float), "dtype", "integer")


def test_assign_returns_distances():
    _fails(checks.check_assign_clusters, lambda X, C: ((X[:, None] - C[None]) ** 2).sum(-1), "matrix")


def test_assign_argmax():
    _fails(checks.check_assign_clusters,
           lambda X, C: ((X[:, None] - C[None]) ** 2).sum(-1).argmax(1), "farthest", "argmin")


def test_assign_l1_or_unsquared_difference():
    _fails(checks.check_assign_clusters,
           lambda X, C: (X[:, None] - C[None]).sum(-1).argmin(1), "point", "expected", "squared")
    _fails(checks.check_assign_clusters,
           lambda X, C: np.abs(X[:, None] - C[None]).sum(-1).argmin(1), "squared euclidean")


# --------------------------------------------------------------------------------------------
# update_centers
# --------------------------------------------------------------------------------------------

def test_update_empty_cluster_nan():
    def nan_empty(X, labels, centers):
        return np.stack([X[labels == k].mean(0) for k in range(centers.shape[0])])
    with pytest.warns(RuntimeWarning):
        _fails(checks.check_update_centers, nan_empty, "no points", "nan", "old centre")


def test_update_empty_cluster_zero():
    def zero_empty(X, labels, centers):
        counts = np.bincount(labels, minlength=centers.shape[0])
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, X)
        return sums / np.maximum(counts, 1)[:, None]
    _fails(checks.check_update_centers, zero_empty, "set to zero", "old centre")


def test_update_bincount_without_minlength():
    def short(X, labels, centers):
        counts = np.bincount(labels)
        sums = np.zeros((len(counts), X.shape[1]))
        np.add.at(sums, labels, X)
        return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None],
                        centers[:len(counts)])
    _fails(checks.check_update_centers, short, "shape", "minlength")


def test_update_sum_not_mean():
    def sums_only(X, labels, centers):
        out = centers.copy()
        for k in np.unique(labels):
            out[k] = X[labels == k].sum(0)
        return out
    _fails(checks.check_update_centers, sums_only, "sum", "divide")


def test_update_global_mean():
    def global_mean(X, labels, centers):
        out = centers.copy()
        for k in np.unique(labels):
            out[k] = X.mean(0)
        return out
    _fails(checks.check_update_centers, global_mean, "all points", "labels == k")


def test_update_integer_output():
    def ints(X, labels, centers):
        out = np.zeros(centers.shape, dtype=np.int64)
        return out
    _fails(checks.check_update_centers, ints, "dtype", "float")


def test_update_off_by_one_count():
    def off(X, labels, centers):
        out = centers.copy()
        for k in np.unique(labels):
            out[k] = X[labels == k].sum(0) / ((labels == k).sum() + 1)
        return out
    _fails(checks.check_update_centers, off, "centre", "got", "expected", "mean of the")


# --------------------------------------------------------------------------------------------
# e_step
# --------------------------------------------------------------------------------------------

def test_e_step_naive_exp_underflows():
    def naive(X, weights, means, variances):
        joint = np.exp(_log_joint(X, weights, means, variances))
        px = joint.sum(1)
        return np.log(joint / px[:, None]), float(np.log(px).sum())
    with np.errstate(all="ignore"):
        _fails(checks.check_e_step, naive, "far", "underflow", "logsumexp")


def test_e_step_not_normalised():
    def unnorm(X, weights, means, variances):
        lj = _log_joint(X, weights, means, variances)
        return lj, float(logsumexp(lj, axis=1).sum())
    _fails(checks.check_e_step, unnorm, "not normalised", "logsumexp")


def test_e_step_returns_resp_not_log():
    def resp(X, weights, means, variances):
        lr, ll = e_step_ok(X, weights, means, variances)
        return np.exp(lr), ll
    _fails(checks.check_e_step, resp, "logarithm")


def test_e_step_mean_instead_of_sum():
    def mean_ll(X, weights, means, variances):
        lr, ll = e_step_ok(X, weights, means, variances)
        return lr, ll / X.shape[0]
    _fails(checks.check_e_step, mean_ll, "mean", "sum")


def test_e_step_per_point_loglik():
    def per_point(X, weights, means, variances):
        lj = _log_joint(X, weights, means, variances)
        lp = logsumexp(lj, axis=1)
        return lj - lp[:, None], lp
    _fails(checks.check_e_step, per_point, "every point", "sum")


def test_e_step_missing_log_normaliser():
    def no_norm(X, weights, means, variances):
        lj = np.log(weights) - 0.5 * (((X[:, None] - means[None]) ** 2) / variances[None]).sum(-1)
        lp = logsumexp(lj, axis=1)
        return lj - lp[:, None], float(lp.sum())
    _fails(checks.check_e_step, no_norm, "log-normaliser", "log(2*pi*var")


def test_e_step_missing_two_pi_only():
    def no_2pi(X, weights, means, variances):
        lj = _log_joint(X, weights, means, variances) + 0.5 * X.shape[1] * np.log(2 * np.pi)
        lp = logsumexp(lj, axis=1)
        return lj - lp[:, None], float(lp.sum())
    _fails(checks.check_e_step, no_2pi, "log(2*pi)")


def test_e_step_missing_weights():
    def no_w(X, weights, means, variances):
        return e_step_ok(X, np.ones_like(weights), means, variances)
    _fails(checks.check_e_step, no_w, "mixing weights")


def test_e_step_variance_as_std():
    def std(X, weights, means, variances):
        return e_step_ok(X, weights, means, variances**2)
    _fails(checks.check_e_step, std, "standard deviations")


def test_e_step_transposed_and_single_value():
    _fails(checks.check_e_step, lambda *a: (e_step_ok(*a)[0].T, e_step_ok(*a)[1]), "transposed")
    _fails(checks.check_e_step, lambda *a: e_step_ok(*a)[0], "2 values")


# --------------------------------------------------------------------------------------------
# m_step
# --------------------------------------------------------------------------------------------

def test_m_step_without_reg():
    _fails(checks.check_m_step, lambda X, resp, reg=1e-6: m_step_ok(X, resp, reg=0.0), "reg")


def test_m_step_reg_ignored_keyword():
    _fails(checks.check_m_step, lambda X, resp, reg=1e-6: m_step_ok(X, resp), "reg")


def test_m_step_unbiased():
    def unbiased(X, resp, reg=1e-6):
        w, mu, var = m_step_ok(X, resp, 0.0)
        Nk = resp.sum(0)[:, None]
        return w, mu, var * Nk / (Nk - 1) + reg
    _fails(checks.check_m_step, unbiased, "unbiased", "n_k")


def test_m_step_weights_not_normalised():
    def counts(X, resp, reg=1e-6):
        w, mu, var = m_step_ok(X, resp, reg)
        return resp.sum(0), mu, var
    _fails(checks.check_m_step, counts, "sum to 1", "divide by n")


def test_m_step_means_over_n():
    def over_n(X, resp, reg=1e-6):
        w, mu, var = m_step_ok(X, resp, reg)
        return w, resp.T @ X / X.shape[0], var
    _fails(checks.check_m_step, over_n, "means", "n_k")


def test_m_step_variances_over_n():
    def over_n(X, resp, reg=1e-6):
        w, mu, var = m_step_ok(X, resp, 0.0)
        return w, mu, var * resp.sum(0)[:, None] / X.shape[0] + reg
    _fails(checks.check_m_step, over_n, "variances", "divided by n")


def test_m_step_std_instead_of_var():
    def std(X, resp, reg=1e-6):
        w, mu, var = m_step_ok(X, resp, 0.0)
        return w, mu, np.sqrt(var) + reg
    _fails(checks.check_m_step, std, "standard deviations")


def test_m_step_transposed_resp():
    def transposed(X, resp, reg=1e-6):
        w, mu, var = m_step_ok(X, resp, reg)
        return w, mu.T, var.T
    _fails(checks.check_m_step, transposed, "means", "shape")


def test_m_step_two_values():
    _fails(checks.check_m_step, lambda X, resp, reg=1e-6: m_step_ok(X, resp, reg)[:2], "3 values")


# --------------------------------------------------------------------------------------------
# cluster_accuracy
# --------------------------------------------------------------------------------------------

def test_acc_identity_mapping():
    _fails(checks.check_cluster_accuracy, lambda y, p: float(np.mean(y == p)), "identity", "linear_sum_assignment")


def test_acc_count_not_fraction():
    _fails(checks.check_cluster_accuracy, lambda y, p: acc_ok(y, p) * len(y), "> 1", "divide by n")


def test_acc_majority_mapping():
    def majority(y, p):
        total = 0
        for k in np.unique(p):
            total += np.bincount(y[p == k]).max()
        return total / len(y)
    _fails(checks.check_cluster_accuracy, majority, "majority", "one-to-one")


def test_acc_minimising():
    def worst(y, p):
        K = max(y.max(), p.max()) + 1
        w = np.zeros((K, K))
        np.add.at(w, (p, y), 1)
        r, c = linear_sum_assignment(w)
        return w[r, c].sum() / len(y)
    _fails(checks.check_cluster_accuracy, worst, "worst", "maximize=True")


def test_acc_square_matrix_from_classes_only():
    def classes_only(y, p):
        K = y.max() + 1  # breaks when there are more clusters than classes
        w = np.zeros((K, K))
        np.add.at(w, (p, y), 1)
        r, c = linear_sum_assignment(w, maximize=True)
        return w[r, c].sum() / len(y)
    _fails(checks.check_cluster_accuracy, classes_only, "IndexError")


def test_acc_returns_tuple():
    _fails(checks.check_cluster_accuracy, lambda y, p: (acc_ok(y, p), None), "single number")


# --------------------------------------------------------------------------------------------
# nmi_score / ari_score
# --------------------------------------------------------------------------------------------

def test_nmi_geometric():
    def geometric(y, p):
        mi, ha, hb = _mi_h(y, p)
        return mi / np.sqrt(ha * hb) if ha * hb > 0 else 0.0
    _fails(checks.check_nmi, geometric, "geometric", "arithmetic")


def test_nmi_max_normaliser():
    def by_max(y, p):
        mi, ha, hb = _mi_h(y, p)
        return mi / max(ha, hb)
    _fails(checks.check_nmi, by_max, "max(", "arithmetic")


def test_nmi_unnormalised():
    _fails(checks.check_nmi, lambda y, p: _mi_h(y, p)[0], "mutual information itself")


def test_nmi_both_trivial_returns_zero():
    _fails(checks.check_nmi, lambda y, p: 0.0 if _mi_h(y, p)[0] <= 0 else nmi_ok(y, p),
           "expected 1.0", "one group")


def test_update_in_place():
    def in_place(X, labels, centers):
        for k in np.unique(labels):
            centers[k] = X[labels == k].mean(0)
        return centers
    _fails(checks.check_update_centers, in_place, "changed its input `centers` in place")


def test_reference_if_unfinished_picks_by_name(capsys):
    from course_utils import clustering

    def assign_clusters(X, centers):
        raise NotImplementedError()
    stand_in = checks.reference_if_unfinished(assign_clusters)
    X, C = np.array([[0.0], [5.0]]), np.array([[4.0], [0.0]])
    assert stand_in(X, C).tolist() == clustering.assign_clusters(X, C).tolist() == [1, 0]
    assert "Exercise 1 (assign_clusters) is not done yet" in capsys.readouterr().out
    def assign_clusters(X, centers):  # noqa: F811 - done now (and wrong on purpose)
        return np.zeros(len(X), dtype=np.int64)
    assert checks.reference_if_unfinished(assign_clusters)(X, C).tolist() == [0, 0]  # its own
    with pytest.raises(ValueError, match="does not know"):
        checks.reference_if_unfinished(lambda X: X)


def test_nmi_zero_log_zero():
    def nan_cells(y, p):
        P = _table(y, p) / len(y)
        a, b = P.sum(1), P.sum(0)
        with np.errstate(all="ignore"):
            mi = (P * np.log(P / np.outer(a, b))).sum()
            return mi / ((-(a * np.log(a)).sum() - (b * np.log(b)).sum()) / 2)
    _fails(checks.check_nmi, nan_cells, "0 * log 0")


def test_ari_plain_rand_index():
    def rand(y, p):
        same_y = y[:, None] == y[None]
        same_p = p[:, None] == p[None]
        iu = np.triu_indices(len(y), 1)
        return float((same_y == same_p)[iu].mean())
    _fails(checks.check_ari, rand, "unadjusted", "chance")


def test_ari_n_squared_pairs():
    def squared(y, p):
        n = _table(y, p)
        f = lambda m: m * m / 2.0  # noqa: E731
        index, sa, sb = f(n).sum(), f(n.sum(1)).sum(), f(n.sum(0)).sum()
        expected = sa * sb / f(n.sum())
        return (index - expected) / (0.5 * (sa + sb) - expected)
    _fails(checks.check_ari, squared, "n(n-1)/2")


def test_ari_not_rescaled():
    def not_rescaled(y, p):
        n = _table(y, p)
        index, sa, sb = comb(n, 2).sum(), comb(n.sum(1), 2).sum(), comb(n.sum(0), 2).sum()
        return (index - sa * sb / comb(n.sum(), 2)) / comb(n.sum(), 2)
    _fails(checks.check_ari, not_rescaled, "expected", "adjusted_rand_score")


def test_checks_do_not_depend_on_global_random_state():
    np.random.seed(123)
    a = np.random.random()
    checks.check_nmi(nmi_ok)
    np.random.seed(123)
    assert np.random.random() == a
    assert math.isfinite(a)
