"""The widgets where students see them: solution notebooks run in JupyterLab, in a real Chromium.

nbval runs no JavaScript and ignores widget messages, so it cannot see whether a
``TrainingMonitor`` redraws, or whether moving a slider changes anything. Here each notebook is
opened in JupyterLab, run with Run > Run All Cells in fast mode (empty checkpoint cache: the
models train live), and checked in the page:

- every ``TrainingMonitor``: its tqdm bar is a widget, its epoch count grows while the model
  trains, its plot is redrawn, in place (never two images, never an empty frame in between),
  and when training ends one static image is left and the widgets are gone;
- the week-02 ``DecoderExplorer``: dragging a slider changes the decoded image;
- the week-03 ``LatentExplorer``: dragging the epoch slider changes the scatter plot;
- week 05: the training monitors with their sample mosaics (``show_samples``) redraw in place
  like the others, and dragging the ``CodeGridExplorer``'s noise slider and a continuous-code
  slider changes its code grid;
- no cell shows an error, a text progress bar or a widget that failed to render.

Screenshots of each widget land in ``test-artifacts/browser/`` (git-ignored), also when a check
fails. Marked ``browser``: see tests/browser/conftest.py for how it is skipped.
"""
from __future__ import annotations

import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN_TIMEOUT = 480.0     # seconds for a whole notebook in fast mode (about 1-2 min on 2 cores)
WIDGET_TIMEOUT = 60.0   # seconds for a slider move to show a new image

# Sampled on every animation frame in the page, from before Run All until the end: for each
# training monitor (a code cell with a tqdm bar and an Output widget), how many images its
# Output widget holds. More than one is a pile-up. None after the first one, or one that is not
# decoded yet, is a flicker: the old figure gone and the new one not there when the browser
# painted the frame. (Only frames where the monitor is on screen count: the notebook lets the
# browser skip off-screen cells, images included.)
FRAME_PROBE = """
() => {
  window.__monitors = {};
  const cells = () => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  function tick() {
    cells().forEach((cell, index) => {
      const out = cell.querySelector('.widget-hprogress') && cell.querySelector('.widget-output');
      if (!out) return;
      const box = out.getBoundingClientRect();
      if (box.bottom <= 0 || box.top >= window.innerHeight) return;
      const imgs = [...out.querySelectorAll('img')];
      const shown = imgs.filter(img => img.complete && img.naturalWidth > 0).length;
      const m = window.__monitors[index] ||= {frames: 0, maxImages: 0, emptyAfterImage: 0, seenImage: false};
      m.frames += 1;
      m.maxImages = Math.max(m.maxImages, imgs.length);
      if (shown === 0 && m.seenImage) m.emptyAfterImage += 1;
      if (shown > 0) m.seenImage = true;
    });
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
}
"""

# The live monitors now: cell index, tqdm text, number of images, an id (hash) of the plot image.
MONITOR_STATE = """
() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].flatMap((cell, index) => {
  const bar = cell.querySelector('.widget-hprogress');
  const out = cell.querySelector('.widget-output');
  if (!bar || !out) return [];
  const box = bar.closest('.widget-hbox') || bar.parentElement;
  const imgs = [...out.querySelectorAll('img')];
  const src = imgs.length ? imgs[imgs.length - 1].getAttribute('src') : '';
  let hash = 0;
  for (let i = 0; i < src.length; i++) hash = (Math.imul(hash, 31) + src.charCodeAt(i)) >>> 0;
  return [{index, text: box.textContent.replace(/\\s+/g, ' ').trim(), images: imgs.length,
           plot: src.length + ':' + hash}];
})
"""

# Every code cell's outputs (outside widgets), once the run is over.
CELL_OUTPUTS = """
() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map((cell, index) => {
  const prompt = (cell.querySelector('.jp-InputPrompt') || {}).textContent || '';
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')]
    .filter(o => !o.parentElement.closest('.widget-output'))
    .map(o => ({mime: o.getAttribute('data-mime-type') || '',
                images: o.querySelectorAll(':scope > img, :scope img').length,
                widgets: o.querySelectorAll('.jupyter-widgets').length,
                text: o.textContent.slice(0, 300)}));
  const source = ((cell.querySelector('.jp-InputArea-editor') || {}).textContent || '').slice(0, 80);
  return {index, prompt: prompt.trim(), source, outputs};
})
"""

