"""Validation of the theory's model names and hyperparameters (numbers > 0 in their accepted
ranges, whole latent sizes, σ as one value or one per latent dimension) and of which
hyperparameters each model takes.
"""

from __future__ import annotations

import numpy as np

from vaecollapse.config.hyperparameters import HYPERPARAMETERS
from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.limits import LATENT_DIM, WEIGHT, check

# sweepable hyperparameter -> models it applies to
SWEEPABLE = {"beta": (Family.VAE, Family.CVAE), "beta1": (Family.MHVAE,),
             "beta2": (Family.MHVAE,), "eta_dec": tuple(Family), "eta_enc": tuple(Family)}


def check_positive(name: str, value) -> float:
    """``value`` as a finite float > 0 within the accepted weight range (β, η, σ)."""
    try:
        if isinstance(value, bool | np.bool_):
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise HyperparameterError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise HyperparameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(check(name, v, WEIGHT))


def check_sigma(name: str, sigma, latent_dim: int) -> np.ndarray:
    """A fixed encoder std, one value or one per latent dimension, as a (latent_dim,) array."""
    try:
        s = np.atleast_1d(np.asarray(sigma, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise HyperparameterError(f"{name} (an encoder standard deviation) must be numbers, "
                                  f"got {sigma!r}") from None
    if s.size not in (1, latent_dim):
        raise HyperparameterError(
            f"{name} takes one value or one per latent dimension ({latent_dim}), got {s.size}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise HyperparameterError(f"{name} (an encoder standard deviation) must be > 0 and finite")
    for v in s:
        check(name, float(v), WEIGHT)
    return np.broadcast_to(s, (latent_dim,)).copy()


def check_latent_dim(latent_dim) -> int:
    ok = (isinstance(latent_dim, int | np.integer | float | np.floating)
          and not isinstance(latent_dim, bool) and np.isfinite(latent_dim)
          and latent_dim == int(latent_dim) and latent_dim >= 1)
    if not ok:
        raise HyperparameterError(f"latent_dim must be a whole number >= 1, got {latent_dim!r}")
    return int(check("latent_dim", int(latent_dim), LATENT_DIM))


ACCEPTED = {family: cls.names() for family, cls in HYPERPARAMETERS.items()}  # vaecollapse.config
# Numerical theory of hierarchies (theory/hierarchy/): more levels, ladder inference,
# per-level sizes, variances and β's; sigma1=None there means a learnable Σ1.
HIERARCHY_ACCEPTED = ("levels", "betas", "latent_dims", "inference", "sigmas", "critical",
                      "beta3", "beta4", "beta5", "sigma3", "sigma4", "sigma5")


def without_default_shape(hp: dict) -> dict:
    """MHVAE hyperparameters without the hierarchy's default shape (levels = 2, Markov
    inference, no deeper β or σ): what the two-level closed forms take."""
    deep = HIERARCHY_ACCEPTED[6:]
    return {k: v for k, v in hp.items()
            if not ((k in deep and v is None) or (k == "levels" and v in (None, 2))
                    or (k == "inference" and v in (None, "markov")))}


def check_names(model: str, hyperparameters: dict) -> None:
    model = Family.parse(model)
    accepted = set(ACCEPTED[model]) | (set(HIERARCHY_ACCEPTED) if model.hierarchical else set())
    unknown = sorted(set(hyperparameters) - accepted)
    if unknown:
        raise HyperparameterError(
            f"the {model.upper()} does not take {', '.join(unknown)}; it takes "
            f"{', '.join(ACCEPTED[model])}")
