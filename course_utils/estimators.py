"""The course's clustering methods behind scikit-learn's interface: ``fit``, ``predict``,
``fit_predict``, ``transform`` (the embedding the method clusters) and, where the model has soft
assignments, ``predict_proba``.

    from course_utils.estimators import DEC
    labels = DEC(n_clusters=10, random_state=0).fit_predict(X)      # X: (n, d) in [0, 1], or images

Each estimator is a thin layer over ``course_utils.models`` and the training functions the
notebooks and ``course results`` call, with the settings of a mode (``mode="fast"``, the default,
or ``"full"``, read from ``course_utils.settings`` through ``results.SETTINGS``), in the same order
and with the same seeds: on the MNIST images ``course results`` uses, an estimator gives the labels
of its grid's run for that seed. Pretraining goes through the checkpoint cache
(``COURSE_CACHE_DIR``), keyed by a fingerprint of the data, as in the notebooks.

As in the notebooks, ``config.seed_everything`` seeds every generator at the start of ``fit``, and in
fast mode it also pins torch to one thread (for repeatable sums); set ``torch.set_num_threads``
again afterwards if the rest of your program wants more.

Parameters follow scikit-learn's conventions: stored as given in ``__init__``, checked in ``fit``;
what ``fit`` learns ends in ``_`` (``labels_``, ``n_clusters_``, ``embedding_``, ``model_``).
``None`` for a size or an epoch count means the mode's value.

Input: a float array ``(n, d)`` or images ``(n, h, w)`` / ``(n, c, h, w)`` (flattened for the
fully connected networks). The networks read pixels in ``[0, 1]`` (their decoders are Bernoulli):
data outside that range is refused with the reason, unless ``input_range="minmax"``, which scales
each feature to ``[0, 1]`` with the training data's minimum and maximum (and clips new data to it).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["KMeans", "AEKMeans", "DEC", "IDEC", "DECDA", "VaDE", "DAC", "InfoGAN", "NMMC", "ESTIMATORS"]

_RANGES = ("check", "minmax")


class _CourseClusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """What every estimator shares: input checks, the mode's settings, seeding and the device."""

    #: whether the model reads pixels in [0, 1] (a Bernoulli decoder or a sigmoid generator)
    _needs_unit_range = True
    #: whether the number of clusters is inferred (NMMC): then n_clusters is not a parameter
    _infers_k = False
    #: the fewest samples ``fit`` accepts
    _min_samples = 2

    # -- parameters ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        if not self._infers_k:
            k = self.n_clusters
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ValueError(f"n_clusters={k!r}: give a positive int, the number of clusters to find.")
        if getattr(self, "mode", "fast") not in ("fast", "full"):
            raise ValueError(f"mode={self.mode!r}: use 'fast' (the notebooks' fast mode) or 'full'.")
        if getattr(self, "input_range", "check") not in _RANGES:
            raise ValueError(f"input_range={self.input_range!r}: use 'check' (refuse data outside [0, 1]) or "
                             "'minmax' (scale each feature to [0, 1] with the training data's range).")

    def _settings(self) -> dict[str, Any]:
        from course_utils import results

        return copy.deepcopy(results.SETTINGS[getattr(self, "mode", "fast")])

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return 0
        if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool):
            return int(rs)
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2 ** 31 - 1))
        raise ValueError(f"random_state={rs!r}: give an int (or None for 0); the networks are seeded with it.")

    def _device(self) -> str:
        from course_utils import config

        return str(config.get_device() if self.device is None else self.device)

    # -- data -------------------------------------------------------------------------------
    def _prepare(self, X: Any, reset: bool) -> np.ndarray:
        """``X`` as float32 ``(n, d)``: checked, images flattened, and (``minmax``) scaled."""
        if hasattr(X, "detach"):                       # a torch tensor
            X = X.detach().cpu().numpy()
        raw = X if hasattr(X, "ndim") and not hasattr(X, "columns") else None
        if raw is not None and raw.ndim in (3, 4):
            shape = tuple(int(s) for s in raw.shape[1:])
            if not reset and shape != getattr(self, "image_shape_", None):
                raise ValueError(f"X holds images of shape {shape}, but {type(self).__name__} was fitted on "
                                 f"{getattr(self, 'image_shape_', None)}; give images of the fitted shape.")
            if reset:
                self.image_shape_ = shape
            X = np.reshape(np.asarray(raw), (raw.shape[0], -1))
        elif raw is not None and raw.ndim > 4:
            raise ValueError(f"X has {raw.ndim} dimensions {tuple(raw.shape)}; give (n, d), (n, h, w) or (n, c, h, w).")
        elif reset:
            self.image_shape_ = None
        try:
            X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64], accept_sparse=False)
        except ValueError as exc:
            text = str(exc)
            if "NaN" in text or "infinity" in text:
                raise ValueError(f"{text} {type(self).__name__} cannot cluster missing or infinite values: "
                                 "remove those rows or fill them in first (e.g. sklearn.impute.SimpleImputer).") from exc
            raise
        X = np.asarray(X, dtype=np.float32)
        if reset and X.shape[0] < self._min_samples:
            raise ValueError(f"n_samples={X.shape[0]}: {type(self).__name__} trains networks on mini-batches (with "
                             f"batch norm) and needs at least {self._min_samples} samples.")
        if reset and not self._infers_k and X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} < n_clusters={self.n_clusters}: there are fewer samples than "
                             "clusters to find; give more data or a smaller n_clusters.")
        if self._needs_unit_range:
            if self.input_range == "minmax":
                if reset:
                    self.data_min_ = X.min(axis=0)
                    self.data_max_ = X.max(axis=0)
                span = np.where(self.data_max_ > self.data_min_, self.data_max_ - self.data_min_, 1.0)
                X = np.clip((X - self.data_min_) / span, 0.0, 1.0).astype(np.float32)
            elif X.size and (X.min() < 0.0 or X.max() > 1.0):
                raise ValueError(
                    f"X has values in [{X.min():.4g}, {X.max():.4g}], but {type(self).__name__} reads pixels in "
                    "[0, 1] (its networks model each feature as a probability). Scale the data first (X / 255 "
                    "for 8-bit images), or pass input_range='minmax' to scale each feature to [0, 1] with the "
                    "training data's range.")
        return X

    def _tensor(self, X: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))

    # -- the scikit-learn interface -------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> "_CourseClusterer":
        """Train on ``X`` (``y`` is ignored: the methods learn without labels). Returns ``self``."""
        self._check_params()
        X = self._prepare(X, reset=True)
        self._fit(X, self._seed(), self._settings())
        self.labels_ = np.asarray(self._predict(X), dtype=np.int64)
        if self._infers_k:
            self.n_clusters_ = int(self._n_found())
        else:
            self.n_clusters_ = int(self.n_clusters)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row of ``X``: ``(n,)`` int64."""
        check_is_fitted(self, "labels_")
        return np.asarray(self._predict(self._prepare(X, reset=False)), dtype=np.int64)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` and the clusters of the training data (``labels_``)."""
        return self.fit(X, y).labels_

    def transform(self, X: Any) -> np.ndarray:
        """The representation the method clusters: ``(n, embedding dim)`` float64."""
        check_is_fitted(self, "labels_")
        return np.asarray(self._embed(self._prepare(X, reset=False)), dtype=np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    # -- what each method defines -----------------------------------------------------------------
    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:   # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:   # pragma: no cover - abstract
        raise NotImplementedError

    def _embed(self, X: np.ndarray) -> np.ndarray:   # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# k-means, written with week 01's steps
# --------------------------------------------------------------------------------------------

class KMeans(_CourseClusterer):
    """k-means with week 01's assignment and update steps (``course_utils.clustering``), started by
    k-means++ ``n_init`` times; the run with the lowest inertia is kept. ``transform`` gives the
    distances to the centres (as scikit-learn's ``KMeans``)."""

    _needs_unit_range = False
    _min_samples = 1

    def __init__(self, n_clusters: int = 10, *, n_init: int = 10, max_iter: int = 300, tol: float = 1e-6,
                 random_state: int | None = 0, device: str | None = None, verbose: bool = False) -> None:
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        from sklearn.cluster import kmeans_plusplus

        from course_utils.clustering import assign_clusters, update_centers

        if isinstance(self.n_init, bool) or not isinstance(self.n_init, (int, np.integer)) or self.n_init < 1:
            raise ValueError(f"n_init={self.n_init!r}: give a positive int, the number of k-means++ starts.")
        X64 = X.astype(np.float64)
        rng = np.random.RandomState(seed)
        best = None
        for _ in range(int(self.n_init)):
            centers, _ = kmeans_plusplus(X64, self.n_clusters, random_state=rng)
            it = 0
            for it in range(int(self.max_iter)):
                labels = assign_clusters(X64, centers)
                new = update_centers(X64, labels, centers)
                moved = float(((new - centers) ** 2).sum())
                centers = new
                if moved <= self.tol:
                    break
            labels = assign_clusters(X64, centers)
            inertia = float(((X64 - centers[labels]) ** 2).sum())
            if best is None or inertia < best[0]:
                best = (inertia, centers, it + 1)
        self.inertia_, self.cluster_centers_, self.n_iter_ = best

    def _predict(self, X: np.ndarray) -> np.ndarray:
        from course_utils.clustering import assign_clusters

        return assign_clusters(X.astype(np.float64), self.cluster_centers_)

    def _embed(self, X: np.ndarray) -> np.ndarray:
        X64 = X.astype(np.float64)
        d2 = (X64 ** 2).sum(1)[:, None] - 2 * X64 @ self.cluster_centers_.T + (self.cluster_centers_ ** 2).sum(1)[None]
        return np.sqrt(np.maximum(d2, 0.0))


# --------------------------------------------------------------------------------------------
# The shared pretrained autoencoder (weeks 02-05), and what is built on it
# --------------------------------------------------------------------------------------------

class _FromAutoencoder(_CourseClusterer):
    """Methods that start from the course's pretrained autoencoder (``train.pretrained_autoencoder``,
    cached, keyed by the data's fingerprint, the sizes, the recipe and the seed)."""

    def _ae_settings(self, s: dict[str, Any]) -> dict[str, Any]:
        a = dict(s["ae"])
        if self.hidden is not None:
            a["hidden"] = tuple(int(h) for h in self.hidden)
        if self.latent_dim is not None:
            a["latent_dim"] = int(self.latent_dim)
        if self.pretrain_epochs is not None:
            a["epochs"] = int(self.pretrain_epochs)
        return a

    def _pretrain(self, Xt, seed: int, s: dict[str, Any]):
        from course_utils import config, train

        a = self._ae_settings(s)
        config.seed_everything(seed, mode=self.mode)
        ae = train.pretrained_autoencoder(Xt, latent_dim=a["latent_dim"], hidden=a["hidden"], epochs=a["epochs"],
                                          batch_size=a["batch_size"], seed=seed, recipe=a["recipe"],
                                          progress=bool(self.verbose), verbose=bool(self.verbose),
                                          device=self._device())
        config.seed_everything(seed, mode=self.mode)    # as `course results` does before each method
        return ae, a

    # the fitted network is ``model_``: its own clusters, and its encoder's codes as the embedding
    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(self._tensor(X))

    def _embed(self, X: np.ndarray) -> np.ndarray:
        from course_utils import train

        return train.encode_dataset(self.model_, self._tensor(X)).double().numpy()


class _SoftAssignments:
    """``predict_proba`` for a model whose own ``predict_proba`` gives the soft assignments."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """The model's soft assignment of each row to the clusters: ``(n, n_clusters)`` (DEC: the
        Student's t kernel ``q``; VaDE: the responsibilities ``p(c | z)`` at ``z = mu(x)``)."""
        check_is_fitted(self, "labels_")
        return self.model_.predict_proba(self._tensor(self._prepare(X, reset=False))).double().numpy()


def _common_init(self: Any, n_clusters: int, mode: str, hidden: Any, latent_dim: Any, pretrain_epochs: Any,
                 input_range: str, random_state: Any, device: Any, verbose: bool) -> None:
    self.n_clusters = n_clusters
    self.mode = mode
    self.hidden = hidden
    self.latent_dim = latent_dim
    self.pretrain_epochs = pretrain_epochs
    self.input_range = input_range
    self.random_state = random_state
    self.device = device
    self.verbose = verbose


class AEKMeans(_FromAutoencoder):
    """k-means (20 starts) on the codes of the pretrained autoencoder (weeks 02 and 04)."""

    def __init__(self, n_clusters: int = 10, *, mode: str = "fast", hidden: tuple[int, ...] | None = None,
                 latent_dim: int | None = None, pretrain_epochs: int | None = None, input_range: str = "check",
                 random_state: int | None = 0, device: str | None = None, verbose: bool = False) -> None:
        _common_init(self, n_clusters, mode, hidden, latent_dim, pretrain_epochs, input_range, random_state,
                     device, verbose)

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        from sklearn.cluster import KMeans as SkKMeans

        from course_utils import train

        self.model_, _ = self._pretrain(self._tensor(X), seed, s)
        Z = train.encode_dataset(self.model_, self._tensor(X)).double().numpy()
        self.kmeans_ = SkKMeans(self.n_clusters, n_init=20, random_state=seed).fit(Z)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.kmeans_.predict(self._embed(X))


class _DECFamily(_SoftAssignments, _FromAutoencoder):
    _recipe_name = "dec"

    def __init__(self, n_clusters: int = 10, *, mode: str = "fast", hidden: tuple[int, ...] | None = None,
                 latent_dim: int | None = None, pretrain_epochs: int | None = None, max_iter: int | None = None,
                 input_range: str = "check", random_state: int | None = 0, device: str | None = None,
                 verbose: bool = False) -> None:
        _common_init(self, n_clusters, mode, hidden, latent_dim, pretrain_epochs, input_range, random_state,
                     device, verbose)
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        import torch

        from course_utils.models.dec import (DEC as DECModel, DEC_DA_RECIPE, DEC_RECIPE, IDEC_RECIPE,
                                             init_centers_kmeans, make_dec_optimizer, train_dec)

        Xt = self._tensor(X)
        if self._recipe_name == "dec-da":
            side = math.isqrt(X.shape[1])
            if side * side != X.shape[1]:
                raise ValueError(f"DECDA augments images by small rotations and shifts, so it needs square "
                                 f"images; X has {X.shape[1]} features per row. Use DEC or IDEC for other data.")
        ae, _ = self._pretrain(Xt, seed, s)
        recipe = {"dec": DEC_RECIPE, "idec": IDEC_RECIPE, "dec-da": DEC_DA_RECIPE}[self._recipe_name]
        keep = self._recipe_name == "idec"
        max_iter = self.max_iter
        if max_iter is None:
            max_iter = s["dec"]["da_max_iter"] if self._recipe_name == "dec-da" else s["dec"]["max_iter"]
        torch.manual_seed(seed)
        model = DECModel(ae, self.n_clusters, keep_decoder=keep).to(self._device())
        init_centers_kmeans(model, Xt, seed=seed)
        self.history_ = train_dec(model, Xt, gamma=recipe["gamma"], optimizer=make_dec_optimizer(model, recipe),
                                  batch_size=recipe["batch_size"], tol=recipe["tol"], max_iter=int(max_iter), seed=seed,
                                  progress=bool(self.verbose), augment=recipe.get("augment"),
                                  patience=recipe.get("patience"), window=recipe.get("window", 10))
        self.n_iter_ = len(self.history_.get("delta_label", []))   # target-distribution updates made
        self.model_ = model



class DEC(_DECFamily):
    """DEC (Xie et al., 2016) from the pretrained autoencoder, with the course's recipe (week 04)."""

    _recipe_name = "dec"


class IDEC(_DECFamily):
    """IDEC (Guo et al., 2017): DEC that keeps the decoder's reconstruction loss (week 04)."""

    _recipe_name = "idec"


class DECDA(_DECFamily):
    """DEC-DA (Guo et al., 2018): DEC on randomly rotated and shifted images, with the plateau stop
    (week 04). Needs square images (rows of h*h pixels, or images)."""

    _recipe_name = "dec-da"


class VaDE(_SoftAssignments, _FromAutoencoder):
    """VaDE (Jiang et al., 2017) from the pretrained autoencoder and a GMM on its codes (week 03)."""

    def __init__(self, n_clusters: int = 10, *, mode: str = "fast", hidden: tuple[int, ...] | None = None,
                 latent_dim: int | None = None, pretrain_epochs: int | None = None, epochs: int | None = None,
                 input_range: str = "check", random_state: int | None = 0, device: str | None = None,
                 verbose: bool = False) -> None:
        _common_init(self, n_clusters, mode, hidden, latent_dim, pretrain_epochs, input_range, random_state,
                     device, verbose)
        self.epochs = epochs

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        import torch

        from course_utils import train
        from course_utils.models.vade import (VADE_RECIPE, VaDE as VaDEModel, init_from_autoencoder,
                                              init_gmm_from_latent, make_optimizer, step_decay_callback,
                                              vade_objective)

        Xt = self._tensor(X)
        ae, a = self._pretrain(Xt, seed, s)
        torch.manual_seed(seed)
        model = VaDEModel(X.shape[1], a["hidden"], a["latent_dim"], self.n_clusters).to(self._device())
        Z = train.encode_dataset(ae, Xt)
        init_from_autoencoder(model, ae, logvar_init=math.log(0.1 ** 2 * max(float(Z.var(dim=0).mean()), 1e-12)))
        init_gmm_from_latent(model, Z, seed=seed, kmeans_restarts=s["gmm_kmeans_restarts"], em=s["vade"]["gmm_em"])
        opt = make_optimizer(model, lr=s["vade"]["lr"])
        epochs = s["vade"]["epochs"] if self.epochs is None else int(self.epochs)
        self.history_ = train.fit(model, Xt, vade_objective, epochs, optimizer=opt,
                                  batch_size=VADE_RECIPE["batch_size"], callbacks=[step_decay_callback(opt)],
                                  seed=seed, progress=bool(self.verbose))
        self.model_ = model



class DAC(_FromAutoencoder):
    """Deep Adversarial Clustering (Harchaoui et al., 2017): the pretrained autoencoder with a
    mixture prior, its codes pushed towards the mixture by a discriminator (week 05)."""

    def __init__(self, n_clusters: int = 10, *, mode: str = "fast", hidden: tuple[int, ...] | None = None,
                 latent_dim: int | None = None, pretrain_epochs: int | None = None, epochs: int | None = None,
                 input_range: str = "check", random_state: int | None = 0, device: str | None = None,
                 verbose: bool = False) -> None:
        _common_init(self, n_clusters, mode, hidden, latent_dim, pretrain_epochs, input_range, random_state,
                     device, verbose)
        self.epochs = epochs

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        from course_utils.checkpoints import cached
        from course_utils.models import gan

        Xt = self._tensor(X)
        ae, _ = self._pretrain(Xt, seed, s)
        g = s["gan"]
        epochs = g["dac_epochs"] if self.epochs is None else int(self.epochs)
        spec = gan.method_spec("dac", Xt, epochs=epochs, batch_size=g["dac_batch"], n_clusters=self.n_clusters,
                               ae=ae, gmm_kmeans_restarts=s["gmm_kmeans_restarts"], seed=seed)
        self.model_ = cached(spec["name"], spec["cfg"], spec["build"], lambda m: spec["fit"](m, []), seed=seed,
                             verbose=bool(self.verbose))

    def predict_proba(self, X: Any) -> np.ndarray:
        """The mixture's responsibilities of each code: ``(n, n_clusters)``."""
        import torch

        from course_utils.models.vade import log_gamma

        check_is_fitted(self, "labels_")
        Xt = self._tensor(self._prepare(X, reset=False))
        m = self.model_
        with torch.no_grad():
            z = m.ae.encode(Xt.to(m.mu_c.device))
            return log_gamma(z, m.log_pi, m.mu_c, m.logvar_c).exp().cpu().double().numpy()

    def _embed(self, X: np.ndarray) -> np.ndarray:
        from course_utils import train

        return train.encode_dataset(self.model_.ae, self._tensor(X)).double().numpy()


# --------------------------------------------------------------------------------------------
# InfoGAN (week 05)
# --------------------------------------------------------------------------------------------

class InfoGAN(_CourseClusterer):
    """InfoGAN (Chen et al., 2016): the cluster is the categorical code the Q head reads from an
    image (week 05). Fast mode's fully connected networks take any width; full mode's convolutional
    ones (the paper's) take 28x28 images. ``epochs=None``: the mode's (full mode: the reference's
    5,000 updates of 128 images, however many epochs that is on ``X``)."""

    def __init__(self, n_clusters: int = 10, *, mode: str = "fast", epochs: int | None = None,
                 input_range: str = "check", random_state: int | None = 0, device: str | None = None,
                 verbose: bool = False) -> None:
        self.n_clusters = n_clusters
        self.mode = mode
        self.epochs = epochs
        self.input_range = input_range
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        from course_utils import config
        from course_utils.checkpoints import cached
        from course_utils.models import gan

        g = s["gan"]
        if g["arch"] == "conv" and X.shape[1] != 28 * 28:
            raise ValueError(f"InfoGAN's {self.mode} mode uses the paper's convolutional networks, which take 28x28 "
                             f"images (784 features); X has {X.shape[1]} features. Use mode='fast' (fully "
                             "connected networks, any size) or resize the images to 28x28.")
        epochs = g["infogan_epochs"] if self.epochs is None else int(self.epochs)
        config.seed_everything(seed, mode=self.mode)
        spec = gan.method_spec("infogan", self._tensor(X), epochs=epochs, batch_size=g["infogan_batch"], arch=g["arch"],
                               noise_dim=g["noise_dim"], n_clusters=self.n_clusters, seed=seed)
        self.model_ = cached(spec["name"], spec["cfg"], spec["build"], lambda m: spec["fit"](m, []), seed=seed,
                             verbose=bool(self.verbose))

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(self._tensor(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """The softmax of the Q head's categorical logits: ``(n, n_clusters)``."""
        import torch

        check_is_fitted(self, "labels_")
        m = self.model_
        Xt = self._tensor(self._prepare(X, reset=False))
        m.eval()
        with torch.no_grad():
            logits = torch.cat([m.discriminator(Xt[i:i + 1024])["q"][:, :m.n_cat] for i in range(0, len(Xt), 1024)])
        return torch.softmax(logits, dim=1).double().numpy()

    def _embed(self, X: np.ndarray) -> np.ndarray:
        return self.model_.features(self._tensor(X)).double().numpy()


# --------------------------------------------------------------------------------------------
# NMMC on a DBN's codes (week 06): the number of clusters is inferred
# --------------------------------------------------------------------------------------------

class NMMC(_CourseClusterer):
    """NMMC (the course's reconstruction, week 06) on the codes of a DBN trained greedily: a point
    joins the best-scoring cluster or opens a new one when every score is below ``lam``. It finds
    the number of clusters (``n_clusters_``); there is no ``n_clusters`` parameter.

    ``labels_`` is the fitted model's assignment of the training data (``predict``: the best-scoring
    of the final clusters), so that ``fit(X).predict(X)`` gives ``fit_predict(X)``. The labels of
    NMMC's last online pass, which week 06 and ``course results`` score, are ``nmmc_.labels``; a
    point may have moved since its pass, so the two can differ in a few points."""

    _infers_k = True

    def __init__(self, *, lam: float | None = None, mode: str = "fast", sizes: tuple[int, ...] | None = None,
                 rbm_epochs: int | None = None, input_range: str = "check", random_state: int | None = 0,
                 device: str | None = None, verbose: bool = False) -> None:
        self.lam = lam
        self.mode = mode
        self.sizes = sizes
        self.rbm_epochs = rbm_epochs
        self.input_range = input_range
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _fit(self, X: np.ndarray, seed: int, s: dict[str, Any]) -> None:
        import torch

        from course_utils import config
        from course_utils.models import dbn as dbn_lib
        from course_utils.models import nmmc

        d = s["dbn"]
        hidden = list(d["sizes"][1:]) if self.sizes is None else [int(h) for h in self.sizes]
        sizes = [X.shape[1], *hidden]
        epochs = d["rbm_epochs"] if self.rbm_epochs is None else int(self.rbm_epochs)
        Xt = self._tensor(X)
        config.seed_everything(seed, mode=self.mode)
        torch.manual_seed(seed)
        net = dbn_lib.DBN(sizes)
        dbn_lib.pretrain_dbn(net, Xt, epochs=epochs, seed=seed, lr=0.1, batch_size=100)
        H = net.transform(Xt).double().numpy()
        Z, self.code_mean_, self.code_scale_ = nmmc.standardize_codes(H)
        config.seed_everything(seed, mode=self.mode)
        p = nmmc.NMMC_DEFAULTS
        lam = p["lam"] if self.lam is None else float(self.lam)
        self.nmmc_ = nmmc.fit_nmmc(Z, lam=lam, prior=p["prior"], margin=p["margin"], C=p["C"], passes=p["passes"],
                                   seed=seed, progress=bool(self.verbose))
        self.model_ = net

    def _n_found(self) -> int:
        return self.nmmc_.n_clusters

    def _embed(self, X: np.ndarray) -> np.ndarray:
        from course_utils.models import nmmc

        H = self.model_.transform(self._tensor(X)).double().numpy()
        return nmmc.standardize_codes(H, self.code_mean_, self.code_scale_)[0]

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.nmmc_.predict(self._embed(X))


#: name -> estimator class, as ``course cluster --method`` spells them
ESTIMATORS: dict[str, type[_CourseClusterer]] = {
    "kmeans": KMeans, "ae-kmeans": AEKMeans, "dec": DEC, "idec": IDEC, "dec-da": DECDA, "vade": VaDE,
    "dac": DAC, "infogan": InfoGAN, "nmmc": NMMC,
}
