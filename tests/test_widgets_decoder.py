"""Tests for the week-02 figures (viz.image_mosaic, latent_traversal, decoded_lattice) and the
DecoderExplorer widget. Runs with the Agg backend; the last tests run the widget in a real
Jupyter kernel (nbclient) and check the saved notebook with nbval.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import viz
from course_utils.instructor.execute import execute_notebook
from course_utils.widgets import DecoderExplorer, in_notebook

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent


def fake_decode(z):
    """A 'decoder' whose image is a bright square whose position follows z: (M, 2) -> (M, 64)."""
    z = np.asarray(z, dtype=np.float64)
    images = np.zeros((len(z), 8, 8))
    for i, (a, b) in enumerate(z):
        col = int(np.clip(np.round(a + 3.5), 0, 7))
        row = int(np.clip(np.round(3.5 - b), 0, 7))
        images[i, row, col] = 1.0
    return images.reshape(len(z), 64)


@pytest.fixture
def codes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 500)
    Z = rng.normal(size=(500, 2)) + np.array([[-2, -2], [2, -2], [-2, 2], [2, 2]])[labels]
    return Z, labels


# --- viz -------------------------------------------------------------------------------------


def test_image_mosaic_layout():
    images = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4) / 24  # flat 2x2 images
    mosaic = viz.image_mosaic(images, pad=1, pad_value=-1)
    assert mosaic.shape == (2 * 2 + 1, 3 * 2 + 2)
    assert np.array_equal(mosaic[:2, :2], images[0, 0].reshape(2, 2))
    assert np.array_equal(mosaic[3:5, 6:8], images[1, 2].reshape(2, 2))
    assert np.all(mosaic[2] == -1) and np.all(mosaic[:, 2] == -1)
    assert viz.image_mosaic(torch.rand(2, 2, 1, 5, 5), pad=0).shape == (10, 10)
    with pytest.raises(ValueError, match="not a square"):
        viz.image_mosaic(np.zeros((2, 2, 10)))
    with pytest.raises(ValueError, match=r"expected a grid \(R, C, H, W\)"):
        viz.image_mosaic(np.zeros((4, 28)))


def test_latent_traversal_rows_columns_and_labels():
    images = np.random.default_rng(0).random((4, 7, 784))
    fig = viz.latent_traversal(images, values=np.linspace(-3, 3, 7), row_labels=["a", "b", "c", "d"], title="t")
    assert isinstance(fig, viz.NotebookFigure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (4 * 29 - 1, 7 * 29 - 1)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c", "d"]
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "-3"
    assert ax.get_title() == "t"
    assert fig._repr_png_().startswith(b"\x89PNG")
    shared = viz.NotebookFigure()
    axes = shared.subplots(1, 2)
    assert viz.latent_traversal(images, range(7), ax=axes[1]) is shared
    assert [t.get_text() for t in axes[1].get_yticklabels()][0] == "z1"
    with pytest.raises(ValueError, match="values has 3 entries but the grid has 7 columns"):
        viz.latent_traversal(images, [0, 1, 2])
    with pytest.raises(ValueError, match="row_labels has 1 entries"):
        viz.latent_traversal(images, range(7), row_labels=["x"])


def test_decoded_lattice_is_placed_in_latent_units():
    z1, z2 = np.linspace(-2, 2, 5), np.linspace(-1, 3, 3)
    grid = np.stack(np.meshgrid(z1, z2), axis=-1).reshape(-1, 2)
    images = fake_decode(grid).reshape(3, 5, 64)
    fig = viz.decoded_lattice(images, z1, z2, title="lattice")
    ax = fig.axes[0]
    left, right, bottom, top = ax.images[0].get_extent()
    assert (left, right) == pytest.approx((-2.5, 2.5)) and (bottom, top) == pytest.approx((-2.0, 4.0))
    mosaic = ax.images[0].get_array()
    # the top row of the picture is the largest z2
    assert np.array_equal(mosaic[:8, :8], images[2, 0].reshape(8, 8))
    with pytest.raises(ValueError, match=r"expected \(len\(z2_values\), len\(z1_values\)"):
        viz.decoded_lattice(images, z2, z1)
    with pytest.raises(ValueError, match="increasing"):
        viz.decoded_lattice(images, z1[::-1], z2)


# --- DecoderExplorer outside a kernel -------------------------------------------------------


def test_decoder_explorer_figures(codes):
    Z, labels = codes
    assert not in_notebook()
    explorer = DecoderExplorer(fake_decode, torch.tensor(Z), labels, grid_size=6, title="toy", max_points=300)
    (a1, b1), (a2, b2) = explorer.z_range
    assert a1 < np.percentile(Z[:, 0], 1) and b2 > np.percentile(Z[:, 1], 99)
    images, z1, z2 = explorer.lattice()
    assert images.shape == (6, 6, 8, 8) and z1[0] == a1 and z2[-1] == b2
    assert np.array_equal(images[0, 0], fake_decode([[z1[0], z2[0]]]).reshape(8, 8))
    live = explorer.figure((1.0, -0.5))
    assert isinstance(live, Figure) and "z = (1.00, -0.50)" in live.axes[1].get_title()
    assert np.array_equal(live.axes[1].images[0].get_array(), fake_decode([[1.0, -0.5]]).reshape(8, 8))
    scatter_ax = live.axes[0]
    assert sum(len(c.get_offsets()) for c in scatter_ax.collections) == 300
    static = explorer.static_figure()
    assert len(static.axes) == 2 and static._suptitle.get_text() == "toy"
    assert static.axes[1].images[0].get_array().shape == (48, 48)
    explorer.show()  # nothing outside a kernel
    explorer.close()
    assert "DecoderExplorer(500 codes" in repr(explorer)


def test_decoder_explorer_live_png_is_fast_and_follows_z(codes):
    import io
    import time

    from matplotlib.image import imread

    Z, labels = codes
    explorer = DecoderExplorer(fake_decode, Z, labels, z_range=((-4, 4), (-4, 4)))
    first = imread(io.BytesIO(explorer.live_png((0.0, 0.0))))
    start = time.perf_counter()
    moved = imread(io.BytesIO(explorer.live_png((3.0, -3.0))))
    assert time.perf_counter() - start < 0.15  # no new matplotlib figure per slider move
    assert first.shape == moved.shape and first.shape[2] in (3, 4)
    changed = np.argwhere(np.any(first != moved, axis=2))
    width = first.shape[1]
    # the marker moved within the left (scatter) panel, the decoded image changed in the right one
    assert (changed[:, 1] < 0.55 * width).any() and (changed[:, 1] > 0.6 * width).any()
    outside = explorer.live_png((40.0, 40.0))  # outside the plotted area: no marker, no error
    assert outside.startswith(b"\x89PNG")


def test_decoder_explorer_accepts_torch_and_image_shapes(codes):
    Z, labels = codes
    as_tensor = lambda z: torch.as_tensor(fake_decode(z)).reshape(-1, 1, 8, 8)  # noqa: E731
    explorer = DecoderExplorer(as_tensor, Z, labels, z_range=((-1, 1), (-2, 2)), grid_size=3)
    assert explorer.z_range == ((-1.0, 1.0), (-2.0, 2.0))
    assert explorer.decode_images(np.zeros((2, 2))).shape == (2, 8, 8)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"Z": np.zeros((10, 3))}, ValueError, r"expected \(N, 2\) latent codes"),
        ({"labels": np.zeros(3, dtype=int)}, ValueError, "give one label per row"),
        ({"decode": "vae"}, TypeError, "decode must be a function"),
        ({"grid_size": 1}, ValueError, "grid_size=1"),
        ({"z_range": ((1, -1), (0, 1))}, ValueError, "min < max"),
    ],
)
def test_decoder_explorer_bad_arguments(codes, kwargs, error, pattern):
    Z, labels = codes
    args = {"decode": fake_decode, "Z": Z, "labels": labels, **kwargs}
    with pytest.raises(error, match=pattern):
        DecoderExplorer(**args)


def test_decoder_explorer_bad_decoder(codes):
    Z, labels = codes
    explorer = DecoderExplorer(lambda z: np.zeros((1, 50)), Z, labels)
    with pytest.raises(ValueError, match="decode returned 1 images for 225 codes"):
        explorer.static_figure()


# --- in a real kernel -----------------------------------------------------------------------

KERNEL_CELL = """\
import sys
sys.path.insert(0, {repo!r})
import numpy as np
import ipywidgets
sys.path.insert(0, {tests!r})
from test_widgets_decoder import fake_decode
from course_utils.widgets import DecoderExplorer
open_before = len(ipywidgets.widgets.widget._instances)
rng = np.random.default_rng(0)
labels = rng.integers(0, 4, 300)
explorer = DecoderExplorer(fake_decode, rng.normal(size=(300, 2)) + labels[:, None], labels, grid_size=5)
explorer.show()
slider = explorer._widgets[0].children[0]
slider.value = 1.5                      # moving a slider redraws the live view
live_text = explorer._widgets[0].children[2].outputs[0]["data"]["text/plain"]
explorer.close()
print("live view after the move:", live_text)
print("widgets left open:", len(ipywidgets.widgets.widget._instances) - open_before)
"""


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(KERNEL_CELL.format(repo=str(REPO), tests=str(REPO / "tests")))]
    folder = tmp_path_factory.mktemp("decoder-kernel")
    # the same execution as `course execute`: this env's kernel, inline figures, and
    # store_widget_state=False (JupyterLab's default "save widget state: off")
    execute_notebook(nb, cwd=folder, timeout=60)
    path = folder / "decoder.ipynb"
    nbformat.write(nb, str(path))
    return nb, path


@pytest.mark.kernel
def test_decoder_explorer_in_a_jupyter_kernel(executed_notebook):
    nb, _ = executed_notebook
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], [o.get("evalue") for o in outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "live view after the move: <decoded image at z = (1.50," in text
    assert "widgets left open: 0" in text
    displays = [o for o in outputs if o.output_type == "display_data"]
    # the slider view was replaced by its text form; the static lattice stays as a PNG
    assert displays[0].data == {"text/plain": "<decoder explorer: sliders over z; static lattice below>"}
    assert "image/png" in displays[1].data
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


@pytest.mark.kernel
def test_decoder_explorer_notebook_passes_nbval(executed_notebook):
    pytest.importorskip("nbval")
    _, path = executed_notebook
    # the caller's PYTEST_ADDOPTS may name this suite's own options (--quick, --record-durations),
    # which a pytest run outside it does not know
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTEST_ADDOPTS")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", path.name, "-q", "-p", "no:cacheprovider"],
        cwd=path.parent, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
