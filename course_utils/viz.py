"""Plain plotting functions: each returns a ``matplotlib.figure.Figure``.

Figures are made with ``Figure(...)`` directly, never with ``plt.figure``/``plt.subplots``: pyplot
keeps every figure it makes and the notebook's inline backend shows all of them at the end of
the cell, so a cell that also returns the figure would show it twice (and loops would pile up
figures). A figure made here is shown exactly once, when it is the value of a cell, and is freed
like any Python object.

The figures are ``NotebookFigure`` objects, an ordinary matplotlib ``Figure`` that also knows how
to show itself as a PNG in Jupyter (``_repr_png_``). Without it, a Figure that pyplot does not
manage appears as the text ``<Figure size 640x480 with 1 Axes>`` in a kernel where pyplot has
not set up its inline display yet (checked with matplotlib 3.11 / ipykernel 7).

Every function that draws into one panel accepts ``ax=`` (an existing Axes) and then returns
``ax.figure``, so figures can be combined. This module never imports ipywidgets; the interactive
wrappers live in ``course_utils.widgets``.
"""
from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from course_utils import metrics

__all__ = [
    "NotebookFigure",
    "figure_to_png",
    "to_numpy",
    "subsample_indices",
    "project_2d",
    "embedding_scatter",
    "image_grid",
    "metric_curves",
    "confusion_matrix_plot",
    "image_mosaic",
    "latent_traversal",
    "decoded_lattice",
]

PROJECTION_METHODS = ("pca", "tsne", "none")
_AXIS_NAMES = {"pca": "PC", "tsne": "t-SNE", "none": "z"}
_BOUNDED_METRICS = {"acc", "nmi", "ari", "majority_acc"}


class NotebookFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter displays as a PNG whatever the backend is.

    Use it exactly like ``Figure``; ``_repr_png_`` is what IPython calls to show the value of a cell.
    """

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes (tight bounding box, as the inline backend does).

    The image is stored with a 256-colour palette: plots use few colours, so it looks the same
    at about a third of the size, which keeps notebooks committed with outputs small.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    buffer.seek(0)
    from PIL import Image

    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="png", optimize=True)
    return out.getvalue()


def to_numpy(x: Any, name: str = "input") -> np.ndarray:
    """NumPy view of a NumPy array, list or torch tensor (detached, moved to the CPU)."""
    if x is None:
        raise TypeError(f"{name} is None; expected an array or a tensor.")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except ValueError as exc:
        raise ValueError(f"{name} cannot be read as an array ({exc}).") from None


def subsample_indices(n: int, max_points: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` points, the same for the same seed.

    Returns ``np.arange(n)`` when ``max_points`` is None or ``n <= max_points``.
    """
    if max_points is None or n <= max_points:
        return np.arange(n)
    if max_points < 1:
        raise ValueError(f"max_points={max_points}; expected a positive number of points or None.")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False))


def _as_points(Z: Any, name: str = "Z") -> np.ndarray:
    arr = to_numpy(Z, name)
    if arr.ndim != 2:
        hint = ""
        if arr.ndim > 2:
            hint = f" To use images as points, flatten them: `{name}.reshape(len({name}), -1)`."
        elif arr.ndim == 1:
            hint = f" For one feature per point use `{name}[:, None]`; for one point use `{name}[None]`."
        raise ValueError(f"{name} has shape {arr.shape}; expected (N, D) points.{hint}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected numbers.")
    return arr


