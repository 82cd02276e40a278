"""AE + GMM and VAE + GMM on MNIST with the week-02 full-mode recipe, over several seeds.

For each seed: train the autoencoder (``train.pretrained_autoencoder``) and the VAE
(``train.pretrained_vae``, beta = 1) with a 10-D latent space, fit
``GaussianMixture(10, covariance_type="diag")`` to the codes (the AE's ``z``, the VAE's means
``mu``), and score the clusters against the labels with ACC / NMI / ARI. Prints one line per model
and seed, then mean ± standard deviation over the seeds and the wall times.

The recipe is the notebook's full mode (``solutions/02_vae.ipynb``): the D-500-500-2000-10
network; the autoencoder is the shared pretraining of weeks 02-05 (``--ae-recipe bce-aug``: Adam on
the Bernoulli loss of rotated and shifted images, 150 epochs; ``--ae-recipe adam`` is the plain
squared error, 100 epochs), the VAE is trained with Adam, learning rate 1e-3, batch 256, 100 epochs;
each mixture's EM starts from the best of ``--gmm-kmeans-restarts`` k-means runs. Trained models go to the
checkpoint cache (``COURSE_CACHE_DIR``), so a rerun only refits the mixtures; pass ``--no-cache``
(a fresh temporary cache folder) to time the training too.

    COURSE_DATA_DIR=../shared/data python benchmarks/vae_gmm_baselines.py            # 10k test split
    python benchmarks/vae_gmm_baselines.py --split all --seeds 0 1 2 3 4              # 70k, as the paper

Reference (VaDE paper, all 70,000 MNIST images): AE + GMM 82.18 % ACC, VAE + GMM 72.94 % ACC.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils import config, data, metrics, train  # noqa: E402

PAPER_ACC = {"AE + GMM": 0.8218, "VAE + GMM": 0.7294}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--split", default="test", choices=["test", "train", "all"])
    p.add_argument("--limit", type=int, default=None, help="use only the first LIMIT images")
    p.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000])
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--ae-recipe", default="bce-aug", choices=sorted(train.AE_RECIPES))
    p.add_argument("--ae-epochs", type=int, default=None, help="default: the recipe's")
    p.add_argument("--gmm-kmeans-restarts", type=int, default=10)
    p.add_argument("--vae-epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--no-cache", action="store_true", help="train in a fresh temporary cache folder")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if args.no_cache:
        os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="vae-gmm-bench-")
    X, y = data.load_mnist(split=args.split, limit=args.limit)
    print(f"MNIST {args.split!r}: {len(X)} images | {config.describe()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"recipe: hidden {args.hidden}, d = {args.latent_dim}; AE recipe {args.ae_recipe!r} "
          f"({args.ae_epochs or train.AE_RECIPES[args.ae_recipe]['epochs']} epochs); VAE Adam lr {args.lr:g}, "
          f"batch {args.batch_size}, {args.vae_epochs} epochs; GaussianMixture(10, 'diag') on the codes, "
          f"EM from {'the best of %d k-means runs' % args.gmm_kmeans_restarts if args.gmm_kmeans_restarts else 'one k-means run'}")
    common = dict(latent_dim=args.latent_dim, hidden=tuple(args.hidden), progress=False, verbose=False)
    rows: dict[str, list[dict[str, float]]] = {"AE + GMM": [], "VAE + GMM": []}
    start_all = time.perf_counter()
    for seed in args.seeds:
        config.seed_everything(seed)
        for name in rows:
            t0 = time.perf_counter()
            if name == "AE + GMM":
                model = train.pretrained_autoencoder(X, epochs=args.ae_epochs, seed=seed, recipe=args.ae_recipe,
                                                     **common)
            else:
                model = train.pretrained_vae(X, epochs=args.vae_epochs, seed=seed, batch_size=args.batch_size,
                                             lr=args.lr, **common)
            t_train = time.perf_counter() - t0
            t1 = time.perf_counter()
            Z = train.encode_dataset(model, X)
            scores = metrics.evaluate(y, train.cluster_latent(Z, 10, "gmm", seed=seed,
                                                                      kmeans_restarts=args.gmm_kmeans_restarts))
            t_gmm = time.perf_counter() - t1
            rows[name].append({**scores, "train_s": t_train, "gmm_s": t_gmm})
            print(f"seed {seed}  {name:<10} {metrics.format_metrics(scores)}   "
                  f"train {t_train:7.1f} s   GMM {t_gmm:5.1f} s", flush=True)
    total = time.perf_counter() - start_all
    print()
    print(f"{'method':<10} {'ACC':>15} {'NMI':>15} {'ARI':>15}   {'paper ACC (70k)':>15}   mean train time")
    for name, runs in rows.items():
        cols = []
        for key in ("acc", "nmi", "ari"):
            values = np.array([r[key] for r in runs])
            cols.append(f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}")
        train_s = np.mean([r["train_s"] for r in runs])
        print(f"{name:<10} {cols[0]:>15} {cols[1]:>15} {cols[2]:>15}   {PAPER_ACC[name]:>15.4f}   {train_s:.0f} s")
    print(f"(mean ± sample standard deviation over seeds {args.seeds}); total wall time {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
