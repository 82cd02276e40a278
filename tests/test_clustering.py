"""course_utils.clustering: the week-01 reference steps agree with plain loops and scipy, pass the
week-01 self-checks, and match the solution notebook's answers exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from course_utils import clustering
from course_utils.checks import week01 as checks
from course_utils.config import REPO_ROOT
from course_utils.instructor.release import SOLUTION_BEGIN, SOLUTION_END, read_notebook


def test_assign_clusters_nearest_centre_by_loops():
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(50, 3)), rng.normal(size=(4, 3))
    want = [int(np.argmin([((x - c) ** 2).sum() for c in C])) for x in X]
    got = clustering.assign_clusters(X, C)
    assert got.shape == (50,) and np.issubdtype(got.dtype, np.integer)
    assert got.tolist() == want


def test_update_centers_means_and_empty_cluster():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 12.0]])
    C = np.array([[1.0, 1.0], [5.0, 5.0], [-7.0, 3.0]])
    C_before = C.copy()
    new = clustering.update_centers(X, np.array([0, 0, 1, 1]), C)
    assert np.allclose(new, [[1.0, 0.0], [10.0, 11.0], [-7.0, 3.0]])
    assert np.array_equal(C, C_before) and new is not C


def test_e_step_matches_scipy_and_stays_finite_far_away():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    w = np.array([0.2, 0.5, 0.3])
    mu = rng.normal(size=(3, 2))
    var = rng.uniform(0.5, 2.0, size=(3, 2))
    log_resp, ll = clustering.e_step(X, w, mu, var)
    joint = np.stack([np.log(w[k]) + multivariate_normal(mu[k], np.diag(var[k])).logpdf(X)
                      for k in range(3)], axis=1)
    lp = np.log(np.exp(joint).sum(1))
    assert np.allclose(log_resp, joint - lp[:, None])
    assert isinstance(ll, float) and math.isclose(ll, float(lp.sum()), rel_tol=1e-10)
    far, far_ll = clustering.e_step(X + 1000.0, w, mu, var)
    assert np.all(np.isfinite(far)) and math.isfinite(far_ll)


def test_m_step_weighted_moments():
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    w, mu, var = clustering.m_step(X, np.array([[0.25, 0.75], [0.75, 0.25]]), reg=0.0)
    assert np.allclose(w, [0.5, 0.5])
    assert np.allclose(mu, [[2.5, 5.0], [1.5, 3.0]])
    assert np.allclose(var, [[0.75, 3.0], [0.75, 3.0]])
    _, _, var = clustering.m_step(np.ones((3, 2)), np.ones((3, 1)))
    assert np.allclose(var, 1e-6, rtol=0, atol=1e-15)     # zero variance: exactly reg


@pytest.mark.parametrize("name", ["assign_clusters", "update_centers", "e_step", "m_step"])
def test_reference_passes_the_self_check(course_implementation_allowed, name, capsys):
    getattr(checks, f"check_{name}")(getattr(clustering, name))
    assert capsys.readouterr().out.startswith("\u2714")


def _solution_functions() -> dict:
    nb = read_notebook(REPO_ROOT / "solutions" / "01_kmeans_em.ipynb")
    ns: dict = {}
    exec("import numpy as np\nfrom scipy.special import logsumexp\n", ns)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") in (
                "assign_clusters", "update_centers", "e_step", "m_step"):
            exec("\n".join(line for line in cell.source.split("\n")
                           if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END)), ns)
    return ns


def test_reference_gives_exactly_the_solutions_results():
    """Bit for bit: a notebook that falls back on the reference gives the solution's outputs."""
    sol = _solution_functions()
    rng = np.random.default_rng(2)
    X = rng.random((200, 20))
    C = X[:5].copy()
    labels = clustering.assign_clusters(X, C)
    assert np.array_equal(labels, sol["assign_clusters"](X, C))
    assert np.array_equal(clustering.update_centers(X, labels, C), sol["update_centers"](X, labels, C))
    resp = np.eye(5)[labels]
    ref, got = clustering.m_step(X, resp), sol["m_step"](X, resp)
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))
    ref_lr, ref_ll = clustering.e_step(X, *ref)
    sol_lr, sol_ll = sol["e_step"](X, *ref)
    assert np.array_equal(ref_lr, sol_lr) and ref_ll == sol_ll
