"""Self-checks for week 06: the RBM's free energy, the CD-1 update, NMMC's assignment rule, its hinge step.

The evidence is independent of the course's implementation: the free energy is compared with
``-log sum_h exp(-E(v, h))`` summed over every hidden state of a tiny RBM (loops, ``math``); the
CD-1 statistics with loops over the batch, and its positive and negative halves with autograd
through that brute-force free energy (``-dF/dW = v p(h|v)^T``); the assignment rule and the hinge
step with hand-built 2-D cases whose answers can be read off a sketch, then seeded random ones at
the notebook's sizes. When the result matches a known mistake (a flipped sign, a missing bias
term, ``log(1 + exp)`` that overflows, probabilities where samples belong, a sum where a mean
belongs, the prior or the ``||x||^2`` term left out, a rival that can be the cluster itself, a step
not capped by C, ...) the message names it.

Usage in the notebook::

    from course_utils.checks import week06 as checks
    checks.check_free_energy(free_energy)
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np

from course_utils.checks._common import CheckFailed, call_student, ok, self_check
from course_utils.checks._common import reference_by_name as _reference_by_name

__all__ = ["CheckFailed", "check_free_energy", "check_cd1_gradients", "check_assign_or_open", "check_hinge_update",
           "reference_if_unfinished"]

#: The shapes the notebook passes: RBM layers 784-256 (fast) and 784-500 (full) on batches of 100
#: images, float32; NMMC codes of d = 50 with up to 40 clusters, float64.
_NOTEBOOK_RBMS = ((100, 784, 256), (100, 784, 500), (100, 256, 128), (100, 250, 50))
_NOTEBOOK_D, _NOTEBOOK_K = 50, 40


# --------------------------------------------------------------------------------------------
# Brute-force references
# --------------------------------------------------------------------------------------------

def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _free_energy_enum(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """F(v) = -log sum_h exp(-E(v, h)) over every binary h (tiny H only), one row at a time."""
    D, H = W.shape
    out = np.zeros(len(v))
    for n, row in enumerate(v):
        terms = []
        for h in itertools.product((0.0, 1.0), repeat=H):
            e = -sum(b[i] * row[i] for i in range(D)) - sum(c[j] * h[j] for j in range(H))
            e -= sum(row[i] * W[i, j] * h[j] for i in range(D) for j in range(H))
            terms.append(-e)
        m = max(terms)
        out[n] = -(m + math.log(sum(math.exp(t - m) for t in terms)))
    return out


def _free_energy_closed(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """-b.v - sum_j softplus(c_j + (vW)_j), by loops with a stable softplus."""
    D, H = W.shape
    return np.array([-sum(b[i] * row[i] for i in range(D))
                     - sum(_softplus(c[j] + sum(row[i] * W[i, j] for i in range(D))) for j in range(H))
                     for row in v])


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _cd1_loops(v0: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray, u: np.ndarray, *,
               sample_h: bool = True, flip: bool = False, mean: bool = True):
    """CD-1 by loops: h0 = [u < p(h|v0)], v1 = p(v|h0), statistics with p(h|v0) and p(h|v1)."""
    B, D = v0.shape
    H = W.shape[1]
    ph0 = np.array([[_sigmoid(c[j] + sum(v0[n, i] * W[i, j] for i in range(D))) for j in range(H)]
                    for n in range(B)])
    if sample_h:
        h0 = (u > ph0) if flip else (u < ph0)
        h0 = h0.astype(float)
    else:
        h0 = ph0
    v1 = np.array([[_sigmoid(b[i] + sum(W[i, j] * h0[n, j] for j in range(H))) for i in range(D)]
                   for n in range(B)])
    ph1 = np.array([[_sigmoid(c[j] + sum(v1[n, i] * W[i, j] for i in range(D))) for j in range(H)]
                    for n in range(B)])
    div = B if mean else 1
    dW = np.array([[sum(v0[n, i] * ph0[n, j] - v1[n, i] * ph1[n, j] for n in range(B)) / div for j in range(H)]
                   for i in range(D)])
    db = np.array([sum(v0[n, i] - v1[n, i] for n in range(B)) / div for i in range(D)])
    dc = np.array([sum(ph0[n, j] - ph1[n, j] for n in range(B)) / div for j in range(H)])
    return dW, db, dc, v1


def _rbm(seed: int, B: int, D: int, H: int, binary: bool = True, scale: float = 1.0):
    """Seeded float64 torch tensors v (B, D), W (D, H), b (D,), c (H,)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    v = torch.rand(B, D, generator=g, dtype=torch.float64)
    if binary:
        v = (v < 0.5).to(torch.float64)
    W = scale * torch.randn(D, H, generator=g, dtype=torch.float64)
    b = 0.5 * torch.randn(D, generator=g, dtype=torch.float64)
    c = 0.5 * torch.randn(H, generator=g, dtype=torch.float64)
    return v, W, b, c


