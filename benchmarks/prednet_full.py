"""Week 07 in full mode: PredNet (L_0 and L_all) and the ConvLSTM ablation on Moving MNIST, 10 -> 10.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 COURSE_DATA_DIR=../shared/data python benchmarks/prednet_full.py --models L_0 --seed 0

Trains each model with ``train.train_predictor`` and week 07's full-mode settings (``settings.video("full")``)
(teacher-forced next-frame training on 10-frame clips, then extrapolation fine-tuning on 20-frame
clips; PredNet on squared error units, or with "-L1" on the paper's), on sequences made by
``data.moving_mnist_clips`` from MNIST test digits 0-7,999; scores it on sequences from digits
8,000-9,999 with ``train.predictor_scores`` (t+1 with teacher forcing, and 10 frames extrapolated
after 10 seen) against ``metrics.prediction_baselines``. Prints and, with
``--json PATH``, writes per-step MSE / SSIM / PSNR, parameters, training memory and wall times.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from course_utils import config, data, metrics, settings, train
from course_utils.models import prednet as pn


#: The models: PredNet with the full-mode error units (``settings.video("full")["error_power"]``, squared) and
#: the paper's losses' layer weights; the same with the paper's mean absolute error units ("-L1":
#: these predict black frames at 64x64); the ConvLSTM ablation on the squared error of its frames.
LOSS = {"L_0": "L_0", "L_all": "L_all", "L_0-L1": "L_0", "L_all-L1": "L_all", "ConvLSTM": "MSE"}


def error_power(kind: str, full: dict) -> int:
    return 1 if kind.endswith("-L1") else full["error_power"]


def finetune_loss(kind: str, full: dict) -> str:
    """Extrapolation fine-tuning: L1 on the frames with the paper's error units, squared otherwise."""
    return "L_0" if kind != "ConvLSTM" and error_power(kind, full) == 1 else "MSE"


def build(kind: str, full: dict) -> torch.nn.Module:
    if kind != "ConvLSTM" and kind in LOSS:
        return pn.PredNet(full["a_channels"], error_power=error_power(kind, full))
    if kind == "ConvLSTM":
        return pn.ConvLSTMPredictor(1, full["convlstm_hidden"])
    raise ValueError(f"model {kind!r}; expected one of {sorted(LOSS)}.")


def summary(scores: dict) -> dict:
    return {mode: {"mse_t+1": float(s["mse"][0]), "mse_mean": float(np.mean(s["mse"])),
                   "ssim_mean": float(np.mean(s["ssim"])), "psnr_mean": float(np.mean(s["psnr"])),
                   "mse": [float(v) for v in s["mse"]], "ssim": [float(v) for v in s["ssim"]]}
            for mode, s in scores.items()}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["L_0", "L_all", "ConvLSTM"], choices=sorted(LOSS))
    ap.add_argument("--seed", type=int, default=settings.WEEKS["07"]["SEED"])
    ap.add_argument("--json", default=None)
    return ap


def main() -> None:
    args = parser().parse_args()
    full = settings.video("full")   # the notebook's full mode, from the one place it is written
    config.seed_everything(args.seed)
    t0 = time.perf_counter()
    train_clips = data.moving_mnist_clips(full["n_train"], "train", full["resolution"], seed=args.seed)
    test_clips = data.moving_mnist_clips(full["n_test"], "test", full["resolution"], seed=1000 + args.seed)
    print(f"data: {tuple(train_clips.shape)} train, {tuple(test_clips.shape)} test in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    results: dict = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in full.items()},
                     "seed": args.seed, "torch": torch.__version__, "threads": torch.get_num_threads(),
                     "baselines": {name: summary(s) for name, s in
                                   metrics.prediction_baselines(test_clips, full["n_in"]).items()}}
    for name, s in results["baselines"].items():
        print(f"{name:>15}: t+1 MSE {s['next']['mse_t+1']:.1f}, next-frame mean {s['next']['mse_mean']:.1f}, "
              f"10-step MSE {s['extrap']['mse_mean']:.1f} SSIM {s['extrap']['ssim_mean']:.3f}", flush=True)
    val = test_clips[:50]

    def val_mse(epoch, model, logs):
        logs["val_mse"] = float(np.mean(train.predictor_scores(model, val, full["n_in"])["next"]["mse"]))
        print(f"  step {logs['step']}: loss {logs['loss']:.4g}, validation next-frame MSE {logs['val_mse']:.1f}",
              flush=True)

    for kind in args.models:
        torch.manual_seed(args.seed)
        model = build(kind, full)
        t0 = time.perf_counter()
        hist = train.train_predictor(model, train_clips, full["steps"], loss=LOSS[kind],
                                     n_frames=full["n_in"], batch_size=full["batch_size"], lr=full["lr"],
                                     lr_drop_at=full["lr_drop_at"], log_every=100, callbacks=[val_mse],
                                     seed=args.seed, progress=False, desc=kind)
        t_teacher = time.perf_counter() - t0
        teacher = summary(train.predictor_scores(model, test_clips, full["n_in"]))
        t1 = time.perf_counter()
        ft = train.train_predictor(model, train_clips, full["extrap_steps"], loss=finetune_loss(kind, full), n_frames=20,
                                   extrap_start=full["n_in"],
                                   batch_size=full["batch_size"], lr=full["lr"] / 10, log_every=20,
                                   seed=args.seed + 1, progress=False)
        t_ft = time.perf_counter() - t1
        final = summary(train.predictor_scores(model, test_clips, full["n_in"]))
        mem = train.training_memory(model, train_clips[:full["batch_size"], :full["n_in"]], LOSS[kind])
        results[kind] = {"params": pn.count_parameters(model), "memory": mem, "history": hist,
                         "finetune_history": ft, "seconds_teacher": t_teacher, "seconds_finetune": t_ft,
                         "before_finetune": teacher, "after_finetune": final}
        print(f"{kind}: {pn.count_parameters(model)} parameters, {mem['bytes'] / 2**20:.0f} MiB ({mem['how']}); "
              f"val t+1 MSE per 100 steps {[round(v, 1) for v in hist['val_mse']]}", flush=True)
        for label, r in (("teacher-forced", teacher), ("after extrapolation fine-tuning", final)):
            print(f"{kind} {label}: t+1 MSE {r['next']['mse_t+1']:.1f}, next-frame mean {r['next']['mse_mean']:.1f} "
                  f"SSIM {r['next']['ssim_mean']:.3f}; 10-step MSE {r['extrap']['mse_mean']:.1f} "
                  f"SSIM {r['extrap']['ssim_mean']:.3f}", flush=True)
        print(f"{kind}: {t_teacher:.0f} s teacher-forced + {t_ft:.0f} s fine-tuning", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
