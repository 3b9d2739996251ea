"""The one home of a run's settings, in three modules:

- :mod:`~vaecollapse.config.hyperparameters`: typed hyperparameters per family
  (:data:`HYPERPARAMETERS`: β, η_enc, η_dec, σ for the VAE and CVAE; β1, β2, η_enc, η_dec, σ1, σ2
  for the MHVAE), validated once when built;
- :mod:`~vaecollapse.config.settings`: :class:`ModelConfig`, :class:`TrainConfig` and a run's
  ``config.json`` (``schema_version``, the older flat layout migrated on read);
- :mod:`~vaecollapse.config.options`: a TrainConfig from options (the `train` command's, a
  sweep's, an experiment's), loading the data once to size the model.

No torch, matplotlib or pydantic here: `vaecollapse predict` stays quick to start.
"""

from vaecollapse.config.hyperparameters import (
    FAMILIES,
    HYPERPARAMETER_NAMES,
    HYPERPARAMETERS,
    CVAEHyperparameters,
    Hyperparameters,
    MHVAEHyperparameters,
    VAEHyperparameters,
    check_family,
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
    SCHEDULES,
    SCHEMA_VERSION,
    ModelConfig,
    TrainConfig,
    from_json,
    migrate,
)

__all__ = [
    "BACKBONES", "EVALUATION_OPTIONS", "FAMILIES", "HYPERPARAMETERS", "HYPERPARAMETER_NAMES",
    "SCHEDULES", "SCHEMA_VERSION", "CVAEHyperparameters", "Hyperparameters",
    "MHVAEHyperparameters", "ModelConfig", "TrainConfig", "VAEHyperparameters", "check_family",
    "config_from_options", "from_json", "hyperparameter_options", "hyperparameters",
    "load_dataset", "migrate", "model_config_for", "parse_hidden", "run_dataset", "y_shape_for",
]