def project_2d(
    Z: Any,
    method: str = "pca",
    seed: int = 0,
    max_points: int | None = None,
) -> np.ndarray:
    """Project points ``Z: (N, D)`` to the plane; returns ``(M, 2)`` float64.

    ``method``: 'pca' (scikit-learn PCA), 'tsne' (scikit-learn TSNE, ``init='pca'``, perplexity
    30 or less for small N; slow beyond a few thousand points) or 'none' (Z is already 2-D).
    ``max_points``: project only ``M = min(N, max_points)`` points, the rows
    ``subsample_indices(N, max_points, seed)`` (use the same call to pick their labels).
    Otherwise ``M = N``.
    """
    if method not in PROJECTION_METHODS:
        raise ValueError(
            f"method={method!r} is not known; use one of {PROJECTION_METHODS} ('none' when Z is "
            "already 2-D)."
        )
    arr = _as_points(Z)
    arr = arr[subsample_indices(len(arr), max_points, seed)].astype(np.float64)
    n, d = arr.shape
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(
            f"Z contains NaN or inf (first in row {row}); cannot project it. If Z comes from a "
            "model, its training has probably diverged (check the loss)."
        )
    if method == "none":
        if d != 2:
            raise ValueError(
                f"method='none' needs Z of shape (N, 2), got {arr.shape}; use method='pca' or "
                "'tsne' to project D-dimensional points."
            )
        return arr
    if d < 2:
        raise ValueError(f"Z has shape {arr.shape}; a 2-D projection needs at least 2 features (D >= 2).")
    if n < 3:
        raise ValueError(f"Z has {n} point(s); a {method} projection needs at least 3.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(arr)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(arr)


#: Colours of unmatched clusters (more clusters than classes): dark, unlike tab10's.
_EXTRA_COLORS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#31a354",
                 "#756bb1", "#636363", "#e6550d")


