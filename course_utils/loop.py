"""The training loop every model of the course runs in, and what it records.

``run_epochs(model, epochs, batches, step, ...)`` is the loop: for each epoch, ``step`` on every
batch that ``batches(epoch)`` gives (a model's own update: one optimiser step, a GAN's two, an
RBM's contrastive-divergence step), the epoch's mean of what the steps logged, then the callbacks
(a live monitor, scores of the latent space, a validation loss) with the model in eval mode, the
history, and the progress bar. A NaN or infinite loss stops it with ``TrainingDiverged``.

``train.fit`` (the autoencoder, the VAE, VaDE), the three trainers of ``gan`` (GAN/CatGAN/InfoGAN,
DAC, the AAE), ``dbn.train_rbm`` and ``nmmc.finetune_encoder`` run in it. Three loops keep a shape
of their own, and their docstrings say why: ``dec.train_dec`` (its unit is a target update, not
an epoch: it stops when the labels stop changing), ``train.train_predictor`` (a number of steps
on random clips, with a learning-rate drop at a step) and NMMC's online passes
(``nmmc.fit_nmmc``: one point at a time in NumPy, with no optimiser).

This module sits below ``models/`` (it imports only torch and ``progress``), so no import runs
from a model back up to ``train``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from course_utils.progress import tqdm

__all__ = ["TrainingDiverged", "Callback", "run_epochs", "append_history", "encode_dataset"]

#: ``callback(epoch, model, logs)``: called after every epoch; may add entries to ``logs``.
Callback = Callable[[int, nn.Module, dict], Any]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message says where and what to try."""


def run_epochs(
    model: nn.Module,
    epochs: int,
    batches: Callable[[int], Iterable[Any]],
    step: Callable[[Any, int, int], tuple[Mapping[str, Any], float]],
    *,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    desc: str = "training",
    leave: bool = True,
    train_mode: bool = True,
    as_logged: bool = False,
    empty: str = "data gave no batches; expected at least one example.",
) -> dict[str, list]:
    """The course's training loop; returns the history ``{"epoch": [1, 2, ...], name: [...]}``.

    Args:
        model: put in train mode for each epoch and in eval mode for the callbacks and at the
            end (with ``train_mode=False`` its mode is left alone: an RBM has none).
        epochs: passes, counted from 1.
        batches: ``batches(epoch)`` gives that epoch's batches (the caller shuffles them, with
            its own generator, so a run is repeatable).
        step: ``step(batch, epoch, index) -> (logs, weight)`` does one update (index counts from
            1) and returns what it logs (floats or 0-d tensors) and the batch's weight in the
            epoch's mean (its size, or 1 for a plain mean over steps). It raises
            ``TrainingDiverged`` itself where it can say more than the loop.
        callbacks: ``callback(epoch, model, logs)`` after every epoch, in order; a callback may
            add values to ``logs``, which the next ones see and the history keeps.
        progress: a ``tqdm`` bar over the epochs, with the epoch's logs.
        as_logged: keep each value as the step or a callback logged it (an int stays an int) and a
            name's list only where it was logged (the GANs' histories); default: ``append_history``
            (floats, ``None`` where a name was not logged that epoch).
    """
    history: dict[str, list] = {"epoch": []}
    # with progress, tqdm's own default decides (TQDM_DISABLE=1, which `course results --no-progress`
    # sets, hides every bar, the inner ones too)
    bar = tqdm(total=epochs, desc=desc, leave=leave, **({} if progress else {"disable": True}))
    try:
        for epoch in range(1, epochs + 1):
            if train_mode:
                model.train()
            sums: dict[str, float] = {}
            seen = 0.0
            for index, batch in enumerate(batches(epoch), start=1):
                values, weight = step(batch, epoch, index)
                for name, value in values.items():
                    sums[name] = sums.get(name, 0.0) + _number(value) * weight
                seen += weight
            if seen == 0:
                raise ValueError(empty)
            logs: dict[str, Any] = {name: total / seen for name, total in sums.items()}
            if train_mode:
                model.eval()
            for callback in callbacks:
                callback(epoch, model, logs)
            if as_logged:
                history["epoch"].append(epoch)
                for name, value in logs.items():
                    history.setdefault(name, []).append(value)
            else:
                append_history(history, epoch, logs)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, float)}, refresh=False)
            bar.update(1)
    finally:
        bar.close()
    if train_mode:
        model.eval()
    return history


def _number(value: Any) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def append_history(history: dict[str, list], epoch: int, logs: Mapping[str, Any]) -> None:
    """Add one epoch's ``logs`` to a ``fit``-style history (``None`` for names not logged this time)."""
    n = len(history["epoch"])
    history["epoch"].append(int(epoch))
    for name, value in logs.items():
        if name not in history:
            history[name] = [None] * n
        history[name].append(None if value is None else float(value))
    for name, column in history.items():
        if len(column) == n:  # not logged this epoch
            column.append(None)


@torch.no_grad()
def encode_dataset(model: nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model.encode`` over ``X: (N, D)`` in batches; ``(N, d)`` float32 on the CPU.

    When ``encode`` returns a tuple (a VAE's ``(mu, logvar)``), its first entry, the mean, is used.
    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = []
    for start in range(0, len(X), batch_size):
        out = model.encode(X[start:start + batch_size].to(device))
        parts.append((out[0] if isinstance(out, (tuple, list)) else out).float().cpu())
    model.train(was_training)
    return torch.cat(parts)
