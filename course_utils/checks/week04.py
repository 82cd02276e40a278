"""Self-checks for week 04: DEC's soft assignment q, its target distribution p, the KL loss.

Every check runs the student's function on seeded random inputs (float64) and compares it with a
brute-force computation: plain Python loops over examples and clusters, one number at a time,
written straight from the equations. Rows of q and p must sum to 1. When the result is wrong the
message says what is off and, where the result matches a known mistake (the kernel not normalised,
the exponent or alpha left out, a distance that is not squared, f_j summed over the wrong axis,
p not squared, KL(Q || P) instead of KL(P || Q), a mean over clusters too), names it.

Usage in the notebook::

    from course_utils.checks import week04 as checks
    checks.check_soft_assignment(soft_assignment)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from course_utils.checks._common import CheckFailed, as_array, call_student, ok, self_check
from course_utils.checks._common import reference_by_name as _reference_by_name

__all__ = ["CheckFailed", "check_soft_assignment", "check_target_distribution", "check_kl_loss",
           "reference_if_unfinished"]

#: The shapes the notebook passes: a batch of B = 256 embeddings of LATENT_DIM = 10 and K = 10
#: centres (both modes), float32 like the network's output; the whole data set for p (fast: 2,000
#: images; full mode: 70,000, the same code).
_NOTEBOOK_B, _NOTEBOOK_D, _NOTEBOOK_K, _NOTEBOOK_N = 256, 10, 10, 2000


# --------------------------------------------------------------------------------------------
# Inputs and brute-force references
# --------------------------------------------------------------------------------------------

def _inputs(seed: int = 0, N: int = 7, K: int = 4, d: int = 3):
    """Random float64 tensors: embeddings z (N, d) near the centres, centres (K, d)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    centers = 2.0 * torch.randn(K, d, generator=g, dtype=torch.float64)
    z = centers[torch.arange(N) % K] + 1.5 * torch.randn(N, d, generator=g, dtype=torch.float64)
    return z, centers


def _random_q(seed: int = 0, N: int = 8, K: int = 4):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.softmax(2.0 * torch.randn(N, K, generator=g, dtype=torch.float64), dim=1)


def _q_loops(z: np.ndarray, centers: np.ndarray, alpha: float, *, power: float | None = None,
             squared: bool = True, normalise: bool = True) -> np.ndarray:
    """q_ij by loops; the keyword arguments build the known mistakes."""
    N, K = len(z), len(centers)
    power = -(alpha + 1.0) / 2.0 if power is None else power
    kernel = np.zeros((N, K))
    for i in range(N):
        for j in range(K):
            dist2 = sum((z[i, k] - centers[j, k]) ** 2 for k in range(z.shape[1]))
            dist = dist2 if squared else math.sqrt(dist2)
            kernel[i, j] = (1.0 + dist / alpha) ** power
    if normalise:
        for i in range(N):
            kernel[i] /= sum(kernel[i])
    return kernel


def _p_loops(q: np.ndarray, *, square: bool = True, freq_axis: int = 0, normalise: bool = True) -> np.ndarray:
    """p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), f_j = sum_i q_ij, by loops."""
    N, K = q.shape
    if freq_axis == 0:
        f = [sum(q[i, j] for i in range(N)) for j in range(K)]
        weight = np.array([[(q[i, j] ** 2 if square else q[i, j]) / f[j] for j in range(K)] for i in range(N)])
    else:  # the mistake: f summed over clusters (rows), i.e. always 1 for a normalised q
        f = [sum(q[i, j] for j in range(K)) for i in range(N)]
        weight = np.array([[(q[i, j] ** 2 if square else q[i, j]) / f[i] for j in range(K)] for i in range(N)])
    if normalise:
        for i in range(N):
            weight[i] /= sum(weight[i])
    return weight


def _kl_loops(p: np.ndarray, q: np.ndarray) -> float:
    """1/N sum_i sum_j p_ij log(p_ij / q_ij), by loops; a term with p_ij = 0 adds 0 (0 log 0 = 0)."""
    N, K = p.shape
    return sum(p[i, j] * math.log(p[i, j] / q[i, j]) for i in range(N) for j in range(K) if p[i, j] > 0) / N