def _vector(value: Any, shape: tuple[int, ...], label: str, hint: str) -> np.ndarray:
    import torch

    if value is None:
        raise CheckFailed(f"{label} is None: did you forget to `return` it?")
    if isinstance(value, np.ndarray):
        raise CheckFailed(f"{label} is a NumPy array; return a torch tensor (the training loop adds it to "
                          "torch parameters). Stay in torch: torch.sigmoid, F.softplus, @.")
    if not torch.is_tensor(value):
        raise CheckFailed(f"{label} is a {type(value).__name__}; expected a torch tensor of shape {shape}.")
    if tuple(value.shape) != tuple(shape):
        transposed = " It looks transposed." if tuple(value.shape) == tuple(shape)[::-1] and len(shape) == 2 else ""
        raise CheckFailed(f"{label} has shape {tuple(value.shape)}, expected {tuple(shape)}.{transposed} {hint}")
    arr = value.detach().cpu().double().numpy()
    if not np.all(np.isfinite(arr)):
        raise CheckFailed(f"{label} contains NaN or inf: an exp that overflowed? (use F.softplus / torch.sigmoid, "
                          "which stay finite for large inputs)")
    return arr


# --------------------------------------------------------------------------------------------
# Exercise 1: free energy
# --------------------------------------------------------------------------------------------

