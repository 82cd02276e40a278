"""``course cluster``: one of the course's methods on your own data, from the command line.

    course cluster DATA --method dec --k 10 --out labels.csv [--labels y.npy] [--mode fast|full]

``DATA`` is a ``.npy`` or ``.npz`` array (``(n, d)`` or images ``(n, h, w)`` / ``(n, c, h, w)``),
a ``.csv`` of numbers (one row per sample; a header line is skipped), or a folder of images
(``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``; read in name order, converted to grey, all the
same size). It writes, next to ``--out``:

- ``labels.csv``: ``index,cluster`` (and ``file`` for a folder of images);
- ``labels-embedding.npy``: the representation the method clusters (``transform``);
- ``labels-report.png``: one page: a 2-D view (PCA) of the embedding coloured by cluster, the
  cluster sizes, one row of samples per cluster (images only), and ACC / NMI / ARI when
  ``--labels`` gives the true classes (``.npy`` or a one-column ``.csv``).

Inputs are read defensively: sizes are checked before reading (4 GiB for ``.npy`` and for what an
``.npz`` inflates to, 512 MiB for a ``.csv``, which is parsed as text), ``.npy`` files are loaded without
pickle, links are not followed in an image folder, and a damaged file is named with what to do.
"""
from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OwnDataError", "read_data", "read_labels", "cluster", "full_mode_estimate", "MAX_BYTES", "MAX_CSV_BYTES",
           "MAX_IMAGES"]

#: The largest input file read (bytes), and the most images read from a folder.
MAX_BYTES = 4 * 2 ** 30
#: A CSV is parsed into Python numbers first (about 4 times its size in memory): a smaller cap.
MAX_CSV_BYTES = 512 * 2 ** 20
MAX_IMAGES = 200_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class OwnDataError(ValueError):
    """The data or the options cannot be used; the message says what was wrong and what to do."""


def _regular_file(path: Path, what: str) -> Path:
    if path.is_symlink():
        raise OwnDataError(f"{what} {path} is a symbolic link; give the file itself.")
    if not path.exists():
        raise OwnDataError(f"{what} {path} does not exist.")
    if not path.is_file():
        raise OwnDataError(f"{what} {path} is not a regular file.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise OwnDataError(f"{what} {path} has {size / 2 ** 30:.1f} GiB, more than the {MAX_BYTES / 2 ** 30:.0f} GiB "
                           "this command reads; cluster a sample of it (e.g. np.load(..., mmap_mode='r')[:100000]).")
    return path


def read_data(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """``(X, file names or None)`` from ``path`` (see the module docstring). ``X`` is float32:
    ``(n, d)``, or images ``(n, h, w)`` / ``(n, c, h, w)`` as stored. ``OwnDataError`` otherwise."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        return _read_image_folder(path)
    _regular_file(path, "DATA")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            X = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            _check_npz_sizes(path)
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if not names:
                    raise OwnDataError(f"{path} holds no array.")
                key = "X" if "X" in names else names[0]
                X = archive[key]
        elif suffix == ".csv":
            if path.stat().st_size > MAX_CSV_BYTES:
                raise OwnDataError(f"{path} has {path.stat().st_size / 2 ** 20:.0f} MiB of CSV, more than the "
                                   f"{MAX_CSV_BYTES / 2 ** 20:.0f} MiB this command parses as text; save it with "
                                   f"np.save as a .npy file (read up to {MAX_BYTES / 2 ** 30:.0f} GiB), or give a sample of its rows.")
            X = _read_csv(path)
        else:
            raise OwnDataError(f"DATA {path}: the suffix {suffix or '(none)'!r} is not one this command reads; "
                               "give a .npy, .npz or .csv file, or a folder of images.")
    except OwnDataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise OwnDataError(f"{path} cannot be read as {suffix} ({type(exc).__name__}: {str(exc)[:200]}). Check that "
                           "the file is complete and was written by numpy (np.save / np.savez) or as plain CSV.") from exc
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise OwnDataError(f"{path} holds {X.dtype} values; give numbers (float or int).")
    if X.ndim == 1:
        raise OwnDataError(f"{path} holds a 1-D array of {X.shape[0]} values; give one row per sample, (n, d).")
    return X.astype(np.float32, copy=False), None


def _check_npz_sizes(path: Path) -> None:
    """Refuse an ``.npz`` whose arrays would inflate past ``MAX_BYTES`` (a compressed archive can be
    small on disk and huge in memory), before anything is decompressed."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise OwnDataError(f"{path} is not a readable .npz archive ({type(exc).__name__}: {str(exc)[:200]}); "
                           "write it again with np.savez.") from exc
    if total > MAX_BYTES:
        raise OwnDataError(f"{path} inflates to {total / 2 ** 30:.1f} GiB, more than the {MAX_BYTES / 2 ** 30:.0f} "
                           "GiB this command reads; save a sample of it.")


