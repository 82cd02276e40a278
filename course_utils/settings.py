"""Every setting of the course, fast and full mode: the one place each value is written.

Three kinds of readers take their values from here, and from nowhere else:

- each week's notebook, in its parameters cell: ``P = settings.week("03", config.mode())``, then
  ``VADE_LR = P["VADE_LR"]`` and so on (``settings.show("03")`` prints both modes side by side);
- ``course results`` (``results.SETTINGS`` is built from the weeks below by ``results_settings``);
- the full-mode benchmarks (``benchmarks/*_full.py``): their options' defaults are ``full``
  values of the week they reproduce.

``tests/test_settings.py`` reads every solution notebook's parameters cell (with ``ast``) and
every benchmark's option parser, and fails when a value is written anywhere else or disagrees.

A value that differs between the modes is a ``Pick(fast, full)``; anything else is the same in
both. The mode is always passed as a value (``"fast"`` or ``"full"``); this module reads no
environment variable and imports nothing of the course, so any module may import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODES = ("fast", "full")


@dataclass(frozen=True)
class Pick:
    """A setting whose value depends on the mode."""
    fast: Any
    full: Any

    def of(self, mode: str) -> Any:
        return self.fast if check_mode(mode) == "fast" else self.full


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: use 'fast' or 'full'.")
    return mode


#: The autoencoder that weeks 03-05 pretrain and share (one checkpoint in the cache), with the
#: mixture fitted on its codes. None: the recipe's own value (``train.AE_RECIPES``).
SHARED_AE: dict[str, Any] = {
    "HIDDEN": Pick((256, 256, 1024), (500, 500, 2000)),   # encoder widths; the decoder mirrors them
    "LATENT_DIM": 10,
    "AE_RECIPE": Pick("adam", "bce-aug"),
    "AE_EPOCHS": Pick(30, None),
    "AE_BATCH": Pick(64, None),
    "GMM_KMEANS_RESTARTS": Pick(0, 10),
}

#: MNIST as the clustering weeks read it: the split and how many images (None: all of it).
MNIST: dict[str, Any] = {
    "MNIST_SPLIT": Pick("test", "all"),
    "N_MNIST": Pick(2000, None),
}

#: NMMC's defaults (``nmmc.NMMC_DEFAULTS``). ``lam`` is in units of the codes' mean squared distance
#: to their mean (1 after ``nmmc.standardize_codes``): 1.5 opens a cluster for a point farther from
#: every cluster than 1.5 times the typical point is from the centre of all the data.
NMMC: dict[str, Any] = {"lam": 1.5, "prior": 0.001, "margin": 0.1, "C": 0.1, "passes": 30}

#: NMMC's merge step (``nmmc.merge_by_margin``; #29): after its passes, two clusters are merged while
#: the margin violators on their boundary are at least this share of the smaller one. 0.25 was fixed
#: on full mode's seed 0 (the unrolled DBN's codes, retrained 2026-12-07), from the merge path it
#: printed (k and the share at each step, beside the scores), as was placing the clusters at their
#: means rather than at NMMC's weights; seeds 1-4 ran after both were fixed.
NMMC_MERGE_SHARE = 0.25

#: DP-means' default penalty, in the same units. DP-means starts with one cluster at the mean of all
#: codes, whose squared distance to a code is 1 on average: with ``lam`` above about 1.2 no second
#: cluster ever opens, so its default sits at that unit.
DP_MEANS_LAM = 1.0

#: Fine-tuning (NMMC's step 3): Adam's learning rate and the hinge margin. A gentle rate: with
#: 1e-3 the encoder overfits NMMC's own labels within a few epochs and the clusters found again are
#: no better (one of three full-mode seeds lost NMI); 1e-4 for 10 epochs refines them.
FINETUNE: dict[str, Any] = {"lr": 1e-4, "margin": 1.0}

#: The DBN unrolled into an autoencoder and fine-tuned (Hinton & Salakhutdinov 2006; #29), full mode:
#: a 784-500-250-10 stack, logistic RBMs trained 30 CD-1 epochs each (rate 0.1), the top RBM with
#: linear units (30 epochs, rate 1e-3), then the unrolled network trained 900 epochs with Adam
#: (3e-3, batch 256) on the Bernoulli loss of randomly rotated (10 degrees) and shifted (10%) images.
#: ``benchmarks/dbn_unrolled.py`` reads it. The epochs were set before seeds 1-2 ran, from seed 0's
#: loss still falling at 300 epochs; no label chose them.
DBN_UNROLLED: dict[str, Any] = {"sizes": (784, 500, 250, 10), "rbm_epochs": 30, "rbm_lr": 0.1, "top_epochs": 30,
                                "top_lr": 1e-3, "epochs": 900, "lr": 3e-3, "batch_size": 256,
                                "augment": {"max_rotation": 10.0, "max_shift": 0.1}}

#: DEC-DA's plateau stop (``dec.train_dec``'s ``patience`` and ``window``; ``dec.DEC_DA_RECIPE`` reads
#: it): stop when the mean label change of the last ``window`` target updates has not reached a new
#: low for ``patience`` updates. Fixed on full mode's seed 0 (its label-change curve) before seeds 1-4
#: ran: a window of 10 updates averages the update-to-update noise of the augmented batches; 20
#: updates is two windows without progress.
DEC_DA_STOP: dict[str, Any] = {"patience": 20, "window": 10}

#: How weeks 03 and 04 (VaDE and DEC) begin: the data, and the shared autoencoder they start from.
_FROM_THE_SHARED_AE: dict[str, Any] = {
    "SEED": 0,
    **MNIST,
    "HIDDEN": SHARED_AE["HIDDEN"],
    "LATENT_DIM": SHARED_AE["LATENT_DIM"],
    "N_CLUSTERS": 10,
    "AE_RECIPE": SHARED_AE["AE_RECIPE"],
    "AE_EPOCHS": SHARED_AE["AE_EPOCHS"],
}

WEEKS: dict[str, dict[str, Any]] = {
    "01": {
        "SEED": 0,
        "N_TOY": Pick(600, 1500),
        "N_RUNS": Pick(20, 50),
        "N_EM_STARTS": Pick(5, 10),
        "K_MAX": Pick(10, 12),
        **MNIST,
        "N_INIT": Pick(3, 10),
        "MAX_ITER": 300,
        "EM_MAX_ITER": Pick(100, 300),
    },
    "02": {
        "SEED": 0,
        "MNIST_SPLIT": "test",
        "N_IMAGES": Pick(3000, None),
        "HIDDEN": Pick((512,), (500, 500, 2000)),
        "LATENT_DIM": 10,
        "BATCH_SIZE": Pick(64, 256),
        "LR": 1e-3,
        "EPOCHS_VAE": Pick(15, 100),
        "AE_RECIPE": SHARED_AE["AE_RECIPE"],
        "EPOCHS_AE": Pick(15, None),
        "AE_BATCH_SIZE": SHARED_AE["AE_BATCH"],
        "GMM_KMEANS_RESTARTS": SHARED_AE["GMM_KMEANS_RESTARTS"],
        "EPOCHS_2D": Pick(15, 100),
        "BETA_HIGH": 4.0,
        "SCORE_EVERY": Pick(3, 5),
    },
    "03": {
        **_FROM_THE_SHARED_AE,
        "VAE_EPOCHS": Pick(30, 100),
        "VADE_EPOCHS": Pick(25, 30),
        "VADE_LR": Pick(2e-3, 2e-4),
        "GMM_KMEANS_RESTARTS": SHARED_AE["GMM_KMEANS_RESTARTS"],
        # VaDE's mixture: EM from the k-means start (True), or read off the best k-means partition
        # with no EM (False; full mode: EM merged two digits on seed 1's codes, section 9)
        "VADE_GMM_EM": Pick(True, False),
        "NO_PRETRAIN_EPOCHS": Pick(25, 30),
        "BATCH_SIZE": 100,
        "SNAPSHOT_EPOCHS": Pick((0, 1, 5, 10, 25), (0, 1, 5, 10, 20, 30)),
        "PROJECTION": Pick("pca", "tsne"),
    },
    "04": {
        **_FROM_THE_SHARED_AE,
        "AE_BATCH": SHARED_AE["AE_BATCH"],
        "ALPHA": 1.0,
        "BATCH_SIZE": 256,
        "UPDATE_INTERVAL": None,
        "TOL": 0.001,
        "MAX_ITER": Pick(2000, 20000),
        "DA_MAX_ITER": Pick(800, 20000),
        "DA_PATIENCE": DEC_DA_STOP["patience"],
        "DA_WINDOW": DEC_DA_STOP["window"],
        "GAMMA": 0.1,
        "PROJECTION": Pick("pca", "tsne"),
    },
    "05": {
        "SEED": 0,
        **MNIST,
        "ARCH": Pick("mlp", "conv"),
        "NOISE_DIM": Pick(8, 62),
        "BATCH_SIZE": 64,
        "GAN_EPOCHS": Pick(6, 5),
        "CATGAN_EPOCHS": Pick(8, 10),
        # full: None = the reference's budget (openai/InfoGAN: 5,000 updates of 128 images), as many
        # epochs as that takes on the data used (64 of the 10,000 test images, 9 of all 70,000)
        "INFOGAN_EPOCHS": Pick(12, None),
        "INFOGAN_BATCH": Pick(64, 128),
        "HIDDEN": SHARED_AE["HIDDEN"],
        "LATENT_DIM": SHARED_AE["LATENT_DIM"],
        "AE_RECIPE": SHARED_AE["AE_RECIPE"],
        "AE_EPOCHS": SHARED_AE["AE_EPOCHS"],
        "AE_BATCH": SHARED_AE["AE_BATCH"],
        "GMM_KMEANS_RESTARTS": SHARED_AE["GMM_KMEANS_RESTARTS"],
        "DAC_EPOCHS": Pick(6, 10),
        "AAE_CLUSTERS": 16,
        "AAE_HIDDEN": Pick((512, 512), (1000, 1000)),
        "AAE_EPOCHS": Pick(12, 30),
        "CODE_BATCH": 100,
    },
    # full: MNIST ("all" where the training files exist, else the test split), 1,000 images held
    # out from the DBN, a 784-500-250-50 DBN trained 30 epochs per layer, 10 epochs of fine-tuning
    "06": {
        "SEED": 0,
        "MNIST_SPLIT": MNIST["MNIST_SPLIT"],
        "N_MNIST": MNIST["N_MNIST"],
        "N_HELDOUT": Pick(500, 1000),
        "DBN_SIZES": Pick((784, 256, 128, 50), (784, 500, 250, 50)),
        "RBM_EPOCHS": Pick(5, 30),
        "RBM_LR": 0.1,
        "RBM_BATCH": 100,
        "LAM": NMMC["lam"],
        "DPM_LAM": DP_MEANS_LAM,
        "PRIOR": NMMC["prior"],
        "MARGIN": NMMC["margin"],
        "PA_C": NMMC["C"],
        "PASSES": NMMC["passes"],
        "MERGE_SHARE": NMMC_MERGE_SHARE,
        "DP_TRUNCATION": 30,
        "DP_CONCENTRATION": 1.0,
        "FT_EPOCHS": Pick(5, 10),
        "FT_MARGIN": FINETUNE["margin"],
        "FT_LR": FINETUNE["lr"],
        "LAM_SWEEP": (1.0, 1.25, 1.5, 1.75, 2.0),
        "GAMMA_SWEEP": (1e-3, 1e-1, 1.0, 10.0, 1e3),
        "UNROLL_SIZES": Pick((784, 256, 128, 10), DBN_UNROLLED["sizes"]),
        "UNROLL_RBM_EPOCHS": Pick(5, DBN_UNROLLED["rbm_epochs"]),
        "UNROLL_TOP_EPOCHS": Pick(5, DBN_UNROLLED["top_epochs"]),
        "UNROLL_RBM_LR": DBN_UNROLLED["rbm_lr"],
        "UNROLL_TOP_LR": DBN_UNROLLED["top_lr"],
        "UNROLL_EPOCHS": Pick(30, DBN_UNROLLED["epochs"]),
        "UNROLL_LR": DBN_UNROLLED["lr"],
        "UNROLL_BATCH": DBN_UNROLLED["batch_size"],
        "UNROLL_AUGMENT": DBN_UNROLLED["augment"],
    },
    # full: the standard 64x64 frames, the reference's small PredNet widths, batch 8, 10-frame clips,
    # Adam 1e-3 then 1e-4, then extrapolation fine-tuning on 20-frame clips (10 in, 10 predicted).
    # Sized for about half an hour per PredNet on one CPU core. ERROR_POWER 2: the squared error
    # units (with the paper's 1, PredNet predicts black frames at 64x64; see ``prednet.PredNet``).
    "07": {
        "SEED": 0,
        "RESOLUTION": Pick(32, 64),
        "N_TRAIN": Pick(500, 2000),
        "N_TEST": Pick(100, 300),
        "A_CHANNELS": Pick((1, 16, 32), (1, 16, 32, 64)),
        "ERROR_POWER": Pick(1, 2),
        "CONVLSTM_HIDDEN": Pick((16, 16), (32, 32)),
        "BATCH_SIZE": 8,
        "STEPS": Pick(100, 600),
        "LR": 1e-3,
        "LR_DROP_AT": Pick(None, 480),
        "EXTRAP_STEPS": Pick(10, 60),
        "N_IN": 10,
        "LOG_EVERY": Pick(20, 50),
        "N_PROBE": Pick(300, 2000),
    },
    "08": {
        "MODE": Pick("fast", "full"),
        "DATASET": "mnist",
        "SPLIT": "test",
        "N_BEST": 3,
    },
    "09": {
        "SEEDS": Pick((0,), (0, 1, 2)),
        "ESTIMATOR_MODE": Pick("fast", "full"),
        "N_BLOBS": 600,
        "BLOB_DIM": 10,
        "BLOB_CLUSTERS": 4,
        "METHODS": ("kmeans", "dec", "vade"),
    },
}

#: ``course results``: the grid's own settings (it runs every method on MNIST's test split).
RESULTS: dict[str, Any] = {
    "split": "test",
    "n": MNIST["N_MNIST"],
    "seeds": Pick((0, 1), (0, 1, 2)),
    "kmeans_restarts": WEEKS["01"]["N_INIT"],
}


def week(number: str, mode: str) -> dict[str, Any]:
    """Week ``number``'s settings (``"01"`` … ``"08"``) in ``mode``: ``{NAME: value}``."""
    if number not in WEEKS:
        raise ValueError(f"week {number!r}: the course has weeks {', '.join(WEEKS)}.")
    check_mode(mode)
    return {name: v.of(mode) if isinstance(v, Pick) else v for name, v in WEEKS[number].items()}