@self_check
def check_free_energy(free_energy: Callable) -> None:
    """``free_energy(v, W, b, c) -> (B,)``: ``F(v) = -log sum_h exp(-E(v, h))``."""
    import torch

    name = "free_energy"
    for seed, (B, D, H, binary) in enumerate(((4, 3, 4, True), (5, 4, 3, False), (3, 2, 5, True))):
        v, W, b, c = _rbm(seed, B, D, H, binary)
        label = f"{name}(v: ({B}, {D}), W: ({D}, {H}), b, c)"
        got = _vector(call_student(free_energy, v, W, b, c, name=name), (B,), label,
                      "One free energy per row of v: sum over the hidden units, not over the batch.")
        vn, Wn, bn, cn = (t.numpy() for t in (v, W, b, c))
        want = _free_energy_enum(vn, Wn, bn, cn)
        if np.allclose(got, want, rtol=1e-6, atol=1e-8):
            continue
        near = lambda a: np.allclose(got, a, rtol=1e-5, atol=1e-7)  # noqa: E731
        if near(-want):
            raise CheckFailed(f"{name}: the sign is flipped. F(v) = -b.v - sum_j softplus(c_j + (vW)_j) "
                              "(low free energy = probable image).")
        if near(want + vn @ bn):
            raise CheckFailed(f"{name}: the visible-bias term -b.v is missing.")
        if near(want + 2 * (vn @ bn)):
            raise CheckFailed(f"{name}: the visible-bias term has the wrong sign; it is -b.v.")
        pre = vn @ Wn + cn
        if near(-(vn @ bn) - (1 / (1 + np.exp(-pre))).sum(1)):
            raise CheckFailed(f"{name}: you summed sigmoid(c + vW); the hidden units contribute "
                              "softplus(c + vW) = log(1 + exp(c + vW)), the log of the sum over h_j in {0, 1}.")
        if near(-(vn @ bn) - pre.sum(1)):
            raise CheckFailed(f"{name}: you summed c + vW itself; each hidden unit contributes "
                              "softplus(c_j + (vW)_j) = log(1 + exp(...)).")
        if near(-(vn @ bn) - np.logaddexp(0, vn @ Wn).sum(1)):
            raise CheckFailed(f"{name}: the hidden biases c are missing inside the softplus: softplus(c + vW).")
        n = int(np.argmax(np.abs(got - want)))
        raise CheckFailed(f"{label} = {got.round(6).tolist()}, expected {want.round(6).tolist()} (row {n} "
                          f"differs most): the brute-force -log sum_h exp(-E(v, h)) over all 2^{H} hidden states.")
    # large pre-activations: log(1 + exp(x)) overflows in float32 for x > 88
    v = torch.ones(2, 3)
    W = torch.full((3, 2), 40.0)
    b = torch.zeros(3)
    c = torch.tensor([0.0, -300.0])
    got = call_student(free_energy, v, W, b, c, name=name)
    label = f"{name} with (vW + c)_j = 120 and -180 (float32)"
    arr = _vector(got, (2,), label, "")
    if not np.allclose(arr, [-120.0, -120.0], rtol=1e-5, atol=1e-4):
        raise CheckFailed(f"{label} = {arr.tolist()}, expected [-120, -120]: softplus(120) = 120 and softplus(-180) "
                          "= 0. Use F.softplus (or torch.logaddexp(0, x)), not torch.log(1 + torch.exp(x)).")
    # the notebook's float32 shapes; v from images in [0, 1]
    for seed, (B, D, H) in enumerate(_NOTEBOOK_RBMS):
        g = torch.Generator().manual_seed(100 + seed)
        v = torch.rand(B, D, generator=g)
        W = 0.05 * torch.randn(D, H, generator=g)
        b = 0.1 * torch.randn(D, generator=g)
        c = 0.1 * torch.randn(H, generator=g)
        label = f"{name}(v: ({B}, {D}) float32, W: ({D}, {H}))"
        got = call_student(free_energy, v, W, b, c, name=name)
        arr = _vector(got, (B,), label, "One free energy per image.")
        if got.dtype not in (torch.float32, torch.float64):   # float64 (computed in double) is fine too
            raise CheckFailed(f"{label} has dtype {got.dtype}; return float32 (the inputs' dtype) or float64.")
        want = (-(v.double() @ b.double()) - torch.nn.functional.softplus(v.double() @ W.double() + c.double()).sum(1))
        if not np.allclose(arr, want.numpy(), rtol=1e-4, atol=1e-3):
            raise CheckFailed(f"{label}: got {arr[:3].round(4).tolist()}..., expected {want[:3].numpy().round(4).tolist()}...")
    ok("free_energy matches -log sum_h exp(-E(v, h)) summed over every hidden state, and stays finite "
       "for large inputs.")


# --------------------------------------------------------------------------------------------
# Exercise 2: CD-1
# --------------------------------------------------------------------------------------------

def _three(value: Any, shapes: list[tuple[int, ...]], label: str) -> list[np.ndarray]:
    if value is None:
        raise CheckFailed(f"{label} returned None: did you forget to `return dW, db, dc`?")
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise CheckFailed(f"{label} returned a {type(value).__name__}"
                          f"{' of length ' + str(len(value)) if isinstance(value, (tuple, list)) else ''}; "
                          "expected the tuple (dW, db, dc).")
    names = ("dW", "db", "dc")
    hints = ("dW has the shape of W: (D, H) = v0^T @ p(h|v0) ...", "db: one entry per visible unit (mean over the batch)",
             "dc: one entry per hidden unit (mean over the batch)")
    return [_vector(t, s, f"{label}: {n}", h) for t, s, n, h in zip(value, shapes, names, hints)]


