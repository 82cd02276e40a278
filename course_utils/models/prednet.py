"""PredNet (Lotter, Kreiman & Cox, ICLR 2017) for next-frame prediction, in PyTorch (week 07).

Our own port, written from the paper and a reading of the reference Keras code (coxlab/prednet,
``prednet.py``). Per layer ``l`` and time step ``t``:

    A_l   target: the frame at l = 0; maxpool(ReLU(conv(E_{l-1}))) above
    Â_l   prediction: ReLU(conv(R_l)), clipped at the pixel maximum at l = 0
    E_l   error: [ReLU(A_l - Â_l); ReLU(Â_l - A_l)] (channels stacked: 2 x the channels of A_l)
    R_l   representation: a convolutional LSTM fed by E_l(t-1), R_l(t-1) and upsample(R_{l+1}(t))

The update order is the reference's: first top-down over the representations (``R_{L-1}`` to
``R_0``), then bottom-up over ``A``, ``Â`` and ``E``. ``Â_0(t)`` is made before frame ``t`` is
seen: it is the prediction of frame ``t``. The ConvLSTM's gates use the hard sigmoid
``clip(0.2 x + 0.5, 0, 1)`` and its cell input and output ``tanh``, as the reference does.

Training minimises the weighted mean absolute error units (``prednet_loss``): layer weights
``[1, 0, 0, ...]`` (``L_0``) or ``[1, 0.1, 0.1, ...]`` (``L_all``), time weight 0 for the first
frame (nothing to predict it from) and ``1 / (T - 1)`` after. For multi-step extrapolation, from
``extrap_start`` on the network's prediction of a frame stands in for that frame (so the error units
are zero: the network runs on as if every prediction came true). The reference feeds the prediction
made one step earlier instead (``states[-2]`` in its ``step``), i.e. its prediction of the previous
frame; we take the prediction of the frame itself, which needs no extra state.

Shapes: frames ``(B, T, C, H, W)`` in [0, 1]; ``H`` and ``W`` divisible by ``2^(L-1)``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models.rebuild import records_init_args

__all__ = ["hard_sigmoid", "convlstm_step", "error_units", "ConvLSTMCell", "PredNet", "ConvLSTMPredictor",
           "layer_weights", "time_weights", "prednet_loss", "frame_loss", "count_parameters"]



def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras' hard sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def convlstm_step(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One convolutional LSTM step.

    ``x: (B, C_in, H, W)``, ``h, c: (B, C_h, H, W)``; ``weight: (4 C_h, C_in + C_h, k, k)``, ``bias: (4 C_h,)``.
    ``z = conv([x; h])`` ("same" padding) is split along channels into the input, forget and output
    gates and the cell input, in that order: ``i, f, o = hard_sigmoid(.)``, ``g = tanh(.)``;
    ``c' = f * c + i * g``, ``h' = o * tanh(c')``. Returns ``(h', c')``.
    """
    k = weight.shape[-1]
    z = F.conv2d(torch.cat([x, h], dim=1), weight, bias, padding=k // 2)
    i, f, o, g = z.chunk(4, dim=1)
    c_new = hard_sigmoid(f) * c + hard_sigmoid(i) * torch.tanh(g)
    h_new = hard_sigmoid(o) * torch.tanh(c_new)
    return h_new, c_new


def error_units(a: torch.Tensor, a_hat: torch.Tensor) -> torch.Tensor:
    """``E = [ReLU(A - Â); ReLU(Â - A)]`` stacked along channels: ``(B, 2C, H, W)``."""
    return torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1)


