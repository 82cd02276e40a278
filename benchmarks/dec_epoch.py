"""Time one DEC epoch and one IDEC epoch of ``course_utils.models.dec.train_dec`` on MNIST.

An "epoch" is one pass over the data: ``train_dec`` with ``max_iter = ceil(N / batch_size)`` and
the default ``update_interval`` (one pass), i.e. the target distribution computed on all ``N``
images, ``ceil(N / batch_size)`` mini-batch steps, and the closing target update (two full
encodings of ``X`` in all, as every pass of a real run has one).

To keep it quick the autoencoder is a freshly initialised ``MLPAutoencoder`` (784-hidden-10; its
output read as Bernoulli logits, as the default ``"bce-aug"`` pretraining gives) rather than a
pretrained one: the cost of a step does not depend on the weights. k-means on its embedding
(``init_centers_kmeans``) places the centres once, outside the timing; every timed run starts from a
fresh copy of that model. DEC: ``DEC_RECIPE`` (SGD 0.01, momentum 0.9, batch 256, decoder
dropped). IDEC: ``IDEC_RECIPE`` (Adam 1e-3, batch 256, ``L_r + gamma L_c`` with gamma 0.1,
``keep_decoder=True``). Each is timed ``--repeats`` times (alternating which goes first); the
median of each and the ratio IDEC / DEC are printed. Timings are reported, never judged.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/dec_epoch.py
    python benchmarks/dec_epoch.py --n 5000 --repeats 5 --threads 2
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script without installing the package
    sys.path.insert(0, str(REPO_ROOT))

from course_utils import config  # noqa: E402
from course_utils.data import load_mnist  # noqa: E402
from course_utils.models import MLPAutoencoder  # noqa: E402
from course_utils.models.dec import (DEC, DEC_RECIPE, IDEC_RECIPE, init_centers_kmeans,  # noqa: E402
                                     make_dec_optimizer, train_dec)

#: (name, recipe, keep the decoder)
PHASES = (("DEC", DEC_RECIPE, False), ("IDEC", IDEC_RECIPE, True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="first N MNIST test images (2000)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000],
                        help="autoencoder hidden sizes, decoder reversed (500 500 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs of each, median kept (3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    parser.add_argument("--seed", type=int, default=0, help="weights, k-means and batch order (0)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeats < 1 or args.threads < 1 or min(args.hidden) < 1:
        parser.error("--n, --repeats, --threads and --hidden must be positive")
    if args.n < 10:
        parser.error("--n must be at least 10 (k-means places 10 centres)")

    torch.set_num_threads(args.threads)
    device = config.get_device()
    X, _ = load_mnist("test", limit=args.n)
    torch.manual_seed(args.seed)
    ae = MLPAutoencoder(X.shape[1], tuple(args.hidden), 10, output="logits")
    probe = DEC(ae, 10).to(device)
    init_centers_kmeans(probe, X, seed=args.seed)
    centers = probe.centers.detach().clone()

    iters = {name: math.ceil(len(X) / recipe["batch_size"]) for name, recipe, _ in PHASES}
    print(f"MNIST test split: {len(X)} images | fresh autoencoder {X.shape[1]}-{'-'.join(map(str, args.hidden))}-10 "
          f"(logits), K=10 | " + ", ".join(f"{name}: batch {recipe['batch_size']}, {iters[name]} steps"
                                         for name, recipe, _ in PHASES)
          + f" | {device} | torch threads {args.threads}")

    def run(name: str, recipe: dict, keep: bool) -> float:
        torch.manual_seed(args.seed)
        model = DEC(ae, 10, keep_decoder=keep).to(device)
        with torch.no_grad():
            model.centers.copy_(centers)
        opt = make_dec_optimizer(model, recipe)
        start = time.perf_counter()
        history = train_dec(model, X, gamma=recipe["gamma"], optimizer=opt, batch_size=recipe["batch_size"],
                            tol=recipe["tol"], max_iter=iters[name], seed=args.seed, progress=False, desc=name)
        elapsed = time.perf_counter() - start
        if len(history["epoch"]) != 1:  # one pass = one target update
            raise SystemExit(f"{name}: expected one target update in one pass, got {len(history['epoch'])}")
        return elapsed

    times: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
    for r in range(args.repeats):
        for name, recipe, keep in PHASES if r % 2 == 0 else PHASES[::-1]:
            times[name].append(run(name, recipe, keep))
        print(f"repeat {r + 1}/{args.repeats}: " + ", ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()))

    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{'':<6} {'median epoch [s]':>16} {'per step [ms]':>14}")
    for name, t in medians.items():
        print(f"{name:<6} {t:>16.3f} {1e3 * t / iters[name]:>14.2f}")
    print(f"time ratio IDEC / DEC: {medians['IDEC'] / medians['DEC']:.2f} (median of {args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