@self_check
def check_cd1_gradients(cd1_gradients: Callable) -> None:
    """``cd1_gradients(v0, W, b, c, u) -> (dW, db, dc)``, the CD-1 estimate averaged over the batch."""
    import torch

    name = "cd1_gradients"
    for seed, (B, D, H, binary) in enumerate(((5, 4, 3, True), (6, 3, 5, False), (4, 5, 2, True))):
        v0, W, b, c = _rbm(10 + seed, B, D, H, binary, scale=1.5)
        u = torch.rand(B, H, generator=torch.Generator().manual_seed(50 + seed), dtype=torch.float64)
        label = f"{name}(v0: ({B}, {D}), W: ({D}, {H}), b, c, u: ({B}, {H}))"
        dW, db, dc = _three(call_student(cd1_gradients, v0, W, b, c, u, name=name), [(D, H), (D,), (H,)], label)
        args = tuple(t.numpy() for t in (v0, W, b, c, u))
        want = _cd1_loops(*args)
        close = lambda got, ref: all(np.allclose(g, r, rtol=1e-6, atol=1e-9) for g, r in zip(got, ref))  # noqa: E731
        # independent evidence: the positive statistics are -dF(v0)/dtheta and the negative ones -dF(v1)/dtheta,
        # averaged over the batch (autograd through the brute-force free energy)
        params = [t.clone().requires_grad_(True) for t in (W, b, c)]
        v1 = torch.as_tensor(want[3])
        F0 = torch.stack([_torch_free_energy(v0[n], *params) for n in range(B)]).mean()
        pos = torch.autograd.grad(-F0, params)
        F1 = torch.stack([_torch_free_energy(v1[n], *params) for n in range(B)]).mean()
        neg = torch.autograd.grad(-F1, params)
        auto = [(p - n_).numpy() for p, n_ in zip(pos, neg)]
        if close((dW, db, dc), want[:3]) and close((dW, db, dc), auto):
            continue
        for kwargs, message in (
            ({"sample_h": False}, "the reconstruction is driven by the probabilities p(h|v0); sample the hidden "
                                  "states first, h0 = (u < p(h|v0)).float(), and reconstruct v1 = p(v|h0)."),
            ({"flip": True}, "h0 = (u > p) samples 1 with probability 1 - p; use h0 = (u < p(h|v0))."),
            ({"mean": False}, f"the statistics are summed over the batch of {B}; average them (divide by B)."),
        ):
            if close((dW, db, dc), _cd1_loops(*args, **kwargs)[:3]):
                raise CheckFailed(f"{name}: {message}")
        if close((-dW, -db, -dc), want[:3]):
            raise CheckFailed(f"{name}: the sign is flipped: positive (data) minus negative (reconstruction) statistics.")
        for got, ref, what in zip((dW, db, dc), auto, ("dW", "db", "dc")):
            if not np.allclose(got, ref, rtol=1e-6, atol=1e-9):
                raise CheckFailed(
                    f"{label}: {what} is wrong (first entries {got.ravel()[:3].round(6).tolist()}, expected "
                    f"{ref.ravel()[:3].round(6).tolist()}). It must equal -dF(v0)/d{what[1:]} minus "
                    f"-dF(v1)/d{what[1:]}, averaged over the batch, with v1 = p(v | h0) the reconstruction "
                    "probabilities and the statistics taken with p(h|v0) and p(h|v1) (not samples).")
    # the notebook's float32 batches
    for seed, (B, D, H) in enumerate(_NOTEBOOK_RBMS[:2]):
        g = torch.Generator().manual_seed(200 + seed)
        v0 = torch.rand(B, D, generator=g)
        W, b, c = 0.05 * torch.randn(D, H, generator=g), 0.1 * torch.randn(D, generator=g), torch.zeros(H)
        u = torch.rand(B, H, generator=g)
        label = f"{name}(v0: ({B}, {D}) float32, W: ({D}, {H}), u: ({B}, {H}))"
        got = call_student(cd1_gradients, v0, W, b, c, u, name=name)
        arrays = _three(got, [(D, H), (D,), (H,)], label)
        if any(t.dtype != torch.float32 for t in got):
            raise CheckFailed(f"{label}: keep float32 (the RBM's parameters are float32).")
        ph0 = torch.sigmoid(v0 @ W + c)
        v1 = torch.sigmoid((u < ph0).float() @ W.T + b)
        ph1 = torch.sigmoid(v1 @ W + c)
        want = ((v0.T @ ph0 - v1.T @ ph1) / B, (v0 - v1).mean(0), (ph0 - ph1).mean(0))
        if not all(np.allclose(a, w.numpy(), rtol=1e-4, atol=1e-6) for a, w in zip(arrays, want)):
            raise CheckFailed(f"{label}: the result differs from CD-1 at the notebook's sizes.")
    ok("cd1_gradients matches CD-1 computed by loops, and its two halves match -dF/dtheta at the data and "
       "at the reconstruction (autograd through the brute-force free energy).")