# A checksum of the pixels of an image, or of its right part (x from `left` as a fraction).
IMAGE_PIXELS = """
async (img, left) => {
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const x0 = Math.floor(canvas.width * left);
  const data = ctx.getImageData(x0, 0, canvas.width - x0, canvas.height).data;
  let h1 = 0, h2 = 0;
  for (let i = 0; i < data.length; i += 4) {
    h1 = (Math.imul(h1, 31) + data[i]) >>> 0;
    h2 = (h2 + data[i + 1] * (i % 251 + 1)) >>> 0;
  }
  return `${canvas.width}x${canvas.height}:${h1}:${h2}`;
}
"""

ERROR_MIME = "application/vnd.jupyter.error"
STDERR_MIME = "application/vnd.jupyter.stderr"
TQDM_TEXT = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+/\d+ \[\d\d:\d\d")
WIDGET_FAILURES = ("Error displaying widget", "Loading widget...", "model not found", "Failed to load model class")


@dataclass
class MonitorTrace:
    """What was seen of one training monitor while it was live."""

    index: int
    counts: list[int] = field(default_factory=list)      # the bar's epoch count, in sample order
    total: int | None = None
    plots: list[str] = field(default_factory=list)        # distinct plot images, in order
    texts: list[str] = field(default_factory=list)
    screenshot: Path | None = None


class Notebook:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page, lab, name: str, artifacts: Path) -> None:
        self.page, self.lab, self.name, self.artifacts = page, lab, name, artifacts
        self.stem = Path(name).stem
        self.monitors: dict[int, MonitorTrace] = {}
        self.run_seconds = 0.0
        self.frames: dict = {}

    # -- artifacts ------------------------------------------------------------------------
    def shot(self, label: str, element=None) -> Path:
        path = self.artifacts / f"{self.stem}-{label}.png"
        try:
            if element is not None:
                element.scroll_into_view_if_needed(timeout=10_000)
                element.screenshot(path=str(path), timeout=20_000)
            else:
                self.page.screenshot(path=str(path), timeout=20_000)
        except Exception as exc:  # a screenshot must never hide the real failure
            print(f"screenshot {path.name} failed: {exc}")
        return path

    def fail(self, label: str, message: str, element=None) -> None:
        path = self.shot(f"FAILED-{label}", element)
        pytest.fail(f"{self.name}: {message}\nscreenshot: {path}\nJupyterLab log: {self.lab.log_path}", pytrace=False)

    # -- kernel ---------------------------------------------------------------------------
    def kernel_state(self) -> str:
        with urllib.request.urlopen(self.lab.api_url("sessions"), timeout=10) as response:
            sessions = json.load(response)
        states = [s["kernel"]["execution_state"] for s in sessions if s["path"].endswith(self.name)]
        return states[0] if states else "none"

    # -- running --------------------------------------------------------------------------
    def open(self) -> None:
        self.page.goto(self.lab.lab_url(self.name), timeout=120_000)
        try:
            self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell", timeout=120_000)
        except Exception:
            self.fail("open", "the notebook did not open in JupyterLab within 120 s")
        deadline = time.monotonic() + 120
        while self.kernel_state() != "idle":
            if time.monotonic() > deadline:
                self.fail("kernel", f"the kernel did not start within 120 s (state {self.kernel_state()!r})")
            time.sleep(0.5)

    def run_all(self) -> None:
        """Run > Run All Cells, then follow the training monitors until every cell has run."""
        self.page.evaluate(FRAME_PROBE)
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
        start = time.monotonic()
        idle_since = None
        while True:
            self._sample_monitors()
            busy = self.page.evaluate(
                "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
                ".some(p => /\\[\\*\\]/.test(p.textContent))"
            )
            if not busy and time.monotonic() - start > 3 and self.kernel_state() == "idle":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 2:  # idle twice in a row: the queue is empty
                    break
            else:
                idle_since = None
            if time.monotonic() - start > RUN_TIMEOUT:
                self.fail("run-all", f"Run All Cells did not finish within {RUN_TIMEOUT:.0f} s")
            time.sleep(0.25)
        self.run_seconds = time.monotonic() - start
        self._sample_monitors()

    def _sample_monitors(self) -> None:
        for state in self.page.evaluate(MONITOR_STATE):
            if state["index"] not in self.monitors:  # a new live monitor: on screen, as a student watches it
                try:
                    self.monitor_output(state["index"]).scroll_into_view_if_needed(timeout=5_000)
                except Exception:
                    pass
            trace = self.monitors.setdefault(state["index"], MonitorTrace(state["index"]))
            match = re.search(r"(\d+)/(\d+)", state["text"])
            if match:
                count, total = int(match.group(1)), int(match.group(2))
                trace.total = total
                if not trace.counts or trace.counts[-1] != count:
                    trace.counts.append(count)
                    trace.texts.append(state["text"])
                # half-way through training: the screenshot of the live monitor (bar and plot)
                if trace.screenshot is None and state["images"] and total // 2 <= count < total:
                    trace.screenshot = self.shot(f"monitor-cell{state['index']}-live-epoch{count}",
                                                 self.monitor_output(state["index"]))
            if state["images"] and (not trace.plots or trace.plots[-1] != state["plot"]):
                trace.plots.append(state["plot"])

    def monitor_output(self, index: int):
        """The output of cell ``index`` that holds its training monitor (while live: with the bar)."""
        cell = self.page.locator(".jp-Notebook .jp-CodeCell").nth(index)
        live = cell.locator(".jp-Cell-outputArea > .jp-OutputArea-child", has=self.page.locator(".widget-hprogress"))
        return live.first if live.count() else cell.locator(".jp-Cell-outputArea > .jp-OutputArea-child").first

    # -- after the run --------------------------------------------------------------------
    def outputs(self) -> list[dict]:
        return self.page.evaluate(CELL_OUTPUTS)

    def check_outputs(self) -> None:
        """No errors, no text progress bars, no widget that failed to render; every cell ran."""
        problems = []
        for cell in self.outputs():
            where = f"cell {cell['index']} ({cell['source'][:50]!r})"
            if not re.fullmatch(r"\[\d+\]:", cell["prompt"]):
                problems.append(f"{where} did not run (prompt {cell['prompt']!r})")
            for out in cell["outputs"]:
                if out["mime"] == ERROR_MIME:
                    problems.append(f"{where} raised: {out['text'][:200]}")
                elif out["mime"] == STDERR_MIME and TQDM_TEXT.search(out["text"]):
                    problems.append(f"{where} shows a text progress bar instead of a widget: {out['text'][:120]!r}")
                elif not out["widgets"] and TQDM_TEXT.search(out["text"]):
                    problems.append(f"{where} shows a progress bar as text, not as a widget: {out['text'][:120]!r}")
                if any(failure in out["text"] for failure in WIDGET_FAILURES):
                    problems.append(f"{where} shows a widget that did not render: {out['text'][:120]!r}")
        if problems:
            self.fail("outputs", "problems in the cell outputs:\n  " + "\n  ".join(problems))

    def check_progress_bars(self, expected: int) -> None:
        """tqdm bars outside the monitors (``train.fit``'s own) are there, as widgets, and complete."""
        bars = self.page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
            .filter(cell => !cell.querySelector('.widget-output'))
            .flatMap(cell => [...cell.querySelectorAll('.widget-hprogress')])
            .map(bar => (bar.closest('.widget-hbox') || bar.parentElement).textContent.replace(/\\s+/g, ' ').trim())""")
        if len(bars) < expected:
            self.fail("progress-bars", f"expected {expected} tqdm progress bar widget(s) outside the training "
                                       f"monitors; found {len(bars)}: {bars}")
        unfinished = [b for b in bars if not re.search(r"100%|(\d+)/\1\b", b)]
        if unfinished:
            self.fail("progress-bars", f"progress bars left unfinished after the run: {unfinished}")
        if bars:
            cell = self.page.locator(".jp-Notebook .jp-CodeCell", has=self.page.locator(".widget-hprogress")).filter(
                has_not=self.page.locator(".widget-output")).first
            self.shot("progress-bar", cell.locator(".jp-Cell-outputArea").first)

    def check_monitors(self, expected: int) -> None:
        """Each monitor counted epochs up while training, redrew in place, and left one image."""
        frames = self.page.evaluate("() => window.__monitors")
        self.frames = frames
        live = [t for t in self.monitors.values() if t.total]
        if len(live) < expected:
            self.fail("monitors", f"saw {len(live)} live TrainingMonitor(s) (a tqdm bar over an Output widget); "
                                  f"expected {expected}. Seen: {[(t.index, t.texts[-1:]) for t in live]}")
        outputs = {cell["index"]: cell for cell in self.outputs()}
        for trace in live:
            cell_el = self.page.locator(".jp-Notebook .jp-CodeCell").nth(trace.index)
            label = f"monitor-cell{trace.index}"
            mid = [c for c in trace.counts if 0 < c < trace.total]
            if len(mid) < 2 or mid != sorted(mid):
                self.fail(label, f"TrainingMonitor in cell {trace.index}: its epoch count did not grow while "
                                 f"training (counts seen {trace.counts} of {trace.total}; bar texts {trace.texts[:4]})",
                          cell_el)
            if len(trace.plots) < 2:
                self.fail(label, f"TrainingMonitor in cell {trace.index}: its plot was never redrawn "
                                 f"({len(trace.plots)} distinct image(s) over epochs {trace.counts})", cell_el)
            probe = frames.get(str(trace.index), {})
            if probe.get("frames", 0) < 10:
                self.fail(label, f"TrainingMonitor in cell {trace.index} was on screen in only {probe.get('frames', 0)} "
                                 "frames while live: too few to check it for flicker", cell_el)
            if probe.get("maxImages", 0) > 1:
                self.fail(label, f"TrainingMonitor in cell {trace.index}: figures pile up, up to "
                                 f"{probe['maxImages']} images in its output at once", cell_el)
            if probe.get("emptyAfterImage", 0):
                self.fail(label, f"TrainingMonitor in cell {trace.index}: the plot flickers, {probe['emptyAfterImage']} "
                                 f"of {probe['frames']} frames showed no image between two updates", cell_el)
            # finished: the bar and the Output widget are closed; in their place (the cell's first
            # output: the monitor is displayed before anything else) one static image is left
            final = outputs[trace.index]["outputs"]
            first = final[0] if final else {"images": 0, "widgets": 0}
            bars = cell_el.locator(".widget-hprogress").count()
            if first["images"] != 1 or first["widgets"] or bars:
                self.fail(label, f"TrainingMonitor in cell {trace.index}: after training its output shows "
                                 f"{first['images']} image(s) and {first['widgets']} widget(s), and the cell {bars} "
                                 "progress bar(s); expected only the static figure", cell_el)
            self.shot(f"{label}-done", self.monitor_output(trace.index))

    # -- sliders --------------------------------------------------------------------------
    def widget_cell(self, source_text: str):
        cell = self.page.locator(".jp-Notebook .jp-CodeCell", has_text=source_text).filter(
            has=self.page.locator(".widget-slider"))
        if cell.count() != 1:
            self.fail("slider", f"expected one cell with {source_text!r} showing sliders; found {cell.count()}")
        return cell.first

    def widget_output(self, cell):
        """The output of ``cell`` that shows the sliders and their live image."""
        return cell.locator(".jp-Cell-outputArea > .jp-OutputArea-child", has=self.page.locator(".widget-slider")).first

    def pixels(self, cell, left: float = 0.0) -> str:
        return cell.locator(".widget-output img").first.evaluate(IMAGE_PIXELS, left)

    def drag_slider(self, cell, which: int, fraction: float) -> str:
        """Drag the ``which``-th slider's handle by ``fraction`` of the track; returns the new readout."""
        slider = cell.locator(".widget-slider").nth(which)
        handle, track = slider.locator(".noUi-handle").first, slider.locator(".noUi-base").first
        handle.scroll_into_view_if_needed()
        h, t = handle.bounding_box(), track.bounding_box()
        x, y = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
        target = min(max(x + fraction * t["width"], t["x"] + 1), t["x"] + t["width"] - 1)
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        for step in range(1, 11):  # a real drag: several moves, not a jump
            self.page.mouse.move(x + (target - x) * step / 10, y)
            time.sleep(0.03)
        self.page.mouse.up()
        return slider.locator(".widget-readout").first.inner_text()

    def wait_for_new_pixels(self, cell, before: str, left: float, what: str, label: str) -> str:
        deadline = time.monotonic() + WIDGET_TIMEOUT
        while time.monotonic() < deadline:
            now = self.pixels(cell, left)
            if now != before:
                return now
            time.sleep(0.25)
        self.fail(label, f"{what}: the image did not change within {WIDGET_TIMEOUT:.0f} s", cell)
        return before


