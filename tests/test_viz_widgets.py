"""Tests for course_utils.viz (figures) and course_utils.widgets (training monitor, latent explorer).

Runs with the Agg backend; the last test executes both widgets in a real Jupyter kernel (nbclient).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from course_utils import viz
from course_utils.metrics import cluster_acc
from course_utils.instructor.execute import execute_notebook
from course_utils.widgets import LatentExplorer, TrainingMonitor, in_notebook

matplotlib.use("Agg")  # before anything imports pyplot

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def blobs():
    """300 points in 6-D around 3 centres, true labels and a noisy clustering with 4 clusters."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    Z = rng.normal(size=(300, 6)) + 4 * np.eye(6)[labels]
    clusters = np.where(rng.random(300) < 0.1, 3, labels)
    return Z, labels, clusters


def n_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections)


def no_pyplot_figures() -> bool:
    import matplotlib.pyplot as plt

    return plt.get_fignums() == []


# --- viz -------------------------------------------------------------------------------------


def test_figures_show_as_png_and_bypass_pyplot(blobs):
    Z, labels, _ = blobs
    fig = viz.embedding_scatter(Z, labels)
    assert isinstance(fig, Figure) and isinstance(fig, viz.NotebookFigure)
    assert fig._repr_png_().startswith(b"\x89PNG")
    assert no_pyplot_figures()


def test_project_2d_methods_and_subsample(blobs):
    Z, _, _ = blobs
    assert viz.project_2d(Z).shape == (300, 2)
    assert viz.project_2d(torch.tensor(Z, dtype=torch.float32), method="pca").shape == (300, 2)
    with threadpool_limits(1):  # OpenMP spin-waits can make t-SNE crawl on a busy 2-core box
        assert viz.project_2d(Z[:60], method="tsne").shape == (60, 2)
    assert np.array_equal(viz.project_2d(Z[:, :2], method="none"), Z[:, :2])
    sub = viz.project_2d(Z, max_points=50, seed=3)
    idx = viz.subsample_indices(300, 50, seed=3)
    assert sub.shape == (50, 2)
    assert np.allclose(sub, viz.project_2d(Z[idx]))
    assert np.array_equal(idx, viz.subsample_indices(300, 50, seed=3))  # deterministic
    assert np.array_equal(viz.subsample_indices(10, 50), np.arange(10))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"method": "umap"}, r"method='umap' is not known"),
        ({"method": "none"}, r"method='none' needs Z of shape \(N, 2\), got \(300, 6\)"),
    ],
)
def test_project_2d_bad_method(blobs, kwargs, pattern):
    Z, _, _ = blobs
    with pytest.raises(ValueError, match=pattern):
        viz.project_2d(Z, **kwargs)


