"""Self-checks for week 07: PredNet's error units, one ConvLSTM step, the layer- and time-weighted loss.

The evidence is independent of the course's implementation: the error units and the ConvLSTM step
are recomputed pixel by pixel with loops and ``math`` (the convolution as a sum over the 3x3
neighbourhood with zero padding, the gates with the hard sigmoid written out), and the loss as an
explicit triple sum over the batch, the frames and the layers. When a result matches a known
mistake (the two halves of E swapped, ``|A - Â|`` in one half, a plain sigmoid or tanh for the
gates, the gates in another order, ``h`` from the old cell, the first frame weighted, a sum over
the batch where the mean belongs, ...) the message names it. Each check also calls the function
at the notebook's shapes (fast 32x32, full 64x64) and rejects ``None`` and changed inputs.

Usage in the notebook::

    from course_utils.checks import week07 as checks
    checks.check_error_units(error_units)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from course_utils.checks._common import CheckFailed, as_array, call_student, check_gradient_flow, ok, self_check
from course_utils.checks._common import reference_by_name as _reference_by_name

__all__ = ["CheckFailed", "check_error_units", "check_convlstm_step", "check_prednet_loss",
           "reference_if_unfinished"]

#: The notebook's layer shapes (batch, channels of A, height, width): fast mode's 32x32 frames with
#: a (1, 16, 32) PredNet, full mode's 64x64 with (1, 16, 32, 64).
_NOTEBOOK_A = ((16, 1, 32, 32), (16, 16, 16, 16), (8, 1, 64, 64), (8, 32, 16, 16), (8, 64, 8, 8))
#: ConvLSTM cells (batch, input channels, hidden channels, size) of those networks.
_NOTEBOOK_CELLS = ((16, 2 + 16, 1, 32), (16, 32, 16, 16), (8, 128, 64, 8), (8, 64 + 32, 16, 32))


#: Why each input must get its gradient (the gradient checks name the one that does not).
_GRADIENT_HINTS = {
    "a": "The target A must get one: above the first layer A_l is computed from the errors below "
         "(A_l = maxpool(ReLU(conv(E_(l-1))))), so a detached target cuts the layers above from the loss.",
    "a_hat": "The prediction Â must get one: it is how PredNet learns to predict at all.",
    "x": "The input x comes from the error units: without this gradient the layers below learn nothing from "
         "this one.",
    "h": "The hidden state h carries the gradient back to earlier frames (back-propagation through time).",
    "c": "The cell state c carries the gradient back to earlier frames: detaching it cuts back-propagation "
         "through time, so the cell cannot learn what to remember.",
    "weight": "The convolution's weights are what training changes.",
    "bias": "The biases are trained too.",
    "errors": "The loss must back-propagate into the error units, or training does nothing.",
}


def _reference(name: str) -> Callable:
    return _references()[name][0]


def _hard_sigmoid(x: float) -> float:
    return min(max(0.2 * x + 0.5, 0.0), 1.0)


def _tensors(value: Any, count: int, label: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise CheckFailed(f"{label} returned {type(value).__name__}; expected a tuple of {count} tensors.")
    return tuple(value)


# --------------------------------------------------------------------------------------------
# Error units
# --------------------------------------------------------------------------------------------

@self_check
def check_error_units(error_units: Callable) -> None:
    """``error_units(a, a_hat) -> (B, 2C, H, W)``: ``[ReLU(A - Â); ReLU(Â - A)]`` along channels."""
    import torch

    name = "error_units"
    for seed, (B, C, H, W) in enumerate(((1, 1, 2, 3), (2, 3, 4, 4), (3, 2, 5, 3))):
        g = torch.Generator().manual_seed(seed)
        a, a_hat = torch.rand(B, C, H, W, generator=g), torch.rand(B, C, H, W, generator=g)
        label = f"{name}(a: {(B, C, H, W)}, a_hat)"
        got = as_array(call_student(error_units, a, a_hat, name=name), label)
        if got.shape != (B, 2 * C, H, W):
            hint = ("You stacked the halves on a new axis; concatenate them along the channels (dim=1)."
                    if got.shape in ((2, B, C, H, W), (B, 2, C, H, W), (B, C, H, W, 2)) else
                    "The two halves go one after the other along the channels (dim=1): 2C channels.")
            raise CheckFailed(f"{label} has shape {got.shape}, expected {(B, 2 * C, H, W)}. {hint}")
        an, hn = a.numpy(), a_hat.numpy()
        want = np.zeros((B, 2 * C, H, W))
        for b in range(B):
            for c in range(C):
                for i in range(H):
                    for j in range(W):
                        d = float(an[b, c, i, j]) - float(hn[b, c, i, j])
                        want[b, c, i, j] = max(d, 0.0)            # under-predicted: A above Â
                        want[b, C + c, i, j] = max(-d, 0.0)       # over-predicted: Â above A
        if np.allclose(got, want, atol=1e-6):
            continue
        near = lambda x: np.allclose(got, x, atol=1e-6)  # noqa: E731
        if near(np.concatenate([want[:, C:], want[:, :C]], axis=1)):
            raise CheckFailed(f"{name}: the two halves are swapped. The first C channels are ReLU(A - Â) "
                              "(where the frame is brighter than predicted), the last C are ReLU(Â - A).")
        if near(np.concatenate([np.abs(an - hn)] * 2, axis=1)):
            raise CheckFailed(f"{name}: both halves hold |A - Â|. Each half keeps one sign only: ReLU(A - Â) "
                              "and ReLU(Â - A), so at every pixel one of them is 0.")
        if near(np.concatenate([an - hn, hn - an], axis=1)):
            raise CheckFailed(f"{name}: the ReLU is missing: the halves are A - Â and Â - A with their negative "
                              "parts. Error units fire (are > 0) for one sign only.")
        where = tuple(int(i) for i in np.argwhere(~np.isclose(got, want, atol=1e-6))[0])
        raise CheckFailed(f"{label} differs at index {where}: got {got[where]:.6f}, expected {want[where]:.6f} "
                          "(computed pixel by pixel: ReLU(A - Â) in the first C channels, ReLU(Â - A) after).")
    for B, C, H, W in _NOTEBOOK_A:
        g = torch.Generator().manual_seed(B * C + H)
        a, a_hat = torch.rand(B, C, H, W, generator=g), torch.rand(B, C, H, W, generator=g)
        got = call_student(error_units, a, a_hat, name=name)
        label = f"{name}(a: {(B, C, H, W)}) at the notebook's size"
        if not isinstance(got, torch.Tensor) or got.dtype != torch.float32:
            raise CheckFailed(f"{label} returned {type(got).__name__} {getattr(got, 'dtype', '')}; expected a "
                              "float32 torch tensor (PredNet trains through it: stay in torch, no NumPy).")
        want = torch.cat([torch.clamp(a - a_hat, min=0), torch.clamp(a_hat - a, min=0)], dim=1)
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-6):
            raise CheckFailed(f"{label} is wrong although the small cases passed: look for sizes written into "
                              "your code (use the shapes of a).")
    g = torch.Generator().manual_seed(11)
    check_gradient_flow(error_units, _reference("error_units"), name=name,
                        inputs={"a": torch.rand(2, 3, 4, 4, generator=g), "a_hat": torch.rand(2, 3, 4, 4, generator=g)},
                        hints=_GRADIENT_HINTS)
    ok("error_units matches ReLU(A - Â) and ReLU(Â - A) computed pixel by pixel, stacked along the channels, "
       "at the notebook's sizes too, and back-propagates into both A and Â exactly as the reference does.")


# --------------------------------------------------------------------------------------------
# One ConvLSTM step
# --------------------------------------------------------------------------------------------

def _convlstm_loops(x: np.ndarray, h: np.ndarray, c: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                    gate=_hard_sigmoid) -> tuple[np.ndarray, np.ndarray]:
    """The step with explicit sums over the k x k neighbourhood (zero padding), pixel by pixel."""
    B, Cin, H, W = x.shape
    Ch = h.shape[1]
    k = weight.shape[-1]
    p = k // 2
    inp = np.concatenate([x, h], axis=1)
    h_new, c_new = np.zeros_like(h), np.zeros_like(c)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                z = [float(bias[o]) for o in range(4 * Ch)]
                for o in range(4 * Ch):
                    for q in range(Cin + Ch):
                        for di in range(k):
                            for dj in range(k):
                                ii, jj = i + di - p, j + dj - p
                                if 0 <= ii < H and 0 <= jj < W:
                                    z[o] += float(weight[o, q, di, dj]) * float(inp[b, q, ii, jj])
                for m in range(Ch):
                    gi, gf, go, gg = z[m], z[Ch + m], z[2 * Ch + m], z[3 * Ch + m]
                    cell = gate(gf) * float(c[b, m, i, j]) + gate(gi) * math.tanh(gg)
                    c_new[b, m, i, j] = cell
                    h_new[b, m, i, j] = gate(go) * math.tanh(cell)
    return h_new, c_new


def _tiny_cell(seed: int, B: int, Cin: int, Ch: int, H: int, W: int, k: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, Cin, H, W, generator=g, dtype=torch.float64)
    h = torch.randn(B, Ch, H, W, generator=g, dtype=torch.float64)
    c = torch.randn(B, Ch, H, W, generator=g, dtype=torch.float64)
    weight = 0.8 * torch.randn(4 * Ch, Cin + Ch, k, k, generator=g, dtype=torch.float64)
    bias = torch.randn(4 * Ch, generator=g, dtype=torch.float64)
    return x, h, c, weight, bias


@self_check
def check_convlstm_step(convlstm_step: Callable) -> None:
    """``convlstm_step(x, h, c, weight, bias) -> (h', c')``: gates i, f, o, g from ``conv([x; h])``."""
    import torch

    name = "convlstm_step"
    cases = ((1, 1, 1, 3, 3, 1), (2, 2, 2, 3, 4, 3), (1, 3, 1, 4, 3, 3))
    for seed, (B, Cin, Ch, H, W, k) in enumerate(cases):
        x, h, c, weight, bias = _tiny_cell(seed, B, Cin, Ch, H, W, k)
        label = f"{name}(x: {(B, Cin, H, W)}, h, c: {(B, Ch, H, W)}, weight: {tuple(weight.shape)})"
        got = _tensors(call_student(convlstm_step, x, h, c, weight, bias, name=name), 2, label)
        h_got = as_array(got[0], f"{label}[0] (h')")
        c_got = as_array(got[1], f"{label}[1] (c')")
        if h_got.shape != (B, Ch, H, W) or c_got.shape != (B, Ch, H, W):
            raise CheckFailed(f"{label} returned shapes {h_got.shape} and {c_got.shape}; both must be {(B, Ch, H, W)}: "
                              "split conv([x; h]) into 4 chunks of C_h channels (dim=1) and use 'same' padding k // 2.")
        args = [t.numpy() for t in (x, h, c, weight, bias)]
        h_want, c_want = _convlstm_loops(*args)
        if np.allclose(h_got, h_want, atol=1e-8) and np.allclose(c_got, c_want, atol=1e-8):
            continue
        if np.allclose(h_got, c_want, atol=1e-8) and np.allclose(c_got, h_want, atol=1e-8):
            raise CheckFailed(f"{name}: you returned (c', h'); return (h', c').")
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        if np.allclose(c_got, _convlstm_loops(*args, gate=sig)[1], atol=1e-8):
            raise CheckFailed(f"{name}: the gates use the logistic sigmoid; PredNet (as Keras) uses the hard "
                              "sigmoid clip(0.2 z + 0.5, 0, 1) for i, f and o.")
        torch_hs = lambda v: min(max(v / 6.0 + 0.5, 0.0), 1.0)  # noqa: E731 - F.hardsigmoid, slope 1/6
        if np.allclose(c_got, _convlstm_loops(*args, gate=torch_hs)[1], atol=1e-8):
            raise CheckFailed(f"{name}: the gates use torch's F.hardsigmoid, clip(z / 6 + 1/2, 0, 1) (slope 1/6); "
                              "PredNet, as Keras, uses clip(0.2 z + 0.5, 0, 1) (slope 0.2). They differ wherever 0 < |z| < 3: "
                              "write it out, torch.clamp(0.2 * z + 0.5, 0.0, 1.0).")
        if not np.allclose(c_got, c_want, atol=1e-8):
            order = _gate_order(c_got, args)
            raise CheckFailed(f"{label}: the new cell c' is wrong{order}. c' = f * c + i * tanh(g), with "
                              "i, f, o, g the four chunks of conv([x; h]) in that order (dim=1).")
        if np.allclose(h_got, np.tanh(c_got), atol=1e-8) or np.allclose(h_got, c_got, atol=1e-8):
            raise CheckFailed(f"{name}: h' is missing the output gate: h' = o * tanh(c').")
        raise CheckFailed(f"{label}: c' is right but h' differs (first at {_first_diff(h_got, h_want)}): "
                          "h' = hard_sigmoid(o) * tanh(c'), with the NEW cell c'.")
    for B, Cin, Ch, S in _NOTEBOOK_CELLS:
        g = torch.Generator().manual_seed(Cin + Ch)
        x, h, c = torch.rand(B, Cin, S, S, generator=g), torch.rand(B, Ch, S, S, generator=g), torch.rand(B, Ch, S, S, generator=g)
        weight, bias = 0.05 * torch.randn(4 * Ch, Cin + Ch, 3, 3, generator=g), 0.1 * torch.randn(4 * Ch, generator=g)
        label = f"{name}(x: {(B, Cin, S, S)}, h: {(B, Ch, S, S)}) at the notebook's size"
        got = _tensors(call_student(convlstm_step, x, h, c, weight, bias, name=name), 2, label)
        z = torch.nn.functional.conv2d(torch.cat([x, h], 1), weight, bias, padding=1)
        i, f, o, gg = z.chunk(4, 1)
        hs = lambda v: torch.clamp(0.2 * v + 0.5, 0, 1)  # noqa: E731
        c_want = hs(f) * c + hs(i) * torch.tanh(gg)
        h_want = hs(o) * torch.tanh(c_want)
        for part, want, what in ((got[0], h_want, "h'"), (got[1], c_want, "c'")):
            if not isinstance(part, torch.Tensor) or part.dtype != torch.float32:
                raise CheckFailed(f"{label}: {what} is {type(part).__name__} {getattr(part, 'dtype', '')}; expected a "
                                  "float32 torch tensor (stay in torch).")
            if part.shape != want.shape or not torch.allclose(part, want, atol=1e-5):
                raise CheckFailed(f"{label}: {what} is wrong although the small cases passed: look for sizes or "
                                  "channel counts written into your code (take them from weight.shape and h.shape).")
    x, h, c, weight, bias = _tiny_cell(7, 2, 2, 2, 4, 4, 3)
    check_gradient_flow(convlstm_step, _reference("convlstm_step"), name=name,
                        inputs={"x": x, "h": h, "c": c, "weight": weight, "bias": bias}, hints=_GRADIENT_HINTS)
    ok("convlstm_step matches the step computed pixel by pixel (3x3 sums with zero padding, hard-sigmoid gates "
       "i, f, o and tanh cell input, in that order), at the notebook's sizes too, and back-propagates into x, h, "
       "c and the weights exactly as the reference does.")


def _first_diff(got: np.ndarray, want: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(~np.isclose(got, want, atol=1e-8))[0])


def _gate_order(c_got: np.ndarray, args: list) -> str:
    """' (the chunks are in the order ...)' when another order of the four chunks explains c'."""
    import itertools

    x, h, c, weight, bias = args
    Ch = h.shape[1]
    chunks = [slice(q * Ch, (q + 1) * Ch) for q in range(4)]
    for perm in itertools.permutations(range(4)):
        if perm == (0, 1, 2, 3):
            continue
        w = np.concatenate([weight[chunks[p]] for p in perm])
        bb = np.concatenate([bias[chunks[p]] for p in perm])
        if np.allclose(c_got, _convlstm_loops(x, h, c, w, bb)[1], atol=1e-8):
            names = "ifog"
            return f" (your code reads the chunks as if they were in the order {', '.join(names[p] for p in perm)})"
    return ""


