"""A sweep's runs: one per grid point and seed (:class:`Run`), and the grid expanded into them
(:func:`expand`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Run:
    """One grid point and seed: its options (base options with the grid values applied)."""

    name: str
    values: dict[str, Any]
    seed: int
    options: dict[str, Any]


def value_text(v: Any) -> str:
    """A grid value as run names and the index write it (floats with ``:g``)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def expand(grid: dict[str, list], seeds: int, base: dict[str, Any]) -> list[Run]:
    """Every combination of the grid values (in the order given) × seeds 0…seeds−1 (offset by the
    base seed)."""
    names = list(grid)
    runs = []
    base_seed = int(base.get("seed", 0))
    for combo in itertools.product(*(grid[k] for k in names)):
        values = dict(zip(names, combo, strict=True))
        for s in range(seeds):
            seed = base_seed + s
            name = "_".join(f"{k}={value_text(v)}" for k, v in values.items()) + f"_seed={seed}"
            runs.append(Run(name, values, seed, {**base, **values, "seed": seed}))
    return runs
