"""Wrong answers to week 07's exercises (PredNet's error units, one ConvLSTM step, the weighted loss).

See README.md.
"""
from __future__ import annotations

NOTEBOOK = "07_prednet.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import numpy as np\n"
         "import torch\n"
         "import torch.nn.functional as F\n"
         "from course_utils.checks import week07 as checks\n"
         "from course_utils.models import prednet as pn\n", ns)
    return ns


def _eu(name: str, body: str) -> tuple[str, str, str]:
    return ("test_error_units", name, "def error_units(a, a_hat):\n" + body)


def _cs(name: str, body: str) -> tuple[str, str, str]:
    return ("test_convlstm_step", name, "def convlstm_step(x, h, c, weight, bias):\n" + body)


_Z = "    z = F.conv2d(torch.cat([x, h], dim=1), weight, bias, padding=weight.shape[-1] // 2)\n"
_HS = "    hs = lambda v: torch.clamp(0.2 * v + 0.5, 0.0, 1.0)\n"


def _pl(name: str, body: str) -> tuple[str, str, str]:
    return ("test_prednet_loss", name, "def prednet_loss(errors, layer_w, time_w):\n" + body)


_W = "errors * time_w[None, :, None] * layer_w[None, None, :]"

CASES = [
    # ---- Exercise 1: the error units ---------------------------------------------------------
    _eu("not done yet", "    raise NotImplementedError()\n"),
    _eu("halves swapped", "    return torch.cat([F.relu(a_hat - a), F.relu(a - a_hat)], dim=1)\n"),
    _eu("absolute difference in both halves", "    return torch.cat([(a - a_hat).abs(), (a - a_hat).abs()], dim=1)\n"),
    _eu("no ReLU", "    return torch.cat([a - a_hat, a_hat - a], dim=1)\n"),
    _eu("stacked on a new axis", "    return torch.stack([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1)\n"),
    _eu("concatenated along the width", "    return torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=-1)\n"),
    _eu("only one half", "    return F.relu(a - a_hat)\n"),
    _eu("detached", "    return torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1).detach()\n"),
    _eu("through NumPy", "    import numpy as np\n    d = (a - a_hat).detach().numpy()\n"
                         "    return torch.from_numpy(np.concatenate([np.maximum(d, 0), np.maximum(-d, 0)], axis=1))\n"),
    _eu("in-place on a", "    a.sub_(a_hat)\n    return torch.cat([F.relu(a), F.relu(-a)], dim=1)\n"),
    _eu("forgot return", "    e = torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1)\n"),
    # ---- Exercise 2: one ConvLSTM step -------------------------------------------------------
    _cs("not done yet", "    raise NotImplementedError()\n"),
    _cs("logistic sigmoid gates", _Z + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)\n"
        "    return torch.sigmoid(o) * torch.tanh(c2), c2\n"),
    _cs("gates in the order f, i, o, g", _Z + _HS + "    f, i, o, g = z.chunk(4, dim=1)\n"
        "    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n    return hs(o) * torch.tanh(c2), c2\n"),
    _cs("returns (c', h')", _Z + _HS + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n    return c2, hs(o) * torch.tanh(c2)\n"),
    _cs("h' from the old cell", _Z + _HS + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n    return hs(o) * torch.tanh(c), c2\n"),
    _cs("no output gate", _Z + _HS + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n    return torch.tanh(c2), c2\n"),
    _cs("no padding", "    z = F.conv2d(torch.cat([x, h], dim=1), weight, bias)\n" + _HS
        + "    i, f, o, g = z.chunk(4, dim=1)\n    c2 = hs(f) * c[..., 1:-1, 1:-1] + hs(i) * torch.tanh(g)\n"
        "    return hs(o) * torch.tanh(c2), c2\n"),
    _cs("bias left out", "    z = F.conv2d(torch.cat([x, h], dim=1), weight, padding=weight.shape[-1] // 2)\n" + _HS
        + "    i, f, o, g = z.chunk(4, dim=1)\n    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n"
        "    return hs(o) * torch.tanh(c2), c2\n"),
    _cs("[h; x] instead of [x; h]", "    z = F.conv2d(torch.cat([h, x], dim=1), weight, bias, padding=weight.shape[-1] // 2)\n"
        + _HS + "    i, f, o, g = z.chunk(4, dim=1)\n    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n"
        "    return hs(o) * torch.tanh(c2), c2\n"),
    _cs("forgot return", _Z + "    i, f, o, g = z.chunk(4, dim=1)\n"),
    # ---- Exercise 3: the loss ------------------------------------------------------------------
    _pl("not done yet", "    raise NotImplementedError()\n"),
    _pl("summed over the batch", f"    return ({_W}).sum()\n"),
    _pl("mean over everything", f"    return ({_W}).mean()\n"),
    _pl("no layer weights", "    return (errors * time_w[None, :, None]).sum(dim=(1, 2)).mean()\n"),
    _pl("no time weights", "    return (errors * layer_w[None, None, :]).sum(dim=(1, 2)).mean()\n"),
    _pl("one value per sequence", f"    return ({_W}).sum(dim=(1, 2))\n"),
    _pl("weights on the wrong axes", "    return (errors * time_w[None, None, :] * layer_w[None, :, None]).sum(dim=(1, 2)).mean()\n"),
    _pl("a float, not a tensor", f"    return float(({_W}).sum(dim=(1, 2)).mean())\n"),
    _pl("detached", f"    return ({_W}).sum(dim=(1, 2)).mean().detach()\n"),
    _pl("in-place on errors", "    errors.mul_(time_w[None, :, None])\n"
        "    return (errors * layer_w[None, None, :]).sum(dim=(1, 2)).mean()\n"),
]

# ---- Where the gradient flows (all three really wrong: the hidden tests reject them too) -------
CASES += [
    _eu("the prediction detached", "    a_hat = a_hat.detach()\n"
        "    return torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1)\n"),
    _eu("the target detached", "    a = a.detach()\n"
        "    return torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1)\n"),
    _eu("through NumPy, re-wrapped with requires_grad", "    d = (a - a_hat).detach().numpy()\n"
        "    e = np.concatenate([np.maximum(d, 0), np.maximum(-d, 0)], axis=1)\n"
        "    return torch.tensor(e, requires_grad=True)\n"),
    _eu("under no_grad, then requires_grad_", "    with torch.no_grad():\n"
        "        e = torch.cat([F.relu(a - a_hat), F.relu(a_hat - a)], dim=1)\n"
        "    return e.requires_grad_()\n"),
    _cs("the cell state detached", _Z + _HS + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = hs(f) * c.detach() + hs(i) * torch.tanh(g)\n    return hs(o) * torch.tanh(c2), c2\n"),
    _cs("under no_grad, then requires_grad_", "    with torch.no_grad():\n" + _Z.replace("    ", "        ", 1)
        + _HS.replace("    ", "        ", 1) + "        i, f, o, g = z.chunk(4, dim=1)\n"
        "        c2 = hs(f) * c + hs(i) * torch.tanh(g)\n        h2 = hs(o) * torch.tanh(c2)\n"
        "    return h2.requires_grad_(), c2.requires_grad_()\n"),
    _cs("the hidden state detached", "    z = F.conv2d(torch.cat([x, h.detach()], dim=1), weight, bias, "
        "padding=weight.shape[-1] // 2)\n" + _HS + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = hs(f) * c + hs(i) * torch.tanh(g)\n    return hs(o) * torch.tanh(c2), c2\n"),
    _pl("a float re-wrapped with requires_grad",
        f"    return torch.tensor(float(({_W}).sum(dim=(1, 2)).mean()), requires_grad=True)\n"),
    _pl("under no_grad, then requires_grad_", "    with torch.no_grad():\n"
        f"        loss = ({_W}).sum(dim=(1, 2)).mean()\n    return loss.requires_grad_()\n"),
    _pl("the errors detached", f"    return ({_W.replace('errors', 'errors.detach()', 1)}).sum(dim=(1, 2)).mean()\n"),
]
#: Answers that are really wrong: the hidden tests must reject them, not only the self-check.
REALLY_WRONG = {case[1] for case in CASES[-10:]}  # the ten gradient cases above
CASES += [
    _cs("torch's F.hardsigmoid (slope 1/6) for the gates", _Z + "    i, f, o, g = z.chunk(4, dim=1)\n"
        "    c2 = F.hardsigmoid(f) * c + F.hardsigmoid(i) * torch.tanh(g)\n"
        "    return F.hardsigmoid(o) * torch.tanh(c2), c2\n"),
]
