"""The documentation site builds offline and strictly (a broken link or anchor fails), every command
has a page whose option table is generated from the CLI itself, and the README stays a short door
whose links all lead into the site's pages."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from vaecollapse.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = typer.main.get_command(app).commands


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (make install adds it)")
    out = tmp_path_factory.mktemp("site")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d",
                          str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def _pages_with_tables() -> dict[str, Path]:
    found = {}
    for page in (ROOT / "docs").rglob("*.md"):
        for name in re.findall(r"^<!-- cli: ([a-z-]+) -->$", page.read_text(encoding="utf-8"), re.M):
            found[name] = page
    return found


def test_every_command_has_a_generated_option_table():
    assert set(_pages_with_tables()) == set(COMMANDS)


def test_the_built_tables_list_every_option_of_the_cli(site):
    for name, page in _pages_with_tables().items():
        built = html.unescape((site / page.relative_to(ROOT / "docs")).with_suffix(".html")
                              .read_text(encoding="utf-8"))
        for param in COMMANDS[name].params:
            if param.param_type_name == "option" and not getattr(param, "hidden", False):
                assert f"<code>{param.opts[0]}</code>" in built, (name, param.opts[0])


def test_the_api_reference_is_generated_from_docstrings(site):
    api = (site / "api.html").read_text(encoding="utf-8")
    for name in ("diagnose", "CollapseMonitor", "predict_modules", "Posterior", "statistics"):
        assert 'id="vaecollapse.' in api and name in api, name
    # a docstring's own words, not only the names
    assert "streaming" in api.lower()


def test_the_readme_is_a_short_door_into_the_site():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", text)
    assert len(links) >= 15
    for link in links:
        assert (ROOT / link).is_file(), link
