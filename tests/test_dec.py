"""Unit tests of ``course_utils.models.dec`` (DEC / IDEC) and of the full-mode benchmark script."""
from __future__ import annotations

import argparse
import importlib.util
import math

import numpy as np
import pytest
import torch

from course_utils import metrics
from course_utils.config import REPO_ROOT
from course_utils.data import load_digits
from course_utils.models import MLPAutoencoder
from course_utils.models.dec import (DEC, DEC_DA_RECIPE, DEC_RECIPE, IDEC_RECIPE, init_centers_kmeans, kl_clustering_loss,
                                     make_dec_optimizer, soft_assignment, target_distribution, stop_reason, train_dec)
from course_utils.train import TrainingDiverged


def brute_q(z, mu, alpha):
    q = np.zeros((len(z), len(mu)))
    for i in range(len(z)):
        for j in range(len(mu)):
            q[i, j] = (1 + np.sum((z[i] - mu[j]) ** 2) / alpha) ** (-(alpha + 1) / 2)
        q[i] /= q[i].sum()
    return q


@pytest.mark.parametrize("alpha", [0.5, 1.0, 4.0])
def test_soft_assignment_matches_the_formula(alpha):
    g = torch.Generator().manual_seed(0)
    z, mu = torch.randn(9, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    q = soft_assignment(z, mu, alpha)
    np.testing.assert_allclose(q.numpy(), brute_q(z.numpy(), mu.numpy(), alpha), rtol=1e-10)
    far = soft_assignment(z * 1e6, mu, alpha)
    assert torch.isfinite(far).all() and torch.allclose(far.sum(1), torch.ones(9, dtype=torch.float64))


def test_soft_assignment_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same d"):
        soft_assignment(torch.zeros(3, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="positive"):
        soft_assignment(torch.zeros(3, 2), torch.zeros(4, 2), alpha=0)


def test_target_distribution_sharpens_and_balances():
    q = torch.tensor([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.3, 0.7]], dtype=torch.float64, requires_grad=True)
    p = target_distribution(q)
    assert not p.requires_grad
    assert torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64))
    f = q.detach().sum(0)
    w = q.detach() ** 2 / f
    assert torch.allclose(p, w / w.sum(1, keepdim=True))
    assert p[2, 0] > q[2, 0] and p[3, 1] > q[3, 1]          # confident rows get sharper


def test_kl_is_batchmean_and_zero_on_equal():
    g = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), 1)
    q = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), 1)
    want = torch.nn.functional.kl_div(q.log(), p, reduction="batchmean")
    assert math.isclose(float(kl_clustering_loss(p, q)), float(want), rel_tol=1e-8)
    assert abs(float(kl_clustering_loss(p, p))) < 1e-9
    with pytest.raises(ValueError, match="must match"):
        kl_clustering_loss(p, q[:, :4])


def small_ae(seed=0):
    torch.manual_seed(seed)
    return MLPAutoencoder(64, (32,), 4)


def test_dec_drops_or_keeps_the_decoder_and_copies_the_autoencoder():
    ae = small_ae()
    dec, idec = DEC(ae, 5), DEC(ae, 5, keep_decoder=True)
    assert dec.decoder is None and idec.decoder is not None and idec.keeps_decoder
    x = torch.rand(7, 64)
    z, q, x_hat = dec(x)
    assert z.shape == (7, 4) and q.shape == (7, 5) and x_hat is None
    assert idec(x)[2].shape == (7, 64)
    with torch.no_grad():
        dec.encoder[0].weight.add_(1.0)          # training DEC must not touch the cached autoencoder
    assert not torch.allclose(dec.encoder[0].weight, ae.encoder[0].weight)
    with pytest.raises(TypeError, match="MLPAutoencoder"):
        DEC(torch.nn.Linear(3, 3), 5)


def test_init_centers_is_kmeans_on_the_embedding():
    X = load_digits()[0][:300]
    model = DEC(small_ae(), 6)
    labels = init_centers_kmeans(model, X, seed=0, n_init=3)
    assert labels.shape == (300,)
    assert np.array_equal(model.predict(X), model.predict(X))
    # argmax q with the k-means centres is the nearest centre, i.e. the k-means labels
    assert np.mean(model.predict(X) == labels) > 0.99


