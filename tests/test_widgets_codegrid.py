"""Tests for the week-05 widgets: CodeGridExplorer (InfoGAN's code grid) and
TrainingMonitor.show_samples. Runs with the Agg backend; the last test runs both in a real
Jupyter kernel (nbclient).
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import viz
from course_utils.instructor.execute import execute_notebook
from course_utils.widgets import CodeGridExplorer, TrainingMonitor, in_notebook

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent
SIDE = 6


def fake_decode(cat, cont, noise):
    """A 'generator' whose image rows spell out its inputs: (M,), (M, C), (M, D) -> (M, 36).

    Row 0: cat / 10; row r (1..C): (cont[:, r-1] + 2) / 4; the last row: the first noise value
    squashed into (0, 1) (0.5 without noise).
    """
    assert cat.dtype == np.int64 and cat.ndim == 1
    assert cont.dtype == np.float32 and noise.dtype == np.float32
    assert len(cont) == len(cat) == len(noise)
    m = len(cat)
    images = np.zeros((m, SIDE, SIDE))
    images[:, 0, :] = cat[:, None] / 10
    for r in range(cont.shape[1]):
        images[:, r + 1, :] = np.clip((cont[:, r:r + 1] + 2) / 4, 0, 1)
    images[:, -1, :] = 1 / (1 + np.exp(-noise[:, :1])) if noise.shape[1] else 0.5
    return images.reshape(m, SIDE * SIDE)


def cat_of(images):
    return np.round(images[..., 0, 0] * 10).astype(int)


def code_of(images, r):
    return images[..., r + 1, 0] * 4 - 2


def noise_of(images):
    return images[..., -1, 0]


# --- CodeGridExplorer outside a kernel -------------------------------------------------------


def test_code_grid_rows_are_categories_and_columns_the_varied_code():
    explorer = CodeGridExplorer(fake_decode, n_categories=10, n_continuous=2, noise_dim=4)
    grid = explorer.grid()
    assert grid.shape == (10, 9, SIDE, SIDE)
    assert np.array_equal(cat_of(grid), np.repeat(np.arange(10)[:, None], 9, axis=1))
    assert np.allclose(code_of(grid, 0), np.linspace(-2, 2, 9)[None, :])   # c1 along the columns
    assert np.allclose(code_of(grid, 1), 0.0)                              # c2 fixed at 0
    # vary the second code, the first fixed at 1.5; the entry of the varied code is ignored
    grid = explorer.grid(vary=1, fixed=[1.5, 99.0])
    assert np.allclose(code_of(grid, 1), np.linspace(-2, 2, 9)[None, :])
    assert np.allclose(code_of(grid, 0), 1.5)


def test_code_grid_row_order_range_and_columns():
    order = [3, 1, 0, 2]
    explorer = CodeGridExplorer(fake_decode, 4, n_continuous=1, code_range=(-1.0, 1.0), n_columns=5,
                                row_order=order)
    grid = explorer.grid()
    assert grid.shape == (4, 5, SIDE, SIDE)
    assert np.array_equal(cat_of(grid)[:, 0], order)
    assert np.allclose(code_of(grid, 0)[0], [-1, -0.5, 0, 0.5, 1])
    ax = explorer.figure().axes[0]
    # rows are labelled with the category shown, columns with the code's values
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c = 3", "c = 1", "c = 0", "c = 2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-1", "-0.5", "0", "0.5", "1"]
    assert ax.get_xlabel() == "c1: -1 ... 1"
    # with names (the digit each code is matched to), the rows say which digit they show
    named = CodeGridExplorer(fake_decode, 4, n_continuous=1, row_order=order, row_names={3: "c = 3 → 7", 0: "c = 0 → 1"})
    labels = [t.get_text() for t in named.figure().axes[0].get_yticklabels()]
    assert labels == ["c = 3 → 7", "c = 1", "c = 0 → 1", "c = 2"]
    with pytest.raises(TypeError, match="row_names"):
        CodeGridExplorer(fake_decode, 4, row_names=["a", "b"])


def test_code_grid_noise_is_shared_and_follows_the_seed():
    explorer = CodeGridExplorer(fake_decode, 5, noise_dim=3, seed=7)
    noise = noise_of(explorer.grid())
    assert np.allclose(noise, noise[0, 0])                                  # one vector for the grid
    expected = np.random.default_rng(7).standard_normal(3).astype(np.float32)
    assert np.array_equal(explorer.noise(), expected)
    assert noise[0, 0] == pytest.approx(1 / (1 + np.exp(-expected[0])))
    assert np.allclose(noise_of(explorer.grid(noise_seed=7)), noise)        # None -> seed
    other = noise_of(explorer.grid(noise_seed=8))
    assert np.allclose(other, other[0, 0]) and not np.allclose(other, noise)
    assert np.array_equal(explorer.grid(noise_seed=8), explorer.grid(noise_seed=8))  # reproducible


def test_code_grid_without_noise_gets_an_empty_noise_array():
    seen = {}

    def decode(cat, cont, noise):
        seen["noise"] = noise.shape
        return torch.as_tensor(fake_decode(cat, cont, noise)).reshape(-1, 1, SIDE, SIDE)  # torch, (M, 1, H, W)

    explorer = CodeGridExplorer(decode, 3, n_continuous=2, noise_dim=0, n_columns=4)
    assert explorer.grid().shape == (3, 4, SIDE, SIDE)
    assert seen["noise"] == (12, 0)


def test_code_grid_figures():
    assert not in_notebook()
    explorer = CodeGridExplorer(fake_decode, 10, n_continuous=3, noise_dim=2, title="InfoGAN")
    fig = explorer.figure(vary=2, fixed=[0.5, -1.0, 0.0], noise_seed=4)
    assert isinstance(fig, viz.NotebookFigure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "c3: -2 ... 2"
    assert ax.get_title() == "varying c3 (c1 = 0.50, c2 = -1.00, noise seed 4)"
    assert fig._suptitle.get_text() == "InfoGAN"
    assert ax.images[0].get_array().shape == (10 * (SIDE + 1) - 1, 9 * (SIDE + 1) - 1)   # one mosaic
    static = explorer.static_figure()
    assert isinstance(static, Figure) and len(static.axes) == 3                # one panel per code
    assert [a.get_xlabel() for a in static.axes] == ["c1: -2 ... 2", "c2: -2 ... 2", "c3: -2 ... 2"]
    png = explorer.live_png(1, [0.0, 0.0, 1.0], 3)
    assert png.startswith(b"\x89PNG")
    assert png != explorer.live_png(1, [0.0, 0.0, 1.0], 4)                  # another noise, another grid
    from matplotlib.image import imread

    assert imread(io.BytesIO(png)).ndim == 3
    assert explorer.show() is None                                           # nothing outside a kernel
    explorer.close()
    assert repr(explorer).startswith("CodeGridExplorer(10 categories, 3 continuous codes, noise_dim=2")


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"decode": "generator"}, TypeError, "decode must be a function"),
        ({"n_categories": 0}, ValueError, "n_categories=0"),
        ({"n_continuous": 0}, ValueError, "n_continuous=0"),
        ({"noise_dim": -1}, ValueError, "noise_dim=-1"),
        ({"code_range": (2.0, -2.0)}, ValueError, "min < max"),
        ({"code_range": (1.0, 1.0)}, ValueError, "min < max"),
        ({"code_range": 2.0}, ValueError, r"expected \(min, max\)"),
        ({"n_columns": 1}, ValueError, "n_columns=1"),
        ({"row_order": [0, 1, 1]}, ValueError, "each category index 0..2 once"),
        ({"row_order": [0, 1]}, ValueError, "each category index 0..2 once"),
    ],
)
def test_code_grid_bad_arguments(kwargs, error, pattern):
    args = {"decode": fake_decode, "n_categories": 3, **kwargs}
    with pytest.raises(error, match=pattern):
        CodeGridExplorer(**args)


def test_code_grid_bad_calls_and_bad_decoders():
    explorer = CodeGridExplorer(fake_decode, 3, n_continuous=2)
    with pytest.raises(ValueError, match="vary=2; expected the index of a continuous code, 0..1"):
        explorer.grid(vary=2)
    with pytest.raises(ValueError, match="fixed=.*expected 2 finite numbers"):
        explorer.grid(fixed=[1.0])
    few = CodeGridExplorer(lambda cat, cont, noise: np.zeros((1, 36)), 3)
    with pytest.raises(ValueError, match="decode returned 1 images for 27 codes"):
        few.grid()
    with pytest.raises(TypeError, match="decode returned None"):
        CodeGridExplorer(lambda cat, cont, noise: None, 3).grid()
    with pytest.raises(ValueError, match=r"expected images in \[0, 1\].*\(x \+ 1\) / 2"):
        CodeGridExplorer(lambda cat, cont, noise: -np.ones((len(cat), 36)), 3).static_figure()
    with pytest.raises(ValueError, match="not a square"):
        CodeGridExplorer(lambda cat, cont, noise: np.zeros((len(cat), 30)), 3).grid()


# --- TrainingMonitor.show_samples -------------------------------------------------------------


def monitor(epochs=3, metrics=("d_loss", "g_loss", "acc")):
    mon = TrainingMonitor(total=epochs, metrics=metrics, title="GAN")
    for epoch in range(1, epochs + 1):
        mon.update(epoch, **{name: 1.0 / epoch for name in metrics})
    return mon


def test_show_samples_adds_one_panel_right_of_the_curves():
    plain = monitor().close()
    mon = monitor()
    samples = torch.rand(100, 1, 28, 28)
    mon.show_samples(samples[:10], caption="samples after epoch 2")
    mon.show_samples(samples, caption="samples after epoch 3")            # replaces the previous ones
    assert mon.samples.shape == (64, 28, 28)                               # the first 64 are kept
    assert mon.samples_caption == "samples after epoch 3"
    fig = mon.close()
    assert len(fig.axes) == len(plain.axes) + 1
    curves, panel = fig.axes[:-1], fig.axes[-1]
    assert [ax.get_title() for ax in curves] == [ax.get_title() for ax in plain.axes]
    assert panel.get_title() == "samples after epoch 3"
    mosaic = panel.images[0].get_array()
    assert mosaic.shape == (8 * 29 - 1, 8 * 29 - 1)                        # 8 x 8 tiles
    assert np.allclose(mosaic[29:57, :28], samples[8, 0].numpy())          # row-major, 8 per row
    right = max(ax.get_position().x1 for ax in curves)
    assert panel.get_position().x0 >= right                               # to the right of the curves
    assert fig._suptitle.get_text() == "GAN"
    assert mon.close() is fig
    with pytest.raises(RuntimeError, match="closed"):
        mon.show_samples(samples)


def test_show_samples_shapes_and_partial_rows():
    mon = monitor(metrics=("loss",))
    mon.show_samples(np.random.default_rng(0).random((5, 64)))            # flat 8x8, one short row
    panel = mon.figure().axes[-1]
    assert panel.get_title() == "samples"
    assert panel.images[0].get_array().shape == (8, 5 * 9 - 1)
    mon.show_samples(np.zeros((11, 7, 7), dtype=np.float32))              # (M, H, W): two rows of 8
    mosaic = mon.figure().axes[-1].images[0].get_array()
    assert mosaic.shape == (2 * 8 - 1, 8 * 8 - 1)
    assert np.all(mosaic[8:, 3 * 8:] == 1.0)                               # missing tiles are blank
    mon.close()
    empty = TrainingMonitor(total=1, metrics=())
    empty.show_samples(np.ones((4, 16)))
    assert len(empty.close().axes) == 1                                     # only the samples


@pytest.mark.parametrize(
    "images, error, pattern",
    [
        (np.zeros((4, 30)), ValueError, "not a square"),
        (np.zeros((4, 3, 8, 8)), ValueError, r"expected grey images \(M, H\*W\), \(M, H, W\) or \(M, 1, H, W\)"),
        (np.zeros(16), ValueError, "expected grey images"),
        (np.zeros((0, 16)), ValueError, "no images"),
        (-np.ones((4, 16)), ValueError, r"values from -1 to -1; expected images in \[0, 1\]"),
        (np.full((4, 16), np.nan), ValueError, "NaN or inf"),
        ("samples", TypeError, "expected an array or tensor"),
        (None, TypeError, "expected an array or tensor"),
        (np.array([["a"] * 16] * 4), TypeError, "expected numbers"),
    ],
)
def test_show_samples_rejects_bad_images(images, error, pattern):
    mon = monitor(metrics=("loss",))
    with pytest.raises(error, match=pattern):
        mon.show_samples(images)
    with pytest.raises(TypeError, match="caption=3"):
        mon.show_samples(np.zeros((2, 16)), caption=3)
    assert mon.samples is None
    assert len(mon.close().axes) == 1


def test_no_samples_no_change():
    """Without show_samples the figure is metric_curves' own, to the byte (weeks 01-04 unchanged)."""
    mon = monitor(metrics=("loss", "acc", "nmi", "ari"))
    expected = viz.metric_curves(mon.history, x=mon.epochs, title="GAN")
    fig = mon.close()
    assert mon.samples is None and len(fig.axes) == 4
    assert viz.figure_to_png(fig) == viz.figure_to_png(expected)


