"""Reading a ``vaecollapse reproduce`` output directory into typed records, collecting problems.

Contract of the directory DIR: one sub-directory DIR/NAME per experiment (NAME like ``fig2a``,
``verify-thm1``, ``table-cvae``) holding

- ``claims.json`` — a JSON list of ``{"experiment": NAME, "claim": "one sentence",
  "holds": true | false | null, "evidence": "one short sentence with the key numbers"}`` (null:
  undecided), optionally with ``"role"`` (paper, agreement, theory, beyond; default paper),
  ``"p"`` (the claim's p-value), ``"statistic"`` (the test behind the verdict) and ``"table":
  {"header": [...], "rows": [[...]], "notes": [...]}`` (the numbers per grid point, shown under
  the claim). Its presence marks the experiment finished; a directory without it is
  reported as "not run / unfinished".
- ``meta.json`` — ``{"name", "title", "profile" ("quick" | "paper"), "data", "eval_data"
  (the data specs trained and evaluated on), "data_root", "seeds", "settings": {...},
  "seconds": float (wall time of the invocation that finished it), "training_seconds": float
  (optional: epoch times summed over all its runs, including resumed ones),
  "versions": {"vaecollapse", "torch", "numpy", "python"},
  "figures": ["a.png", ...], "tables": ["b.csv", ...], "notes": ["...", ...]}``; figures and
  tables are plain file names inside DIR/NAME.
- the PNG figures and CSV tables (a header row, then rows) named in ``meta.json``.

Nothing in DIR makes reading fail: corrupt JSON, a missing or unreadable figure or table, or
fields of the wrong type become lines in :attr:`ExperimentResult.problems` (the report shows them
under the summary and in the experiment's section). Hidden sub-directories (``.name``) and plain
files in DIR are ignored.

The records: :class:`ExperimentResult` (one per DIR/NAME) holds its :class:`Claim` list (each
with a verdict and perhaps a per-grid-point :class:`Table`), ``meta.json`` as a dict, its
:class:`Figure` bytes and CSV :class:`Table` rows.
"""

from __future__ import annotations

import csv
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_TABLE_ROWS = 60  # rows of a table kept for the report (the file's total is recorded)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A claim's verdict, as the report prints it; NOT_RUN and ERROR are the report's own.
HOLDS, FAILS, UNDECIDED = "HOLDS", "DOES NOT HOLD", "UNDECIDED"
NOT_RUN, ERROR = "NOT RUN / UNFINISHED", "ERROR"


@dataclass
class Table:
    """A table: ``rows`` is the header row, then at most MAX_TABLE_ROWS data rows (strings);
    ``total`` counts the data rows of the source. ``name`` is the CSV file name ("" for a claim's
    own table); ``ok`` is False when the file could not be read (the reason is a problem)."""

    name: str
    rows: list[list[str]] = field(default_factory=list)
    total: int = 0
    ok: bool = False


@dataclass
class Claim:
    """One claim of claims.json: its sentence, verdict (HOLDS, FAILS, UNDECIDED or ERROR), the
    evidence sentence, and the per-grid-point table with its notes, if it has one."""

    claim: str
    verdict: str
    evidence: str
    table: Table | None = None
    notes: list[str] = field(default_factory=list)
    role: str = "paper"
    p: float | None = None


@dataclass
class Figure:
    """A figure named in meta.json; ``data`` is None when it is not a readable image (the reason
    is one of the experiment's problems)."""

    name: str
    mime: str = "image/png"
    data: bytes | None = None


@dataclass
class ExperimentResult:
    """What DIR/NAME holds: ``finished`` iff claims.json exists; ``meta`` is meta.json ({} when
    unreadable); ``problems`` lists, in plain sentences, everything that could not be read."""

    name: str
    finished: bool
    claims: list[Claim] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """meta.json's title, else the directory name."""
        t = self.meta.get("title")
        return str(t) if t else self.name


def _read_json(path: Path, problems: list[str]) -> Any:
    """The parsed file, or None with a line in ``problems``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path.name} cannot be read: {e}")
    except json.JSONDecodeError as e:
        problems.append(f"{path.name} is not valid JSON: {e}")
    return None


def _verdict(holds: Any) -> str | None:
    """true → HOLDS, false → FAILS, null → UNDECIDED; None for anything else."""
    if holds is True:
        return HOLDS
    if holds is False:
        return FAILS
    if holds is None:
        return UNDECIDED
    return None


def _read_claims(d: Path, exp: ExperimentResult) -> None:
    """Fill ``exp.claims`` from claims.json (one object is taken as a list of one); an unreadable
    file or entry becomes an ERROR claim and a problem."""
    before = len(exp.problems)
    data = _read_json(d / "claims.json", exp.problems)
    if data is None:
        if len(exp.problems) == before:  # the literal JSON `null`
            exp.problems.append("claims.json holds null instead of a list of claims")
        exp.claims.append(Claim("(claims.json unreadable)", ERROR, exp.problems[-1]))
        return
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        exp.problems.append(f"claims.json is a JSON {type(data).__name__}, not a list of claims")
        exp.claims.append(Claim("(claims.json unreadable)", ERROR, exp.problems[-1]))
        return
    for i, c in enumerate(data):
        if not isinstance(c, dict):
            exp.problems.append(f"claims.json entry {i + 1} is not an object: {c!r:.80}")
            exp.claims.append(Claim("(malformed claim)", ERROR, exp.problems[-1]))
            continue
        text = str(c.get("claim") or "(no claim text)")
        evidence = "" if c.get("evidence") is None else str(c["evidence"])
        verdict = _verdict(c.get("holds"))
        if verdict is None:
            exp.problems.append(f"claim {i + 1}: 'holds' is {c.get('holds')!r}, "
                                "not true, false or null")
            verdict = ERROR
        table, notes = _claim_table(c.get("table"), i, exp)
        role = str(c.get("role") or "paper")
        p = c.get("p")
        if p is not None and not (isinstance(p, int | float) and not isinstance(p, bool)
                                  and 0 <= p <= 1):
            exp.problems.append(f"claim {i + 1}: 'p' is {p!r}, not a number in [0, 1] or null")
            p = None
        exp.claims.append(Claim(text, verdict, evidence, table, notes, role, p))
    if not data:
        exp.problems.append("claims.json lists no claims")


def _claim_table(value: Any, i: int, exp: ExperimentResult) -> tuple[Table | None, list[str]]:
    """A claim's per-grid-point table ({"header", "rows", "notes"}), or None; malformed → problem."""
    if value is None:
        return None, []
    ok = (isinstance(value, dict) and isinstance(value.get("header"), list)
          and isinstance(value.get("rows"), list) and all(isinstance(r, list) for r in value["rows"]))
    if not ok:
        exp.problems.append(f"claim {i + 1}: 'table' is not {{\"header\": [...], \"rows\": [[...]]}}")
        return None, []
    rows = [[str(c) for c in value["header"]]] + [[str(c) for c in r] for r in value["rows"]]
    return Table("", rows[:MAX_TABLE_ROWS + 1], len(value["rows"]), True), str_list(value.get("notes"))


