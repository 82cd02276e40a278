"""Time the workbook's k-means against scikit-learn's on MNIST pixels.

The k-means under test is the one students build in week 01: the code cells tagged
``kmeans-code`` in ``solutions/01_kmeans_em.ipynb`` (``assign_clusters``, ``update_centers``, the
k-means++ seeding and the ``kmeans`` driver), executed into a fresh namespace that holds only
NumPy. scikit-learn runs ``KMeans(n_clusters=10, init="k-means++", algorithm="lloyd", tol=0)``
with the same ``n_init``, ``max_iter`` and seed. ``tol=0`` is our stopping rule: a run ends when
an assignment step changes no label.

Both are timed ``--repeats`` times, alternating, and the best time of each is kept. The targets:
ours at most 2x scikit-learn's time, and its inertia within 1% of scikit-learn's. The exit status
is 0 when both are met, 1 otherwise (with a message saying which).

Usage (from the repository root)::

    COURSE_DATA_DIR=../shared/data python benchmarks/kmeans_benchmark.py
    python benchmarks/kmeans_benchmark.py --n-init 3 --limit 2000 --repeats 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import nbformat
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script without installing the package
    sys.path.insert(0, str(REPO_ROOT))

from course_utils.data import load_mnist  # noqa: E402

NOTEBOOK = REPO_ROOT / "solutions" / "01_kmeans_em.ipynb"
TAG = "kmeans-code"
MAX_TIME_RATIO = 2.0
MAX_INERTIA_DIFF = 0.01


def load_solution_kmeans(path: Path = NOTEBOOK) -> Callable:
    """Execute the notebook's ``kmeans-code`` cells into a namespace holding only ``np``; return ``kmeans``."""
    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    if not cells:
        raise SystemExit(f"No code cells tagged {TAG!r} in {path}; tag the cells that define the k-means.")
    namespace: dict = {"np": np, "__name__": "week01_kmeans"}
    for i, cell in enumerate(cells):
        exec(compile(cell.source, f"<{path.name}: {TAG} cell {i + 1} of {len(cells)}>", "exec"), namespace)
    if not callable(namespace.get("kmeans")):
        raise SystemExit(f"The {TAG!r} cells of {path} do not define a function `kmeans`.")
    return namespace["kmeans"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-init", type=int, default=10, help="k-means restarts, both implementations (10)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT test images (all 10,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each, best one kept (3)")
    parser.add_argument("--max-iter", type=int, default=300, help="cap on Lloyd iterations per run (300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of ours and random_state of scikit-learn (0)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="pixel dtype given to both (float32, as MNIST is loaded)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS and OpenMP threads of both (threadpoolctl); default: no limit")
    args = parser.parse_args(argv)
    if args.n_init < 1 or args.repeats < 1 or args.max_iter < 1:
        parser.error("--n-init, --repeats and --max-iter must be positive")

    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    kmeans = load_solution_kmeans()
    X, y = load_mnist(split="test", limit=args.limit)
    X = np.ascontiguousarray(X.numpy(), dtype=args.dtype)
    K = 10
    print(f"MNIST test split: {X.shape[0]} images x {X.shape[1]} pixels ({X.dtype}), K={K}, "
          f"n_init={args.n_init}, max_iter={args.max_iter}, seed={args.seed}, "
          f"threads={args.threads or 'all'}; a run stops when no label changes (scikit-learn tol=0)")

    def run_ours():
        return kmeans(X, K, n_init=args.n_init, max_iter=args.max_iter, init="k-means++", seed=args.seed)

    def run_sklearn():
        return KMeans(n_clusters=K, init="k-means++", n_init=args.n_init, max_iter=args.max_iter, tol=0.0,
                      algorithm="lloyd", random_state=args.seed).fit(X)

    times: dict[str, list[float]] = {"ours": [], "sklearn": []}
    with threadpool_limits(limits=args.threads):
        for r in range(args.repeats):
            for name, fn in (("ours", run_ours), ("sklearn", run_sklearn)):
                start = time.perf_counter()
                result = fn()
                times[name].append(time.perf_counter() - start)
                if name == "ours":
                    ours = result
                else:
                    theirs = result
            print(f"repeat {r + 1}/{args.repeats}: ours {times['ours'][-1]:.2f} s, "
                  f"scikit-learn {times['sklearn'][-1]:.2f} s")

    t_ours, t_sk = min(times["ours"]), min(times["sklearn"])
    ratio = t_ours / t_sk
    inertia_sk = float(theirs.inertia_)
    rel = ours.inertia / inertia_sk - 1.0
    print()
    print(f"{'':<14} {'best time [s]':>13} {'inertia':>14} {'iterations':>11}")
    print(f"{'ours':<14} {t_ours:>13.2f} {ours.inertia:>14.1f} {ours.n_iter:>11}")
    print(f"{'scikit-learn':<14} {t_sk:>13.2f} {inertia_sk:>14.1f} {theirs.n_iter_:>11}")
    print("(iterations: assignment steps of the best restart, the last one changing no label)")
    print(f"time ratio ours / scikit-learn: {ratio:.2f} (target <= {MAX_TIME_RATIO:.1f})")
    print(f"inertia relative difference (ours - scikit-learn) / scikit-learn: {rel:+.4%} "
          f"(target within {MAX_INERTIA_DIFF:.0%})")

    problems = []
    if ratio > MAX_TIME_RATIO:
        problems.append(f"our k-means took {ratio:.2f}x scikit-learn's time (target <= {MAX_TIME_RATIO:.1f}x): "
                        "look at assign_clusters/update_centers in the kmeans-code cells (one matrix "
                        "product each, no Python loop over points), or rerun on a quieter machine.")
    if abs(rel) > MAX_INERTIA_DIFF:
        problems.append(f"our inertia differs from scikit-learn's by {rel:+.2%} (target within "
                        f"{MAX_INERTIA_DIFF:.0%}): the Lloyd steps or the k-means++ seeding are probably wrong; "
                        "rerun the week-01 self-checks.")
    if problems:
        print("\nFAILED:\n- " + "\n- ".join(problems), file=sys.stderr)
        return 1
    print("OK: both targets met.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