def widget_errors(page) -> list[str]:
    """Console errors that come from the widget manager (not from, e.g., the offline Colab badge)."""
    return [e for e in page.console_errors if re.search(r"widget|ipywidgets|jupyter-widgets|comm", e, re.I)]


def test_week02_monitor_and_decoder_explorer(notebook_page, lab, artifacts):
    nb = Notebook(notebook_page, lab, "02_vae.ipynb", artifacts)
    started = time.monotonic()
    nb.open()
    nb.run_all()
    nb.check_outputs()
    nb.check_monitors(expected=4)   # our VAE, the autoencoder, the beta-VAE, the 2-D VAE
    nb.check_progress_bars(expected=0)

    cell = nb.widget_cell("DecoderExplorer(")
    readouts = [s.inner_text() for s in cell.locator(".widget-slider .widget-readout").all()]
    view = nb.widget_output(cell)
    nb.shot("decoder-explorer-before", view)
    # the decoded image is the right part of the live view; the left part marks z in the scatter
    before = nb.pixels(cell, left=0.62)
    after_z1 = nb.drag_slider(cell, 0, 0.3)
    moved = nb.wait_for_new_pixels(cell, before, 0.62, f"DecoderExplorer slider z1 moved {readouts[0]} -> {after_z1}",
                                   "decoder-explorer")
    nb.shot("decoder-explorer-after-z1", view)
    after_z2 = nb.drag_slider(cell, 1, -0.3)
    nb.wait_for_new_pixels(cell, moved, 0.62, f"DecoderExplorer slider z2 moved {readouts[1]} -> {after_z2}",
                           "decoder-explorer")
    nb.shot("decoder-explorer-after-z2", view)
    assert (after_z1, after_z2) != tuple(readouts), f"the slider readouts did not move: {readouts}"
    assert not widget_errors(notebook_page), f"widget errors in the browser console: {widget_errors(notebook_page)}"
    print(f"\n{nb.name}: Run All {nb.run_seconds:.0f} s, test {time.monotonic() - started:.0f} s; "
          f"monitors (cell: epoch counts seen, plots seen, frames on screen) "
          f"{[(t.index, t.counts, len(t.plots), nb.frames.get(str(t.index), {}).get('frames')) for t in nb.monitors.values()]}; "
          f"screenshots in {artifacts}")


