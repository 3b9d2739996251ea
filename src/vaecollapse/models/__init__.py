"""Models: family (vae / cvae / mhvae) × backbone (linear / mlp / cnn / resnet18).

Modules: ``base`` (the posterior protocol, loss terms, :class:`LatentModel`), ``kl`` (the one
diagonal-Gaussian KL), ``backbones`` and ``conv`` (the networks), ``vae`` (VAE, CVAE),
``hierarchical`` (MHVAE, L levels), ``build`` (a configuration's model), ``objective`` (the
remedies' training objective), ``fast_step`` (the hand-differentiated training step, beside the
forward pass it mirrors), ``decoder_likelihood`` (log p(target | z) for importance sampling).
"""

from vaecollapse.models.backbones import BACKBONES
from vaecollapse.models.base import LatentModel, Output, Posterior
from vaecollapse.models.build import build_model
from vaecollapse.models.hierarchical import MHVAE
from vaecollapse.models.kl import kl_diagonal_gaussian, kl_per_dimension
from vaecollapse.models.vae import CVAE, VAE

__all__ = ["BACKBONES", "CVAE", "MHVAE", "VAE", "LatentModel", "Output", "Posterior", "build_model",
           "kl_diagonal_gaussian", "kl_per_dimension"]
