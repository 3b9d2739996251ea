"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks:``).

- A page line ``<!-- cli: COMMAND -->`` becomes the command's usage, its description and a table
  of its arguments and options, read from the Typer app itself (the same objects ``--help``
  prints), so the site's option tables cannot drift from the CLI.
- A page line ``<!-- include: PATH -->`` becomes the file PATH of the repository (a committed
  benchmark result), its headings moved three levels down so that they nest under the page's.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.M)

MARKER = re.compile(r"^<!-- cli: ([a-z-]+) -->$", re.M)
DEFAULT_IN_HELP = re.compile(r"\s*\\?\[default: ([^\]]*)\]")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _choices(param) -> str:
    """The accepted values, from the option's type (a choice or a numeric range)."""
    t = param.type
    if getattr(t, "choices", None):
        return "|".join(map(str, t.choices))
    if hasattr(t, "min") and hasattr(t, "max"):
        lo = "" if t.min is None else f"{t.min:g}"
        hi = "" if t.max is None else f"{t.max:g}"
        return f"{lo} … {hi}"
    return ""


def _default(param, help_text: str) -> tuple[str, str]:
    """(help without the ``[default: …]`` note, the default shown to users)."""
    m = DEFAULT_IN_HELP.search(help_text)
    if m:
        return DEFAULT_IN_HELP.sub("", help_text), m.group(1)
    default = param.default
    if getattr(param, "is_flag", False):
        return help_text, "off" if not default else "on"
    if default is None or default == () or callable(default):
        return help_text, "—"
    if isinstance(default, list | tuple):
        default = ",".join(map(str, default))
    return help_text, str(default)


def command_table(name: str) -> str:
    """Markdown for one command: usage, description, arguments and options."""
    import typer  # lazy: only the docs build needs the CLI

    from vaecollapse.cli import app

    group = typer.main.get_command(app)
    if name not in group.commands:
        raise ValueError(f"no command {name!r} (have {', '.join(group.commands)})")
    cmd = group.commands[name]
    ctx = typer.Context(cmd, info_name=f"vaecollapse {name}")
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    for p in cmd.params:
        if p.param_type_name == "argument":
            usage = usage.replace(f"{{{p.name}}}", p.name.upper()).replace(p.name, p.name.upper())
    lines = [f"```text\nvaecollapse {name} {usage}\n```", "", (cmd.help or "").strip(), ""]
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    if args:
        lines += ["| argument | meaning |", "|---|---|"]
        for p in args:
            lines.append(f"| `{(p.metavar or p.name).upper()}` | "
                         f"{_cell(getattr(p, 'help', None) or '')} |")
        lines.append("")
    lines += ["| option | meaning | accepted | default |", "|---|---|---|---|"]
    for p in cmd.params:
        if p.param_type_name != "option" or getattr(p, "hidden", False):
            continue
        opts = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        help_text, default = _default(p, getattr(p, "help", None) or "")
        lines.append(f"| {opts} | {_cell(help_text)} | {_cell(_choices(p))} | {_cell(default)} |")
    return "\n".join(lines)


def included(path: str) -> str:
    """A repository file's Markdown with its headings three levels down (``#`` → ``####``)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        out.append("###" + line if not fence and re.match(r"#+ ", line) else line)
    return "\n".join(out)


def on_page_markdown(markdown: str, **_) -> str:
    markdown = INCLUDE.sub(lambda m: included(m.group(1)), markdown)
    return MARKER.sub(lambda m: command_table(m.group(1)), markdown)
