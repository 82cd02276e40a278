"""``course results``: every method of the course on the same data and seeds, into one table.

    course results                           fast mode (2,000 test images, 32x32 videos), seeds 0 1
    course results --full                    full mode (the 10,000 test images, or --split all)
    course results --methods vade dec idec --seeds 0 1 2 3 4
    course results --shard 2/8               one machine's part of the grid (a Slurm array task)
    course results --merge                   combine the shards' files into results.csv

Each (method, seed) is one run of the functions the week's notebook calls, with that notebook's
settings for the mode (``SETTINGS``). A run's row goes into ``results/results.csv`` as soon as it
ends, so an interrupted run loses only the run in progress; rows already there are skipped unless
``--rerun``. A run that fails (it diverges, runs out of memory, ...) is recorded with its error and
the grid goes on; the next call tries it again. ``results/RESULTS.md`` is the table as mean and
spread over seeds with each paper's number and its source.

Clustering rows hold ACC (Hungarian), many-to-one ACC, NMI, ARI; prediction rows (week 07) the
per-frame MSE and SSIM of the next frame and of 10 extrapolated frames. Every row also holds the
training time, the time of the shared pretraining it starts from, the number of parameters, the
peak memory, and where it ran (torch, device, threads, git commit, data split and size).
"""
from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from course_utils import config, memory
from course_utils import settings as course_settings

#: The default output folder (``--out``), relative to the repository root.
DEFAULT_OUT = config.REPO_ROOT / "results"
CSV_NAME = "results.csv"
MD_NAME = "RESULTS.md"
SHARD_DIR = "shards"
#: The fast-mode grid as ``course results`` made it, shipped with the course: the summary notebook
#: shows it when ``results/`` has no fast-mode rows of its own (CI does; so does a student who has
#: not run the grid). ``course results --ship`` remakes it; ``tests/test_results.py`` reruns seed 0
#: of every method and compares.
SHIPPED = Path(__file__).with_name("fast_results")

#: The grid's settings per mode (fast / full): the weeks' own, read from ``settings.py`` (the one
#: place they are written), so that each run here is the week's notebook's run.
SETTINGS: dict[str, dict[str, Any]] = {mode: course_settings.results_settings(mode) for mode in course_settings.MODES}

#: The k of the "choosing k" sweep (k-means on the autoencoder's codes, and VaDE), besides 10.
K_SWEEP = (5, 15, 20)

COLUMNS = ("method", "label", "week", "k", "seed", "mode", "dataset", "split", "n", "status", "error",
           "acc", "majority_acc", "nmi", "ari", "recon_mse",
           "mse_next", "ssim_next", "mse_10step", "ssim_10step",
           "train_s", "pretrain_s", "wall_s", "from_cache", "params", "peak_mem_mb", "mem_how",
           "torch", "device", "threads", "commit", "python", "machine", "finished")
METRICS = ("acc", "majority_acc", "nmi", "ari", "recon_mse", "mse_next", "ssim_next", "mse_10step", "ssim_10step")
KEY = ("method", "seed", "mode", "dataset", "split", "n")

#: The datasets the grid runs on (``--dataset``; ``data.load_dataset``'s names), and how they are shown.
DATASETS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "kmnist": "KMNIST", "usps": "USPS",
            "digits": "scikit-learn's digits"}


class ResultsError(ValueError):
    """A wrong option or an unreadable results file; the message says what to do."""


# --------------------------------------------------------------------------------------------
# The methods
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    id: str
    label: str
    week: str
    kind: str                     # "cluster" or "predict"
    needs: str                    # the shared stage it starts from: "data", "ae", "vae", "dbn", "dbn_unrolled", "video"
    k: int | None = 10            # clusters asked for (None: inferred)
    paper: str = ""               # the paper's number, as the paper gives it
    source: str = ""              # where that number comes from
    runner: str = ""              # the function that runs it (``@_runs``): "pixels", "ae", "gan", ...
    variant: str = ""             # what that function runs of its kind ("catgan", "copy last"), if not the id


def _m(runner: str, *args: Any, **kw: Any) -> Method:
    """One method of the grid: ``runner`` is ``"family"`` or ``"family:variant"``; the rest as Method."""
    family, _, variant = runner.partition(":")
    return Method(*args, runner=family, variant=variant, **kw)


_VADE_PAPER = "VaDE paper (Jiang et al., IJCAI 2017), Table 2, all 70,000 images"
METHODS: dict[str, Method] = {m.id: m for m in [
    _m("pixels", "kmeans", "k-means (pixels)", "01", "cluster", "data", paper="53.49", source="DEC paper (Xie et al., 2016), 70,000 images"),
    _m("pixels", "gmm", "GMM (pixels)", "01", "cluster", "data", paper="53.73", source=_VADE_PAPER),
    _m("ae", "ae-kmeans", "AE + k-means", "04", "cluster", "ae"),
    _m("ae", "ae-gmm", "AE + GMM", "02", "cluster", "ae", paper="82.18", source=_VADE_PAPER),
    _m("vae", "vae-gmm", "VAE + GMM", "02", "cluster", "vae", paper="72.94", source=_VADE_PAPER),
    _m("vade", "vade", "VaDE", "03", "cluster", "ae", paper="94.46", source=_VADE_PAPER),
    _m("vade", "vade-scratch", "VaDE without pretraining", "03", "cluster", "data"),
    _m("dec", "dec", "DEC", "04", "cluster", "ae", paper="84.30", source="DEC paper (Xie et al., ICML 2016), 70,000 images"),
    _m("dec", "idec", "IDEC", "04", "cluster", "ae", paper="88.06", source="IDEC paper (Guo et al., IJCAI 2017), 70,000 images"),
    _m("dec", "dec-da", "DEC-DA", "04", "cluster", "ae", paper="98.3", source="DEC-DA's README (Guo et al., ACML 2018), MNIST-TEST (these 10,000)"),
    _m("dec", "dec-scratch", "DEC without pretraining", "04", "cluster", "data"),
    _m("gan:gan", "gan-kmeans", "GAN features + k-means", "05", "cluster", "data"),
    _m("gan:catgan", "catgan10", "CatGAN, K = 10", "05", "cluster", "data"),
    _m("gan:catgan", "catgan20", "CatGAN, K = 20", "05", "cluster", "data", k=20, paper="90.3 many-to-one",
       source="CatGAN (Springenberg, ICLR 2016) as quoted by the AAE paper"),
    _m("gan:infogan", "infogan", "InfoGAN", "05", "cluster", "data", paper="about 95 (5% error)", source="InfoGAN paper (Chen et al., NeurIPS 2016)"),
    _m("gan:dac", "dac", "DAC", "05", "cluster", "ae"),
    _m("gan:aae", "aae16", "AAE, 16 clusters", "05", "cluster", "data", k=16, paper="90.45 many-to-one",
       source="AAE paper (Makhzani et al., 2016), Table 6"),
    _m("gan:aae", "aae30", "AAE, 30 clusters", "05", "cluster", "data", k=30, paper="95.9 many-to-one",
       source="AAE paper (Makhzani et al., 2016), Table 6"),
    _m("dbn", "dbn-kmeans", "k-means on DBN codes", "06", "cluster", "dbn"),
    _m("dbn", "dp-gmm", "DP-GMM (DBN codes)", "06", "cluster", "dbn", k=None),
    _m("dbn", "dp-means", "DP-means (DBN codes)", "06", "cluster", "dbn", k=None),
    _m("dbn", "nmmc", "NMMC (DBN codes)", "06", "cluster", "dbn", k=None),
    _m("dbn", "nmmc-ft", "NMMC after fine-tuning", "06", "cluster", "dbn", k=None),
    _m("dbn:unrolled", "dbn-unrolled", "unrolled DBN + k-means", "06", "cluster", "dbn_unrolled"),
    _m("dbn:unrolled", "nmmc-unrolled", "NMMC (unrolled DBN codes)", "06", "cluster", "dbn_unrolled", k=None),
    _m("dbn:unrolled", "nmmc-merged", "NMMC + margin merge (unrolled DBN codes)", "06", "cluster", "dbn_unrolled",
       k=None),
    _m("video:copy last", "copy-last", "copy the last frame", "07", "predict", "video"),
    _m("video:black", "black", "all black", "07", "predict", "video"),
    _m("video:mean of inputs", "mean-inputs", "mean of the inputs", "07", "predict", "video"),
    _m("video", "prednet", "PredNet L_0", "07", "predict", "video", paper="161.4 (10-step MSE)",
       source="OpenSTL benchmark, 200 epochs on the standard Moving MNIST test file"),
    _m("video", "convlstm", "ConvLSTM", "07", "predict", "video", paper="29.8 (10-step MSE)",
       source="OpenSTL benchmark, 200 epochs on the standard Moving MNIST test file"),
    *[_m("ae", f"ae-kmeans@{k}", f"AE + k-means, k = {k}", "04", "cluster", "ae", k=k) for k in K_SWEEP],
    *[_m("vade", f"vade@{k}", f"VaDE, k = {k}", "03", "cluster", "ae", k=k) for k in K_SWEEP],
]}

