"""The reproduction report: ``REPORT.md`` and a self-contained ``report.html`` for a directory
written by ``vaecollapse reproduce``.

Contract of the directory DIR: one sub-directory DIR/NAME per experiment (NAME like ``fig2a``,
``verify-thm1``, ``table-cvae``) holding

- ``claims.json`` — a JSON list of ``{"experiment": NAME, "claim": "one sentence",
  "holds": true | false | null, "evidence": "one short sentence with the key numbers"}`` (null:
  undecided), optionally with ``"statistic"`` (the test behind the verdict) and ``"table":
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

Nothing in DIR makes the report fail: corrupt JSON, a missing or unreadable figure or table, or
fields of the wrong type are shown as problems in the report text (and listed under the summary).
Hidden sub-directories (``.name``) and plain files in DIR are ignored.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vaecollapse.errors import UserError
from vaecollapse.io import atomic_write_text

MAX_TABLE_ROWS = 60
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

HOLDS, FAILS, UNDECIDED = "HOLDS", "DOES NOT HOLD", "UNDECIDED"
NOT_RUN, ERROR = "NOT RUN / UNFINISHED", "ERROR"
VERDICT_CLASS = {HOLDS: "holds", FAILS: "fails", UNDECIDED: "undecided", NOT_RUN: "notrun",
                 ERROR: "error"}


# ------------------------------------------------------------------------------ reading


@dataclass
class Claim:
    claim: str
    verdict: str
    evidence: str
    table: Table | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Figure:
    name: str
    mime: str = "image/png"
    data: bytes | None = None  # None: not readable (see the experiment's problems)


@dataclass
class Table:
    name: str
    rows: list[list[str]] = field(default_factory=list)  # header first, at most MAX_TABLE_ROWS after
    total: int = 0  # data rows in the file
    ok: bool = False


@dataclass
class Experiment:
    name: str
    finished: bool
    claims: list[Claim] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        t = self.meta.get("title")
        return str(t) if t else self.name

    @property
    def anchor(self) -> str:
        return "exp-" + "-".join(self.name.split())


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
    if holds is True:
        return HOLDS
    if holds is False:
        return FAILS
    if holds is None:
        return UNDECIDED
    return None


def _read_claims(d: Path, exp: Experiment) -> None:
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
        exp.claims.append(Claim(text, verdict, evidence, table, notes))
    if not data:
        exp.problems.append("claims.json lists no claims")


def _claim_table(value: Any, i: int, exp: Experiment) -> tuple[Table | None, list[str]]:
    """A claim's per-grid-point table ({"header", "rows", "notes"}), or None; malformed → problem."""
    if value is None:
        return None, []
    ok = (isinstance(value, dict) and isinstance(value.get("header"), list)
          and isinstance(value.get("rows"), list) and all(isinstance(r, list) for r in value["rows"]))
    if not ok:
        exp.problems.append(f"claim {i + 1}: 'table' is not {{\"header\": [...], \"rows\": [[...]]}}")
        return None, []
    rows = [[str(c) for c in value["header"]]] + [[str(c) for c in r] for r in value["rows"]]
    notes = value.get("notes") or []
    return Table("", rows[:MAX_TABLE_ROWS + 1], len(value["rows"]), True), \
        [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]


def _safe_name(name: Any) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name \
        and "\\" not in name


def _file_list(exp: Experiment, key: str) -> list[str]:
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


def _read_figure(d: Path, name: str, exp: Experiment) -> Figure:
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


def _read_table(d: Path, name: str, exp: Experiment) -> Table:
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


def load_experiment(d: Path) -> Experiment:
    """Read DIR/NAME into an :class:`Experiment`; never raises for bad content."""
    exp = Experiment(d.name, finished=(d / "claims.json").exists())
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


def load_experiments(out_dir: Path, order: list[str] | None = None) -> list[Experiment]:
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


# ------------------------------------------------------------------------------ formatting


def _run_time(meta: dict) -> str:
    """"run time: …", with the training time summed over runs when the meta has it (a resumed or
    re-rendered experiment's wall time covers only its last invocation)."""
    text = f"run time: {format_duration(meta.get('seconds'))}"
    training = format_duration(meta.get("training_seconds"))
    return text if training == "unknown" else f"{text} (training, summed over runs: {training})"


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


def _compact_json(value: Any) -> str:
    """One line per top-level key, each value on one line."""
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(", ", ": "), default=str)

    if isinstance(value, dict) and value:
        return "{\n" + ",\n".join(f"  {dump(str(k))}: {dump(v)}" for k, v in value.items()) + "\n}"
    return dump(value)


