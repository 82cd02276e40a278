"""Clustering metrics: accuracy under the best matching (Hungarian), many-to-one accuracy, NMI, ARI.

A clustering algorithm returns cluster ids, not class names: cluster 3 may be "the sevens".
So we score a clustering ``y_pred`` against the true classes ``y_true`` with metrics that do not
care how the clusters are numbered:

- ``cluster_acc``  (ACC): match clusters to classes one-to-one so that as many points as possible
  land on their own class (Hungarian algorithm on the contingency table), then count.
- ``majority_acc``: send every cluster to its most frequent class (many-to-one). Use it when a
  method makes more clusters than there are classes; it rewards over-clustering, so report k.
- ``nmi``: normalized mutual information (scikit-learn).
- ``ari``: adjusted Rand index (scikit-learn).

Every function takes labels as NumPy arrays, Python lists or torch tensors of shape ``(N,)``
holding non-negative integers, and checks them first (``check_labels``), so a mistake such as
passing soft assignments ``(N, K)`` or labels with NaN is reported in words, not as a crash
deep inside SciPy.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

__all__ = [
    "as_labels",
    "check_labels",
    "contingency",
    "cluster_acc",
    "cluster_mapping",
    "majority_acc",
    "nmi",
    "ari",
    "evaluate",
    "format_metrics",
    "neighbourhood_preservation",
    "frame_mse",
    "frame_psnr",
    "frame_ssim",
]

NMI_AVERAGE_METHODS = ("arithmetic", "geometric", "min", "max")


def as_labels(values: Any, name: str = "labels") -> np.ndarray:
    """Convert a label vector to a NumPy ``int64`` array of shape ``(N,)``, checking it.

    ``values``: NumPy array, list/tuple or torch tensor (any device) of shape ``(N,)``.
    Float arrays are accepted when every value is a whole number (``[0., 2., 1.]``).
    Raises ``TypeError`` for a type that is not a label vector and ``ValueError`` (naming
    ``name``, the offending value and its index) for: not 1-D, empty, NaN/inf, a value that is
    not a whole number, a negative value.
    """
    if values is None:
        raise TypeError(
            f"{name} is None; expected an array of N integer labels. Did a function forget to "
            "`return` its result?"
        )
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch.Tensor, without importing torch
        values = values.detach().cpu().numpy()
    elif not isinstance(values, (np.ndarray, list, tuple)):
        raise TypeError(
            f"{name} is a {type(values).__name__}; expected a NumPy array, a list or a torch "
            "tensor of N integer labels."
        )
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"{name} cannot be read as an array ({exc}); expected a flat list of N integer labels."
        ) from None
    if arr.dtype == object:  # e.g. a list mixing numbers and None
        missing = [i for i, v in enumerate(arr.ravel()) if v is None]
        if missing and arr.ndim == 1:
            raise ValueError(
                f"{name}[{missing[0]}] is None ({len(missing)} None value(s)); every point needs an "
                "integer label."
            )
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} holds values that are not numbers (dtype object); labels must be "
                "integers like 0, 1, 2. Look for None or strings in the list."
            ) from None
    if arr.ndim != 1:
        hint = ""
        if arr.ndim == 2 and 1 in arr.shape:
            hint = " It looks like a column or row vector: pass `labels.ravel()`."
        elif arr.ndim == 2:
            hint = (
                " If these are soft assignments or probabilities (N, K), pass "
                "`probs.argmax(axis=1)` (NumPy) or `probs.argmax(dim=1)` (torch)."
            )
        raise ValueError(f"{name} has shape {arr.shape}; expected a 1-D array of shape (N,).{hint}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected at least one label.")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            n_bad = int((~finite).sum())
            raise ValueError(
                f"{name} contains {n_bad} NaN/inf value(s), first {name}[{i}] = {arr[i]}. Labels "
                "must be integers; NaN usually means the model diverged or a label was missing."
            )
        whole = arr == np.round(arr)
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise ValueError(
                f"{name}[{i}] = {arr[i]} is not a whole number: labels must be integers (cluster or "
                "class ids). If these are probabilities or scores, take the argmax first."
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    else:
        raise TypeError(
            f"{name} has dtype {arr.dtype}; labels must be integers (cluster or class ids). "
            "Convert string class names with `np.unique(names, return_inverse=True)[1]`."
        )
    negative = arr < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"{name}[{i}] = {arr[i]} is negative; labels must be non-negative integers 0, 1, 2, ... "
            "(a -1 'noise' label, as DBSCAN gives, must be dropped or given its own cluster id)."
        )
    return arr


def check_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a pair of label vectors; returns two ``int64`` arrays of shape ``(N,)``.

    Besides the checks of ``as_labels``, both must have the same length N.
    """
    true = as_labels(y_true, "y_true")
    pred = as_labels(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(
            f"y_true has {len(true)} labels but y_pred has {len(pred)}; they must describe the "
            "same points in the same order (did you predict on a different split or a subsample?)."
        )
    return true, pred


def contingency(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count matrix ``w[i, j]`` = number of points in cluster ``clusters[i]`` with class ``classes[j]``.

    Returns ``(w, clusters, classes)``: ``w`` of shape ``(n_clusters, n_classes)`` (int64), and the
    sorted cluster ids and class ids that occur, so ids need not be contiguous (0, 4, 9 is fine).
    """
    true, pred = check_labels(y_true, y_pred)
    return _contingency(true, pred)


def _contingency(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes, true_idx = np.unique(true, return_inverse=True)
    clusters, pred_idx = np.unique(pred, return_inverse=True)
    w = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(w, (pred_idx, true_idx), 1)
    return w, clusters, classes


def _hungarian(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the one-to-one matching that maximizes the matched counts."""
    rows, cols = linear_sum_assignment(w, maximize=True)
    return rows, cols


def cluster_acc(y_true: Any, y_pred: Any) -> float:
    """Clustering accuracy (ACC) under the best one-to-one matching of clusters to classes.

    ``y_true``, ``y_pred``: ``(N,)`` non-negative integer labels. Builds ``w[pred, true]`` counts
    and solves the assignment ``scipy.optimize.linear_sum_assignment(w, maximize=True)``;
    ACC = (sum of matched counts) / N, in [0, 1].

    The number of clusters may differ from the number of classes: with more clusters, the
    unmatched clusters' points count as wrong (see ``majority_acc`` for a many-to-one score);
    with fewer clusters, some classes get no cluster.
    """
    true, pred = check_labels(y_true, y_pred)
    w, _, _ = _contingency(true, pred)
    rows, cols = _hungarian(w)
    return float(w[rows, cols].sum() / len(true))


def cluster_mapping(y_true: Any, y_pred: Any) -> dict[int, int]:
    """The matching used by ``cluster_acc``: ``{cluster id: class id}``.

    One-to-one; clusters left unmatched (when there are more clusters than classes) are not in
    the dict. ``y_true``, ``y_pred``: ``(N,)`` non-negative integer labels.
    Example: ``mapping = cluster_mapping(y, c); y_hat = [mapping.get(k, -1) for k in c]``.
    """
    true, pred = check_labels(y_true, y_pred)
    w, clusters, classes = _contingency(true, pred)
    rows, cols = _hungarian(w)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols)}