def _category_colors(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """Colour index of each point, the ids, and a colormap.

    Ids 0..9 (digits, up to ten clusters) keep their own tab10 colour whatever other ids are
    present, so a digit or a cluster has the same colour in every panel; otherwise the colour is
    the id's rank among the sorted ids (tab20 up to 20 ids, then turbo).
    """
    from matplotlib import colormaps

    ids, index = np.unique(values, return_inverse=True)
    if len(ids) and ids.min() >= 0 and ids.max() < 10:
        return values.astype(int), ids, colormaps["tab10"]
    if len(ids) <= 10:
        cmap = colormaps["tab10"]
    elif len(ids) <= 20:
        cmap = colormaps["tab20"]
    else:
        cmap = colormaps["turbo"]
    return index, ids, cmap


def _scatter_by(
    ax: Axes,
    xy: np.ndarray,
    values: np.ndarray,
    legend_title: str,
    matched: Mapping[int, int] | None = None,
) -> None:
    """Scatter ``xy`` coloured by ``values``, with a legend (a colour bar beyond 20 ids).

    ``matched``: ``{cluster id: class id}``; a matched cluster gets its class's colour and the
    legend entry "c → class"; unmatched clusters get dark colours of their own.
    """
    size = 3 if len(xy) > 1000 else 8
    if matched is not None:
        from matplotlib import colormaps

        from matplotlib.colors import to_rgba

        tab10 = colormaps["tab10"]
        ids = np.unique(values)
        extra = iter(_EXTRA_COLORS * (1 + len(ids) // len(_EXTRA_COLORS)))
        color_of = {int(k): to_rgba(tab10(matched[int(k)] % 10) if int(k) in matched else next(extra))
                    for k in ids}
        colors = np.array([color_of[int(v)] for v in values]).reshape(-1, 4)
        ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=size, linewidths=0, alpha=0.8, rasterized=True)
        handles = [
            Line2D([], [], marker="o", linestyle="", color=color_of[int(k)], markersize=5,
                   label=f"{k} \u2192 {matched[int(k)]}" if int(k) in matched else f"{k} (unmatched)")
            for k in ids
        ]
        _legend(ax, handles, legend_title + " \u2192 label")
        return
    index, ids, cmap = _category_colors(values)
    if len(ids) <= 20:
        colors = cmap(index)
        ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=size, linewidths=0, alpha=0.8, rasterized=True)
        by_value = len(ids) and ids.min() >= 0 and ids.max() < 10
        handles = [
            Line2D([], [], marker="o", linestyle="", color=cmap(int(k) if by_value else i),
                   markersize=5, label=str(k))
            for i, k in enumerate(ids)
        ]
        _legend(ax, handles, legend_title)
    else:
        points = ax.scatter(
            xy[:, 0], xy[:, 1], c=values, cmap=cmap, s=size, linewidths=0, alpha=0.8, rasterized=True
        )
        ax.figure.colorbar(points, ax=ax, label=legend_title)


def _legend(ax: Axes, handles: list, title: str) -> None:
    ax.legend(
        handles=handles,
        title=title,
        fontsize="x-small",
        title_fontsize="small",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
        handletextpad=0.1,
    )


def embedding_scatter(
    Z: Any,
    labels: Any,
    clusters: Any = None,
    method: str = "pca",
    title: str | None = None,
    max_points: int | None = 3000,
    seed: int = 0,
    ax: Axes | Sequence[Axes] | None = None,
    cluster_to_label: Mapping[int, int] | None = None,
) -> Figure:
    """Scatter plot of an embedding, coloured by true label and (when given) by cluster.

    ``Z``: ``(N, D)`` points (``(N, 2)`` already projected: use ``method='none'``);
    ``labels``, ``clusters``: ``(N,)`` non-negative integer ids. Projection with ``project_2d``.
    At most ``max_points`` points are drawn (a fixed random subset for a given ``seed``).
    Up to 20 distinct ids get tab10/tab20 colours and a legend; more get a colour bar.

    Cluster ids are arbitrary, so in the "by cluster" panel each cluster is drawn in the colour
    of the class it is matched to (``cluster_to_label``, default: the Hungarian matching of
    ``metrics.cluster_mapping`` on the drawn points), and its legend entry says "c → class".
    Pass a fixed ``cluster_to_label`` to keep colours the same across several figures.

    One panel ("by true label"), or two side by side when ``clusters`` is given ("by cluster").
    ``ax``: an Axes (one panel) or two Axes (two panels) to draw into; then ``title`` becomes
    the first line of each panel title instead of the figure title. Returns the figure.
    """
    points = _as_points(Z)
    n = len(points)
    true = metrics.as_labels(labels, "labels")
    if len(true) != n:
        raise ValueError(f"Z has {n} rows but labels has {len(true)}; give one label per point of Z.")
    pred = None
    if clusters is not None:
        pred = metrics.as_labels(clusters, "clusters")
        if len(pred) != n:
            raise ValueError(
                f"Z has {n} rows but clusters has {len(pred)}; give one cluster id per point of Z."
            )
    n_panels = 1 if pred is None else 2

    if ax is None:
        fig = NotebookFigure(figsize=(5.2 * n_panels, 4.2), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(1, n_panels)))
        if title:
            fig.suptitle(title)
        prefix = ""
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != n_panels:
            raise ValueError(
                f"got {len(axes)} Axes for {n_panels} panel(s); pass one Axes without clusters and "
                "two (label panel, cluster panel) with clusters."
            )
        fig = axes[0].figure
        prefix = f"{title}\n" if title else ""

    idx = subsample_indices(n, max_points, seed)
    xy = project_2d(points[idx], method=method, seed=seed)
    panels = [(true[idx], "by true label", "label", None)]
    if pred is not None:
        matched = (metrics.cluster_mapping(true[idx], pred[idx]) if cluster_to_label is None
                   else {int(k): int(v) for k, v in cluster_to_label.items()})
        if len(np.unique(pred[idx])) > 20:
            matched = None  # a colour bar, as for labels
        panels.append((pred[idx], "by cluster", "cluster", matched))
    axis_name = _AXIS_NAMES[method]
    for panel_ax, (values, panel_title, legend_title, matched) in zip(axes, panels):
        _scatter_by(panel_ax, xy, values, legend_title, matched)
        panel_ax.set_title(prefix + panel_title, fontsize="medium")
        panel_ax.set_xlabel(f"{axis_name} 1", fontsize="small")
        panel_ax.set_ylabel(f"{axis_name} 2", fontsize="small")
        panel_ax.tick_params(labelsize="x-small")
    return fig


def _as_images(images: Any) -> np.ndarray:
    """``(N, H, W)`` grey or ``(N, H, W, 3)`` colour images from the shapes ``image_grid`` accepts."""
    arr = to_numpy(images, "images")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"images has dtype {arr.dtype}; expected numbers.")
    arr = arr / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    if arr.ndim == 2:
        n, d = arr.shape
        side = math.isqrt(d)
        if side * side != d:
            raise ValueError(
                f"images has shape {arr.shape}: flat images need D = side * side (784 = 28x28, "
                f"64 = 8x8), but {d} is not a square. Reshape to (N, H, W) first (one image of "
                "shape (H, W): pass `image[None]`)."
            )
        return arr.reshape(n, side, side)
    if arr.ndim == 3:
        return arr
    if arr.ndim == 4:
        if arr.shape[1] == 1:
            return arr[:, 0]
        if arr.shape[1] == 3:
            return arr.transpose(0, 2, 3, 1)
        if arr.shape[3] == 1:
            return arr[..., 0]
        if arr.shape[3] == 3:
            return arr
    raise ValueError(
        f"images has shape {arr.shape}; expected (N, H, W), (N, 1, H, W), (N, 3, H, W), "
        "(N, H, W, 3) or flat square images (N, H*W) such as (N, 784)."
    )