#: Names ``--methods`` accepts besides the method ids.
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(METHODS),
    "clustering": tuple(m for m, v in METHODS.items() if v.kind == "cluster"),
    "prediction": tuple(m for m, v in METHODS.items() if v.kind == "predict"),
    "k-sweep": tuple(m for m in METHODS if "@" in m),
    **{f"week{w}": tuple(m for m, v in METHODS.items() if v.week == w)
       for w in sorted({v.week for v in METHODS.values()})},
}


def resolve_methods(names: Iterable[str] | None) -> list[str]:
    """Method ids in the table's order, from ids and group names (``all``, ``week03``, ...)."""
    wanted: set[str] = set()
    for name in names or ["all"]:
        if name in METHODS:
            wanted.add(name)
        elif name in GROUPS:
            wanted.update(GROUPS[name])
        else:
            raise ResultsError(f"unknown method {name!r}. Methods: {', '.join(METHODS)}; "
                               f"groups: {', '.join(GROUPS)}.")
    return [m for m in METHODS if m in wanted]


# --------------------------------------------------------------------------------------------
# Shared stages: the data, and the pretraining several methods start from (one per seed)
# --------------------------------------------------------------------------------------------

@dataclass
class Context:
    """What the runs of one seed share: the data and the pretrained networks, built once."""

    mode: str
    seed: int
    split: str
    n: int | None
    out: Path
    dataset: str = "mnist"
    s: dict[str, Any] = field(init=False)
    stages: dict[str, Any] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.s = SETTINGS[self.mode]

    # -- data ---------------------------------------------------------------------------------
    def data(self):
        if "data" not in self.stages:
            from course_utils import data

            if self.dataset == "digits":       # one set of 1,797 images: no split
                X, y = data.load_dataset("digits", limit=self.n)
            else:
                X, y = data.load_dataset(self.dataset, split=self.split, limit=self.n)
            self.stages["data"] = (X, y.numpy())
        return self.stages["data"]

    def video(self):
        if "video" not in self.stages:
            from course_utils import data

            v = self.s["video"]
            train = data.moving_mnist_clips(v["n_train"], "train", v["resolution"], seed=self.seed)
            test = data.moving_mnist_clips(v["n_test"], "test", v["resolution"], seed=1000 + self.seed)
            self.stages["video"] = (train, test)
        return self.stages["video"]

    # -- pretraining ----------------------------------------------------------------------------
    def _pretrained(self, kind: str):
        """The shared autoencoder ("ae") or VAE ("vae") of weeks 02-05, through the checkpoint cache."""
        if kind not in self.stages:
            from course_utils import train

            X, _ = self.data()
            a = self.s["ae"]
            config.seed_everything(self.seed, mode=self.mode)
            with _CacheWatch() as watch:
                if kind == "ae":
                    model = train.pretrained_autoencoder(X, latent_dim=a["latent_dim"], hidden=a["hidden"],
                                                         epochs=a["epochs"], batch_size=a["batch_size"], seed=self.seed,
                                                         recipe=a["recipe"], progress=False, verbose=False)
                else:
                    model = train.pretrained_vae(X, latent_dim=a["latent_dim"], hidden=a["hidden"],
                                                 epochs=self.s["vae"]["epochs"], seed=self.seed, progress=False,
                                                 verbose=False)
            self.stages[kind], self.stages[f"{kind}_loaded"] = model, watch.loaded
            self.stage_seconds[kind] = watch.seconds
        return self.stages[kind]

    def ae(self):
        return self._pretrained("ae")

    def vae(self):
        return self._pretrained("vae")

    def dbn(self):
        if "dbn" not in self.stages:
            import torch

            from course_utils.models import dbn as dbn_lib
            from course_utils.models import nmmc

            X, _ = self.data()
            d = self.s["dbn"]
            config.seed_everything(self.seed, mode=self.mode)
            t0 = time.perf_counter()
            torch.manual_seed(self.seed)
            net = dbn_lib.DBN([X.shape[1], *d["sizes"][1:]])   # the input layer is the data's width
            dbn_lib.pretrain_dbn(net, X, epochs=d["rbm_epochs"], seed=self.seed, lr=0.1, batch_size=100)
            H = net.transform(X).double().numpy()
            Z, mean, scale = nmmc.standardize_codes(H)
            self.stages["dbn"] = (net, Z, mean, scale)
            self.stage_seconds["dbn"] = time.perf_counter() - t0
        return self.stages["dbn"]

    def dbn_unrolled(self):
        """Week 06's DBN unrolled into an autoencoder and fine-tuned (``train.pretrained_unrolled_dbn``,
        cached), and its standardised codes."""
        if "dbn_unrolled" not in self.stages:
            from course_utils import train
            from course_utils.models import nmmc

            X, _ = self.data()
            u = self.s["dbn_unrolled"]
            config.seed_everything(self.seed, mode=self.mode)
            with _CacheWatch() as watch:
                model = train.pretrained_unrolled_dbn(X, seed=self.seed, progress=False, verbose=False, **u)
            Z, _, _ = nmmc.standardize_codes(train.encode_dataset(model, X).double().numpy())
            self.stages["dbn_unrolled"], self.stages["dbn_unrolled_loaded"] = (model, Z), watch.loaded
            self.stage_seconds["dbn_unrolled"] = watch.seconds
        return self.stages["dbn_unrolled"]

    def prepare(self, needs: str) -> float:
        """Build the stage ``needs`` (if not built yet); its training time in seconds."""
        getattr(self, needs)()
        return float(self.stage_seconds.get(needs, 0.0))   # data and videos are not training: 0


