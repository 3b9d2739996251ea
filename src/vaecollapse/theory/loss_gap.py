"""How far a trained linear model is from the global optimum, measured on the exact loss.

For weights w of a linear VAE, CVAE or L-level hierarchy (the names of docs/theory.md: VAE W, U,
sigma; CVAE W1, W2, U1, U2, sigma; hierarchy W<l>, V<l> (ladder), U<l>, sigma<l>) the exact
population loss L(w) (:mod:`vaecollapse.theory.losses`: the negative β-ELBO × 2η_dec², constants
dropped, on the second moments A, B, C) and the optimum L* of the theory
(``Prediction.optimal_loss``, closed form or numerical) give

    gap = [L(w) − L*] / (2 η_dec²)  ≥ 0   nats per data point,

zero exactly at a global optimum. The loss is flat along a near-critical mode, so a small gap is
necessary for convergence, not sufficient for every mode count. Pure: arrays in, a number out
(torch only as the losses' differentiable float64 arithmetic).
"""

from __future__ import annotations

from typing import Any

from vaecollapse.family import Family
from vaecollapse.theory.losses import cvae_loss, hierarchy_loss, vae_loss
from vaecollapse.theory.stats import Moments


def exact_loss(family: Family, weights: dict[str, Any], moments: Moments,
               hyperparameters: Any) -> float:
    """The exact population loss L(w) of a linear model's ``weights`` on ``moments`` (A, and B, C
    for the CVAE) with its ``hyperparameters`` (the family's class of vaecollapse.config): the
    VAE's of docs/theory.md §2, the CVAE's of §3, the L-level hierarchy's (Markov or ladder) of
    docs/numerical-theory.md §3 with the model's own β_l (V_l only for ladder inference)."""
    family, w, hp, A = Family.parse(family), weights, hyperparameters, moments.A
    if family is Family.VAE:
        return float(vae_loss(w["W"], w["U"], w["sigma"], A, hp.beta, hp.eta_enc, hp.eta_dec))
    if family is Family.CVAE:
        return float(cvae_loss(w["W1"], w["W2"], w["U1"], w["U2"], w["sigma"], A, moments.B,
                               moments.C, hp.beta, hp.eta_enc, hp.eta_dec))
    levels = range(1, hp.levels + 1)
    per_level = {p: [w.get(f"{p}{k}") for k in levels] for p in ("W", "V", "U", "sigma")}
    ladder = hp.inference == "ladder"
    return float(hierarchy_loss(per_level["W"], per_level["V"] if ladder else None,
                                per_level["U"], per_level["sigma"], A, list(hp.betas),
                                hp.eta_enc, hp.eta_dec))


def loss_gap(family: Family, weights: dict[str, Any], moments: Moments, hyperparameters: Any,
             optimal_loss: float) -> float:
    """[L(weights) − L*] / (2 η_dec²): the distance from the optimum ``optimal_loss`` = L*, in
    nats per data point (module docstring)."""
    eta_dec = hyperparameters.eta_dec
    return (exact_loss(family, weights, moments, hyperparameters) - optimal_loss) / (2 * eta_dec**2)
