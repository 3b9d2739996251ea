"""Which solver answers a setting, and the entry points built on it: ``statistics(x, y, model)``
computes the data statistics once (the only O(n) step); ``solve(stats, latent_dim,
**hyperparameters)`` then evaluates the closed form (:mod:`~vaecollapse.theory.solvers`) in
microseconds to milliseconds, or, for MHVAE settings without one, the numerical theory
(:mod:`~vaecollapse.theory.hierarchy`); ``predict`` is the two in one call; ``sweep`` solves along
a grid of one hyperparameter (a phase diagram), reusing the statistics.
"""

from __future__ import annotations

from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.theory.hierarchy.setting import make_hierarchy
from vaecollapse.theory.prediction import Prediction
from vaecollapse.theory.solvers import solve_cvae, solve_mhvae, solve_vae
from vaecollapse.theory.stats import Statistics, statistics
from vaecollapse.theory.validation import (
    HIERARCHY_ACCEPTED,
    SWEEPABLE,
    check_latent_dim,
    check_names,
    check_positive,
    without_default_shape,
)


def solve(stats: Statistics, latent_dim: int, **hyperparameters) -> Prediction:
    """Closed-form optimum for ``stats.model``; hyperparameters as in :func:`predict`."""
    check_names(stats.model, hyperparameters)
    if stats.model is Family.MHVAE:
        hyperparameters = without_default_shape(hyperparameters)
        if needs_numerical(hyperparameters):
            return solve_numerical(stats, latent_dim, **hyperparameters)
        return solve_mhvae(stats, latent_dim, **hyperparameters)
    if stats.model is Family.CVAE:
        return solve_cvae(stats, latent_dim, **hyperparameters)
    return solve_vae(stats, latent_dim, **hyperparameters)


def needs_numerical(hp: dict) -> bool:
    """MHVAE settings without a closed form: Σ1 learnable (no sigma1), more than two levels,
    ladder inference, unequal latent sizes or per-level lists."""
    if any(hp.get(k) is not None for k in ("betas", "latent_dims", "sigmas")):
        return True
    if any(hp.get(k) is not None for k in HIERARCHY_ACCEPTED[6:]):
        return True
    return (hp.get("sigma1") is None or int(hp.get("levels") or 2) != 2
            or (hp.get("inference") or "markov") != "markov")


def hierarchy_setting(latent_dim, *, levels=None, betas=None, latent_dims=None,
                      inference=None, sigmas=None, eta_enc=1.0, eta_dec=1.0, **per_level):
    """The :class:`~vaecollapse.theory.hierarchy.setting.Hierarchy` named by MHVAE-style
    hyperparameters: ``betas``/``sigmas``/``latent_dims`` lists (one value broadcasts), overridden
    per level by beta<l> / sigma<l> (sigma<l> = None: learnable)."""
    L = 2 if levels is None else levels
    if isinstance(L, float) and L.is_integer():
        L = int(L)
    if not isinstance(L, int) or isinstance(L, bool) or not 1 <= L <= 5:
        raise HyperparameterError(f"levels must be a whole number from 1 to 5, got {levels!r}")
    b = list(betas) if betas is not None else [1.0] * L
    s = list(sigmas) if sigmas is not None else [None] * L
    if len(b) == 1:
        b = b * L
    if len(s) == 1:
        s = s * L
    for k in range(1, 6):
        if per_level.get(f"beta{k}") is not None:
            if k > L or k > len(b):
                raise HyperparameterError(f"beta{k} given but the hierarchy has {L} levels")
            b[k - 1] = per_level[f"beta{k}"]
        if per_level.get(f"sigma{k}") is not None:
            if k > L or k > len(s):
                raise HyperparameterError(f"sigma{k} given but the hierarchy has {L} levels")
            s[k - 1] = per_level[f"sigma{k}"]
    dims = latent_dims if latent_dims is not None else [check_latent_dim(latent_dim)]
    return make_hierarchy(L, b, dims, s, inference or "markov", check_positive("eta_enc", eta_enc),
                          check_positive("eta_dec", eta_dec))


def solve_numerical(stats: Statistics, latent_dim: int, *, critical: bool | str = True,
                    **hyperparameters) -> Prediction:
    """Numerical theory (theory/hierarchy/) for MHVAE settings without a closed form."""
    from vaecollapse.theory.hierarchy.assemble import predict_hierarchy  # lazy: torch

    return predict_hierarchy(stats, hierarchy_setting(latent_dim, **hyperparameters),
                             critical=critical)


def predict(x, y=None, *, model: str, latent_dim: int, centre: bool = False,
            **hyperparameters) -> Prediction:
    """Closed-form prediction from data arrays: ``statistics`` then ``solve``.

    VAE/CVAE hyperparameters: beta, eta_enc, eta_dec, sigma (fixed encoder std, one value or one
    per latent dimension; None = learnable). MHVAE: beta1, beta2, eta_enc, eta_dec, sigma1
    (required), sigma2 (None = learnable).
    """
    return solve(statistics(x, y, model=model, centre=centre), latent_dim, **hyperparameters)


def sweep(stats: Statistics, latent_dim: int, parameter: str, values,
          **hyperparameters) -> list[Prediction]:
    """Predictions along a grid of one hyperparameter (a phase diagram), others held."""
    numerical = stats.model.hierarchical and needs_numerical(hyperparameters)
    if numerical and parameter in ("beta3", "beta4", "beta5"):
        pass  # a deeper level's β
    elif parameter not in SWEEPABLE or stats.model not in SWEEPABLE[parameter]:
        ok = [p for p, ms in SWEEPABLE.items() if stats.model in ms]
        raise HyperparameterError(
            f"cannot sweep {parameter!r} for the {stats.model.upper()}: choose one of "
            f"{', '.join(ok)}")
    if numerical:  # a phase diagram needs collapse per value, not each value's critical β
        from vaecollapse.theory.hierarchy.assemble import unbounded_point  # lazy: torch

        hyperparameters = {**hyperparameters, "critical": False}
        out = []
        for v in values:
            try:
                out.append(solve(stats, latent_dim, **{**hyperparameters, parameter: v}))
            except HyperparameterError as e:
                if not hasattr(e, "hyperparameters"):  # not an UnboundedError
                    raise
                out.append(unbounded_point(stats, e))
        return out
    return [solve(stats, latent_dim, **{**hyperparameters, parameter: v}) for v in values]
