"""Synthetic (x, y) pairs with a known dependence between x and y.

``y ~ N(0, I_dim)`` always; ``x`` depends on the correlation type:

* ``identical``     x = y
* ``gaussian-RHO``  x = RHO * y + sqrt(1 - RHO^2) * eps, eps ~ N(0, I) independent of y
                    (RHO in 0.5, 0.25, 0.125), so corr(x_i, y_i) = RHO and x ~ N(0, I)
* ``random``        x ~ N(0, I) independent of y
* ``quadratic``     x = y^2 - 1 elementwise (uncorrelated with y but fully dependent)
"""

from __future__ import annotations

import numpy as np

from vaecollapse.data.dataset import Dataset
from vaecollapse.data.spec import parse_choice, parse_int
from vaecollapse.errors import DataError
from vaecollapse.limits import SYNTHETIC_SIZE

CORRELATIONS: dict[str, float | None] = {
    "identical": 1.0,
    "gaussian-0.5": 0.5,
    "gaussian-0.25": 0.25,
    "gaussian-0.125": 0.125,
    "random": 0.0,
    "quadratic": None,
}
DEFAULTS = {"corr": "random", "n": 1000, "dim": 128, "seed": 0}


def make_synthetic(corr: str = "random", n: int = 1000, dim: int = 128,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 arrays ``(x, y)``, both of shape (n, dim).

    Draws, in order, y then (for gaussian-RHO and random) the noise, from
    ``np.random.default_rng(seed)``.
    """
    if corr not in CORRELATIONS:
        raise DataError(f"corr={corr!r} is not accepted; use one of: "
                        f"{', '.join(CORRELATIONS)}.")
    if n * dim > SYNTHETIC_SIZE:
        raise DataError(f"synthetic data with n={n} and dim={dim} has {n * dim:.3g} values, more "
                        f"than the {SYNTHETIC_SIZE:.0e} accepted; use a smaller n or dim.")
    rng = np.random.default_rng(seed)
    try:
        y = rng.standard_normal((n, dim))
        if corr == "identical":
            x = y.copy()
        elif corr == "quadratic":
            x = y * y - 1.0
        elif corr == "random":
            x = rng.standard_normal((n, dim))
        else:
            rho = CORRELATIONS[corr]
            x = rho * y + np.sqrt(1.0 - rho * rho) * rng.standard_normal((n, dim))
        return x.astype(np.float32), y.astype(np.float32)
    except (MemoryError, ValueError) as exc:  # ValueError: 'array is too big'
        raise DataError(f"Not enough memory for synthetic data with n={n} and dim={dim}; "
                        "use a smaller n or dim.") from exc


def load_synthetic(spec: str, options: dict[str, str]) -> Dataset:
    """The dataset of ``synthetic:corr=…,n=…,dim=…,seed=…`` (defaults: ``DEFAULTS``)."""
    corr = parse_choice("corr", options.get("corr", DEFAULTS["corr"]), tuple(CORRELATIONS))
    n = parse_int("n", options.get("n", str(DEFAULTS["n"])), minimum=2)
    dim = parse_int("dim", options.get("dim", str(DEFAULTS["dim"])), minimum=1)
    seed = parse_int("seed", options.get("seed", str(DEFAULTS["seed"])), minimum=0)
    x, y = make_synthetic(corr, n, dim, seed)
    return Dataset(x=x, y=y, labels=None, spec=spec)
