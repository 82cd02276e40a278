"""Live views for training loops: thin ipywidgets wrappers over ``course_utils.viz``.

- ``TrainingMonitor``: per-epoch metric curves redrawn in place, plus a progress bar; with
  ``show_samples``, a mosaic of the latest generated images next to the curves.
- ``LatentExplorer``: snapshots of a latent space during training, browsed with an epoch slider.
- ``DecoderExplorer``: sliders over a 2-D latent code that decode an image live, next to the
  data's latent codes.
- ``CodeGridExplorer``: InfoGAN's code grid (one row per value of the categorical code, one
  continuous code varied along the columns), with sliders for the other codes and the noise.

All leave an ordinary PNG image in the notebook when they are done, so a notebook run
headless (CI, nbval) or rendered on GitHub still shows the result, and neither needs widget
state to be saved in the notebook. Outside a Jupyter kernel (plain Python, pytest) no widgets
are made: the history is kept, a text progress bar is shown, and the figures are still returned.

Typical use in a training loop::

    explorer = LatentExplorer(y_test, method="pca")
    with TrainingMonitor(total=EPOCHS, metrics=("loss", "acc", "nmi"), title="VaDE") as mon:
        for epoch in range(1, EPOCHS + 1):
            loss = train_one_epoch(...)
            y_pred = predict(...)
            mon.update(epoch, loss=loss, **evaluate(y_test, y_pred))
            explorer.record(epoch, z_test, clusters=y_pred)
    explorer.show()
"""
from __future__ import annotations

import base64
import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from course_utils import viz
from course_utils.metrics import as_labels, cluster_mapping, evaluate, format_metrics

__all__ = ["TrainingMonitor", "LatentExplorer", "DecoderExplorer", "CodeGridExplorer", "in_notebook"]


def in_notebook() -> bool:
    """True when running inside a Jupyter kernel (JupyterLab, Notebook, Colab, VS Code, nbclient)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _widgets_available() -> bool:
    if not in_notebook():
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _png_bundle(fig: Figure, text: str) -> dict[str, str]:
    """MIME bundle of a figure: PNG (base64) plus ``text``, what text-only renderers show."""
    return {"image/png": base64.b64encode(viz.figure_to_png(fig)).decode("ascii"), "text/plain": text}


def _display_png(fig: Figure, text: str) -> None:
    """Display the figure as an ordinary PNG output (no widget, no pyplot)."""
    from IPython.display import display

    display(_png_bundle(fig, text), raw=True)


def _png_output(fig: Figure, text: str) -> dict[str, Any]:
    """The figure as one notebook output (nbformat ``display_data`` dict, PNG base64-encoded).

    Assigning ``output.outputs = (_png_output(fig, text),)`` replaces an ``ipywidgets.Output``'s
    content in one step (no flicker). This is used instead of ``with output:
    clear_output(wait=True); display(...)``: that routes messages through the frontend's output
    capture, and nbclient's imitation of it (headless execution, nbclient 0.11) fails with a
    KeyError unless ``store_widget_state=True``, i.e. unless widget state goes into the notebook.
    """
    return {"output_type": "display_data", "data": _png_bundle(fig, text), "metadata": {}}


def _display_widget(widget: Any, fallback: str):
    """Display a widget with ``fallback`` as its text form (instead of the widget's repr).

    The text is what a renderer without live widgets (GitHub, nbviewer, a closed kernel) shows.
    Returns the ``DisplayHandle`` so the output can later be replaced in place.
    """
    from IPython.display import display

    bundle = {
        "application/vnd.jupyter.widget-view+json": {
            "version_major": 2,
            "version_minor": 0,
            "model_id": widget.model_id,
        },
        "text/plain": fallback,
    }
    return display(bundle, raw=True, display_id=True)


def _close_widget_tree(widget: Any) -> None:
    """``close()`` a widget, its children and its ``layout``/``style`` models.

    Closing removes them from the kernel's widget registry. ``close()`` on a widget closes only
    that widget: not a box's children, not its layout or style models; so each is closed here.
    """
    import ipywidgets

    for child in getattr(widget, "children", ()):
        _close_widget_tree(child)
    for part in ("layout", "style"):
        model = getattr(widget, part, None)
        if isinstance(model, ipywidgets.Widget):
            model.close()
    widget.close()


def _to_float(name: str, value: Any) -> float | None:
    """A metric value as a Python float: floats, ints, NumPy scalars, 0-d or 1-element tensors."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu()
    if hasattr(value, "ndim") and hasattr(value, "item"):  # NumPy or torch
        size = int(np.prod(value.shape)) if hasattr(value, "shape") else 1
        if size != 1:
            raise TypeError(
                f"{name} has shape {tuple(value.shape)}; expected one number. Pass a scalar such as "
                f"`{name}.item()` or `{name}.mean().item()`."
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}; expected a number.")
    return float(value)


def _image_stack(images: Any, name: str) -> np.ndarray:
    """Grey images ``(M, H*W)`` (H*W a square), ``(M, H, W)`` or ``(M, 1, H, W)`` with values in
    ``[0, 1]`` (NumPy or torch) as a float64 ``(M, H, W)`` array; a clear error for anything else."""
    if images is None or isinstance(images, (str, bytes, Mapping)):
        raise TypeError(f"{name} is a {type(images).__name__}; expected an array or tensor of images.")
    try:
        arr = viz.to_numpy(images, name)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} cannot be read as an array of images ({exc}).") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected numbers (images with values in [0, 1]).")
    shape = arr.shape
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1] or side == 0:
            raise ValueError(
                f"{name} has shape {shape}: flat images need H*W to be a square (784 = 28x28), but "
                f"{arr.shape[1]} is not a square. Pass (M, H, W) images."
            )
        arr = arr.reshape(len(arr), side, side)
    if arr.ndim != 3 or 0 in arr.shape[1:]:
        raise ValueError(
            f"{name} has shape {shape}; expected grey images (M, H*W), (M, H, W) or (M, 1, H, W)."
        )
    if len(arr) == 0:
        raise ValueError(f"{name} holds no images (shape {shape}); expected at least one.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; the generator has probably diverged (check the losses).")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-4 or hi > 1.0 + 1e-4:
        raise ValueError(
            f"{name} has values from {lo:.3g} to {hi:.3g}; expected images in [0, 1]. For a generator "
            "ending in tanh (values in [-1, 1]) pass (x + 1) / 2; for logits, torch.sigmoid(x)."
        )
    return np.clip(arr, 0.0, 1.0)