def image_grid(
    images: Any,
    nrow: int | None = None,
    titles: Sequence[Any] | None = None,
    cmap: str = "gray",
    title: str | None = None,
    row_labels: Sequence[Any] | None = None,
) -> Figure:
    """Show images in a grid, one Axes per image.

    ``images``: array or tensor of shape ``(N, H, W)``, ``(N, 1, H, W)``, ``(N, 3, H, W)``,
    ``(N, H, W, 3)`` or flat square ``(N, H*W)`` (``(N, 784)`` MNIST, ``(N, 64)`` digits). A 2-D
    input is always read as N flat images.
    ``nrow``: images per row, as in ``torchvision.utils.make_grid`` (default: one row per
    entry of ``row_labels``, otherwise a square-ish grid).
    ``titles``: one short title per image (e.g. its cluster). ``row_labels``: one label per row,
    written left of the row. Grey images share one colour scale (min..max of all images), so
    brightness is comparable across the grid; uint8 images are read as 0..255. Returns a figure
    with N Axes.
    """
    imgs = _as_images(images)
    n = len(imgs)
    if n == 0:
        raise ValueError("images is empty; expected at least one image.")
    if nrow is None:
        if row_labels is not None and len(row_labels) > 0:
            nrow = math.ceil(n / len(row_labels))
        else:
            nrow = math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ValueError(f"nrow={nrow}; expected a positive number of images per row.")
    ncols = min(nrow, n)
    nrows = math.ceil(n / ncols)
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images; give one title per image.")
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(
            f"row_labels has {len(row_labels)} entries but the grid has {nrows} rows "
            f"({n} images, {ncols} per row); give one label per row or set nrow."
        )
    if not np.isfinite(imgs).all():
        raise ValueError("images contain NaN or inf; a generator or decoder has probably diverged.")

    cell = 1.1 if max(imgs.shape[1:3]) <= 32 else 1.6
    height = nrows * cell * (1.25 if titles is not None else 1.0) + (0.4 if title else 0.0)
    width = ncols * cell + (0.8 if row_labels is not None else 0.0)
    fig = NotebookFigure(figsize=(width, height))
    grid = fig.add_gridspec(nrows, ncols, wspace=0.05, hspace=0.35 if titles is not None else 0.05)
    lo, hi = float(imgs.min()), float(imgs.max())
    colour = imgs.ndim == 4
    if colour and (lo < 0.0 or hi > 1.0):  # imshow needs RGB in [0, 1]
        imgs = (imgs - lo) / (hi - lo if hi > lo else 1.0)
    for i in range(n):
        r, c = divmod(i, ncols)
        ax = fig.add_subplot(grid[r, c])
        if colour:
            ax.imshow(imgs[i], interpolation="nearest")
        else:
            ax.imshow(imgs[i], cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize="x-small", pad=2)
        if row_labels is not None and c == 0:
            ax.set_ylabel(str(row_labels[r]), fontsize="small", rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return fig


def _metric_values(name: str, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Float array of a metric's values (None -> NaN) and a mask of the values that were given."""
    given = np.array([v is not None for v in values], dtype=bool)
    y = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            y[i] = float(v.item() if hasattr(v, "item") else v)
        except (TypeError, ValueError):
            raise TypeError(
                f"history[{name!r}][{i}] = {v!r} is not a number; metric values must be floats."
            ) from None
    return y, given


def metric_curves(
    history: Mapping[str, Sequence[float | None]],
    x: Sequence[float] | None = None,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
    x_label: str = "epoch",
    segments: Sequence[tuple[float, str]] = (),
) -> Figure:
    """One panel per metric, value against epoch: ``{"loss": [...], "acc": [...], ...}``.

    ``segments``: ``(first x, label)`` of the stages of a run that trains one thing after another
    (e.g. the RBMs of a DBN, layer by layer): each stage is drawn as its own line, a dashed line
    marks where it starts, and its label is written there.

    Every list has one entry per epoch in ``x`` (default ``1, 2, ..., n``). ``None`` means "not
    measured that epoch" and is skipped; NaN or inf means "measured, but not a number": it is
    marked with a red dotted line at that epoch and named in the panel title, so a diverging loss
    is visible. Panel titles show the latest value. ``axes``: one Axes per metric to draw into.
    ``x_label``: what one step is (``"epoch"``, ``"EM iteration"``, ``"target update"``); it labels
    the x-axis and the NaN note. Returns the figure.
    """
    if not isinstance(history, Mapping) or len(history) == 0:
        raise ValueError(
            "history must be a non-empty dict of metric name -> list of values, e.g. "
            "{'loss': [0.9, 0.5], 'acc': [0.4, 0.6]}."
        )
    names = list(history)
    lengths = {name: len(history[name]) for name in names}
    n = max(lengths.values())
    if x is None:
        xs = np.arange(1, n + 1)
    else:
        xs = np.asarray(to_numpy(x, "x"), dtype=np.float64)
        if xs.ndim != 1:
            raise ValueError(f"x has shape {xs.shape}; expected one epoch number per entry.")
    for name, length in lengths.items():
        if length != len(xs):
            raise ValueError(
                f"history[{name!r}] has {length} values but x has {len(xs)} epochs; give one value "
                "per epoch (None where a metric was not measured)."
            )

    if axes is None:
        ncols = min(len(names), 3)
        nrows = math.ceil(len(names) / ncols)
        fig = NotebookFigure(figsize=(4.0 * ncols, 2.9 * nrows), layout="constrained")
        panel_axes = list(np.atleast_1d(fig.subplots(nrows, ncols)).ravel())
        for extra in panel_axes[len(names):]:
            extra.remove()
        panel_axes = panel_axes[: len(names)]
        if title:
            fig.suptitle(title)
    else:
        panel_axes = [axes] if isinstance(axes, Axes) else list(axes)
        if len(panel_axes) != len(names):
            raise ValueError(
                f"got {len(panel_axes)} Axes for {len(names)} metrics; give one Axes per metric."
            )
        fig = panel_axes[0].figure

    for ax, name in zip(panel_axes, names):
        y, given = _metric_values(name, history[name])
        finite = given & np.isfinite(y)
        bad = given & ~np.isfinite(y)
        style = "-o" if finite.sum() <= 60 else "-"
        starts = sorted(float(start) for start, _ in segments)
        bounds = [-np.inf, *starts[1:], np.inf] if starts else [-np.inf, np.inf]
        for lo, hi in zip(bounds[:-1], bounds[1:]):   # one line per stage, none across a boundary
            part = finite & (xs >= lo) & (xs < hi)
            if part.any():
                ax.plot(xs[part], y[part], style, markersize=3, linewidth=1.5, color="tab:blue")
        for start, label in segments:
            ax.axvline(float(start) - 0.5, color="gray", linestyle="--", linewidth=0.8)
            ax.text(float(start) - 0.4, 1.0, str(label), transform=ax.get_xaxis_transform(), ha="left", va="top",
                    fontsize="x-small", color="dimgray")
        for xb in xs[bad]:
            ax.axvline(xb, color="tab:red", linestyle=":", linewidth=1.2)
        if given.any():
            last = y[np.flatnonzero(given)[-1]]
            panel_title = f"{name}: {last:.4g}"
        else:
            panel_title = f"{name}: no values yet"
        if bad.any():
            panel_title += f"  (NaN/inf at {x_label} {xs[bad][0]:g}"
            panel_title += f" and {int(bad.sum()) - 1} more)" if bad.sum() > 1 else ")"
        ax.set_title(panel_title, fontsize="medium", color="tab:red" if bad.any() else "black")
        if name in _BOUNDED_METRICS and np.all(np.abs(y[finite]) <= 1.0):  # not percentages
            low = float(np.min(y[finite])) if finite.any() else 0.0
            ax.set_ylim(min(0.0, low) - 0.02, 1.02)
        ax.set_xlabel(x_label, fontsize="small")
        # whole epochs only, also when one epoch is drawn (the default would tick 0.5, 0.6, ... 1.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
        if len(xs):
            pad = 0.5 if len(xs) == 1 else 0.02 * float(np.ptp(xs))
            ax.set_xlim(float(np.min(xs)) - pad, float(np.max(xs)) + pad)
    return fig


def confusion_matrix_plot(
    y_true: Any,
    y_pred: Any,
    mapped: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Counts of true class (rows) against cluster (columns).

    ``y_true``, ``y_pred``: ``(N,)`` non-negative integer labels. With ``mapped=True`` the columns
    are ordered by the Hungarian matching of ``metrics.cluster_mapping``, so the diagonal holds
    the matched (class, cluster) pairs and its sum / N is ``cluster_acc``; clusters left
    unmatched come last, classes left without a cluster come last among the rows. Column ticks
    read ``cluster→class``. With ``mapped=False`` rows and columns are in id order.
    Counts are written in the cells when the matrix is at most 20 x 20.
    """
    true, pred = metrics.check_labels(y_true, y_pred)
    w, clusters, classes = metrics.contingency(true, pred)
    counts = w.T  # (n_classes, n_clusters)
    row_ids = list(classes)
    col_ids = list(clusters)
    col_names = [str(k) for k in clusters]
    if mapped:
        mapping = metrics.cluster_mapping(true, pred)  # cluster -> class
        class_to_cluster = {c: k for k, c in mapping.items()}
        matched_classes = [c for c in classes if c in class_to_cluster]
        row_ids = matched_classes + [c for c in classes if c not in class_to_cluster]
        col_ids = [class_to_cluster[c] for c in matched_classes]
        col_ids += [k for k in clusters if k not in mapping]
        col_names = [f"{k}→{mapping[k]}" if k in mapping else str(k) for k in col_ids]
        row_pos = {c: i for i, c in enumerate(classes)}
        col_pos = {k: j for j, k in enumerate(clusters)}
        counts = counts[np.ix_([row_pos[c] for c in row_ids], [col_pos[k] for k in col_ids])]

    if ax is None:
        n_rows, n_cols = counts.shape
        fig = NotebookFigure(
            figsize=(max(3.5, 0.45 * n_cols + 1.8), max(3.0, 0.4 * n_rows + 1.4)), layout="constrained"
        )
        ax = fig.add_subplot()
    fig = ax.figure
    image = ax.imshow(counts, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(col_ids)), col_names, rotation=90 if mapped else 0, fontsize="x-small")
    ax.set_yticks(range(len(row_ids)), [str(c) for c in row_ids], fontsize="x-small")
    ax.set_xlabel("cluster → matched class" if mapped else "cluster", fontsize="small")
    ax.set_ylabel("true class", fontsize="small")
    if counts.shape[0] <= 20 and counts.shape[1] <= 20:
        top = counts.max() if counts.size else 0
        for (i, j), value in np.ndenumerate(counts):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize="xx-small",
                        color="white" if value > 0.5 * top else "black")
    acc = metrics.cluster_acc(true, pred)
    ax.set_title(f"ACC {acc:.3f} (N = {len(true)})" if mapped else f"N = {len(true)}", fontsize="medium")
    fig.colorbar(image, ax=ax, label="count", shrink=0.8)
    return fig


def image_mosaic(images: Any, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """One array holding a grid of grey images: ``(R, C, H, W)`` -> ``(R*H + (R-1)*pad, C*W + (C-1)*pad)``.

    ``images``: ``(R, C, H, W)``, ``(R, C, 1, H, W)`` or flat square ``(R, C, H*W)``; ``pad``
    pixels of ``pad_value`` separate the tiles. Drawing a grid as one image (one ``imshow``) is
    much faster than one Axes per image and keeps the PNG small.
    """
    arr = to_numpy(images, "images")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"images has dtype {arr.dtype}; expected numbers.")
    arr = arr.astype(np.float64)
    if arr.ndim == 5 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        side = math.isqrt(arr.shape[2])
        if side * side != arr.shape[2]:
            raise ValueError(
                f"images has shape {arr.shape}: flat images need a square size (784 = 28x28), but "
                f"{arr.shape[2]} is not a square. Pass (R, C, H, W)."
            )
        arr = arr.reshape(arr.shape[0], arr.shape[1], side, side)
    if arr.ndim != 4:
        raise ValueError(
            f"images has shape {arr.shape}; expected a grid (R, C, H, W), (R, C, 1, H, W) or (R, C, H*W)."
        )
    if pad < 0:
        raise ValueError(f"pad={pad}; expected a non-negative number of pixels.")
    R, C, H, W = arr.shape
    out = np.full((R * H + (R - 1) * pad, C * W + (C - 1) * pad), float(pad_value))
    for r in range(R):
        for c in range(C):
            out[r * (H + pad): r * (H + pad) + H, c * (W + pad): c * (W + pad) + W] = arr[r, c]
    return out


def _mosaic_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = NotebookFigure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    return ax.figure, ax


def latent_traversal(
    images: Any,
    values: Sequence[float],
    row_labels: Sequence[Any] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Decoded images while one latent dimension at a time is varied.

    ``images``: ``(R, C, H, W)`` (or ``(R, C, H*W)``) with ``images[r, c]`` the decoder's output
    when latent dimension ``r`` is set to ``values[c]`` and the others are held fixed.
    ``row_labels``: one label per row (default ``z1, z2, ...``), e.g. which dimension and its KL.
    Drawn as one image in one Axes (``ax=`` to draw into an existing one); returns the figure.
    """
    mosaic = image_mosaic(images)
    arr = to_numpy(images, "images")
    R, C = arr.shape[:2]
    values = [float(v) for v in values]
    if len(values) != C:
        raise ValueError(f"values has {len(values)} entries but the grid has {C} columns; give one value per column.")
    labels = [f"z{r + 1}" for r in range(R)] if row_labels is None else [str(v) for v in row_labels]
    if len(labels) != R:
        raise ValueError(f"row_labels has {len(labels)} entries but the grid has {R} rows.")
    H = (mosaic.shape[0] + 1) // R - 1
    W = (mosaic.shape[1] + 1) // C - 1
    fig, ax = _mosaic_axes(ax, (0.42 * C + 1.1, 0.42 * R + 0.7))
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([c * (W + 1) + W / 2 - 0.5 for c in range(C)], [f"{v:g}" for v in values], fontsize="x-small")
    ax.set_yticks([r * (H + 1) + H / 2 - 0.5 for r in range(R)], labels, fontsize="x-small")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("value of the varied latent dimension", fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def decoded_lattice(
    images: Any,
    z1_values: Sequence[float],
    z2_values: Sequence[float],
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Images decoded on a regular lattice of a 2-D latent space, placed at their coordinates.

    ``images``: ``(R, C, H, W)`` (or ``(R, C, H*W)``) with ``images[i, j]`` decoded from
    ``z = (z1_values[j], z2_values[i])``; both value lists increasing and evenly spaced. The
    axes are in latent units (``z1`` right, ``z2`` up), so the picture can sit next to a
    scatter plot of the data's latent codes. Returns the figure.
    """
    arr = to_numpy(images, "images")
    z1 = np.asarray([float(v) for v in z1_values])
    z2 = np.asarray([float(v) for v in z2_values])
    if arr.ndim < 3 or arr.shape[0] != len(z2) or arr.shape[1] != len(z1):
        raise ValueError(
            f"images has shape {arr.shape}; expected (len(z2_values), len(z1_values), ...) = "
            f"({len(z2)}, {len(z1)}, ...)."
        )
    if len(z1) < 2 or len(z2) < 2 or np.any(np.diff(z1) <= 0) or np.any(np.diff(z2) <= 0):
        raise ValueError("z1_values and z2_values must each hold at least 2 increasing values.")
    mosaic = image_mosaic(arr[::-1], pad=0)  # first row of the picture = largest z2
    h1, h2 = (z1[-1] - z1[0]) / (len(z1) - 1) / 2, (z2[-1] - z2[0]) / (len(z2) - 1) / 2
    fig, ax = _mosaic_axes(ax, (4.4, 4.2))
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
              extent=(z1[0] - h1, z1[-1] + h1, z2[0] - h2, z2[-1] + h2), aspect="auto")
    ax.set_xlabel("z 1", fontsize="small")
    ax.set_ylabel("z 2", fontsize="small")
    ax.tick_params(labelsize="x-small")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig
