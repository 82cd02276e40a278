"""Wrong answers to week 06's exercises (free energy, CD-1, NMMC's join-or-open rule, the hinge step).

See README.md.
"""
from __future__ import annotations

NOTEBOOK = "06_nonparametric.ipynb"


def setup() -> dict:
    ns: dict = {}
    exec("import itertools\n"
         "import math\n"
         "import numpy as np\n"
         "import torch\n"
         "import torch.nn.functional as F\n"
         "from course_utils.checks import week06 as checks\n", ns)
    return ns


def _fe(name: str, body: str) -> tuple[str, str, str]:
    return ("test_free_energy", name, "def free_energy(v, W, b, c):\n" + body)


def _cd(name: str, body: str) -> tuple[str, str, str]:
    return ("test_cd1_gradients", name, "def cd1_gradients(v0, W, b, c, u):\n    B = v0.shape[0]\n"
            "    ph0 = torch.sigmoid(v0 @ W + c)\n" + body)


_CD_TAIL = ("    ph1 = torch.sigmoid(v1 @ W + c)\n"
            "    return (v0.T @ ph0 - v1.T @ ph1) / B, (v0 - v1).mean(0), (ph0 - ph1).mean(0)\n")


def _as(name: str, body: str) -> tuple[str, str, str]:
    return ("test_assign_or_open", name, "def assign_or_open(x, W, counts, lam, prior=0.001):\n    K = len(W)\n" + body)


def _hu(name: str, body: str) -> tuple[str, str, str]:
    return ("test_hinge_update", name, "def hinge_update(W, x, z, margin=0.1, C=0.1):\n" + body)


_HU_HEAD = ("    W = np.array(W, dtype=np.float64, copy=True)\n"
            "    if len(W) < 2:\n        return W\n"
            "    s = W @ x - 0.5 * (W ** 2).sum(1)\n")

