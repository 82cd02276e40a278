"""Networks and their losses, one file per method family.

- ``autoencoder``: ``MLPAutoencoder`` (D-500-500-2000-d, the DEC/IDEC/VaDE network), ``mlp``,
  ``reconstruction_loss``, ``init_glorot_``.
- ``vae``: ``VAE`` on the same blocks, ``reparameterize``, ``kl_std_normal``, ``vae_loss``.
"""
from course_utils.models.autoencoder import MLPAutoencoder, init_glorot_, linear_layer_sizes, mlp, reconstruction_loss
from course_utils.models.vae import VAE, kl_std_normal, reparameterize, vae_loss

__all__ = [
    "MLPAutoencoder",
    "VAE",
    "mlp",
    "linear_layer_sizes",
    "init_glorot_",
    "reconstruction_loss",
    "reparameterize",
    "kl_std_normal",
    "vae_loss",
]
