"""The benchmark scripts still find what they measure (timings themselves are not tested)."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans

from course_utils import settings
from course_utils.config import REPO_ROOT
from course_utils.data import DatasetNotFoundError, load_digits, load_mnist


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
    small = {**settings.video("full"), "a_channels": (1, 2, 2), "convlstm_hidden": (2,)}
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


# -- the epoch and notebook timers: run as scripts, tiny sizes -----------------------------------

TINY = ["--n", "200", "--hidden", "32", "32", "64", "--repeats", "1"]


def _run_script(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / f"{name}.py"), *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def mnist_available():
    try:
        load_mnist("test", limit=1, download=False)
    except DatasetNotFoundError:
        pytest.skip("MNIST is not in COURSE_DATA_DIR (the epoch benchmarks load it)")


@pytest.mark.kernel
def test_vade_epoch_benchmark_agrees_with_the_plain_loss_and_prints_the_ratio(mnist_available):
    run = _run_script("vade_epoch", *TINY, "--threads", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK: the two formulations agree." in run.stdout, run.stdout
    assert re.search(r"^time ratio course / plain: \d+\.\d+", run.stdout, re.M), run.stdout


@pytest.mark.kernel
def test_dec_epoch_benchmark_prints_the_idec_dec_ratio(mnist_available):
    run = _run_script("dec_epoch", *TINY)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"^time ratio IDEC / DEC: \d+\.\d+", run.stdout, re.M), run.stdout


@pytest.mark.kernel
def test_notebook_runtimes_help_and_a_missing_notebook():
    run = _run_script("notebook_runtimes", "--help")
    assert run.returncode == 0 and "--json" in run.stdout, run.stdout + run.stderr
    missing = REPO_ROOT / "solutions" / "no_such_notebook.ipynb"
    run = _run_script("notebook_runtimes", str(missing))
    assert run.returncode != 0
    assert "no_such_notebook.ipynb" in run.stderr and "not found" in run.stderr, run.stderr
