"""Week 05's adversarial models (course_utils.models.gan): shapes, training loops, InfoGAN's shared trunk."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.models import gan, gan_losses
from course_utils.models.autoencoder import MLPAutoencoder


def _images(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    X = torch.rand(n, 784, generator=g) * 0.2
    for k in range(3):                       # three "digits": bright bands in different places
        X[y == k, k * 200:(k * 200) + 150] += 0.7
    return X.clamp(0, 1), y.numpy()


def test_infogan_trunk_is_in_the_discriminator_optimizer_and_learns_from_the_info_term():
    torch.manual_seed(0)
    model = gan.AdversarialModel("infogan", "mlp", noise_dim=4, d_hidden=(32, 16), g_hidden=(16, 32))
    opt_d, opt_g = gan.make_optimizers(model, gan.GAN_RECIPES["infogan"])
    in_d = {id(p) for group in opt_d.param_groups for p in group["params"]}
    trunk = list(model.discriminator.trunk.parameters())
    assert trunk and all(id(p) in in_d for p in trunk), "the shared trunk must be stepped by the D optimiser"
    assert all(id(p) in in_d for p in model.discriminator.heads["q"].parameters())
    # only the information term: a discriminator loss of 0
    losses = {**gan.REFERENCE_LOSSES, "discriminator_loss": lambda r, f: 0.0 * (r.sum() + f.sum())}
    X, _ = _images(16)
    g = torch.Generator().manual_seed(1)
    z, cat, cont = gan.generator_input(model, 16, g)
    fake = model.generator.images(z)
    out = gan.infogan_losses(model, X, fake, cat, cont, losses, gan.GAN_RECIPES["infogan"], "d")
    opt_d.zero_grad()
    out["loss"].backward()
    grads = [p.grad for p in trunk]
    assert all(gr is not None for gr in grads) and sum(float(gr.abs().sum()) for gr in grads) > 0
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.generator.parameters()), \
        "the D update computes the info term on detached images: no gradient into G"
    before = [p.detach().clone() for p in trunk]
    opt_d.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, trunk)), "the trunk did not move"


def test_the_ported_bug_would_be_caught():
    """An optimiser over G and the Q head only (the PyTorch port's bug) leaves the trunk unchanged."""
    torch.manual_seed(0)
    model = gan.AdversarialModel("infogan", "mlp", noise_dim=4, d_hidden=(32, 16), g_hidden=(16, 32))
    buggy = torch.optim.Adam([*model.generator.parameters(), *model.discriminator.heads["q"].parameters()], lr=1e-2)
    trunk = list(model.discriminator.trunk.parameters())
    before = [p.detach().clone() for p in trunk]
    z, cat, cont = gan.generator_input(model, 16, torch.Generator().manual_seed(1))
    q = model.discriminator(model.generator.images(z))["q"]
    buggy.zero_grad()
    (-gan_losses.categorical_mi_lower_bound(q[:, :10], cat)).backward()
    buggy.step()
    assert all(torch.equal(b, p) for b, p in zip(before, trunk))


@pytest.mark.parametrize("kind", ["gan", "catgan", "infogan"])
def test_train_gan_runs_and_records_history(kind):
    X, y = _images()
    torch.manual_seed(0)
    model = gan.AdversarialModel(kind, "mlp", n_clusters=3, noise_dim=4, d_hidden=(32, 16), g_hidden=(16, 32))
    seen = []
    history = gan.train_gan(model, X, 2, batch_size=32, seed=0, callbacks=[lambda e, m, logs: seen.append(e)])
    assert seen == [1, 2] and history["epoch"] == [1, 2]
    assert all(np.isfinite(history[k]).all() for k in ("d_loss", "g_loss"))
    labels, sample_labels, images = gan.cluster_outputs(model, X, 3, seed=0)
    assert labels.shape == (len(X),) and images.shape[1] == 784
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    assert (sample_labels is None) == (kind == "gan")
    if kind == "gan":
        with pytest.raises(ValueError, match="k-means"):
            model.predict(X)


def test_train_gan_is_repeatable_and_stops_on_nan():
    X, _ = _images()

    def train_once():
        torch.manual_seed(0)
        m = gan.AdversarialModel("gan", "mlp", noise_dim=4, d_hidden=(32, 16), g_hidden=(16, 32))
        return gan.train_gan(m, X, 1, batch_size=32, seed=3)["d_loss"]

    assert train_once() == train_once()
    m = gan.AdversarialModel("gan", "mlp", noise_dim=4, d_hidden=(32, 16), g_hidden=(16, 32))
    bad = {"discriminator_loss": lambda r, f: torch.log(torch.sigmoid(r) * 0).mean()}
    from course_utils.train import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="NaN or inf"):
        gan.train_gan(m, X, 1, batch_size=32, losses=bad)


