"""The numerical theory's answer to ``predict``: a hierarchy's optimum as a
:class:`~vaecollapse.theory.prediction.Prediction` (the MHVAE's JSON contract plus per-level
keys), or, at a sweep point where the loss is unbounded below, a Prediction saying so.
"""

from __future__ import annotations

import numpy as np

from vaecollapse.errors import HyperparameterError, UnboundedError
from vaecollapse.family import Family
from vaecollapse.theory.hierarchy.critical import critical_for, parameter_names
from vaecollapse.theory.hierarchy.optimum import full_loss, solve_modes, weights_from_modes
from vaecollapse.theory.hierarchy.setting import MAX_LEVELS, Hierarchy, boundedness, flat_pairs
from vaecollapse.theory.prediction import Prediction


def setting_name(h: Hierarchy) -> str:
    learn = ", ".join(f"Σ{lv + 1} {'learnable' if s is None else 'fixed'}"
                      for lv, s in enumerate(h.sigmas))
    kind = "MHVAE" if h.levels == 2 and h.inference == "markov" else (
        f"{h.levels}-level {'ladder' if h.inference == 'ladder' else 'Markov'} HVAE")
    return f"linear {kind}, {learn} (numerical theory, docs/numerical-theory.md)"


def hyperparameter_record(h: Hierarchy) -> dict:
    rec = {"latent_dim": h.dims[0], "levels": h.levels, "inference": h.inference,
           "latent_dims": list(h.dims), "betas": list(h.betas), "sigmas": list(h.sigmas),
           "eta_enc": h.eta_enc, "eta_dec": h.eta_dec}
    for lv in range(h.levels):
        rec[f"beta{lv + 1}"] = h.betas[lv]
        rec[f"sigma{lv + 1}"] = h.sigmas[lv]
    return rec