class _CacheWatch:
    """Seconds a cached training step took when it was trained (also when it is loaded now)."""

    def __enter__(self) -> "_CacheWatch":
        from course_utils import train

        self._start = len(train.CACHE_EVENTS)
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        self.loaded = False
        self.saved_peak_mb: float | None = None
        self.peak_unknown = False
        return self

    def __exit__(self, *exc: Any) -> None:
        from course_utils import train

        events = train.CACHE_EVENTS[self._start:]
        wall = time.perf_counter() - self._t0
        saved = sum(float(e.get("train_seconds") or 0.0) for e in events if e["loaded"])
        load_time = sum(float(e.get("load_seconds") or 0.0) for e in events if e["loaded"])
        self.loaded = any(e["loaded"] for e in events)
        self.seconds = max(wall - load_time, 0.0) + saved
        peaks = [float(e["train_peak_mb"]) for e in events if e["loaded"] and e.get("train_peak_mb") is not None]
        self.saved_peak_mb = max(peaks) if peaks else None
        self.peak_unknown = any(e["loaded"] and e.get("train_peak_mb") is None for e in events)


def _run_peak(mem: PeakMemory, watch: _CacheWatch) -> tuple[float, str]:
    """A run's peak memory and how it was measured. A model loaded from the cache counts the peak
    its training reached when it was trained (saved with it), not the smaller one of loading it;
    a cache file too old to hold that peak is named as such."""
    peak, how = mem.mb, mem.how
    if watch.saved_peak_mb is not None and not math.isnan(peak) and watch.saved_peak_mb > peak:
        peak, how = watch.saved_peak_mb, f"{how}; the training's, saved with the cached model"
    if watch.peak_unknown:
        how += "; loaded from a cache file that does not record its training's peak: loading and scoring only"
    return round(peak, 1), how


def _n_params(*modules: Any) -> int:
    return int(sum(p.numel() for m in modules if m is not None for p in m.parameters()))


def _projection(Z: Any, y: np.ndarray, pred: np.ndarray, seed: int, limit: int = 2000) -> dict[str, np.ndarray]:
    """A 2-D PCA view of the representation a method clusters (at most ``limit`` points)."""
    from sklearn.decomposition import PCA

    Z = np.asarray(Z.detach().cpu().numpy() if hasattr(Z, "detach") else Z, dtype=np.float64)
    idx = np.random.default_rng(seed).permutation(len(Z))[:limit]
    xy = PCA(2, random_state=seed).fit_transform(Z[idx]) if Z.shape[1] > 2 else Z[idx]
    return {"xy": xy.astype(np.float32), "y": np.asarray(y)[idx], "pred": np.asarray(pred)[idx]}


def _recon_mse(encode: Callable, decode: Callable, output: str, X: Any) -> float:
    """Per-pixel squared error of ``decode(encode(X))`` read as pixels (the sigmoid of logits)."""
    import torch

    with torch.no_grad():
        parts = []
        for i in range(0, len(X), 1024):
            x = X[i:i + 1024]
            out = decode(encode(x))
            out = torch.sigmoid(out) if output == "logits" else out
            parts.append(((out.cpu() - x.cpu()) ** 2).sum().item())
    return float(sum(parts) / X.numel())


# -- one function per method family; each returns (scores, extras) -----------------------------