def _torch_free_energy(v, W, b, c):
    """F(v) for one visible vector by enumerating every hidden state (tiny H), differentiable."""
    import torch

    H = W.shape[1]
    states = torch.tensor(list(itertools.product((0.0, 1.0), repeat=H)), dtype=W.dtype)
    neg_energy = v @ b + states @ c + states @ (W.T @ v)
    return -torch.logsumexp(neg_energy, dim=0)


# --------------------------------------------------------------------------------------------
# Exercise 3: join or open
# --------------------------------------------------------------------------------------------

def _assign_ref(x: np.ndarray, W: np.ndarray, counts: np.ndarray, lam: float, prior: float) -> int:
    best, best_score = len(W), -math.inf
    for k in range(len(W)):
        if counts[k] <= 0:
            continue
        s = sum(W[k, i] * x[i] for i in range(len(x))) - 0.5 * sum(w * w for w in W[k]) + prior * math.log(counts[k])
        if s > best_score:
            best, best_score = k, s
    new = 0.5 * sum(v * v for v in x) - 0.5 * lam
    return best if best_score >= new else len(W)


#: Hand-built 2-D cases: (description, x, W, counts, lam, prior, answer). Cluster 0 at (0, 0),
#: cluster 1 at (2, 0); ``||x - w||^2`` against ``lam`` decides unless the prior tips it.
_ASSIGN_CASES = (
    ("no cluster yet", (1.0, 1.0), np.zeros((0, 2)), (), 1.0, 0.0, 0),
    ("x = (0.1, 0) next to cluster 0", (0.1, 0.0), ((0.0, 0.0), (2.0, 0.0)), (5, 5), 1.0, 0.0, 0),
    ("x = (1.9, 0.2) next to cluster 1", (1.9, 0.2), ((0.0, 0.0), (2.0, 0.0)), (5, 5), 1.0, 0.0, 1),
    ("x = (1, 3): squared distances 10 and 10, farther than lam = 4 from both", (1.0, 3.0),
     ((0.0, 0.0), (2.0, 0.0)), (5, 5), 4.0, 0.0, 2),
    ("x = (1, 1.5): squared distance 3.25 from both, lam = 4: join (tie between the two: the first)", (1.0, 1.5),
     ((0.0, 0.0), (2.0, 0.0)), (5, 5), 4.0, 0.0, 0),
    ("x = (1, 0.1), equidistant, cluster 1 is bigger: the prior picks it", (1.0, 0.1),
     ((0.0, 0.0), (2.0, 0.0)), (3, 30), 4.0, 0.5, 1),
    ("x = (0, 2): squared distance 4 = lam exactly: a tie joins", (0.0, 2.0), ((0.0, 0.0), (2.0, 0.0)),
     (1, 1), 4.0, 0.0, 0),
    ("x = (0, 2.2) just beyond lam = 4 from cluster 0, but cluster 0 holds 1000 points (prior 0.5)", (0.0, 2.2),
     ((0.0, 0.0), (2.0, 0.0)), (1000, 1), 4.0, 0.5, 0),
    ("x = (0.1, 0) next to cluster 0, which is empty (count 0) and must not be joined", (0.1, 0.0),
     ((0.0, 0.0), (2.0, 0.0)), (0, 5), 1.0, 0.0, 2),
    ("x = (0.5, 0): cluster 0 empty, cluster 1 within lam = 4", (0.5, 0.0),
     ((0.0, 0.0), (2.0, 0.0)), (0, 5), 4.0, 0.0, 1),
)