_MAX_SAMPLES = 64   # images drawn by TrainingMonitor.show_samples
_SAMPLES_PER_ROW = 8


def _sample_mosaic(images: np.ndarray) -> np.ndarray:
    """``(M, H, W)`` images as one mosaic, ``_SAMPLES_PER_ROW`` per row; empty tiles are white."""
    m, h, w = images.shape
    cols = min(m, _SAMPLES_PER_ROW)
    rows = math.ceil(m / cols)
    tiles = np.ones((rows * cols, h, w))
    tiles[:m] = images
    return viz.image_mosaic(tiles.reshape(rows, cols, h, w))


class TrainingMonitor:
    """Live metric curves and a progress bar for a training loop.

    ``total``: number of ``update`` calls expected (epochs); sizes the progress bar.
    ``metrics``: the panels to draw, in order; values for other names passed to ``update`` get
    their own panel. ``title``: bar description and figure title. ``every``: redraw the live
    plot every ``every`` updates (history and bar are updated on every call). ``x_label``: what
    one update is, on the x-axis (``"epoch"``; e.g. ``"EM iteration"`` for EM).

    Attributes: ``epochs: list[int]`` (one per update) and ``history: dict[str, list]`` with one
    entry per epoch for every metric (``None`` where a metric was not passed that epoch, NaN kept
    as NaN). ``pandas.DataFrame(mon.history, index=mon.epochs)`` gives a table.

    In a Jupyter kernel the plot is redrawn in place inside an ``ipywidgets.Output`` under a
    ``tqdm`` bar; ``close()`` (or leaving the ``with`` block, also on an error) closes these
    widgets and puts one static PNG of the final curves where they were. Outside a kernel only the
    history and a text bar are kept. ``close()`` returns the final figure; in a notebook, end the
    cell with ``mon.close();`` (semicolon) or use ``with``, else the figure shows twice.

    ``show_samples(images, caption)`` (e.g. a GAN's samples after each epoch) adds one panel right
    of the curves with the latest images as a mosaic; the live view and the final figure show it.
    ``mark(x, label)`` starts a new stage at update ``x`` (e.g. the next RBM of a DBN): the curves
    break there, and a dashed line with the label marks it.
    """

    def __init__(
        self,
        total: int,
        metrics: Sequence[str] = ("loss", "acc", "nmi"),
        title: str = "",
        every: int = 1,
        x_label: str = "epoch",
    ) -> None:
        if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
            raise ValueError(f"total={total!r}; expected the number of epochs, a positive int.")
        if isinstance(metrics, str):
            raise TypeError(
                f"metrics={metrics!r} is a single string; pass a tuple of names, e.g. ({metrics!r},)."
            )
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every={every!r}; expected a positive int (redraw every that many updates).")
        self.total = int(total)
        self.title = title
        self.every = int(every)
        self.x_label = str(x_label)
        self.epochs: list[int] = []
        self.history: dict[str, list[float | None]] = {str(name): [] for name in metrics}
        self.closed = False
        # text form of the live view and of the final image: the same, so that nbval (which
        # ignores display updates) sees the same text/plain as the saved notebook
        self._text = f"<training curves: {title}>" if title else "<training curves>"
        self._final_figure: Figure | None = None
        self.samples: np.ndarray | None = None   # the latest show_samples images, (M, H, W)
        self.segments: list[tuple[float, str]] = []   # (first update, label) of each stage, see mark()
        self.samples_caption = ""
        self._widgets = _widgets_available()
        self._handle = None
        self._output = None
        self._box = None
        if self._widgets:
            import ipywidgets
            from tqdm.notebook import tqdm as notebook_tqdm

            self._bar = notebook_tqdm(total=self.total, desc=title or "training", display=False)
            self._output = ipywidgets.Output()
            self._box = ipywidgets.VBox([self._bar.container, self._output])
            self._handle = _display_widget(self._box, self._text)
        else:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=title or "training")

    # -- recording -------------------------------------------------------------------------
    def update(self, epoch: int, **values: Any) -> None:
        """Record ``values`` (e.g. ``loss=0.31, acc=0.62``) for ``epoch``, redraw, advance the bar.

        Values may be floats, ints, NumPy scalars, 0-d/one-element tensors or None (not measured).
        NaN is recorded as NaN and shown in red on the plot; it does not stop training.
        """
        if self.closed:
            raise RuntimeError("This TrainingMonitor is closed; create a new one for another run.")
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch={epoch!r} is a {type(epoch).__name__}; expected an int.")
        if not values:
            raise ValueError("update() got no values; pass them by name, e.g. mon.update(epoch, loss=0.5).")
        converted = {name: _to_float(name, value) for name, value in values.items()}
        for name in converted:
            if name not in self.history:
                self.history[name] = [None] * len(self.epochs)
        self.epochs.append(int(epoch))
        for name, column in self.history.items():
            column.append(converted.get(name))

        postfix = {name: f"{value:.4g}" for name, value in converted.items() if value is not None}
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)
        if self._widgets and len(self.epochs) % self.every == 0:
            self._redraw()

    def mark(self, x: float, label: str) -> None:
        """A new stage begins at update ``x`` (its curves are drawn apart, with ``label`` on a dashed line)."""
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not np.isfinite(x):
            raise ValueError(f"x={x!r}; expected the (finite) number of the update where the stage starts.")
        self.segments.append((float(x), str(label)))

    def show_samples(self, images: Any, caption: str = "") -> None:
        """Show ``images`` (e.g. generated samples) next to the curves, titled ``caption``.

        ``images``: ``(M, H*W)`` with H*W a square, ``(M, H, W)`` or ``(M, 1, H, W)``, NumPy or
        torch, values in ``[0, 1]``; the first 64 are drawn, 8 per row. Each call replaces the
        previous images; the live view is redrawn (as by ``update``: every ``every`` updates) and
        the final figure of ``close()`` shows the last images given.
        """
        if self.closed:
            raise RuntimeError("This TrainingMonitor is closed; create a new one for another run.")
        if not isinstance(caption, str):
            raise TypeError(f"caption={caption!r} is a {type(caption).__name__}; expected a str.")
        self.samples = _image_stack(images, "images")[:_MAX_SAMPLES].copy()
        self.samples_caption = caption
        if self._widgets and len(self.epochs) % self.every == 0:
            self._redraw()

    def _draw_samples(self, ax: Any) -> None:
        ax.imshow(_sample_mosaic(self.samples), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(self.samples_caption or "samples", fontsize="medium")

    def figure(self) -> Figure:
        """The metric curves recorded so far (a new figure each call), and the latest samples."""
        if self.samples is not None:
            return self._figure_with_samples()
        if not self.history:  # metrics=() and nothing recorded
            fig = viz.NotebookFigure(figsize=(4.0, 1.0))
            fig.text(0.5, 0.5, "no values recorded", ha="center", va="center")
            return fig
        return viz.metric_curves(self.history, x=self.epochs, title=self.title or None,
                                 x_label=self.x_label, segments=self.segments)

    def _figure_with_samples(self) -> Figure:
        """The curves laid out as ``viz.metric_curves`` does, plus one column with the samples."""
        names = list(self.history)
        ncols = min(len(names), 3)
        nrows = math.ceil(len(names) / ncols) if names else 1
        height = 2.9 * nrows
        mosaic_h, mosaic_w = _sample_mosaic(self.samples).shape
        samples_width = float(np.clip(min(height, 4.5) * mosaic_w / mosaic_h, 1.5, 6.0))
        fig = viz.NotebookFigure(figsize=(4.0 * ncols + samples_width, height), layout="constrained")
        grid = fig.add_gridspec(nrows, ncols + 1, width_ratios=[4.0] * ncols + [samples_width])
        if names:
            axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(len(names))]
            viz.metric_curves(self.history, x=self.epochs, axes=axes, x_label=self.x_label, segments=self.segments)
        self._draw_samples(fig.add_subplot(grid[:, ncols]))
        if self.title:
            fig.suptitle(self.title)
        return fig

    def _redraw(self) -> None:
        self._output.outputs = (_png_output(self.figure(), self._text),)

    # -- closing ---------------------------------------------------------------------------
    def close(self) -> Figure:
        """Stop the bar, close the widgets and leave one static figure; returns that figure.

        Safe to call twice (the second call only returns the figure).
        """
        if self.closed and self._final_figure is not None:
            return self._final_figure
        self.closed = True
        self._bar.close()
        fig = self.figure()
        self._final_figure = fig
        if self._widgets:
            _close_widget_tree(self._box)
            # the live view becomes a plain image, in place
            self._handle.update(_png_bundle(fig, self._text), raw=True)
        elif in_notebook():
            _display_png(fig, self._text)
        return fig

    def __enter__(self) -> "TrainingMonitor":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:  # show what was recorded, but never hide the original error
            try:
                self.close()
            except Exception as close_error:  # pragma: no cover - defensive
                warnings.warn(f"TrainingMonitor.close() failed after an error: {close_error}")
        return False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"TrainingMonitor({len(self.epochs)}/{self.total} epochs, "
            f"metrics={list(self.history)}, {state})"
        )


