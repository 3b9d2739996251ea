"""What a claim check must look like, per analysis kind: one :class:`~typing.Protocol` each, and
the test that an experiment's ``check`` (and ``second_check``) fits its analysis — run when the
registry is built (:func:`check_experiment`), so a wrong pairing fails at import, before any
training, not after it.

Each analysis declares the protocols it calls (:func:`analysis`); a check conforms when its call
signature takes the protocol's parameters — the same positional parameters in the same order,
every keyword-only one, and nothing more that is required — and it has the protocol's
attributes (the curves checks' ``measure``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from vaecollapse.experiments.verdict import Measure, Verdict

# ------------------------------------------------------------------------------ protocols


class CurvesCheck(Protocol):
    """``curves``: a trend or comparison over the series' grid points, ``groups`` =
    [(series, [(value, runs over seeds)])]; ``measure`` heads the table."""

    measure: Measure

    def __call__(self, groups: list) -> Verdict: ...


class TrackingCheck(Protocol):
    """``linear_sweep`` and ``depth``: trained modes (points × seeds) against the theory's."""

    def __call__(self, param: str, measured: np.ndarray, predicted: np.ndarray, latent_dim: int,
                 *, what: str = ..., theory: str = ...) -> Verdict: ...


class ArmsCheck(Protocol):
    """``linear_sweep``'s second claim: two arms over the same values, ``arms`` = [(label,
    predicted collapsed modes per value, trained: values × seeds)]."""

    def __call__(self, param: str, values: tuple, arms: list) -> Verdict: ...


class InferenceCheck(Protocol):
    """``depth``'s second claim: Markov against ladder inference, ``points`` = [(L, level,
    Markov predicted, ladder predicted, Markov trained median, ladder trained median)]."""

    def __call__(self, points: list) -> Verdict: ...


class GridCheck(Protocol):
    """``grid``: [(β1 position, β2 position, z2 collapsed modes)] over a k × k grid."""

    def __call__(self, points: list[tuple[int, int, int]], k: int) -> Verdict: ...


class TheoremCheck(Protocol):
    """``verify``: the numerical minimiser's largest relative error over the instances, and the
    trained run's relative MAE of λ, ω, σ (``rel``); two verdicts: the theory's property and the
    training's reproduction."""

    def __call__(self, max_rel_error: float, instances: int, rel: dict[str, float]
                 ) -> tuple[Verdict, Verdict]: ...


class RemedyCheck(Protocol):
    """``mitigation``: the remedies' runs grouped by model; returns (claims, extra bar metrics)."""

    def __call__(self, exp: Any, groups: dict, cache: Any) -> tuple[list[dict], tuple]: ...


# ------------------------------------------------------------------------------ declaring


def analysis(check: type, second: type | None = None) -> Callable:
    """Decorator of an analysis: the protocol its experiment's ``check`` must follow and, when it
    judges a second claim, ``second_check``'s."""

    def mark(fn: Callable) -> Callable:
        fn.check_protocol, fn.second_protocol = check, second
        return fn

    return mark


def _call_parameters(obj: Callable) -> list[inspect.Parameter]:
    return list(inspect.signature(obj).parameters.values())


def conformance(obj: Callable, protocol: type) -> str | None:
    """Why ``obj`` does not follow ``protocol`` (None when it does)."""
    if not callable(obj):
        return "it is not callable"
    want = _call_parameters(protocol.__call__)[1:]  # without self
    try:
        have = _call_parameters(obj)
    except (TypeError, ValueError):
        return "its signature cannot be read"
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    want_pos = [p.name for p in want if p.kind in positional]
    have_pos = [p.name for p in have if p.kind in positional]
    if have_pos[:len(want_pos)] != want_pos:
        return f"it takes ({', '.join(have_pos)}), the protocol ({', '.join(want_pos)})"
    extra = [p.name for p in have[len(want_pos):]
             if p.default is inspect.Parameter.empty and p.kind in (*positional,
                                                                     inspect.Parameter.KEYWORD_ONLY)]
    if extra:
        return f"it also requires {', '.join(extra)}"
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in have)
    names = {p.name for p in have}
    for p in want:
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in names and not takes_kwargs:
            return f"it takes no keyword {p.name}"
    for attribute in getattr(protocol, "__annotations__", {}):
        if not hasattr(obj, attribute):
            return f"it has no {attribute}"
    return None


def check_experiment(exp: Any) -> None:
    """Raise TypeError when ``exp.check`` or ``exp.second_check`` does not follow the protocol
    its analysis declares (:func:`analysis`), naming the experiment and the reason."""
    fn = exp.analysis
    pairs = [("check", exp.check, getattr(fn, "check_protocol", None))]
    second = getattr(fn, "second_protocol", None)
    if exp.second_check is not None or second is not None:
        if exp.second_check is not None and second is None:
            raise TypeError(f"experiment {exp.name}: the {exp.kind} analysis judges no second claim")
        if exp.second_check is not None:
            pairs.append(("second_check", exp.second_check, second))
    for role, obj, protocol in pairs:
        if protocol is None:
            raise TypeError(f"experiment {exp.name}: analysis {exp.kind} declares no check protocol")
        why = conformance(obj, protocol)
        if why is not None:
            name = getattr(obj, "__name__", type(obj).__name__)
            raise TypeError(f"experiment {exp.name}: {role} {name} does not follow "
                            f"{protocol.__name__} ({exp.kind}): {why}")
