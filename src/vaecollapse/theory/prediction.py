"""The result of a theory solve: :class:`Prediction`, the global optimum of one linear model for
one set of hyperparameters.

Collapse is judged on the optimum itself: a mode is *collapsed* when its posterior equals the
prior for every input — VAE/CVAE: λ_i = 0 and σ_i = η_enc; MHVAE z2: ω_i = 0 (so W2's row is 0)
and σ2_i = η_enc; MHVAE z1: λ_i = ω_i = 0 and σ1 = η_dec (q(z1|x) = p(z1|z2) = N(0, η_dec²)).
*Critical* β (β2 for the MHVAE) and η_dec are the values at and beyond which the mode collapses,
with the other hyperparameters held; NaN (JSON null) when no finite value exists. Numerical
hierarchies may instead give a lower level's β, which can collapse the top level as it
*decreases* (``modes["critical_direction"]`` = "below"; docs/numerical-theory.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vaecollapse.family import Family


@dataclass
class Prediction:
    """The global optimum (closed-form or numerical) of one linear model for one set of
    hyperparameters.

    ``modes`` holds per-mode arrays (mode i = i-th largest θ), ``weights`` the optimal matrices
    (latent coordinates as trained, i.e. with Theorem 1's σ pairing applied), ``optimal_loss`` the
    exact population loss at the optimum ((negative β-ELBO) × 2η_dec², constants dropped).
    ``threshold`` is the per-mode θ below which the mode collapses (None where no such θ exists).
    ``notes`` are remarks on a numerical solution (the reduced vs full-matrix loss, a non-unique
    optimum, skipped critical values, why a sweep point is unbounded), written to the JSON and
    printed by ``predict``; closed forms leave it empty.
    """

    model: Family
    theorem: str
    hyperparameters: dict[str, Any]
    theta: np.ndarray
    modes: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    optimal_loss: float
    rank: int
    threshold: np.ndarray | None = None
    threshold_label: str = ""
    notes: list[str] = field(default_factory=list)
    # "closed-form" or "numerical" (docs/numerical-theory.md); numerical settings may be
    # unbounded below (then no Prediction exists: see vaecollapse.errors.UnboundedError).
    solver: str = "closed-form"
    bounded: bool = True
    critical: str | None = None  # critical parameter when not β / β2 (e.g. "beta3")
    levels: int | None = None  # latent levels of a numerical hierarchical setting

    def __post_init__(self):
        self.model = Family.parse(self.model)

    @property
    def latent_dim(self) -> int:
        return int(self.theta.shape[0])

    @property
    def n_collapsed(self) -> int:
        """Modes whose posterior equals the prior (MHVAE: z2 modes)."""
        return int(np.sum(self.modes["collapsed"]))

    @property
    def critical_parameter(self) -> str:
        if self.critical:
            return self.critical
        return self.model.critical_parameter

    def next_collapse(self, parameter: str | None = None) -> float | None:
        """Among modes not yet collapsed, the critical value nearest the current one on the
        side where they collapse: the smallest above it, or — for modes that collapse as the
        parameter decreases (numerical ``critical_direction`` "below") — the largest below it;
        the nearer (in ratio) of the two."""
        parameter = parameter or self.critical_parameter
        crit = self.modes[f"critical_{parameter}"]
        current = self.hyperparameters[parameter]
        below = np.asarray(self.modes.get("critical_direction", np.full(crit.shape, None))
                           ) == "below"
        alive = ~self.modes["collapsed"] & np.isfinite(crit)
        up, down = alive & ~below & (crit > current), alive & below & (crit < current)
        cands = ([float(np.min(crit[up]))] if up.any() else []) + (
            [float(np.max(crit[down]))] if down.any() else [])
        return min(cands, key=lambda v: abs(np.log(v / current))) if cands else None
