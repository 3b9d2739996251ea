"""Typed hyperparameters per family (:data:`HYPERPARAMETERS`), validated once when built.

- VAE and CVAE: loss = −log p(target | z) + β · KL(q(z | ·) ‖ N(0, η_enc² I)) with
  p(target | z) = N(dec(z), η_dec² I); ``sigma`` fixes the encoder std (Σ = σ² I), None makes it
  learnable.
- MHVAE (x → z1 → z2, or L = 1…5 levels, Markov or ladder inference): β1 weighs the z1 term
  E[log q(z1|x) − log p(z1|z2)], β2 the KL of z2 against p(z2) = N(0, η_enc² I) (deeper: β_l on
  level l, the KL at the top); p(z_l|z_{l+1}) and p(x|z1) have std η_dec; ``sigma<l>`` fix the
  encoder std of each level (None: learnable).

Adding a hyperparameter means adding a field to its class (and using it where it acts): every
list of names (the CLI's, the theory's, the sweeps') is derived from these classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from vaecollapse.errors import HyperparameterError
from vaecollapse.family import Family
from vaecollapse.limits import WEIGHT, check

# ------------------------------------------------------------------------------ hyperparameters


def _check_hyperparameters(hp) -> None:
    """Weights (β's, η's) finite and > 0; encoder stds None or finite and > 0; all within
    :data:`vaecollapse.limits.WEIGHT`."""
    for f in fields(hp):
        v = getattr(hp, f.name)
        if v is None and f.name in hp.STDS:
            continue
        if not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                and v > 0):
            raise HyperparameterError(f"{f.name} must be a finite number > 0, got {v!r}")
        check(f.name, v, WEIGHT)


class _Hyperparameters:
    """What every family's hyperparameter class shares (its fields are the hyperparameters)."""

    #: the weight (field name) on each latent level's KL term
    LEVEL_WEIGHTS: ClassVar[dict[str, str]] = {}
    #: the encoder stds (None = learnable)
    STDS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        _check_hyperparameters(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def weight_names(cls, levels: int = 2) -> tuple[str, ...]:
        """The fields that weigh a KL term (the MHVAE's depend on its number of ``levels``)."""
        return tuple(cls.LEVEL_WEIGHTS.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def level_weight(self, level: str) -> float:
        """The β on latent level ``level``'s KL term."""
        if level not in self.LEVEL_WEIGHTS:
            raise HyperparameterError(f"no KL weight known for the latent level {level!r}")
        return getattr(self, self.LEVEL_WEIGHTS[level])


@dataclass(frozen=True)
class _SingleLevel(_Hyperparameters):
    beta: float = 1.0
    eta_enc: float = 1.0
    eta_dec: float = 1.0
    sigma: float | None = None

    LEVEL_WEIGHTS: ClassVar[dict[str, str]] = {"z": "beta"}
    STDS: ClassVar[tuple[str, ...]] = ("sigma",)


@dataclass(frozen=True)
class VAEHyperparameters(_SingleLevel):
    """VAE: ``beta`` β, the weight of KL(q(z|x) ‖ p(z)) in the β-ELBO (1: the ELBO);
    ``eta_enc`` η_enc, the prior's std, p(z) = N(0, η_enc² I); ``eta_dec`` η_dec, the decoder's
    std, p(x|z) = N(dec(z), η_dec² I); ``sigma`` σ, a fixed encoder std (unlearnable Σ = σ² I),
    or None for a learnable encoder variance."""


@dataclass(frozen=True)
class CVAEHyperparameters(_SingleLevel):
    """CVAE (condition x, target y): as the VAE's, with KL(q(z|x,y) ‖ N(0, η_enc² I)) weighted by
    ``beta`` and p(y|x,z) = N(h(x) + k(z), η_dec² I); ``sigma``: fixed encoder std or None
    (learnable)."""


#: the deepest hierarchy (levels z1 … z5) and the inference kinds (theory/hierarchy/setting.py)
MAX_LEVELS = 5
INFERENCE = ("markov", "ladder")


@dataclass(frozen=True)
class MHVAEHyperparameters(_Hyperparameters):
    """Markovian hierarchical VAE with ``levels`` latents z1 … zL (default two; up to five).

    ``beta<l>`` β_l weighs level l's term: E[log q(z_l|·) − log p(z_l|z_{l+1})] below the top,
    KL(q(z_L|·) ‖ p(z_L) = N(0, η_enc² I)) at the top; ``eta_enc`` η_enc is the top prior's std,
    ``eta_dec`` η_dec the std of every p(z_l|z_{l+1}) and of p(x|z1); ``sigma<l>``: the fixed
    encoder std of level l, or None (learnable). ``inference``: ``markov`` (x → z1 → z2 → …) or
    ``ladder`` (q(z_l | z_{l−1}, x): every level above z1 is also encoded from x — the
    "separate maps" of the paper's advice; docs/numerical-theory.md §1). β_3 … β_5 of an existing
    level default to 1 (None); a β or σ given for a level the hierarchy does not have is an
    error."""

    beta1: float = 1.0
    beta2: float = 1.0
    eta_enc: float = 1.0
    eta_dec: float = 1.0
    sigma1: float | None = None
    sigma2: float | None = None
    levels: int = 2
    inference: str = "markov"
    beta3: float | None = None
    beta4: float | None = None
    beta5: float | None = None
    sigma3: float | None = None
    sigma4: float | None = None
    sigma5: float | None = None

    LEVEL_WEIGHTS: ClassVar[dict[str, str]] = {f"z{k}": f"beta{k}" for k in range(1, 6)}
    STDS: ClassVar[tuple[str, ...]] = tuple(f"sigma{k}" for k in range(1, 6))
    #: the fields that are not weights or stds (the hierarchy's shape)
    SHAPE: ClassVar[tuple[str, ...]] = ("levels", "inference")

    def __post_init__(self):
        L = self.levels
        if (isinstance(L, bool) or not isinstance(L, int | float) or not math.isfinite(L)
                or L != int(L) or not 1 <= L <= MAX_LEVELS):
            raise HyperparameterError(f"levels must be a whole number from 1 to {MAX_LEVELS}, "
                                      f"got {L!r}")
        object.__setattr__(self, "levels", int(L))
        if self.inference not in INFERENCE:
            raise HyperparameterError(f"unknown inference {self.inference!r}: choose markov or "
                                      "ladder")
        for k in range(self.levels + 1, MAX_LEVELS + 1):
            extra = [n for n in (f"beta{k}", f"sigma{k}") if getattr(self, n) is not None
                     and (k > 2 or n != "beta2" or getattr(self, n) != 1.0)]
            if extra:
                raise HyperparameterError(f"{extra[0]} given but the hierarchy has {self.levels} "
                                          f"level{'s' if self.levels > 1 else ''}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in self.SHAPE or (v is None and (f.name in self.STDS
                                                       or f.name in ("beta3", "beta4", "beta5"))):
                continue
            if not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    and v > 0):
                raise HyperparameterError(f"{f.name} must be a finite number > 0, got {v!r}")
            check(f.name, v, WEIGHT)

    @classmethod
    def weight_names(cls, levels: int = 2) -> tuple[str, ...]:
        """The KL weights of a hierarchy of ``levels`` latents: beta1 … beta<L>."""
        return tuple(f"beta{k}" for k in range(1, int(levels) + 1))

    def level_weight(self, level: str) -> float:
        """β of latent level ``level`` (z1 … zL); an absent β_3 … β_5 is 1."""
        if level not in self.level_names:
            raise HyperparameterError(f"no KL weight known for the latent level {level!r}")
        v = getattr(self, self.LEVEL_WEIGHTS[level])
        return 1.0 if v is None else v

    @property
    def level_names(self) -> list[str]:
        return [f"z{k}" for k in range(1, self.levels + 1)]

    @property
    def betas(self) -> list[float]:
        """β_1 … β_L."""
        return [self.level_weight(z) for z in self.level_names]

    @property
    def sigmas(self) -> list[float | None]:
        """σ_1 … σ_L (None: learnable)."""
        return [getattr(self, f"sigma{k}") for k in range(1, self.levels + 1)]


