"""Models: family (vae / cvae / mhvae) × backbone (linear / mlp / cnn / resnet18)."""

from vaecollapse.config import FAMILIES, ModelConfig
from vaecollapse.models.backbones import BACKBONES
from vaecollapse.models.base import Output, Posterior
from vaecollapse.models.families import CVAE, VAE, LatentModel, build_model
from vaecollapse.models.hierarchical import MHVAE

__all__ = ["BACKBONES", "CVAE", "FAMILIES", "MHVAE", "VAE", "LatentModel", "ModelConfig", "Output",
           "Posterior", "build_model"]