def test_week03_monitor_and_latent_explorer(notebook_page, lab, artifacts):
    nb = Notebook(notebook_page, lab, "03_vade.ipynb", artifacts)
    started = time.monotonic()
    nb.open()
    nb.run_all()
    nb.check_outputs()
    nb.check_monitors(expected=2)   # VaDE pretrained, VaDE from a random start
    nb.check_progress_bars(expected=2)   # train.fit's own bars: AE pretraining, the VAE baseline

    cell = nb.widget_cell("explorer.show()")
    slider = cell.locator(".widget-slider").first
    epoch_before = slider.locator(".widget-readout").first.inner_text()
    view = nb.widget_output(cell)
    nb.shot("latent-explorer-before", view)
    before = nb.pixels(cell)
    epoch_after = nb.drag_slider(cell, 0, -0.6)   # back towards the first snapshots
    nb.wait_for_new_pixels(cell, before, 0.0, f"LatentExplorer epoch slider moved {epoch_before} -> {epoch_after}",
                           "latent-explorer")
    nb.shot("latent-explorer-after", view)
    assert epoch_after != epoch_before, f"the epoch slider did not move (still at epoch {epoch_before})"
    assert not widget_errors(notebook_page), f"widget errors in the browser console: {widget_errors(notebook_page)}"
    print(f"\n{nb.name}: Run All {nb.run_seconds:.0f} s, test {time.monotonic() - started:.0f} s; "
          f"monitors (cell: epoch counts seen, plots seen, frames on screen) "
          f"{[(t.index, t.counts, len(t.plots), nb.frames.get(str(t.index), {}).get('frames')) for t in nb.monitors.values()]}; "
          f"screenshots in {artifacts}")


