"""Week 06's library: RBM/DBN math (against enumeration), NMMC, DP-means, the fine-tuning step."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from course_utils.config import REPO_ROOT
from course_utils.models import dbn as dbn_lib
from course_utils.models import nmmc


def _tiny(seed=0, D=5, H=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(D, H, generator=g, dtype=torch.float64), 0.3 * torch.randn(D, generator=g, dtype=torch.float64),
            0.3 * torch.randn(H, generator=g, dtype=torch.float64))


def test_free_energy_sums_the_energy_over_every_hidden_state():
    W, b, c = _tiny()
    v = (torch.rand(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64) < 0.5).double()
    hs = dbn_lib._all_states(3)
    want = torch.stack([-torch.logsumexp(-dbn_lib.energy(row.expand(len(hs), -1), hs, W, b, c), 0) for row in v])
    assert torch.allclose(dbn_lib.free_energy(v, W, b, c), want)


def test_exact_gradient_is_the_gradient_of_the_exact_log_likelihood():
    W, b, c = _tiny(2)
    v = (torch.rand(6, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64) < 0.5).double()
    params = [t.clone().requires_grad_(True) for t in (W, b, c)]
    loglik = (-dbn_lib.free_energy(v, *params) - dbn_lib.exact_log_partition(*params)).mean()
    auto = torch.autograd.grad(loglik, params)
    for a, e in zip(auto, dbn_lib.exact_gradient(v, W, b, c)):
        assert torch.allclose(a, e, atol=1e-10)


def test_cd_k_with_given_noise_is_deterministic_and_matches_the_generator_draws():
    W, b, c = _tiny(4)
    v = torch.rand(8, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    u = torch.rand(1, 8, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    a = dbn_lib.cd_k_gradients(v, W, b, c, k=1, noise=u)
    b2 = dbn_lib.cd_k_gradients(v, W, b, c, k=1, generator=torch.Generator().manual_seed(6))
    for x, y in zip(a, b2):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="at least one Gibbs step"):
        dbn_lib.cd_k_gradients(v, W, b, c, k=0)


def test_training_an_rbm_lowers_its_reconstruction_error_and_the_dbn_unrolls_into_its_encoder():
    g = torch.Generator().manual_seed(0)
    protos = (torch.rand(3, 16, generator=g) < 0.5).float()
    X = protos[torch.randint(0, 3, (300,), generator=g)]
    X = torch.where(torch.rand(X.shape, generator=g) < 0.05, 1 - X, X)
    torch.manual_seed(0)
    dbn = dbn_lib.DBN((16, 8, 4))
    hist = dbn_lib.pretrain_dbn(dbn, X, epochs=(15, 5), X_val=X[:50], seed=0, batch_size=20)
    assert hist["layer1"]["recon_error"][-1] < 0.5 * hist["layer1"]["recon_error"][0]
    assert set(hist) == {"layer1", "layer2"} and len(hist["layer2"]["epoch"]) == 5
    with torch.no_grad():
        assert torch.allclose(dbn.encoder()(X), dbn.transform(X), atol=1e-6)
    with pytest.raises(ValueError, match="one per layer"):
        dbn_lib.pretrain_dbn(dbn, X, epochs=(1, 2, 3))
    with pytest.raises(ValueError, match="expects"):
        dbn_lib.train_rbm(dbn.rbms[1], X)
    top = dbn.rbms[1].W.detach().clone()
    hist = dbn_lib.pretrain_dbn(dbn, X, epochs=(1, 0), seed=1, batch_size=20)   # 0: the top is left as it is
    assert set(hist) == {"layer1"} and torch.equal(dbn.rbms[1].W, top)


def _blobs(k=4, n=60, d=5, seed=0, spread=0.15):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 2
    y = np.repeat(np.arange(k), n)
    return centers[y] + spread * rng.normal(size=(len(y), d)), y


def test_nmmc_and_dp_means_find_separated_blobs_without_being_told_k():
    from course_utils.metrics import nmi

    X, y = _blobs()
    Z, _, _ = nmmc.standardize_codes(X)
    model = nmmc.fit_nmmc(Z, lam=0.5, passes=5, seed=0, progress=False)
    assert model.n_clusters == 4 and nmi(y, model.labels) > 0.99
    assert np.array_equal(model.predict(Z), model.labels)
    labels, centers = nmmc.dp_means(Z, 0.5, seed=0)
    assert len(centers) == 4 and nmi(y, labels) > 0.99
    # a huge penalty: one cluster; a tiny one: many
    assert nmmc.fit_nmmc(Z, lam=50.0, passes=2, progress=False).n_clusters == 1
    assert nmmc.fit_nmmc(Z, lam=1e-4, passes=1, progress=False).n_clusters > 50


def test_nmmc_rejects_bad_input_and_bad_student_functions_clearly():
    Z = np.zeros((5, 2))
    with pytest.raises(ValueError, match="positive"):
        nmmc.fit_nmmc(Z, lam=0.0, progress=False)
    with pytest.raises(ValueError, match=r"expected \(N, d\)"):
        nmmc.fit_nmmc(np.zeros(3), progress=False)
    with pytest.raises(ValueError, match="assign returned None"):
        nmmc.fit_nmmc(Z, assign=lambda *a: None, progress=False)
    with pytest.raises(ValueError, match="update returned"):
        nmmc.fit_nmmc(Z, update=lambda W, *a: None, progress=False)


def test_the_margin_merge_joins_the_pieces_of_cut_clusters_and_keeps_separated_ones_apart():
    from sklearn.cluster import KMeans

    from course_utils.metrics import nmi

    X, y = _blobs()
    Z, _, _ = nmmc.standardize_codes(X)
    pieces = KMeans(12, n_init=3, random_state=0).fit(Z).labels_       # each blob cut into pieces
    Z0, pieces0 = Z.copy(), pieces.copy()
    merged, history = nmmc.merge_by_margin(Z, pieces)
    assert merged.max() + 1 == 4 and nmi(y, merged) == pytest.approx(1.0)
    assert np.array_equal(Z, Z0) and np.array_equal(pieces, pieces0)     # inputs untouched
    assert history["n_clusters"] == list(range(12, 3, -1))               # one merge per round, then the stop
    assert history["share"][-1] < nmmc.MERGE_SHARE <= min(history["share"][:-1])
    # the blobs themselves: every boundary runs through a gap, nothing is merged
    kept, history = nmmc.merge_by_margin(Z, y)
    assert np.array_equal(kept, nmmc.relabel(y)) and history == {"n_clusters": [4], "share": [0.0]}
    # one tight blob cut in three is one cluster again; nothing is merged when no share can reach the bar
    one = Z[y == 0]
    cut = KMeans(3, n_init=3, random_state=0).fit(one).labels_
    assert nmmc.merge_by_margin(one, cut)[0].tolist() == [0] * len(one)
    assert nmmc.merge_by_margin(one, cut, share=1e9)[0].max() == 2


def test_the_margin_merge_rejects_bad_input_clearly():
    Z = np.zeros((4, 2))
    with pytest.raises(ValueError, match="4 integer cluster ids"):
        nmmc.merge_by_margin(Z, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="4 integer cluster ids"):
        nmmc.merge_by_margin(Z, np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        nmmc.merge_by_margin(np.full((4, 2), np.nan), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="positive"):
        nmmc.merge_by_margin(Z, np.zeros(4, dtype=int), margin=0.0)
    with pytest.raises(ValueError, match=r"expected \(N, d\)"):
        nmmc.merge_by_margin(np.zeros(4), np.zeros(4, dtype=int))


def test_relabel_orders_by_size():
    assert nmmc.relabel(np.array([5, 2, 2, 7, 2, 5])).tolist() == [1, 0, 0, 2, 0, 1]


def test_finetuning_lowers_the_hinge_loss_on_fixed_clusters():
    X, y = _blobs(k=3, n=40, d=12, spread=0.8)
    X = torch.as_tensor(1 / (1 + np.exp(-X)), dtype=torch.float32)
    torch.manual_seed(0)
    dbn = dbn_lib.DBN((12, 6))
    dbn_lib.pretrain_dbn(dbn, X, epochs=3, seed=0, batch_size=20)
    H = dbn.transform(X).double().numpy()
    Z, mean, scale = nmmc.standardize_codes(H)
    model = nmmc.fit_nmmc(Z, lam=0.8, passes=3, progress=False)
    enc = dbn.encoder()
    hist = nmmc.finetune_encoder(enc, X, model.labels, model.W, mean, scale, epochs=15, lr=1e-2, margin=1.0)
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["W"].shape == model.W.shape
    with pytest.raises(ValueError, match="one cluster label per image"):
        nmmc.finetune_encoder(enc, X, model.labels[:-1], model.W, mean, scale)


def test_benchmark_script_calls_the_notebooks_recipe():
    spec = importlib.util.spec_from_file_location("nonparametric_full", REPO_ROOT / "benchmarks" / "nonparametric_full.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.METHODS[-1] == "NMMC after fine-tuning"
    src = (REPO_ROOT / "benchmarks" / "nonparametric_full.py").read_text()
    assert 'settings.week("06", "full")' in src   # the values themselves: tests/test_settings.py
