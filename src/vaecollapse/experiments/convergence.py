"""The convergence gate: a claim that holds training against a theory's optimum is judged only
on runs that have reached it.

A linear run's distance from the global optimum is its exact-loss gap (:func:`loss_gap`, nats
per data point, :mod:`vaecollapse.theory.loss_gap`); a run is *converged* when its gap is at most
:data:`CONVERGED_GAP`. Every claim comparing trained linear models with their theory — the
linear sweeps and the hierarchies' tracking, the theorems' SGD half, fig3a's and fig2a's linear
models, the remedies' linear series — is undecided (null) while any of its runs is farther: a run
still on its way says nothing for or against the optimum. Epoch counts in the registry change
only behind this gate (docs/experiments.md).
"""

from __future__ import annotations

from vaecollapse.runs.predicted import TheoryCache, optimum, run_statistics
from vaecollapse.runs.rundir import RunDir
from vaecollapse.theory.loss_gap import loss_gap as theory_loss_gap

#: A linear run is converged when its exact loss is within this many nats per data point of the
#: optimum's: 1% of a nat, far below the cost of one mode (at the thresholds a mode's gain
#: vanishes continuously, so a gap this small can still leave a near-critical mode unsettled —
#: the counts themselves are then checked against the theory).
CONVERGED_GAP = 0.01


def loss_gap(run: dict, cache: TheoryCache) -> float:
    """Distance of a trained linear model from the global optimum, in nats per data point
    (:func:`vaecollapse.theory.loss_gap.loss_gap`): its exact population loss at the trained
    weights on the run's training data, against the linear theory's optimum (the closed form, or
    the numerical theory for an MHVAE without one; :func:`vaecollapse.runs.predicted.optimum`)."""
    cfg, st = run_statistics(run["options"], cache)
    m = cfg.model
    if m.backbone != "linear":
        raise ValueError(f"loss_gap needs a linear model, got the {m.backbone} backbone")
    _, model, _ = RunDir(run["run_dir"]).load_model()
    best = optimum(run["options"], cache)[1].optimal_loss
    weights = {k: v.double().numpy() for k, v in model.linear_weights().items()}
    return theory_loss_gap(m.family, weights, st.moments, m.hyperparameters, best)


def worst_gap(runs: list[dict], cache: TheoryCache) -> float | None:
    """The largest loss gap over the linear ``runs`` (None when there is none)."""
    gaps = [loss_gap(r, cache) for r in runs if r["options"].get("backbone") == "linear"]
    return max(gaps) if gaps else None


def gate_text(gap: float | None) -> str:
    """The gate's sentence for a worst gap."""
    if gap is None:
        return ""
    if gap <= CONVERGED_GAP:
        return f"converged: loss gap to the optimum ≤ {gap:.2g} nats/point"
    return (f"not converged: a run is {gap:.2g} nats/point from the optimum (gate "
            f"{CONVERGED_GAP:g})")


def converged(gap: float | None) -> bool:
    """True when there is nothing to gate or the worst gap passes the gate."""
    return gap is None or gap <= CONVERGED_GAP