class ConvLSTMCell(nn.Module):
    """The parameters of one ConvLSTM (``weight: (4 C_h, C_in + C_h, k, k)``, ``bias``) and ``convlstm_step``."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                              padding=kernel_size // 2)
        self.hidden_channels = hidden_channels

    #: the step function; ``PredNet.use(convlstm_step=...)`` puts another one (e.g. a student's) here
    step_fn = staticmethod(convlstm_step)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.step_fn(x, h, c, self.conv.weight, self.conv.bias)


@records_init_args
class PredNet(nn.Module):
    """PredNet with ``len(a_channels)`` layers; ``a_channels[0]`` is the frames' channel count.

    ``forward(frames, extrap_start=None)`` returns ``(predictions: (B, T, C, H, W), errors: (B, T, L))``:
    ``predictions[:, t]`` is ``Â_0(t)``, made before frame ``t`` was seen, and ``errors[:, t, l]`` the
    mean of ``E_l(t)`` over its channels and pixels (what ``prednet_loss`` weights), or of ``E_l(t)^2``
    with ``error_power=2``: not the paper's loss, but the one that learns on 64x64 Moving MNIST, where
    under the L1 loss the network settles on black frames (most pixels are black, so the median
    prediction of an uncertain pixel is 0; see week 07). The error units fed forward are unchanged.
    Biases start at zero, as in the reference (Keras' default).
    """

    def __init__(self, a_channels: Sequence[int] = (1, 16, 32, 64), r_channels: Sequence[int] | None = None,
                 kernel_size: int = 3, pixel_max: float = 1.0, error_power: int = 1) -> None:
        super().__init__()
        if error_power not in (1, 2):
            raise ValueError(f"error_power={error_power!r}; expected 1 (the paper's mean error units) or 2 (their squares).")
        self.error_power = int(error_power)
        a_channels = [int(c) for c in a_channels]
        r_channels = list(a_channels) if r_channels is None else [int(c) for c in r_channels]
        if len(r_channels) != len(a_channels) or len(a_channels) < 1:
            raise ValueError(f"a_channels={a_channels} and r_channels={r_channels} must have one entry per layer.")
        self.a_channels, self.r_channels, self.pixel_max = a_channels, r_channels, float(pixel_max)
        L = len(a_channels)
        self.n_layers = L
        self.cells = nn.ModuleList(
            ConvLSTMCell(2 * a_channels[l] + (r_channels[l + 1] if l + 1 < L else 0), r_channels[l], kernel_size)
            for l in range(L))
        self.a_hat = nn.ModuleList(nn.Conv2d(r_channels[l], a_channels[l], kernel_size, padding=kernel_size // 2)
                                   for l in range(L))
        self.a_up = nn.ModuleList(nn.Conv2d(2 * a_channels[l], a_channels[l + 1], kernel_size,
                                            padding=kernel_size // 2) for l in range(L - 1))
        for module in self.modules():       # Keras' default (the reference's): zero biases. PyTorch's
            if isinstance(module, nn.Conv2d):  # random ones can start Â_0 = ReLU(.) dead: all 0, no gradient
                nn.init.zeros_(module.bias)

    #: the error units; ``use(error_units=...)`` replaces them
    error_fn = staticmethod(error_units)

    def use(self, error_units: "Callable | None" = None, convlstm_step: "Callable | None" = None) -> "PredNet":
        """Compute the error units and the ConvLSTM steps of this network with these functions (e.g.
        the ones written in the notebook) instead of the module's; ``None`` keeps the current one.
        Not saved with the model. Returns the model."""
        if error_units is not None:
            self.error_fn = error_units
        if convlstm_step is not None:
            for cell in self.cells:
                cell.step_fn = convlstm_step
        return self

    def initial_state(self, batch: int, height: int, width: int, device=None, dtype=None) -> dict[str, list]:
        """Zeros for ``R``, ``C`` and ``E`` of every layer (layer ``l`` is ``2^l`` times smaller)."""
        if height % 2 ** (self.n_layers - 1) or width % 2 ** (self.n_layers - 1):
            raise ValueError(f"frames of {height}x{width} cannot be halved {self.n_layers - 1} times; use a size "
                             f"divisible by {2 ** (self.n_layers - 1)}.")
        z = lambda ch, l: torch.zeros(batch, ch, height >> l, width >> l, device=device, dtype=dtype)  # noqa: E731
        return {"R": [z(self.r_channels[l], l) for l in range(self.n_layers)],
                "C": [z(self.r_channels[l], l) for l in range(self.n_layers)],
                "E": [z(2 * self.a_channels[l], l) for l in range(self.n_layers)]}

    def step(self, frame: torch.Tensor | None, state: dict[str, list]) -> tuple[torch.Tensor, list[torch.Tensor], dict]:
        """One time step: top-down ``R`` update, then ``Â_0`` (the prediction of ``frame``), then the
        bottom-up ``A``/``Â``/``E`` pass with ``A_0 = frame``, or ``A_0 = Â_0`` when ``frame`` is
        ``None`` (extrapolation: no frame, so the network takes its prediction as what it saw).
        Returns ``(Â_0, [E_l], new state)``."""
        L = self.n_layers
        R, C = [None] * L, [None] * L
        for l in reversed(range(L)):
            inputs = [state["E"][l]]
            if l + 1 < L:
                inputs.append(F.interpolate(R[l + 1], scale_factor=2, mode="nearest"))
            R[l], C[l] = self.cells[l](torch.cat(inputs, dim=1), state["R"][l], state["C"][l])
        errors, a, prediction = [], frame, None
        for l in range(L):
            a_hat = F.relu(self.a_hat[l](R[l]))
            if l == 0:
                a_hat = torch.clamp(a_hat, max=self.pixel_max)
                prediction = a_hat
                if a is None:
                    a = prediction
            e = self.error_fn(a, a_hat)
            errors.append(e)
            if l + 1 < L:
                a = F.max_pool2d(F.relu(self.a_up[l](e)), 2)
        return prediction, errors, {"R": R, "C": C, "E": errors}

    @torch.no_grad()
    def representations(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """``[R_l]`` after the network has seen all of ``frames: (B, T, C, H, W)``: ``(B, r_l, H / 2^l, W / 2^l)``
        per layer (what a probe reads)."""
        B, T, _, H, W = frames.shape
        state = self.initial_state(B, H, W, frames.device, frames.dtype)
        for t in range(T):
            _, _, state = self.step(frames[:, t], state)
        return [r.clone() for r in state["R"]]

    def forward(self, frames: torch.Tensor, extrap_start: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if frames.ndim != 5:
            raise ValueError(f"frames have shape {tuple(frames.shape)}; expected (B, T, C, H, W).")
        B, T, Cn, H, W = frames.shape
        if Cn != self.a_channels[0]:
            raise ValueError(f"frames have {Cn} channels; this PredNet expects {self.a_channels[0]} (a_channels[0]).")
        state = self.initial_state(B, H, W, frames.device, frames.dtype)
        predictions, errors = [], []
        for t in range(T):
            extrapolating = extrap_start is not None and 0 < extrap_start <= t
            prediction, e, state = self.step(None if extrapolating else frames[:, t], state)
            predictions.append(prediction)
            errors.append(torch.stack([(x if self.error_power == 1 else x * x).mean(dim=(1, 2, 3)) for x in e], dim=1))
        return torch.stack(predictions, dim=1), torch.stack(errors, dim=1)


@records_init_args
class ConvLSTMPredictor(nn.Module):
    """The ablation: a plain stack of ConvLSTMs that predicts the next frame, without error units.

    Each step encodes the frame it is given (a 3x3 convolution with stride 2 and ReLU: half the
    resolution), updates ``len(hidden)`` stacked ConvLSTMs at that resolution, and decodes the top
    one's output (a transposed convolution back to full size, then a sigmoid scaled to the pixel
    maximum, its bias started at -3 so that the first predictions are nearly black). PredNet's clipped
    ReLU was tried first and can start dead (a negative bias: every pixel 0, no gradient); a sigmoid
    cannot. As in ``PredNet``, ``predictions[:, t]`` is made from frames ``0..t-1`` only, and from
    ``extrap_start`` on the prediction of a frame is fed in instead of it.

    ``forward(frames, extrap_start=None)`` returns ``(predictions, errors: (B, T, 1))`` where the
    error is the mean of ``error_units(frame, prediction)``, so PredNet's ``L_0`` loss applies
    unchanged; trained with it on Moving MNIST this network predicts black frames, and with
    ``train_predictor(..., loss="MSE")`` it learns (see ``benchmarks/prednet_full.py``).
    """

    def __init__(self, channels: int = 1, hidden: Sequence[int] = (32, 32), kernel_size: int = 3,
                 pixel_max: float = 1.0) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not hidden:
            raise ValueError("hidden must list at least one ConvLSTM width.")
        self.channels, self.hidden, self.pixel_max = int(channels), hidden, float(pixel_max)
        self.encode = nn.Conv2d(channels, hidden[0], kernel_size, stride=2, padding=kernel_size // 2)
        self.cells = nn.ModuleList(ConvLSTMCell(hidden[max(l - 1, 0)], hidden[l], kernel_size)
                                   for l in range(len(hidden)))
        self.decode = nn.ConvTranspose2d(hidden[-1], channels, 4, stride=2, padding=1)
        nn.init.constant_(self.decode.bias, -3.0)

    def _predict(self, h_top: torch.Tensor) -> torch.Tensor:
        return self.pixel_max * torch.sigmoid(self.decode(h_top))

    def forward(self, frames: torch.Tensor, extrap_start: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if frames.ndim != 5 or frames.shape[2] != self.channels:
            raise ValueError(f"frames have shape {tuple(frames.shape)}; expected (B, T, {self.channels}, H, W).")
        B, T, _, H, W = frames.shape
        if H % 2 or W % 2:
            raise ValueError(f"frames of {H}x{W}: the encoder halves them, so use even sizes.")
        hs = [frames.new_zeros(B, h, H // 2, W // 2) for h in self.hidden]
        cs = [torch.zeros_like(h) for h in hs]
        predictions, errors = [], []
        for t in range(T):
            prediction = self._predict(hs[-1])
            frame = frames[:, t]
            errors.append(error_units(frame, prediction).mean(dim=(1, 2, 3))[:, None])
            if extrap_start is not None and 0 < extrap_start <= t:
                frame = prediction           # no frame: the prediction stands in for it, as in PredNet
            predictions.append(prediction)
            x = F.relu(self.encode(frame))
            for l, cell in enumerate(self.cells):
                hs[l], cs[l] = cell(x, hs[l], cs[l])
                x = hs[l]
        return torch.stack(predictions, dim=1), torch.stack(errors, dim=1)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def layer_weights(n_layers: int, kind: str = "L_0") -> torch.Tensor:
    """``L_0``: ``[1, 0, 0, ...]``; ``L_all``: ``[1, 0.1, 0.1, ...]`` (the paper's two losses)."""
    if kind not in ("L_0", "L_all"):
        raise ValueError(f"kind={kind!r}; expected 'L_0' or 'L_all'.")
    w = torch.full((n_layers,), 0.0 if kind == "L_0" else 0.1)
    w[0] = 1.0
    return w


def time_weights(n_steps: int) -> torch.Tensor:
    """0 for the first frame, ``1 / (T - 1)`` for the others."""
    if n_steps < 2:
        raise ValueError(f"n_steps={n_steps}: PredNet's loss needs at least two frames.")
    w = torch.full((n_steps,), 1.0 / (n_steps - 1))
    w[0] = 0.0
    return w


def prednet_loss(errors: torch.Tensor, layer_w: torch.Tensor, time_w: torch.Tensor) -> torch.Tensor:
    """``mean_b sum_t sum_l time_w[t] layer_w[l] errors[b, t, l]`` for ``errors: (B, T, L)``; 0-d tensor."""
    return (errors * time_w[None, :, None] * layer_w[None, None, :]).sum(dim=(1, 2)).mean()


def frame_loss(predictions: torch.Tensor, frames: torch.Tensor, time_w: torch.Tensor, kind: str = "L1") -> torch.Tensor:
    """``mean_b sum_t time_w[t] mean|predictions[b, t] - frames[b, t]|`` (``kind="L1"``) or the same with
    squared errors (``"MSE"``): the loss on the predicted frames themselves. L1 is what PredNet's
    extrapolation fine-tuning uses (there the error units compare a prediction with itself, not with the
    frame); MSE is how ConvLSTM predictors are usually trained. ``predictions, frames: (B, T, C, H, W)``."""
    diff = predictions - frames
    if kind == "L1":
        per_frame = diff.abs().mean(dim=(2, 3, 4))
    elif kind == "MSE":
        per_frame = (diff ** 2).mean(dim=(2, 3, 4))
    else:
        raise ValueError(f"kind={kind!r}; expected 'L1' or 'MSE'.")
    return (per_frame * time_w[None, :]).sum(dim=1).mean()