def str_list(value: Any) -> list[str]:
    """A JSON list of notes as strings (a single value is a list of one; null or empty: none)."""
    value = value or []
    return [str(n) for n in value] if isinstance(value, list) else [str(value)]


def _safe_name(name: Any) -> bool:
    """A plain file name (no directory part, not . or ..), so DIR/NAME/name stays inside DIR/NAME."""
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name \
        and "\\" not in name


def _file_list(exp: ExperimentResult, key: str) -> list[str]:
    """The safe file names listed under meta.json's ``key`` (figures or tables); others → problems."""
    names = exp.meta.get(key, [])
    if not isinstance(names, list):
        exp.problems.append(f"meta.json: '{key}' is not a list")
        return []
    out = []
    for n in names:
        if _safe_name(n):
            out.append(n)
        else:
            exp.problems.append(f"meta.json: {key} entry {n!r} is not a file name inside {exp.name}/")
    return out


def _read_figure(d: Path, name: str, exp: ExperimentResult) -> Figure:
    """The figure's bytes if it is a readable image (a PNG must start with the PNG signature)."""
    mime = mimetypes.guess_type(name)[0] or ""
    fig = Figure(name, mime)
    if not mime.startswith("image/"):
        exp.problems.append(f"figure {name} is not an image file")
        return fig
    try:
        data = (d / name).read_bytes()
    except FileNotFoundError:
        exp.problems.append(f"figure {name} is missing")
        return fig
    except OSError as e:
        exp.problems.append(f"figure {name} cannot be read: {e.strerror or e}")
        return fig
    if mime == "image/png" and not data.startswith(PNG_SIGNATURE):
        exp.problems.append(f"figure {name} is not a valid PNG file")
        return fig
    fig.data = data
    return fig


def _read_table(d: Path, name: str, exp: ExperimentResult) -> Table:
    """The CSV's header and first MAX_TABLE_ROWS rows, counting all rows."""
    table = Table(name)
    try:
        with open(d / name, encoding="utf-8", newline="") as f:
            for row in csv.reader(f):
                if not table.rows:
                    table.rows.append(row)
                    continue
                table.total += 1
                if table.total <= MAX_TABLE_ROWS:
                    table.rows.append(row)
    except FileNotFoundError:
        exp.problems.append(f"table {name} is missing")
        return table
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        exp.problems.append(f"table {name} cannot be read: {e}")
        table.rows, table.total = [], 0
        return table
    table.ok = True
    return table


def load_experiment(d: Path) -> ExperimentResult:
    """Read DIR/NAME into an :class:`ExperimentResult`; never raises for bad content."""
    exp = ExperimentResult(d.name, finished=(d / "claims.json").exists())
    if not exp.finished:
        if (d / "meta.json").exists():  # a title, if there is one
            meta = _read_json(d / "meta.json", [])
            exp.meta = meta if isinstance(meta, dict) else {}
        return exp
    _read_claims(d, exp)
    meta = _read_json(d / "meta.json", exp.problems)
    if meta is not None and not isinstance(meta, dict):
        exp.problems.append(f"meta.json is a JSON {type(meta).__name__}, not an object")
    exp.meta = meta if isinstance(meta, dict) else {}
    exp.figures = [_read_figure(d, n, exp) for n in _file_list(exp, "figures")]
    exp.tables = [_read_table(d, n, exp) for n in _file_list(exp, "tables")]
    return exp


def load_experiments(out_dir: Path, order: list[str] | None = None) -> list[ExperimentResult]:
    """Every non-hidden sub-directory of ``out_dir`` that is an experiment directory (it holds
    claims.json, meta.json or runs/, or is named in ``order``): first those named in ``order``
    (in that order), then the rest alphabetically. Names in ``order`` without a directory are
    skipped; other directories (e.g. unrelated outputs) are ignored."""
    marks = ("claims.json", "meta.json", "runs")
    dirs = {p.name: p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            and (p.name in (order or []) or any((p / m).exists() for m in marks))}
    first = [n for n in dict.fromkeys(order or []) if n in dirs]
    rest = sorted(set(dirs) - set(first))
    return [load_experiment(dirs[n]) for n in first + rest]
