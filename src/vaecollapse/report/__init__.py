"""The reproduction report: ``REPORT.md`` and a self-contained ``report.html`` for a directory
written by ``vaecollapse reproduce``, as one traversal rendered twice.

- :mod:`.model` — reading the directory into typed records (:class:`ExperimentResult`,
  :class:`Claim`, :class:`Figure`, :class:`Table`), collecting problems instead of raising;
  its docstring holds the directory's contract.
- :mod:`.context` — the one traversal: :func:`build_view` turns the records into a
  render-neutral :class:`ReportView` (facts, summary, one section per experiment).
- :mod:`.render` — the jinja2 templates (``templates/``) render that view to Markdown and HTML,
  escaping every user string; :func:`write_report` does all three steps.
"""

from vaecollapse.report.context import ReportView, build_view, format_duration
from vaecollapse.report.model import Claim, ExperimentResult, Figure, Table, load_experiments
from vaecollapse.report.render import render_html, render_markdown, write_report

__all__ = ["Claim", "ExperimentResult", "Figure", "ReportView", "Table", "build_view", "format_duration",
           "load_experiments", "render_html", "render_markdown", "write_report"]
