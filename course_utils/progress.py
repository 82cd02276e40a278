"""Progress bars that leave their final state in a saved notebook.

``tqdm.auto`` shows an ipywidgets bar in a notebook. A notebook saved by a headless run
(nbclient, nbconvert, ``course grade``) keeps the bar's ``text/plain`` fallback as it was when
the bar was *displayed*: ``0%|          | 0/30``, which reads as "stuck" on GitHub or in a
grader's copy. :class:`tqdm` here is ``tqdm.auto.tqdm`` with one difference: in a notebook it
displays its widget under a display id and, when it closes, updates that display, so the saved
output is the final state (``train: 100%|##########| 30/30 [00:02<00:00, 12.1it/s]``, or where
it stopped after an error). A bar made with ``leave=False`` leaves an empty output instead.
Outside a notebook it is plain ``tqdm``.

    from course_utils.progress import progress, tqdm

    for batch in progress(loader, desc="epoch 1"):
        ...
    bar = tqdm(total=epochs, desc="training")
    bar.update(1); bar.close()
"""
from __future__ import annotations

from typing import Any, Iterable

from tqdm.asyncio import tqdm_asyncio
from tqdm.auto import tqdm as _auto_tqdm
from tqdm.notebook import tqdm as _notebook_tqdm

__all__ = ["tqdm", "progress", "IN_NOTEBOOK"]

#: True where ``tqdm.auto`` picked the notebook (widget) bar: a Jupyter kernel with ipywidgets.
IN_NOTEBOOK = issubclass(_auto_tqdm, _notebook_tqdm)


class NotebookTqdm(_notebook_tqdm, tqdm_asyncio):
    """``tqdm.notebook.tqdm`` whose saved output is its final state (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handle = None
        self._show = kwargs.pop("display", True)
        super().__init__(*args, display=False, **kwargs)
        if self._show and not self.disable and self.delay <= 0:
            self._display_with_id()

    def _display_with_id(self) -> None:
        from IPython.display import display

        self._handle = display(self.container, display_id=True)
        self.displayed = True

    def display(self, *args: Any, check_delay: bool = True, **kwargs: Any):
        # a bar with ``delay`` appears once the delay has passed: with a display id too
        if check_delay and self._show and self.delay > 0 and not self.displayed:
            self._display_with_id()
        return super().display(*args, check_delay=False, **kwargs)

    def close(self) -> None:
        was_open = not self.disable
        super().close()
        if not was_open or self._handle is None:
            return
        if self.leave or (self.total and self.n < self.total):  # kept, or stopped early: show it
            self._handle.update(self.container)
        else:  # leave=False: nothing stays behind, as in a terminal
            self._handle.update({"text/plain": ""}, raw=True)


#: ``tqdm.auto.tqdm`` outside a notebook; :class:`NotebookTqdm` inside one.
tqdm = NotebookTqdm if IN_NOTEBOOK else _auto_tqdm


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A progress bar over ``iterable`` (or a manual one with ``total=``); ``tqdm`` arguments."""
    return tqdm(iterable, **kwargs)