def test_train_gan_rejects_images_of_the_wrong_shape():
    m = gan.AdversarialModel("gan", "mlp", noise_dim=4)
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        gan.train_gan(m, torch.rand(10, 28, 28), 1)
    with pytest.raises(ValueError, match="kind="):
        gan.AdversarialModel("wgan", "mlp")
    with pytest.raises(ValueError, match="arch="):
        gan.AdversarialModel("gan", "resnet")


def test_dac_mixture_prior_training_and_the_encoder_gradient():
    X, y = _images()
    torch.manual_seed(0)
    ae = MLPAutoencoder(784, (32,), 2)
    original = {k: v.clone() for k, v in ae.state_dict().items()}
    spec = gan.method_spec("dac", X, epochs=2, batch_size=32, n_clusters=3, ae=ae, seed=0)
    model = spec["build"]()
    assert torch.allclose(model.log_pi.exp().sum(), torch.tensor(1.0))
    z = model.sample_prior(500, torch.Generator().manual_seed(0))
    assert z.shape == (500, 2) and torch.isfinite(z).all()
    history = spec["fit"](model, [])
    assert history["epoch"] == [1, 2] and np.isfinite(history["recon"]).all()
    assert model.predict(X).shape == (len(X),)
    assert all(torch.equal(original[k], v) for k, v in ae.state_dict().items()), "DAC trains a copy of the autoencoder"
    with pytest.raises(ValueError, match="pretrained autoencoder"):
        gan.method_spec("dac", X, epochs=1, batch_size=32)


def test_aae_encodes_a_distribution_and_a_style():
    X, y = _images()
    torch.manual_seed(0)
    model = gan.CategoricalAAE(4, 2, hidden=(32, 16), disc_hidden=(16,))
    yy, s = model.encode(X[:5])
    assert yy.shape == (5, 4) and s.shape == (5, 2) and torch.allclose(yy.sum(1), torch.ones(5))
    history = gan.train_aae(model, X, 1, batch_size=32)
    assert np.isfinite(history["recon"]).all() and model.cluster_images().shape == (4, 784)


def test_losses_fingerprint_follows_the_functions_and_leaves_no_trace():
    ref = gan.losses_fingerprint({})
    state = torch.get_rng_state()
    assert gan.losses_fingerprint(dict(gan.REFERENCE_LOSSES)) == ref
    assert torch.equal(state, torch.get_rng_state()), "the fingerprint must not draw from the global generator"
    other = gan.losses_fingerprint({"generator_loss": lambda f: torch.log1p(-torch.sigmoid(f)).mean()})
    assert other != ref


def _aae_undetached(code_discriminator, z_prior, z_encoded):
    """The AAE's code losses with the reference's values, but d_loss also trains the encoder."""
    real = code_discriminator(z_prior).reshape(-1)
    fake = code_discriminator(z_encoded).reshape(-1)        # not detached
    enc = code_discriminator(z_encoded).reshape(-1)
    return gan_losses.discriminator_loss(real, fake), gan_losses.generator_loss(enc)


def _aae_probabilities(code_discriminator, z_prior, z_encoded):
    """The same values through a sigmoid and F.binary_cross_entropy (the gradients differ where it saturates)."""
    import torch.nn.functional as F

    real = torch.sigmoid(code_discriminator(z_prior).reshape(-1))
    fake = torch.sigmoid(code_discriminator(z_encoded.detach()).reshape(-1))
    enc = torch.sigmoid(code_discriminator(z_encoded).reshape(-1))
    return (F.binary_cross_entropy(real, torch.ones_like(real)) + F.binary_cross_entropy(fake, torch.zeros_like(fake)),
            F.binary_cross_entropy(enc, torch.ones_like(enc)))


