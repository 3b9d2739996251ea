"""Theory engine: data statistics, closed-form optima, exact losses and a numerical oracle.

Pure functions of arrays, float64, no I/O (docs/theory.md is the specification). The closed forms
are numpy only; the numerical solver (torch) is imported on first use, so that ``predict`` does
not pay torch's import time.

Modules: ``stats`` (data statistics), ``validation`` (hyperparameter checks), ``closed_form``
(per-mode formulas), ``solvers`` (closed-form optimum per family), ``prediction`` (the
:class:`Prediction` record), ``predict`` (statistics → solve → predict / sweep), ``losses`` and
``mode_loss`` (exact losses), ``numerical`` (full-matrix minimiser), ``hierarchy/`` (numerical
theory of hierarchies), ``advise``.
"""

from vaecollapse.theory.predict import predict, solve, sweep
from vaecollapse.theory.prediction import Prediction
from vaecollapse.theory.stats import Statistics, statistics
from vaecollapse.theory.validation import MODELS, SWEEPABLE

_NUMERICAL = ("NumericalSolution", "numerical_cvae", "numerical_mhvae", "numerical_vae")

__all__ = [
    "MODELS", "SWEEPABLE", "NumericalSolution", "Prediction", "Statistics", "numerical_cvae",
    "numerical_mhvae", "numerical_vae", "predict", "solve", "statistics", "sweep",
]


def __getattr__(name: str):
    """The numerical solver's names, imported lazily (PEP 562)."""
    if name in _NUMERICAL:
        from vaecollapse.theory import numerical

        return getattr(numerical, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