def _with_zeros(seed: int = 0, N: int = 6, K: int = 4):
    """(p, q): p has exact zeros (one-hot rows and a row with one 0), q is strictly positive."""
    import torch

    q = _random_q(seed, N, K)
    p = _random_q(seed + 70, N, K)
    p[0] = 0.0
    p[0, 1] = 1.0
    p[1] = 0.0
    p[1, K - 1] = 1.0
    p[2, 0] = 0.0
    p[2] = p[2] / p[2].sum()
    return p, q


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _array(value: Any, label: str) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{label} is None: did you forget to `return` it?")
    arr = as_array(value, label)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{label} has dtype {arr.dtype}; expected numbers.") from None


def _close(got: np.ndarray, want: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    want = np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(np.all(np.isfinite(got)) and np.allclose(got, want, rtol=rtol, atol=atol))


def _expect_matrix(got: Any, shape: tuple[int, int], label: str, hint: str) -> np.ndarray:
    arr = _array(got, label)
    if arr.shape != shape:
        transposed = " It looks transposed." if arr.shape == shape[::-1] else ""
        raise CheckFailed(f"{label} has shape {arr.shape}, expected {shape}.{transposed} {hint}")
    if not np.all(np.isfinite(arr)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise CheckFailed(f"{label} contains NaN or inf (first at {where}): a division by 0 or a log of 0?")
    return arr


def _rows_sum_to_one(arr: np.ndarray, label: str, what: str) -> None:
    sums = arr.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        i = int(np.argmax(np.abs(sums - 1.0)))
        col = arr.sum(axis=0)
        extra = (" The columns sum to 1 instead: you normalised over examples (dim=0); normalise "
                 "over clusters (dim=1)." if np.allclose(col, 1.0, atol=1e-6) else "")
        raise CheckFailed(f"{label}: row {i} sums to {sums[i]:.6g}, not 1. {what}{extra}")


def _explain_wrong(name: str, label: str, got: np.ndarray, want: np.ndarray, mistakes: list, normalise_hint: str,
                   formula: str) -> None:
    """Raise ``CheckFailed`` for a wrong ``(N, K)`` result: a named mistake if ``got`` matches one, else
    rows that do not sum to 1, else the first wrong entry with ``formula``."""
    for value, message in mistakes:
        if _close(got, value, rtol=1e-5, atol=1e-8):
            raise CheckFailed(f"{name}: {message}")
    _rows_sum_to_one(got, label, normalise_hint)
    i, j = (int(v) for v in np.argwhere(~np.isclose(got, want, rtol=1e-6, atol=1e-9))[0])
    raise CheckFailed(f"{label} is wrong at [{i}, {j}]: got {got[i, j]:.6g}, expected {want[i, j]:.6g} ({formula}).")


# --------------------------------------------------------------------------------------------
# Exercise 1: soft assignment q
# --------------------------------------------------------------------------------------------

@self_check
def check_soft_assignment(soft_assignment: Callable) -> None:
    """``soft_assignment(z, centers, alpha) -> q: (N, K)``, the Student's t kernel normalised over clusters."""
    import torch

    name = "soft_assignment"
    for seed, alpha in ((0, 1.0), (1, 1.0), (2, 3.0), (3, 0.5)):
        N, K, d = 7, 4, 3
        z, centers = _inputs(seed, N, K, d)
        got = call_student(soft_assignment, z, centers, alpha, name=name)
        label = f"{name}(z, centers, alpha={alpha:g})"
        got = _expect_matrix(got, (N, K), label, "One row per embedding z_i (N), one column per centre mu_j (K).")
        zn, cn = z.numpy(), centers.numpy()
        want = _q_loops(zn, cn, alpha)
        if _close(got, want):
            continue
        gauss = np.exp(-((zn[:, None] - cn[None]) ** 2).sum(-1))
        mistakes = [
            (_q_loops(zn, cn, alpha, normalise=False),
             "the kernel is not normalised: divide each row by its sum over the K centres, so q_i is a "
             "distribution over clusters."),
            (_q_loops(zn, cn, alpha, power=-1.0),
             "the exponent is -1 whatever alpha is: it must be -(alpha + 1) / 2 (the same only for alpha = 1)."),
            (_q_loops(zn, cn, alpha, power=-(alpha + 1.0)),
             "the exponent is -(alpha + 1); it must be -(alpha + 1) / 2."),
            (_q_loops(1.0 * zn, cn, 1.0),
             "alpha is ignored (you used alpha = 1): divide the squared distance by alpha and use the "
             "exponent -(alpha + 1) / 2."),
            (_q_loops(zn, cn, alpha, squared=False),
             "the distance is not squared: use ||z_i - mu_j||^2 (sum of squared differences), not the norm."),
            (gauss / gauss.sum(1, keepdims=True),
             "this is a Gaussian kernel (softmax of -||z - mu||^2); DEC uses a Student's t kernel, "
             "(1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)."),
        ]
        _explain_wrong(name, label, got, want, mistakes,
                       "Normalise over the K clusters: q_ij = kernel_ij / sum_j' kernel_ij'.",
                       f"random inputs, seed {seed}, N={N}, K={K}, d={d}; q_ij = (1 + ||z_i - mu_j||^2 / alpha)"
                       "^(-(alpha + 1)/2), normalised over j")
    # far from every centre: the normalised q must stay finite and exact
    for alpha in (1.0, 3.0):
        z, centers = _inputs(4, 5, 3, 2)
        label = f"{name}(1e5 * z, centers, alpha={alpha:g})"
        got = _expect_matrix(call_student(soft_assignment, z * 1e5, centers, alpha, name=name), (5, 3), label,
                             "")
        _rows_sum_to_one(got, label, "Far from every centre the kernel is tiny (it can underflow to 0) but the "
                                     "rows must still sum to 1: work with the log-kernel and finish with "
                                     "torch.softmax (it subtracts the row maximum first).")
    # a point exactly on a centre: distance 0, kernel 1
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    got = _expect_matrix(call_student(soft_assignment, z, z.clone(), 1.0, name=name), (2, 2),
                         f"{name}(z, centers=z, alpha=1)", "")
    if not _close(got, [[26 / 27, 1 / 27], [1 / 27, 26 / 27]]):
        raise CheckFailed(f"{name}: with each point exactly on its own centre and the other centre at distance 5, "
                          f"q should be [[26/27, 1/27], [1/27, 26/27]] (kernel 1 and 1/26), got {got.round(6).tolist()}.")
    # the notebook's call: float32 embeddings of a batch, (B, 10) and (10, 10) centres
    g = torch.Generator().manual_seed(6)
    z = torch.randn(_NOTEBOOK_B, _NOTEBOOK_D, generator=g) * 3
    centers = torch.randn(_NOTEBOOK_K, _NOTEBOOK_D, generator=g) * 3
    label = f"{name}(z: ({_NOTEBOOK_B}, {_NOTEBOOK_D}) float32, centers: ({_NOTEBOOK_K}, {_NOTEBOOK_D}), alpha=1)"
    out = call_student(soft_assignment, z, centers, 1.0, name=name)
    if torch.is_tensor(out) and out.dtype != z.dtype:
        raise CheckFailed(f"{label} returned dtype {out.dtype}; keep the dtype of z ({z.dtype}, the network's), "
                          "do not convert to float64 or NumPy inside.")
    got = _expect_matrix(out, (_NOTEBOOK_B, _NOTEBOOK_K), label, "One row per embedding, one column per centre.")
    if not _close(got, _q_loops(z.double().numpy(), centers.double().numpy(), 1.0), rtol=1e-4, atol=1e-6):
        raise CheckFailed(f"{label}: wrong values with the shapes the notebook uses (float32, 10 clusters, d = 10), "
                          "although the small float64 cases were right. Do not hard-code sizes.")
    # gradients must reach z and the centres (q is trained through)
    z, centers = (t.clone().requires_grad_(True) for t in _inputs(5))
    out = call_student(soft_assignment, z, centers, 1.0, name=name)
    if not torch.is_tensor(out) or not out.requires_grad:
        raise CheckFailed(
            f"{name} must return a torch tensor that carries gradients (the loss is trained through q): "
            "do not use .detach(), .numpy() or torch.no_grad() inside it."
        )
    (out[:, 0] * torch.arange(1.0, len(out) + 1, dtype=out.dtype)).sum().backward()
    if z.grad is None or centers.grad is None or not torch.any(centers.grad != 0):
        raise CheckFailed(f"{name}: no gradient reaches the embeddings z or the centres; build q from them with torch operations.")
    ok(f"{name}: matches a loop over examples and centres for alpha in (0.5, 1, 3); rows sum to 1")


# --------------------------------------------------------------------------------------------
# Exercise 2: target distribution p
# --------------------------------------------------------------------------------------------

@self_check
def check_target_distribution(target_distribution: Callable) -> None:
    """``target_distribution(q) -> p: (N, K)``: ``p_ij ∝ q_ij^2 / f_j`` with ``f_j = sum_i q_ij``."""
    import torch

    name = "target_distribution"
    for seed, (N, K) in enumerate(((8, 4), (5, 3), (12, 6))):
        q = _random_q(seed, N, K)
        got = call_student(target_distribution, q, name=name)
        label = f"{name}(q)"
        got = _expect_matrix(got, (N, K), label, "p has the shape of q.")
        qn = q.numpy()
        want = _p_loops(qn)
        if _close(got, want):
            continue
        mistakes = [
            (_p_loops(qn, normalise=False), "p is not normalised: divide each row of q_ij^2 / f_j by its sum over j."),
            (_p_loops(qn, square=False), "q is not squared: the target uses q_ij^2 / f_j (squaring sharpens it)."),
            (_p_loops(qn, freq_axis=1), "f_j must be the soft cluster frequency, the sum over *examples* "
                                        "(dim=0) of column j; you summed over clusters."),
            (qn ** 2 / (qn ** 2).sum(1, keepdims=True), "the division by f_j = sum_i q_ij is missing: without it "
                                                      "big clusters keep growing."),
            (qn, "p equals q: square q and divide by the cluster frequencies f_j first."),
        ]
        _explain_wrong(name, label, got, want, mistakes, "Normalise over the K clusters.",
                       f"random q, seed {seed}, N={N}, K={K}; p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), "
                       "f_j = sum_i q_ij")
    # the worked example of the text: a tie goes to the smaller cluster, confident rows get sharper
    q = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.8, 0.2]], dtype=torch.float64)
    got = _expect_matrix(call_student(target_distribution, q, name=name), (3, 2), f"{name}(q)", "")
    if not got[0, 1] > 0.5:
        raise CheckFailed(f"{name}(q) for q = [[0.5, 0.5], [0.9, 0.1], [0.8, 0.2]]: p[0] = {got[0].round(4).tolist()}; "
                          "a tie (0.5, 0.5) must go to the smaller cluster (f = [2.2, 0.8]), p[0, 1] > 0.5.")
    if not got[1, 0] > 0.9:
        raise CheckFailed(f"{name}(q): p[1, 0] = {got[1, 0]:.4g} is not sharper than q[1, 0] = 0.9.")
    # the notebook's call: q of the whole data set, float32, K = 10
    g = torch.Generator().manual_seed(7)
    q = torch.softmax(3 * torch.randn(_NOTEBOOK_N, _NOTEBOOK_K, generator=g), dim=1)
    label = f"{name}(q: ({_NOTEBOOK_N}, {_NOTEBOOK_K}) float32)"
    out = call_student(target_distribution, q, name=name)
    got = _expect_matrix(out, (_NOTEBOOK_N, _NOTEBOOK_K), label, "p has the shape of q.")
    if not _close(got, _p_loops(q.double().numpy()), rtol=1e-3, atol=1e-6):
        raise CheckFailed(f"{label}: wrong values with the notebook's shapes (2,000 images, 10 clusters), "
                          "although the small cases were right. Do not hard-code sizes.")
    q = _random_q(9).requires_grad_(True)
    out = call_student(target_distribution, q, name=name)
    if torch.is_tensor(out) and out.requires_grad:
        raise CheckFailed(
            f"{name}: p carries gradients back into q. P is a fixed target, computed and then held constant: "
            "return `p.detach()` (or compute it under torch.no_grad())."
        )
    ok(f"{name}: matches a loop over examples and clusters; rows sum to 1; no gradient into q")