@pytest.fixture(scope="module")
def digits_ae():
    X, y = load_digits()
    torch.manual_seed(0)
    ae = MLPAutoencoder(64, (64,), 10)
    from course_utils.train import ae_objective, fit
    fit(ae, X, ae_objective, 20, lr=3e-3, batch_size=64, progress=False)
    return ae, X, y.numpy()


@pytest.mark.parametrize("recipe, keep", [(DEC_RECIPE, False), (IDEC_RECIPE, True)])
def test_train_dec_hardens_the_assignments_and_stops_on_tol(digits_ae, recipe, keep):
    ae, X, y = digits_ae
    model = DEC(ae, 10, keep_decoder=keep)
    init_centers_kmeans(model, X, seed=0, n_init=5)
    confidence_before = float(model.predict_proba(X).max(1).values.mean())
    seen = []
    max_iter = 1500
    history = train_dec(model, X, gamma=recipe["gamma"], optimizer=make_dec_optimizer(model, recipe),
                        batch_size=64, tol=recipe["tol"], max_iter=max_iter, progress=False,
                        callbacks=[lambda u, m, logs: seen.append((u, logs["delta_label"]))])
    assert [u for u, _ in seen] == history["epoch"] == list(range(1, len(seen) + 1))
    assert all(np.isfinite(history["loss"])) and ("recon" in history) == keep
    # it stops on the tolerance, or after max_iter iterations (one update per pass of 29 batches)
    assert history["delta_label"][-1] < recipe["tol"] or len(seen) == math.ceil(max_iter / math.ceil(len(X) / 64))
    # what the loss is for: sharper soft assignments than at the start (accuracy may go either way)
    assert float(model.predict_proba(X).max(1).values.mean()) > confidence_before + 0.05
    assert metrics.cluster_acc(y, model.predict(X)) > 0.5