# --- in a real kernel -----------------------------------------------------------------------

KERNEL_CELL = """\
import sys
sys.path.insert(0, {repo!r})
sys.path.insert(0, {tests!r})
import numpy as np
import ipywidgets
from test_widgets_codegrid import fake_decode
from course_utils.widgets import CodeGridExplorer, TrainingMonitor
open_before = len(ipywidgets.widgets.widget._instances)
with TrainingMonitor(total=2, metrics=("loss",), title="gan") as mon:
    for epoch in (1, 2):
        mon.update(epoch, loss=1.0 / epoch)
        mon.show_samples(np.full((9, 16), 0.1 * epoch), caption=f"samples after epoch {{epoch}}")
        live = mon._output.outputs[0]["data"]
        print("monitor live view:", len(mon._output.outputs), live["text/plain"], "image/png" in live)
explorer = CodeGridExplorer(fake_decode, 4, n_continuous=2, noise_dim=3, n_columns=5)
explorer.show()
box = explorer._widgets[0]
vary, c1, c2, noise, output = box.children
print("controls:", type(vary).__name__, c1.description, c1.disabled, c2.description, c2.disabled, noise.description)
before = output.outputs[0]["data"]["image/png"]
noise.value = 5
after_noise = output.outputs[0]["data"]
print("noise move changes the image:", after_noise["image/png"] != before, after_noise["text/plain"])
vary.value = 1
print("after vary=c2:", c1.disabled, c2.disabled, output.outputs[0]["data"]["text/plain"])
c1.value = 1.0
print("c1 move changes the image:", output.outputs[0]["data"]["image/png"] != after_noise["image/png"])
explorer.close()
print("widgets left open:", len(ipywidgets.widgets.widget._instances) - open_before)
"""