def full(number: str, name: str) -> Any:
    """One full-mode value (what a benchmark's option defaults to)."""
    return week(number, "full")[name]


def show(number: str, mode: str | None = None) -> str:
    """Week ``number``'s settings as a table: each name, its fast and full value, and (with
    ``mode``) which one this run uses."""
    rows = [(name, repr(v.fast) if isinstance(v, Pick) else repr(v), repr(v.full) if isinstance(v, Pick) else "")
            for name, v in WEEKS[number].items()]
    w = [max(len(r[i]) for r in rows + [("setting", "fast", "full")]) for i in range(3)]
    head = f"{'setting':<{w[0]}}  {'fast':<{w[1]}}  {'full':<{w[2]}}".rstrip()
    lines = [head] + [f"{a:<{w[0]}}  {b:<{w[1]}}  {c or '(same)':<{w[2]}}".rstrip() for a, b, c in rows]
    if mode is not None:
        lines.append(f"this run: {check_mode(mode)} mode")
    return "\n".join(lines)


def video(mode: str) -> dict[str, Any]:
    """Week 07's data and training settings in ``mode``, as ``course results`` and
    ``benchmarks/prednet_full.py`` pass them to ``train.train_predictor``."""
    return results_settings(mode)["video"]


def results_settings(mode: str) -> dict[str, Any]:
    """``course results``' settings in ``mode``, built from the weeks whose functions it calls."""
    w = {n: week(n, mode) for n in ("03", "04", "05", "06", "07")}
    r = {k: v.of(mode) if isinstance(v, Pick) else v for k, v in RESULTS.items()}
    return {
        "split": r["split"], "n": r["n"], "seeds": r["seeds"],
        "ae": {"hidden": w["04"]["HIDDEN"], "latent_dim": w["04"]["LATENT_DIM"], "recipe": w["04"]["AE_RECIPE"],
               "epochs": w["04"]["AE_EPOCHS"], "batch_size": w["04"]["AE_BATCH"]},
        "gmm_kmeans_restarts": w["03"]["GMM_KMEANS_RESTARTS"], "kmeans_restarts": r["kmeans_restarts"],
        "vae": {"epochs": w["03"]["VAE_EPOCHS"]},
        "vade": {"epochs": w["03"]["VADE_EPOCHS"], "lr": w["03"]["VADE_LR"], "gmm_em": w["03"]["VADE_GMM_EM"],
                 "scratch_epochs": w["03"]["NO_PRETRAIN_EPOCHS"]},
        "dec": {"max_iter": w["04"]["MAX_ITER"], "da_max_iter": w["04"]["DA_MAX_ITER"]},
        # one epochs and one batch key per method: "<method>_epochs", "<method>_batch"
        "gan": {"arch": w["05"]["ARCH"], "noise_dim": w["05"]["NOISE_DIM"],
                "gan_epochs": w["05"]["GAN_EPOCHS"], "gan_batch": w["05"]["BATCH_SIZE"],
                "catgan_epochs": w["05"]["CATGAN_EPOCHS"], "catgan_batch": w["05"]["BATCH_SIZE"],
                "infogan_epochs": w["05"]["INFOGAN_EPOCHS"], "infogan_batch": w["05"]["INFOGAN_BATCH"],
                "dac_epochs": w["05"]["DAC_EPOCHS"],
                "dac_batch": w["05"]["CODE_BATCH"], "aae_hidden": w["05"]["AAE_HIDDEN"],
                "aae_epochs": w["05"]["AAE_EPOCHS"], "aae_batch": w["05"]["CODE_BATCH"]},
        "dbn": {"sizes": w["06"]["DBN_SIZES"], "rbm_epochs": w["06"]["RBM_EPOCHS"], "ft_epochs": w["06"]["FT_EPOCHS"]},
        "dbn_unrolled": {"sizes": w["06"]["UNROLL_SIZES"], "rbm_epochs": w["06"]["UNROLL_RBM_EPOCHS"],
                         "rbm_lr": w["06"]["UNROLL_RBM_LR"], "top_epochs": w["06"]["UNROLL_TOP_EPOCHS"],
                         "rbm_batch": w["06"]["RBM_BATCH"],
                         "top_lr": w["06"]["UNROLL_TOP_LR"], "epochs": w["06"]["UNROLL_EPOCHS"],
                         "lr": w["06"]["UNROLL_LR"], "batch_size": w["06"]["UNROLL_BATCH"],
                         "augment": w["06"]["UNROLL_AUGMENT"]},
        "video": {"resolution": w["07"]["RESOLUTION"], "n_train": w["07"]["N_TRAIN"], "n_test": w["07"]["N_TEST"],
                  "a_channels": w["07"]["A_CHANNELS"], "error_power": w["07"]["ERROR_POWER"],
                  "convlstm_hidden": w["07"]["CONVLSTM_HIDDEN"], "steps": w["07"]["STEPS"],
                  "lr_drop_at": w["07"]["LR_DROP_AT"], "extrap_steps": w["07"]["EXTRAP_STEPS"],
                  "n_in": w["07"]["N_IN"], "batch_size": w["07"]["BATCH_SIZE"], "lr": w["07"]["LR"]},
    }
