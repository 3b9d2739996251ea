"""The statistics behind every reproduction verdict (the claim checks of
:mod:`vaecollapse.experiments.claims` are built on them).

Every trend and comparison claim is judged on all seeds of every grid point, by a test stated in
the verdict, at the level ``ALPHA`` = 0.05 (one-sided, in the claimed direction):

- **Trend** ("larger β ⇒ more collapse"): Spearman's rank correlation ρ between the position of
  the swept value in the series and the measurement, over all (value, seed) points, with a
  permutation p-value — the share of reorderings of the measurements whose ρ (times the claimed
  direction) is at least the observed one; exact for ≤ 8 points, else 20,000 seeded random
  permutations, p = (count + 1) / (B + 1). Holds when p ≤ ALPHA. A series whose measurement
  does not vary at all is undecided (saturated). A claim with several series holds when every
  series holds (an intersection–union test: no multiplicity correction is needed).
- **Comparison** ("a learnable Σ collapses more than a fixed one"): the difference of seed means,
  with the exact permutation p-value over all splits of the seeds into two arms. With n seeds per
  arm the smallest attainable p is 1 / C(2n, n) (0.05 at 3 seeds, 0.17 at 2): a claim whose
  seeds cannot reach ALPHA is undecided, not held.
- **Shape**: a trend is monotone only if no adjacent step goes back significantly: for every
  adjacent pair of values, the exact permutation test of the comparison in the *reverse*
  direction (:func:`compare`) must not reach ALPHA (:func:`significant_step_backs`). A trend claim
  with such a step back does not hold (the checks of
  :mod:`vaecollapse.experiments.claims`), whatever ρ: seed means 0.1, 0.5, 0.2, 0.9 with tight
  seeds have ρ = 0.78, p = 0.002, but the step 0.5 → 0.2 is itself significant. Smaller step
  backs (more than the larger seed sd, not significant) are named in the evidence only.
- **Testability**: the smallest p a permutation test can reach depends on the ties of the actual
  values (:func:`min_p`): fourteen equal predictions and one other allow no p below 1/15, so an
  ordering claim over them cannot be tested at ALPHA and is not judged on its ordering.
- **Multiple testing**: :func:`holm` adjusts the p-values of a run's paper claims (Holm 1979);
  the report and claims.json carry both levels.

A single seed of 0.41, 0.58, 0.51, 0.69 has ρ = 0.8 and exact p = 4/24 = 0.17: it does not hold.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
N_PERMUTATIONS = 20_000
EXACT_UP_TO = 8  # points: exact enumeration of the 8! = 40,320 orderings at most


def ranks(values) -> np.ndarray:
    """Average ranks (0-based), ties sharing the mean of their positions."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    sorted_v = v[order]
    start = 0
    for i in range(1, len(v) + 1):
        if i == len(v) or sorted_v[i] != sorted_v[start]:
            r[order[start:i]] = (start + i - 1) / 2
            start = i
    return r


def spearman(x, y) -> float | None:
    """Spearman's ρ: the Pearson correlation of the average ranks; None when x or y is constant."""
    rx, ry = ranks(x), ranks(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return None
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float(rx @ ry / math.sqrt((rx @ rx) * (ry @ ry)))


def _ry_dot(rx: np.ndarray, ry_perms: np.ndarray) -> np.ndarray:
    return ry_perms @ rx


@dataclass(frozen=True)
class Trend:
    """A one-sided Spearman permutation test of a trend in ``direction`` (+1 rising, −1 falling);
    ``min_p``: the smallest p these values' ties allow (:func:`min_p`)."""

    rho: float | None
    p: float | None
    n: int
    direction: int
    min_p: float = 0.0

    @property
    def testable(self) -> bool:
        """True when the values vary and their ties let the test reach ALPHA."""
        return self.rho is not None and self.min_p <= ALPHA + 1e-12

    @property
    def holds(self) -> bool | None:
        if self.rho is None:
            return None
        return bool(self.p <= ALPHA + 1e-12 and self.rho * self.direction > 0)

    def describe(self, unit: str = "runs") -> str:
        if self.rho is None:
            return f"no variation over {self.n} {unit}"
        return f"ρ = {self.rho:+.2f}, p = {_p(self.p)}, {self.n} {unit}"

    def as_dict(self) -> dict:
        return {"test": "spearman-permutation", "rho": self.rho, "p": self.p, "n": self.n,
                "direction": self.direction, "alpha": ALPHA, "min_p": self.min_p}


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.0e}"


