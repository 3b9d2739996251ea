"""The one home of a run's settings, in three modules:

- :mod:`~vaecollapse.config.hyperparameters`: typed hyperparameters per family
  (:data:`HYPERPARAMETERS`: β, η_enc, η_dec, σ for the VAE and CVAE; β1, β2, η_enc, η_dec, σ1, σ2
  for the MHVAE), validated once when built;
- :mod:`~vaecollapse.config.settings`: :class:`ModelConfig`, :class:`TrainConfig` and a run's
  ``config.json`` (``schema_version``, the older flat layout migrated on read);
- :mod:`~vaecollapse.config.options`: a TrainConfig from options (the `train` command's, a
  sweep's, an experiment's), loading the data once to size the model.

No torch, matplotlib or pydantic here: `vaecollapse predict` stays quick to start. The families
themselves are :class:`vaecollapse.family.Family`.
"""

from vaecollapse.config.hyperparameters import (
    HYPERPARAMETER_NAMES,
    HYPERPARAMETERS,
    CVAEHyperparameters,
    Hyperparameters,
    MHVAEHyperparameters,
    VAEHyperparameters,
    hyperparameter_options,
    hyperparameters,
)
from vaecollapse.config.options import (
    EVALUATION_OPTIONS,
    config_from_options,
    load_dataset,
    model_config_for,
    parse_hidden,
    run_dataset,
    y_shape_for,
)
from vaecollapse.config.settings import (
    BACKBONES,
    CONFIG_SCHEMA_VERSION,
    FAST_STEPS,
    SCHEDULES,
    ModelConfig,
    TrainConfig,
    from_json,
    migrate,
)

__all__ = [
    "BACKBONES", "CONFIG_SCHEMA_VERSION", "EVALUATION_OPTIONS", "FAST_STEPS", "HYPERPARAMETERS",
    "HYPERPARAMETER_NAMES", "SCHEDULES", "CVAEHyperparameters", "Hyperparameters",
    "MHVAEHyperparameters", "ModelConfig", "TrainConfig", "VAEHyperparameters",
    "config_from_options", "from_json", "hyperparameter_options", "hyperparameters",
    "load_dataset", "migrate", "model_config_for", "parse_hidden", "run_dataset", "y_shape_for",
]
