"""Full-mode VaDE on MNIST: pretraining, GMM initialisation, VaDE training, for several seeds.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/vade_full.py \
        --seeds 0 1 2

Every option that is a setting of week 03 defaults to that notebook's full mode, read from
``course_utils/settings.py`` (the one place it is written): recipe ``bce-aug``, 30 VaDE epochs
from lr 2e-4, the mixture read off the best of 10 k-means runs (no EM), MNIST ``all`` (the test
split where the training files are missing).

For every seed: the autoencoder from the shared cached step ``train.pretrained_autoencoder``
(the seed is part of its key), a diagonal mixture on its latent means (the baseline: EM from the
k-means start with ``--gmm-em``, the k-means partition's moments with ``--no-gmm-em``), then VaDE
(``course_utils.models.vade``) initialised from both and trained with the
reference's recipe (Adam eps 1e-4 on network and mixture, decay x0.9 every 10 epochs, batch 100)
from ``--lr`` for ``--epochs`` epochs. Clusters are ``argmax gamma`` at ``z = mu(x)``; prints
ACC / NMI / ARI per seed, their mean and standard deviation, and the wall time. Trained models are
cached in ``COURSE_CACHE_DIR``, so a rerun only scores.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from course_utils import config, data, settings
from course_utils.metrics import evaluate, format_metrics
from course_utils.models.vade import (VADE_RECIPE, VaDE, init_from_autoencoder, init_gmm_from_latent,
                                      make_optimizer, step_decay_callback, vade_objective)
from course_utils.train import AE_RECIPES, cached, encode_dataset, fingerprint, fit, pretrained_autoencoder

#: Week 03's full mode (the notebook's parameters cell reads the same).
FULL = settings.week("03", "full")


def run_seed(X: torch.Tensor, y: np.ndarray, seed: int, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    config.seed_everything(seed)
    ae = pretrained_autoencoder(X, epochs=args.ae_epochs, batch_size=args.ae_batch, lr=args.ae_lr, recipe=args.ae_recipe,
                                seed=seed, progress=False)
    t_ae = time.perf_counter() - start
    Z = encode_dataset(ae, X)
    logvar_init = math.log(args.sigma_frac ** 2 * float(Z.var(dim=0).mean()))
    cfg = {"model": "VaDE", "n": len(X), "data": fingerprint(X), "ae_recipe": args.ae_recipe, "ae_epochs": args.ae_epochs,
           "ae_batch": args.ae_batch, "ae_lr": args.ae_lr, "epochs": args.epochs,
           "batch_size": VADE_RECIPE["batch_size"], "lr": VADE_RECIPE["lr"], "eps": VADE_RECIPE["eps"],
           "decay": [VADE_RECIPE["decay_every"], VADE_RECIPE["decay"], VADE_RECIPE["lr_min"]],
           "sigma_frac": args.sigma_frac, "logit_scale": args.logit_scale, "vade_lr": args.lr,
           "gmm_kmeans_restarts": args.gmm_kmeans_restarts, "gmm_em": bool(args.gmm_em)}
    baseline: dict = {}

    def build() -> VaDE:
        return VaDE(X.shape[1], FULL["HIDDEN"], FULL["LATENT_DIM"], FULL["N_CLUSTERS"])

    def train(model: VaDE) -> dict:
        init_from_autoencoder(model, ae, logit_scale=args.logit_scale or None, logvar_init=logvar_init)
        gmm = init_gmm_from_latent(model, Z, seed=seed, kmeans_restarts=args.gmm_kmeans_restarts, em=args.gmm_em)
        baseline.update(evaluate(y, gmm.predict(Z.double().numpy())))
        print(f"seed {seed}: AE ({args.ae_recipe}, {args.ae_epochs} epochs, {t_ae:.0f} s) + "
              f"{'GMM' if args.gmm_em else 'k-means moments'}: {format_metrics(baseline)}",
              flush=True)
        opt = make_optimizer(model, lr=args.lr)
        t0 = time.perf_counter()

        def report(epoch: int, m: VaDE, logs: dict) -> None:
            if epoch == 1 or epoch % args.every == 0 or epoch == args.epochs:
                logs.update(evaluate(y, m.predict(X)))
                print(f"seed {seed} epoch {epoch:4d}  loss {logs['loss']:.2f}  lr {logs['lr']:.2e}  "
                      f"{format_metrics({k: logs[k] for k in ('acc', 'nmi', 'ari')})}  "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)

        return fit(model, X, vade_objective, args.epochs, optimizer=opt, batch_size=VADE_RECIPE["batch_size"],
                   callbacks=[step_decay_callback(opt), report], seed=seed, progress=False,
                   desc=f"VaDE seed {seed}")

    model = cached("vade-bench", cfg, build, train, seed=seed)
    result = evaluate(y, model.predict(X))
    result["seconds"] = time.perf_counter() - start
    result["ae_gmm_acc"] = baseline.get("acc", float("nan"))
    print(f"seed {seed}: VaDE {format_metrics({k: result[k] for k in ('acc', 'nmi', 'ari')})} "
          f"({result['seconds']:.0f} s incl. pretraining)", flush=True)
    return result


def parser() -> argparse.ArgumentParser:
    """The options; each setting of week 03 defaults to its full-mode value (``FULL``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(settings.RESULTS["seeds"].full))
    parser.add_argument("--split", default=FULL["MNIST_SPLIT"], choices=["test", "train", "all"])
    parser.add_argument("--ae-recipe", default=FULL["AE_RECIPE"], choices=sorted(AE_RECIPES),
                        help="autoencoder pretraining recipe (course_utils.train.AE_RECIPES)")
    parser.add_argument("--ae-epochs", type=int, default=FULL["AE_EPOCHS"], help="default: the recipe's")
    parser.add_argument("--ae-batch", type=int, default=settings.SHARED_AE["AE_BATCH"].full,
                        help="default: the recipe's")
    parser.add_argument("--ae-lr", type=float, default=None, help="default: the recipe's")
    parser.add_argument("--epochs", type=int, default=FULL["VADE_EPOCHS"],
                        help=f"VaDE epochs (reference: {VADE_RECIPE['epochs']})")
    parser.add_argument("--every", type=int, default=10, help="score every this many epochs")
    parser.add_argument("--lr", type=float, default=FULL["VADE_LR"],
                        help=f"VaDE's starting learning rate (reference: {VADE_RECIPE['lr']})")
    parser.add_argument("--gmm-kmeans-restarts", type=int, default=FULL["GMM_KMEANS_RESTARTS"],
                        help="start the GMM's EM from the best of this many k-means runs (0: sklearn's default)")
    parser.add_argument("--gmm-em", action=argparse.BooleanOptionalAction, default=FULL["VADE_GMM_EM"],
                        help="run EM from the k-means start (--gmm-em), or read the mixture off the best k-means "
                             "partition (--no-gmm-em)")
    parser.add_argument("--sigma-frac", type=float, default=0.1,
                        help="sigma~ starts at this fraction of the latent spread")
    parser.add_argument("--logit-scale", type=float, default=0.0,
                        help="rescale the decoder's last layer to logits s*(x_hat - 1/2); 0: copy it as is")
    parser.add_argument("--threads", type=int, default=1)
    return parser


