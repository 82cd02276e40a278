"""Wrong answers to week 01's exercises (k-means, EM, ACC / NMI / ARI). See README.md."""
from __future__ import annotations

NOTEBOOK = "01_kmeans_em.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import numpy as np\n"
         "from scipy.optimize import linear_sum_assignment\n"
         "from scipy.special import logsumexp\n"
         "from course_utils.checks import week01 as checks\n", ns)
    return ns


CASES = [
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
    ("test_update_centers", "writes into centers in place", '''
def update_centers(X, labels, centers):
    for k in range(centers.shape[0]):
        if (labels == k).any():
            centers[k] = X[labels == k].mean(axis=0)
    return centers
'''),
]