def test_project_2d_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(5, 1, 4, 4\).*reshape"):
        viz.project_2d(np.zeros((5, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"at least 2 features"):
        viz.project_2d(np.zeros((5, 1)))
    Z = np.ones((5, 3))
    Z[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(first in row 2\)"):
        viz.project_2d(Z)


def test_embedding_scatter_panels_and_subsample(blobs):
    Z, labels, clusters = blobs
    one = viz.embedding_scatter(Z, labels)
    assert len(one.axes) == 1 and one.axes[0].get_title() == "by true label"
    two = viz.embedding_scatter(torch.tensor(Z), torch.tensor(labels), clusters, title="t", max_points=100)
    assert len(two.axes) == 2
    assert [ax.get_title() for ax in two.axes] == ["by true label", "by cluster"]
    assert all(n_points(ax) == 100 for ax in two.axes)
    assert two.axes[1].get_legend() is not None
    many = viz.embedding_scatter(Z, labels, np.arange(300) % 25)  # > 20 clusters: colour bar
    assert len(many.axes) == 3
    pre = viz.embedding_scatter(Z[:, :2], labels, method="none")
    assert pre.axes[0].get_xlabel() == "z 1"


def test_embedding_scatter_into_given_axes(blobs):
    Z, labels, clusters = blobs
    fig = viz.NotebookFigure()
    axes = fig.subplots(1, 2)
    assert viz.embedding_scatter(Z, labels, clusters, ax=axes, title="epoch 3") is fig
    assert axes[1].get_title() == "epoch 3\nby cluster"
    with pytest.raises(ValueError, match="got 1 Axes for 2 panel"):
        viz.embedding_scatter(Z, labels, clusters, ax=axes[0])
    with pytest.raises(ValueError, match="Z has 300 rows but labels has 10"):
        viz.embedding_scatter(Z, labels[:10])


@pytest.mark.parametrize(
    "shape, expected_hw",
    [((6, 784), (28, 28)), ((5, 64), (8, 8)), ((4, 1, 12, 12), (12, 12)), ((7, 10, 9), (10, 9)),
     ((3, 3, 8, 8), (8, 8, 3))],
)
def test_image_grid_shapes(shape, expected_hw):
    images = torch.rand(*shape)
    fig = viz.image_grid(images, title="samples")
    assert len(fig.axes) == shape[0]
    assert fig.axes[0].images[0].get_array().shape == expected_hw


def test_image_grid_rows_titles_and_errors():
    images = np.random.default_rng(0).random((12, 784))
    fig = viz.image_grid(images, nrow=4, titles=list(range(12)), row_labels=["a", "b", "c"])
    assert len(fig.axes) == 12
    assert fig.axes[4].get_ylabel() == "b" and fig.axes[5].get_title() == "5"
    assert len(viz.image_grid(images, row_labels=["x", "y"]).axes) == 12  # 6 per row
    with pytest.raises(ValueError, match=r"but 50 is not a square"):
        viz.image_grid(np.zeros((3, 50)))
    with pytest.raises(ValueError, match=r"expected \(N, H, W\)"):
        viz.image_grid(np.zeros((3, 5, 8, 8)))
    with pytest.raises(ValueError, match=r"row_labels has 2 entries but the grid has 3 rows"):
        viz.image_grid(images, nrow=4, row_labels=["a", "b"])
    with pytest.raises(ValueError, match=r"titles has 2 entries for 12 images"):
        viz.image_grid(images, titles=["a", "b"])


def test_metric_curves_panels_none_and_nan():
    history = {"loss": [1.0, 0.5, float("nan"), 0.2], "acc": [None, 0.5, None, 0.7], "nmi": [0.1, 0.2, 0.3, 0.4],
               "ari": [0.0, 0.1, 0.2, np.float32(0.3)]}
    fig = viz.metric_curves(history, x=[0, 1, 2, 3], title="run")
    assert len(fig.axes) == 4
    loss_ax, acc_ax = fig.axes[0], fig.axes[1]
    assert "NaN/inf at epoch 2" in loss_ax.get_title()
    assert acc_ax.get_title() == "acc: 0.7"
    assert len(acc_ax.lines[0].get_xdata()) == 2  # None skipped
    assert len(viz.metric_curves({"loss": [0.3]}).axes) == 1
    with pytest.raises(ValueError, match=r"history\['acc'\] has 2 values but x has 3"):
        viz.metric_curves({"loss": [1, 2, 3], "acc": [1, 2]})
    with pytest.raises(ValueError, match="non-empty dict"):
        viz.metric_curves({})


@pytest.mark.parametrize("epochs", [[1], [1, 2], list(range(1, 16))])
def test_metric_curves_tick_whole_epochs(epochs):
    # a live monitor after its first epoch used to tick 0.5, 0.6, ..., 1.5 (seen in the browser test)
    fig = viz.metric_curves({"loss": [1.0] * len(epochs)}, x=epochs)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


@pytest.mark.parametrize("n_clusters", [3, 5, 2])
def test_confusion_matrix_diagonal_is_the_matching(n_clusters):
    rng = np.random.default_rng(n_clusters)
    y_true = rng.integers(0, 3, 200)
    y_pred = (y_true + (rng.random(200) < 0.2)) % n_clusters
    fig = viz.confusion_matrix_plot(torch.tensor(y_true), y_pred)
    assert len(fig.axes) == 2  # matrix + colour bar
    matrix = np.asarray(fig.axes[0].images[0].get_array())
    assert matrix.sum() == 200
    assert np.trace(matrix) == round(cluster_acc(y_true, y_pred) * 200)
    raw = np.asarray(viz.confusion_matrix_plot(y_true, y_pred, mapped=False).axes[0].images[0].get_array())
    assert raw.shape == (3, len(np.unique(y_pred)))


# --- TrainingMonitor (outside a kernel: history + text bar) ------------------------------------


def test_training_monitor_records_history():
    assert not in_notebook()
    mon = TrainingMonitor(total=4, title="test")
    mon.update(1, loss=1.0, acc=np.float64(0.5), nmi=torch.tensor(0.25))
    mon.update(2, loss=torch.tensor([0.5]), acc=0.6)  # nmi not measured this epoch
    mon.update(3, loss=float("nan"), acc=0.7, nmi=0.3, ari=np.float32(0.125))  # a new metric
    assert mon.epochs == [1, 2, 3]
    assert mon.history["acc"] == [0.5, 0.6, 0.7]
    assert mon.history["nmi"] == [0.25, None, pytest.approx(0.3)]
    assert mon.history["ari"] == [None, None, 0.125]
    assert math.isnan(mon.history["loss"][2])
    assert all(type(v) is float for v in mon.history["loss"])
    fig = mon.close()
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "NaN" in fig.axes[0].get_title()
    assert mon.close() is fig  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        mon.update(4, loss=0.1)


def test_training_monitor_context_manager_closes_on_error():
    with pytest.raises(ZeroDivisionError):
        with TrainingMonitor(total=10, metrics=("loss",)) as mon:
            mon.update(1, loss=0.9)
            1 / 0
    assert mon.closed
    assert len(mon.close().axes) == 1


def test_training_monitor_bad_values():
    mon = TrainingMonitor(total=2, every=2)
    with pytest.raises(TypeError, match=r"loss has shape \(3,\).*loss.item\(\)"):
        mon.update(1, loss=torch.ones(3))
    with pytest.raises(TypeError, match="acc='high' is a str"):
        mon.update(1, acc="high")
    with pytest.raises(TypeError, match="epoch=1.5"):
        mon.update(1.5, loss=0.1)
    with pytest.raises(ValueError, match="no values"):
        mon.update(1)
    assert mon.epochs == []
    mon.close()
    with pytest.raises(ValueError, match="total=0"):
        TrainingMonitor(total=0)
    with pytest.raises(TypeError, match="single string"):
        TrainingMonitor(total=3, metrics="loss")


# --- LatentExplorer ----------------------------------------------------------------------------


def test_latent_explorer_snapshots_share_the_subsample(blobs):
    Z, labels, clusters = blobs
    explorer = LatentExplorer(torch.tensor(labels), method="none", max_points=120, seed=1)
    for epoch in range(1, 11):
        Z2 = Z[:, :2] * epoch
        explorer.record(epoch, torch.tensor(Z2), clusters=clusters if epoch > 1 else None)
    assert explorer.epochs == list(range(1, 11))
    assert len(explorer.indices) == 120
    for epoch, snap in explorer.snapshots.items():
        assert np.allclose(snap["xy"], Z[explorer.indices, :2] * epoch)  # same points every time
    assert explorer.snapshots[1]["metrics"] == {}
    assert explorer.snapshots[5]["metrics"]["acc"] == pytest.approx(cluster_acc(labels, clusters))

    fig = explorer.static_figure(max_panels=4)  # epochs 1, 4, 7, 10
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 8
    assert titles[0].startswith("epoch 1\n") and titles[-1].startswith("epoch 10 | ACC")
    assert len(explorer.static_figure(epochs=[2, 3]).axes) == 4
    assert len(explorer.figure(3).axes) == 2
    assert explorer.show() is None  # no kernel: nothing to display
    explorer.close()


def test_latent_explorer_pca_metrics_and_errors(blobs):
    Z, labels, clusters = blobs
    explorer = LatentExplorer(labels, max_points=100)
    with pytest.raises(ValueError, match="Nothing recorded yet"):
        explorer.static_figure()
    explorer.record(0, Z, clusters=clusters, metrics={"acc": 0.5, "loss": torch.tensor(1.5)})
    explorer.record(0, Z, clusters=clusters, metrics={"acc": 0.6})  # same epoch again: replaced
    assert explorer.epochs == [0] and explorer.snapshots[0]["metrics"] == {"acc": 0.6}
    fig = explorer.static_figure()
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "PC 1"
    with pytest.raises(ValueError, match=r"Z has shape \(10, 6\); expected \(300, D\)"):
        explorer.record(1, Z[:10])
    with pytest.raises(ValueError, match=r"epochs \[7\] were not recorded"):
        explorer.static_figure(epochs=[7])
    with pytest.raises(ValueError, match="method='umap'"):
        LatentExplorer(labels, method="umap")


# --- both widgets in a real Jupyter kernel -------------------------------------------------------

SETUP_AND_MONITOR = """\
import sys
sys.path.insert(0, {repo!r})
import numpy as np
import ipywidgets
from course_utils.widgets import TrainingMonitor, LatentExplorer
open_before = len(ipywidgets.widgets.widget._instances)
rng = np.random.default_rng(0)
labels = rng.integers(0, 3, 300)
with TrainingMonitor(total=4, title="demo") as mon:
    for epoch in range(1, 5):
        mon.update(epoch, loss=1.0 / epoch, acc=0.5 + 0.1 * epoch, nmi=float("nan") if epoch == 2 else 0.3)
"""

EXPLORER = """\
explorer = LatentExplorer(labels, max_points=200)
for epoch in (1, 2, 3):
    explorer.record(epoch, rng.normal(size=(300, 5)) + labels[:, None] * epoch, clusters=labels)
explorer.show()
explorer.close()
print("widgets left open:", len(ipywidgets.widgets.widget._instances) - open_before)
"""

RETURNED_FIGURE = """\
import matplotlib.pyplot as plt
from course_utils.viz import metric_curves
metric_curves({"loss": [1.0, 0.5]})
"""


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory):
    """The three cells above run in a real kernel by nbclient; returns (notebook, its path)."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP_AND_MONITOR.format(repo=str(REPO))),
        nbformat.v4.new_code_cell(EXPLORER),
        nbformat.v4.new_code_cell(RETURNED_FIGURE),
    ]
    folder = tmp_path_factory.mktemp("kernel")
    # the same execution as `course execute`: this env's kernel, inline figures, and
    # store_widget_state=False (JupyterLab's default "save widget state: off")
    execute_notebook(nb, cwd=folder, timeout=60)
    path = folder / "widgets.ipynb"
    nbformat.write(nb, str(path))
    return nb, path


@pytest.mark.kernel
def test_widgets_in_a_jupyter_kernel(executed_notebook):
    nb, _ = executed_notebook
    outputs = [out for cell in nb.cells for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    # the live monitor was replaced in place by exactly one static figure
    monitor_outputs = nb.cells[0].outputs
    assert len(monitor_outputs) == 1
    assert monitor_outputs[0].data["text/plain"] == "<training curves: demo>"
    assert monitor_outputs[0].data["image/png"]
    explorer_pngs = [out for out in nb.cells[1].outputs if "image/png" in out.get("data", {})]
    assert len(explorer_pngs) == 1
    # no widget views left in the saved outputs, no widget state in the metadata
    assert not any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in outputs)
    assert "widgets" not in nb.metadata
    # no widget reprs or memory addresses in text outputs, and every widget was closed
    texts = [out.get("text", "") + out.get("data", {}).get("text/plain", "") for out in outputs]
    assert not any(" at 0x" in t or "Box(" in t or "Output(" in t for t in texts)
    assert "widgets left open: 0" in "".join(texts)
    # a figure returned by a viz function is shown once, as a PNG, even with pyplot imported
    returned = nb.cells[2].outputs
    assert len(returned) == 1 and "image/png" in returned[0].data


@pytest.mark.kernel
def test_executed_widgets_pass_nbval(executed_notebook):
    """CI re-runs committed notebooks with nbval, which ignores display updates: still equal."""
    pytest.importorskip("nbval")
    _, path = executed_notebook
    # the caller's PYTEST_ADDOPTS may name this suite's own options (--quick, --record-durations),
    # which a pytest run outside it does not know
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTEST_ADDOPTS")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", path.name, "-q", "-p", "no:cacheprovider"],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_metric_curves_and_monitor_name_the_step_on_the_x_axis():
    fig = viz.metric_curves({"ll": [1.0, float("nan")]}, x_label="EM iteration")
    assert fig.axes[0].get_xlabel() == "EM iteration"
    assert "NaN/inf at EM iteration 2" in fig.axes[0].get_title()
    assert viz.metric_curves({"ll": [1.0]}).axes[0].get_xlabel() == "epoch"
    mon = TrainingMonitor(total=2, metrics=("ll",), x_label="EM iteration")
    mon.update(1, ll=0.5)
    assert mon.close().axes[0].get_xlabel() == "EM iteration"


def test_cluster_panel_colours_clusters_by_their_matched_digit():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 400)
    clusters = (labels + 3) % 10                     # a perfect clustering with other ids
    Z = rng.normal(size=(400, 5)) + labels[:, None]
    fig = viz.embedding_scatter(Z, labels, clusters, max_points=None)
    by_label, by_cluster = (ax.collections[0].get_facecolors() for ax in fig.axes[:2])
    assert np.allclose(by_label, by_cluster)         # same colour for the same images
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "3 \u2192 0" in texts and fig.axes[1].get_legend().get_title().get_text() == "cluster \u2192 label"
    # labels keep their own colour whichever digits are present
    only = viz.embedding_scatter(Z[labels >= 5], labels[labels >= 5], max_points=None)
    colours = only.axes[0].collections[0].get_facecolors()
    first5 = np.flatnonzero(labels[labels >= 5] == 5)[0]
    assert np.allclose(colours[first5], by_label[np.flatnonzero(labels == 5)[0]])


def test_latent_explorer_uses_one_projection_and_fixed_cluster_colours():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 300)
    Z = rng.normal(size=(300, 6)) + 3 * labels[:, None] * rng.normal(size=6)
    explorer = LatentExplorer(labels, max_points=None)
    explorer.record(0, Z, labels)
    explorer.record(1, Z * 1.0, (labels + 1) % 10)
    assert np.allclose(explorer._layout(0), explorer._layout(1))   # same points, same place
    explorer.record(2, Z + 5.0, (labels + 1) % 10)
    shift = explorer._layout(2) - explorer._layout(0)
    assert np.allclose(shift, shift[0], atol=1e-6)                 # a translation stays one
    assert explorer.cluster_to_label() == {(k + 1) % 10: k for k in range(10)}
    fig = explorer.static_figure()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    cluster_legends = [lg for lg in legends if lg.get_title().get_text().startswith("cluster")]
    # epoch 0's clusters (ids = labels) are drawn with the matching of the last snapshot
    assert "0 \u2192 9" in [t.get_text() for t in cluster_legends[0].get_texts()]


def test_latent_explorer_names_its_step():
    labels = np.arange(30) % 3
    explorer = LatentExplorer(labels, max_points=None, x_label="iteration")
    explorer.record(4, np.random.default_rng(0).normal(size=(30, 3)), labels)
    assert explorer.figure().axes[0].get_title().startswith("iteration 4")
