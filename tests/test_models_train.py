"""Unit tests of course_utils.models (autoencoder, VAE, loss) and course_utils.train (loop, cache)."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from course_utils import config, models, train
from course_utils.models import VAE, MLPAutoencoder, linear_layer_sizes, reconstruction_loss, vae_loss


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own empty COURSE_CACHE_DIR and a data dir that must stay untouched."""
    cache = tmp_path / "cache"
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    return cache


def toy_data(n=256, d=20, seed=0):
    """Binary-ish images made from 4 prototypes with noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, d, generator=g) > 0.5).float()
    y = torch.randint(0, 4, (n,), generator=g)
    flips = torch.rand(n, d, generator=g) < 0.05
    X = torch.where(flips, 1 - protos[y], protos[y])
    return X, y


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------

def test_autoencoder_shapes_and_layer_sizes():
    ae = MLPAutoencoder()
    assert linear_layer_sizes(ae.encoder) == [(784, 500), (500, 500), (500, 2000), (2000, 10)]
    assert linear_layer_sizes(ae.decoder) == [(10, 2000), (2000, 500), (500, 500), (500, 784)]
    x = torch.rand(3, 784)
    assert ae.encode(x).shape == (3, 10) and ae(x).shape == (3, 784)
    assert sum(isinstance(m, nn.ReLU) for m in ae.encoder) == 3  # none after the embedding
    assert not isinstance(ae.decoder[-1], nn.ReLU)  # linear output
    small = MLPAutoencoder(in_dim=30, hidden=(16, 8), latent_dim=2)
    assert linear_layer_sizes(small) == [(30, 16), (16, 8), (8, 2), (2, 8), (8, 16), (16, 30)]
    assert small(torch.rand(5, 30)).shape == (5, 30)
    assert "hidden=(16, 8)" in repr(small)
    with pytest.raises(ValueError, match="positive"):
        MLPAutoencoder(hidden=(500, 0))


def test_vae_shapes_heads_and_sampling():
    vae = VAE(in_dim=30, hidden=(16, 8, 24), latent_dim=3)
    assert linear_layer_sizes(vae.encoder) == [(30, 16), (16, 8), (8, 24)]
    assert isinstance(vae.encoder[-1], nn.ReLU)  # the heads read a ReLU output
    assert linear_layer_sizes(vae.decoder) == [(3, 24), (24, 8), (8, 16), (16, 30)]
    x = torch.rand(7, 30)
    x_logits, mu, logvar = vae(x)
    assert x_logits.shape == (7, 30) and mu.shape == logvar.shape == (7, 3)
    assert (x_logits < 0).any()  # logits, not probabilities
    samples = vae.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 30) and samples.min() >= 0 and samples.max() <= 1
    n = sum(p.numel() for p in VAE().parameters())
    assert n == 3_350_804


def test_reparameterize_statistics_and_gradient():
    torch.manual_seed(0)
    mu = torch.full((50_000, 2), 3.0, requires_grad=True)
    logvar = torch.log(torch.tensor([0.25, 4.0])).expand(50_000, 2).clone().requires_grad_()
    z = models.reparameterize(mu, logvar)
    assert torch.allclose(z.mean(0), torch.tensor([3.0, 3.0]), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 2.0]), rtol=0.02)
    z.sum().backward()
    assert torch.all(mu.grad == 1)
    assert torch.allclose(logvar.grad, 0.5 * (z - mu).detach(), atol=1e-6)


def test_vae_loss_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    B, D, d = 8, 12, 3
    x = torch.rand(B, D, generator=g)
    x_logits = 3 * torch.randn(B, D, generator=g)
    mu, logvar = torch.randn(B, d, generator=g), torch.randn(B, d, generator=g)
    loss, recon, kl = vae_loss(x, x_logits, mu, logvar, beta=2.5)
    want_recon = -Bernoulli(logits=x_logits, validate_args=False).log_prob(x).sum(1).mean()
    want_kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert recon.shape == kl.shape == loss.shape == ()
    assert torch.allclose(recon, want_recon, rtol=1e-5)
    assert torch.allclose(kl, want_kl, rtol=1e-5)
    assert torch.allclose(loss, want_recon + 2.5 * want_kl, rtol=1e-5)
    # stable for huge logits
    _, big, _ = vae_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[-200.0, 200.0]]), mu[:1], logvar[:1])
    assert torch.isfinite(big) and big.item() < 1e-6
    with pytest.raises(ValueError, match="must match"):
        vae_loss(x, x_logits[:, :5], mu, logvar)
    assert torch.allclose(reconstruction_loss(x, x + 0.5), torch.tensor(0.25 * D))


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------

def test_fit_lowers_the_loss_and_calls_callbacks_every_epoch():
    X, y = toy_data()
    torch.manual_seed(0)
    model = MLPAutoencoder(20, (32,), 2)
    calls = []

    def record(epoch, m, logs):
        assert m is model and not m.training
        calls.append((epoch, dict(logs)))
        logs["twice"] = 2 * logs["loss"]

    history = train.fit(model, X, train.ae_objective, epochs=15, lr=3e-3, batch_size=32,
                        callbacks=[record], progress=False)
    assert [c[0] for c in calls] == list(range(1, 16))
    assert history["epoch"] == list(range(1, 16))
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["twice"] == pytest.approx([2 * v for v in history["loss"]])


def test_fit_is_repeatable_and_takes_a_loader():
    X, _ = toy_data()
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = VAE(20, (16,), 2)
        runs.append(train.fit(model, X, train.vae_objective(1.0), epochs=3, batch_size=64, progress=False, seed=5))
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"epoch", "loss", "recon", "kl"}
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, torch.zeros(len(X))), batch_size=50)
    h = train.fit(MLPAutoencoder(20, (16,), 2), loader, train.ae_objective, epochs=2, progress=False)
    assert len(h["loss"]) == 2


def test_fit_stops_on_nan_with_a_clear_message():
    X, _ = toy_data()
    model = MLPAutoencoder(20, (16,), 2)

    def explodes(m, x):
        loss = train.ae_objective(m, x)
        return loss * float("nan") if explodes.calls >= 5 else loss

    explodes.calls = 0

    def counting(m, x):
        explodes.calls += 1
        return explodes(m, x)

    with pytest.raises(train.TrainingDiverged, match=r"loss became nan at epoch 2, batch 1 of 4.*lower learning rate"):
        train.fit(model, X, counting, epochs=3, batch_size=64, progress=False)
    with pytest.raises(train.TrainingDiverged, match=r"kl became inf at epoch 1, batch 1.*log-variance"):
        train.fit(model, X, lambda m, x: {"loss": train.ae_objective(m, x), "kl": torch.tensor(float("inf"))},
                  epochs=1, progress=False)
    with pytest.raises(TypeError, match="must return the loss"):
        train.fit(model, X, lambda m, x: 1.0, epochs=1, progress=False)


def test_cluster_metrics_and_monitor_callbacks():
    X, y = toy_data(n=200)
    torch.manual_seed(0)
    model = MLPAutoencoder(20, (32,), 4)

    class Monitor:
        def __init__(self):
            self.updates = []

        def update(self, epoch, **values):
            self.updates.append((epoch, values))

    mon = Monitor()
    cbs = [train.cluster_metrics_callback(X, y, n_clusters=4, every=2), train.monitor_callback(mon)]
    history = train.fit(model, X, train.ae_objective, epochs=4, lr=3e-3, batch_size=32, callbacks=cbs, progress=False)
    assert [e for e, _ in mon.updates] == [1, 2, 3, 4]
    assert set(mon.updates[0][1]) == {"loss", "acc", "nmi", "ari"}
    assert "acc" not in mon.updates[2][1]  # epoch 3: not scored
    assert history["acc"][2] is None and history["acc"][3] > 0.5
    replayed = Monitor()
    train.replay_history(replayed, history, keys=("loss", "acc"))
    assert [e for e, _ in replayed.updates] == [1, 2, 3, 4] and set(replayed.updates[1][1]) == {"loss", "acc"}
    Z = train.encode_dataset(VAE(20, (16,), 3), X, batch_size=64)
    assert Z.shape == (200, 3) and Z.dtype == torch.float32
    assert train.cluster_latent(Z, 4, "kmeans").shape == (200,)


# --------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------

def _cached_small(cfg, counter, seed=0, **kwargs):
    X, _ = toy_data()

    def build():
        return MLPAutoencoder(20, (16,), 2)

    def fit_it(model):
        counter.append(1)
        return train.fit(model, X, train.ae_objective, epochs=2, batch_size=64, progress=False, seed=seed)

    return train.cached("small", cfg, build, fit_it, seed=seed, **kwargs)


def _same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_cache_trains_once_then_loads(cache_dir, tmp_path, capsys):
    counter = []
    cfg = {"epochs": 2, "hidden": [16]}
    torch.manual_seed(42)
    first = _cached_small(cfg, counter)
    after_first = torch.rand(3)
    files = sorted(p.name for p in cache_dir.iterdir())
    path = train.checkpoint_path("small", cfg)
    assert files == [path.with_suffix(".json").name, path.name]
    assert "trained" in capsys.readouterr().out
    replayed = []
    torch.manual_seed(42)
    second = _cached_small(cfg, counter, on_load=replayed.append)
    after_second = torch.rand(3)
    assert len(counter) == 1  # loaded, not trained again
    assert "loaded from the cache" in capsys.readouterr().out
    assert _same_weights(first, second)
    assert torch.equal(after_first, after_second)  # global RNG state independent of the cache
    assert replayed and replayed[0]["epoch"] == [1, 2]
    assert train.load_history("small", cfg) == replayed[0]
    assert list((tmp_path / "data").iterdir()) == []  # nothing written to the data dir
    assert not list(cache_dir.glob("*.tmp"))


def test_cache_key_changes_with_config_and_seed():
    counter = []
    a = train.checkpoint_path("m", {"lr": 1e-3, "hidden": [500, 2000]})
    assert a == train.checkpoint_path("m", {"hidden": [500, 2000], "lr": 0.001})  # key order irrelevant
    assert a != train.checkpoint_path("m", {"lr": 1e-3, "hidden": [500, 1000]})
    assert a != train.checkpoint_path("m", {"lr": 1e-3, "hidden": [500, 2000]}, seed=1)
    assert a.name.startswith("m-") and a.suffix == ".pt"
    _cached_small({"epochs": 2}, counter)
    _cached_small({"epochs": 3}, counter)
    _cached_small({"epochs": 2}, counter, seed=1)
    assert len(counter) == 3
    with pytest.raises(TypeError, match="JSON-serialisable"):
        train.checkpoint_path("m", {"X": torch.zeros(2)})
    with pytest.raises(ValueError, match="file name"):
        train.checkpoint_path("../evil", {})


def test_cache_retrains_a_corrupt_or_incompatible_file(cache_dir):
    counter = []
    cfg = {"epochs": 2}
    first = _cached_small(cfg, counter)
    path = train.checkpoint_path("small", cfg)
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(train.CheckpointWarning, match=r"could not be loaded.*Training the model again"):
        again = _cached_small(cfg, counter)
    assert len(counter) == 2 and _same_weights(first, again)  # same seed, same weights
    torch.save({"other.weight": torch.zeros(2)}, path)  # a state_dict of another model
    with pytest.warns(train.CheckpointWarning, match="could not be loaded"):
        _cached_small(cfg, counter)
    assert len(counter) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _cached_small(cfg, counter)  # the replaced file loads cleanly
    assert len(counter) == 3


def test_cache_loads_with_weights_only(monkeypatch):
    counter = []
    cfg = {"epochs": 2}
    _cached_small(cfg, counter)
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    _cached_small(cfg, counter)
    assert seen.get("weights_only") is True and len(counter) == 1
    state = real_load(train.checkpoint_path("small", cfg), weights_only=True)
    assert set(state) == set(MLPAutoencoder(20, (16,), 2).state_dict())  # a plain state_dict


def test_training_failure_leaves_no_file(cache_dir):
    def boom(model):
        raise train.TrainingDiverged("nan")

    with pytest.raises(train.TrainingDiverged):
        train.cached("bad", {"a": 1}, lambda: MLPAutoencoder(20, (16,), 2), boom)
    assert not train.checkpoint_path("bad", {"a": 1}).exists()


def test_pretrained_autoencoder_and_vae_are_cached(cache_dir):
    X, y = toy_data(n=128)
    calls = []
    cb = lambda epoch, model, logs: calls.append(epoch)  # noqa: E731
    ae = train.pretrained_autoencoder(X, latent_dim=3, hidden=(16,), epochs=2, batch_size=32, callbacks=[cb],
                                      progress=False)
    assert isinstance(ae, MLPAutoencoder) and ae.latent_dim == 3 and calls == [1, 2]
    ae2 = train.pretrained_autoencoder(X, latent_dim=3, hidden=(16,), epochs=2, batch_size=32, callbacks=[cb],
                                       progress=False)
    assert calls == [1, 2] and _same_weights(ae, ae2)
    # other data, other file
    train.pretrained_autoencoder(X.flip(0), latent_dim=3, hidden=(16,), epochs=2, batch_size=32, progress=False)
    assert len(list(cache_dir.glob("ae-d3-*.pt"))) == 2
    vae = train.pretrained_vae(X, latent_dim=2, hidden=(16,), beta=4.0, epochs=1, batch_size=32, progress=False)
    assert isinstance(vae, VAE) and list(cache_dir.glob("vae-d2-beta4-*.pt"))
    meta = json.loads(next(cache_dir.glob("vae-d2-beta4-*.json")).read_text())
    assert meta["config"]["beta"] == 4.0 and meta["config"]["n"] == 128 and len(meta["history"]["kl"]) == 1


def test_cache_dir_is_where_files_go(monkeypatch, tmp_path):
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(other))
    assert train.checkpoint_path("x", {}).parent == other.resolve()
    assert other.is_dir()


def test_pretraining_recipes(cache_dir):
    X = torch.rand(96, 16)                              # 4x4 "images", so the augmented recipe applies
    kw = dict(latent_dim=2, hidden=(8,), epochs=1, batch_size=32, progress=False, verbose=False)
    adam = train.pretrained_autoencoder(X, **kw)
    sgd = train.pretrained_autoencoder(X, recipe="dec-keras", **kw)
    aug = train.pretrained_autoencoder(X, recipe="dec-keras-aug", **kw)
    bce = train.pretrained_autoencoder(X, recipe="bce-aug", **kw)
    assert not _same_weights(adam, sgd) and not _same_weights(sgd, aug) and not _same_weights(adam, bce)
    configs = [json.loads(p.read_text())["config"] for p in cache_dir.glob("ae-d2*.json")]
    assert len(configs) == len(list(cache_dir.glob("ae-d2*.pt"))) == 4
    assert sorted(c["optimizer"] for c in configs) == ["adam", "adam", "sgd", "sgd"]
    assert any(c["loss"] == "bce" and c["augment"] and c["epochs"] == 1 for c in configs)
    sgd_cfg = next(c for c in configs if c["optimizer"] == "sgd" and "augment" not in c)
    assert sgd_cfg["lr"] == 1.0 and sgd_cfg["momentum"] == 0.9 and sgd_cfg["loss"] == "mse"
    assert any(c.get("augment") == {"max_rotation": 10.0, "max_shift": 0.1} for c in configs)
    with pytest.raises(ValueError, match="recipe"):
        train.pretrained_autoencoder(X, recipe="sgd", **kw)


def test_bce_objective_reads_the_output_as_logits():
    model = MLPAutoencoder(6, (4,), 2, output="logits")
    x = torch.rand(5, 6)
    logits = model(x)
    want = -(x * torch.log(torch.sigmoid(logits)) + (1 - x) * torch.log(1 - torch.sigmoid(logits))).sum(1).mean()
    assert torch.isclose(train.ae_bce_objective(model, x), want, rtol=1e-5)


def test_mse_objective_is_the_per_pixel_mean():
    model = MLPAutoencoder(6, (4,), 2)
    x = torch.rand(5, 6)
    assert torch.isclose(train.ae_mse_objective(model, x), ((model(x) - x) ** 2).mean())


def test_the_reconstruction_loss_travels_with_the_autoencoder():
    x = torch.rand(5, 6)
    pixels, logits = MLPAutoencoder(6, (4,), 2), MLPAutoencoder(6, (4,), 2, output="logits")
    assert torch.isclose(pixels.reconstruction_loss(x), ((pixels(x) - x) ** 2).mean())
    assert torch.isclose(logits.reconstruction_loss(x),
                         torch.nn.functional.binary_cross_entropy_with_logits(logits(x), x))
    assert torch.allclose(logits.reconstruct(x), torch.sigmoid(logits(x)))
    assert torch.allclose(pixels.reconstruct(x), pixels(x))
    # a squared error on logits, or a cross-entropy on pixels, is refused with the reason
    with pytest.raises(ValueError, match="squared error on logits"):
        train.ae_mse_objective(logits, x)
    with pytest.raises(ValueError, match="squared error on logits"):
        train.ae_objective(logits, x)
    with pytest.raises(ValueError, match="cross-entropy on pixels"):
        train.ae_bce_objective(pixels, x)
    with pytest.raises(ValueError, match="output="):
        MLPAutoencoder(6, (4,), 2, output="sigmoid")


def test_pretraining_recipe_sets_what_the_decoder_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    X = torch.rand(40, 16)
    bce = train.pretrained_autoencoder(X, 2, (8,), epochs=1, recipe="bce-aug", progress=False, verbose=False)
    mse = train.pretrained_autoencoder(X, 2, (8,), epochs=1, recipe="dec-keras", progress=False, verbose=False)
    assert (bce.output, mse.output) == ("logits", "pixels")
    # and after a round trip through the cache
    again = train.pretrained_autoencoder(X, 2, (8,), epochs=1, recipe="bce-aug", progress=False, verbose=False)
    assert again.output == "logits"


def test_the_unrolled_dbn_is_pretrained_fine_tuned_and_cached(cache_dir, monkeypatch):
    """``train.pretrained_unrolled_dbn`` (what ``course results`` and ``benchmarks/dbn_unrolled.py``
    call): RBMs with a linear top, unrolled, fine-tuned on augmented images; cached by its recipe."""
    from course_utils.models import dbn as dbn_lib

    X = torch.rand(96, 16)                              # 4x4 "images": the augmentation needs squares
    kw = dict(sizes=(999, 8, 3), rbm_epochs=1, rbm_lr=0.1, top_epochs=1, top_lr=1e-3, lr=1e-2, batch_size=32,
              augment={"max_rotation": 10.0, "max_shift": 0.1}, seed=0, progress=False, verbose=False)
    calls = []
    cb = lambda epoch, model, logs: calls.append(epoch)  # noqa: E731
    net = train.pretrained_unrolled_dbn(X, epochs=2, callbacks=[cb], **kw)
    assert isinstance(net, dbn_lib.UnrolledAutoencoder) and calls == [1, 2]
    assert net.encode(X).shape == (96, 3) and net.decode(net.encode(X)).shape == (96, 16)   # input = data width
    again = train.pretrained_unrolled_dbn(X, epochs=2, callbacks=[cb], **kw)
    assert calls == [1, 2] and _same_weights(net, again)           # loaded, not trained again
    unrolled_only = train.pretrained_unrolled_dbn(X, epochs=0, **kw)  # the same RBMs, not fine-tuned
    assert not _same_weights(net, unrolled_only)
    config.seed_everything(0, deterministic=False)                   # what the recipe pretrains, by hand
    stack = dbn_lib.DBN([16, 8, 3])
    dbn_lib.pretrain_dbn_gaussian_top(stack, X, epochs=1, top_epochs=1, lr=0.1, top_lr=1e-3, batch_size=100, seed=0)
    assert _same_weights(unrolled_only, dbn_lib.UnrolledAutoencoder(stack))   # the pretrained RBMs, unrolled
    pretrained = []
    real_pretrain = dbn_lib.pretrain_dbn_gaussian_top
    monkeypatch.setattr(dbn_lib, "pretrain_dbn_gaussian_top", lambda *a, **k: pretrained.append(1) or real_pretrain(*a, **k))
    assert _same_weights(net, train.pretrained_unrolled_dbn(X, epochs=2, **kw)) and pretrained == []  # a load: none
    train.pretrained_unrolled_dbn(X, epochs=1, **kw)
    assert pretrained == [1]                                         # a training pretrains once
    meta = json.loads(next(p for p in cache_dir.glob("dbn-unrolled-*.json")
                           if json.loads(p.read_text())["config"]["epochs"] == 2).read_text())
    assert meta["config"]["sizes"] == [16, 8, 3] and meta["config"]["augment"]["max_shift"] == 0.1
    assert len(meta["history"]["loss"]) == 2
