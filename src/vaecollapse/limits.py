"""Accepted ranges of the numbers a user gives (one place for the CLI's --help and the checks).

The bounds keep every computation finite and every allocation small enough to fail fast instead
of after the work: β·η_dec², 1/η_dec² and θ² stay far inside float32 for weights in
[1e-6, 1e6]; a latent dimension, hidden size or sweep count beyond the bounds would allocate
gigabytes (a 100 000-dimensional latent space is an 80 GB matrix); seeds are what numpy and
torch generators accept after the offsets the training loop adds.
"""

from __future__ import annotations

import math

from vaecollapse.errors import HyperparameterError

WEIGHT = (1e-6, 1e6)          # β, β1, β2, η_enc, η_dec, σ, σ1, σ2
LATENT_DIM = (1, 4096)
HIDDEN = (1, 16384)           # each MLP hidden size
EPOCHS = (1, 1_000_000)
BATCH_SIZE = (1, 10_000_000)
SEED = (0, 2**32 - 1)
THREADS = (1, 1024)
JOBS = (1, 1024)
RETRIES = (0, 100)
SEEDS = (1, 10_000)           # seeds per grid point of a sweep
SWEEP_COUNT = (2, 100_000)    # points of a predict --sweep
IS_SAMPLES = (0, 1_000_000)
POINTS = (0, 100_000_000)
SYNTHETIC_SIZE = 200_000_000  # n × dim of synthetic data (≈ 1.6 GB in float64 while drawn)


def option(bounds: tuple[float, float]) -> dict[str, float]:
    """typer.Option keywords for ``bounds`` (checked while parsing, shown by --help)."""
    return {"min": bounds[0], "max": bounds[1]}


def check(name: str, value, bounds: tuple[float, float], *, optional: bool = False):
    """``value`` if it is a finite number within ``bounds`` (None passes when ``optional``);
    otherwise a HyperparameterError naming ``name`` and the range."""
    if value is None and optional:
        return value
    lo, hi = bounds
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and math.isfinite(value) and lo <= value <= hi)
    if not ok:
        raise HyperparameterError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return value
