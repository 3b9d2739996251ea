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
    hyperparameters by name."""
    return m.hyperparameters.to_dict()


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


def closed_form_collapse(options: dict[str, Any], cache: dict) -> int | None:
    """Closed-form number of collapsed modes for a run's data and hyperparameters (the linear
    model's, whatever the run's backbone); None without a closed form (MHVAE, learnable Σ1).
    ``cache`` keeps the data statistics per (data spec, family)."""
    from vaecollapse.theory import solve

    cfg, stats = run_statistics(options, cache)
    m = cfg.model
    if m.family == "mhvae" and m.hyperparameters.sigma1 is None:
        return None
    return solve(stats, m.latent_dim, **theory_hyperparameters(m)).n_collapsed


def predicted_collapse(options: dict[str, Any], cache: dict) -> tuple[int | None, str]:
    """Closed-form number of collapsed modes for a run's data and hyperparameters: exact for a
    linear model, "linear theory" (the linear model's prediction on the same data) otherwise."""
    kind = "closed form" if options.get("backbone") == "linear" else "linear theory"
    n = closed_form_collapse(options, cache)
    return n, kind if n is not None else ""