def _versions(meta: dict) -> str | None:
    v = meta.get("versions")
    if isinstance(v, dict) and v:
        return ", ".join(f"{k} {val}" for k, val in v.items())
    return None if v is None else str(v)


def _data_facts(meta: dict) -> str | None:
    """'trained on …; evaluated on …; N seeds per grid point' from meta.json, if recorded."""
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
    return "; ".join(parts) or None


def _notes(meta: dict) -> list[str]:
    notes = meta.get("notes") or []
    return [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]


def _profiles(exps: list[Experiment]) -> list[str]:
    return sorted({str(e.meta["profile"]) for e in exps if e.meta.get("profile")})


def _heading(e: Experiment) -> str:
    return e.name if e.title == e.name else f"{e.name} — {e.title}"


def _summary_rows(exps: list[Experiment]) -> list[tuple[Experiment, Claim]]:
    rows = []
    for e in exps:
        if not e.finished:
            rows.append((e, Claim(e.title if e.title != e.name else "—", NOT_RUN, "no claims.json")))
        rows.extend((e, c) for c in e.claims)
    return rows


def _counts(exps: list[Experiment]) -> str:
    claims = [c for e in exps for c in e.claims if c.verdict != ERROR]
    n = {v: sum(c.verdict == v for c in claims) for v in (HOLDS, FAILS, UNDECIDED)}
    parts = [f"{len(claims)} claim{'s' * (len(claims) != 1)}: {n[HOLDS]} hold, "
             f"{n[FAILS]} do not hold, {n[UNDECIDED]} undecided"]
    unfinished = sum(not e.finished for e in exps)
    if unfinished:
        parts.append(f"{unfinished} experiment{'s' * (unfinished != 1)} not run / unfinished")
    broken = sum(bool(e.problems) for e in exps)
    if broken:
        parts.append(f"{broken} experiment{'s' * (broken != 1)} with problems")
    return "; ".join(parts) + "."


def _header_facts(exps: list[Experiment], generated: str) -> list[tuple[str, str]]:
    profiles = _profiles(exps)
    seconds = [s for e in exps if (s := e.meta.get("seconds")) is not None
               and format_duration(s) != "unknown"]
    return [("Generated", generated),
            ("Profile" + "s" * (len(profiles) > 1), ", ".join(profiles) or "unknown"),
            ("Experiments", str(len(exps))),
            ("Total run time", format_duration(sum(seconds)) if seconds else "unknown")]


# ------------------------------------------------------------------------------ Markdown


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&!|#~])")


