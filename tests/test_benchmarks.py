"""The benchmark scripts still find what they measure (timings themselves are not tested)."""
from __future__ import annotations

import importlib.util

import numpy as np
from sklearn.cluster import KMeans

from course_utils.config import REPO_ROOT
from course_utils.data import load_digits


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kmeans_benchmark_runs_the_solution_kmeans():
    kmeans = _load("kmeans_benchmark").load_solution_kmeans()
    X = load_digits()[0].numpy().astype(np.float64)
    ours = kmeans(X, 10, n_init=3, seed=0)
    ref = KMeans(10, n_init=3, random_state=0).fit(X)
    assert ours.labels.shape == (len(X),)
    assert ours.inertia <= 1.02 * ref.inertia_, (ours.inertia, ref.inertia_)