@pytest.mark.kernel
def test_monitor_samples_and_code_grid_in_a_jupyter_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(KERNEL_CELL.format(repo=str(REPO), tests=str(REPO / "tests")))]
    execute_notebook(nb, cwd=tmp_path, timeout=120)
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], [o.get("evalue") for o in outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert text.count("monitor live view: 1 <training curves: gan> True") == 2
    assert "controls: ToggleButtons c1 True c2 False noise" in text
    assert "noise move changes the image: True <code grid: c1 varied, noise seed 5>" in text
    assert "after vary=c2: False True <code grid: c2 varied, noise seed 5>" in text
    assert "c1 move changes the image: True" in text
    assert "widgets left open: 0" in text
    displays = [o for o in outputs if o.output_type == "display_data"]
    # the monitor left one image (curves + samples); the explorer its text form and the static grid
    assert "image/png" in displays[0].data and displays[0].data["text/plain"] == "<training curves: gan>"
    assert displays[-2].data == {"text/plain": "<code grid explorer: sliders; static overview below>"}
    assert displays[-1].data["text/plain"] == "<code grid: one row per categorical value>"
    assert "image/png" in displays[-1].data
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_monitor_stages_break_the_curves_and_are_marked():
    """A DBN's layers, one after another: each stage is its own line, with a dashed mark and its label."""
    mon = TrainingMonitor(total=6, metrics=("recon_error",), title="DBN")
    for layer in (1, 2):
        mon.mark((layer - 1) * 3 + 1, f"RBM {layer}")
        for epoch in range(1, 4):
            mon.update((layer - 1) * 3 + epoch, recon_error=1.0 / epoch + layer)
    ax = mon.close().axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert [list(line.get_xdata()) for line in lines] == [[1, 2, 3], [4, 5, 6]]   # no line across the boundary
    assert {t.get_text() for t in ax.texts} >= {"RBM 1", "RBM 2"}
    with pytest.raises(ValueError, match="x="):
        mon.mark(float("nan"), "bad")