def _read_csv(path: Path) -> np.ndarray:
    rows: list[list[float]] = []
    with path.open(newline="", encoding="utf-8", errors="strict") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                rows.append([float(c) for c in row])
            except ValueError:
                if i == 0 and not rows:     # a header line
                    continue
                raise OwnDataError(f"{path}, line {i + 1}: {','.join(row)[:80]!r} is not a row of numbers.") from None
    if not rows:
        raise OwnDataError(f"{path} holds no row of numbers.")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise OwnDataError(f"{path}: rows have {sorted(widths)} values; every row needs the same number.")
    return np.asarray(rows, dtype=np.float32)


def _read_image_folder(folder: Path) -> tuple[np.ndarray, list[str]]:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    links = [p.name for p in files if p.is_symlink()]
    files = [p for p in files if not p.is_symlink() and p.is_file()]
    if not files:
        raise OwnDataError(f"{folder} holds no image ({', '.join(IMAGE_SUFFIXES)})"
                           + (f"; {len(links)} links were not followed" if links else "") + ".")
    if len(files) > MAX_IMAGES:
        raise OwnDataError(f"{folder} holds {len(files)} images, more than the {MAX_IMAGES} this command reads.")
    images, shape = [], None
    for p in files:
        _regular_file(p, "image")
        try:
            with Image.open(p) as im:
                if im.width * im.height > 4096 * 4096:
                    raise OwnDataError(f"{p} is {im.width}x{im.height}; images above 4096x4096 are not read.")
                arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise OwnDataError(f"{p} cannot be read as an image ({type(exc).__name__}); remove it or replace it.") from exc
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise OwnDataError(f"{p} is {arr.shape[1]}x{arr.shape[0]} but {files[0].name} is {shape[1]}x{shape[0]}; "
                               "every image must have the same size (resize them first).")
        images.append(arr)
    return np.stack(images), [p.name for p in files]


def read_labels(path: str | Path, n: int) -> np.ndarray:
    """True classes for scoring: ``.npy`` (1-D) or a ``.csv`` with one value per line (a header is
    skipped; with two columns, the last). ``n`` of them, integers."""
    path = _regular_file(Path(path), "--labels")
    try:
        if path.suffix.lower() == ".npy":
            y = np.load(path, allow_pickle=False).reshape(-1)
        elif path.suffix.lower() == ".csv":
            y = _read_csv(path)[:, -1]
        else:
            raise OwnDataError(f"--labels {path}: give a .npy or .csv file.")
    except OwnDataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise OwnDataError(f"--labels {path} cannot be read ({type(exc).__name__}: {str(exc)[:200]}).") from exc
    if len(y) != n:
        raise OwnDataError(f"--labels {path} has {len(y)} labels for {n} samples; give one per sample, in order.")
    if np.asarray(y).dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise OwnDataError(f"--labels {path} holds NaN or infinite values.")
    return np.asarray(y).astype(np.int64)