def trend(x, y, direction: int, seed: int = 0) -> Trend:
    """Test that ``y`` rises (direction +1) or falls (−1) with ``x``; see the module docstring."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = spearman(x, y)
    if rho is None:
        return Trend(None, None, len(y), direction, 1.0)
    rx, ry = ranks(x), ranks(y)
    rx = rx - rx.mean()
    observed = direction * float(rx @ (ry - ry.mean()))
    if len(y) <= EXACT_UP_TO:
        perms = np.array(list(itertools.permutations(ry)))
        stats = direction * _ry_dot(rx, perms - ry.mean())
        p = float(np.mean(stats >= observed - 1e-9))
    else:
        rng = np.random.default_rng(seed)
        perms = rng.permuted(np.tile(ry, (N_PERMUTATIONS, 1)), axis=1)
        stats = direction * _ry_dot(rx, perms - ry.mean())
        p = float((np.sum(stats >= observed - 1e-9) + 1) / (N_PERMUTATIONS + 1))
    return Trend(rho, p, len(y), direction, min_p(x, y))


@dataclass(frozen=True)
class Comparison:
    """Exact one-sided permutation test that arm ``a`` has the larger mean."""

    mean_a: float
    mean_b: float
    p: float
    min_p: float
    n_a: int
    n_b: int

    @property
    def holds(self) -> bool | None:
        if self.min_p > ALPHA + 1e-12:
            return None  # too few seeds to reach the level whatever the numbers
        return bool(self.p <= ALPHA + 1e-12)

    def describe(self) -> str:
        text = f"Δ = {self.mean_a - self.mean_b:+.3g}, exact permutation p = {_p(self.p)}"
        if self.min_p > ALPHA + 1e-12:
            text += (f" ({self.n_a} vs {self.n_b} seeds: the smallest attainable p is "
                     f"{_p(self.min_p)} > {ALPHA:g})")
        return text

    def as_dict(self) -> dict:
        return {"test": "difference-of-means-permutation", "mean_a": self.mean_a,
                "mean_b": self.mean_b, "p": self.p, "min_p": self.min_p, "n_a": self.n_a,
                "n_b": self.n_b, "alpha": ALPHA}


def compare(a, b) -> Comparison:
    """Is mean(a) > mean(b)? p = share of the C(n_a + n_b, n_a) splits of the pooled values whose
    difference of means is at least the observed one."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    diffs = []
    for idx in itertools.combinations(range(len(pooled)), len(a)):
        mask = np.zeros(len(pooled), dtype=bool)
        mask[list(idx)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    diffs = np.array(diffs)
    p = float(np.mean(diffs >= observed - 1e-9))
    return Comparison(float(a.mean()), float(b.mean()), p, 1 / len(diffs), len(a), len(b))


def step_backs(labels: list[str], groups: list[np.ndarray], direction: int) -> list[str]:
    """Adjacent values whose seed means step against ``direction`` by more than the larger of the
    two seed standard deviations, as 'a → b (m_a → m_b, sd s)'."""
    out = []
    for i in range(len(groups) - 1):
        ga, gb = np.asarray(groups[i], float), np.asarray(groups[i + 1], float)
        step = (gb.mean() - ga.mean()) * direction
        spread = max(ga.std(ddof=1) if len(ga) > 1 else 0.0, gb.std(ddof=1) if len(gb) > 1 else 0.0)
        if step < 0 and -step > spread:
            out.append(f"{labels[i]} → {labels[i + 1]} ({ga.mean():.3g} → {gb.mean():.3g}, "
                       f"sd {spread:.2g})")
    return out


def significant_step_backs(labels: list[str], groups: list, direction: int) -> list[str]:
    """Adjacent values whose seeds step against ``direction`` significantly: the exact one-sided
    permutation test (:func:`compare`) that the earlier value's mean is beyond the later one's
    reaches ALPHA. As 'a → b (m_a → m_b, p)'."""
    out = []
    for i in range(len(groups) - 1):
        ga, gb = np.asarray(groups[i], float), np.asarray(groups[i + 1], float)
        back = compare(ga, gb) if direction > 0 else compare(gb, ga)
        if back.holds:
            out.append(f"{labels[i]} → {labels[i + 1]} ({ga.mean():.3g} → {gb.mean():.3g}, "
                       f"p = {_p(back.p)})")
    return out


def min_p(x, y) -> float:
    """The smallest p-value the one-sided Spearman permutation test of :func:`trend` can reach
    on these values, ties included: the share of the n! pairings of ``y`` with ``x`` whose rank
    statistic is the largest possible. Only the comonotone pairing (sorted with sorted) is
    largest (the rearrangement inequality, strict between different tie groups), and with tie
    groups G_i of x, H_j of y and n_ij the sizes of their overlaps in that pairing, exactly
    Π|G_i|! Π|H_j|! / Π n_ij! pairings realise it; so p_min = that / n!. 1 when x or y is
    constant (nothing can be tested)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n == 0 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 1.0
    gx = np.unique(np.sort(x), return_inverse=True)[1]  # tie group of each sorted position
    gy = np.unique(np.sort(y), return_inverse=True)[1]
    lf = math.lgamma
    log_count = (sum(lf(c + 1) for c in np.bincount(gx)) + sum(lf(c + 1) for c in np.bincount(gy))
                 - sum(lf(c + 1) for c in np.unique(gx * (gy.max() + 1) + gy,
                                                     return_counts=True)[1]))
    return float(math.exp(log_count - lf(n + 1)))


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error ≤ ALPHA when each claim is judged at
    ALPHA on its adjusted p): sorted ascending, p_(k) × (m − k), made non-decreasing, capped at 1."""
    m = len(ps)
    order = np.argsort(ps, kind="stable")
    out, running = [0.0] * m, 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, ps[i] * (m - k)))
        out[i] = running
    return out


def combine(parts: list[bool | None]) -> bool | None:
    """All must hold: False if any part fails, None if any is undecided, else True."""
    if any(p is False for p in parts):
        return False
    if any(p is None for p in parts):
        return None
    return True


def mean_sd(values) -> str:
    """'m ± sd (n)' of seed values (sd with ddof 1; n = 1 shows no sd)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return f"{v[0]:.3g} (1 seed)"
    sd = v.std(ddof=1)
    sd = 0.0 if sd <= 1e-9 * max(1.0, abs(v.mean())) else sd  # rounding noise of equal values
    return f"{v.mean():.3g} ± {sd:.2g} ({len(v)} seeds)"