@self_check
def check_assign_or_open(assign_or_open: Callable) -> None:
    """``assign_or_open(x, W, counts, lam, prior) -> int``: a cluster index, or ``len(W)`` to open one."""
    name = "assign_or_open"

    def run(x, W, counts, lam, prior, label):
        got = call_student(assign_or_open, x, W, counts, lam, prior, name=name)
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            if isinstance(got, np.ndarray) and got.size == 1 and np.issubdtype(got.dtype, np.integer):
                got = int(got)
            else:
                raise CheckFailed(f"{label}: returned {got!r} ({type(got).__name__}); return an int, the index of the "
                                  "cluster to join or len(W) to open a new one (e.g. int(np.argmax(scores))).")
        if not 0 <= int(got) <= len(W):
            raise CheckFailed(f"{label}: returned {int(got)}; return a cluster index 0..{len(W) - 1} to join, or "
                              f"len(W) = {len(W)} to open a new cluster (not -1 or None).")
        return int(got)

    for what, x, W, counts, lam, prior, answer in _ASSIGN_CASES:
        x = np.asarray(x, dtype=np.float64)
        W = np.asarray(W, dtype=np.float64).reshape(-1, 2)
        counts = np.asarray(counts, dtype=np.int64)
        label = f"{name}(x={x.tolist()}, W={W.tolist()}, counts={counts.tolist()}, lam={lam:g}, prior={prior:g})"
        got = run(x, W, counts, lam, prior, label)
        assert _assign_ref(x, W, counts, lam, prior) == answer, what
        if got == answer:
            continue
        hint = ""
        if answer == len(W) and got < len(W) and counts[got] == 0:
            hint = " That cluster is empty (count 0): only clusters with n_k > 0 can be joined."
        elif answer == len(W):
            hint = (" A new cluster scores ||x||^2 / 2 - lam / 2; no cluster beats it here. (Remember the ||x||^2 / 2: "
                    "f_k(x) = w_k.x - ||w_k||^2 / 2 = (||x||^2 - ||x - w_k||^2) / 2.)")
        elif got == len(W) and (counts == 0).any():
            hint = (" One cluster here is empty (count 0). If your scores include it, prior * log(0) is -inf, and with "
                    "prior = 0 it is 0 * (-inf) = NaN: argmax picks the NaN, every comparison with NaN is False, and "
                    "you open a new cluster. Score only the clusters with counts > 0 (set the others to -inf before "
                    "the argmax, or index with counts > 0).")
        elif got == len(W):
            hint = (" The best cluster's score f_k(x) + prior log n_k is at least the new cluster's ||x||^2 / 2 - lam / 2"
                    " here (a tie joins: use >=).")
        elif prior > 0:
            hint = " The prior adds prior * log(n_k): the bigger cluster wins this one."
        raise CheckFailed(f"{label} returned {got}, expected {answer}: {what}.{hint}")
    # random cases at the notebook's sizes, against the loops
    rng = np.random.default_rng(6)
    for trial in range(40):
        K = int(rng.integers(1, _NOTEBOOK_K + 1))
        W = rng.normal(size=(K, _NOTEBOOK_D)) * 0.2
        counts = rng.integers(0, 50, size=K)
        x = rng.normal(size=_NOTEBOOK_D) * 0.2
        lam, prior = float(rng.choice([0.5, 1.5, 3.0])), float(rng.choice([0.0, 0.001, 0.05]))
        got = run(x, W, counts, lam, prior, f"{name} (random case {trial}, K={K}, d={_NOTEBOOK_D})")
        want = _assign_ref(x, W, counts, lam, prior)
        if got != want:
            raise CheckFailed(f"{name} on a random case (K={K}, d={_NOTEBOOK_D}, lam={lam}, prior={prior}, "
                              f"counts={counts.tolist()}) returned {got}, expected {want}.")
    ok("assign_or_open joins the best non-empty cluster, opens a new one when lam is exceeded, and weighs "
       "cluster sizes by the prior.")


# --------------------------------------------------------------------------------------------
# Exercise 4: hinge step
# --------------------------------------------------------------------------------------------

