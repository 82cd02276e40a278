"""Week 05's adversarial models: GAN, CatGAN, InfoGAN, and two adversarial autoencoders.

Networks (``arch="mlp"`` for fast mode, ``arch="conv"`` for the DCGAN/InfoGAN-style networks of
full mode):

- ``Generator``: noise (and codes) ``(B, in_dim)`` -> pixel *logits* ``(B, 784)``; ``sigmoid``
  gives an image in ``[0, 1]`` (``Generator.images``).
- ``Discriminator``: a shared **trunk** (images ``(B, 784)`` -> features) and named linear
  **heads** on it: ``{"d": 1}`` real/fake logit (GAN), ``{"y": K}`` class logits (CatGAN),
  ``{"d": 1, "q": K + n_cont}`` (InfoGAN: the Q head shares the trunk).
- ``AdversarialModel``: the container that is cached and trained, with ``predict(X)``.

Training: ``train_gan(kind, X, ...)`` for ``kind`` in ``"gan"``, ``"catgan"``, ``"infogan"``;
``train_dac(ae, X, ...)`` (an adversarial autoencoder whose code prior is a Gaussian mixture,
started from a pretrained autoencoder and a mixture fitted on its codes); ``train_aae(X, ...)``
(Makhzani et al.'s unsupervised AAE: a categorical cluster code and a Gaussian style code, each
matched to its prior by its own discriminator). Every loss comes from a ``losses`` mapping (the
student's exercise functions in the notebook; ``gan_losses``' by default), so the notebook trains
the models with the code the student wrote.

InfoGAN's shared trunk: the mutual-information term is subtracted from the discriminator's loss
*and* the generator's, and the discriminator's optimizer holds the trunk, the real/fake head and
the Q head (``make_optimizers``). A popular PyTorch port stepped the info loss with an optimizer
over G and Q only, so the trunk never learned from it; ``tests/test_gan.py`` checks that ours does.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.loop import TrainingDiverged, run_epochs
from course_utils.models import gan_losses
from course_utils.models.autoencoder import MLPAutoencoder
from course_utils.models.rebuild import records_init_args
from course_utils.models.vade import log_gamma, log_p_z_given_c

__all__ = [
    "Generator",
    "Discriminator",
    "AdversarialModel",
    "GAN_RECIPES",
    "REFERENCE_LOSSES",
    "make_optimizers",
    "generator_input",
    "infogan_losses",
    "train_gan",
    "train_dac",
    "train_aae",
    "cluster_sizes",
    "INFOGAN_REFERENCE_UPDATES",
    "updates_per_epoch",
    "epochs_for_updates",
    "losses_fingerprint",
]

IMAGE_SIDE = 28

#: The loss functions of the exercises, by name (what ``losses=`` defaults to).
REFERENCE_LOSSES: dict[str, Callable] = {
    "discriminator_loss": gan_losses.discriminator_loss,
    "generator_loss": gan_losses.generator_loss,
    "catgan_entropies": gan_losses.catgan_entropies,
    "categorical_mi_lower_bound": gan_losses.categorical_mi_lower_bound,
    "code_adversarial_losses": gan_losses.code_adversarial_losses,
}

#: Optimiser settings (InfoGAN's reference: Adam, beta1 0.5, lr 2e-4 for D and 1e-3 for G;
#: CatGAN as in the InfoCatGAN port: D 2e-4, G 4e-4).
GAN_RECIPES: dict[str, dict[str, Any]] = {
    "gan": {"lr_d": 2e-4, "lr_g": 2e-4, "betas": (0.5, 0.999)},
    "catgan": {"lr_d": 2e-4, "lr_g": 4e-4, "betas": (0.5, 0.999), "marginal_weight": 1.0},
    "infogan": {"lr_d": 2e-4, "lr_g": 1e-3, "betas": (0.5, 0.999), "info_weight": 1.0, "cont_weight": 0.5},
}


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------

def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.1)


def _lrelu_stack(sizes: Sequence[int]) -> list[nn.Module]:
    """``Linear, LeakyReLU(0.1)`` for each pair of consecutive ``sizes`` (the discriminators' MLPs)."""
    sizes = [int(v) for v in sizes]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), _lrelu()]
    return layers


@torch.no_grad()
def _batched_eval(module: nn.Module, X: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor],
                  batch_size: int = 1000) -> torch.Tensor:
    """``fn`` over ``X`` in batches, in eval mode and without gradients, on the CPU; the module's
    train/eval mode is restored afterwards."""
    was = module.training
    module.eval()
    device = next(module.parameters()).device
    try:
        return torch.cat([fn(X[i:i + batch_size].to(device)).cpu() for i in range(0, len(X), batch_size)])
    finally:
        module.train(was)