def test_week05_monitor_and_code_grid_explorer(notebook_page, lab, artifacts):
    nb = Notebook(notebook_page, lab, "05_gan_clustering.ipynb", artifacts)
    started = time.monotonic()
    nb.open()
    nb.run_all()
    nb.check_outputs()
    nb.check_monitors(expected=6)   # GAN, CatGAN K = 10 and K = 20, InfoGAN, DAC, AAE (all through `run`)
    nb.check_progress_bars(expected=0)   # the autoencoder of DAC trains with progress=False

    # the explorer's cell: "vary" c1/c2/... (toggle buttons: only CodeGridExplorer has them), one
    # slider per continuous code, a noise slider, the live grid; then the static overview
    cell = notebook_page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=notebook_page.locator(".widget-toggle-buttons")).filter(has=notebook_page.locator(".widget-slider"))
    if cell.count() != 1:
        nb.fail("code-grid", f"expected one cell showing the CodeGridExplorer's controls; found {cell.count()}")
    cell = cell.first
    view = nb.widget_output(cell)
    view.scroll_into_view_if_needed()
    # textContent, not innerText: the notebook does not lay out cells far off screen
    labels = [t.strip() for t in cell.locator(".widget-slider .widget-label").all_text_contents()]
    readouts = [t.strip() for t in cell.locator(".widget-slider .widget-readout").all_text_contents()]
    nb.shot("code-grid-explorer-before", view)
    before = nb.pixels(cell)
    moved = []
    # c1 is the varied code at first (its slider is disabled); the noise slider exists when the
    # generator has noise, a slider for c2 when there are two continuous codes or more
    for label in ("noise", "c2"):
        if label not in labels:
            continue
        which = labels.index(label)
        slider = cell.locator(".widget-slider").nth(which)
        handle, track = slider.locator(".noUi-handle").first.bounding_box(), slider.locator(".noUi-base").first.bounding_box()
        # towards the far end: a handle that starts near one end still moves
        fraction = 0.3 if handle["x"] + handle["width"] / 2 < track["x"] + track["width"] / 2 else -0.3
        readout = nb.drag_slider(cell, which, fraction)
        before = nb.wait_for_new_pixels(cell, before, 0.0,
                                        f"CodeGridExplorer slider {label} moved {readouts[which]} -> {readout}",
                                        "code-grid-explorer")
        nb.shot(f"code-grid-explorer-after-{label}", view)
        moved.append((label, readouts[which], readout))
    if not moved:
        nb.fail("code-grid", f"the CodeGridExplorer has neither a noise nor a c2 slider (sliders: {labels})", cell)
    assert all(a != b for _, a, b in moved), f"a slider readout did not move: {moved}"
    # the static overview (one panel per continuous code) stays below the live view
    static = cell.locator(".jp-Cell-outputArea > .jp-OutputArea-child", has=notebook_page.locator("img")).filter(
        has_not=notebook_page.locator(".widget-slider"))
    if static.count() < 1:
        nb.fail("code-grid", "the CodeGridExplorer left no static figure below its sliders", cell)
    nb.shot("code-grid-static", static.last)
    assert not widget_errors(notebook_page), f"widget errors in the browser console: {widget_errors(notebook_page)}"
    print(f"\n{nb.name}: Run All {nb.run_seconds:.0f} s, test {time.monotonic() - started:.0f} s; "
          f"monitors (cell: epoch counts seen, plots seen, frames on screen) "
          f"{[(t.index, t.counts, len(t.plots), nb.frames.get(str(t.index), {}).get('frames')) for t in nb.monitors.values()]}; "
          f"sliders moved {moved}; screenshots in {artifacts}")