def majority_acc(y_true: Any, y_pred: Any) -> float:
    """Many-to-one accuracy: each cluster is labelled with its most frequent class.

    ``y_true``, ``y_pred``: ``(N,)`` non-negative integer labels. Several clusters may map to the
    same class, so this is >= ``cluster_acc`` and reaches 1.0 with one cluster per point:
    always report the number of clusters next to it.
    """
    true, pred = check_labels(y_true, y_pred)
    w, _, _ = _contingency(true, pred)
    return float(w.max(axis=1).sum() / len(true))


def nmi(y_true: Any, y_pred: Any, average_method: str = "arithmetic") -> float:
    """Normalized mutual information, ``sklearn.metrics.normalized_mutual_info_score``.

    ``average_method`` is how the two entropies are averaged in the denominator:
    'arithmetic' (scikit-learn's default since 0.22, used in this course), 'geometric' (the
    default before 0.22 and in many older deep-clustering papers, e.g. DEC-era code),
    'min' or 'max'. State which one when you compare with a paper. Result in [0, 1].
    """
    if average_method not in NMI_AVERAGE_METHODS:
        raise ValueError(
            f"average_method={average_method!r} is not known; use one of {NMI_AVERAGE_METHODS} "
            "('arithmetic' is scikit-learn's default, 'geometric' matches older papers)."
        )
    true, pred = check_labels(y_true, y_pred)
    return float(normalized_mutual_info_score(true, pred, average_method=average_method))


