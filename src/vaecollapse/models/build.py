"""The model of a configuration: family × backbone."""

from __future__ import annotations

from vaecollapse.config import ModelConfig
from vaecollapse.family import Family
from vaecollapse.models.base import LatentModel
from vaecollapse.models.hierarchical import MHVAE
from vaecollapse.models.vae import CVAE, VAE

#: family → its model class
MODELS: dict[Family, type[LatentModel]] = {Family.VAE: VAE, Family.CVAE: CVAE, Family.MHVAE: MHVAE}


def build_model(cfg: ModelConfig) -> LatentModel:
    """The model for ``cfg.family`` over ``cfg.backbone``."""
    cfg.validate()
    return MODELS[cfg.family](cfg)
