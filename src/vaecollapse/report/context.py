"""The report's one traversal: :func:`build_view` turns the records of :mod:`.model` into a
render-neutral :class:`ReportView` — header facts, the summary (counts, one row per claim, every
problem), then one :class:`Section` per experiment (problems, run facts, claims with evidence and
tables, figures, CSV tables, settings, versions, notes).

Every decision about *what* the report says (wording, order, which parts appear, padding of
table rows, truncation notes) is made here, once; the templates of :mod:`.render` only decide
*how* Markdown and HTML show it. All strings in the view are plain text (user strings included,
unescaped): escaping is the renderer's job.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from vaecollapse.experiments.significance import ALPHA, holm
from vaecollapse.report.model import (
    ERROR,
    FAILS,
    HOLDS,
    MAX_TABLE_ROWS,
    NOT_RUN,
    UNDECIDED,
    Claim,
    ExperimentResult,
    Table,
    str_list,
)

TITLE = "vaecollapse reproduction report"
# A verdict's kind: a stable key per verdict (report.html uses it as the CSS class).
VERDICT_KIND = {HOLDS: "holds", FAILS: "fails", UNDECIDED: "undecided", NOT_RUN: "notrun",
                ERROR: "error"}


# ------------------------------------------------------------------------------ the view


@dataclass(frozen=True)
class TableView:
    """A table to show: ``header`` and every row padded with "" to one width (at least 1).
    ``path`` is NAME/file.csv for a CSV table ("" for a claim's table); ``truncated`` is the
    sentence saying how many rows are shown, or "" when all are; ``empty`` marks a CSV file
    without even a header row (then ``header`` and ``rows`` are empty)."""

    header: list[str]
    rows: list[list[str]]
    name: str = ""
    path: str = ""
    truncated: str = ""
    empty: bool = False


@dataclass(frozen=True)
class ClaimView:
    """A claim with its verdict (``kind`` from VERDICT_KIND), evidence ("" for none) and, if it
    has one, its per-grid-point table and the table's notes."""

    claim: str
    verdict: str
    kind: str
    evidence: str
    table: TableView | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SummaryRow:
    """One row of the summary table: a claim of an experiment (or its NOT RUN line)."""

    experiment: str
    anchor: str
    claim: str
    verdict: str
    kind: str
    evidence: str
    role: str = ""
    p: str = ""


@dataclass(frozen=True)
class FigureView:
    """A readable figure: file ``name``, ``path`` NAME/file relative to the results directory,
    its MIME type and bytes."""

    name: str
    path: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Section:
    """One experiment. An unfinished one (``finished`` False) shows only its heading; for a
    finished one: ``run`` is "Profile: … · run time: …", ``data`` the data facts ("" if none),
    ``settings`` the settings as compact JSON (None if meta.json has none), ``tables`` the
    readable CSV tables, ``versions`` the library versions ("" if not recorded)."""

    name: str
    anchor: str
    heading: str
    finished: bool
    problems: list[str] = field(default_factory=list)
    run: str = ""
    data: str = ""
    claims: list[ClaimView] = field(default_factory=list)
    figures: list[FigureView] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    settings: str | None = None
    versions: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportView:
    """The whole report: ``facts`` are (label, value) pairs under the title; ``counts`` is the
    summary sentence (None when no experiment was found); ``problems`` are (experiment, problem)
    pairs listed under the summary table."""

    title: str
    facts: list[tuple[str, str]]
    counts: str | None
    summary: list[SummaryRow]
    problems: list[tuple[str, str]]
    sections: list[Section]


# ------------------------------------------------------------------------------ wording


def format_duration(seconds: Any) -> str:
    """Seconds as "12.5 s", "2 min 41 s", "13 min", "3 h 5 min" or (from 10 h) "383 h";
    "unknown" for a non-number."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "unknown"
    if seconds < 59.95:
        return f"{round(seconds, 1):g} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m} min {s} s" if s else f"{m} min"
    if m >= 600:
        return f"{round(seconds / 3600)} h"
    h, m = divmod(m, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def _run_time(meta: dict) -> str:
    """"run time: …", with the training time summed over runs when the meta has it (a resumed or
    re-rendered experiment's wall time covers only its last invocation)."""
    text = f"run time: {format_duration(meta.get('seconds'))}"
    training = format_duration(meta.get("training_seconds"))
    return text if training == "unknown" else f"{text} (training, summed over runs: {training})"


def _compact_json(value: Any) -> str:
    """One line per top-level key, each value on one line."""
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(", ", ": "), default=str)

    if isinstance(value, dict) and value:
        return "{\n" + ",\n".join(f"  {dump(str(k))}: {dump(v)}" for k, v in value.items()) + "\n}"
    return dump(value)


def _versions(meta: dict) -> str:
    """"vaecollapse 0.1.0, torch 2.3, …" from meta.json's versions ("" if none)."""
    v = meta.get("versions")
    if isinstance(v, dict) and v:
        return ", ".join(f"{k} {val}" for k, val in v.items())
    return "" if v is None else str(v)


def _data_facts(meta: dict) -> str:
    """'trained on …; evaluated on …; N seeds per grid point' from meta.json ("" if none)."""
    def specs(key):
        v = meta.get(key)
        return ", ".join(map(str, v)) if isinstance(v, list) else (None if v is None else str(v))

    parts = []
    if specs("data"):
        parts.append(f"trained on {specs('data')}")
    if specs("eval_data"):
        parts.append(f"evaluated on {specs('eval_data')}")
    if meta.get("data_root"):
        parts.append(f"--data-root {meta['data_root']}")
    if meta.get("seeds") is not None:
        parts.append(f"{meta['seeds']} seed(s) per grid point")
    return "; ".join(parts)


def holm_view(exps: list[ExperimentResult]) -> dict[int, float]:
    """Holm's adjusted p (:func:`vaecollapse.experiments.significance.holm`) of every paper
    claim that carries a p-value, by the claim's id: the family of the reproduction's count."""
    family = [c for e in exps for c in e.claims if c.role == "paper" and c.p is not None
              and c.verdict != ERROR]
    return {id(c): q for c, q in zip(family, holm([c.p for c in family]), strict=True)}


def _holm_text(c: Claim, adjusted: dict[int, float]) -> str:
    """"p = 0.002 (Holm 0.03)" for a paper claim with a test; its p alone for others; "—"."""
    if c.p is None:
        return "—"
    if id(c) not in adjusted:
        return f"{c.p:.2g}"
    q = adjusted[id(c)]
    lost = " — not at the Holm level" if c.verdict == HOLDS and q > ALPHA + 1e-12 else ""
    return f"{c.p:.2g} (Holm {q:.2g}){lost}"


def _counts(exps: list[ExperimentResult]) -> str:
    """"N claims: a hold, b do not hold, c undecided; paper claims: … (… under Holm);
    …unfinished; …with problems."."""
    claims = [c for e in exps for c in e.claims if c.verdict != ERROR]
    n = {v: sum(c.verdict == v for c in claims) for v in (HOLDS, FAILS, UNDECIDED)}
    parts = [f"{len(claims)} claim{'s' * (len(claims) != 1)}: {n[HOLDS]} hold, "
             f"{n[FAILS]} do not hold, {n[UNDECIDED]} undecided"]
    paper = [c for c in claims if c.role == "paper"]
    if paper:
        adjusted = holm_view(exps)
        held = sum(c.verdict == HOLDS for c in paper)
        at_holm = sum(c.verdict == HOLDS and adjusted.get(id(c), 0.0) <= ALPHA + 1e-12
                      for c in paper)
        parts.append(f"paper claims: {held} of {len(paper)} hold on their own tests, {at_holm} "
                     f"when the {len(adjusted)} with a p-value are Holm-adjusted")
    unfinished = sum(not e.finished for e in exps)
    if unfinished:
        parts.append(f"{unfinished} experiment{'s' * (unfinished != 1)} not run / unfinished")
    broken = sum(bool(e.problems) for e in exps)
    if broken:
        parts.append(f"{broken} experiment{'s' * (broken != 1)} with problems")
    return "; ".join(parts) + "."


def _header_facts(exps: list[ExperimentResult], generated: str) -> list[tuple[str, str]]:
    profiles = sorted({str(e.meta["profile"]) for e in exps if e.meta.get("profile")})
    seconds = [s for e in exps if (s := e.meta.get("seconds")) is not None
               and format_duration(s) != "unknown"]
    return [("Generated", generated),
            ("Profile" + "s" * (len(profiles) > 1), ", ".join(profiles) or "unknown"),
            ("Experiments", str(len(exps))),
            ("Total run time", format_duration(sum(seconds)) if seconds else "unknown")]


# ------------------------------------------------------------------------------ the traversal


def _anchor(e: ExperimentResult) -> str:
    return "exp-" + "-".join(e.name.split())


def _table_view(t: Table, path: str = "") -> TableView:
    """Header and rows padded to one width; the truncation sentence for a long CSV table."""
    if not t.rows:
        return TableView([], [], t.name, path, empty=True)
    header, rows = t.rows[0], t.rows[1:]
    width = max([len(header)] + [len(r) for r in rows]) or 1
    truncated = ""
    if path and t.total > MAX_TABLE_ROWS:
        truncated = f"Showing the first {MAX_TABLE_ROWS} of {t.total} rows; the full table is {path}."
    return TableView([*header, *[""] * (width - len(header))],
                     [[*r, *[""] * (width - len(r))] for r in rows], t.name, path, truncated)


def _claim_view(c: Claim) -> ClaimView:
    table = _table_view(c.table) if c.table is not None and c.table.rows else None
    return ClaimView(c.claim, c.verdict, VERDICT_KIND[c.verdict], c.evidence, table,
                     c.notes if table else [])


def _section(e: ExperimentResult) -> Section:
    heading = e.name if e.title == e.name else f"{e.name} — {e.title}"
    if not e.finished:
        return Section(e.name, _anchor(e), heading, finished=False)
    return Section(
        e.name, _anchor(e), heading, finished=True, problems=list(e.problems),
        run=f"Profile: {e.meta.get('profile') or 'unknown'} · {_run_time(e.meta)}",
        data=_data_facts(e.meta),
        claims=[_claim_view(c) for c in e.claims],
        figures=[FigureView(f.name, f"{e.name}/{f.name}", f.mime, f.data)
                 for f in e.figures if f.data is not None],
        tables=[_table_view(t, f"{e.name}/{t.name}") for t in e.tables if t.ok],
        settings=_compact_json(e.meta["settings"]) if "settings" in e.meta else None,
        versions=_versions(e.meta), notes=str_list(e.meta.get("notes")))


def _summary_rows(exps: list[ExperimentResult]) -> list[SummaryRow]:
    adjusted = holm_view(exps)
    rows = []
    for e in exps:
        claims = e.claims if e.finished else \
            [Claim(e.title if e.title != e.name else "—", NOT_RUN, "no claims.json", role="")]
        rows += [SummaryRow(e.name, _anchor(e), c.claim, c.verdict, VERDICT_KIND[c.verdict],
                            c.evidence, c.role, _holm_text(c, adjusted) if c.role else "")
                 for c in claims]
    return rows


def build_view(exps: list[ExperimentResult], generated: str) -> ReportView:
    """The report of ``exps`` (in the order given), generated at the time ``generated``."""
    return ReportView(
        TITLE, _header_facts(exps, generated), _counts(exps) if exps else None,
        _summary_rows(exps), [(e.name, p) for e in exps for p in e.problems],
        [_section(e) for e in exps])
