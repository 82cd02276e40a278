"""Week 05's adversarial clustering methods in full mode, over several seeds.

For each seed and method this calls what ``solutions/05_gan_clustering.ipynb`` calls in full
mode: ``models.gan.method_spec`` (the same settings: the DCGAN/InfoGAN-style networks, the epochs,
the shared ``bce-aug`` pretraining for DAC) and ``models.gan.run_method`` (training, or loading
from the checkpoint cache, with ACC / NMI / ARI after every epoch). Prints one line per method and
seed, then mean ± standard deviation and the lowest seed, and the wall times. Trained models go
to the checkpoint cache (``COURSE_CACHE_DIR``), so the notebook's full mode loads them for seed 0.

    COURSE_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/gan_full.py --seeds 0 1 2
    python benchmarks/gan_full.py --methods infogan catgan20 --seeds 3 4      # a subset

Methods: ``gan`` (discriminator features + k-means), ``catgan10``, ``catgan20`` (scored
many-to-one, as the paper), ``infogan``, ``dac``, ``aae16`` and ``aae30`` (16 and 30 clusters, many-to-one, the paper's two
settings).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils import config, data, metrics, settings, train  # noqa: E402
from course_utils.models import gan  # noqa: E402

#: The notebook's full-mode settings (solutions/05_gan_clustering.ipynb, first code cell).
#: Week 05's full mode, from ``course_utils/settings.py`` (the notebook's parameters cell and
#: ``course results --full`` read the same values).
_W = settings.week("05", "full")
FULL = {**settings.results_settings("full")["gan"], "hidden": _W["HIDDEN"], "latent_dim": _W["LATENT_DIM"],
        "ae_recipe": _W["AE_RECIPE"], "gmm_kmeans_restarts": _W["GMM_KMEANS_RESTARTS"],
        "aae_clusters": _W["AAE_CLUSTERS"]}
METHODS = {"gan": ("gan", 10), "catgan10": ("catgan", 10), "catgan20": ("catgan", 20), "infogan": ("infogan", 10),
           "dac": ("dac", 10), "aae16": ("aae", FULL["aae_clusters"]), "aae30": ("aae", 30)}


def spec_for(key: str, X: torch.Tensor, seed: int, ae=None) -> tuple[dict, int]:
    method, k = METHODS[key]
    s = FULL
    if method in ("gan", "catgan", "infogan"):
        spec = gan.method_spec(method, X, epochs=s[f"{method}_epochs"], batch_size=s[f"{method}_batch"], arch=s["arch"],
                               noise_dim=s["noise_dim"], n_clusters=k, seed=seed)
    elif method == "dac":
        spec = gan.method_spec("dac", X, epochs=s["dac_epochs"], batch_size=s["dac_batch"], n_clusters=k, ae=ae,
                               gmm_kmeans_restarts=s["gmm_kmeans_restarts"], seed=seed)
    else:
        spec = gan.method_spec("aae", X, epochs=s["aae_epochs"], batch_size=s["aae_batch"], n_clusters=k,
                               aae_hidden=s["aae_hidden"], seed=seed)
    return spec, k


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(settings.RESULTS["seeds"].full))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--split", default=_W["MNIST_SPLIT"], choices=["test", "train", "all"])
    return p


def main() -> int:
    args = parser().parse_args()
    X, y, args.split = data.load_mnist_or_test(args.split)   # as the notebook, where only the test files are
    y = y.numpy()
    print(f"MNIST {args.split!r}: {len(X)} images | {config.describe()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"settings: {FULL}", flush=True)
    rows: dict[str, list[dict]] = {key: [] for key in args.methods}
    for seed in args.seeds:
        ae = None
        for key in args.methods:
            config.seed_everything(seed)
            if METHODS[key][0] == "dac" and ae is None:
                ae = train.pretrained_autoencoder(X, latent_dim=FULL["latent_dim"], hidden=FULL["hidden"], seed=seed,
                                                  recipe=FULL["ae_recipe"], progress=False, verbose=False)
            spec, k = spec_for(key, X, seed, ae)
            t0 = time.perf_counter()
            model, history = gan.run_method(spec["name"], spec["cfg"], spec["build"], spec["fit"], X, y, k,
                                            seed=seed, majority=k > 10, verbose=False)
            wall = time.perf_counter() - t0
            labels, _, _ = gan.cluster_outputs(model, X, k, seed)
            r = {**metrics.evaluate(y, labels, majority=True), **gan.cluster_sizes(labels, k),
                 "train_s": (history.get("train_s") or [wall])[0]}
            rows[key].append(r)
            print(f"seed {seed}  {key:<9} {metrics.format_metrics(r)}  largest {r['largest']:.2f}  "
                  f"train {r['train_s']:7.1f} s", flush=True)
    print()
    print(f"{'method':<9} {'ACC (Hungarian)':>16} {'many-to-one':>16} {'NMI':>14} {'ARI':>14}  lowest ACC  train s")
    for key, runs in rows.items():
        if not runs:
            continue
        def col(name: str) -> str:
            v = np.array([r[name] for r in runs])
            return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}"
        main_key = "majority_acc" if METHODS[key][1] > 10 else "acc"
        lowest = min(r[main_key] for r in runs)
        print(f"{key:<9} {col('acc'):>16} {col('majority_acc'):>16} {col('nmi'):>14} {col('ari'):>14}  "
              f"{lowest:.3f}      {np.mean([r['train_s'] for r in runs]):.0f}")
    print(f"(mean ± sample standard deviation over seeds {args.seeds}; 'lowest' is many-to-one for K > 10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