def fixed_budget(method: str) -> str | None:
    """The budget, in words, of a method whose full mode trains a fixed number of updates whatever
    the data's size (so its measured time is quoted, not scaled); ``None`` for the others."""
    if method == "infogan":
        from course_utils import settings
        from course_utils.models import gan

        return (f"InfoGAN's reference budget, {gan.INFOGAN_REFERENCE_UPDATES:,} updates of "
                f"{settings.week('05', 'full')['INFOGAN_BATCH']} images")
    return None


def full_mode_estimate(method: str, n: int, d: int) -> str:
    """What full mode would take, from the measured full-mode grid (10,000 MNIST images of 784
    pixels on a 2-core CPU), scaled by ``n * d`` (training steps grow with both). A rough guide.
    A method with a fixed number of updates (``fixed_budget``): its measured time, not scaled."""
    from course_utils import results

    rows = {e["method"]: e for e in results.read_full_summary()}
    row = rows.get(method)
    if row is None:
        return "full mode was not measured for this method"
    seconds = (row["train_s"] if not math.isnan(row["train_s"]) else 0.0) + \
              (row["pretrain_s"] if not math.isnan(row["pretrain_s"]) else 0.0)
    budget = fixed_budget(method)
    if budget is not None:
        return (f"full mode trains {budget}, whatever the data's size: {seconds / 60:.0f} min on 10,000 MNIST "
                "images on a 2-core CPU (measured); expect about the same for your data on such a CPU")
    scaled = seconds * (n * d) / (10000 * 784)

    def minutes(s: float) -> str:
        return "under a minute" if s < 60 else f"about {s / 60:.0f} min"

    return (f"full mode took {seconds / 60:.0f} min for {row['label']} on 10,000 MNIST images on a 2-core CPU "
            f"(measured); for {n:,} x {d:,} values expect {minutes(scaled)} on such a CPU (scaled by the data's "
            "size, a rough guide)")


def cluster(data: str | Path, method: str, k: int | None, out: str | Path, *, labels: str | Path | None = None,
            mode: str = "fast", seed: int = 0, device: str | None = None, input_range: str = "check",
            verbose: bool = True, log: Any = print) -> dict[str, Any]:
    """Run ``method`` on ``data`` and write the labels, the embedding and the report. Returns a
    summary: ``{"labels", "n_clusters", "seconds", "files": {...}, "scores": {...} or None}``."""
    from course_utils import estimators

    if method not in estimators.ESTIMATORS:
        import difflib

        close = difflib.get_close_matches(method, list(estimators.ESTIMATORS), n=1)
        raise OwnDataError(f"--method {method!r} is not one of {', '.join(estimators.ESTIMATORS)}"
                           + (f"; did you mean {close[0]!r}?" if close else "."))
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise OwnDataError(f"--out {out}: give a .csv file name; the embedding and report are written next to it.")
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise OwnDataError(f"--out {out} exists and is not a regular file; choose another name.")
    out.parent.mkdir(parents=True, exist_ok=True)
    X, names = read_data(data)
    y = read_labels(labels, len(X)) if labels is not None else None
    cls = estimators.ESTIMATORS[method]
    params: dict[str, Any] = {"random_state": seed, "device": device, "verbose": verbose}
    if "mode" in cls().get_params():
        params["mode"] = mode
    if "input_range" in cls().get_params():
        params["input_range"] = input_range
    if method != "nmmc":
        params["n_clusters"] = 10 if k is None else int(k)
    elif k is not None:
        log("note: NMMC infers the number of clusters; --k is ignored.")
    est = cls(**params)
    d = int(np.prod(X.shape[1:]))
    log(f"{cls.__name__} on {len(X):,} samples x {d:,} values ({mode} mode, seed {seed}) ...")
    t0 = time.perf_counter()
    try:
        pred = est.fit_predict(X)
    except ValueError as exc:
        text = str(exc).replace("pass input_range='minmax'", "pass input_range='minmax' (here: --input-range minmax)")
        raise OwnDataError(text) from exc
    seconds = time.perf_counter() - t0
    Z = est.transform(X)
    stem = out.with_suffix("")
    files = {"labels": out, "embedding": stem.parent / f"{stem.name}-embedding.npy",
             "report": stem.parent / f"{stem.name}-report.png"}
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "cluster"] + (["file"] if names else []))
        for i, c in enumerate(pred):
            w.writerow([i, int(c)] + ([names[i]] if names else []))
    np.save(files["embedding"], Z.astype(np.float32))
    scores = None
    if y is not None:
        from course_utils.metrics import evaluate

        scores = evaluate(y, pred, majority=True)
    _report(files["report"], X, Z, pred, est.n_clusters_, scores, f"{cls.__name__}, {mode} mode, seed {seed}: "
            f"{len(X):,} samples, {est.n_clusters_} clusters, {seconds:.1f} s")
    log(f"{est.n_clusters_} clusters in {seconds:.1f} s; sizes {np.bincount(pred, minlength=est.n_clusters_).tolist()}")
    if scores is not None:
        log(f"against --labels: ACC {scores['acc']:.3f}  NMI {scores['nmi']:.3f}  ARI {scores['ari']:.3f}")
    for kind, path in files.items():
        log(f"  {kind:<9} {path}")
    if mode == "fast":
        log(f"({full_mode_estimate(method, len(X), d)}: --mode full)")
    return {"labels": pred, "n_clusters": est.n_clusters_, "seconds": seconds, "files": files, "scores": scores}