class Generator(nn.Module):
    """``G(input) -> pixel logits (B, 784)``.

    ``arch="mlp"``: ``in_dim - hidden... - 784`` with ReLU and batch norm. ``arch="conv"``
    (InfoGAN's MNIST generator): FC 1024 -> FC 7x7x128 -> deconv 64 (4x4, stride 2) -> deconv 1,
    batch norm and ReLU between.
    """

    def __init__(self, in_dim: int, arch: str = "mlp", hidden: Sequence[int] = (256, 512),
                 out_dim: int = IMAGE_SIDE * IMAGE_SIDE) -> None:
        super().__init__()
        self.in_dim, self.arch, self.out_dim = int(in_dim), arch, int(out_dim)
        if arch == "conv" and self.out_dim != IMAGE_SIDE * IMAGE_SIDE:
            raise ValueError(f"out_dim={out_dim}: the convolutional generator makes 28x28 images (784); "
                             "use arch='mlp' for other sizes.")
        if arch == "mlp":
            layers: list[nn.Module] = []
            sizes = [self.in_dim, *[int(h) for h in hidden]]
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
            layers.append(nn.Linear(sizes[-1], self.out_dim))
            self.net = nn.Sequential(*layers)
        elif arch == "conv":
            self.net = nn.Sequential(
                nn.Linear(self.in_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
                nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
                nn.Unflatten(1, (128, 7, 7)),
                nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Flatten(),
            )
        else:
            raise ValueError(f"arch={arch!r}; use 'mlp' (fast mode) or 'conv'.")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def images(self, z: torch.Tensor) -> torch.Tensor:
        """Generated images ``(B, 784)`` in ``[0, 1]``."""
        return torch.sigmoid(self(z))


class Discriminator(nn.Module):
    """A shared trunk on images and named linear heads: ``forward(x) -> {name: (B, size)}``.

    ``arch="mlp"``: ``784 - hidden...`` with LeakyReLU(0.1). ``arch="conv"`` (InfoGAN's MNIST
    discriminator): conv 64 (4x4, stride 2) -> conv 128 + batch norm -> FC 1024 + batch norm,
    LeakyReLU(0.1) between. A head named ``"q"`` gets its own hidden layer (128 units), as
    InfoGAN's Q network; the others are one linear layer on the trunk's features.
    """

    def __init__(self, heads: Mapping[str, int], arch: str = "mlp", hidden: Sequence[int] = (512, 256),
                 in_dim: int = IMAGE_SIDE * IMAGE_SIDE) -> None:
        super().__init__()
        self.arch, self.in_dim = arch, int(in_dim)
        if arch == "conv" and self.in_dim != IMAGE_SIDE * IMAGE_SIDE:
            raise ValueError(f"in_dim={in_dim}: the convolutional discriminator reads 28x28 images (784); "
                             "use arch='mlp' for other sizes.")
        if arch == "mlp":
            self.trunk = nn.Sequential(*_lrelu_stack([self.in_dim, *hidden]))
            width = int(hidden[-1])
        elif arch == "conv":
            self.trunk = nn.Sequential(
                nn.Unflatten(1, (1, IMAGE_SIDE, IMAGE_SIDE)),
                nn.Conv2d(1, 64, 4, 2, 1), _lrelu(),
                nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), _lrelu(), nn.Flatten(),
                nn.Linear(128 * 7 * 7, 1024), nn.BatchNorm1d(1024), _lrelu(),
            )
            width = 1024
        else:
            raise ValueError(f"arch={arch!r}; use 'mlp' (fast mode) or 'conv'.")
        self.heads = nn.ModuleDict({
            name: (nn.Sequential(nn.Linear(width, 128), _lrelu(), nn.Linear(128, int(size))) if name == "q"
                   else nn.Linear(width, int(size)))
            for name, size in heads.items()
        })

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


