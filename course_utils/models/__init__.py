"""Networks and their losses, one file per method family.

- ``autoencoder``: ``MLPAutoencoder`` (D-500-500-2000-d, the DEC/IDEC/VaDE network), ``mlp``,
  ``reconstruction_loss``, ``init_glorot_``.
- ``vae``: ``VAE`` on the same blocks, ``reparameterize``, ``kl_std_normal``, ``vae_loss``.
- ``vade``: ``VaDE`` (a ``VAE`` with a Gaussian-mixture prior), ``log_gamma``/``gamma``,
  ``vade_elbo_loss``, and its initialisation from a pretrained autoencoder and a fitted GMM.
"""
from course_utils.models.autoencoder import MLPAutoencoder, init_glorot_, linear_layer_sizes, mlp, reconstruction_loss
from course_utils.models.vae import VAE, kl_std_normal, reparameterize, vae_loss
from course_utils.models.vade import (
    VaDE,
    gamma,
    init_from_autoencoder,
    init_gmm_from_latent,
    log_gamma,
    vade_elbo_loss,
    vade_objective,
)

__all__ = [
    "MLPAutoencoder",
    "VAE",
    "VaDE",
    "mlp",
    "linear_layer_sizes",
    "init_glorot_",
    "reconstruction_loss",
    "reparameterize",
    "kl_std_normal",
    "vae_loss",
    "gamma",
    "log_gamma",
    "vade_elbo_loss",
    "vade_objective",
    "init_from_autoencoder",
    "init_gmm_from_latent",
]
