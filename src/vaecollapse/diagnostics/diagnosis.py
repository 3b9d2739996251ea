"""``diagnose``: every diagnostic of a model on data, as one JSON-able document (the diagnostics
contract): per level the KL per dimension, the active-unit measures and the (ε, δ)-collapsed
dimensions (:mod:`~vaecollapse.diagnostics.collapse`); for the last level the (ε, δ) curve and
I(x; z) (:mod:`~vaecollapse.diagnostics.information`); the log-likelihood
(:mod:`~vaecollapse.diagnostics.likelihood`) and, for linear models, the closed form beside the
trained weights (:mod:`~vaecollapse.diagnostics.theory_comparison`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from vaecollapse.diagnostics.collapse import (
    DEFAULT_EPSILON,
    DETERMINISTIC_FRACTION,
    GROUP_THRESHOLD,
    active_groups,
    active_modes,
    active_units,
    active_units_kl_fraction,
    default_eps_grid,
    eps_delta_collapse,
    level_record,
    relative_logvar_max,
    warn_near_deterministic,
)
from vaecollapse.diagnostics.information import mutual_information
from vaecollapse.diagnostics.likelihood import exact_log_likelihood, importance_log_likelihood
from vaecollapse.diagnostics.posteriors import as_float64, collect_posteriors, model_inputs
from vaecollapse.diagnostics.theory_comparison import theory_comparison
from vaecollapse.files.versioning import versioned


def _to_float(v) -> float | None:
    """A plain float, or None when not finite (JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


def diagnose(model, x, y=None, *, epsilon: float | None = None, delta: float = 0.05,
             is_samples: int = 1000, generator: torch.Generator | None = None,
             eps_grid: Sequence[float] | np.ndarray | None = None,
             theory_data: tuple | None = None,
             group_threshold: float = GROUP_THRESHOLD,
             deterministic_fraction: float = DETERMINISTIC_FRACTION,
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """All diagnostics of a model on data, as plain JSON-able values (the diagnostics contract,
    schemas/diagnose.schema.json, after "vaecollapse_version" and "schema_version")::

        {"levels": [{"name", "unit", "kl_per_dim", "kl_total", "active_units", "active_modes",
                     "active_units_kl_fraction", "collapsed_dims", "group_active",
                     "near_deterministic"}, ...],
         "active_groups": {"threshold", "active", "groups"},
         "mutual_information", "eps_delta": {"delta", "eps", "collapsed_fraction"},
         "n_collapsed", "log_likelihood": {"estimate", "stderr", "samples", "exact"} | null,
         "theory": {...} | null}

    Per level (its units: every element, or the channels of ``unit="channel"`` posteriors of
    shape (n, C, H, W), :class:`~vaecollapse.models.base.Posterior`): KL_u averaged over samples,
    its sum, the active-unit measures, the indices of the units (ε, δ)-collapsed at ``epsilon``
    (default 1e-2), NVAE's ``group_active`` (mean KL of the level > ``group_threshold``, default
    0.1 nats; ``active_groups`` counts them) and the ``near_deterministic`` units, whose posterior
    std stays below ``deterministic_fraction`` × the prior's on all the data (a
    :class:`~vaecollapse.diagnostics.collapse.NearDeterministicWarning` names them).
    ``eps_delta``, ``n_collapsed`` and ``mutual_information`` refer to the last level (z2 for
    the MHVAE, as the paper plots).
    ``is_samples`` = 0 skips the likelihood. ``model`` may also be a posterior callable (user
    model): the likelihood and theory entries are then null. Noise comes from ``generator``
    (default: a fresh generator seeded 0, so repeated calls agree). ``theory_data`` = (x, y):
    the data whose moments define the closed form (default: ``x, y``) — pass the full training
    set when the other diagnostics run on a subset. Inputs of any dtype (numpy too) are moved to
    the model's device and floating dtype. ``progress(stage, done, total)`` is told of the work:
    stages ``posteriors``, ``mutual information`` and ``log-likelihood`` (points done).
    """
    epsilon = DEFAULT_EPSILON if epsilon is None else float(epsilon)
    eps_grid = default_eps_grid() if eps_grid is None else np.asarray(eps_grid, dtype=np.float64)
    x, y = model_inputs(model, x, y)
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    n = x.shape[0]
    if progress:
        progress("posteriors", 0, n)
    posts = collect_posteriors(model, x, y, generator=generator)
    levels = []
    for post in posts:
        kl = as_float64(post).unit_kl()
        _, mask = eps_delta_collapse(kl, np.array([epsilon]), delta)
        levels.append(level_record(
            post.name, kl.mean(0), active_units(post), active_modes(post),
            active_units_kl_fraction(kl), mask[0], unit=post.unit,
            rel_logvar_max=relative_logvar_max(post), group_threshold=group_threshold,
            deterministic_fraction=deterministic_fraction))
    warn_near_deterministic(levels, deterministic_fraction)
    last = posts[-1]
    if progress:
        progress("mutual information", n, n)
    frac, _ = eps_delta_collapse(as_float64(last).unit_kl(), eps_grid, delta)
    result: dict[str, Any] = versioned({
        "levels": levels,
        "active_groups": {"threshold": float(group_threshold), "active": active_groups(levels),
                          "groups": len(levels)},
        "mutual_information": _to_float(mutual_information(last, generator=generator)),
        "eps_delta": {"delta": float(delta), "eps": [float(e) for e in eps_grid],
                      "collapsed_fraction": [float(f) for f in frac]},
        "n_collapsed": len(levels[-1]["collapsed_dims"]),
        "log_likelihood": None,
        "theory": None,
    })
    if is_samples and hasattr(model, "log_weights"):
        ll = importance_log_likelihood(
            model, x, y, samples=is_samples, generator=generator,
            on_progress=(lambda done, total: progress("log-likelihood", done, total)) if progress
            else None)
        result["log_likelihood"] = {"estimate": _to_float(ll["estimate"]),
                                    "stderr": _to_float(ll["stderr"]), "samples": ll["samples"],
                                    "exact": exact_log_likelihood(model, x, y)}
    if hasattr(model, "linear_weights"):
        result["theory"] = theory_comparison(model, *(theory_data or (x, y)))
    return result
