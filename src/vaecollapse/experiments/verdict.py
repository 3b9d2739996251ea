"""What a claim check returns (:class:`Verdict`), what a series check measures in a run
(:class:`Measure`), a claim as claims.json holds it (:func:`claim_record`) and the roles a claim
can have in the reproduction's counts (:data:`ROLES`).

Roles:

- ``paper`` — a statement of the paper, reproduced: the reproduction's count and the family of
  its multiple-testing correction (Holm, :func:`vaecollapse.experiments.significance.holm`);
- ``agreement`` — a theory's prediction held against a trained non-linear model (the linear
  theory; the non-linear theory of issue 26);
- ``theory`` — a property of the theory itself (e.g. the closed form against the numerical
  minimiser of the same loss, or two theories against each other): checked, never counted as a
  reproduction;
- ``beyond`` — measured beyond the paper (the remedies, the project's own hierarchy
  experiments, the quadratic case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

ROLES = ("paper", "agreement", "theory", "beyond")


class Verdict(NamedTuple):
    """A check's judgement: holds (None: undecided), one sentence of evidence with the key
    numbers, the test(s) behind it (JSON objects) and the claim's p-value ``p`` (the largest p of
    its test parts, which all must hold: an intersection–union test; None when the claim is
    judged by a tolerance or an equality, not by a test)."""

    holds: bool | None
    evidence: str
    statistic: list[dict]
    p: float | None = None


@dataclass(frozen=True)
class Measure:
    """What a series check measures in one run: ``name`` (in the evidence and the table) and
    ``of(run record)``."""

    name: str
    of: Callable[[dict], float]


def undecided_unless(verdict: Verdict, ok: bool, why: str) -> Verdict:
    """``verdict`` when ``ok`` (with ``why`` added to its evidence, if any); else undecided
    (None) with ``why`` said — a verdict the data cannot give yet (e.g. a run not converged to the
    optimum it is held to)."""
    evidence = f"{verdict.evidence} — {why}" if why else verdict.evidence
    if ok or verdict.holds is None:
        return verdict._replace(evidence=evidence)
    return verdict._replace(holds=None, evidence=f"{evidence}: undecided")


def claim_record(text: str, verdict: Verdict, header: list[str], rows: list[list], notes=(),
                 role: str = "paper") -> dict:
    """One claim as claims.json holds it: ``{"claim", "role", "holds", "p", "evidence",
    "statistic", "table": {"header", "rows"[, "notes"]}}`` (the table: per grid point, mean ± sd
    over seeds beside the theory)."""
    if role not in ROLES:
        raise ValueError(f"unknown claim role {role!r}: choose one of {', '.join(ROLES)}")
    out = {"claim": text, "role": role, "holds": verdict.holds, "p": verdict.p,
           "evidence": verdict.evidence, "statistic": verdict.statistic,
           "table": {"header": header, "rows": rows}}
    if notes:
        out["table"]["notes"] = list(notes)
    return out
