"""Time one VaDE training epoch: the course's ``vade_objective`` + ``fit`` against a plain PyTorch loop.

The course side is what the notebooks and ``benchmarks/vade_full.py`` run: ``VaDE``,
``make_optimizer`` (Adam, lr 2e-3, eps 1e-4, network and mixture groups) and
``course_utils.train.fit`` for one epoch on ``vade_objective``, batch 100. The plain side uses the
same ``VaDE`` module for the encoder and decoder only, writes the negative ELBO directly from the
paper (Jiang et al. 2017, Eq. 12: log-sum-exp responsibilities ``gamma``, Bernoulli
reconstruction, the Gaussian, cluster-prior and two entropy terms) with torch ops, and trains it in a
bare loop (same shuffled batches, same noise, one ``Adam`` with the same settings).

First both losses are evaluated on one fixed batch with the same sample ``z``, term by term. The
paper's ELBO has no ``log 2 pi``: the one from ``log p(z|c)`` cancels the one from the entropy of
``q(z|x)``. The course's ``gauss`` term keeps ``log 2 pi`` per latent dimension and its
``entropy_z`` drops the matching constant, so the course's loss is the plain one plus
``J/2 log 2 pi`` (a constant: same gradients). The check allows exactly that offset and otherwise
requires agreement to 1e-4 relative; if a term differs, it says which, and the script exits 1
before timing anything.

Then each side trains one epoch from the same initial weights, ``--repeats`` times (alternating
which goes first); the median time of each and the ratio course / plain are printed. Timings are
reported, never judged: a slow run does not fail.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/vade_epoch.py
    python benchmarks/vade_epoch.py --n 500 --hidden 64 64 256 --repeats 5 --threads 2
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script without installing the package
    sys.path.insert(0, str(REPO_ROOT))

from course_utils import config  # noqa: E402
from course_utils.data import load_mnist  # noqa: E402
from course_utils.models.vade import VADE_RECIPE, VaDE, make_optimizer, vade_objective  # noqa: E402
from course_utils.train import fit  # noqa: E402

TERMS = ("recon", "gauss", "prior_c", "entropy_c", "entropy_z")
RTOL = 1e-4


# --------------------------------------------------------------------------------------------
# The plain formulation
# --------------------------------------------------------------------------------------------

def plain_vade_terms(model: VaDE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The negative ELBO of VaDE (paper, Eq. 12; one sample of ``z``), per image averaged over the batch.

    Only ``model.encode`` / ``model.decode`` and the raw mixture parameters are used. The noise is
    drawn with ``torch.randn_like(mu)`` right after encoding, as ``reparameterize`` does, so with the
    same global seed both formulations see the same ``z``.
    """
    mu, logvar = model.encode(x)                                   # (B, J) each
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode(z)                                       # (B, D)

    log_pi = model.pi_logits - torch.logsumexp(model.pi_logits, dim=0)   # (K,)
    mu_c, logvar_c = model.mu_c, model.logvar_c                    # (K, J)
    var_c = torch.exp(logvar_c)

    # gamma_c = p(c|z) = pi_c N(z|mu_c, sigma_c^2) / sum_c' (same), in log space
    log_joint = log_pi - 0.5 * (math.log(2 * math.pi) + logvar_c + (z[:, None, :] - mu_c) ** 2 / var_c).sum(dim=2)
    log_g = log_joint - torch.logsumexp(log_joint, dim=1, keepdim=True)   # (B, K)
    g = torch.exp(log_g)

    # -log p(x|z) for a Bernoulli with logits l: -[x log s(l) + (1 - x) log(1 - s(l))] = softplus(l) - x l
    recon = (F.softplus(logits) - x * logits).sum(dim=1)
    # 1/2 sum_c gamma_c sum_j [log sigma_cj^2 + sigma~_j^2 / sigma_cj^2 + (mu~_j - mu_cj)^2 / sigma_cj^2]
    gauss = 0.5 * (g * (logvar_c + (torch.exp(logvar)[:, None, :] + (mu[:, None, :] - mu_c) ** 2)
                        / var_c).sum(dim=2)).sum(dim=1)
    prior_c = -(g * log_pi).sum(dim=1)                             # - sum_c gamma_c log pi_c
    entropy_c = (g * log_g).sum(dim=1)                             # + sum_c gamma_c log gamma_c
    entropy_z = -0.5 * (1.0 + logvar).sum(dim=1)                   # - 1/2 sum_j (1 + log sigma~_j^2)
    terms = {"recon": recon.mean(), "gauss": gauss.mean(), "prior_c": prior_c.mean(),
             "entropy_c": entropy_c.mean(), "entropy_z": entropy_z.mean()}
    terms["loss"] = terms["recon"] + terms["gauss"] + terms["prior_c"] + terms["entropy_c"] + terms["entropy_z"]
    return terms