def test_train_dec_checks_its_arguments():
    model = DEC(small_ae(), 3)
    with pytest.raises(ValueError, match="keep_decoder=True"):
        train_dec(model, torch.rand(10, 64), gamma=0.1, progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        train_dec(model, torch.rand(0, 64), progress=False)


def test_train_dec_reports_divergence():
    model = DEC(small_ae(), 3)
    with torch.no_grad():
        model.centers.normal_()
    X = torch.rand(40, 64)
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(TrainingDiverged, match="iteration"):
        train_dec(model, X, optimizer=opt, batch_size=8, max_iter=200, tol=0.0, progress=False)


def test_benchmark_script_runs_one_seed(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location("dec_full", REPO_ROOT / "benchmarks" / "dec_full.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    X, y = load_digits()
    args = argparse.Namespace(recipe="adam", ae_epochs=2, every=1000, max_iter=60, update_interval=None)
    out = module.run_seed(X[:300], y[:300].numpy(), 0, args)
    assert set(out) == set(module.METHODS)
    for r in out.values():
        assert 0.0 <= r["acc"] <= 1.0 and r["seconds"] >= 0


def test_dec_da_targets_come_from_clean_images_and_q_from_augmented_ones(digits_ae, monkeypatch):
    """DEC-DA: every mini-batch is an augmented copy; p and the labels are computed on clean X."""
    import course_utils.data as data_module

    ae, X, y = digits_ae
    model = DEC(ae, 10)
    init_centers_kmeans(model, X, seed=0, n_init=5)
    seen = {"batches": 0}
    real = data_module.random_affine

    def counting(x, **kwargs):
        seen["batches"] += 1
        assert x.shape[1] == X.shape[1] and kwargs["max_rotation"] == 10.0 and kwargs["max_shift"] == 0.1
        return real(x, **kwargs)

    monkeypatch.setattr(data_module, "random_affine", counting)
    encoded = []
    model_encode = model.encode
    monkeypatch.setattr(model, "encode", lambda x: encoded.append(x) or model_encode(x))
    history = train_dec(model, X, optimizer=make_dec_optimizer(model, DEC_DA_RECIPE), batch_size=64,
                        max_iter=120, tol=0.0, progress=False, augment=DEC_DA_RECIPE["augment"])
    assert seen["batches"] == 120
    # the full-set passes that make p and the labels see exactly the clean images
    assert all(any(torch.equal(e, X[i:i + 2048]) for i in range(0, len(X), 2048)) for e in encoded)
    assert all(np.isfinite(history["loss"])) and metrics.cluster_acc(y, model.predict(X)) > 0.4


def _first_plateau(deltas, window, patience, tol):
    """The update (from 1) at which the plateau rule says stop, recomputed from the label changes."""
    lowest, since = math.inf, 0
    for i, d in enumerate(deltas):
        smooth = float(np.mean(deltas[max(0, i - window + 1):i + 1]))
        lowest, since = (smooth, 0) if smooth < lowest else (lowest, since + 1)
        if d < tol or since >= patience:
            return i + 1
    return None


def test_dec_da_plateau_stop_ends_where_the_smoothed_label_change_stops_falling(digits_ae):
    """``patience``: the run ends at the first update where the mean label change of the last
    ``window`` updates has made no new low for ``patience`` updates, not earlier, not later."""
    ae, X, _ = digits_ae
    kwargs = dict(batch_size=64, max_iter=3000, tol=0.0, progress=False, augment=DEC_DA_RECIPE["augment"])
    model = DEC(ae, 10)
    init_centers_kmeans(model, X, seed=0, n_init=5)
    free = train_dec(model, X, optimizer=make_dec_optimizer(model, DEC_DA_RECIPE), **kwargs)
    assert stop_reason(free, 0.0, 3000, math.ceil(len(X) / 64)) == "max_iter"
    want = _first_plateau(free["delta_label"], 3, 4, 0.0)
    assert want is not None and want < len(free["epoch"]), "the free run never plateaued: the test shows nothing"
    model = DEC(ae, 10)
    init_centers_kmeans(model, X, seed=0, n_init=5)
    stopped = train_dec(model, X, optimizer=make_dec_optimizer(model, DEC_DA_RECIPE), patience=4, window=3, **kwargs)
    assert len(stopped["epoch"]) == want, f"stopped after {len(stopped['epoch'])} updates, the rule says {want}"
    assert stopped["delta_label"] == free["delta_label"][:want]   # the same run until it stops
    assert stop_reason(stopped, 0.0, 3000, math.ceil(len(X) / 64)) == "plateau"
    assert all(math.isfinite(v) for v in stopped["delta_smooth"])
    assert DEC_DA_RECIPE["patience"] >= 1 and DEC_DA_RECIPE["window"] >= 1   # the recipe turns it on
    with pytest.raises(ValueError, match="patience"):
        train_dec(model, X, patience=0, progress=False)


@pytest.mark.slow
def test_idec_on_bernoulli_pretraining_does_not_fall_below_its_kmeans_start(tmp_path, monkeypatch):
    """IDEC takes its reconstruction term from the autoencoder (BCE on logits for ``bce-aug``).

    With the squared error it used to apply to every decoder, the same run tears the embedding
    apart (the control below: ACC falls far below the k-means start).
    """
    from course_utils.data import load_mnist
    from course_utils.train import pretrained_autoencoder

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    X, y = load_mnist("test", limit=2000)
    y = y.numpy()
    ae = pretrained_autoencoder(X, 10, (256, 256, 1024), epochs=30, recipe="bce-aug", seed=0,
                                progress=False, verbose=False)
    assert ae.output == "logits"
    results = {}
    for output in ("logits", "pixels"):           # "pixels": the old squared error on logits
        torch.manual_seed(0)
        model = DEC(ae, 10, keep_decoder=True)
        model.output = output
        start = metrics.cluster_acc(y, init_centers_kmeans(model, X, seed=0))
        train_dec(model, X, gamma=IDEC_RECIPE["gamma"], optimizer=make_dec_optimizer(model, IDEC_RECIPE),
                  batch_size=256, tol=IDEC_RECIPE["tol"], max_iter=600, progress=False)
        results[output] = (start, metrics.cluster_acc(y, model.predict(X)))
    start, end = results["logits"]
    assert end >= start, f"IDEC fell from its k-means start {start:.3f} to {end:.3f}"
    bad_start, bad_end = results["pixels"]
    assert bad_end < bad_start - 0.05, results     # the test can tell the two apart