def _md(text: Any) -> str:
    """Plain text for Markdown, escaped as report.html escapes its text: every character that can
    start Markdown or HTML markup (backslash, backtick, * _ [ ] < > & ! | # ~) is backslash-escaped,
    so a user's string (a path, a claim, a note) shows literally and never becomes a link, an
    image, a tag or emphasis."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


class _Raw(str):
    """Markdown written by the report itself (a link, bold text): not escaped again."""


def _md_cell(text: Any) -> str:
    flat = " ".join(str(text).split())
    return (flat if isinstance(text, _Raw) else _md(flat)) or " "


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    width = max([len(header)] + [len(r) for r in rows]) or 1
    header = header + [""] * (width - len(header))
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "---|" * width]
    for r in rows:
        r = r + [""] * (width - len(r))
        out.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
    return out


def _fence(text: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}json\n{text}\n{ticks}"


def render_markdown(exps: list[Experiment], generated: str) -> str:
    lines = ["# vaecollapse reproduction report", ""]
    lines += [f"- **{k}:** {v}" for k, v in _header_facts(exps, generated)]
    lines += ["", "## Summary", ""]
    if not exps:
        lines += ["No experiments found.", ""]
    else:
        lines += [_counts(exps), ""]
        rows = [[_Raw(f"[{_md(e.name)}](#{quote(e.anchor)})"), c.claim, _Raw(f"**{c.verdict}**"), c.evidence]
                for e, c in _summary_rows(exps)]
        lines += _md_table(["Experiment", "Claim", "Verdict", "Evidence"], rows) + [""]
        problems = [(e, p) for e in exps for p in e.problems]
        if problems:
            lines += ["**Problems:**", ""] + [f"- {_md(e.name)}: {_md(p)}" for e, p in problems] + [""]

    for e in exps:
        lines += [f'<a id="{html.escape(e.anchor)}"></a>', "", f"## {_md(_heading(e))}", ""]
        if not e.finished:
            lines += ["**Not run / unfinished** (no claims.json).", ""]
            continue
        if e.problems:
            lines += ["**Problems:**", ""] + [f"- {_md(p)}" for p in e.problems] + [""]
        profile = e.meta.get("profile")
        lines += [f"Profile: {_md(profile or 'unknown')} · {_run_time(e.meta)}", ""]
        facts = _data_facts(e.meta)
        if facts:
            lines += [f"Data: {_md(facts)}", ""]
        lines += ["### Claims", ""]
        for c in e.claims:
            ev = f" Evidence: {_md(c.evidence)}" if c.evidence else ""
            lines += [f"- **{c.verdict}** — {_md(c.claim)}{ev}", ""]
            if c.table is not None and c.table.rows:
                lines += _md_table(c.table.rows[0], c.table.rows[1:]) + [""]
                lines += [f"*{_md(n)}*" for n in c.notes] + ([""] if c.notes else [])
        figs = [f for f in e.figures if f.data is not None]
        if figs:
            lines += ["### Figures", ""]
            for f in figs:
                lines += [f"![{e.name}: {f.name}]({quote(e.name)}/{quote(f.name)})", ""]
        for t in e.tables:
            if not t.ok:
                continue
            lines += [f"### Table [{t.name}]({quote(e.name)}/{quote(t.name)})", ""]
            if not t.rows:
                lines += ["(empty table)", ""]
                continue
            lines += _md_table(t.rows[0], t.rows[1:]) + [""]
            if t.total > MAX_TABLE_ROWS:
                lines += [f"*Showing the first {MAX_TABLE_ROWS} of {t.total} rows; the full table is "
                          f"{e.name}/{t.name}.*", ""]
        if "settings" in e.meta:
            lines += ["### Settings", "", _fence(_compact_json(e.meta["settings"])), ""]
        versions = _versions(e.meta)
        if versions:
            lines += [f"**Versions:** {_md(versions)}", ""]
        notes = _notes(e.meta)
        if notes:
            lines += ["### Notes", ""] + [f"- {_md(n)}" for n in notes] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------ HTML

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
div.scroll { max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
#summary td:nth-child(4) { min-width: 22em; }
th { background: #f0f0f0; }
td.verdict { font-weight: bold; white-space: nowrap; }
.holds { background: #d4edda; color: #155724; }
.fails { background: #f8d7da; color: #721c24; }
.undecided { background: #fff3cd; color: #856404; }
.notrun { background: #e2e3e5; color: #383d41; }
.error { background: #f5c6cb; color: #721c24; }
span.verdict { padding: 0 .35em; border-radius: 3px; font-weight: bold; }
.problem { color: #a00; }
.facts { color: #555; }
img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
.note { color: #555; font-style: italic; }
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: list[list[str]]) -> list[str]:
    width = max([len(header)] + [len(r) for r in rows]) or 1
    out = ['<div class="scroll"><table>',
           "<thead><tr>" + "".join(f"<th>{_h(c)}</th>" for c in
                                   header + [""] * (width - len(header))) + "</tr></thead>", "<tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in r + [""] * (width - len(r))) + "</tr>")
    return out + ["</tbody>", "</table></div>"]


def _problems_html(items: list[str]) -> list[str]:
    return ['<ul class="problem">'] + [f"<li>{i}</li>" for i in items] + ["</ul>"]


def render_html(exps: list[Experiment], generated: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>vaecollapse reproduction report</title>", f"<style>{CSS}</style>", "</head>",
           "<body>", "<h1>vaecollapse reproduction report</h1>", '<p class="facts">']
    out.append("<br>\n".join(f"<b>{_h(k)}:</b> {_h(v)}" for k, v in _header_facts(exps, generated)))
    out += ["</p>", '<h2 id="summary-heading">Summary</h2>']
    if not exps:
        out.append("<p>No experiments found.</p>")
    else:
        out += [f"<p>{_h(_counts(exps))}</p>", '<div class="scroll"><table id="summary">',
                "<thead><tr><th>Experiment</th><th>Claim</th><th>Verdict</th><th>Evidence</th></tr></thead>",
                "<tbody>"]
        for e, c in _summary_rows(exps):
            out.append(f'<tr><td><a href="#{_h(e.anchor)}">{_h(e.name)}</a></td><td>{_h(c.claim)}</td>'
                       f'<td class="verdict {VERDICT_CLASS[c.verdict]}">{_h(c.verdict)}</td>'
                       f"<td>{_h(c.evidence)}</td></tr>")
        out += ["</tbody>", "</table></div>"]
        problems = [f"<b>{_h(e.name)}:</b> {_h(p)}" for e in exps for p in e.problems]
        if problems:
            out += ['<p class="problem"><b>Problems:</b></p>', *_problems_html(problems)]

    for e in exps:
        out += [f'<section id="{_h(e.anchor)}">', f"<h2>{_h(_heading(e))}</h2>"]
        if not e.finished:
            out += ['<p><span class="verdict notrun">Not run / unfinished</span> (no claims.json).</p>',
                    "</section>"]
            continue
        if e.problems:
            out += _problems_html([_h(p) for p in e.problems])
        out.append(f'<p class="facts">Profile: {_h(e.meta.get("profile") or "unknown")} · '
                   f'{_h(_run_time(e.meta))}</p>')
        facts = _data_facts(e.meta)
        if facts:
            out.append(f'<p class="facts">Data: {_h(facts)}</p>')
        out += ["<h3>Claims</h3>", "<ul>"]
        for c in e.claims:
            ev = f" <i>Evidence:</i> {_h(c.evidence)}" if c.evidence else ""
            out.append(f'<li><span class="verdict {VERDICT_CLASS[c.verdict]}">{_h(c.verdict)}</span> '
                       f"{_h(c.claim)}{ev}")
            if c.table is not None and c.table.rows:
                out += _html_table(c.table.rows[0], c.table.rows[1:])
                out += [f'<p class="note">{_h(n)}</p>' for n in c.notes]
            out.append("</li>")
        out.append("</ul>")
        figs = [f for f in e.figures if f.data is not None]
        if figs:
            out.append("<h3>Figures</h3>")
            for f in figs:
                b64 = base64.b64encode(f.data).decode("ascii")
                out.append(f'<figure><img src="data:{_h(f.mime)};base64,{b64}" alt="{_h(f.name)}">'
                           f"<figcaption>{_h(e.name)}/{_h(f.name)}</figcaption></figure>")
        for t in e.tables:
            if not t.ok:
                continue
            out.append(f"<h3>Table {_h(t.name)}</h3>")
            if not t.rows:
                out.append("<p>(empty table)</p>")
                continue
            out += _html_table(t.rows[0], t.rows[1:])
            if t.total > MAX_TABLE_ROWS:
                out.append(f'<p class="note">Showing the first {MAX_TABLE_ROWS} of {t.total} rows; the '
                           f"full table is {_h(e.name)}/{_h(t.name)}.</p>")
        if "settings" in e.meta:
            out += ["<h3>Settings</h3>", f"<pre>{_h(_compact_json(e.meta['settings']))}</pre>"]
        versions = _versions(e.meta)
        if versions:
            out.append(f"<p><b>Versions:</b> {_h(versions)}</p>")
        notes = _notes(e.meta)
        if notes:
            out += ["<h3>Notes</h3>", "<ul>", *(f"<li>{_h(n)}</li>" for n in notes), "</ul>"]
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ entry point


def write_report(out_dir: str | Path, order: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/REPORT.md`` and ``out_dir/report.html`` (each atomically, replacing any
    earlier report) for a directory written by ``vaecollapse reproduce``; returns their paths.

    Both start with the generation time, the profile(s) and a summary table of every claim
    (experiment, claim, verdict HOLDS / DOES NOT HOLD / UNDECIDED, evidence; unfinished
    experiments appear as NOT RUN / UNFINISHED, unreadable claims as ERROR), then one section per
    experiment — those named in ``order`` first, in that order, then the rest alphabetically —
    with its figures, CSV tables (at most 60 rows shown), claim checks, settings, library
    versions, run time and notes. Markdown links figures by relative path (NAME/file.png);
    the HTML page is self-contained (figures as base64 data URIs, inline CSS, no scripts).
    Bad content never raises: it is described in the report (see the module docstring).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory")
    try:
        exps = load_experiments(out_dir, order)
    except OSError as e:
        raise UserError(f"cannot read {out_dir}: {e.strerror or e}") from None
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    md = atomic_write_text(out_dir / "REPORT.md", render_markdown(exps, generated))
    page = atomic_write_text(out_dir / "report.html", render_html(exps, generated))
    return md, page