def predict_hierarchy(stats, h: Hierarchy, *, critical: bool | str = True):
    """The numerical-theory :class:`~vaecollapse.theory.prediction.Prediction` of setting ``h``
    on ``stats`` (VAE/MHVAE statistics: θ = √eig A, basis P). Raises :class:`UnboundedError`
    where the loss is unbounded below. Per-mode keys follow the MHVAE contract (lambda = λ_1,
    omega = ω_2, sigma = σ_1, sigma<l>, kl = top-level KL, kl_z<l>, collapsed = top level,
    collapsed_z<l>, critical_beta<l>, critical_eta_dec) plus lambda_z<l>, omega_z<l> for every
    level and critical_direction. ``critical``: the parameter whose critical values are
    computed ("beta<l>" or "eta_dec"; True: the top level's β; False: none) — the value of it,
    others held, where the mode's top-level posterior switches to collapsed, collapsed on the
    side ``critical_direction`` says ("above": at and above the value, "below": at and below;
    docs/numerical-theory.md §5); the other critical columns stay NaN."""
    parameter = f"beta{h.levels}" if critical is True or critical is False else str(critical)
    if parameter not in parameter_names(h):
        raise HyperparameterError(f"no critical value for {parameter!r} in a {h.levels}-level "
                                  f"hierarchy: choose one of {', '.join(parameter_names(h))}")
    ok, why = boundedness(h)
    if not ok:
        raise UnboundedError(why, hyperparameter_record(h))
    if not h.monotone_dims:
        raise HyperparameterError("the numerical theory needs non-increasing latent sizes "
                                  f"upwards (d1 ≥ d2 ≥ …), got {', '.join(map(str, h.dims))}")
    sol = solve_modes(stats.theta, h)
    t = sol.table
    L, d1 = h.levels, h.dims[0]
    modes: dict[str, np.ndarray] = {}
    for lv in range(L):
        modes[f"lambda_z{lv + 1}"] = t["lambda"][:, lv]
        modes[f"omega_z{lv + 1}"] = t["omega"][:, lv]
        modes[f"sigma{lv + 1}"] = t["sigma"][:, lv]
        modes[f"kl_z{lv + 1}"] = t["kl"][:, lv]
        modes[f"collapsed_z{lv + 1}"] = t["collapsed"][:, lv]
    modes["lambda"] = t["lambda"][:, 0]
    modes["omega"] = t["omega"][:, 1] if L > 1 else t["omega"][:, 0]
    modes["sigma"] = t["sigma"][:, 0]
    modes.setdefault("sigma2", np.full(d1, np.nan))
    modes["kl"] = t["kl"][:, L - 1]
    modes.setdefault("kl_z1", np.full(d1, np.nan))
    modes["collapsed"] = t["collapsed"][:, L - 1]
    modes.setdefault("collapsed_z2", np.zeros(d1, dtype=bool))
    nan = np.full(d1, np.nan)
    for lv in range(1, MAX_LEVELS + 1):
        modes[f"critical_beta{lv}"] = nan.copy()
    modes["critical_beta"] = nan.copy()
    modes["critical_eta_dec"] = nan.copy()
    modes["critical_direction"] = np.full(d1, None, dtype=object)
    crit = critical_for(sol, parameter) if critical is not False else None
    if crit is not None:
        modes[f"critical_{parameter}"] = crit.value
        modes["critical_direction"] = np.array(
            [{1: "above", -1: "below"}.get(int(v)) for v in crit.direction], dtype=object)
    modes["latent_index"] = np.arange(d1)
    weights = weights_from_modes(sol, stats.basis)
    loss = full_loss(weights, stats.moments.A, h)
    notes = [f"solved per mode in the eigenbasis of A (reduced; total loss {sol.loss:.10g}, "
             f"full-matrix loss at the assembled weights {loss:.10g})"]
    for a, b in flat_pairs(h):
        notes.append(f"beta{a + 1} = beta{b + 1} with both variances learnable: the optimum is "
                     f"not unique (a flat family); z{b + 1}'s use is not determined — shown is "
                     "the most collapsed member")
    if crit is None:
        notes.append("critical values not computed")
    else:
        notes += [f"critical {parameter}: {n}" for n in crit.notes]
    named = {f"W{lv + 1}": w for lv, w in enumerate(weights["W"])}
    named.update({f"U{lv + 1}": u for lv, u in enumerate(weights["U"])})
    named.update({f"sigma{lv + 1}": s for lv, s in enumerate(weights["sigma"])})
    if weights["V"] is not None:
        named.update({f"V{lv + 1}": v for lv, v in enumerate(weights["V"]) if v is not None})
    pred = Prediction(Family.MHVAE, setting_name(h), hyperparameter_record(h), sol.theta, modes,
                      named, loss, stats.rank, notes=notes)
    pred.solver = "numerical"
    pred.bounded = True
    pred.critical = parameter
    pred.levels = L
    return pred


def unbounded_point(stats, e: UnboundedError):
    """A sweep point where the loss is unbounded: a Prediction with ``bounded = False``, loss
    −∞, no collapsed mode and the reason as its note."""
    hp = e.hyperparameters
    d = hp["latent_dim"]
    theta = np.zeros(d)
    k = min(d, stats.theta.size)
    theta[:k] = stats.theta[:k]
    nan = np.full(d, np.nan)
    modes = {key: nan.copy() for key in ("lambda", "omega", "sigma", "sigma2", "kl", "kl_z1",
                                         "critical_beta", "critical_beta2", "critical_eta_dec")}
    for key in ("collapsed", "collapsed_z1", "collapsed_z2"):
        modes[key] = np.zeros(d, dtype=bool)
    modes["latent_index"] = np.arange(d)
    pred = Prediction(Family.MHVAE, "unbounded below", hp, theta, modes, {}, -np.inf, stats.rank,
                      notes=[str(e)])
    pred.solver, pred.bounded = "numerical", False
    pred.critical, pred.levels = f"beta{hp['levels']}", hp["levels"]
    return pred