def plain_epoch(model: VaDE, X: torch.Tensor, optimizer: torch.optim.Optimizer, batch_size: int,
                seed: int, device: torch.device) -> float:
    """One pass over ``X`` in shuffled batches (the order ``fit`` draws for ``seed``); the mean loss."""
    model.train()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    total = 0.0
    for start in range(0, len(X), batch_size):
        x = X[order[start:start + batch_size]].to(device)
        loss = plain_vade_terms(model, x)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(x)
    model.eval()
    return total / len(X)


# --------------------------------------------------------------------------------------------
# The check and the timing
# --------------------------------------------------------------------------------------------

def build_model(in_dim: int, hidden: list[int], seed: int, device: torch.device) -> VaDE:
    """A fresh ``VaDE`` (J = K = 10) with a non-trivial mixture: random means, variances and weights.

    (All-zero means would make ``gamma`` uniform and leave the responsibilities untested.)
    """
    torch.manual_seed(seed)
    model = VaDE(in_dim, tuple(hidden), 10, 10)
    with torch.no_grad():
        model.mu_c.normal_(0.0, 1.0)
        model.logvar_c.normal_(0.0, 0.5)
        model.pi_logits.normal_(0.0, 0.5)
    return model.to(device)


def check_same_loss(model: VaDE, x: torch.Tensor, seed: int) -> bool:
    """Both losses (and gradients) on one batch with the same ``z``; prints them, returns agreement."""
    J = model.latent_dim
    offset = 0.5 * J * math.log(2 * math.pi)
    a, b = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    torch.manual_seed(seed)
    course = vade_objective(a, x)
    torch.manual_seed(seed)
    plain = plain_vade_terms(b, x)
    course["loss"].backward()
    plain["loss"].backward()
    course = {k: v.detach() for k, v in course.items()}
    plain = {k: v.detach() for k, v in plain.items()}

    scale = max(abs(float(course["loss"])), 1.0)
    print(f"check on one batch of {len(x)} images (same z for both):")
    print(f"  {'term':<10} {'course':>14} {'plain':>14} {'course - plain':>15}")
    bad = []
    for name in TERMS:
        c, p = float(course[name]), float(plain[name])
        expected = offset if name == "gauss" else 0.0
        print(f"  {name:<10} {c:>14.6f} {p:>14.6f} {c - p:>+15.6f}"
              + ("   (expected +J/2 log 2pi)" if name == "gauss" else ""))
        if abs((c - p) - expected) > RTOL * max(abs(c), abs(p), 1.0):
            bad.append(f"{name}: course {c:.6f}, plain {p:.6f}, difference {c - p:+.6f} "
                       f"(expected {expected:+.6f})")
    c_loss, p_loss = float(course["loss"]), float(plain["loss"])
    diff = c_loss - p_loss
    rel = abs(diff - offset) / scale
    print(f"loss: course {c_loss:.6f}, plain {p_loss:.6f}, difference {diff:+.6f} "
          f"(J/2 log 2pi = {offset:.6f}: the course's gauss term keeps log 2pi per latent dim, "
          f"the paper's ELBO drops it; a constant, same gradients)")
    print(f"loss agreement after that constant: {rel:.2e} relative (tolerance {RTOL:.0e})")

    worst, worst_name = 0.0, ""
    grads_b = dict(b.named_parameters())
    for name, pa in a.named_parameters():
        ga, gb = pa.grad, grads_b[name].grad
        err = float((ga - gb).abs().max()) / max(float(ga.abs().max()), 1e-12)
        if err > worst:
            worst, worst_name = err, name
    print(f"gradients: largest relative difference {worst:.2e} (in {worst_name or '-'}; tolerance 1e-3)")
    if rel > RTOL and not bad:
        bad.append(f"loss: difference {diff:+.6f}, expected {offset:+.6f}")
    if worst > 1e-3:
        bad.append(f"gradient of {worst_name}: relative difference {worst:.2e}")
    if bad:
        print("MISMATCH between the course's loss and the plain one:\n- " + "\n- ".join(bad), file=sys.stderr)
        return False
    print("OK: the two formulations agree.")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="first N MNIST test images (2000)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000],
                        help="encoder hidden sizes, decoder reversed (500 500 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs of each, median kept (3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    parser.add_argument("--batch-size", type=int, default=VADE_RECIPE["batch_size"],
                        help=f"mini-batch size, both ({VADE_RECIPE['batch_size']})")
    parser.add_argument("--seed", type=int, default=0, help="weights, batch order and noise (0)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeats < 1 or args.threads < 1 or args.batch_size < 1 or min(args.hidden) < 1:
        parser.error("--n, --repeats, --threads, --batch-size and --hidden must be positive")

    torch.set_num_threads(args.threads)
    device = config.get_device()
    X, _ = load_mnist("test", limit=args.n)
    init = build_model(X.shape[1], args.hidden, args.seed, device)
    print(f"MNIST test split: {len(X)} images | VaDE {X.shape[1]}-{'-'.join(map(str, args.hidden))}-10, K=10 | "
          f"batch {args.batch_size} | Adam lr {VADE_RECIPE['lr']:g} eps {VADE_RECIPE['eps']:g} | "
          f"{device} | torch threads {args.threads}")

    if not check_same_loss(init, X[:args.batch_size].to(device), args.seed):
        return 1

    def run_course() -> float:
        model = copy.deepcopy(init)
        opt = make_optimizer(model)
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        history = fit(model, X, vade_objective, 1, optimizer=opt, batch_size=args.batch_size,
                      device=device, progress=False, seed=args.seed)
        elapsed = time.perf_counter() - start
        losses["course"] = history["loss"][-1]
        return elapsed

    def run_plain() -> float:
        model = copy.deepcopy(init)
        opt = torch.optim.Adam(model.parameters(), lr=VADE_RECIPE["lr"], eps=VADE_RECIPE["eps"])
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        losses["plain"] = plain_epoch(model, X, opt, args.batch_size, args.seed, device)
        return time.perf_counter() - start

    losses: dict[str, float] = {}
    times: dict[str, list[float]] = {"course": [], "plain": []}
    runs = (("course", run_course), ("plain", run_plain))
    print()
    for r in range(args.repeats):
        for name, fn in runs if r % 2 == 0 else runs[::-1]:
            times[name].append(fn())
        print(f"repeat {r + 1}/{args.repeats}: course {times['course'][-1]:.3f} s, plain {times['plain'][-1]:.3f} s")

    offset = 0.5 * init.latent_dim * math.log(2 * math.pi)
    print(f"epoch mean loss: course {losses['course']:.4f}, plain {losses['plain']:.4f} "
          f"(+ J/2 log 2pi = {losses['plain'] + offset:.4f})")
    t_course, t_plain = statistics.median(times["course"]), statistics.median(times["plain"])
    n_batches = math.ceil(len(X) / args.batch_size)
    print(f"{'':<8} {'median epoch [s]':>16} {'per batch [ms]':>15}")
    print(f"{'course':<8} {t_course:>16.3f} {1e3 * t_course / n_batches:>15.2f}")
    print(f"{'plain':<8} {t_plain:>16.3f} {1e3 * t_plain / n_batches:>15.2f}")
    print(f"time ratio course / plain: {t_course / t_plain:.2f} (median of {args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