def main() -> None:
    args = parser().parse_args()
    recipe = AE_RECIPES[args.ae_recipe]
    args.ae_epochs = args.ae_epochs or recipe["epochs"]
    args.ae_batch = args.ae_batch or recipe["batch_size"]
    args.ae_lr = args.ae_lr or recipe["lr"]
    torch.set_num_threads(args.threads)
    X, y, args.split = data.load_mnist_or_test(args.split)   # as the notebook, where only the test files are
    y = y.numpy()
    print(f"MNIST {args.split}: {len(X)} images | {config.describe()} | torch threads {args.threads}", flush=True)
    t0 = time.perf_counter()
    results = [run_seed(X, y, s, args) for s in args.seeds]
    wall = time.perf_counter() - t0
    print("\nseed    ACC    NMI    ARI   AE+GMM ACC   time [s]")
    for s, r in zip(args.seeds, results):
        print(f"{s:>4} {r['acc']:6.3f} {r['nmi']:6.3f} {r['ari']:6.3f} {r['ae_gmm_acc']:12.3f} {r['seconds']:10.0f}")
    for k in ("acc", "nmi", "ari"):
        v = np.array([r[k] for r in results])
        print(f"{k.upper()}: mean {v.mean():.3f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.3f} "
              f"(min {v.min():.3f}, max {v.max():.3f})")
    print(f"wall time: {wall:.0f} s for {len(results)} seed(s), {args.threads} thread(s)")


if __name__ == "__main__":
    main()