@pytest.mark.parametrize("wrong", [_aae_undetached,
                                   lambda d, zp, ze: tuple(v.detach() for v in gan_losses.code_adversarial_losses(d, zp, ze))])
def test_a_loss_with_the_reference_values_but_other_gradients_gets_its_own_model(wrong):
    """A student's loss that matches the reference's values but sends its gradient elsewhere would train
    another model: it must not load the model the reference's loss trained (the cache key differs)."""
    X, _ = _images()
    ref = gan.method_spec("aae", X, epochs=1, batch_size=32, n_clusters=4)["cfg"]
    mine = gan.method_spec("aae", X, epochs=1, batch_size=32, n_clusters=4,
                           losses={"code_adversarial_losses": wrong})["cfg"]
    zp, ze = torch.randn(6, 3), torch.randn(6, 3)
    disc = torch.nn.Linear(3, 1)
    assert all(torch.allclose(u, v) for u, v in zip(wrong(disc, zp, ze), gan_losses.code_adversarial_losses(disc, zp, ze)))
    assert mine["losses"] != ref["losses"]
    same = gan.method_spec("aae", X, epochs=1, batch_size=32, n_clusters=4,
                           losses={"code_adversarial_losses": gan_losses.code_adversarial_losses})["cfg"]
    assert same["losses"] == ref["losses"]


def test_cluster_sizes_reports_a_collapse():
    assert gan.cluster_sizes(np.zeros(100, dtype=int), 10) == {"largest": 1.0, "used": 1}
    assert gan.cluster_sizes(np.arange(100) % 10, 10) == {"largest": 0.1, "used": 10}


def test_method_spec_keys_the_cache_on_every_setting():
    X, _ = _images()
    a = gan.method_spec("catgan", X, epochs=2, batch_size=32, n_clusters=10)["cfg"]
    b = gan.method_spec("catgan", X, epochs=2, batch_size=32, n_clusters=20)["cfg"]
    c = gan.method_spec("catgan", X, epochs=2, batch_size=32, n_clusters=10,
                        losses={"catgan_entropies": lambda r, f: {k: v * 2 for k, v in gan_losses.catgan_entropies(r, f).items()}})["cfg"]
    assert a != b and a["losses"] != c["losses"]
    with pytest.raises(ValueError, match="method="):
        gan.method_spec("vae", X, epochs=1, batch_size=32)


@pytest.mark.parametrize("n, batch", [(10_000, 128), (70_000, 128), (2_000, 64), (100, 128), (97, 32), (96, 32)])
def test_updates_per_epoch_counts_the_batches_the_trainers_make(n, batch):
    made = gan._batches(n, batch, torch.Generator().manual_seed(0))
    assert gan.updates_per_epoch(n, batch) == len(made)


def test_infogan_without_epochs_trains_the_references_5000_updates():
    """Week 05's full mode (``INFOGAN_EPOCHS = None``): as many epochs as ``openai/InfoGAN``'s
    5,000 updates of 128 take: 64 on the 10,000 test images, 9 on all 70,000."""
    assert gan.INFOGAN_REFERENCE_UPDATES == 5000
    assert gan.epochs_for_updates(10_000, 128, 5000) == 64 and gan.epochs_for_updates(70_000, 128, 5000) == 9
    assert gan.epochs_for_updates(100, 128, 5000) == 5000 and gan.epochs_for_updates(10, 4, 1) == 1
    X, _ = _images()
    cfg = gan.method_spec("infogan", X, epochs=None, batch_size=32)["cfg"]
    assert cfg["epochs"] == gan.epochs_for_updates(len(X), 32, 5000)
    assert cfg == gan.method_spec("infogan", X, epochs=cfg["epochs"], batch_size=32)["cfg"]   # the same cache key
    with pytest.raises(ValueError, match="epochs=None"):
        gan.method_spec("catgan", X, epochs=None, batch_size=32)
    with pytest.raises(ValueError, match="batch_size=0"):
        gan.updates_per_epoch(100, 0)