def _monitors_only_week(notebook_page, lab, artifacts, name: str, monitors: int, bars: int) -> None:
    """Run a week whose widgets are training monitors (and tqdm bars) only, and check them."""
    nb = Notebook(notebook_page, lab, name, artifacts)
    started = time.monotonic()
    nb.open()
    nb.run_all()
    nb.check_outputs()
    nb.check_monitors(expected=monitors)
    nb.check_progress_bars(expected=bars)
    assert not widget_errors(notebook_page), f"widget errors in the browser console: {widget_errors(notebook_page)}"
    print(f"\n{nb.name}: Run All {nb.run_seconds:.0f} s, test {time.monotonic() - started:.0f} s; "
          f"monitors (cell: epoch counts seen, plots seen, frames on screen) "
          f"{[(t.index, t.counts, len(t.plots), nb.frames.get(str(t.index), {}).get('frames')) for t in nb.monitors.values()]}; "
          f"screenshots in {artifacts}")


def test_week06_monitors_with_filters_and_reconstructions(notebook_page, lab, artifacts):
    # the DBN (with its filters and reconstructions), NMMC's passes, fine-tuning; the RBMs' and
    # NMMC's own bars close without a trace (leave=False)
    _monitors_only_week(notebook_page, lab, artifacts, "06_nonparametric.ipynb", monitors=3, bars=0)


def test_week07_monitors_with_predicted_frames(notebook_page, lab, artifacts):
    # PredNet L_0, PredNet L_all and the ConvLSTM (loss, validation MSE, frames); the bars of
    # train_predictor's extrapolation fine-tuning: the two PredNets (one cell) and the ConvLSTM
    _monitors_only_week(notebook_page, lab, artifacts, "07_prednet.ipynb", monitors=3, bars=3)
