"""Theory engine: data statistics, closed-form optima, exact losses and a numerical oracle.

Pure functions of arrays, float64, no I/O (theory.md is the specification).
"""

from vaecollapse.theory.numerical import (
    NumericalSolution,
    numerical_cvae,
    numerical_mhvae,
    numerical_vae,
)
from vaecollapse.theory.predict import (
    MODELS,
    SWEEPABLE,
    Prediction,
    Statistics,
    predict,
    solve,
    statistics,
    sweep,
)

__all__ = [
    "MODELS", "SWEEPABLE", "NumericalSolution", "Prediction", "Statistics", "numerical_cvae",
    "numerical_mhvae", "numerical_vae", "predict", "solve", "statistics", "sweep",
]