def test_week05_full_mode_gives_infogan_the_references_batch_and_budget():
    from course_utils import settings

    g = settings.results_settings("full")["gan"]
    assert g["infogan_epochs"] is None and g["infogan_batch"] == 128
    fast = settings.results_settings("fast")["gan"]
    assert fast["infogan_batch"] == fast["gan_batch"] == fast["catgan_batch"] and fast["infogan_epochs"] >= 1
    assert g["gan_batch"] == g["catgan_batch"] == settings.week("05", "full")["BATCH_SIZE"]


class _Monitor:
    def __init__(self):
        self.updates, self.samples = [], []

    def update(self, epoch, **values):
        self.updates.append((epoch, values))

    def show_samples(self, images, caption=""):
        self.samples.append((tuple(images.shape), caption))


def test_run_method_trains_scores_caches_and_replays(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    X, y = _images()
    spec = gan.method_spec("catgan", X, epochs=2, batch_size=32, n_clusters=3, noise_dim=4, seed=0)
    spec["build"] = lambda: gan.AdversarialModel("catgan", "mlp", n_clusters=3, noise_dim=4, d_hidden=(32, 16),
                                                 g_hidden=(16, 32))
    live = _Monitor()
    model, history = gan.run_method(spec["name"], spec["cfg"], spec["build"], spec["fit"], X, y, 3, monitor=live,
                                    keys=("acc", "largest"), verbose=False)
    assert [e for e, _ in live.updates] == [1, 2] and set(live.updates[0][1]) == {"acc", "largest"}
    assert [c for _, c in live.samples] == ["after epoch 1", "after epoch 2"]
    assert {"acc", "nmi", "ari", "largest", "used", "sample_largest", "train_s"} <= set(history)
    again = _Monitor()
    loaded, history2 = gan.run_method(spec["name"], spec["cfg"], spec["build"], spec["fit"], X, y, 3, monitor=again,
                                      keys=("acc", "largest"), verbose=False)
    assert history2 == history and again.updates == live.updates          # replayed from the saved history
    assert again.samples[-1][1] == "after epoch 2 (from the cache)"
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_the_solution_answers_compute_exactly_what_the_reference_computes():
    """Bit for bit, values and gradients. The checkpoint cache keys a model on what the loss
    functions return on a few inputs, so an untouched notebook (the reference) and a finished one
    (the solution) share cached models: their training must then be the same to the last bit, or
    a finished notebook could load a model that its own functions would not have trained."""
    import json
    import math
    from pathlib import Path

    import torch.nn.functional as F

    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions" / "05_gan_clustering.ipynb").read_text())
    ns = {"np": np, "torch": torch, "F": F, "nn": torch.nn, "math": math}
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            exec("".join(cell["source"]), ns)
    g = torch.Generator().manual_seed(0)

    def same(name, make_args, reduce=lambda out: out):
        outs = []
        for fn in (gan.REFERENCE_LOSSES[name], ns[name]):
            args = make_args()
            out = reduce(fn(*args))
            out.backward()
            outs.append([out.detach()] + [a.grad for a in args if torch.is_tensor(a) and a.requires_grad])
        assert all(torch.equal(a, b) for a, b in zip(*outs)), f"{name}: the solution and the reference differ"

    for _ in range(20):
        a, b = torch.randn(64, generator=g) * 3, torch.randn(64, generator=g) * 3
        r, f = torch.randn(64, 10, generator=g) * 3, torch.randn(64, 10, generator=g) * 3
        codes = torch.randint(0, 10, (64,), generator=g)
        same("discriminator_loss", lambda: (a.clone().requires_grad_(), b.clone().requires_grad_()))
        same("generator_loss", lambda: (b.clone().requires_grad_(),))
        same("catgan_entropies", lambda: (r.clone().requires_grad_(), f.clone().requires_grad_()),
             lambda e: sum(gan_losses.catgan_losses(e)))
        same("categorical_mi_lower_bound", lambda: (r.clone().requires_grad_(), codes))
    disc = torch.nn.Linear(10, 1)
    zp, ze = torch.randn(100, 10, generator=g), torch.randn(100, 10, generator=g)
    same("code_adversarial_losses", lambda: (disc, zp, ze.clone().requires_grad_()), lambda out: out[0] + 0.3 * out[1])