def _score(y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from course_utils.metrics import evaluate

    return evaluate(y, np.asarray(labels), majority=True)


_RUNNERS: dict[str, Callable[[Method, Context], dict[str, Any]]] = {}


def _runs(family: str) -> Callable:
    """Registers a runner for the methods whose entry in METHODS names ``family``."""
    def register(fn: Callable[[Method, Context], dict[str, Any]]) -> Callable[[Method, Context], dict[str, Any]]:
        _RUNNERS[family] = fn
        return fn
    return register


@_runs("pixels")
def _run_pixels(method: Method, ctx: Context) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    X, y = ctx.data()
    X64 = X.double().numpy()
    if method.id == "kmeans":
        km = KMeans(10, n_init=ctx.s["kmeans_restarts"], random_state=ctx.seed).fit(X64)
        labels, params = km.labels_, km.cluster_centers_.size
    else:
        gmm = GaussianMixture(10, covariance_type="diag", random_state=ctx.seed).fit(X64)
        labels, params = gmm.predict(X64), gmm.means_.size + gmm.covariances_.size + gmm.weights_.size
    return {"scores": _score(y, labels), "params": int(params), "embedding": _projection(X64, y, labels, ctx.seed)}


@_runs("ae")
def _run_ae(method: Method, ctx: Context) -> dict[str, Any]:
    from sklearn.cluster import KMeans

    from course_utils import train
    from course_utils.clustering import fit_diag_gmm

    X, y = ctx.data()
    ae = ctx.ae()
    Z = train.encode_dataset(ae, X)
    Z64 = Z.double().numpy()
    k = method.k
    if method.id.startswith("ae-kmeans"):
        km = KMeans(k, n_init=20, random_state=ctx.seed).fit(Z64)
        labels, extra = km.labels_, km.cluster_centers_.size
    else:
        gmm = fit_diag_gmm(Z64, k, seed=ctx.seed, kmeans_restarts=ctx.s["gmm_kmeans_restarts"])
        labels, extra = gmm.predict(Z64), 2 * k * Z.shape[1] + k
    recon = _recon_mse(ae.encode, ae.decode, ae.output, X)
    return {"scores": {**_score(y, labels), "recon_mse": recon}, "params": _n_params(ae) + int(extra),
            "embedding": _projection(Z, y, labels, ctx.seed)}


@_runs("vae")
def _run_vae(method: Method, ctx: Context) -> dict[str, Any]:
    from course_utils import train

    X, y = ctx.data()
    vae = ctx.vae()
    Z = train.encode_dataset(vae, X)
    labels = train.cluster_latent(Z, 10, "gmm", seed=ctx.seed, kmeans_restarts=ctx.s["gmm_kmeans_restarts"])
    return {"scores": _score(y, labels), "params": _n_params(vae) + 2 * 10 * Z.shape[1] + 10,
            "embedding": _projection(Z, y, labels, ctx.seed)}


@_runs("vade")
def _run_vade(method: Method, ctx: Context) -> dict[str, Any]:
    import torch

    from course_utils import train
    from course_utils.models.vade import (VADE_RECIPE, VaDE, init_from_autoencoder, init_gmm_from_latent,
                                          make_optimizer, step_decay_callback, vade_objective)

    X, y = ctx.data()
    v, a = ctx.s["vade"], ctx.s["ae"]
    scratch = method.id == "vade-scratch"
    k = method.k
    torch.manual_seed(ctx.seed)
    model = VaDE(X.shape[1], a["hidden"], a["latent_dim"], k).to(config.get_device())
    if not scratch:  # the pretrained autoencoder into the networks, then a GMM on its codes
        ae = ctx.ae()
        Z = train.encode_dataset(ae, X)
        init_from_autoencoder(model, ae, logvar_init=math.log(0.1 ** 2 * float(Z.var(dim=0).mean())))
        init_gmm_from_latent(model, Z, seed=ctx.seed, kmeans_restarts=ctx.s["gmm_kmeans_restarts"], em=v["gmm_em"])
    opt = make_optimizer(model, lr=v["lr"])
    epochs = v["scratch_epochs"] if scratch else v["epochs"]
    train.fit(model, X, vade_objective, epochs, optimizer=opt, batch_size=VADE_RECIPE["batch_size"],
              callbacks=[step_decay_callback(opt)], seed=ctx.seed, progress=False)
    labels = model.predict(X)
    Z = train.encode_dataset(model, X)
    return {"scores": _score(y, labels), "params": _n_params(model), "embedding": _projection(Z, y, labels, ctx.seed)}


@_runs("dec")
def _run_dec(method: Method, ctx: Context) -> dict[str, Any]:
    import torch

    from course_utils import train
    from course_utils.models import MLPAutoencoder
    from course_utils.models.dec import (DEC, DEC_DA_RECIPE, DEC_RECIPE, IDEC_RECIPE, init_centers_kmeans,
                                         make_dec_optimizer, train_dec)

    X, y = ctx.data()
    d, a = ctx.s["dec"], ctx.s["ae"]
    if method.id == "dec-scratch":  # the same network, never pretrained
        torch.manual_seed(ctx.seed)
        ae = MLPAutoencoder(X.shape[1], a["hidden"], a["latent_dim"]).to(config.get_device())
    else:
        ae = ctx.ae()
    recipe = {"dec": DEC_RECIPE, "dec-scratch": DEC_RECIPE, "idec": IDEC_RECIPE, "dec-da": DEC_DA_RECIPE}[method.id]
    keep = method.id == "idec"
    torch.manual_seed(ctx.seed)
    model = DEC(ae, 10, keep_decoder=keep).to(config.get_device())
    init_centers_kmeans(model, X, seed=ctx.seed)
    max_iter = d["da_max_iter"] if method.id == "dec-da" else d["max_iter"]
    train_dec(model, X, gamma=recipe["gamma"], optimizer=make_dec_optimizer(model, recipe),
              batch_size=recipe["batch_size"], tol=recipe["tol"], max_iter=max_iter, seed=ctx.seed,
              progress=False, augment=recipe.get("augment"), patience=recipe.get("patience"),
              window=recipe.get("window", 10))
    labels = model.predict(X)
    # DEC drops the decoder: its codes are read back by the pretrained autoencoder's decoder
    decode, output = (model.decoder, model.output) if keep else (ae.decode, ae.output)
    recon = _recon_mse(model.encode, decode, output, X)
    Z = train.encode_dataset(model, X)
    return {"scores": {**_score(y, labels), "recon_mse": recon}, "params": _n_params(model),
            "embedding": _projection(Z, y, labels, ctx.seed)}


@_runs("gan")
def _run_gan(method: Method, ctx: Context) -> dict[str, Any]:
    import torch

    from course_utils import train
    from course_utils.models import gan

    X, y = ctx.data()
    g = ctx.s["gan"]
    kind, k = method.variant, method.k
    if kind in ("gan", "catgan", "infogan"):
        # InfoGAN's full mode: epochs None and batch 128, the reference's 5,000 updates of 128
        spec = gan.method_spec(kind, X, epochs=g[f"{kind}_epochs"], batch_size=g[f"{kind}_batch"], arch=g["arch"],
                               noise_dim=g["noise_dim"], n_clusters=k, seed=ctx.seed)
    elif kind == "dac":
        spec = gan.method_spec("dac", X, epochs=g["dac_epochs"], batch_size=g["dac_batch"], n_clusters=k,
                               ae=ctx.ae(), gmm_kmeans_restarts=ctx.s["gmm_kmeans_restarts"], seed=ctx.seed)
    else:
        spec = gan.method_spec("aae", X, epochs=g["aae_epochs"], batch_size=g["aae_batch"], n_clusters=k,
                               aae_hidden=g["aae_hidden"], seed=ctx.seed)
    with _CacheWatch() as watch:
        model, _ = gan.run_method(spec["name"], spec["cfg"], spec["build"], spec["fit"], X, y, k, seed=ctx.seed,
                                  majority=k > 10, verbose=False)
    labels, _, _ = gan.cluster_outputs(model, X, k, ctx.seed)
    with torch.no_grad():
        if kind == "dac":
            Z = train.encode_dataset(model.ae, X)
        elif kind == "aae":
            Z = torch.cat([model.encode(X[i:i + 1024])[0] for i in range(0, len(X), 1024)])  # cluster probabilities
        else:
            Z = model.features(X)
    out = {"scores": _score(y, labels), "params": _n_params(model), "embedding": _projection(Z, y, labels, ctx.seed),
           "train_s": watch.seconds, "from_cache": watch.loaded}
    if kind == "dac":
        out["scores"]["recon_mse"] = _recon_mse(model.ae.encode, model.ae.decode, model.ae.output, X)
    return out


@_runs("dbn")
def _run_dbn(method: Method, ctx: Context) -> dict[str, Any]:
    import torch
    from sklearn.cluster import KMeans

    from course_utils.models import nmmc

    X, y = ctx.data()
    d = nmmc.NMMC_DEFAULTS
    if method.variant == "unrolled":   # k-means or NMMC on the codes of the fine-tuned, unrolled DBN
        model, Z = ctx.dbn_unrolled()
        if method.id == "dbn-unrolled":
            km = KMeans(10, n_init=10, random_state=ctx.seed).fit(Z)
            labels, k, extra = km.labels_, 10, km.cluster_centers_.size
        else:
            fitted = nmmc.fit_nmmc(Z, lam=d["lam"], prior=d["prior"], margin=d["margin"], C=d["C"],
                                   passes=d["passes"], seed=ctx.seed, progress=False)
            labels, k, extra = fitted.labels, fitted.n_clusters, fitted.W.size
            if method.id == "nmmc-merged":     # NMMC's clusters merged where their margin is crowded
                labels, _ = nmmc.merge_by_margin(Z, labels, d["margin"], nmmc.MERGE_SHARE)
                k = int(labels.max()) + 1       # a merged cluster keeps its members' centres: same size
        out = {"scores": _score(y, labels), "k": int(k), "params": _n_params(model) + int(extra),
               "embedding": _projection(Z, y, labels, ctx.seed)}
        out["scores"]["recon_mse"] = _recon_mse(model.encode, model.decode, model.output, X)
        return out
    net, Z, mean, scale = ctx.dbn()
    extra = 0
    codes = Z
    if method.id == "dbn-kmeans":
        km = KMeans(10, n_init=10, random_state=ctx.seed).fit(Z)
        labels, k, extra = km.labels_, 10, km.cluster_centers_.size
    elif method.id == "dp-gmm":
        labels, k = nmmc.dp_gmm(Z, 1.0, truncation=30, seed=ctx.seed)
        extra = 30 * (2 * Z.shape[1] + 1)
    elif method.id == "dp-means":
        labels, centers = nmmc.dp_means(Z, nmmc.DP_MEANS_LAM, seed=ctx.seed)
        k, extra = len(centers), centers.size
    else:
        model = nmmc.fit_nmmc(Z, lam=d["lam"], prior=d["prior"], margin=d["margin"], C=d["C"], passes=d["passes"],
                              seed=ctx.seed, progress=False)
        if method.id == "nmmc-ft":
            encoder = net.encoder()
            torch.manual_seed(ctx.seed)
            nmmc.finetune_encoder(encoder, X, model.labels, model.W, mean, scale, epochs=ctx.s["dbn"]["ft_epochs"],
                                  lr=nmmc.FINETUNE_DEFAULTS["lr"], margin=nmmc.FINETUNE_DEFAULTS["margin"],
                                  seed=ctx.seed)
            with torch.no_grad():
                codes, _, _ = nmmc.standardize_codes(encoder(X).double().numpy())
            model = nmmc.fit_nmmc(codes, lam=d["lam"], prior=d["prior"], margin=d["margin"], C=d["C"],
                                  passes=d["passes"], seed=ctx.seed, progress=False)
        labels, k, extra = model.labels, model.n_clusters, model.W.size
    return {"scores": _score(y, labels), "k": int(k), "params": _n_params(net) + int(extra),
            "embedding": _projection(codes, y, labels, ctx.seed)}


def _summary(scores: dict) -> dict[str, Any]:
    return {"mse_next": float(np.mean(scores["next"]["mse"])), "ssim_next": float(np.mean(scores["next"]["ssim"])),
            "mse_10step": float(np.mean(scores["extrap"]["mse"])),
            "ssim_10step": float(np.mean(scores["extrap"]["ssim"]))}


def _per_step(scores: dict) -> dict[str, Any]:
    return {mode: {key: [float(v) for v in scores[mode][key]] for key in ("mse", "ssim", "psnr")}
            for mode in ("next", "extrap")}


@_runs("video")
def _run_video(method: Method, ctx: Context) -> dict[str, Any]:
    import torch

    from course_utils import metrics, train
    from course_utils.models import prednet as pn

    train_clips, test_clips = ctx.video()
    v = ctx.s["video"]
    n_in = v["n_in"]
    if method.variant:   # a baseline: metrics.prediction_baselines' name for it
        scores = metrics.prediction_baselines(test_clips, n_in)[method.variant]
        return {"scores": _summary(scores), "params": 0, "details": _per_step(scores)}
    torch.manual_seed(ctx.seed)
    if method.id == "prednet":
        model, loss = pn.PredNet(v["a_channels"], error_power=v["error_power"]), "L_0"
        ft_loss = "L_0" if v["error_power"] == 1 else "MSE"
    else:
        model, loss, ft_loss = pn.ConvLSTMPredictor(1, v["convlstm_hidden"]), "MSE", "MSE"
    model = model.to(config.get_device())
    train.train_predictor(model, train_clips, v["steps"], loss=loss, n_frames=n_in, batch_size=v["batch_size"],
                          lr=v["lr"], lr_drop_at=v["lr_drop_at"], seed=ctx.seed, progress=False)
    train.train_predictor(model, train_clips, v["extrap_steps"], loss=ft_loss, n_frames=2 * n_in, extrap_start=n_in,
                          batch_size=v["batch_size"], lr=v["lr"] / 10, seed=ctx.seed + 1, progress=False)
    scores = train.predictor_scores(model, test_clips, n_in)
    mem = train.training_memory(model, train_clips[:v["batch_size"], :n_in], loss)
    frames = {"truth": test_clips[0, n_in:, 0].numpy(), "extrap": scores["extrap"]["predictions"][0, :, 0].numpy(),
              "next": scores["next"]["predictions"][0, :, 0].numpy()}
    return {"scores": _summary(scores), "params": pn.count_parameters(model), "details": _per_step(scores),
            "frames": frames, "step_memory_mb": mem["bytes"] / 2 ** 20}


def _runner(method_id: str) -> Callable[[Method, Context], dict[str, Any]]:
    return _RUNNERS[METHODS[method_id].runner]


#: ``course_utils.memory`` measures it (also inside the checkpoint cache); the names stay here too.
PeakMemory = memory.PeakMemory
_release_freed_memory = memory.release_freed_memory


# --------------------------------------------------------------------------------------------
# The CSV: read, write atomically, merge
# --------------------------------------------------------------------------------------------

def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get(k, "")) for k in KEY)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a results CSV (``[]`` when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in KEY if c != "dataset" and c not in (reader.fieldnames or [])]
            if missing:
                raise ResultsError(f"{path} is not a results file of `course results` (no column "
                                   f"{', '.join(missing)}). Move it away, or pass another --out.")
            rows = [dict(r) for r in reader]
        for r in rows:   # files written before the grid ran on other datasets: MNIST
            if not r.get("dataset"):
                r["dataset"] = "mnist"
        return rows
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ResultsError(f"{path} cannot be read as CSV ({exc}). Move it away (the runs it held will be "
                           "run again), or pass another --out.") from exc


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (sorted: mode, method in the table's order, seed) atomically."""
    order = {m: i for i, m in enumerate(METHODS)}
    rows = sorted(rows, key=lambda r: (str(r.get("mode")), str(r.get("split")), order.get(str(r.get("method")), 999),
                                       int(r.get("seed") or 0)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: _fmt(r.get(c, "")) for c in COLUMNS})
    os.replace(tmp, path)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


def merge_rows(*groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, seed, mode, dataset, split, n): a later successful row replaces an earlier one;
    a failed row never replaces a successful one."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for rows in groups:
        for r in rows:
            k = _key(r)
            if k in out and out[k].get("status") == "ok" and r.get("status") != "ok":
                continue
            out[k] = r
    return list(out.values())


def merge(out: Path) -> tuple[Path, int]:
    """Combine ``out/shards/*.csv`` (and ``out/results.csv``) into ``out/results.csv`` and ``RESULTS.md``."""
    out = Path(out)
    shards = sorted((out / SHARD_DIR).glob("*.csv"))
    if not shards:
        raise ResultsError(f"no shard files in {out / SHARD_DIR}: run `course results --shard i/n` first "
                           "(with the same --out).")
    rows = merge_rows(read_rows(out / CSV_NAME), *[read_rows(p) for p in shards])
    write_rows(out / CSV_NAME, rows)
    write_markdown(out / MD_NAME, rows)
    return out / CSV_NAME, len(shards)


# --------------------------------------------------------------------------------------------
# Running the grid
# --------------------------------------------------------------------------------------------

def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ResultsError(f"--shard {text!r}: write it as i/n, e.g. 2/8 (the second of 8 parts).") from None
    if n < 1 or not 1 <= i <= n:
        raise ResultsError(f"--shard {text!r}: need 1 <= i <= n, e.g. 1/{max(n, 2)}.")
    return i, n


def grid(methods: Sequence[str], seeds: Sequence[int], shard: tuple[int, int] | None = None) -> list[tuple[str, int]]:
    """The (method, seed) runs, in order; with ``shard=(i, n)`` the i-th of n parts. Runs that share a
    pretraining (the same seed and stage) stay in one part, so no two machines train the same network."""
    runs = [(m, s) for s in seeds for m in methods]
    if shard is None:
        return runs
    i, n = shard
    units = sorted({(s, METHODS[m].needs) for m, s in runs}, key=lambda u: (u[0], u[1]))
    mine = {u for j, u in enumerate(units) if j % n == i - 1}
    return [(m, s) for m, s in runs if (s, METHODS[m].needs) in mine]


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=config.REPO_ROOT, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "course_utils"], cwd=config.REPO_ROOT,
                               timeout=10).returncode
        return head.stdout.strip() + ("+modified" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _environment(device: str) -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "device": device, "threads": _threads(), "commit": _git_commit(),
            "python": platform.python_version(), "machine": platform.machine()}


