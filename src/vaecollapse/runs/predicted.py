"""From a training run's options to the theory: the linear model's closed-form (or numerical)
optimum on the run's data and hyperparameters (:func:`vaecollapse.theory.solve`).

The data of a run are loaded here (the theory itself reads no files), once per
:class:`TheoryCache`, which the calls of one analysis or one sweep summary share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vaecollapse.config import TrainConfig, config_from_options
from vaecollapse.data import Dataset
from vaecollapse.errors import UnboundedError
from vaecollapse.family import Family
from vaecollapse.theory import Prediction, Statistics, solve, statistics
from vaecollapse.theory.from_config import numerical, theory_hyperparameters


@dataclass
class TheoryCache:
    """What the theory of several runs shares: each data spec loaded once (``datasets``: spec →
    Dataset, also used to size the models) and its statistics per (data spec, family)."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    statistics: dict[tuple[str, Family], Statistics] = field(default_factory=dict)


def run_statistics(options: dict[str, Any], cache: TheoryCache) -> tuple[TrainConfig, Statistics]:
    """(TrainConfig, data statistics) of a run's `train` options."""
    cfg = config_from_options(**options, datasets=cache.datasets)
    family = cfg.model.family
    key = (cfg.data, family)
    if key not in cache.statistics:
        ds = cache.datasets[cfg.data]
        cache.statistics[key] = statistics(ds.x, ds.y if family.conditional else None,
                                           model=family)
    return cfg, cache.statistics[key]


def theory_solver(options: dict[str, Any], cache: TheoryCache):
    """(solve, latent_dim, kind) for a run's options: ``solve(**overrides)`` is the linear
    theory's :class:`~vaecollapse.theory.Prediction` on the run's data and hyperparameters (with
    ``overrides`` on top, e.g. a swept β2), ``kind`` "closed form" or "numerical theory" (an
    MHVAE without a closed form: solved without critical values)."""
    cfg, stats = run_statistics(options, cache)
    m = cfg.model
    hp = theory_hyperparameters(m)
    is_numerical = numerical(m)
    extra = {"critical": False} if is_numerical else {}  # collapse only, no critical values

    def solver(**overrides) -> Prediction:
        return solve(stats, m.latent_dim, **extra, **{**hp, **overrides})

    return solver, m.latent_dim, "numerical theory" if is_numerical else "closed form"


def optimum(options: dict[str, Any], cache: TheoryCache) -> tuple[TrainConfig, Prediction]:
    """(TrainConfig, the linear model's global optimum as a Prediction) for a run's data and
    hyperparameters (:func:`theory_solver`: closed form, or the numerical theory without critical
    values). Raises UnboundedError where the loss is unbounded below."""
    solver, _, _ = theory_solver(options, cache)
    return run_statistics(options, cache)[0], solver()


def closed_form_collapse(options: dict[str, Any], cache: TheoryCache) -> int | None:
    """Closed-form number of collapsed modes for a run's data and hyperparameters (the linear
    model's, whatever the run's backbone); for MHVAE settings without one (learnable Σ1, more
    levels, ladder inference) the numerical theory's (top level), None where its loss is
    unbounded below."""
    try:
        return optimum(options, cache)[1].n_collapsed
    except UnboundedError:
        return None


def predicted_collapse(options: dict[str, Any], cache: TheoryCache) -> tuple[int | None, str]:
    """(number of collapsed modes, kind) for a run's data and hyperparameters: "closed form" (or
    "numerical theory", an MHVAE without one) exact for a linear model, "linear theory" (the
    linear model's prediction on the same data) otherwise."""
    kind = "closed form" if options.get("backbone") == "linear" else "linear theory"
    n = closed_form_collapse(options, cache)
    if n is not None and kind == "closed form":
        cfg, _ = run_statistics(options, cache)
        if numerical(cfg.model):
            kind = "numerical theory"  # exact for a linear model, but not a closed form
    return n, kind if n is not None else ""
