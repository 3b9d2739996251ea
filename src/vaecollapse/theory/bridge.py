"""From a training run's options to the theory: the linear model's closed-form (or numerical)
optimum on the run's data and hyperparameters (:func:`vaecollapse.theory.solve`).

The theory takes the family's hyperparameters by name, exactly the fields of its class in
:mod:`vaecollapse.config`; the data enter through their second moments
(:func:`vaecollapse.theory.statistics`). No torch is imported here.
"""

from __future__ import annotations

from typing import Any


def theory_hyperparameters(m) -> dict[str, Any]:
    """The theory's hyperparameters of a ModelConfig (true β-ELBO weights): its family's
    hyperparameters by name; for the MHVAE only the hierarchy's non-default shape (levels ≠ 2,
    ladder inference, the deeper levels' β and σ, sizes per level), so that the two-level Markov
    MHVAE with Σ1 fixed keeps its closed form."""
    from vaecollapse.theory.validation import without_default_shape

    hp = m.hyperparameters.to_dict()
    if m.family != "mhvae":
        return hp
    out = without_default_shape(hp)
    if out.get("levels") == 1:
        out.pop("beta2", None)
        out.pop("sigma2", None)
    if m.latent_dims is not None:
        out["latent_dims"] = list(m.latent_dims)
    return out


def run_statistics(options: dict[str, Any], cache: dict):
    """(TrainConfig, data statistics) of a run's `train` options. ``cache`` is shared by the
    calls of one analysis: each data spec is loaded once (``cache["datasets"]``, also used to
    size the model) and its statistics kept per (data spec, family)."""
    from vaecollapse.config import config_from_options
    from vaecollapse.theory import statistics

    datasets = cache.setdefault("datasets", {})
    cfg = config_from_options(**options, datasets=datasets)
    family = cfg.model.family
    key = (cfg.data, family)
    if key not in cache:
        ds = datasets[cfg.data]
        cache[key] = statistics(ds.x, ds.y if family == "cvae" else None, model=family)
    return cfg, cache[key]


def theory_solver(options: dict[str, Any], cache: dict):
    """(solve, latent_dim, kind) for a run's options: ``solve(**overrides)`` is the linear
    theory's :class:`~vaecollapse.theory.Prediction` on the run's data and hyperparameters (with
    ``overrides`` on top, e.g. a swept β2), ``kind`` "closed form" or "numerical theory" (an
    MHVAE without a closed form: solved without critical values)."""
    from vaecollapse.theory import solve

    cfg, stats = run_statistics(options, cache)
    m = cfg.model
    hp = theory_hyperparameters(m)
    numerical = _numerical(m)
    extra = {"critical": False} if numerical else {}  # collapse only, no critical values

    def solver(**overrides):
        return solve(stats, m.latent_dim, **extra, **{**hp, **overrides})

    return solver, m.latent_dim, "numerical theory" if numerical else "closed form"


def closed_form_collapse(options: dict[str, Any], cache: dict) -> int | None:
    """Closed-form number of collapsed modes for a run's data and hyperparameters (the linear
    model's, whatever the run's backbone); for MHVAE settings without one (learnable Σ1, more
    levels, ladder inference) the numerical theory's (top level), None where its loss is
    unbounded below. ``cache`` keeps the data statistics per (data spec, family)."""
    from vaecollapse.errors import UnboundedError

    try:
        return optimum(options, cache)[1].n_collapsed
    except UnboundedError:
        return None


def optimum(options: dict[str, Any], cache: dict):
    """(TrainConfig, the linear model's global optimum as a Prediction) for a run's data and
    hyperparameters (:func:`theory_solver`: closed form, or the numerical theory without critical
    values). Raises UnboundedError where the loss is unbounded below."""
    solver, _, _ = theory_solver(options, cache)
    return run_statistics(options, cache)[0], solver()


def _numerical(m) -> bool:
    from vaecollapse.theory.predict import needs_numerical

    return m.family == "mhvae" and needs_numerical(theory_hyperparameters(m))


def predicted_collapse(options: dict[str, Any], cache: dict) -> tuple[int | None, str]:
    """(number of collapsed modes, kind) for a run's data and hyperparameters: "closed form" (or
    "numerical theory", an MHVAE without one) exact for a linear model, "linear theory" (the
    linear model's prediction on the same data) otherwise."""
    kind = "closed form" if options.get("backbone") == "linear" else "linear theory"
    n = closed_form_collapse(options, cache)
    if n is not None and options.get("model") == "mhvae":
        cfg, _ = run_statistics(options, cache)
        if _numerical(cfg.model) and kind == "closed form":
            kind = "numerical theory"  # exact for a linear model, but not a closed form
    return n, kind if n is not None else ""