def run_one(method_id: str, ctx: Context, env: dict[str, Any]) -> dict[str, Any]:
    """One run: its row (``status`` ``ok``, or ``failed`` with the error)."""
    method = METHODS[method_id]
    row: dict[str, Any] = {"method": method_id, "label": method.label, "week": method.week,
                           "k": "" if method.k is None or method.kind == "predict" else method.k, "seed": ctx.seed, "mode": ctx.mode,
                           "dataset": ctx.dataset, "split": ctx.split, "n": ctx.n or "", **env}
    t0 = time.perf_counter()
    try:
        row["pretrain_s"] = round(ctx.prepare(method.needs), 2)
        row["from_cache"] = bool(ctx.stages.get(f"{method.needs}_loaded", False))
        config.seed_everything(ctx.seed, mode=ctx.mode)
        t1 = time.perf_counter()
        with PeakMemory(env["device"]) as mem, _CacheWatch() as watch:
            result = _runner(method_id)(method, ctx)
        own = time.perf_counter() - t1
        row.update(result["scores"])
        row["train_s"] = round(float(result.get("train_s", own)), 2)
        row["from_cache"] = bool(result.get("from_cache", row.get("from_cache", False)))
        row["params"] = int(result.get("params", 0))
        if "k" in result:
            row["k"] = result["k"]
        row["peak_mem_mb"], row["mem_how"] = _run_peak(mem, watch)
        row["threads"] = _threads()
        _save_extras(ctx.out, method_id, ctx, result)
        row["status"], row["error"] = "ok", ""
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # recorded, and the grid goes on
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}{where}"
    row["wall_s"] = round(time.perf_counter() - t0, 2)
    row["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return row


def _save_extras(out: Path, method_id: str, ctx: Context, result: dict[str, Any]) -> None:
    """The embedding (a 2-D view, clusters) and, for predictors, per-step scores and frames."""
    name = _stem(ctx.mode, ctx.split, method_id, ctx.seed, ctx.dataset)
    if "embedding" in result:
        (out / "embeddings").mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / "embeddings" / f"{name}.npz", **result["embedding"])
    if "details" in result:
        (out / "details").mkdir(parents=True, exist_ok=True)
        (out / "details" / f"{name}.json").write_text(
            json.dumps({**result["details"], "step_memory_mb": result.get("step_memory_mb")}, indent=1),
            encoding="utf-8")
    if "frames" in result:
        np.savez_compressed(out / "details" / f"{name}-frames.npz", **result["frames"])