class AdversarialModel(nn.Module):
    """What ``train_gan`` trains and caches: ``generator`` and ``discriminator``, and their settings.

    ``predict(X)`` gives cluster ids: CatGAN, the argmax of the discriminator's class head;
    InfoGAN, the argmax of the Q head's categorical part; a plain GAN has no cluster output
    (k-means on ``features(X)``, the trunk's features, is the classic use of it).
    """

    def __init__(self, kind: str, arch: str, n_clusters: int = 10, noise_dim: int = 62, n_cont: int = 2,
                 g_hidden: Sequence[int] = (256, 512), d_hidden: Sequence[int] = (512, 256),
                 data_dim: int = IMAGE_SIDE * IMAGE_SIDE) -> None:
        super().__init__()
        if kind not in GAN_RECIPES:
            raise ValueError(f"kind={kind!r}; expected one of {sorted(GAN_RECIPES)}.")
        self.kind, self.arch = kind, arch
        self.n_clusters, self.noise_dim = int(n_clusters), int(noise_dim)
        self.n_cont = int(n_cont) if kind == "infogan" else 0
        self.n_cat = self.n_clusters if kind == "infogan" else 0
        heads = {"gan": {"d": 1}, "catgan": {"y": self.n_clusters},
                 "infogan": {"d": 1, "q": self.n_cat + self.n_cont}}[kind]
        self.data_dim = int(data_dim)   # 784 (28x28 images); another width with arch="mlp" only
        self.generator = Generator(self.noise_dim + self.n_cat + self.n_cont, arch, g_hidden, out_dim=self.data_dim)
        self.discriminator = Discriminator(heads, arch, d_hidden, in_dim=self.data_dim)

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """The discriminator trunk's features of images ``X: (N, 784)``."""
        return _batched_eval(self, X, self.discriminator.trunk)

    def predict(self, X: torch.Tensor) -> np.ndarray:
        """Cluster ids ``(N,)`` of images ``X: (N, 784)`` (CatGAN and InfoGAN)."""
        if self.kind == "catgan":
            out = _batched_eval(self, X, lambda x: self.discriminator(x)["y"])
        elif self.kind == "infogan":
            out = _batched_eval(self, X, lambda x: self.discriminator(x)["q"][:, :self.n_cat])
        else:
            raise ValueError("a plain GAN has no cluster output; cluster model.features(X) with k-means.")
        return out.argmax(dim=1).numpy()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, cat: torch.Tensor | None = None,
               cont: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` generated images ``(n, 784)`` in ``[0, 1]`` (InfoGAN: codes drawn unless given)."""
        was = self.training
        self.eval()
        try:
            z, _, _ = generator_input(self, n, generator, cat=cat, cont=cont, noise=noise)
            device = next(self.parameters()).device
            return self.generator.images(z.to(device)).cpu()
        finally:
            self.train(was)


def generator_input(model: AdversarialModel, n: int, generator: torch.Generator | None = None, *,
                    cat: torch.Tensor | None = None, cont: torch.Tensor | None = None,
                    noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(input, cat, cont)``: the generator's input ``(n, noise_dim + K + n_cont)``.

    Noise ``N(0, I)``; for InfoGAN a uniform categorical code ``cat: (n,)`` (one-hot in the input)
    and continuous codes ``cont: (n, n_cont)`` uniform in ``[-1, 1]``, as the paper.
    """
    if noise is None:
        noise = torch.randn(n, model.noise_dim, generator=generator)
    if model.kind != "infogan":
        return noise, None, None
    if cat is None:
        cat = torch.randint(0, model.n_cat, (n,), generator=generator)
    if cont is None:
        cont = torch.rand(n, model.n_cont, generator=generator) * 2 - 1
    z = torch.cat([noise, F.one_hot(cat.long(), model.n_cat).float(), cont.float()], dim=1)
    return z, cat, cont


def make_optimizers(model: AdversarialModel, recipe: Mapping[str, Any]
                    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """``(opt_d, opt_g)``: Adam over *all* the discriminator's parameters (trunk and every head,
    InfoGAN's Q head included) and Adam over the generator's."""
    betas = tuple(recipe["betas"])
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=recipe["lr_d"], betas=betas)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=recipe["lr_g"], betas=betas)
    return opt_d, opt_g


def infogan_losses(model: AdversarialModel, x: torch.Tensor, fake: torch.Tensor, cat: torch.Tensor,
                   cont: torch.Tensor, losses: Mapping[str, Callable], recipe: Mapping[str, Any], part: str
                   ) -> dict[str, torch.Tensor]:
    """InfoGAN's losses for one update: ``part="d"`` gives ``{"loss": d_loss, "info": ...}`` for
    ``opt_d``, ``part="g"`` the generator's ``{"loss": g_loss, "info": ...}`` for ``opt_g``.

    ``info = L_I(cat) - cont_weight * mean squared error of the continuous codes / 2`` (a unit
    Gaussian's log-likelihood up to a constant), on the Q head's output for the generated images
    ``fake = G(z, cat, cont)``. Both losses subtract ``info_weight * info``: in the D update it is
    computed on the detached images and its gradient trains the trunk and the Q head; in the G
    update it flows through the images into the generator.
    """
    lam, cw = recipe["info_weight"], recipe["cont_weight"]
    if part == "d":
        out_real = model.discriminator(x)
        out_fake = model.discriminator(fake.detach())
    elif part == "g":
        out_fake = model.discriminator(fake)
    else:
        raise ValueError(f"part={part!r}; use 'd' or 'g'.")
    q = out_fake["q"]
    info = (losses["categorical_mi_lower_bound"](q[:, :model.n_cat], cat)
            - cw * 0.5 * ((q[:, model.n_cat:] - cont) ** 2).sum(dim=1).mean())
    if part == "d":
        adv = losses["discriminator_loss"](out_real["d"].reshape(-1), out_fake["d"].reshape(-1))
    else:
        adv = losses["generator_loss"](out_fake["d"].reshape(-1))
    return {"loss": adv - lam * info, "info": info}


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def cluster_sizes(labels: np.ndarray, n_clusters: int) -> dict[str, float]:
    """``{"largest": fraction of images in the biggest cluster, "used": clusters holding >= 1%}``.

    A cluster that holds most images, or few clusters in use, is the sign of a collapse."""
    counts = np.bincount(np.asarray(labels), minlength=n_clusters)
    frac = counts / max(1, counts.sum())
    return {"largest": float(frac.max()), "used": int((frac >= 0.01).sum())}


def _check_X(X: torch.Tensor, any_width: bool = False, width: int = IMAGE_SIDE * IMAGE_SIDE) -> None:
    """``X`` must be ``(N, 784)`` flattened 28x28 images, or ``(N, width)`` for a model built for
    that width (``any_width``: ``(N, D)``, for DAC, whose networks are the autoencoder's and a
    discriminator on its codes)."""
    if isinstance(X, torch.Tensor) and X.ndim == 2 and (any_width or X.shape[1] == width):
        return
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or X.shape[1] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"X must be a (N, 784) float tensor of flattened 28x28 images in [0, 1], got "
                         f"{type(X).__name__} {tuple(getattr(X, 'shape', ()))}; use data.load_mnist(flatten=True).")


#: InfoGAN's reference budget (``openai/InfoGAN``, ``launchers/run_mnist_exp.py``: 50 epochs of 100
#: updates of 128 images); week 05's full mode trains that many updates (``INFOGAN_EPOCHS = None``).
INFOGAN_REFERENCE_UPDATES = 5000


def updates_per_epoch(n: int, batch_size: int) -> int:
    """How many updates an epoch of ``n`` images makes in the three trainers (``_batches``: a last
    batch smaller than half ``batch_size`` is dropped, unless it is the only one)."""
    n, batch_size = int(n), int(batch_size)
    if n < 1 or batch_size < 1:
        raise ValueError(f"n={n}, batch_size={batch_size}: both must be at least 1.")
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and (rest >= batch_size // 2 or full == 0) else 0)


def epochs_for_updates(n: int, batch_size: int, updates: int) -> int:
    """The number of epochs of ``n`` images closest to ``updates`` updates of ``batch_size`` (at least 1):
    64 for the reference's 5,000 updates of 128 on 10,000 images (4,992 updates), 9 on 70,000 (4,923)."""
    return max(1, round(int(updates) / updates_per_epoch(n, batch_size)))


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches of one epoch; a last batch smaller than half is dropped (batch norm)."""
    order = torch.randperm(n, generator=gen)
    out = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) < batch_size // 2:
        out = out[:-1]
    return out


def _finite(name: str, value: torch.Tensor, epoch: int) -> None:
    if not torch.isfinite(value):
        raise TrainingDiverged(f"{name} is {float(value.detach())} in epoch {epoch}: a loss returned NaN or inf "
                               "(a log of 0? use logsigmoid / log_softmax).")


def _run_epochs(model: nn.Module, X: torch.Tensor, epochs: int, batch_size: int, seed: int, device: torch.device,
                step: Callable[[torch.Tensor, torch.Generator, int], dict[str, torch.Tensor]],
                callbacks: Sequence[Callable]) -> dict[str, list]:
    """The three trainers in the course's loop (``loop.run_epochs``): ``step(x, gen, epoch) -> logs``
    on every shuffled batch (``gen`` also draws the step's noise), each log's plain mean over the
    epoch's steps, then ``callbacks`` (in eval mode) and the history ``{"epoch": [...], name: [...]}``."""
    gen = torch.Generator().manual_seed(int(seed))
    return run_epochs(model, epochs, lambda epoch: _batches(len(X), batch_size, gen),
                      lambda idx, epoch, _: (step(X[idx].to(device), gen, epoch), 1), callbacks=callbacks,
                      as_logged=True)


def train_gan(model: AdversarialModel, X: torch.Tensor, epochs: int, *, batch_size: int = 64, seed: int = 0,
              losses: Mapping[str, Callable] | None = None, recipe: Mapping[str, Any] | None = None,
              callbacks: Sequence[Callable] = (), device: torch.device | str | None = None) -> dict[str, list]:
    """Train a GAN, CatGAN or InfoGAN (``model.kind``) in place on images ``X: (N, 784)``.

    Each step: one discriminator update on a real batch and a generated batch of the same size,
    then one generator update. ``losses``: the exercise functions by name (default
    ``REFERENCE_LOSSES``). ``callbacks``: ``callback(epoch, model, logs)`` after every epoch.
    Returns the history ``{"epoch": [...], "d_loss": [...], "g_loss": [...], ...}``.
    """
    _check_X(X, width=getattr(model, "data_dim", IMAGE_SIDE * IMAGE_SIDE))
    losses = {**REFERENCE_LOSSES, **(losses or {})}
    recipe = {**GAN_RECIPES[model.kind], **(recipe or {})}
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    opt_d, opt_g = make_optimizers(model, recipe)

    def step(x: torch.Tensor, gen: torch.Generator, epoch: int) -> dict[str, torch.Tensor]:
        z, cat, cont = generator_input(model, len(x), gen)
        z = z.to(device)
        if model.kind == "infogan":
            cat, cont = cat.to(device), cont.to(device)
            fake = model.generator.images(z)
            terms = infogan_losses(model, x, fake, cat, cont, losses, recipe, "d")
            d_loss = terms["loss"]
            _finite("the discriminator's loss", d_loss, epoch)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = infogan_losses(model, x, fake, cat, cont, losses, recipe, "g")["loss"]
            opt_g.zero_grad()
            g_loss.backward(inputs=list(model.generator.parameters()))
            opt_g.step()
            logs = {"d_loss": d_loss, "g_loss": g_loss, "info": terms["info"]}
        else:
            fake = model.generator.images(z)
            head = "d" if model.kind == "gan" else "y"
            real_out = model.discriminator(x)[head]
            fake_out = model.discriminator(fake.detach())[head]
            if model.kind == "gan":
                d_loss = losses["discriminator_loss"](real_out.reshape(-1), fake_out.reshape(-1))
            else:
                ent = losses["catgan_entropies"](real_out, fake_out)
                d_loss, _ = gan_losses.catgan_losses(ent, recipe["marginal_weight"])
            _finite("the discriminator's loss", d_loss, epoch)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            fake_out = model.discriminator(fake)[head]
            if model.kind == "gan":
                g_loss = losses["generator_loss"](fake_out.reshape(-1))
                logs = {"d_loss": d_loss, "g_loss": g_loss}
            else:
                ent_g = losses["catgan_entropies"](real_out.detach(), fake_out)
                _, g_loss = gan_losses.catgan_losses(ent_g, recipe["marginal_weight"])
                logs = {"d_loss": d_loss, "g_loss": g_loss, "cond_real": ent["cond_real"],
                        "marginal_real": ent["marginal_real"]}
            opt_g.zero_grad()
            g_loss.backward(inputs=list(model.generator.parameters()))
            opt_g.step()
        _finite("the generator's loss", g_loss, epoch)
        return logs

    return _run_epochs(model, X, epochs, batch_size, seed, device, step, callbacks)


# --------------------------------------------------------------------------------------------
# Adversarial autoencoders: DAC (Gaussian-mixture prior) and Makhzani's unsupervised AAE
# --------------------------------------------------------------------------------------------

def _code_discriminator(in_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    return nn.Sequential(*_lrelu_stack([in_dim, *hidden]), nn.Linear(int(hidden[-1]), 1))


class DAC(nn.Module):
    """Deep adversarial clustering: an autoencoder, a Gaussian mixture on its codes, and a
    discriminator that tells samples of the mixture ("true codes") from encoded images ("fake").

    ``pi_logits: (K,)``, ``mu_c: (K, d)``, ``logvar_c: (K, d)`` are the mixture's parameters (the
    same names as week 03's ``VaDE``). ``predict(X)``: the most responsible component of each code.
    """

    def __init__(self, ae: MLPAutoencoder, n_clusters: int, disc_hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.ae = ae
        d = ae.latent_dim
        self.n_clusters, self.latent_dim = int(n_clusters), int(d)
        self.pi_logits = nn.Parameter(torch.zeros(n_clusters))
        self.mu_c = nn.Parameter(torch.zeros(n_clusters, d))
        self.logvar_c = nn.Parameter(torch.zeros(n_clusters, d))
        self.code_discriminator = _code_discriminator(d, disc_hidden)

    @property
    def log_pi(self) -> torch.Tensor:
        return F.log_softmax(self.pi_logits, dim=0)

    def init_mixture(self, gmm: Any) -> None:
        """Copy a fitted ``GaussianMixture(K, 'diag')`` (``clustering.fit_diag_gmm``)."""
        with torch.no_grad():
            self.pi_logits.copy_(torch.as_tensor(np.log(gmm.weights_), dtype=torch.float32))
            self.mu_c.copy_(torch.as_tensor(gmm.means_, dtype=torch.float32))
            self.logvar_c.copy_(torch.as_tensor(np.log(gmm.covariances_), dtype=torch.float32))

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes drawn from the mixture ``(n, d)``: a component by ``pi``, then its Gaussian."""
        with torch.no_grad():
            c = torch.multinomial(self.log_pi.exp().cpu(), n, replacement=True, generator=generator)
            eps = torch.randn(n, self.latent_dim, generator=generator)
            std = (0.5 * self.logvar_c.detach().cpu()).exp()
            return self.mu_c.detach().cpu()[c] + std[c] * eps

    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log sum_c pi_c N(z; mu_c, sigma_c^2)`` of each code, ``(B,)``."""
        return torch.logsumexp(self.log_pi[None] + log_p_z_given_c(z, self.mu_c, self.logvar_c), dim=1)

    def predict(self, X: torch.Tensor) -> np.ndarray:
        return _batched_eval(self, X, lambda x: log_gamma(self.ae.encode(x), self.log_pi, self.mu_c,
                                                          self.logvar_c).argmax(1)).numpy()


#: DAC's training settings: Adam; each step is a reconstruction + clustering update of the
#: autoencoder and the mixture, a discriminator update, and an adversarial update of the encoder.
DAC_RECIPE: dict[str, Any] = {"lr": 1e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "adv_weight": 1.0,
                              "cluster_weight": 0.05, "min_logvar": -6.0}


def train_dac(model: DAC, X: torch.Tensor, epochs: int, *, batch_size: int = 100, seed: int = 0,
              losses: Mapping[str, Callable] | None = None, recipe: Mapping[str, Any] | None = None,
              callbacks: Sequence[Callable] = (), device: torch.device | str | None = None) -> dict[str, list]:
    """Train ``DAC`` in place. Per step, on a batch ``x``:

    1. autoencoder and mixture: ``recon(x) + cluster_weight * (-log p(z))``, the autoencoder's own
       reconstruction loss plus the negative log-likelihood of the codes under the mixture (it
       pulls each code towards its components and fits the mixture to the codes);
    2. discriminator: ``code_adversarial_losses``' ``d_loss`` on mixture samples against codes;
    3. encoder: ``adv_weight * enc_loss``, so the codes look like samples of the mixture.
    """
    _check_X(X, any_width=True)
    losses = {**REFERENCE_LOSSES, **(losses or {})}
    r = {**DAC_RECIPE, **(recipe or {})}
    device = torch.device(device) if device is not None else model.mu_c.device
    model.to(device).train()
    ae_params = list(model.ae.parameters()) + [model.pi_logits, model.mu_c, model.logvar_c]
    opt_ae = torch.optim.Adam(ae_params, lr=r["lr"], betas=tuple(r["betas"]))
    opt_d = torch.optim.Adam(model.code_discriminator.parameters(), lr=r["lr_d"], betas=tuple(r["betas"]))
    opt_enc = torch.optim.Adam(model.ae.encoder.parameters(), lr=r["lr"], betas=tuple(r["betas"]))

    def step(x: torch.Tensor, gen: torch.Generator, epoch: int) -> dict[str, torch.Tensor]:
        z = model.ae.encode(x)
        recon = model.ae.reconstruction_loss(x, model.ae.decode(z))
        nll = -model.log_likelihood(z).mean()
        loss = recon + r["cluster_weight"] * nll
        _finite("the reconstruction + clustering loss", loss, epoch)
        opt_ae.zero_grad()
        loss.backward()
        opt_ae.step()
        with torch.no_grad():
            model.logvar_c.clamp_(min=r["min_logvar"])
        z = model.ae.encode(x)
        z_prior = model.sample_prior(len(x), gen).to(device)
        d_loss, enc_loss = losses["code_adversarial_losses"](model.code_discriminator, z_prior, z)
        _finite("the code discriminator's loss", d_loss, epoch)
        opt_d.zero_grad()
        opt_enc.zero_grad()
        d_loss.backward(inputs=list(model.code_discriminator.parameters()))
        (r["adv_weight"] * enc_loss).backward(inputs=list(model.ae.encoder.parameters()))
        opt_d.step()
        opt_enc.step()
        return {"recon": recon, "nll": nll, "d_loss": d_loss, "enc_loss": enc_loss}

    return _run_epochs(model, X, epochs, batch_size, seed, device, step, callbacks)


class CategoricalAAE(nn.Module):
    """Makhzani et al.'s unsupervised adversarial autoencoder (2016, Section 6).

    The encoder (``784 - hidden``) has two heads: cluster logits ``(B, K)`` (softmax: ``y``) and a
    style code ``(B, style_dim)``. The decoder reads ``[y, style]``. Two discriminators: ``y``
    against one-hot samples of a uniform categorical prior, the style against ``N(0, I)``.
    ``predict(X)``: the argmax of ``y``.
    """

    def __init__(self, n_clusters: int = 16, style_dim: int = 5, hidden: Sequence[int] = (1000, 1000),
                 disc_hidden: Sequence[int] = (1000, 1000), data_dim: int = IMAGE_SIDE * IMAGE_SIDE) -> None:
        super().__init__()
        from course_utils.models.autoencoder import mlp

        self.n_clusters, self.style_dim, self.data_dim = int(n_clusters), int(style_dim), int(data_dim)
        h = [int(v) for v in hidden]
        self.encoder = mlp([self.data_dim, *h], last_activation=True)
        self.cluster_head = nn.Linear(h[-1], self.n_clusters)
        self.style_head = nn.Linear(h[-1], self.style_dim)
        self.decoder = mlp([self.n_clusters + self.style_dim, *h[::-1], self.data_dim])
        self.cat_discriminator = _code_discriminator(self.n_clusters, disc_hidden)
        self.style_discriminator = _code_discriminator(self.style_dim, disc_hidden)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, style)``: cluster probabilities ``(B, K)`` and style codes ``(B, style_dim)``."""
        h = self.encoder(x)
        return torch.softmax(self.cluster_head(h), dim=1), self.style_head(h)

    def decode(self, y: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Pixel logits ``(B, 784)``."""
        return self.decoder(torch.cat([y, style], dim=1))

    def predict(self, X: torch.Tensor) -> np.ndarray:
        return _batched_eval(self, X, lambda x: self.cluster_head(self.encoder(x)).argmax(1)).numpy()

    @torch.no_grad()
    def cluster_images(self) -> torch.Tensor:
        """What each cluster decodes to with a zero style: ``(K, 784)`` images in ``[0, 1]``."""
        device = self.cluster_head.weight.device
        y = torch.eye(self.n_clusters, device=device)
        return torch.sigmoid(self.decode(y, torch.zeros(self.n_clusters, self.style_dim, device=device))).cpu()


#: The AAE's settings: Adam (Makhzani et al. use SGD with momentum and a schedule). "lr": the
#: reconstruction step; "lr_d": the discriminators'; "lr_enc" (default "lr_d"): the encoder's adversarial step.
AAE_RECIPE: dict[str, Any] = {"lr": 1e-3, "lr_d": 2e-4, "betas": (0.5, 0.999)}


def train_aae(model: CategoricalAAE, X: torch.Tensor, epochs: int, *, batch_size: int = 100, seed: int = 0,
              losses: Mapping[str, Callable] | None = None, recipe: Mapping[str, Any] | None = None,
              callbacks: Sequence[Callable] = (), device: torch.device | str | None = None) -> dict[str, list]:
    """Train the unsupervised AAE in place: per step a reconstruction update (Bernoulli loss),
    one update of each discriminator, and one adversarial update of the encoder (both codes)."""
    _check_X(X, width=getattr(model, "data_dim", IMAGE_SIDE * IMAGE_SIDE))
    losses = {**REFERENCE_LOSSES, **(losses or {})}
    r = {**AAE_RECIPE, **(recipe or {})}
    device = torch.device(device) if device is not None else model.cluster_head.weight.device
    model.to(device).train()
    betas = tuple(r["betas"])
    enc_params = [*model.encoder.parameters(), *model.cluster_head.parameters(), *model.style_head.parameters()]
    opt_ae = torch.optim.Adam([*enc_params, *model.decoder.parameters()], lr=r["lr"], betas=betas)
    disc_params = [*model.cat_discriminator.parameters(), *model.style_discriminator.parameters()]
    opt_d = torch.optim.Adam(disc_params, lr=r["lr_d"], betas=betas)
    opt_enc = torch.optim.Adam(enc_params, lr=r.get("lr_enc", r["lr_d"]), betas=betas)

    def step(x: torch.Tensor, gen: torch.Generator, epoch: int) -> dict[str, torch.Tensor]:
        y, style = model.encode(x)
        recon = F.binary_cross_entropy_with_logits(model.decode(y, style), x, reduction="none").sum(1).mean()
        _finite("the reconstruction loss", recon, epoch)
        opt_ae.zero_grad()
        recon.backward()
        opt_ae.step()
        y, style = model.encode(x)
        y_prior = F.one_hot(torch.randint(0, model.n_clusters, (len(x),), generator=gen),
                            model.n_clusters).float().to(device)
        s_prior = torch.randn(len(x), model.style_dim, generator=gen).to(device)
        d_cat, enc_cat = losses["code_adversarial_losses"](model.cat_discriminator, y_prior, y)
        d_sty, enc_sty = losses["code_adversarial_losses"](model.style_discriminator, s_prior, style)
        _finite("the code discriminators' loss", d_cat + d_sty, epoch)
        opt_d.zero_grad()
        opt_enc.zero_grad()
        (d_cat + d_sty).backward(inputs=disc_params)
        (enc_cat + enc_sty).backward(inputs=enc_params)
        opt_d.step()
        opt_enc.step()
        return {"recon": recon, "d_cat": d_cat, "d_style": d_sty, "enc_loss": enc_cat + enc_sty}

    return _run_epochs(model, X, epochs, batch_size, seed, device, step, callbacks)


# --------------------------------------------------------------------------------------------
# Cache keys
# --------------------------------------------------------------------------------------------

def losses_fingerprint(losses: Mapping[str, Callable]) -> str:
    """A short hash of what the loss functions compute on fixed inputs, and of the gradients they send
    back to every input and parameter (part of a cache key: a changed exercise answer trains a new
    model instead of loading one trained with the old). The gradients count because a wrong answer
    can keep the reference's values and change only where the gradient goes (a forgotten
    ``.detach()``, a sigmoid before a loss on probabilities): training with it gives another model."""
    from course_utils.checkpoints import fingerprint

    g = torch.Generator().manual_seed(123)
    a, b = torch.randn(6, generator=g) * 3, torch.randn(5, generator=g) * 3
    la, lb = torch.randn(6, 4, generator=g) * 3, torch.randn(6, 4, generator=g) * 3
    codes = torch.tensor([0, 1, 2, 3, 1, 0])
    with torch.random.fork_rng(devices=[]):   # nn.Linear draws its initial weights: leave no trace
        disc = nn.Linear(3, 1)
    with torch.no_grad():
        disc.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        disc.bias.fill_(0.1)
    zp, ze = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    L = {**REFERENCE_LOSSES, **losses}
    parts: list[torch.Tensor] = []

    def record(outputs: Sequence[Any], inputs: list[torch.Tensor]) -> None:
        for out in outputs:
            out = torch.as_tensor(out)
            parts.append(out.detach().reshape(-1).double())
            if not out.requires_grad:   # no gradient at all: a model trained with it is another model
                parts.append(torch.full((1,), float("nan"), dtype=torch.float64))
                continue
            grads = torch.autograd.grad(out.sum(), inputs, allow_unused=True, retain_graph=True)
            parts.extend((torch.zeros_like(x) if d is None else d).detach().reshape(-1).double()
                         for d, x in zip(grads, inputs))

    def leaves(*ts: torch.Tensor) -> list[torch.Tensor]:
        return [t.clone().requires_grad_(True) for t in ts]

    a1, b1 = leaves(a, b)
    record([L["discriminator_loss"](a1, b1)], [a1, b1])
    (b2,) = leaves(b)
    record([L["generator_loss"](b2)], [b2])
    la1, lb1 = leaves(la, lb)
    record([v for _, v in sorted(L["catgan_entropies"](la1, lb1).items())], [la1, lb1])
    (la2,) = leaves(la)
    record([L["categorical_mi_lower_bound"](la2, codes)], [la2])
    zp1, ze1 = leaves(zp, ze)
    record(list(L["code_adversarial_losses"](disc, zp1, ze1)), [zp1, ze1, disc.weight, disc.bias])
    return fingerprint(torch.cat(parts))


# --------------------------------------------------------------------------------------------
# Training with scores, a live monitor and the checkpoint cache (what the notebook and
# benchmarks/gan_full.py both call)
# --------------------------------------------------------------------------------------------

def _kmeans_fit(F_real: np.ndarray, n_clusters: int, seed: int):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters, n_init=3, random_state=seed).fit(F_real)


@torch.no_grad()
def cluster_outputs(model: nn.Module, X: torch.Tensor, n_clusters: int, seed: int = 0, n_samples: int = 500
                    ) -> tuple[np.ndarray, np.ndarray | None, torch.Tensor | None]:
    """``(labels of X, labels of generated samples or None, sample images (64, 784) or None)``.

    GAN: k-means on the discriminator trunk's features of ``X``, generated samples assigned to
    the nearest centre. CatGAN / InfoGAN: ``predict`` on ``X`` and on samples. DAC: ``predict``,
    the samples are decoded draws of the mixture prior. AAE: ``predict``; the "samples" are each
    cluster's decoded image (zero style), not classified.
    """
    gen = torch.Generator().manual_seed(int(seed) + 99)
    if isinstance(model, AdversarialModel):
        samples = model.sample(n_samples, gen)
        if model.kind == "gan":  # generated samples are not classified: their features sit apart from
            # the real images' (the discriminator tells them apart), so a nearest centre says little
            km = _kmeans_fit(model.features(X).numpy().astype(np.float64), n_clusters, seed)
            return km.labels_, None, samples[:64]
        return model.predict(X), model.predict(samples), samples[:64]
    if isinstance(model, DAC):
        device = model.mu_c.device
        z = model.sample_prior(n_samples, gen).to(device)
        out = model.ae.decode(z)
        samples = torch.sigmoid(out) if getattr(model.ae, "output", "pixels") == "logits" else out.clamp(0, 1)
        return model.predict(X), None, samples[:64].cpu()
    if isinstance(model, CategoricalAAE):
        return model.predict(X), None, model.cluster_images()
    raise TypeError(f"no cluster output for {type(model).__name__}")


def score_callback(X: torch.Tensor, y: np.ndarray, n_clusters: int, seed: int = 0, monitor: Any = None,
                   keys: Sequence[str] = ("acc", "largest"), majority: bool = False) -> Callable:
    """``callback(epoch, model, logs)``: adds ``acc``, ``nmi``, ``ari`` (and ``majority_acc``),
    ``largest`` (fraction of the images in the biggest cluster), ``used`` (clusters with >= 1% of
    the images) and, where samples are classified, ``sample_largest`` (the same for generated
    images) to ``logs``; sends ``keys`` to ``monitor.update`` and the samples to
    ``monitor.show_samples``."""
    from course_utils.metrics import evaluate

    def callback(epoch: int, model: nn.Module, logs: dict) -> None:
        labels, sample_labels, images = cluster_outputs(model, X, n_clusters, seed)
        logs.update(evaluate(y, labels, majority=majority))
        logs.update(cluster_sizes(labels, n_clusters))
        if sample_labels is not None:
            logs["sample_largest"] = cluster_sizes(sample_labels, n_clusters)["largest"]
        if monitor is not None:
            monitor.update(epoch, **{k: logs[k] for k in keys if k in logs})
            if images is not None and hasattr(monitor, "show_samples"):
                monitor.show_samples(images, f"after epoch {epoch}")

    return callback


def run_method(name: str, cfg: Mapping[str, Any], build: Callable[[], nn.Module],
               fit: Callable[[nn.Module, list], dict], X: torch.Tensor, y: np.ndarray, n_clusters: int, *,
               seed: int = 0, monitor: Any = None, keys: Sequence[str] = ("acc", "largest"),
               majority: bool = False, device: torch.device | str | None = None, verbose: bool = True
               ) -> tuple[nn.Module, dict]:
    """Train (or load from the checkpoint cache) one model and return ``(model, history)``.

    ``build()`` makes the untrained model; ``fit(model, callbacks)`` trains it in place and
    returns its history (``train_gan``, ``train_dac`` or ``train_aae`` with their settings).
    ``cfg``: everything that decides the weights (it keys the cache; include
    ``losses_fingerprint`` of the loss functions). Every epoch is scored by ``score_callback``
    and shown in ``monitor``; a model from the cache replays its saved history into the monitor
    and shows its final samples. ``history["train_s"]`` is the training time (or the saved one).
    """
    from course_utils.checkpoints import cached, replay_history

    callback = score_callback(X, y, n_clusters, seed, monitor, keys, majority)
    run: dict[str, Any] = {}

    def train_fn(model: nn.Module) -> dict:
        t0 = time.perf_counter()
        history = fit(model, [callback])
        history["train_s"] = [time.perf_counter() - t0]
        run["history"] = history
        return history

    def on_load(history: dict | None) -> None:
        run["history"], run["loaded"] = history or {}, True
        if monitor is not None:
            replay_history(monitor, {k: v for k, v in (history or {}).items() if k != "train_s"}, keys)

    model = cached(name, dict(cfg), build, train_fn, seed=seed, on_load=on_load, device=device, verbose=verbose)
    history = run.get("history", {})
    if run.get("loaded") and monitor is not None and hasattr(monitor, "show_samples"):
        _, _, images = cluster_outputs(model, X, n_clusters, seed)
        if images is not None:
            last = history["epoch"][-1] if history.get("epoch") else "?"
            monitor.show_samples(images, f"after epoch {last} (from the cache)")
    return model, history


def _as_json(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe as it goes into a cache key (tuples as lists, as JSON has them)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()}


#: The methods of week 05, as ``method_spec`` knows them.
METHODS = ("gan", "catgan", "infogan", "dac", "aae")


def method_spec(method: str, X: torch.Tensor, *, epochs: int | None, batch_size: int, arch: str = "mlp",
                noise_dim: int = 62, n_clusters: int = 10, losses: Mapping[str, Callable] | None = None,
                ae: MLPAutoencoder | None = None, gmm_kmeans_restarts: int = 0, aae_hidden: Sequence[int] = (1000, 1000),
                style_dim: int = 5, seed: int = 0, device: torch.device | str | None = None) -> dict[str, Any]:
    """Everything ``run_method`` needs for one of ``METHODS``: ``{"name", "cfg", "build", "fit"}``.

    The notebook and ``benchmarks/gan_full.py`` both build their runs here, so a setting cannot
    differ between them. ``"gan"``, ``"catgan"``, ``"infogan"``: ``AdversarialModel`` with
    ``arch`` networks trained by ``train_gan``. ``"dac"``: ``DAC`` on a copy of the pretrained
    autoencoder ``ae``, its mixture started by ``clustering.fit_diag_gmm`` on the codes (EM from the
    best of ``gmm_kmeans_restarts`` k-means runs when > 0). ``"aae"``: ``CategoricalAAE`` with
    ``n_clusters`` clusters. ``epochs=None`` (InfoGAN only): the reference's budget,
    ``epochs_for_updates(len(X), batch_size, INFOGAN_REFERENCE_UPDATES)``; ``cfg["epochs"]`` is
    the number of epochs used.
    """
    import copy

    from course_utils.checkpoints import fingerprint
    from course_utils.loop import encode_dataset

    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}.")
    if epochs is None:
        if method != "infogan":
            raise ValueError(f"epochs=None is InfoGAN's reference budget; give {method!r} a number of epochs.")
        epochs = epochs_for_updates(len(X), batch_size, INFOGAN_REFERENCE_UPDATES)
    losses = {**REFERENCE_LOSSES, **(losses or {})}
    cfg: dict[str, Any] = {"method": method, "epochs": int(epochs), "batch_size": int(batch_size),
                           "n_clusters": int(n_clusters), "data": fingerprint(X), "losses": losses_fingerprint(losses)}
    common = dict(batch_size=batch_size, seed=seed, losses=losses, device=device)
    if method in ("gan", "catgan", "infogan"):
        cfg.update(arch=arch, noise_dim=int(noise_dim), recipe=_as_json(GAN_RECIPES[method]))
        data_dim = int(X.shape[1]) if getattr(X, "ndim", 0) == 2 else IMAGE_SIDE * IMAGE_SIDE
        if data_dim != IMAGE_SIDE * IMAGE_SIDE:     # other data than 28x28 images (keys of MNIST runs unchanged)
            cfg["data_dim"] = data_dim

        def build() -> nn.Module:
            return AdversarialModel(method, arch, n_clusters=n_clusters, noise_dim=noise_dim, data_dim=data_dim)

        def fit(model: nn.Module, callbacks: list) -> dict:
            return train_gan(model, X, epochs, callbacks=callbacks, **common)
    elif method == "dac":
        if ae is None:
            raise ValueError("method 'dac' needs the pretrained autoencoder: method_spec('dac', X, ae=ae, ...).")
        cfg.update(ae=fingerprint(torch.cat([p.detach().flatten().cpu() for p in ae.state_dict().values()])),
                   gmm_kmeans_restarts=int(gmm_kmeans_restarts),
                   recipe=_as_json(DAC_RECIPE))

        def build() -> nn.Module:
            from course_utils.clustering import fit_diag_gmm

            model = DAC(copy.deepcopy(ae).cpu(), n_clusters)
            Z = encode_dataset(model.ae, X).numpy().astype(np.float64)
            model.init_mixture(fit_diag_gmm(Z, n_clusters, seed=seed, kmeans_restarts=gmm_kmeans_restarts))
            return model

        def fit(model: nn.Module, callbacks: list) -> dict:
            return train_dac(model, X, epochs, callbacks=callbacks, **common)
    else:
        cfg.update(hidden=[int(h) for h in aae_hidden], style_dim=int(style_dim),
                   recipe=_as_json(AAE_RECIPE))
        aae_dim = int(X.shape[1]) if getattr(X, "ndim", 0) == 2 else IMAGE_SIDE * IMAGE_SIDE
        if aae_dim != IMAGE_SIDE * IMAGE_SIDE:     # other data than 28x28 images (keys of MNIST runs unchanged)
            cfg["data_dim"] = aae_dim

        def build() -> nn.Module:
            return CategoricalAAE(n_clusters, style_dim, hidden=aae_hidden, disc_hidden=aae_hidden, data_dim=aae_dim)

        def fit(model: nn.Module, callbacks: list) -> dict:
            return train_aae(model, X, epochs, callbacks=callbacks, **common)
    return {"name": f"week05-{method}", "cfg": cfg, "build": build, "fit": fit}


@records_init_args
class LinearCodeDiscriminator(nn.Module):
    """A linear code discriminator with given parameters, for tests: ``logit(z) = z . w + b``.

    ``w: (d,)``, ``b`` a number; ``forward(z: (B, d))`` returns ``(B,)`` logits, or ``(B, 1)`` with
    ``column=True`` (what an ``nn.Linear(d, 1)`` last layer gives).
    """

    def __init__(self, w: Any, b: Any = 0.0, column: bool = False) -> None:
        super().__init__()
        w = torch.as_tensor(w)
        self.w = nn.Parameter(w.detach().clone())
        self.b = nn.Parameter(torch.as_tensor(b, dtype=w.dtype).detach().clone())
        self.column = bool(column)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = z @ self.w + self.b
        return out[:, None] if self.column else out