def _hinge_ref(W: np.ndarray, x: np.ndarray, z: int, margin: float, C: float, *, rival_any: bool = False,
               cap: bool = True, grad_x: bool = False, same_sign: bool = False, halve: bool = False) -> np.ndarray:
    W = np.array(W, dtype=np.float64, copy=True)
    K = len(W)
    if K < 2:
        return W
    f = [sum(W[k, i] * x[i] for i in range(len(x))) - 0.5 * sum(w * w for w in W[k]) for k in range(K)]
    others = [k for k in range(K) if rival_any or k != z]
    r = max(others, key=lambda k: f[k])
    loss = max(0.0, margin - (f[z] - f[r]))
    if loss == 0.0:
        return W
    gz = x.copy() if grad_x else x - W[z]
    gr = x.copy() if grad_x else x - W[r]
    norm = float(gz @ gz + gr @ gr)
    if norm == 0.0:
        return W
    tau = loss / norm
    if halve:
        tau = loss / (2 * norm)
    if cap:
        tau = min(C, tau)
    W[z] = W[z] + tau * gz
    W[r] = W[r] + tau * gr if same_sign else W[r] - tau * gr
    return W


#: Hand-built 2-D cases: (description, W, x, z, margin, C). Cluster 0 at (0, 0), cluster 1 at (2, 0).
_HINGE_CASES = (
    ("one cluster only: no rival, nothing changes", ((0.0, 0.0),), (1.0, 1.0), 0, 0.5, 1.0),
    ("x = (0, 1) in cluster 0: f_0 - f_1 = 2 >= margin 1, nothing changes", ((0.0, 0.0), (2.0, 0.0)), (0.0, 1.0), 0,
     1.0, 1.0),
    ("x = (1, 0) between the two, in cluster 0: f_0 = f_1, loss 1, tau = 1/2, C = 1", ((0.0, 0.0), (2.0, 0.0)),
     (1.0, 0.0), 0, 1.0, 1.0),
    ("the same with C = 0.1: tau capped at 0.1", ((0.0, 0.0), (2.0, 0.0)), (1.0, 0.0), 0, 1.0, 0.1),
    ("x = (1.5, 0) assigned to cluster 0 though cluster 1 is closer", ((0.0, 0.0), (2.0, 0.0)), (1.5, 0.0), 0, 0.1,
     10.0),
    ("three clusters: the rival is the best of the others, cluster 2", ((0.0, 0.0), (5.0, 5.0), (1.0, 0.0)),
     (0.6, 0.0), 0, 0.5, 10.0),
)


