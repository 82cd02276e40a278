"""Unit tests of ``course_utils.models.vade``: shapes, responsibilities, the loss, stability, init."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from course_utils.models import MLPAutoencoder
from course_utils.models.vade import (VADE_RECIPE, VaDE, gamma, init_from_autoencoder, init_gmm_from_latent,
                                      log_gamma, make_optimizer, step_decay_callback, vade_elbo_loss,
                                      vade_objective)

LOG_2PI = math.log(2 * math.pi)


def small(seed=0, K=4, J=3, D=20):
    torch.manual_seed(seed)
    model = VaDE(in_dim=D, hidden=(16, 8), latent_dim=J, n_clusters=K).double()
    with torch.no_grad():
        model.mu_c.normal_(0, 2)
        model.logvar_c.normal_(0, 0.5)
        model.pi_logits.normal_()
    return model


def test_shapes_and_parameters():
    model = small()
    x = torch.rand(5, 20, dtype=torch.float64)
    x_logits, z, mu, logvar = model(x)
    assert x_logits.shape == (5, 20) and z.shape == mu.shape == logvar.shape == (5, 3)
    assert model.log_gamma(z).shape == (5, 4)
    assert model.pi.shape == (4,) and model.mu_c.shape == model.logvar_c.shape == (4, 3)
    n_gmm = sum(p.numel() for p in model.gmm_parameters())
    assert n_gmm == 4 + 2 * 12
    assert sum(p.numel() for p in model.network_parameters()) + n_gmm == sum(p.numel() for p in model.parameters())
    assert model.predict(x.float().double()).shape == (5,)
    assert model.sample_clusters(2).shape == (8, 20)
    assert model.sample_clusters(3, clusters=[2, 0]).shape == (6, 20)


def test_reference_sizes():
    model = VaDE()
    sizes = [(m.in_features, m.out_features) for m in model.encoder if isinstance(m, torch.nn.Linear)]
    assert sizes == [(784, 500), (500, 500), (500, 2000)]
    assert (model.mu_head.out_features, model.logvar_head.out_features) == (10, 10)
    assert model.n_clusters == 10


def test_gamma_rows_sum_to_one_and_match_bayes():
    model = small()
    z = torch.randn(9, 3, dtype=torch.float64) * 3
    g = model.gamma(z)
    assert torch.allclose(g.sum(1), torch.ones(9, dtype=torch.float64))
    # Bayes' rule by brute force, one (n, c) pair at a time
    pi, var, mu_c = model.pi.detach(), model.logvar_c.detach().exp(), model.mu_c.detach()
    for n in range(9):
        p = [float(pi[c]) * math.prod(
            math.exp(-(float(z[n, j]) - float(mu_c[c, j])) ** 2 / (2 * float(var[c, j])))
            / math.sqrt(2 * math.pi * float(var[c, j])) for j in range(3)) for c in range(4)]
        assert np.allclose(g[n].detach().numpy(), np.array(p) / sum(p))


def test_mixture_same_family_normaliser():
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    model = small()
    z = torch.randn(6, 3, dtype=torch.float64)
    mix = MixtureSameFamily(Categorical(logits=model.pi_logits),
                            Independent(Normal(model.mu_c, torch.exp(0.5 * model.logvar_c)), 1))
    joint = model.log_pi[None] + mix.component_distribution.log_prob(z[:, None, :])
    assert torch.allclose(model.log_gamma(z), joint - mix.log_prob(z)[:, None])


def test_loss_matches_per_sample_loop():
    model = small()
    x = torch.rand(7, 20, dtype=torch.float64)
    x_logits, z, mu, logvar = model(x)
    out = vade_elbo_loss(x, x_logits, z, mu, logvar, model.log_pi, model.mu_c, model.logvar_c)
    pi, mu_c, lv_c = model.pi.detach().numpy(), model.mu_c.detach().numpy(), model.logvar_c.detach().numpy()
    X, L, Z, M, LV = (t.detach().numpy() for t in (x, x_logits, z, mu, logvar))
    total = {k: 0.0 for k in ("recon", "gauss", "prior_c", "entropy_c", "entropy_z")}
    for n in range(7):
        p = 1 / (1 + np.exp(-L[n]))
        total["recon"] += -sum(X[n, d] * math.log(p[d]) + (1 - X[n, d]) * math.log(1 - p[d]) for d in range(20))
        joint = [math.log(pi[c]) + sum(-0.5 * (LOG_2PI + lv_c[c, j] + (Z[n, j] - mu_c[c, j]) ** 2 / math.exp(lv_c[c, j]))
                                        for j in range(3)) for c in range(4)]
        norm = math.log(sum(math.exp(v) for v in joint))
        for c in range(4):
            g = math.exp(joint[c] - norm)
            total["gauss"] += 0.5 * g * sum(LOG_2PI + lv_c[c, j] + math.exp(LV[n, j]) / math.exp(lv_c[c, j])
                                            + (M[n, j] - mu_c[c, j]) ** 2 / math.exp(lv_c[c, j]) for j in range(3))
            total["prior_c"] -= g * math.log(pi[c])
            total["entropy_c"] += g * (joint[c] - norm)
        total["entropy_z"] += -0.5 * sum(1 + LV[n, j] for j in range(3))
    for k, v in total.items():
        assert math.isclose(float(out[k]), v / 7, rel_tol=1e-9, abs_tol=1e-9), k
    assert math.isclose(float(out["loss"]), sum(total.values()) / 7, rel_tol=1e-9)
    assert math.isclose(float(out["kl"]), float(out["loss"] - out["recon"]), rel_tol=1e-9)


def test_no_nan_with_extreme_inputs():
    model = small()
    z = torch.tensor([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0], [-3e3, 2e3, 1e3]], dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        m = model.to(dtype)
        lg = m.log_gamma(z.to(dtype))
        assert torch.isfinite(lg).all()
        assert torch.allclose(lg.exp().sum(1), torch.ones(3, dtype=dtype), atol=1e-5)
        x = torch.rand(3, 20, dtype=dtype)
        out = vade_elbo_loss(x, 1e3 * torch.randn(3, 20, dtype=dtype), z.to(dtype), z.to(dtype),
                             torch.full((3, 3), -20.0, dtype=dtype), m.log_pi, m.mu_c, m.logvar_c)
        assert all(torch.isfinite(v) for v in out.values())
        out["loss"].backward()
        assert all(torch.isfinite(p.grad).all() for p in m.gmm_parameters() if p.grad is not None)
        m.zero_grad()


def test_pi_stays_on_simplex_and_variances_positive_under_training():
    torch.manual_seed(0)
    model = VaDE(in_dim=20, hidden=(16,), latent_dim=2, n_clusters=3)
    opt = make_optimizer(model, lr=0.5)                # absurdly large steps
    x = torch.rand(32, 20)
    for _ in range(30):
        out = vade_objective(model, x)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        assert torch.isfinite(out["loss"])
        assert torch.all(model.pi >= 0) and math.isclose(float(model.pi.sum()), 1.0, rel_tol=1e-6)
        assert torch.all(model.logvar_c.exp() > 0)


def test_gmm_init_copies_sklearn():
    rng = np.random.default_rng(1)
    Z = np.concatenate([rng.normal(m, 0.5, size=(100, 3)) for m in (-4, 0, 5)])
    model = VaDE(in_dim=10, hidden=(8,), latent_dim=3, n_clusters=3)
    gmm = init_gmm_from_latent(model, torch.as_tensor(Z, dtype=torch.float32), seed=2)
    ref = GaussianMixture(3, covariance_type="diag", random_state=2).fit(Z.astype(np.float32).astype(np.float64))
    assert np.allclose(model.pi.detach().numpy(), ref.weights_, atol=1e-6)
    assert np.allclose(model.mu_c.detach().numpy(), ref.means_, atol=1e-5)
    assert np.allclose(model.logvar_c.detach().exp().numpy(), ref.covariances_, rtol=1e-5)
    assert np.allclose(gmm.means_, ref.means_)
    with pytest.raises(ValueError, match="expected"):
        init_gmm_from_latent(model, Z[:, :2])


def test_init_from_autoencoder():
    torch.manual_seed(0)
    ae = MLPAutoencoder(20, (16, 8), 3)
    model = VaDE(20, (16, 8), 3, 4)
    init_from_autoencoder(model, ae, logit_scale=None, logvar_init=-2.0)
    x = torch.rand(5, 20)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        assert torch.allclose(mu, ae.encode(x))
        assert torch.allclose(logvar, torch.full_like(logvar, -2.0))
        assert torch.allclose(model.decode(mu), ae(x))
    init_from_autoencoder(model, ae, logit_scale=8.0)  # optional rescaling
    with torch.no_grad():
        assert torch.allclose(model.decode(mu), 8.0 * (ae(x) - 0.5), atol=1e-5)
    with pytest.raises(ValueError, match="sizes"):
        init_from_autoencoder(VaDE(20, (16,), 3, 4), ae)


def test_predict_uses_the_mean_and_is_deterministic():
    model = small().float()
    x = torch.rand(50, 20)
    a, b = model.predict(x), model.predict(x)
    assert np.array_equal(a, b)
    with torch.no_grad():
        mu, _ = model.encode(x)
        assert np.array_equal(a, model.gamma(mu).argmax(1).numpy())


def test_optimizer_and_schedule_follow_the_reference():
    model = small().float()
    opt = make_optimizer(model)
    assert [g["name"] for g in opt.param_groups] == ["network", "gmm"]
    assert all(g["eps"] == 1e-4 and g["lr"] == 2e-3 for g in opt.param_groups)
    cb = step_decay_callback(opt)
    lrs = []
    for epoch in range(1, 301):
        logs = {}
        cb(epoch, model, logs)
        lrs.append(logs["lr"])
    assert lrs[8] == 2e-3 and math.isclose(lrs[9], 1.8e-3) and math.isclose(lrs[19], 2e-3 * 0.9 ** 2)
    assert math.isclose(lrs[-1], VADE_RECIPE["lr_min"])


def test_functions_agree_with_methods():
    model = small()
    z = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(log_gamma(z, model.log_pi, model.mu_c, model.logvar_c), model.log_gamma(z))
    assert torch.allclose(gamma(z, model.log_pi, model.mu_c, model.logvar_c), model.gamma(z))


def test_gmm_init_can_start_from_kmeans_restarts():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(c, 0.3, size=(60, 2)) for c in ((0, 0), (4, 0), (0, 4), (4, 4))])
    model = VaDE(in_dim=8, hidden=(4,), latent_dim=2, n_clusters=4)
    gmm = init_gmm_from_latent(model, Z, seed=1, kmeans_restarts=5)
    centres = KMeans(4, n_init=5, random_state=1).fit(Z).cluster_centers_
    ref = GaussianMixture(4, covariance_type="diag", random_state=1, means_init=centres).fit(Z)
    np.testing.assert_allclose(gmm.means_, ref.means_, rtol=1e-6)
    np.testing.assert_allclose(model.mu_c.detach().numpy(), ref.means_, rtol=1e-5, atol=1e-6)


def test_gmm_init_without_em_is_the_kmeans_partitions_moments():
    """em=False: weights, means and variances are those of the best k-means partition (no EM step),
    and the mixture's own predict gives that partition back on well-separated codes."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(c, s, size=(n, 2)) for c, s, n in
                        (((0, 0), 0.3, 50), ((4, 0), 0.5, 70), ((0, 4), 0.2, 40), ((4, 4), 0.4, 60))])
    model = VaDE(in_dim=8, hidden=(4,), latent_dim=2, n_clusters=4)
    gmm = init_gmm_from_latent(model, Z, seed=1, kmeans_restarts=5, em=False)
    km = KMeans(4, n_init=5, random_state=1).fit(Z)
    sizes = np.bincount(km.labels_, minlength=4)
    var = np.stack([Z[km.labels_ == c].var(axis=0) for c in range(4)]) + 1e-6
    np.testing.assert_allclose(gmm.weights_, sizes / len(Z), rtol=1e-12)
    np.testing.assert_allclose(gmm.means_, km.cluster_centers_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gmm.covariances_, var, rtol=1e-6)
    np.testing.assert_allclose(model.pi.detach().numpy(), sizes / len(Z), rtol=1e-5)
    np.testing.assert_allclose(model.mu_c.detach().numpy(), km.cluster_centers_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.logvar_c.detach().numpy(), np.log(var), rtol=1e-5, atol=1e-5)
    assert (gmm.predict(Z) == km.labels_).all() and gmm.n_iter_ == 0
    with pytest.raises(ValueError, match="kmeans_restarts=0"):
        init_gmm_from_latent(model, Z, kmeans_restarts=0, em=False)


def test_full_mode_vade_reads_its_mixture_off_kmeans_and_fast_mode_runs_em():
    from course_utils import settings

    assert settings.results_settings("full")["vade"]["gmm_em"] is False
    assert settings.results_settings("fast")["vade"]["gmm_em"] is True
    assert settings.results_settings("full")["gmm_kmeans_restarts"] >= 1