class _SliderView:
    """What the two slider explorers share: one widget box shown with a text fallback, closed
    so that the saved notebook keeps only that text and the static figure."""

    _TEXT = ""  # what a renderer without live widgets shows in place of the sliders

    def _show_box(self, box: Any) -> None:
        self._widgets = [box]
        self._handle = _display_widget(box, self._TEXT)

    def close(self) -> None:
        """Close the slider widgets (they leave the kernel's registry); the static figure stays."""
        self._close_widgets()

    def _close_widgets(self) -> None:
        for widget in self._widgets:
            _close_widget_tree(widget)
        self._widgets = []
        if self._handle is not None:
            # drop the widget view, keep the same text (see TrainingMonitor._text)
            self._handle.update({"text/plain": self._TEXT}, raw=True)
            self._handle = None


_EXPLORER_TEXT = "<latent explorer: epoch slider; static overview below>"


class LatentExplorer(_SliderView):
    """Snapshots of a latent space during training, browsed with an epoch slider.

    ``labels``: ``(N,)`` true classes of the N points whose embeddings you will record.
    ``method``: 2-D projection, 'pca', 'tsne' (slow: seconds per snapshot) or 'none' (Z is 2-D).
    ``max_points``: the same random subset of at most this many points (fixed by ``seed`` when
    the explorer is made) is projected and drawn in every snapshot, so points can be followed
    from epoch to epoch. With 'pca' all snapshots share one projection (fitted on the points of
    every snapshot together), so the axes do not flip or turn between epochs and movement on the
    page is movement in the latent space; t-SNE has no shared projection (each snapshot is
    embedded on its own).

    Colours stay put too: a digit has the same colour in every panel, and each cluster id is
    drawn, in every snapshot, in the colour of the digit it is matched to (Hungarian matching)
    in the last snapshot recorded; the legend says "cluster → digit".

    ``x_label``: what one snapshot step is, in titles and on the slider (``"epoch"``; e.g.
    ``"iteration"`` for the Lloyd iterations of k-means).

    ``record(epoch, Z, clusters, metrics)`` stores a projected snapshot; ``show()`` displays a
    slider over the recorded epochs with the scatter plots, followed by the static overview
    ``static_figure()`` (so a headless run keeps a picture); ``close()`` closes the widgets.
    """

    _TEXT = _EXPLORER_TEXT

    def __init__(
        self,
        labels: Any,
        method: str = "pca",
        title: str = "",
        seed: int = 0,
        max_points: int | None = 2000,
        x_label: str = "epoch",
    ) -> None:
        if method not in viz.PROJECTION_METHODS:
            raise ValueError(f"method={method!r} is not known; use one of {viz.PROJECTION_METHODS}.")
        self.labels = as_labels(labels, "labels")
        self.method = method
        self.title = title
        self.x_label = str(x_label)
        self.seed = seed
        self.indices = viz.subsample_indices(len(self.labels), max_points, seed)
        self.snapshots: dict[int, dict[str, Any]] = {}
        self._shared = None
        self._widgets: list[Any] = []
        self._handle = None

    @property
    def epochs(self) -> list[int]:
        """Recorded epochs, in increasing order."""
        return sorted(self.snapshots)

    def record(
        self,
        epoch: int,
        Z: Any,
        clusters: Any = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Store a snapshot of ``Z: (N, D)`` (same points, same order as ``labels``).

        ``clusters``: ``(N,)`` cluster ids at this epoch. ``metrics``: numbers to show in the
        titles (e.g. ``evaluate(...)``); when None and ``clusters`` is given, ACC/NMI/ARI are
        computed here on all N points. Recording an epoch again replaces its snapshot.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch={epoch!r} is a {type(epoch).__name__}; expected an int.")
        points = viz.to_numpy(Z, "Z")
        n = len(self.labels)
        if points.ndim != 2 or len(points) != n:
            raise ValueError(
                f"Z has shape {points.shape}; expected ({n}, D): the embeddings of the {n} points "
                "whose labels were given to LatentExplorer, in the same order."
            )
        subset = points[self.indices].astype(np.float32)
        # project now: checks the points (NaN, too few, wrong width), and t-SNE's layout is final
        xy = viz.project_2d(subset, method=self.method, seed=self.seed)
        cluster_ids = None
        scores: dict[str, float] = {}
        if clusters is not None:
            cluster_ids = as_labels(clusters, "clusters")
            if len(cluster_ids) != n:
                raise ValueError(f"clusters has {len(cluster_ids)} entries; expected {n}, one per point.")
            if metrics is None:
                scores = evaluate(self.labels, cluster_ids)
            cluster_ids = cluster_ids[self.indices]
        if metrics is not None:
            scores = {str(k): _to_float(str(k), v) for k, v in metrics.items()}
        self.snapshots[int(epoch)] = {"xy": xy.astype(np.float32), "Z": subset,
                                      "clusters": cluster_ids, "metrics": scores}
        self._shared = None  # the shared projection is refitted with the new snapshot

    def _layout(self, epoch: int) -> np.ndarray:
        """(M, 2) positions of the drawn points at ``epoch``: one PCA for all snapshots."""
        if self.method != "pca":
            return self.snapshots[epoch]["xy"]
        if self._shared is None:
            from sklearn.decomposition import PCA

            stacked = np.concatenate([self.snapshots[e]["Z"] for e in self.epochs]).astype(np.float64)
            self._shared = PCA(n_components=2, random_state=self.seed).fit(stacked)
        return self._shared.transform(self.snapshots[epoch]["Z"].astype(np.float64))

    def cluster_to_label(self) -> dict[int, int] | None:
        """``{cluster id: digit}``: the Hungarian matching of the last snapshot with clusters."""
        for epoch in reversed(self.epochs):
            clusters = self.snapshots[epoch]["clusters"]
            if clusters is not None:
                return cluster_mapping(self.labels[self.indices], clusters)
        return None

    # -- drawing ---------------------------------------------------------------------------
    def _snapshot_title(self, epoch: int) -> str:
        scores = self.snapshots[epoch]["metrics"]
        text = f"{self.x_label} {epoch}"
        if scores:
            text += " | " + format_metrics(scores)
        return text

    def _draw(self, epoch: int, axes: Sequence[Any], title: str | None) -> None:
        """Draw one snapshot into ``axes`` (one Axes, or two when it has clusters)."""
        snap = self.snapshots[epoch]
        viz.embedding_scatter(
            self._layout(epoch),
            self.labels[self.indices],
            clusters=snap["clusters"],
            method="none",  # projected already (one projection for every snapshot)
            title=title,
            max_points=None,
            ax=list(axes),
            cluster_to_label=self.cluster_to_label() if snap["clusters"] is not None else None,
        )
        axis_name = {"pca": "PC", "tsne": "t-SNE", "none": "z"}[self.method]
        for ax in axes:
            ax.set_xlabel(f"{axis_name} 1", fontsize="small")
            ax.set_ylabel(f"{axis_name} 2", fontsize="small")

    def figure(self, epoch: int | None = None) -> Figure:
        """Scatter plots of one snapshot (default: the last one), by label and by cluster."""
        self._require_snapshots()
        epoch = self.epochs[-1] if epoch is None else int(epoch)
        if epoch not in self.snapshots:
            raise ValueError(f"epoch {epoch} was not recorded; recorded epochs: {self.epochs}.")
        n_panels = 1 if self.snapshots[epoch]["clusters"] is None else 2
        fig = viz.NotebookFigure(figsize=(5.2 * n_panels, 4.4), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(1, n_panels)))
        title = self._snapshot_title(epoch)
        self._draw(epoch, axes, title=f"{self.title} | {title}" if self.title else title)
        return fig

    def static_figure(self, epochs: Sequence[int] | None = None, max_panels: int = 6) -> Figure:
        """Grid of snapshots: one row per epoch, columns "by true label" and (if any) "by cluster".

        ``epochs``: which to show (default: up to ``max_panels`` rows chosen evenly, first and
        last included). Row titles give the epoch and its metrics (ACC, ...).
        """
        self._require_snapshots()
        if epochs is None:
            recorded = self.epochs
            if max_panels < 1:
                raise ValueError(f"max_panels={max_panels}; expected a positive int.")
            if len(recorded) <= max_panels:
                chosen = recorded
            else:
                picks = np.unique(np.round(np.linspace(0, len(recorded) - 1, max_panels)).astype(int))
                chosen = [recorded[i] for i in picks]
        else:
            chosen = [int(e) for e in epochs]
            missing = [e for e in chosen if e not in self.snapshots]
            if missing:
                raise ValueError(f"epochs {missing} were not recorded; recorded epochs: {self.epochs}.")
        with_clusters = any(self.snapshots[e]["clusters"] is not None for e in chosen)
        ncols = 2 if with_clusters else 1
        fig = viz.NotebookFigure(figsize=(4.4 * ncols, 3.3 * len(chosen)), layout="constrained")
        grid = np.array(fig.subplots(len(chosen), ncols, squeeze=False))
        for row, epoch in zip(grid, chosen):
            if self.snapshots[epoch]["clusters"] is None and with_clusters:
                row[1].set_axis_off()
                row = row[:1]
            self._draw(epoch, row, title=self._snapshot_title(epoch))
        if self.title:
            fig.suptitle(self.title)
        return fig

    def show(self) -> None:
        """Display the epoch slider with the scatter plots, then the static overview figure.

        Outside a Jupyter kernel this does nothing (use ``static_figure()`` or ``figure()``).
        """
        self._require_snapshots()
        if not in_notebook():
            return
        if _widgets_available():
            import ipywidgets

            self._close_widgets()
            epochs = self.epochs
            slider = ipywidgets.SelectionSlider(
                options=[(str(e), e) for e in epochs],
                value=epochs[-1],
                description=self.x_label,
                continuous_update=False,
                layout=ipywidgets.Layout(width="60%"),
            )
            output = ipywidgets.Output()
            rendered: dict[int, dict[str, Any]] = {}  # epoch -> PNG output, drawn once

            def redraw(change: Any = None) -> None:
                epoch = slider.value
                if epoch not in rendered:
                    rendered[epoch] = _png_output(self.figure(epoch), f"<latent space, {self.x_label} {epoch}>")
                output.outputs = (rendered[epoch],)

            redraw()
            slider.observe(redraw, names="value")
            box = ipywidgets.VBox([slider, output])
            self._show_box(box)
        _display_png(self.static_figure(), "<latent space snapshots>")

    def _require_snapshots(self) -> None:
        if not self.snapshots:
            raise ValueError("Nothing recorded yet: call explorer.record(epoch, Z, clusters) first.")

    def __repr__(self) -> str:
        return (
            f"LatentExplorer({len(self.labels)} points, {len(self.snapshots)} snapshots, "
            f"method={self.method!r})"
        )



