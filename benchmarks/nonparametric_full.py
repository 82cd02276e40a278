"""Week 06 in full mode, per seed: DBN codes, k-means with k = 10, DP-GMM, DP-means, NMMC, fine-tuned NMMC.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/nonparametric_full.py --seeds 0 1 2

For every seed it runs what ``solutions/06_nonparametric.ipynb`` runs in full mode, with the same
functions and settings (``settings.week("06", "full")``, which holds NMMC's and DP-means' defaults too): MNIST
(the training files too where they exist, else the 10,000 test images), the last 1,000 images held
out from the DBN; a 784-500-250-50 DBN trained greedily with CD-1 (30 epochs per layer, learning
rate 0.1, batch 100); k-means (10 restarts, k = 10) on the pixels and on the standardised codes; the
Dirichlet-process mixture (30 components, concentration 1); DP-means (lambda 1.0); NMMC (lambda 1.5,
30 passes); then 10 epochs of fine-tuning the unrolled encoder on NMMC's hinge loss (Adam 1e-4,
margin 1) and NMMC again
on the new codes. Prints the number of clusters and ACC / many-to-one ACC / NMI / ARI per method and
seed, their mean and spread, and the wall times; ``--json PATH`` also writes them to a file.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.cluster import KMeans

from course_utils import config, data, settings
from course_utils.metrics import evaluate, format_metrics
from course_utils.models import dbn as dbn_lib
from course_utils.models import nmmc

METHODS = ("k-means, pixels (k = 10)", "k-means, DBN codes (k = 10)", "DP-GMM", "DP-means", "NMMC",
           "NMMC after fine-tuning")


def load(split: str, n_heldout: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, str]:
    X_all, y_all, split = data.load_mnist_or_test(split)
    return X_all[:-n_heldout], y_all[:-n_heldout].numpy(), X_all[-n_heldout:], split


def run_seed(X: torch.Tensor, y: np.ndarray, X_val: torch.Tensor, seed: int, full: dict) -> dict[str, dict]:
    d = nmmc.NMMC_DEFAULTS
    out: dict[str, dict] = {}
    config.seed_everything(seed)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    dbn = dbn_lib.DBN(full["DBN_SIZES"])
    dbn_lib.pretrain_dbn(dbn, X, epochs=full["RBM_EPOCHS"], X_val=X_val, seed=seed, lr=full["RBM_LR"],
                           batch_size=full["RBM_BATCH"])
    t_dbn = time.perf_counter() - t0
    H = dbn.transform(X).double().numpy()
    Z, mean, scale = nmmc.standardize_codes(H)
    print(f"seed {seed}: DBN {full['DBN_SIZES']} in {t_dbn:.0f} s", flush=True)

    def record(name: str, labels: np.ndarray, k: int, seconds: float) -> None:
        out[name] = {"k": int(k), **evaluate(y, labels, majority=True), "seconds": seconds}
        print(f"seed {seed}: {name:<27} k = {k:3d}  {format_metrics(out[name])}  ({seconds:.0f} s)", flush=True)

    t0 = time.perf_counter()
    km = KMeans(10, n_init=10, random_state=seed).fit(X.double().numpy())
    record("k-means, pixels (k = 10)", km.labels_, 10, time.perf_counter() - t0)
    t0 = time.perf_counter()
    km = KMeans(10, n_init=10, random_state=seed).fit(Z)
    record("k-means, DBN codes (k = 10)", km.labels_, 10, time.perf_counter() - t0)
    t0 = time.perf_counter()
    labels, k = nmmc.dp_gmm(Z, full["DP_CONCENTRATION"], truncation=full["DP_TRUNCATION"], seed=seed)
    record("DP-GMM", labels, k, time.perf_counter() - t0)
    t0 = time.perf_counter()
    labels, centers = nmmc.dp_means(Z, nmmc.DP_MEANS_LAM, seed=seed)
    record("DP-means", labels, len(centers), time.perf_counter() - t0)
    t0 = time.perf_counter()
    model = nmmc.fit_nmmc(Z, lam=d["lam"], prior=d["prior"], margin=d["margin"], C=d["C"], passes=d["passes"],
                          seed=seed, progress=False)
    record("NMMC", model.labels, model.n_clusters, time.perf_counter() - t0)
    out["NMMC"]["k_per_pass"] = model.history["n_clusters"]
    t0 = time.perf_counter()
    encoder = dbn.encoder()
    torch.manual_seed(seed)
    nmmc.finetune_encoder(encoder, X, model.labels, model.W, mean, scale, epochs=full["FT_EPOCHS"],
                          lr=nmmc.FINETUNE_DEFAULTS["lr"], margin=nmmc.FINETUNE_DEFAULTS["margin"], seed=seed)
    with torch.no_grad():
        Z_ft, _, _ = nmmc.standardize_codes(encoder(X).double().numpy())
    model_ft = nmmc.fit_nmmc(Z_ft, lam=d["lam"], prior=d["prior"], margin=d["margin"], C=d["C"],
                             passes=d["passes"], seed=seed, progress=False)
    record("NMMC after fine-tuning", model_ft.labels, model_ft.n_clusters, time.perf_counter() - t0)
    out["sweep"] = {f"lam={lam:g}": nmmc.fit_nmmc(Z, lam=lam, prior=d["prior"], margin=d["margin"], C=d["C"],
                                                  passes=d["passes"], seed=seed, progress=False).n_clusters
                    for lam in (1.0, 1.25, 1.5, 1.75, 2.0)}
    print(f"seed {seed}: NMMC's k over lambda: {out['sweep']}", flush=True)
    out["dbn_seconds"] = t_dbn
    return out


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(settings.RESULTS["seeds"].full))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser


def main() -> None:
    args = parser().parse_args()
    torch.set_num_threads(args.threads)
    full = settings.week("06", "full")   # the notebook's full mode, from the one place it is written
    X, y, X_val, split = load(full["MNIST_SPLIT"], full["N_HELDOUT"])
    print(f"MNIST {split}: {len(X)} images clustered, {len(X_val)} held out", flush=True)
    per_seed = {}
    t_all = time.perf_counter()
    for seed in args.seeds:
        t0 = time.perf_counter()
        per_seed[seed] = run_seed(X, y, X_val, seed, full)
        per_seed[seed]["seconds"] = time.perf_counter() - t0
    print(f"\n{len(args.seeds)} seeds in {time.perf_counter() - t_all:.0f} s; mean (min-max) over seeds:")
    print("| method | k | ACC | many-to-one ACC | NMI | ARI |\n|---|---|---|---|---|---|")
    for name in METHODS:
        rows = [per_seed[s][name] for s in args.seeds]
        cell = {key: np.array([r[key] for r in rows]) for key in ("k", "acc", "majority_acc", "nmi", "ari")}
        fmt = lambda v, p=3: f"{v.mean():.{p}f} ({v.min():.{p}f}-{v.max():.{p}f})"  # noqa: E731
        print(f"| {name} | {fmt(cell['k'], 1)} | {fmt(cell['acc'])} | {fmt(cell['majority_acc'])} | "
              f"{fmt(cell['nmi'])} | {fmt(cell['ari'])} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"split": split, "n": len(X), "seeds": per_seed}, fh, indent=1, default=float)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