Hyperparameters = VAEHyperparameters | CVAEHyperparameters | MHVAEHyperparameters

#: family → its hyperparameter class
HYPERPARAMETERS: dict[Family, type] = {Family.VAE: VAEHyperparameters,
                                       Family.CVAE: CVAEHyperparameters,
                                       Family.MHVAE: MHVAEHyperparameters}
#: every family's hyperparameter names, each once
HYPERPARAMETER_NAMES = tuple(dict.fromkeys(n for c in HYPERPARAMETERS.values() for n in c.names()))


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def hyperparameter_options(family: str, options: dict[str, Any],
                           name: Callable[[str], str] = str) -> dict[str, Any]:
    """The family's hyperparameters from ``options`` (None or absent: the default), in its
    class's order, unchecked (the theory accepts per-dimension σ's). A value given for another
    family's hyperparameter is an error naming whose it is (``name(n)`` spells the name ``n``
    in it: e.g. the CLI's flag)."""
    family = Family.parse(family)
    cls = HYPERPARAMETERS[family]
    given = {k for k, v in options.items() if v is not None}
    unknown = sorted(given - set(HYPERPARAMETER_NAMES))
    if unknown:
        raise HyperparameterError(f"unknown hyperparameter(s) {', '.join(map(name, unknown))}")
    foreign = [n for n in HYPERPARAMETER_NAMES if n in given and n not in cls.names()]
    if foreign:
        owners = _and(f.upper() for f, c in HYPERPARAMETERS.items() if foreign[0] in c.names())
        raise HyperparameterError(f"the {family.upper()} takes {_and(map(name, cls.names()))}, "
                                  f"not {_and(map(name, foreign))} ({name(foreign[0])} is for "
                                  f"the {owners})")
    for n in sorted(given):  # NaN and ±inf are never a hyperparameter
        v = options[n]
        if isinstance(v, float) and not math.isfinite(v):
            raise HyperparameterError(f"{name(n)} must be a finite number, got {v!r}")
    defaults = {f.name: f.default for f in fields(cls)}
    return {n: defaults[n] if options.get(n) is None else options[n] for n in cls.names()}


def hyperparameters(family: str, **options) -> Hyperparameters:
    """The validated hyperparameters of ``family`` (see :func:`hyperparameter_options`)."""
    return HYPERPARAMETERS[Family.parse(family)](**hyperparameter_options(family, options))