def _report(path: Path, X: np.ndarray, Z: np.ndarray, pred: np.ndarray, k: int, scores: dict | None,
            title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    images = X.ndim >= 3
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(Z))[:5000]
    xy = PCA(2, random_state=0).fit_transform(Z[idx]) if Z.shape[1] > 2 else Z[idx]
    rows_of_samples = min(k, 20) if images else 0
    fig = plt.figure(figsize=(11, 4.5 + 0.45 * rows_of_samples), layout="constrained")
    grid = fig.add_gridspec(2 if images else 1, 2, height_ratios=[4.5, 0.45 * rows_of_samples] if images else [1])
    ax = fig.add_subplot(grid[0, 0])
    cmap = plt.get_cmap("tab20" if k > 10 else "tab10")
    ax.scatter(xy[:, 0], xy[:, 1], c=[cmap(int(c) % cmap.N) for c in pred[idx]], s=4, alpha=0.7)
    ax.set_title("the embedding (PCA), coloured by cluster", fontsize="medium")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax = fig.add_subplot(grid[0, 1])
    sizes = np.bincount(pred, minlength=k)
    ax.bar(range(k), sizes, color=[cmap(i % cmap.N) for i in range(k)])
    ax.set_xlabel("cluster")
    ax.set_ylabel("samples")
    ax.set_title("cluster sizes" + (f"   ACC {scores['acc']:.3f}, NMI {scores['nmi']:.3f}, ARI {scores['ari']:.3f}"
                                    if scores else ""), fontsize="medium")
    if images:
        per_row = 12
        sub = grid[1, :].subgridspec(rows_of_samples, per_row, hspace=0.05, wspace=0.05)
        for c in range(rows_of_samples):
            members = np.flatnonzero(pred == c)[:per_row]
            for j in range(per_row):
                a = fig.add_subplot(sub[c, j])
                a.set_xticks([])
                a.set_yticks([])
                if j == 0:
                    a.set_ylabel(str(c), rotation=0, labelpad=10, fontsize="small")
                if j < len(members):
                    img = X[members[j]]
                    img = img[0] if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[0] == 1 else img
                    img = np.moveaxis(img, 0, -1) if img.ndim == 3 else img
                    a.imshow(img, cmap="gray")
                for spine in a.spines.values():
                    spine.set_visible(False)
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path, dpi=90)
    plt.close(fig)