def ari(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index, ``sklearn.metrics.adjusted_rand_score``: 1 = identical partitions,
    about 0 = chance level (can be slightly negative). ``y_true``, ``y_pred``: ``(N,)`` labels."""
    true, pred = check_labels(y_true, y_pred)
    return float(adjusted_rand_score(true, pred))


def evaluate(y_true: Any, y_pred: Any, majority: bool = False) -> dict[str, float]:
    """All course metrics at once: ``{"acc": ..., "nmi": ..., "ari": ...}`` (Python floats).

    ``y_true``, ``y_pred``: ``(N,)`` non-negative integer labels. NMI uses the 'arithmetic'
    average (call ``nmi(..., average_method="geometric")`` to compare with older papers).
    ``majority=True`` adds ``"majority_acc"`` (many-to-one accuracy).
    """
    true, pred = check_labels(y_true, y_pred)
    result = {"acc": cluster_acc(true, pred), "nmi": nmi(true, pred), "ari": ari(true, pred)}
    if majority:
        result["majority_acc"] = majority_acc(true, pred)
    return result


def neighbourhood_preservation(Z_ref: Any, Z: Any, k: int = 10) -> float:
    """How much local structure survives from ``Z_ref`` to ``Z``, in ``[0, 1]``.

    ``Z_ref``, ``Z``: ``(N, d_ref)``, ``(N, d)``: two embeddings of the same N points, same order.
    For every point, its ``k`` nearest neighbours (Euclidean, itself excluded) are found in both;
    the result is the mean fraction of the ``Z_ref`` neighbours that are still among the ``Z``
    neighbours (1: every neighbourhood kept; about ``k / N``: unrelated embeddings).
    """
    from sklearn.neighbors import NearestNeighbors

    A = np.asarray(Z_ref.detach().cpu().numpy() if hasattr(Z_ref, "detach") else Z_ref, dtype=np.float64)
    B = np.asarray(Z.detach().cpu().numpy() if hasattr(Z, "detach") else Z, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or len(A) != len(B):
        raise ValueError(f"Z_ref has shape {A.shape} and Z {B.shape}; expected (N, d) arrays of the same N points.")
    if not 1 <= int(k) < len(A):
        raise ValueError(f"k={k}; expected 1 <= k < N = {len(A)}.")
    k = int(k)
    ref = NearestNeighbors(n_neighbors=k + 1).fit(A).kneighbors(A, return_distance=False)[:, 1:]
    new = NearestNeighbors(n_neighbors=k + 1).fit(B).kneighbors(B, return_distance=False)[:, 1:]
    kept = [len(set(r).intersection(n)) for r, n in zip(ref.tolist(), new.tolist())]
    return float(np.mean(kept) / k)


_DISPLAY_NAMES = {"acc": "ACC", "nmi": "NMI", "ari": "ARI", "majority_acc": "majority ACC"}


def format_metrics(d: Mapping[str, Any], digits: int = 3) -> str:
    """One line for a results dict, e.g. ``"ACC 0.542 | NMI 0.500 | ARI 0.361"``.

    Keys keep their order; acc/nmi/ari/majority_acc get their usual names, other keys (such as
    ``loss``) are printed as they are. Numbers are rounded to ``digits`` decimals.
    """
    if not isinstance(d, Mapping):
        raise TypeError(
            f"format_metrics expects a dict such as evaluate(...) returns, got {type(d).__name__}."
        )
    parts = []
    for key, value in d.items():
        label = _DISPLAY_NAMES.get(key, key)
        if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / torch scalar
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{label} {float(value):.{digits}f}")
        else:
            parts.append(f"{label} {value}")
    return " | ".join(parts)


# --------------------------------------------------------------------------------------------
# Video prediction (week 07): per-frame scores over a batch of sequences
# --------------------------------------------------------------------------------------------

def _video_pair(pred: Any, target: Any):
    import torch

    pred, target = torch.as_tensor(pred).double(), torch.as_tensor(target).double()
    if pred.shape != target.shape or pred.ndim < 4:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape "
                         "(B, T, H, W) or (B, T, C, H, W).")
    if pred.ndim == 4:
        pred, target = pred[:, :, None], target[:, :, None]
    return pred, target


def frame_mse(pred: Any, target: Any) -> np.ndarray:
    """MSE per frame as Moving MNIST benchmarks report it (e.g. OpenSTL): the squared error summed over
    the pixels (and channels) of a frame, averaged over the sequences. ``pred, target: (B, T, [C,] H, W)``
    in [0, 1]; returns ``(T,)``."""
    pred, target = _video_pair(pred, target)
    return ((pred - target) ** 2).sum(dim=(2, 3, 4)).mean(dim=0).numpy()


def frame_psnr(pred: Any, target: Any, data_range: float = 1.0) -> np.ndarray:
    """PSNR per frame, ``10 log10(range^2 / per-pixel MSE)`` of each frame, averaged over the
    sequences (a perfect frame is capped at 100 dB); returns ``(T,)``."""
    pred, target = _video_pair(pred, target)
    mse = ((pred - target) ** 2).mean(dim=(2, 3, 4)).clamp_min(data_range ** 2 * 1e-10)
    return (10 * np.log10(data_range ** 2) - 10 * mse.log10()).mean(dim=0).numpy()


def frame_ssim(pred: Any, target: Any, data_range: float = 1.0, window: int = 11, sigma: float = 1.5) -> np.ndarray:
    """SSIM per frame (Wang et al. 2004: an 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``,
    ``K2 = 0.03``, "valid" windows only), averaged over channels, pixels and sequences; ``(T,)``."""
    import torch
    import torch.nn.functional as F

    pred, target = _video_pair(pred, target)
    B, T, C, H, W = pred.shape
    if min(H, W) < window:
        raise ValueError(f"frames of {H}x{W} are smaller than the SSIM window ({window}x{window}); "
                         "pass a smaller window= or use larger frames.")
    x_all, y_all = pred.reshape(B * T * C, 1, H, W), target.reshape(B * T * C, 1, H, W)
    coords = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    # the 2-D Gaussian is separable: a column pass then a row pass (memory 11x, not 121x, the frames)
    blur = lambda z: F.conv2d(F.conv2d(z, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))  # noqa: E731
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    parts = []
    for i in range(0, len(x_all), 256):     # in chunks, so a test set of thousands of frames stays small
        x, y = x_all[i:i + 256], y_all[i:i + 256]
        mu_x, mu_y = blur(x), blur(y)
        var_x = blur(x * x) - mu_x ** 2
        var_y = blur(y * y) - mu_y ** 2
        cov = blur(x * y) - mu_x * mu_y
        s_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
        parts.append(s_map.mean(dim=(1, 2, 3)))
    ssim = torch.cat(parts)
    return ssim.reshape(B, T, C).mean(dim=2).mean(dim=0).numpy()


def prediction_baselines(sequences: Any, n_in: int = 10) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """The three trivial predictors of frames ``n_in..T-1`` of ``sequences: (N, T, [C,] H, W)``.

    For ``"next"`` (t+1, every earlier frame known) and ``"extrap"`` (only frames ``0..n_in-1`` known):
    ``"copy last"`` repeats the last known frame, ``"black"`` predicts zeros, ``"mean of inputs"``
    the mean of the last ``n_in`` known frames. Returns ``{baseline: {"next"|"extrap": {"mse", "ssim",
    "psnr"}}}``, each an array of ``T - n_in`` values (per target frame).
    """
    import torch

    seqs = torch.as_tensor(sequences).double()
    T = seqs.shape[1]
    if not 0 < n_in < T:
        raise ValueError(f"n_in={n_in}; sequences have {T} frames, so expected 0 < n_in < {T}.")
    target = seqs[:, n_in:]
    guesses = {
        "copy last": {"next": seqs[:, n_in - 1:T - 1],
                      "extrap": seqs[:, n_in - 1:n_in].expand_as(target)},
        "black": {"next": torch.zeros_like(target), "extrap": torch.zeros_like(target)},
        "mean of inputs": {"next": torch.stack([seqs[:, t - n_in:t].mean(dim=1) for t in range(n_in, T)], dim=1),
                           "extrap": seqs[:, :n_in].mean(dim=1, keepdim=True).expand_as(target)},
    }
    return {name: {mode: {"mse": frame_mse(g, target), "ssim": frame_ssim(g, target), "psnr": frame_psnr(g, target)}
                   for mode, g in pair.items()} for name, pair in guesses.items()}
