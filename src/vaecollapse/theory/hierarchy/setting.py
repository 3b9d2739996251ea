"""One linear hierarchical VAE setting and when its loss is bounded below.

A setting is L levels z_1 … z_L above x, each with a KL weight β_l, a latent size d_l and an
encoder std that is fixed (σ_l) or learnable (Σ_l), Markov (x → z_1 → z_2 → …) or ladder (every
level also encoded from x) inference, and the prior / decoder stds η_enc, η_dec.

Boundedness (docs/numerical-theory.md §2, Markov and ladder alike): the loss is bounded below iff
β restricted to the learnable levels is non-decreasing in level order. For a learnable pair
a < b with β_a > β_b, σ_a → ∞ while z_b tracks z_a lowers the loss by 2(β_a − β_b)η_dec² log(1/ε)
per mode without limit. Equal β's are bounded but leave a flat family of optima.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaecollapse.errors import HyperparameterError

INFERENCE = ("markov", "ladder")
MAX_LEVELS = 5


@dataclass(frozen=True)
class Hierarchy:
    """One linear hierarchical VAE setting. ``sigmas[l]`` is level l+1's fixed encoder std, or
    None for a learnable Σ_{l+1}; ``dims[l]`` its latent size."""

    betas: tuple[float, ...]
    dims: tuple[int, ...]
    sigmas: tuple[float | None, ...]
    inference: str = "markov"
    eta_enc: float = 1.0
    eta_dec: float = 1.0

    @property
    def levels(self) -> int:
        return len(self.betas)

    @property
    def learnable(self) -> tuple[int, ...]:
        """Levels (0-based) whose encoder variance is learnable."""
        return tuple(k for k, s in enumerate(self.sigmas) if s is None)

    @property
    def monotone_dims(self) -> bool:
        return all(a >= b for a, b in zip(self.dims, self.dims[1:], strict=False))


def make_hierarchy(levels: int, betas, dims, sigmas, inference: str, eta_enc: float,
                   eta_dec: float) -> Hierarchy:
    """Validated :class:`Hierarchy`; one β / dim / σ broadcasts to every level."""
    if not isinstance(levels, int | np.integer) or not 1 <= levels <= MAX_LEVELS:
        raise HyperparameterError(f"levels must be a whole number from 1 to {MAX_LEVELS}, "
                                  f"got {levels!r}")
    if inference not in INFERENCE:
        raise HyperparameterError(f"unknown inference {inference!r}: choose markov or ladder")

    def per_level(name, v):
        v = list(v) if isinstance(v, list | tuple | np.ndarray) else [v]
        if len(v) == 1:
            v = v * levels
        if len(v) != levels:
            raise HyperparameterError(f"{name} takes one value or one per level ({levels}), "
                                      f"got {len(v)}")
        return v

    b = []
    for k, v in enumerate(per_level("betas", betas)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise HyperparameterError(f"beta{k + 1} must be a number, got {v!r}") from None
        if not np.isfinite(v) or v <= 0:
            raise HyperparameterError(f"beta{k + 1} must be a finite number > 0, got {v!r}")
        b.append(v)
    d = []
    for v in per_level("latent_dims", dims):
        if (isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating)
                or not np.isfinite(v) or not float(v).is_integer() or v < 1):
            raise HyperparameterError(f"latent sizes must be whole numbers >= 1, got {v!r}")
        d.append(int(v))
    s = []
    for k, v in enumerate(per_level("sigmas", sigmas)):
        if v is not None:
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise HyperparameterError(f"sigma{k + 1} (a fixed encoder std) must be a "
                                          f"number, got {v!r}") from None
            if not np.isfinite(v) or v <= 0:
                raise HyperparameterError(f"sigma{k + 1} (a fixed encoder std) must be > 0 "
                                          f"and finite, got {v!r}")
        s.append(v)
    for name, v in (("eta_enc", eta_enc), ("eta_dec", eta_dec)):
        if not isinstance(v, int | float | np.integer | np.floating) or not np.isfinite(v) or v <= 0:
            raise HyperparameterError(f"{name} must be a finite number > 0, got {v!r}")
    return Hierarchy(tuple(b), tuple(d), tuple(s), inference, float(eta_enc), float(eta_dec))


def boundedness(h: Hierarchy) -> tuple[bool, str]:
    """(bounded, reason). Bounded below iff β restricted to the learnable levels is
    non-decreasing in level order (docs/numerical-theory.md §2, for Markov and ladder
    inference alike); the reason names the first offending pair. Equal β's are bounded but
    leave a flat family of optima (see :func:`flat_pairs`)."""
    lv = h.learnable
    for a in lv:
        for b in lv:
            if a < b and h.betas[a] > h.betas[b]:
                return False, (
                    f"the loss is unbounded below: beta{a + 1} = {h.betas[a]:g} > beta{b + 1} = "
                    f"{h.betas[b]:g} with both Σ{a + 1} and Σ{b + 1} learnable (σ{a + 1} → ∞ "
                    f"while z{b + 1} tracks z{a + 1} lowers it without limit, by "
                    f"2(beta{a + 1} − beta{b + 1})η_dec² log(1/ε) per mode); it is bounded iff "
                    "the betas of the learnable levels do not decrease upwards")
    return True, ""


def flat_pairs(h: Hierarchy) -> list[tuple[int, int]]:
    """Consecutive learnable levels with equal β: the optimum is then not unique (docs §2)."""
    lv = h.learnable
    return [(a, b) for a, b in zip(lv, lv[1:], strict=False) if h.betas[a] == h.betas[b]]


def bounded_mask(betas: np.ndarray, learnable: tuple[int, ...]) -> np.ndarray:
    """Vectorised :func:`boundedness` over rows of a (B, L) array of betas."""
    ok = np.ones(betas.shape[0], dtype=bool)
    for i, a in enumerate(learnable):
        for b in learnable[i + 1:]:
            ok &= betas[:, a] <= betas[:, b]
    return ok