_DECODER_TEXT = "<decoder explorer: sliders over z; static lattice below>"


class DecoderExplorer(_SliderView):
    """Sliders over a 2-D latent code ``z`` that decode an image live, next to the data in latent space.

    ``decode``: ``decode(z) -> images`` for ``z: (M, 2)`` float32 NumPy array; images ``(M, H*W)``,
    ``(M, H, W)`` or ``(M, 1, H, W)`` in ``[0, 1]`` (NumPy or torch), e.g.
    ``lambda z: torch.sigmoid(vae.decode(torch.as_tensor(z))).detach().numpy()``.
    ``Z``: ``(N, 2)`` latent codes of the data (e.g. the encoder means), ``labels``: ``(N,)``
    classes used for colour only. ``z_range``: ``((z1_min, z1_max), (z2_min, z2_max))`` covered by
    the sliders and the lattice (default: the 1st to 99th percentile of ``Z``, widened by 10%).
    ``grid_size``: images per side of the static lattice.

    ``show()`` displays the sliders with the live view (``live_png(z)``, a fast version of
    ``figure(z)``) and then the static overview ``static_figure()`` (the latent scatter next to images decoded on a lattice), so a
    headless run keeps a picture; ``close()`` closes the widgets. Outside a kernel ``show()``
    does nothing; the figures are still available.
    """

    _TEXT = _DECODER_TEXT

    def __init__(
        self,
        decode: Any,
        Z: Any,
        labels: Any,
        z_range: Sequence[Sequence[float]] | None = None,
        grid_size: int = 15,
        title: str = "",
        max_points: int | None = 2000,
        seed: int = 0,
    ) -> None:
        if not callable(decode):
            raise TypeError(f"decode must be a function z (M, 2) -> images, got {type(decode).__name__}.")
        points = viz.to_numpy(Z, "Z").astype(np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                f"Z has shape {points.shape}; expected (N, 2) latent codes. DecoderExplorer is for a 2-D "
                "latent space (for more dimensions, use LatentExplorer or a traversal)."
            )
        self.labels = as_labels(labels, "labels")
        if len(self.labels) != len(points):
            raise ValueError(f"Z has {len(points)} rows but labels has {len(self.labels)}; give one label per row.")
        if not np.isfinite(points).all():
            raise ValueError("Z contains NaN or inf; the model has probably diverged.")
        if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 2:
            raise ValueError(f"grid_size={grid_size!r}; expected an int >= 2.")
        self.decode = decode
        self.Z = points
        self.title = title
        self.grid_size = int(grid_size)
        self.seed = seed
        self.indices = viz.subsample_indices(len(points), max_points, seed)
        if z_range is None:
            lo, hi = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
            widen = 0.1 * np.maximum(hi - lo, 1e-3)
            z_range = ((lo[0] - widen[0], hi[0] + widen[0]), (lo[1] - widen[1], hi[1] + widen[1]))
        self.z_range = tuple((float(a), float(b)) for a, b in z_range)
        if len(self.z_range) != 2 or any(not a < b for a, b in self.z_range):
            raise ValueError(f"z_range={z_range!r}; expected ((z1_min, z1_max), (z2_min, z2_max)) with min < max.")
        self._widgets: list[Any] = []
        self._handle = None
        self._live: dict[str, Any] | None = None  # pre-rendered background of the live view

    # -- decoding --------------------------------------------------------------------------
    def decode_images(self, z: Any) -> np.ndarray:
        """``decode`` on ``z: (M, 2)``, as ``(M, H, W)`` float images."""
        z = np.asarray(z, dtype=np.float32).reshape(-1, 2)
        images = viz.to_numpy(self.decode(z), "decode(z)").astype(np.float64)
        if len(images) != len(z):
            raise ValueError(f"decode returned {len(images)} images for {len(z)} codes; expected one per code.")
        if images.ndim == 4 and images.shape[1] == 1:
            images = images[:, 0]
        if images.ndim == 2:
            side = int(round(math.sqrt(images.shape[1])))
            if side * side != images.shape[1]:
                raise ValueError(f"decode returned shape {images.shape}; flat images need a square size (784).")
            images = images.reshape(len(z), side, side)
        if images.ndim != 3:
            raise ValueError(f"decode returned shape {images.shape}; expected (M, H*W), (M, H, W) or (M, 1, H, W).")
        return images

    def lattice(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(images (G, G, H, W), z1_values, z2_values)``: decoded on the ``grid_size`` lattice."""
        (a1, b1), (a2, b2) = self.z_range
        z1 = np.linspace(a1, b1, self.grid_size)
        z2 = np.linspace(a2, b2, self.grid_size)
        grid = np.stack(np.meshgrid(z1, z2), axis=-1).reshape(-1, 2)  # row i: z2[i], column j: z1[j]
        images = self.decode_images(grid)
        return images.reshape(self.grid_size, self.grid_size, *images.shape[1:]), z1, z2

    # -- drawing ---------------------------------------------------------------------------
    def _scatter(self, ax: Any, title: str) -> None:
        viz.embedding_scatter(self.Z[self.indices], self.labels[self.indices], method="none",
                              max_points=None, ax=ax, title=title)
        (a1, b1), (a2, b2) = self.z_range
        ax.set_xlim(a1, b1)
        ax.set_ylim(a2, b2)

    def figure(self, z: Sequence[float] = (0.0, 0.0)) -> Figure:
        """The live view for one code ``z = (z1, z2)``: the data's codes with ``z`` marked, and ``decode(z)``."""
        z = np.asarray(z, dtype=np.float64).reshape(2)
        image = self.decode_images(z[None])[0]
        fig = viz.NotebookFigure(figsize=(7.4, 3.4), layout="constrained")
        ax_scatter, ax_image = fig.subplots(1, 2, width_ratios=(1.35, 1.0))
        self._scatter(ax_scatter, "latent codes of the data")
        ax_scatter.plot([z[0]], [z[1]], marker="X", markersize=12, color="black", markeredgecolor="white")
        ax_image.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax_image.set_title(f"decode(z), z = ({z[0]:.2f}, {z[1]:.2f})", fontsize="medium")
        ax_image.set_axis_off()
        if self.title:
            fig.suptitle(self.title)
        return fig

    def _live_background(self) -> dict[str, Any]:
        """Render the scatter panel and an empty image panel once; remember where they landed."""
        if self._live is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            fig = viz.NotebookFigure(figsize=(7.4, 3.4), dpi=90, layout="constrained")
            ax_scatter, ax_image = fig.subplots(1, 2, width_ratios=(1.35, 1.0))
            self._scatter(ax_scatter, "latent codes of the data")
            ax_image.set_title("decode(z)", fontsize="medium")
            ax_image.set_xticks([])
            ax_image.set_yticks([])
            if self.title:
                fig.suptitle(self.title)
            canvas = FigureCanvasAgg(fig)
            canvas.draw()  # fixes the layout, so the transforms below are final
            rgba = np.asarray(canvas.buffer_rgba())[..., :3].copy()
            x0, y0, x1, y1 = ax_image.get_window_extent().extents
            height = rgba.shape[0]
            self._live = {
                "rgb": rgba,
                "to_pixels": ax_scatter.transData.transform,
                "image_box": (int(height - y1) + 2, int(height - y0) - 2, int(x0) + 2, int(x1) - 2),
                "scatter_box": ax_scatter.get_window_extent().extents,
            }
        return self._live

    def live_png(self, z: Sequence[float]) -> bytes:
        """PNG of the live view for ``z``: the pre-rendered scatter with ``z`` marked, and ``decode(z)``.

        Composed in NumPy on a background rendered once, so a slider move costs a decoder call and
        a PNG encoding (milliseconds) rather than a new matplotlib figure (about 0.2 s).
        """
        import io

        from matplotlib.image import imsave

        live = self._live_background()
        rgb = live["rgb"].copy()
        height, width = rgb.shape[:2]
        # the decoded image, scaled up by a whole factor and centred in the right panel
        image = np.clip(self.decode_images(np.asarray(z, dtype=np.float32)[None])[0], 0.0, 1.0)
        r0, r1, c0, c1 = live["image_box"]
        factor = max(1, min((r1 - r0) // image.shape[0], (c1 - c0) // image.shape[1]))
        big = np.kron(image, np.ones((factor, factor)))
        top = r0 + ((r1 - r0) - big.shape[0]) // 2
        left = c0 + ((c1 - c0) - big.shape[1]) // 2
        rgb[top:top + big.shape[0], left:left + big.shape[1]] = (255 * big[..., None]).astype(np.uint8)
        # a cross at z in the scatter panel (white outline, black core), if z is inside it
        x, y = live["to_pixels"](np.asarray(z, dtype=np.float64).reshape(1, 2))[0]
        sx0, sy0, sx1, sy1 = live["scatter_box"]
        if sx0 <= x <= sx1 and sy0 <= y <= sy1:
            row, col = int(round(height - y)), int(round(x))
            for half, value in ((2, 255), (1, 0)):
                for dr, dc in ((1, 0), (0, 1)):
                    for t in range(-7, 8):
                        rr, cc = row + t * dr, col + t * dc
                        rgb[max(rr - half * dc, 0):min(rr + half * dc + 1, height),
                            max(cc - half * dr, 0):min(cc + half * dr + 1, width)] = value
        buffer = io.BytesIO()
        imsave(buffer, rgb, format="png")
        return buffer.getvalue()

    def static_figure(self) -> Figure:
        """The data's latent codes by label, next to images decoded on a regular lattice of the same area."""
        images, z1, z2 = self.lattice()
        fig = viz.NotebookFigure(figsize=(9.6, 4.2), layout="constrained")
        ax_scatter, ax_lattice = fig.subplots(1, 2)
        self._scatter(ax_scatter, "latent codes of the data")
        viz.decoded_lattice(images, z1, z2, title=f"decoded on a {self.grid_size} x {self.grid_size} lattice",
                            ax=ax_lattice)
        if self.title:
            fig.suptitle(self.title)
        return fig

    def show(self) -> None:
        """Display the sliders with the live view, then the static overview figure.

        Outside a Jupyter kernel this does nothing (use ``static_figure()`` or ``figure(z)``).
        """
        if not in_notebook():
            return
        if _widgets_available():
            import ipywidgets

            self._close_widgets()
            sliders = []
            for i, (lo, hi) in enumerate(self.z_range):
                start = float(np.clip(np.median(self.Z[:, i]), lo, hi))
                sliders.append(ipywidgets.FloatSlider(
                    value=round(start, 2), min=lo, max=hi, step=(hi - lo) / 100, description=f"z{i + 1}",
                    readout_format=".2f", continuous_update=True, layout=ipywidgets.Layout(width="60%"),
                ))
            output = ipywidgets.Output()

            def redraw(change: Any = None) -> None:
                z = (sliders[0].value, sliders[1].value)
                png = base64.b64encode(self.live_png(z)).decode("ascii")
                text = f"<decoded image at z = ({z[0]:.2f}, {z[1]:.2f})>"
                output.outputs = ({"output_type": "display_data", "metadata": {},
                                   "data": {"image/png": png, "text/plain": text}},)

            redraw()
            for slider in sliders:
                slider.observe(redraw, names="value")
            box = ipywidgets.VBox([*sliders, output])
            self._show_box(box)
        _display_png(self.static_figure(), "<latent codes and decoded lattice>")

    def __repr__(self) -> str:
        return f"DecoderExplorer({len(self.Z)} codes, z_range={self.z_range}, grid_size={self.grid_size})"


_CODE_GRID_TEXT = "<code grid explorer: sliders; static overview below>"


def _check_int(name: str, value: Any, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}; expected {what}, an int >= {minimum}.")
    return int(value)


class CodeGridExplorer(_SliderView):
    """InfoGAN's code grid: one row per value of the categorical code, a continuous code varied
    along the columns, the other codes and the noise held fixed.

    ``decode``: ``decode(cat, cont, noise) -> images`` with ``cat: (M,)`` int64 category indices,
    ``cont: (M, n_continuous)`` float32 continuous codes and ``noise: (M, noise_dim)`` float32
    (``(M, 0)`` when ``noise_dim`` is 0), all NumPy arrays; images ``(M, H*W)``, ``(M, H, W)`` or
    ``(M, 1, H, W)`` in ``[0, 1]`` (NumPy or torch), one per row of the codes.
    ``code_range``: the values the varied code runs through (``n_columns`` of them, evenly
    spaced) and the range of the sliders. ``seed``: the noise of ``static_figure()`` and the
    default of ``grid``. ``row_order``: the categories in the order of the rows (a permutation of
    ``range(n_categories)``, e.g. sorted by the digit each category is matched to). ``row_names``:
    ``{category: label}`` for the rows (e.g. ``"c = 3 → 7"``, the digit a code is matched to);
    categories it leaves out, or all when None, are labelled ``"c = k"``.

    ``grid(vary, fixed, noise_seed)`` returns the images, ``figure(...)`` draws them as one mosaic,
    ``static_figure()`` draws one panel per continuous code. ``show()`` displays a choice of the
    varied code, one slider per continuous code (the fixed values; the varied one is disabled),
    a noise-seed slider (when ``noise_dim > 0``) and the live grid, then the static figure, so a
    headless run keeps a picture; ``close()`` closes the widgets. Outside a kernel ``show()`` does
    nothing; the figures are still available.
    """

    _TEXT = _CODE_GRID_TEXT

    def __init__(
        self,
        decode: Any,
        n_categories: int,
        n_continuous: int = 2,
        noise_dim: int = 0,
        code_range: Sequence[float] = (-2.0, 2.0),
        n_columns: int = 9,
        title: str = "",
        seed: int = 0,
        row_order: Sequence[int] | None = None,
        row_names: dict[int, str] | None = None,
    ) -> None:
        if not callable(decode):
            raise TypeError(
                f"decode must be a function (cat, cont, noise) -> images, got {type(decode).__name__}."
            )
        if row_names is not None and (not isinstance(row_names, dict)
                                      or not all(isinstance(v, str) for v in row_names.values())):
            raise TypeError(f"row_names={row_names!r}; expected a dict {{category index: label (str)}}.")
        self.n_categories = _check_int("n_categories", n_categories, 1, "the number of categories")
        self.n_continuous = _check_int("n_continuous", n_continuous, 1, "the number of continuous codes")
        self.noise_dim = _check_int("noise_dim", noise_dim, 0, "the size of the noise vector")
        self.n_columns = _check_int("n_columns", n_columns, 2, "the number of values of the varied code")
        try:
            lo, hi = (float(v) for v in code_range)
        except (TypeError, ValueError):
            raise ValueError(f"code_range={code_range!r}; expected (min, max), two numbers.") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"code_range={code_range!r}; expected (min, max) with min < max.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed={seed!r}; expected an int.")
        if row_order is None:
            order = np.arange(self.n_categories)
        else:
            order = np.asarray(viz.to_numpy(row_order, "row_order"))
            if (order.ndim != 1 or order.dtype.kind not in "iu"
                    or sorted(order.tolist()) != list(range(self.n_categories))):
                raise ValueError(
                    f"row_order={row_order!r}; expected each category index 0..{self.n_categories - 1} "
                    "once, in the order of the rows."
                )
        self.decode = decode
        self.code_range = (lo, hi)
        self.title = title
        self.seed = int(seed)
        self.row_order = order.astype(np.int64)
        self.row_names = {int(k): str(v) for k, v in (row_names or {}).items()}
        self._widgets: list[Any] = []
        self._handle = None

    # -- decoding --------------------------------------------------------------------------
    @property
    def values(self) -> np.ndarray:
        """The ``n_columns`` values the varied code takes, from ``code_range[0]`` to ``code_range[1]``."""
        return np.linspace(self.code_range[0], self.code_range[1], self.n_columns)

    def _codes(self, vary: int, fixed: Sequence[float] | None) -> tuple[int, np.ndarray]:
        if isinstance(vary, bool) or not isinstance(vary, (int, np.integer)) or not 0 <= vary < self.n_continuous:
            raise ValueError(
                f"vary={vary!r}; expected the index of a continuous code, 0..{self.n_continuous - 1}."
            )
        if fixed is None:
            base = np.zeros(self.n_continuous)
        else:
            base = np.asarray(viz.to_numpy(fixed, "fixed"), dtype=np.float64)
            if base.shape != (self.n_continuous,) or not np.isfinite(base).all():
                raise ValueError(
                    f"fixed={fixed!r}; expected {self.n_continuous} finite numbers, one per continuous code "
                    "(the entry of the varied code is ignored)."
                )
        return int(vary), base

    def noise(self, noise_seed: int | None = None) -> np.ndarray:
        """The ``(noise_dim,)`` float32 noise vector of a grid: N(0, I) drawn with
        ``np.random.default_rng(noise_seed)`` (``seed`` when None)."""
        rng = np.random.default_rng(self.seed if noise_seed is None else int(noise_seed))
        return rng.standard_normal(self.noise_dim).astype(np.float32)

    def grid(self, vary: int = 0, fixed: Sequence[float] | None = None, noise_seed: int | None = None) -> np.ndarray:
        """``(n_categories, n_columns, H, W)`` images: row k has category ``row_order[k]``, column j
        sets continuous code ``vary`` to ``values[j]`` and the others to ``fixed`` (default 0); every
        image has the same noise vector (``noise(noise_seed)``)."""
        vary, base = self._codes(vary, fixed)
        rows, cols = self.n_categories, self.n_columns
        m = rows * cols
        cat = np.repeat(self.row_order, cols).astype(np.int64)            # row-major: k * cols + j
        cont = np.tile(base, (m, 1)).astype(np.float32)
        cont[:, vary] = np.tile(self.values, rows)
        noise = np.tile(self.noise(noise_seed), (m, 1)).reshape(m, self.noise_dim)
        out = self.decode(cat, cont, noise)
        if out is None:
            raise TypeError("decode returned None; it must return the images (did you forget `return`?).")
        try:
            count = len(out)
        except TypeError:
            count = None
        if count is not None and count != m:
            raise ValueError(
                f"decode returned {count} images for {m} codes; expected one image per row of cat, cont and noise."
            )
        images = _image_stack(out, "decode(cat, cont, noise)")
        return images.reshape(rows, cols, *images.shape[1:])

    # -- drawing ---------------------------------------------------------------------------
    def _draw(self, ax: Any, vary: int, fixed: Sequence[float] | None, noise_seed: int | None,
              title: str) -> None:
        images = self.grid(vary, fixed, noise_seed)
        viz.latent_traversal(images, self.values, row_labels=[self.row_names.get(int(k), f"c = {k}") for k in self.row_order],
                              ax=ax)
        lo, hi = self.code_range
        ax.set_xlabel(f"c{vary + 1}: {lo:g} ... {hi:g}", fontsize="small")
        ax.set_title(title, fontsize="medium")

    def _figsize(self, panels: int) -> tuple[float, float]:
        return (panels * (0.5 * self.n_columns + 0.9) + 0.2, 0.5 * self.n_categories + 1.2)

    def figure(self, vary: int = 0, fixed: Sequence[float] | None = None, noise_seed: int | None = None) -> Figure:
        """The code grid for one varied code, the other codes at ``fixed``, one noise vector."""
        vary, base = self._codes(vary, fixed)
        parts = [f"c{i + 1} = {base[i]:.2f}" for i in range(self.n_continuous) if i != vary]
        if self.noise_dim:
            parts.append(f"noise seed {self.seed if noise_seed is None else int(noise_seed)}")
        title = f"varying c{vary + 1}" + (f" ({', '.join(parts)})" if parts else "")
        fig = viz.NotebookFigure(figsize=self._figsize(1), layout="constrained")
        self._draw(fig.add_subplot(), vary, base, noise_seed, title)
        if self.title:
            fig.suptitle(self.title)
        return fig

    def static_figure(self) -> Figure:
        """One panel per continuous code, varied in turn; the others at 0, the noise of ``seed``."""
        n = self.n_continuous
        fig = viz.NotebookFigure(figsize=self._figsize(n), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, n))
        for i, ax in enumerate(axes):
            rest = " (others 0)" if n > 1 else ""
            self._draw(ax, i, None, None, f"varying c{i + 1}{rest}")
        if self.title:
            fig.suptitle(self.title)
        return fig

    def live_png(self, vary: int = 0, fixed: Sequence[float] | None = None, noise_seed: int | None = None) -> bytes:
        """PNG of ``figure(vary, fixed, noise_seed)``: what the live view shows."""
        return viz.figure_to_png(self.figure(vary, fixed, noise_seed))

    def show(self) -> None:
        """Display the code choice, the sliders and the live grid, then the static overview figure.

        Outside a Jupyter kernel this does nothing (use ``static_figure()`` or ``figure(...)``).
        """
        if not in_notebook():
            return
        if _widgets_available():
            import ipywidgets

            self._close_widgets()
            lo, hi = self.code_range
            names = [f"c{i + 1}" for i in range(self.n_continuous)]
            vary = ipywidgets.ToggleButtons(
                options=[(name, i) for i, name in enumerate(names)], value=0, description="vary",
                style={"button_width": "4em"},
            )
            sliders = [
                ipywidgets.FloatSlider(
                    value=0.0, min=lo, max=hi, step=(hi - lo) / 100, description=name, disabled=(i == 0),
                    readout_format=".2f", continuous_update=False, layout=ipywidgets.Layout(width="60%"),
                )
                for i, name in enumerate(names)
            ]
            noise = None
            if self.noise_dim:
                noise = ipywidgets.IntSlider(
                    value=self.seed if 0 <= self.seed <= 99 else 0, min=0, max=99, description="noise",
                    continuous_update=False, layout=ipywidgets.Layout(width="60%"),
                )
            output = ipywidgets.Output()

            def redraw(change: Any = None) -> None:
                i = vary.value
                for k, slider in enumerate(sliders):
                    slider.disabled = k == i   # the varied code runs along the columns
                fixed = [slider.value for slider in sliders]
                seed = noise.value if noise is not None else None
                png = base64.b64encode(self.live_png(i, fixed, seed)).decode("ascii")
                text = f"<code grid: c{i + 1} varied" + (f", noise seed {seed}>" if noise is not None else ">")
                output.outputs = ({"output_type": "display_data", "metadata": {},
                                   "data": {"image/png": png, "text/plain": text}},)

            redraw()
            controls = [vary, *sliders] + ([noise] if noise is not None else [])
            for control in controls:
                control.observe(redraw, names="value")
            box = ipywidgets.VBox([*controls, output])
            self._show_box(box)
        _display_png(self.static_figure(), "<code grid: one row per categorical value>")

    def __repr__(self) -> str:
        return (
            f"CodeGridExplorer({self.n_categories} categories, {self.n_continuous} continuous codes, "
            f"noise_dim={self.noise_dim}, code_range={self.code_range}, n_columns={self.n_columns})"
        )
