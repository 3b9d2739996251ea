"""Theory engine: data statistics, closed-form optima, exact losses and a numerical oracle.

Pure functions of arrays, float64: no files, no plots, no JSON (docs/theory.md is the
specification; the import-linter contracts in pyproject.toml hold this). The closed forms are
numpy only; the numerical solver (torch) is imported on first use, so that ``predict`` does not
pay torch's import time.

Modules: ``stats`` (data statistics), ``validation`` (hyperparameter checks), ``closed_form``
(per-mode formulas), ``solvers`` (closed-form optimum per family), ``prediction`` (the
:class:`Prediction` record), ``dispatch`` (statistics → closed form or numerical theory:
predict / solve / sweep), ``from_config`` (a model configuration's hyperparameters as the theory
takes them), ``losses`` and ``mode_loss`` (exact losses), ``loss_gap`` (a trained linear model's
distance from the optimum), ``numerical`` (full-matrix minimiser), ``hierarchy/`` (numerical
theory of hierarchies), ``advice`` (the levers' thresholds).
"""

from vaecollapse.theory.dispatch import predict, solve, sweep
from vaecollapse.theory.prediction import Prediction
from vaecollapse.theory.stats import Statistics, statistics
from vaecollapse.theory.validation import SWEEPABLE

_NUMERICAL = ("NumericalSolution", "numerical_cvae", "numerical_mhvae", "numerical_vae")

__all__ = [
    "SWEEPABLE", "NumericalSolution", "Prediction", "Statistics", "numerical_cvae",
    "numerical_mhvae", "numerical_vae", "predict", "solve", "statistics", "sweep",
]


def __getattr__(name: str):
    """The numerical solver's names, imported lazily (PEP 562): torch stays out of ``predict``."""
    if name in _NUMERICAL:
        from vaecollapse.theory import numerical  # lazy: keeps predict torch-free

        return getattr(numerical, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