def _stem(mode: str, split: str, method_id: str, seed: int, dataset: str = "mnist") -> str:
    where = split if dataset == "mnist" else f"{dataset}-{split}"
    return f"{mode}-{where}-{method_id.replace('@', '_k')}-seed{seed}"


def extras_path(out: Path, kind: str, mode: str, split: str, method_id: str, seed: int,
                dataset: str = "mnist") -> Path:
    """Where ``course results`` saved a run's embedding (``kind="embeddings"``) or per-step scores."""
    name = _stem(mode, split, method_id, seed, dataset)
    return Path(out) / kind / (f"{name}.npz" if kind == "embeddings" else f"{name}.json")


def run(methods: Sequence[str] | None = None, seeds: Sequence[int] | None = None, *, full: bool = False,
        split: str | None = None, device: str | None = None, out: Path | str = DEFAULT_OUT, rerun: bool = False,
        shard: tuple[int, int] | None = None, progress: bool = True, log: Callable[[str], None] = print,
        dataset: str = "mnist") -> dict[str, Any]:
    """Run the grid; returns ``{"csv", "md", "ran", "skipped", "failed"}``. See the module's docstring.

    ``dataset`` (``DATASETS``): the images the clustering methods run on; on a dataset other than
    MNIST the video predictors of week 07 (Moving MNIST) are left out, and ``digits`` (one set of
    1,797 images) takes no split (its rows say ``all``)."""
    mode = "full" if full else "fast"
    s = SETTINGS[mode]
    if dataset not in DATASETS:
        import difflib

        close = difflib.get_close_matches(str(dataset).lower(), list(DATASETS), n=1)
        raise ResultsError(f"--dataset {dataset!r}: use one of {', '.join(DATASETS)}"
                           + (f" (did you mean {close[0]!r}?)" if close else "") + ".")
    method_ids = resolve_methods(methods)
    if dataset != "mnist":
        videos = [m for m in method_ids if METHODS[m].kind == "predict"]
        method_ids = [m for m in method_ids if METHODS[m].kind != "predict"]
        if videos and methods is not None and not method_ids:
            raise ResultsError(f"--dataset {dataset}: the video predictors ({', '.join(videos)}) run on Moving MNIST "
                               "only; leave out --dataset for them.")
    seeds = list(s["seeds"] if seeds is None else seeds)
    if not seeds:
        raise ResultsError("--seeds: give at least one seed.")
    split = split or s["split"]
    if split not in ("test", "train", "all"):
        raise ResultsError(f"--split {split!r}: use test (10,000 images), train (60,000) or all (70,000).")
    if dataset == "digits":
        split = "all"
    if device:
        os.environ["COURSE_DEVICE"] = device
    try:
        dev = str(config.get_device())
    except ValueError as exc:
        raise ResultsError(str(exc)) from None
    out = Path(out)
    csv_path = out / (CSV_NAME if shard is None else f"{SHARD_DIR}/results-{shard[0]}-of-{shard[1]}.csv")
    rows = read_rows(csv_path)
    done = {_key(r) for r in rows if r.get("status") == "ok"}
    todo = grid(method_ids, seeds, shard)
    n_key = "" if s["n"] is None else str(s["n"])

    def key_of(m: str, seed: int) -> tuple[str, ...]:
        return (m, str(seed), mode, dataset, split, n_key)

    # a row's n is the data size it ran on (clustering), or '' (video); the key uses the requested size
    skipped = [(m, seed) for m, seed in todo if not rerun and key_of(m, seed) in done]
    pending = [(m, seed) for m, seed in todo if (m, seed) not in skipped]
    env = _environment(dev)
    where = "" if shard is None else f", shard {shard[0]}/{shard[1]}"
    log(f"course results ({mode} mode{where}): {len(pending)} runs to do, {len(skipped)} already in "
        f"{_shown(csv_path)}; {DATASETS[dataset]} {split}" + (f", first {s['n']} images" if s["n"] else "") +
        f"; device {dev}, torch {env['torch']}, commit {env['commit']}")
    ran, failed = [], []
    bar = None
    if not progress:  # also the inner bars (RBM epochs, fine-tuning) of the functions it calls
        os.environ["TQDM_DISABLE"] = "1"
    if progress and pending:
        from course_utils.progress import progress as tqdm

        bar = tqdm(total=len(pending), desc="course results", unit="run")
    ctx: Context | None = None
    try:
        for m, seed in pending:
            if ctx is None or ctx.seed != seed:
                ctx = Context(mode, seed, split, s["n"], out, dataset)
            if bar is not None:
                bar.set_postfix_str(f"{m}, seed {seed}")
            row = run_one(m, ctx, env)
            row["n"] = n_key
            rows = merge_rows(rows, [row])   # a failure never replaces an earlier success
            write_rows(csv_path, rows)
            (ran if row["status"] == "ok" else failed).append(row)
            if row["status"] != "ok":
                log(f"FAILED {m} seed {seed}: {row['error']}")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    md_path = None
    if shard is None:
        md_path = out / MD_NAME
        write_markdown(md_path, rows)
    return {"csv": csv_path, "md": md_path, "ran": ran, "skipped": skipped, "failed": failed}


