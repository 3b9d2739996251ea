"""Rendering a :class:`~vaecollapse.report.context.ReportView` with the jinja2 templates in
``templates/`` (shipped as package data): ``report.md.j2`` → REPORT.md, ``report.html.j2`` →
report.html; and :func:`write_report`, which reads, builds the view once and writes both.

Escaping is the environments' job, so no template can forget it:

- HTML: jinja2's autoescape escapes every ``{{ expression }}``.
- Markdown: the environment's ``finalize`` backslash-escapes every ``{{ expression }}`` (every
  character that can start Markdown or HTML markup: backslash, backtick, * _ [ ] < > & ! | # ~),
  so a user's string (a path, a claim, a note) shows literally and never becomes a link, an
  image, a tag or emphasis. Only the filters below, which build Markdown themselves from
  escaped or URL-quoted parts, mark their output as :class:`Markdown` to pass unescaped.

jinja2 is imported when a report is rendered, not when this module is.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vaecollapse.errors import UserError
from vaecollapse.files.atomic import atomic_write_text
from vaecollapse.report.context import ReportView, build_view
from vaecollapse.report.model import load_experiments

if TYPE_CHECKING:
    import jinja2

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&!|#~])")


class Markdown(str):
    """Markdown written by the report itself (a table row, a link target): not escaped again."""


def md_escape(text: Any) -> str:
    """Plain text for Markdown: every markup character backslash-escaped (see the module doc)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _md_finalize(value: Any) -> str:
    return value if isinstance(value, Markdown) else md_escape(value)


def _md_cell(text: Any) -> Markdown:
    """A table cell: whitespace (newlines too) collapsed to single spaces, escaped; " " if empty."""
    return Markdown(md_escape(" ".join(str(text).split())) or " ")


def _md_row(cells: list[Any]) -> Markdown:
    return Markdown("| " + " | ".join(_md_cell(c) for c in cells) + " |")


def _url(path: str) -> Markdown:
    """A relative link target (NAME/file or an anchor), percent-encoded."""
    return Markdown(quote(path))


def _attr(text: str) -> Markdown:
    """An HTML attribute value inside the Markdown (the anchors' ids)."""
    return Markdown(html.escape(text, quote=True))


def _fence(text: str) -> Markdown:
    """A fenced JSON code block, its fence longer than any run of backticks in ``text``."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return Markdown(f"{ticks}json\n{text}\n{ticks}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@cache
def environment(kind: str) -> jinja2.Environment:
    """The jinja2 environment for ``kind`` "md" or "html" (templates from the package)."""
    import jinja2  # lazy: importing vaecollapse.report costs no jinja2 until a report is written

    options: dict[str, Any] = dict(
        loader=jinja2.PackageLoader("vaecollapse.report", "templates"), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    if kind == "md":
        env = jinja2.Environment(autoescape=False, finalize=_md_finalize, **options)
        env.filters.update(md_cell=_md_cell, md_row=_md_row, url=_url, attr=_attr, fence=_fence)
    elif kind == "html":
        env = jinja2.Environment(autoescape=True, **options)
        env.filters.update(b64=_b64)
    else:
        raise ValueError(f"kind must be 'md' or 'html', not {kind!r}")
    return env


def render_markdown(view: ReportView) -> str:
    """REPORT.md: figures linked by relative path (NAME/file.png)."""
    text = environment("md").get_template("report.md.j2").render(view=view)
    return text.rstrip("\n") + "\n"


def render_html(view: ReportView) -> str:
    """report.html: self-contained (figures as base64 data URIs, inline CSS, no scripts)."""
    return environment("html").get_template("report.html.j2").render(view=view)


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
    Bad content never raises: it is described in the report (see :mod:`vaecollapse.report.model`).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory")
    try:
        exps = load_experiments(out_dir, order)
    except OSError as e:
        raise UserError(f"cannot read {out_dir}: {e.strerror or e}") from None
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    view = build_view(exps, generated)
    md = atomic_write_text(out_dir / "REPORT.md", render_markdown(view))
    page = atomic_write_text(out_dir / "report.html", render_html(view))
    return md, page
