"""A model configuration's hyperparameters as the theory takes them
(:func:`vaecollapse.theory.solve` by name: exactly the fields of the family's class in
:mod:`vaecollapse.config`), and whether the setting has a closed form. Pure: no data are read
here (a run's data enter through :mod:`vaecollapse.runs.predicted`)."""

from __future__ import annotations

from typing import Any

from vaecollapse.config import ModelConfig
from vaecollapse.theory.dispatch import needs_numerical
from vaecollapse.theory.validation import without_default_shape


def theory_hyperparameters(m: ModelConfig) -> dict[str, Any]:
    """The theory's hyperparameters of a ModelConfig (true β-ELBO weights): its family's
    hyperparameters by name; for the MHVAE only the hierarchy's non-default shape (levels ≠ 2,
    ladder inference, the deeper levels' β and σ, sizes per level), so that the two-level Markov
    MHVAE with Σ1 fixed keeps its closed form."""
    hp = m.hyperparameters.to_dict()
    if not m.family.hierarchical:
        return hp
    out = without_default_shape(hp)
    if out.get("levels") == 1:
        out.pop("beta2", None)
        out.pop("sigma2", None)
    if m.latent_dims is not None:
        out["latent_dims"] = list(m.latent_dims)
    return out


def numerical(m: ModelConfig) -> bool:
    """True when the linear model of ``m`` has no closed form: an MHVAE answered by the numerical
    theory (learnable Σ1, more levels, ladder inference, sizes per level)."""
    return m.family.hierarchical and needs_numerical(theory_hyperparameters(m))