# --------------------------------------------------------------------------------------------
# Exercise 3: the KL clustering loss
# --------------------------------------------------------------------------------------------

@self_check
def check_kl_loss(kl_loss: Callable) -> None:
    """``kl_loss(p, q) -> 0-d tensor``: ``KL(P || Q) = 1/N sum_i sum_j p_ij log(p_ij / q_ij)``."""
    import torch

    name = "kl_loss"
    for seed, (N, K) in enumerate(((8, 4), (5, 3), (10, 6))):
        q = _random_q(seed, N, K)
        p = _random_q(seed + 50, N, K)
        got = call_student(kl_loss, p, q, name=name)
        if got is None:
            raise CheckFailed(f"{name} returned None: did you forget to `return` the loss?")
        if not torch.is_tensor(got):
            raise CheckFailed(f"{name} returned a {type(got).__name__}; expected a 0-d torch tensor (it is backpropagated).")
        if got.numel() != 1:
            raise CheckFailed(
                f"{name}(p, q) has shape {tuple(got.shape)}; expected one number: sum over clusters, then "
                "average over the examples of the batch."
            )
        if got.ndim != 0:
            raise CheckFailed(
                f"{name}(p, q) has shape {tuple(got.shape)}; expected a 0-d tensor (shape ()): reduce to a "
                "scalar (e.g. `.sum(dim=1).mean()`), without keepdim or an extra dimension."
            )
        value = float(got.detach())
        pn, qn = p.numpy(), q.numpy()
        want = _kl_loops(pn, qn)
        if math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):
            continue
        near = lambda a: math.isclose(value, a, rel_tol=1e-5, abs_tol=1e-9)  # noqa: E731
        if near(_kl_loops(qn, pn)):
            raise CheckFailed(f"{name}: this is KL(Q || P); DEC minimises KL(P || Q) = sum p log(p / q) (p, the target, outside the log ratio and as weight).")
        if near(want * N):
            raise CheckFailed(f"{name}: the loss is summed over the {N} examples; average over them (reduction 'batchmean').")
        if near(want / K):
            raise CheckFailed(
                f"{name}: the loss is also averaged over the {K} clusters (a plain .mean() over all entries, "
                "or F.kl_div's reduction='mean'); sum over clusters and average over examples only ('batchmean')."
            )
        if near(-want):
            raise CheckFailed(f"{name}: the sign is flipped; KL(P || Q) = sum p log(p / q) >= 0.")
        if near(float(-(pn * np.log(qn)).sum(1).mean())):
            raise CheckFailed(f"{name}: this is the cross-entropy -sum p log q; add sum p log p (the KL) so the loss is 0 when q = p.")
        raise CheckFailed(
            f"{name}(p, q) = {value:.6g}, expected {want:.6g} (random rows, seed {seed}, N={N}, K={K}): "
            "1/N sum_i sum_j p_ij log(p_ij / q_ij)."
        )
    same = _random_q(3)
    v = float(call_student(kl_loss, same, same.clone(), name=name).detach())
    if not math.isfinite(v):
        raise CheckFailed(f"{name}(q, q) = {v}; KL of a distribution with itself must be 0.")
    if abs(v) > 1e-9:
        raise CheckFailed(f"{name}(q, q) = {v:.3g}; KL of a distribution with itself must be 0.")
    q = _random_q(4).requires_grad_(True)
    p = _random_q(5)
    out = call_student(kl_loss, p, q, name=name)
    if not out.requires_grad:
        raise CheckFailed(f"{name}: the loss has no gradient with respect to q; do not detach q or use NumPy inside.")
    out.backward()
    if q.grad is None or not torch.any(q.grad != 0):
        raise CheckFailed(f"{name}: no gradient reaches q.")
    # a target with exact zeros (one-hot rows), as the hidden tests use and the notebook's p has
    p, q = _with_zeros(3)
    got = call_student(kl_loss, p, q, name=name)
    value, want = float(got.detach()), _kl_loops(p.numpy(), q.numpy())
    if not math.isfinite(value):
        raise CheckFailed(
            f"{name}(p, q) = {value} for a p with entries exactly 0 (e.g. a one-hot row [0, 1, 0, 0]; the "
            "notebook's p has such zeros too). A term p_ij log(p_ij / q_ij) with p_ij = 0 must count as 0 "
            "(0 log 0 = 0), but in torch 0 * log(0) = 0 * (-inf) = NaN. Guard the logarithm "
            "(torch.log(p + 1e-10)), or use torch.xlogy(p, p) - torch.xlogy(p, q), or "
            "F.kl_div(q.log(), p, reduction='batchmean')."
        )
    if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):
        raise CheckFailed(f"{name}(p, q) = {value:.6g} for a p with exact zeros, expected {want:.6g}: a term with "
                          "p_ij = 0 adds 0, and every row still counts in the average 1/N.")
    # the notebook's call: a float32 batch of B = 256 rows, K = 10; p from the whole data set has exact zeros
    g = torch.Generator().manual_seed(8)
    q = torch.softmax(3 * torch.randn(_NOTEBOOK_B, _NOTEBOOK_K, generator=g), dim=1).requires_grad_(True)
    p = torch.softmax(6 * torch.randn(_NOTEBOOK_B, _NOTEBOOK_K, generator=g), dim=1)
    p[p < 1e-3] = 0.0
    p = p / p.sum(1, keepdim=True)
    label = f"{name}(p, q: ({_NOTEBOOK_B}, {_NOTEBOOK_K}) float32, p with exact zeros)"
    out = call_student(kl_loss, p, q, name=name)
    if not torch.is_tensor(out) or out.ndim != 0:
        raise CheckFailed(f"{label} should be a 0-d tensor, got {type(out).__name__} "
                          f"{tuple(out.shape) if torch.is_tensor(out) else ''}.")
    value, want = float(out.detach()), _kl_loops(p.double().numpy(), q.detach().double().numpy())
    if not math.isfinite(value) or not math.isclose(value, want, rel_tol=1e-4, abs_tol=1e-6):
        raise CheckFailed(f"{label} = {value:.6g}, expected {want:.6g}. With float32 and exact zeros in p: "
                          "0 log 0 must count as 0 (guard the log: torch.log(p + 1e-10), or torch.xlogy).")
    out.backward()
    if q.grad is None or not torch.all(torch.isfinite(q.grad)):
        raise CheckFailed(f"{label}: the gradient with respect to q is NaN or missing; with zeros in p, a log(p / q) "
                          "that is -inf poisons the gradient. Guard the log (torch.log(p + 1e-10)) or use torch.xlogy.")
    ok(f"{name}: KL(P || Q) averaged over examples matches a double loop (also with zeros in p, float32, "
       "B=256, K=10); 0 for q = p; differentiable in q")


# --------------------------------------------------------------------------------------------
# Reference implementations for the rest of the notebook while an exercise is not done yet
# --------------------------------------------------------------------------------------------

def _references() -> dict[str, tuple[Callable, str]]:
    """Exercise name -> (the course package's implementation, the exercise's label)."""
    from course_utils.models import dec

    return {
        "soft_assignment": (dec.soft_assignment, "Exercise 1 (soft_assignment)"),
        "target_distribution": (dec.target_distribution, "Exercise 2 (target_distribution)"),
        "kl_loss": (dec.kl_clustering_loss, "Exercise 3 (kl_loss)"),
    }


def reference_if_unfinished(fn: Callable) -> Callable:
    """``fn``, or (while it still raises ``NotImplementedError``) the course's implementation of it.

    ``soft_assignment``, ``target_distribution`` and ``kl_loss`` fall back on
    ``course_utils.models.dec``'s ``soft_assignment``, ``target_distribution`` and
    ``kl_clustering_loss`` (the same arguments, the same results as the exercises' solutions).
    """
    return _reference_by_name(fn, _references(), "04")
