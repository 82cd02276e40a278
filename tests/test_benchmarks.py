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


def test_prednet_benchmark_builds_the_library_models_and_summarises_scores():
    from course_utils.models import prednet as pn

    bench = _load("prednet_full")
    small = {**pn.WEEK07_FULL, "a_channels": (1, 2, 2), "convlstm_hidden": (2,)}
    assert isinstance(bench.build("L_0", small), pn.PredNet) and isinstance(bench.build("L_all", small), pn.PredNet)
    assert isinstance(bench.build("ConvLSTM", small), pn.ConvLSTMPredictor)
    scores = {"next": {"mse": np.array([3.0, 5.0]), "ssim": np.array([0.5, 0.7]), "psnr": np.array([20.0, 22.0])}}
    s = bench.summary(scores)["next"]
    assert s["mse_t+1"] == 3.0 and s["mse_mean"] == 4.0 and s["ssim_mean"] == 0.6 and s["psnr_mean"] == 21.0
    try:
        bench.build("PredNet", small)
    except ValueError as exc:
        assert "L_0" in str(exc)
    else:
        raise AssertionError("an unknown model name must be an error")