def ship(source: Path, dest: Path = SHIPPED) -> Path:
    """Copy the fast-mode rows of ``source``'s results.csv into ``dest`` (replacing what it held),
    with RESULTS.md and the first seed's per-step video scores (JSON): what the summary notebook
    reads. The 2-D embeddings and predicted frames (``.npz``) are data and stay out of git: the
    notebook draws them from a run of your own. Refuses a grid with a failed or missing run."""
    rows = [r for r in read_rows(Path(source) / CSV_NAME) if r["mode"] == "fast" and r["dataset"] == "mnist"]
    fast = SETTINGS["fast"]
    want = {(m, str(seed)) for m in METHODS for seed in fast["seeds"]}
    have = {(r["method"], r["seed"]) for r in rows if r["status"] == "ok" and r["split"] == fast["split"]}
    if want - have:
        raise ResultsError(f"{_shown(Path(source) / CSV_NAME)} lacks {len(want - have)} fast-mode runs (e.g. "
                           f"{sorted(want - have)[0]}): run `course results` first.")
    rows = [r for r in rows if (r["method"], r["seed"]) in want and r["split"] == fast["split"]]
    import shutil

    if (dest / "details").exists():   # what ship writes is replaced; the folder's README.md stays
        shutil.rmtree(dest / "details")
    first = min(fast["seeds"])
    (dest / "details").mkdir(parents=True)
    for m in METHODS:   # per-step scores (text); embeddings and frames are data, not shipped
        path = extras_path(Path(source), "details", "fast", fast["split"], m, first)
        if path.is_file():
            shutil.copyfile(path, dest / "details" / path.name)
    write_rows(dest / CSV_NAME, rows)
    write_markdown(dest / MD_NAME, rows)
    return dest


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# RESULTS.md
# --------------------------------------------------------------------------------------------

