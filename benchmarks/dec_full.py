"""Full-mode DEC, IDEC and DEC-DA on MNIST: pixel k-means, AE + k-means, DEC, IDEC, DEC-DA, per seed.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/dec_full.py --seeds 0 1 2

For every seed: k-means (10 restarts) on the raw pixels; the autoencoder from the shared cached step
``train.pretrained_autoencoder`` (default recipe ``"bce-aug"``: Adam 1e-3, batch 256, 150 epochs on
the Bernoulli loss of randomly rotated and shifted images; ``--recipe dec-keras`` for DEC-keras' SGD
recipe; the seed is part of its cache key); k-means (20 restarts) on its embedding (AE + k-means,
which also places the centres); then DEC (SGD 0.01, momentum 0.9, KL only, decoder dropped), IDEC
(Adam 1e-3, L_r + 0.1 L_c with L_r the autoencoder's own loss, decoder kept) and DEC-DA (DEC's
recipe on augmented mini-batches, target from the clean images) from that same start,
with the target distribution recomputed on the whole set every ``--update-interval`` iterations
(default: once per pass, ceil(N / 256); DEC-keras uses 140 on 70,000 images) and a stop when
fewer than 0.1% of the labels change between two updates; DEC-DA also stops on a plateau of the
label changes (week 04's ``DA_PATIENCE`` and ``DA_WINDOW``, see ``dec.train_dec``). Prints ACC / NMI /
ARI per method and seed, their mean and standard deviation, and the wall times; ``--json PATH``
also writes them to a file.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from sklearn.cluster import KMeans

from course_utils import config, data, settings
from course_utils.metrics import evaluate, format_metrics
from course_utils.models.dec import (DEC, DEC_DA_RECIPE, DEC_RECIPE, IDEC_RECIPE, init_centers_kmeans,
                                     make_dec_optimizer, stop_reason, train_dec)
from course_utils.train import AE_RECIPES, pretrained_autoencoder

#: Week 04's full mode (the notebook's parameters cell reads the same).
FULL = settings.week("04", "full")
METHODS = ("k-means (pixels)", "AE + k-means", "DEC", "IDEC", "DEC-DA")
#: (name, recipe, keep the decoder) of the clustering phases, all from the same AE + k-means start
PHASES = (("DEC", DEC_RECIPE, False), ("IDEC", IDEC_RECIPE, True), ("DEC-DA", DEC_DA_RECIPE, False))


def run_seed(X: torch.Tensor, y: np.ndarray, seed: int, args: argparse.Namespace) -> dict[str, dict]:
    out: dict[str, dict] = {}
    t0 = time.perf_counter()
    km = KMeans(10, n_init=10, random_state=seed).fit(X.double().numpy())
    out["k-means (pixels)"] = {**evaluate(y, km.labels_), "seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    config.seed_everything(seed)
    ae = pretrained_autoencoder(X, epochs=args.ae_epochs, seed=seed, recipe=args.recipe, progress=False)
    t_ae = time.perf_counter() - t0
    for name, recipe, keep in PHASES:
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        model = DEC(ae, 10, keep_decoder=keep).to(config.get_device())
        km_labels = init_centers_kmeans(model, X, seed=seed)
        if "AE + k-means" not in out:
            out["AE + k-means"] = {**evaluate(y, km_labels), "seconds": t_ae + time.perf_counter() - t0}
            print(f"seed {seed}: AE ({args.recipe}, {args.ae_epochs} epochs, {t_ae:.0f} s) + k-means: "
                  f"{format_metrics(out['AE + k-means'])}", flush=True)

        def report(update: int, m: DEC, logs: dict, name: str = name) -> None:
            if update % args.every == 0:
                logs.update(evaluate(y, m.predict(X)))
                print(f"seed {seed} {name:<6} update {update:4d}  delta {logs['delta_label']:.4f}  "
                      f"{format_metrics({k: logs[k] for k in ('acc', 'nmi', 'ari')})}", flush=True)

        max_iter = getattr(args, "max_iter", None) or FULL["DA_MAX_ITER" if name == "DEC-DA" else "MAX_ITER"]
        interval = args.update_interval or math.ceil(len(X) / recipe["batch_size"])
        history = train_dec(model, X, gamma=recipe["gamma"], optimizer=make_dec_optimizer(model, recipe),
                            batch_size=recipe["batch_size"], tol=recipe["tol"], max_iter=max_iter,
                            update_interval=args.update_interval, seed=seed, callbacks=[report], progress=False,
                            desc=f"{name} seed {seed}", augment=recipe.get("augment"),
                            patience=recipe.get("patience"), window=recipe.get("window", 10))
        result = evaluate(y, model.predict(X))
        result.update(seconds=time.perf_counter() - t0, updates=len(history["epoch"]),
                      stopped=stop_reason(history, recipe["tol"], max_iter, interval))
        out[name] = result
        print(f"seed {seed}: {name} {format_metrics(result)} after {result['updates']} updates "
              f"(stopped: {result['stopped']}), {result['seconds']:.0f} s", flush=True)
    return out


def parser() -> argparse.ArgumentParser:
    """The options; each setting of week 04 defaults to its full-mode value (``FULL``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(settings.RESULTS["seeds"].full))
    parser.add_argument("--split", default=FULL["MNIST_SPLIT"], choices=["test", "train", "all"])
    parser.add_argument("--recipe", default=FULL["AE_RECIPE"], choices=sorted(AE_RECIPES))
    parser.add_argument("--ae-epochs", type=int, default=FULL["AE_EPOCHS"], help="default: the recipe's")
    parser.add_argument("--update-interval", type=int, default=0,
                        help="iterations between target updates (default 0: one pass over the data; "
                             "DEC-keras uses 140 on the 70,000 MNIST images)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help=f"default: week 04's ({FULL['MAX_ITER']:,}; DEC-DA {FULL['DA_MAX_ITER']:,})")
    parser.add_argument("--every", type=int, default=10, help="score every this many target updates")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser


def main() -> None:
    args = parser().parse_args()
    args.ae_epochs = args.ae_epochs or AE_RECIPES[args.recipe]["epochs"]
    args.update_interval = args.update_interval or None
    torch.set_num_threads(args.threads)
    X, y, args.split = data.load_mnist_or_test(args.split)   # as the notebook, where only the test files are
    y = y.numpy()
    print(f"MNIST {args.split}: {len(X)} images | {config.describe()} | torch threads {args.threads}", flush=True)
    t0 = time.perf_counter()
    results = {s: run_seed(X, y, s, args) for s in args.seeds}
    wall = time.perf_counter() - t0
    print(f"\n{'method':<18}" + "".join(f"  seed {s}: ACC / NMI / ARI   " for s in args.seeds))
    for m in METHODS:
        print(f"{m:<18}" + "".join(f"  {results[s][m]['acc']:.3f} / {results[s][m]['nmi']:.3f} / "
                                   f"{results[s][m]['ari']:.3f}   " for s in args.seeds))
    print()
    for m in METHODS:
        line = f"{m:<18}"
        for k in ("acc", "nmi", "ari"):
            v = np.array([results[s][m][k] for s in args.seeds])
            line += f"  {k.upper()} {v.mean():.3f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}"
        t = np.array([results[s][m]["seconds"] for s in args.seeds])
        print(line + f"   time {t.mean():.0f} s per seed")
    print(f"wall time: {wall:.0f} s for {len(args.seeds)} seed(s), {args.threads} thread(s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"args": vars(args), "results": results, "wall_seconds": wall}, fh, indent=1)


if __name__ == "__main__":
    main()