# --------------------------------------------------------------------------------------------
# The weighted loss
# --------------------------------------------------------------------------------------------

@self_check
def check_prednet_loss(prednet_loss: Callable) -> None:
    """``prednet_loss(errors: (B, T, L), layer_w: (L,), time_w: (T,)) -> 0-d``:
    ``mean_b sum_t sum_l time_w[t] layer_w[l] errors[b, t, l]``."""
    import torch

    name = "prednet_loss"
    for seed, (B, T, L) in enumerate(((1, 3, 2), (3, 4, 3), (2, 10, 4))):
        g = torch.Generator().manual_seed(seed)
        errors = torch.rand(B, T, L, generator=g, dtype=torch.float64)
        layer_w = torch.tensor([1.0] + [0.1] * (L - 1), dtype=torch.float64)
        time_w = torch.tensor([0.0] + [1.0 / (T - 1)] * (T - 1), dtype=torch.float64)
        if seed == 2:   # unequal weights, so that a swapped or ignored weight shows
            layer_w = torch.rand(L, generator=g, dtype=torch.float64)
            time_w = torch.rand(T, generator=g, dtype=torch.float64)
        label = f"{name}(errors: {(B, T, L)}, layer_w {layer_w.numpy().round(2).tolist()}, time_w)"
        got = call_student(prednet_loss, errors, layer_w, time_w, name=name)
        arr = as_array(got, label)
        if arr.shape != ():
            raise CheckFailed(f"{label} has shape {arr.shape}; expected one number (a 0-d tensor): sum over the "
                              "frames and layers, then average over the batch.")
        e, lw, tw = errors.numpy(), layer_w.numpy(), time_w.numpy()
        per_seq = [sum(tw[t] * lw[l] * e[b, t, l] for t in range(T) for l in range(L)) for b in range(B)]
        want = sum(per_seq) / B
        value = float(arr)
        if math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):   # float32 results pass here too
            continue
        if math.isclose(value, sum(per_seq), rel_tol=1e-9):
            raise CheckFailed(f"{label} = {value:.6f}, expected {want:.6f}: you summed over the batch; average over "
                              "it (the loss must not grow with the batch size).")
        if math.isclose(value, float((e * tw[None, :, None] * lw[None, None, :]).mean()), rel_tol=1e-9):
            raise CheckFailed(f"{label} = {value:.6f}, expected {want:.6f}: you averaged over the frames and layers "
                              "too; the weights already scale them, so sum over t and l and average over b only.")
        if math.isclose(value, float((e * tw[None, :, None]).sum((1, 2)).mean()), rel_tol=1e-9):
            raise CheckFailed(f"{label}: the layer weights are not used (every layer counts 1).")
        if math.isclose(value, float((e * lw[None, None, :]).sum((1, 2)).mean()), rel_tol=1e-9):
            raise CheckFailed(f"{label}: the time weights are not used (every frame counts 1, even the first, "
                              "which nothing could have predicted).")
        raise CheckFailed(f"{label} = {value:.6f}, expected {want:.6f} = mean over b of sum over t, l of "
                          "time_w[t] * layer_w[l] * errors[b, t, l].")
    # the notebook's use: float32 errors from the network, with a gradient
    check_gradient_flow(prednet_loss, _reference("prednet_loss"), name=name,
                        inputs={"errors": torch.rand(16, 10, 3, generator=torch.Generator().manual_seed(3))},
                        constants=(torch.tensor([1.0, 0.1, 0.1]),
                                   torch.full((10,), 1 / 9).index_fill(0, torch.tensor([0]), 0.0)),
                        hints=_GRADIENT_HINTS)
    ok("prednet_loss matches the explicit sum over frames and layers, weighted, averaged over the batch, and "
       "back-propagates into the error units exactly as the reference does.")


def _references() -> dict[str, tuple[Callable, str]]:
    """Exercise name -> (the course package's implementation, the exercise's label)."""
    from course_utils.models import prednet

    return {
        "error_units": (prednet.error_units, "Exercise 1 (error_units)"),
        "convlstm_step": (prednet.convlstm_step, "Exercise 2 (convlstm_step)"),
        "prednet_loss": (prednet.prednet_loss, "Exercise 3 (prednet_loss)"),
    }


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn``, or (while it still raises ``NotImplementedError``) the course's implementation of it:
    ``course_utils.models.prednet.error_units``, ``convlstm_step`` and ``prednet_loss``."""
    return _reference_by_name(fn, _references(), "07")