def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def summarize(rows: Sequence[dict[str, Any]], mode: str, split: str | None = None,
              dataset: str | None = "mnist") -> list[dict[str, Any]]:
    """Per method (in the table's order): seeds, mean and sample standard deviation of each metric,
    the lowest ACC, k per seed, the mean times, parameters and memory, and the failures."""
    out = []
    for mid, method in METHODS.items():
        mine = [r for r in rows if r.get("method") == mid and r.get("mode") == mode
                and (split is None or r.get("split") == split)
                and (dataset is None or (r.get("dataset") or "mnist") == dataset)]
        if not mine:
            continue
        ok = [r for r in mine if r.get("status") == "ok"]
        entry: dict[str, Any] = {"method": mid, "label": method.label, "week": method.week, "kind": method.kind,
                                 "seeds": [int(r["seed"]) for r in ok], "failed": [r for r in mine if r.get("status") != "ok"],
                                 "k": [r.get("k", "") for r in ok], "paper": method.paper, "source": method.source}
        for key in (*METRICS, "train_s", "pretrain_s", "params", "peak_mem_mb"):
            vals = np.array([_num(r.get(key)) for r in ok], dtype=float)
            vals = vals[np.isfinite(vals)]
            entry[key] = float(vals.mean()) if len(vals) else float("nan")
            entry[key + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
            entry[key + "_min"] = float(vals.min()) if len(vals) else float("nan")
        out.append(entry)
    return out


#: The full-mode grid as measured (one row per method: means and standard deviations over the seeds,
#: with the commit, date and machine of the runs); ``read_full_summary`` reads it. See its README.
FULL_SUMMARY = Path(__file__).with_name("full_results") / "summary.csv"


def read_full_summary(path: Path = FULL_SUMMARY) -> list[dict[str, Any]]:
    """The measured full-mode table, as ``summarize`` gives it (same keys; ``_min`` is NaN: the
    per-seed rows were not kept), plus each row's ``commit``, ``date`` and ``machine``. Methods
    in the table's order; a method the file lacks is left out. ``ResultsError`` on a damaged file."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = {r["method"]: r for r in csv.DictReader(fh)}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError) as exc:
        raise ResultsError(f"{path} cannot be read as the full-mode summary ({exc}); restore it from git "
                           "(`git checkout -- course_utils/full_results`).") from exc
    out = []
    for mid, method in METHODS.items():
        r = rows.get(mid)
        if r is None:
            continue
        seeds = [int(s) for s in r["seeds"].split(",") if s.strip()]
        ks = r["k"].split("/") if r["k"] else [""] * len(seeds)
        entry: dict[str, Any] = {"method": mid, "label": method.label, "week": method.week, "kind": method.kind,
                                 "seeds": seeds, "failed": [], "k": ks, "paper": method.paper,
                                 "source": method.source, "commit": r["commit"], "date": r["date"],
                                 "machine": r["machine"], "split": r["split"], "n": r["n"]}
        for key in (*METRICS, "train_s", "pretrain_s", "params", "peak_mem_mb"):
            entry[key] = _num(r.get(key))
            entry[key + "_sd"] = _num(r.get(key + "_sd"))
            entry[key + "_min"] = float("nan")
        out.append(entry)
    return out


def _pm(e: dict[str, Any], key: str, digits: int = 3) -> str:
    v, sd = e[key], e[key + "_sd"]
    if math.isnan(v):
        return ""
    return f"{v:.{digits}f}" + ("" if math.isnan(sd) else f" ± {sd:.{digits}f}")


def _time(e: dict[str, Any]) -> str:
    t, p = e["train_s"], e["pretrain_s"]
    if math.isnan(t):
        return ""
    return f"{t:.0f}" + (f" + {p:.0f}" if not math.isnan(p) and p > 0 else "")


def _fixed(v: float, digits: int = 3) -> str:
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def _count(v: float) -> str:
    return "" if math.isnan(v) else f"{v:,.0f}"


def _mem(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.0f}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The results as Markdown tables, one block per mode and split."""
    lines = ["# Results", "",
             "Written by `course results` from `results.csv` (one row per method and seed). Mean ± sample "
             "standard deviation over the seeds that ran; ACC is the Hungarian-matched accuracy, many-to-one "
             "ACC labels each cluster with its most common digit (the fair score when k is not 10). Time: "
             "training seconds of the method + of the pretraining it starts from. Memory: see `mem_how` in "
             "the CSV. The papers' numbers are ACC in % unless said otherwise; most use all 70,000 MNIST "
             "images, so they are not the same measurement as ours on fewer.", ""]
    blocks = sorted({(str(r.get("mode")), str(r.get("dataset") or "mnist"), str(r.get("split")), str(r.get("n")))
                     for r in rows})
    for mode, dataset, split, n in blocks:
        mine = [r for r in rows if r.get("mode") == mode and (r.get("dataset") or "mnist") == dataset
                and r.get("split") == split and str(r.get("n")) == n]
        seeds = sorted({int(r["seed"]) for r in mine})
        envs = sorted({f"torch {r.get('torch')}, {r.get('device')}, {r.get('threads')} thread(s), commit {r.get('commit')}"
                       for r in mine if r.get("status") == "ok"})
        size = f"the first {n} images of" if n else "all of"
        lines += [f"## {mode} mode: {size} {DATASETS.get(dataset, dataset)} `{split}`, seeds "
                  f"{', '.join(map(str, seeds))}", ""]
        lines += [f"Ran with {e}." for e in envs] + [""]
        entries = summarize(mine, mode, split, dataset)
        clus = [e for e in entries if e["kind"] == "cluster"]
        if clus:
            lines += ["| method | week | k | ACC | many-to-one ACC | NMI | ARI | lowest ACC | time [s] | parameters | peak memory [MiB] | paper | source |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for e in clus:
                ks = sorted({str(k) for k in e["k"]}, key=lambda v: (len(v), v))
                k_text = " / ".join(str(k) for k in e["k"]) if len(ks) > 1 else (ks[0] if ks else "")
                lines.append(f"| {e['label']} | {e['week']} | {k_text} | {_pm(e, 'acc')} | {_pm(e, 'majority_acc')} | "
                             f"{_pm(e, 'nmi')} | {_pm(e, 'ari')} | {_fixed(e['acc_min'])} | "
                             f"{_time(e)} | {_count(e['params'])} | "
                             f"{_mem(e['peak_mem_mb'])} | {e['paper']} | {e['source']} |")
            lines.append("")
        pred = [e for e in entries if e["kind"] == "predict"]
        if pred:
            lines += ["| predictor (week 07) | next-frame MSE | next SSIM | 10-step MSE | 10-step SSIM | time [s] | parameters | peak memory [MiB] | paper | source |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for e in pred:
                lines.append(f"| {e['label']} | {_pm(e, 'mse_next', 1)} | {_pm(e, 'ssim_next')} | {_pm(e, 'mse_10step', 1)} | "
                             f"{_pm(e, 'ssim_10step')} | {_time(e) if e['params'] else ''} | "
                             f"{_count(e['params']) if e['params'] else ''} | "
                             f"{_mem(e['peak_mem_mb']) if e['params'] else ''} | {e['paper']} | {e['source']} |")
            lines.append("")
        failures = [f for e in entries for f in e["failed"]]
        if failures:
            lines += ["Runs that failed (run `course results` again to retry them):", ""]
            lines += [f"- {f['label']}, seed {f['seed']}: {f['error']}" for f in failures] + [""]
    return "\n".join(lines)


def write_markdown(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(markdown(rows), encoding="utf-8")
    os.replace(tmp, path)
