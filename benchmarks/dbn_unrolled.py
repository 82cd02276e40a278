"""The DBN unrolled into a deep autoencoder and fine-tuned (week 06's step 3 as Hinton &
Salakhutdinov, Science 2006, do it), then k-means and NMMC on its codes, for several seeds.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/dbn_unrolled.py --seeds 0 1 2

The recipe is ``settings.DBN_UNROLLED`` (the one place it is written): greedy pretraining with a
linear top layer (``dbn.pretrain_dbn_gaussian_top``), then ``dbn.UnrolledAutoencoder`` trained with
``train.fit`` on the Bernoulli loss of augmented images, all in ``train.pretrained_unrolled_dbn``
(the function ``course results`` calls for ``dbn-unrolled`` and ``nmmc-unrolled``). The fine-tuned
network is cached (``COURSE_CACHE_DIR``), so a rerun only scores. For every seed it prints, every ``--every``
epochs, the loss and k-means' ACC on the codes (the labels only score; nothing is chosen by
them), then k-means (told k = 10) and NMMC on the standardised codes: NMMC at its default penalty
and over ``--lams``, with the number of clusters it infers, and NMMC's default clusters merged by
``nmmc.merge_by_margin`` at ``nmmc.MERGE_SHARE`` (what ``course results`` runs as ``nmmc-merged``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.cluster import KMeans

from course_utils import config, data, settings
from course_utils.metrics import evaluate
from course_utils.models import nmmc
from course_utils.train import encode_dataset, pretrained_unrolled_dbn

#: week 06's full-mode recipe, as ``course results --full`` passes it (``settings.DBN_UNROLLED``)
FULL = settings.results_settings("full")["dbn_unrolled"]


def codes_of(model: torch.nn.Module, X: torch.Tensor) -> np.ndarray:
    return nmmc.standardize_codes(encode_dataset(model, X).double().numpy())[0]


def run_seed(X: torch.Tensor, y: np.ndarray, seed: int, args: argparse.Namespace) -> dict:
    start = time.perf_counter()

    def report(epoch: int, m: torch.nn.Module, logs: dict) -> None:
        if epoch % args.every == 0 or epoch == args.epochs:
            km = KMeans(10, n_init=10, random_state=seed).fit(codes_of(m, X))
            s = evaluate(y, km.labels_)
            print(f"seed {seed} epoch {epoch:4d}  loss {logs['loss']:.2f}  k-means ACC {s['acc']:.4f} NMI "
                  f"{s['nmi']:.4f}  {time.perf_counter() - start:.0f} s", flush=True)

    # the function course results calls; the fine-tuned network is cached
    recipe = {**FULL, "epochs": args.epochs}
    model = pretrained_unrolled_dbn(X, seed=seed, callbacks=[report], progress=False, **recipe)
    Z = codes_of(model, X)
    km = KMeans(10, n_init=10, random_state=seed).fit(Z)
    result = {"seed": seed, "kmeans": evaluate(y, km.labels_), "seconds": time.perf_counter() - start, "nmmc": {}}
    p = nmmc.NMMC_DEFAULTS
    for lam in sorted({p["lam"], *args.lams}):
        m = nmmc.fit_nmmc(Z, lam=lam, prior=p["prior"], margin=p["margin"], C=p["C"], passes=p["passes"], seed=seed,
                          progress=False)
        result["nmmc"][lam] = {"k": m.n_clusters, **evaluate(y, m.labels, majority=True)}
        if lam == p["lam"]:
            merged, _ = nmmc.merge_by_margin(Z, m.labels, p["margin"], nmmc.MERGE_SHARE)
            result["merged"] = {"k": int(merged.max()) + 1, **evaluate(y, merged, majority=True)}
    print(f"seed {seed}: k-means on the codes ACC {result['kmeans']['acc']:.4f} NMI {result['kmeans']['nmi']:.4f}; "
          f"{result['seconds']:.0f} s", flush=True)
    for lam, r in result["nmmc"].items():
        print(f"  NMMC lam {lam:5.2f}: k = {r['k']:3d}  ACC {r['acc']:.4f}  NMI {r['nmi']:.4f}  many-to-one "
              f"{r['majority_acc']:.4f}", flush=True)
    r = result["merged"]
    print(f"  NMMC lam {p['lam']:5.2f}, merged (share {nmmc.MERGE_SHARE}): k = {r['k']:3d}  ACC {r['acc']:.4f}  "
          f"NMI {r['nmi']:.4f}  many-to-one {r['majority_acc']:.4f}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=FULL["epochs"])
    parser.add_argument("--every", type=int, default=50, help="score the codes every this many epochs")
    parser.add_argument("--lams", type=float, nargs="*", default=[1.5, 2, 3, 4, 6, 8, 12, 16])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y = data.load_mnist("test")
    print(f"MNIST test: {len(X)} images | {config.describe()} | torch threads {args.threads}", flush=True)
    for s in args.seeds:
        run_seed(X, y.numpy(), s, args)


if __name__ == "__main__":
    main()
