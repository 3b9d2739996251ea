"""What a claim check returns (:class:`Verdict`), what a series check measures in a run
(:class:`Measure`), and a claim as claims.json holds it (:func:`claim_record`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple


class Verdict(NamedTuple):
    """A check's judgement: holds (None: undecided), one sentence of evidence with the key
    numbers, and the test(s) behind it (JSON objects)."""

    holds: bool | None
    evidence: str
    statistic: list[dict]


@dataclass(frozen=True)
class Measure:
    """What a series check measures in one run: ``name`` (in the evidence and the table) and
    ``of(run record)``."""

    name: str
    of: Callable[[dict], float]


def claim_record(text: str, holds: bool | None, evidence: str, statistic: list[dict],
                 header: list[str], rows: list[list], notes=()) -> dict:
    """One claim as claims.json holds it: ``{"claim", "holds", "evidence", "statistic", "table":
    {"header", "rows"[, "notes"]}}`` (the table: per grid point, mean ± sd over seeds beside the
    theory)."""
    out = {"claim": text, "holds": holds, "evidence": evidence, "statistic": statistic,
           "table": {"header": header, "rows": rows}}
    if notes:
        out["table"]["notes"] = list(notes)
    return out