@self_check
def check_hinge_update(hinge_update: Callable) -> None:
    """``hinge_update(W, x, z, margin, C) -> W_new``: one PA-I step on the multi-class hinge loss."""
    name = "hinge_update"

    def run(W, x, z, margin, C, label):
        got = call_student(hinge_update, W, x, z, margin, C, name=name)
        if isinstance(got, tuple):
            raise CheckFailed(f"{label} returned a tuple; return only the new weights W (an array of shape {W.shape}).")
        arr = np.asarray(got, dtype=np.float64) if isinstance(got, np.ndarray) else None
        if arr is None:
            raise CheckFailed(f"{label} returned a {type(got).__name__}; expected a NumPy array of shape {W.shape}.")
        if arr.shape != W.shape:
            raise CheckFailed(f"{label} returned shape {arr.shape}, expected {W.shape} (one weight vector per cluster).")
        if not np.all(np.isfinite(arr)):
            raise CheckFailed(f"{label} contains NaN or inf: a division by ||g_z||^2 + ||g_r||^2 = 0?")
        return arr, got.dtype

    def tolerance(dtype) -> tuple[float, float]:
        # float32 weights are an acceptable answer: compared to float32's precision, not float64's
        return (1e-5, 1e-6) if dtype == np.float32 else (1e-9, 1e-12)

    for what, W, x, z, margin, C in _HINGE_CASES:
        W = np.asarray(W, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        label = f"{name}(W={W.tolist()}, x={x.tolist()}, z={z}, margin={margin:g}, C={C:g})"
        got, dtype = run(W, x, z, margin, C, label)
        rtol, atol = tolerance(dtype)
        want = _hinge_ref(W, x, z, margin, C)
        if np.allclose(got, want, rtol=rtol, atol=atol):
            continue
        mistakes = (
            ({"rival_any": True}, "the rival must be the best cluster other than z (set f_z to -inf before the argmax)."),
            ({"cap": False}, "tau is not capped: PA-I takes tau = min(C, loss / (||g_z||^2 + ||g_r||^2))."),
            ({"grad_x": True}, "the step uses x; the gradient of f_k(x) = w_k.x - ||w_k||^2 / 2 with respect to w_k is "
                               "g_k = x - w_k."),
            ({"same_sign": True}, "the rival moves towards x; it must move away: w_r -= tau * g_r."),
            ({"halve": True}, "tau is halved; tau = min(C, loss / (||g_z||^2 + ||g_r||^2))."),
        )
        for kwargs, message in mistakes:
            alt = _hinge_ref(W, x, z, margin, C, **kwargs)
            if not np.allclose(alt, want) and np.allclose(got, alt, rtol=rtol, atol=atol):
                raise CheckFailed(f"{name}: {what}: {message}")
        if np.allclose(got, W) and not np.allclose(want, W):
            raise CheckFailed(f"{label} changed nothing, but the margin is violated here ({what}): "
                              "loss = max(0, margin - (f_z - f_r)) > 0.")
        if not np.allclose(got, W) and np.allclose(want, W):
            raise CheckFailed(f"{label} changed W, but nothing should change here: {what}.")
        raise CheckFailed(f"{label} returned {got.round(6).tolist()}, expected {want.round(6).tolist()} ({what}).")
    rng = np.random.default_rng(7)
    for trial in range(30):
        K = int(rng.integers(2, _NOTEBOOK_K + 1))
        W = rng.normal(size=(K, _NOTEBOOK_D)) * 0.3
        x = rng.normal(size=_NOTEBOOK_D) * 0.3
        z = int(rng.integers(K))
        margin, C = float(rng.choice([0.1, 1.0])), float(rng.choice([0.01, 0.1, 10.0]))
        got, dtype = run(W, x, z, margin, C, f"{name} (random case {trial}, K={K}, d={_NOTEBOOK_D})")
        rtol, atol = tolerance(dtype)
        want = _hinge_ref(W, x, z, margin, C)
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            raise CheckFailed(f"{name} on a random case (K={K}, d={_NOTEBOOK_D}, z={z}, margin={margin}, C={C}) "
                              "differs from the PA-I step computed by loops.")
    ok("hinge_update takes the PA-I step against the best rival, capped by C, and leaves W alone when the "
       "margin is met.")


# --------------------------------------------------------------------------------------------
# Reference fallbacks
# --------------------------------------------------------------------------------------------

def _cd1_reference(v0, W, b, c, u):
    from course_utils.models.dbn import cd_k_gradients

    return cd_k_gradients(v0, W, b, c, k=1, noise=u[None])


#: what the grader also counts as the course's implementation of an exercise (``_cd1_reference``
#: only wraps it): an answer that calls it gets no points (``course grade``)
_ALSO_WATCHED = {"cd1_gradients": ("course_utils.models.dbn:cd_k_gradients",)}


def _references() -> dict[str, tuple[Callable, str]]:
    """Exercise name -> (the course package's implementation, the exercise's label)."""
    from course_utils.models import dbn, nmmc

    return {
        "free_energy": (dbn.free_energy, "Exercise 1 (free_energy)"),
        "cd1_gradients": (_cd1_reference, "Exercise 2 (cd1_gradients)"),
        "assign_or_open": (nmmc.assign_or_open, "Exercise 3 (assign_or_open)"),
        "hinge_update": (nmmc.hinge_update, "Exercise 4 (hinge_update)"),
    }


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn``, or (while it still raises ``NotImplementedError``) the course's implementation of it:
    ``course_utils.models.dbn.free_energy`` and ``cd_k_gradients`` (k = 1, the same noise), and
    ``course_utils.models.nmmc.assign_or_open`` and ``hinge_update``."""
    return _reference_by_name(fn, _references(), "06")