CASES = [
    # ---- Exercise 1: free energy ------------------------------------------------------------
    _fe("not done yet", "    raise NotImplementedError()\n"),
    _fe("sign flipped", "    return (v @ b) + F.softplus(v @ W + c).sum(1)\n"),
    _fe("visible bias missing", "    return -F.softplus(v @ W + c).sum(1)\n"),
    _fe("visible bias with the wrong sign", "    return (v @ b) - F.softplus(v @ W + c).sum(1)\n"),
    _fe("log(1 + exp) overflows", "    return -(v @ b) - torch.log(1 + torch.exp(v @ W + c)).sum(1)\n"),
    _fe("sigmoid instead of softplus", "    return -(v @ b) - torch.sigmoid(v @ W + c).sum(1)\n"),
    _fe("hidden bias missing", "    return -(v @ b) - F.softplus(v @ W).sum(1)\n"),
    _fe("summed over the batch too", "    return (-(v @ b) - F.softplus(v @ W + c).sum(1)).sum()\n"),
    _fe("forgot return", "    f = -(v @ b) - F.softplus(v @ W + c).sum(1)\n"),
    _fe("through NumPy", "    import numpy as np\n"
                         "    return -(v.numpy() @ b.numpy()) - np.logaddexp(0, v.numpy() @ W.numpy() + c.numpy()).sum(1)\n"),
    _fe("in-place on v", "    v.mul_(1.0)\n    v += 0.0\n    v[0] = v[0] * 0\n"
                         "    return -(v @ b) - F.softplus(v @ W + c).sum(1)\n"),
    # ---- Exercise 2: CD-1 --------------------------------------------------------------------
    ("test_cd1_gradients", "not done yet", "def cd1_gradients(v0, W, b, c, u):\n    raise NotImplementedError()\n"),
    _cd("probabilities instead of samples", "    v1 = torch.sigmoid(ph0 @ W.T + b)\n" + _CD_TAIL),
    _cd("u > p", "    h0 = (u > ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n" + _CD_TAIL),
    _cd("summed, not averaged", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n"
        "    ph1 = torch.sigmoid(v1 @ W + c)\n"
        "    return v0.T @ ph0 - v1.T @ ph1, (v0 - v1).sum(0), (ph0 - ph1).sum(0)\n"),
    _cd("sign flipped", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n"
        "    ph1 = torch.sigmoid(v1 @ W + c)\n"
        "    return (v1.T @ ph1 - v0.T @ ph0) / B, (v1 - v0).mean(0), (ph1 - ph0).mean(0)\n"),
    _cd("sampled v1", "    h0 = (u < ph0).to(v0.dtype)\n"
        "    v1 = (torch.sigmoid(h0 @ W.T + b) > 0.5).to(v0.dtype)\n" + _CD_TAIL),
    _cd("negative phase with the sampled h1", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n"
        "    h1 = (u < torch.sigmoid(v1 @ W + c)).to(v0.dtype)\n"
        "    return (v0.T @ ph0 - v1.T @ h1) / B, (v0 - v1).mean(0), (ph0 - h1).mean(0)\n"),
    _cd("positive phase with h0 samples", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n"
        "    ph1 = torch.sigmoid(v1 @ W + c)\n"
        "    return (v0.T @ h0 - v1.T @ ph1) / B, (v0 - v1).mean(0), (h0 - ph1).mean(0)\n"),
    _cd("dW transposed", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n"
        "    ph1 = torch.sigmoid(v1 @ W + c)\n"
        "    return (ph0.T @ v0 - ph1.T @ v1) / B, (v0 - v1).mean(0), (ph0 - ph1).mean(0)\n"),
    _cd("returns a list of two", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T + b)\n"
        "    ph1 = torch.sigmoid(v1 @ W + c)\n    return [(v0.T @ ph0 - v1.T @ ph1) / B, (v0 - v1).mean(0)]\n"),
    _cd("forgot the visible bias", "    h0 = (u < ph0).to(v0.dtype)\n    v1 = torch.sigmoid(h0 @ W.T)\n" + _CD_TAIL),
    _cd("float64 result", "    h0 = (u < ph0).double()\n    v1 = torch.sigmoid(h0 @ W.T.double() + b.double())\n"
        "    ph1 = torch.sigmoid(v1 @ W.double() + c.double())\n    v0 = v0.double(); ph0 = ph0.double()\n"
        "    return (v0.T @ ph0 - v1.T @ ph1) / B, (v0 - v1).mean(0), (ph0 - ph1).mean(0)\n"),
    # ---- Exercise 3: join or open ------------------------------------------------------------
    ("test_assign_or_open", "not done yet",
     "def assign_or_open(x, W, counts, lam, prior=0.001):\n    raise NotImplementedError()\n"),
    _as("no prior", "    if K == 0 or not (counts > 0).any():\n        return K\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - 0.5 * lam else K\n"),
    _as("||x||^2 term left out", "    if K == 0 or not (counts > 0).any():\n        return K\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= -0.5 * lam else K\n"),
    _as("empty clusters can be joined", "    if K == 0:\n        return K\n"
        "    s = W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1))\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - 0.5 * lam else K\n"),
    _as("a tie opens (strict >)", "    if K == 0 or not (counts > 0).any():\n        return K\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] > 0.5 * x @ x - 0.5 * lam else K\n"),
    _as("compares with lam, not lam / 2", "    if K == 0 or not (counts > 0).any():\n        return K\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - lam else K\n"),
    _as("counts instead of log counts", "    if K == 0 or not (counts > 0).any():\n        return K\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * counts, -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - 0.5 * lam else K\n"),
    _as("returns -1 to open", "    if K == 0 or not (counts > 0).any():\n        return -1\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - 0.5 * lam else -1\n"),
    _as("returns a float", "    if K == 0 or not (counts > 0).any():\n        return float(K)\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = float(np.argmax(s))\n    return k if s[int(k)] >= 0.5 * x @ x - 0.5 * lam else float(K)\n"),
    _as("K == 0 crashes", "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - 0.5 * lam else K\n"),
    _as("zeroes empty counts in place", "    if K == 0 or not (counts > 0).any():\n        return K\n"
        "    counts[counts <= 0] = 0\n    counts += 0\n    counts[0] = counts[0]\n    W += 0\n    W[0] = W[0] * 1.0001\n"
        "    s = np.where(counts > 0, W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(np.maximum(counts, 1)), -np.inf)\n"
        "    k = int(np.argmax(s))\n    return k if s[k] >= 0.5 * x @ x - 0.5 * lam else K\n"),
    # ---- Exercise 4: hinge step --------------------------------------------------------------
    ("test_hinge_update", "not done yet", "def hinge_update(W, x, z, margin=0.1, C=0.1):\n    raise NotImplementedError()\n"),
    _hu("rival may be z itself", _HU_HEAD + "    r = int(np.argmax(s))\n    loss = max(0.0, margin - (s[z] - s[r]))\n"
        "    if loss == 0:\n        return W\n    gz, gr = x - W[z], x - W[r]\n"
        "    tau = min(C, loss / max(gz @ gz + gr @ gr, 1e-12))\n    W[z] += tau * gz\n    W[r] -= tau * gr\n    return W\n"),
    _hu("no cap C", _HU_HEAD + "    t = s.copy(); t[z] = -np.inf; r = int(np.argmax(t))\n"
        "    loss = max(0.0, margin - (s[z] - s[r]))\n    if loss == 0:\n        return W\n"
        "    gz, gr = x - W[z], x - W[r]\n    tau = loss / (gz @ gz + gr @ gr)\n"
        "    W[z] += tau * gz\n    W[r] -= tau * gr\n    return W\n"),
    _hu("gradient x instead of x - w", _HU_HEAD + "    t = s.copy(); t[z] = -np.inf; r = int(np.argmax(t))\n"
        "    loss = max(0.0, margin - (s[z] - s[r]))\n    if loss == 0:\n        return W\n"
        "    tau = min(C, loss / (2 * x @ x))\n    W[z] += tau * x\n    W[r] -= tau * x\n    return W\n"),
    _hu("rival pulled towards x", _HU_HEAD + "    t = s.copy(); t[z] = -np.inf; r = int(np.argmax(t))\n"
        "    loss = max(0.0, margin - (s[z] - s[r]))\n    if loss == 0:\n        return W\n"
        "    gz, gr = x - W[z], x - W[r]\n    tau = min(C, loss / (gz @ gz + gr @ gr))\n"
        "    W[z] += tau * gz\n    W[r] += tau * gr\n    return W\n"),
    _hu("changes W in place", "    if len(W) < 2:\n        return W\n    s = W @ x - 0.5 * (W ** 2).sum(1)\n"
        "    t = s.copy(); t[z] = -np.inf; r = int(np.argmax(t))\n"
        "    loss = max(0.0, margin - (s[z] - s[r]))\n    if loss == 0:\n        return W\n"
        "    gz, gr = x - W[z], x - W[r]\n    tau = min(C, loss / (gz @ gz + gr @ gr))\n"
        "    W[z] += tau * gz\n    W[r] -= tau * gr\n    return W\n"),
    _hu("always updates (no hinge)", _HU_HEAD + "    t = s.copy(); t[z] = -np.inf; r = int(np.argmax(t))\n"
        "    loss = margin - (s[z] - s[r])\n"
        "    gz, gr = x - W[z], x - W[r]\n    tau = min(C, loss / (gz @ gz + gr @ gr))\n"
        "    W[z] += tau * gz\n    W[r] -= tau * gr\n    return W\n"),
    _hu("returns the step, not the weights", _HU_HEAD + "    t = s.copy(); t[z] = -np.inf; r = int(np.argmax(t))\n"
        "    loss = max(0.0, margin - (s[z] - s[r]))\n    gz, gr = x - W[z], x - W[r]\n"
        "    return min(C, loss / (gz @ gz + gr @ gr))\n"),
    _hu("rival by distance to the origin", _HU_HEAD + "    t = (W ** 2).sum(1); t[z] = np.inf; r = int(np.argmin(t))\n"
        "    loss = max(0.0, margin - (s[z] - s[r]))\n    if loss == 0:\n        return W\n"
        "    gz, gr = x - W[z], x - W[r]\n    tau = min(C, loss / (gz @ gz + gr @ gr))\n"
        "    W[z] += tau * gz\n    W[r] -= tau * gr\n    return W\n"),
]
CASES += [
    _as("log(0) of an empty cluster not masked (NaN with prior 0)",
        "    if K == 0:\n        return K\n"
        "    with np.errstate(divide='ignore', invalid='ignore'):\n"
        "        scores = W @ x - 0.5 * (W ** 2).sum(1) + prior * np.log(counts)\n"
        "    k = int(np.argmax(scores))\n"
        "    return k if scores[k] >= 0.5 * x @ x - 0.5 * lam else K\n"),
]
