"""The reproduction report (REPORT.md and the self-contained report.html) on a fake directory."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import pytest
from matplotlib.figure import Figure
from PIL import Image

from vaecollapse.report import format_duration, write_report

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
        "wbr"}

CLAIMS = {
    "fig2a": ("Collapse grows with β <b>& stays</b>.", True, "3 → 7 collapsed directions"),
    "fig3": ("Larger η_dec | collapses more.", False, "n_collapsed 4, 4, 3 (not increasing)"),
    "verify-thm1": ("The closed form matches the numerical minimiser.", None, "only 2 instances"),
    "fig4": ("Correlation reduces collapse.", True, "8 → 2"),
}
N_ROWS = 75


def _png(path: Path, k: int) -> None:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1, 2], [0, k, 2 * k])
    fig.savefig(path, format="png")


def _meta(name: str, figures=(), tables=(), **extra) -> dict:
    return {"name": name, "title": f"Title of {name}", "profile": "quick",
            "settings": {"base": {"model": "vae", "latent_dim": 16}, "epsilon": 0.01},
            "seconds": 12.5, "versions": {"vaecollapse": "0.1.0", "torch": "2.3", "numpy": "1.26",
                                          "python": "3.11"},
            "figures": list(figures), "tables": list(tables),
            "notes": ["β is the paper's nominal value = 2 × the β-ELBO weight"], **extra}


def _claims(d: Path, name: str) -> None:
    claim, holds, evidence = CLAIMS[name]
    (d / "claims.json").write_text(json.dumps([{"experiment": name, "claim": claim, "holds": holds,
                                                "evidence": evidence}]), encoding="utf-8")


@pytest.fixture
def out(tmp_path) -> Path:
    root = tmp_path / "repro"
    for name in CLAIMS:
        (root / name).mkdir(parents=True)
    # holds
    (root / "fig2a" / "meta.json").write_text(json.dumps(_meta("fig2a")), encoding="utf-8")
    _claims(root / "fig2a", "fig2a")
    # fails, with two figures and a long CSV (with characters to escape)
    d = root / "fig3"
    _png(d / "a.png", 1)
    _png(d / "b.png", 2)
    rows = ["run,series,values,n_collapsed"] + [f'r{i},s|{i % 3},"{{""eta"": {i}}}",<i>{i}</i>'
                                                for i in range(N_ROWS)]
    (d / "results.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (d / "meta.json").write_text(json.dumps(_meta("fig3", ["a.png", "b.png"], ["results.csv"])),
                                 encoding="utf-8")
    _claims(d, "fig3")
    # undecided
    (root / "verify-thm1" / "meta.json").write_text(json.dumps(_meta("verify-thm1")), encoding="utf-8")
    _claims(root / "verify-thm1", "verify-thm1")
    # corrupt meta.json (claims fine)
    (root / "fig4" / "meta.json").write_text('{"name": "fig4", "title": ', encoding="utf-8")
    _claims(root / "fig4", "fig4")
    # unfinished: runs started, no claims.json
    (root / "table-cvae" / "runs").mkdir(parents=True)
    return root


class _Page(HTMLParser):
    """Images, summary-table rows (cell texts and verdict classes), section ids, tag balance."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.imgs, self.rows, self.sections, self.stack, self.errors = [], [], [], [], []
        self.links, self.scripts = [], []
        self._in_summary = False
        self._cell: list[str] | None = None
        self._row: list[tuple[str, str]] | None = None
        self._cell_class = ""
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "link":
            self.links.append(a)
        if tag == "script":
            self.scripts.append(a)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "table" and a.get("id") == "summary":
            self._in_summary = True
        if self._in_summary and tag == "tr":
            self._row = []
        if self._in_summary and tag == "td":
            self._cell, self._cell_class = [], a.get("class", "")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if self._in_summary and tag == "td" and self._cell is not None:
            self._row.append(("".join(self._cell), self._cell_class))
            self._cell = None
        if self._in_summary and tag == "tr":
            if self._row:
                self.rows.append(self._row)
            self._row = None
        if tag == "table":
            self._in_summary = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_html_is_self_contained_with_valid_embedded_pngs(out):
    md, html_path = write_report(out)
    assert (md, html_path) == (out / "REPORT.md", out / "report.html")
    text = html_path.read_text(encoding="utf-8")
    page = _parse(html_path)
    assert not page.errors and not page.stack
    assert len(page.imgs) == 2  # fig3's two figures; fig4's meta is unreadable
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        Image.open(BytesIO(data)).verify()
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text.lower() and "<script" not in text.lower()
    assert not page.links and not page.scripts
    # CSV cells are escaped, not markup
    assert "<i>3</i>" not in text and "&lt;i&gt;3&lt;/i&gt;" in text


def test_html_summary_lists_every_claim_with_its_verdict(out):
    _, html_path = write_report(out, order=["verify-thm1", "fig3", "not-here"])
    page = _parse(html_path)
    verdicts = {True: ("HOLDS", "holds"), False: ("DOES NOT HOLD", "fails"), None: ("UNDECIDED", "undecided")}
    for name, (claim, holds, evidence) in CLAIMS.items():
        row = [r for r in page.rows if r[1][0] == claim]
        assert len(row) == 1, claim
        (exp, _), _, (verdict, cls), _role, _p, (ev, _) = row[0]
        assert exp == name and ev == evidence
        assert verdict == verdicts[holds][0] and verdicts[holds][1] in cls.split()
    unfinished = [r for r in page.rows if r[0][0] == "table-cvae"]
    assert len(unfinished) == 1 and "NOT RUN" in unfinished[0][2][0]
    # order: the given order first (missing names skipped), then alphabetical
    assert page.sections == ["exp-verify-thm1", "exp-fig3", "exp-fig2a", "exp-fig4", "exp-table-cvae"]
    # the summary comes before the first section
    text = html_path.read_text(encoding="utf-8")
    assert text.index('id="summary"') < text.index("<section")


def test_unfinished_and_corrupt_are_reported(out):
    md, html_path = write_report(out)
    body = " ".join(_parse(html_path).text)
    for text in (body, md.read_text(encoding="utf-8")):
        assert re.search(r"table-cvae.*not run / unfinished", text, re.I | re.S)
        assert "meta.json is not valid JSON" in text
        assert "fig4" in text


def test_markdown_summary_first_and_image_links_exist(out):
    md, _ = write_report(out)
    text = md.read_text(encoding="utf-8")
    first_section = text.index("\n## fig2a")
    summary = text.index("## Summary")
    assert summary < first_section
    table = text[summary:first_section]
    escaped = {"fig2a": r"Collapse grows with β \<b\>\& stays\</b\>.",
               "fig3": r"Larger η\_dec \| collapses more."}
    for name, (claim, holds, _) in CLAIMS.items():
        verdict = {True: "HOLDS", False: "DOES NOT HOLD", None: "UNDECIDED"}[holds]
        md_claim = escaped.get(name, claim)
        line = next(li for li in table.splitlines() if md_claim in li)
        assert f"[{name}]" in line and f"**{verdict}**" in line
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == ["fig3/a.png", "fig3/b.png"]
    for link in links:
        assert (out / link).is_file()
    assert f"first 60 of {N_ROWS} rows" in text
    assert "| r59 |" in text and "| r60 |" not in text
    assert "s\\|1" in text  # pipes inside cells are escaped
    assert not re.search(r"(?<!\\)<[bi]>", text)  # text that reads as HTML tags is escaped
    assert '```json\n{\n  "base": {"model": "vae", "latent_dim": 16},' in text
    assert "β-ELBO weight" in text and "torch 2.3" in text and "12.5 s" in text


def test_rewrite_replaces_atomically_without_leftovers(out):
    write_report(out)
    before = sorted(p.name for p in out.iterdir())
    claims = json.loads((out / "fig2a" / "claims.json").read_text())
    claims[0]["claim"] = "A rewritten claim."
    (out / "fig2a" / "claims.json").write_text(json.dumps(claims))
    md, html_path = write_report(out)
    assert sorted(p.name for p in out.iterdir()) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert "A rewritten claim." in md.read_text(encoding="utf-8")
    assert "A rewritten claim." in html_path.read_text(encoding="utf-8")
    assert CLAIMS["fig2a"][0] not in md.read_text(encoding="utf-8")


def test_bad_content_never_crashes(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "claims.json").write_text("[{oops")
    (d / "meta.json").write_text(json.dumps(_meta("broken", ["gone.png", "../x.png", "fake.png"],
                                                  ["gone.csv"])))
    (d / "fake.png").write_text("not a png")
    e = tmp_path / "weird"
    e.mkdir()
    (e / "claims.json").write_text(json.dumps([{"claim": "c", "holds": "yes"}, 3]))
    md, html_path = write_report(tmp_path)
    text = md.read_text(encoding="utf-8")
    for problem in ("claims.json is not valid JSON", "figure gone.png is missing",
                    "'../x.png' is not a file name", "figure fake.png is not a valid PNG",
                    "table gone.csv is missing", "'holds' is 'yes'", "entry 2 is not an object",
                    "weird: meta.json is missing"):
        assert problem in text, problem
    page = _parse(html_path)
    assert not page.imgs and not page.errors
    assert all(r[2][0] == "ERROR" for r in page.rows if r[0][0] == "broken")


def test_empty_directory(tmp_path):
    md, html_path = write_report(tmp_path)
    assert "No experiments found." in md.read_text(encoding="utf-8")
    assert not _parse(html_path).errors


def test_unrelated_directories_are_ignored(tmp_path):
    (tmp_path / "predict").mkdir()  # e.g. other outputs next to the experiments
    (tmp_path / "predict" / "cvae.json").write_text("{}")
    (tmp_path / "fig9").mkdir()
    (tmp_path / "fig9" / "meta.json").write_text("{}")  # an (unfinished) experiment
    md, _ = write_report(tmp_path)
    text = md.read_text()
    assert "fig9" in text and "predict" not in text


def test_run_time_shows_training_summed_over_runs(tmp_path):
    # a resumed or re-rendered experiment: a short last invocation over long training runs
    d = tmp_path / "repro" / "fig2a"
    d.mkdir(parents=True)
    (d / "meta.json").write_text(json.dumps(_meta("fig2a", training_seconds=161.0)), encoding="utf-8")
    _claims(d, "fig2a")
    md, html = write_report(tmp_path / "repro")
    for text in (md.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")):
        assert "run time: 12.5 s (training, summed over runs: 2 min 41 s)" in text


@pytest.mark.parametrize(("seconds", "text"), [
    (12.5, "12.5 s"), (18.0, "18 s"), (59.97, "1 min"), (161, "2 min 41 s"), (780, "13 min"),
    (3 * 3600 + 300, "3 h 5 min"), (7200, "2 h"), (382.8 * 3600, "383 h"), (float("nan"), "unknown"),
    (True, "unknown"), ("12", "unknown")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_claim_tables_data_facts_and_literal_user_strings(tmp_path):
    d = tmp_path / "fig2b"
    d.mkdir()
    evil = "![pwn](http://example.invalid/x.png) [link](javascript:x) <script>x</script> *b*"
    claim = {"experiment": "fig2b", "claim": f"larger β ⇒ more collapse {evil}", "holds": True,
             "evidence": "β: ρ = +0.85, p = 0.001, 12 runs",
             "statistic": [{"test": "spearman-permutation", "rho": 0.85, "p": 0.001}],
             "table": {"header": ["series", "value", "mean"],
                       "rows": [["β", "0.1", "0.41 ± 0.02 (3 seeds)"], ["β", "2", evil]],
                       "notes": ["NLLs at different η_dec are not comparable"]}}
    (d / "claims.json").write_text(json.dumps([claim]), encoding="utf-8")
    (d / "meta.json").write_text(json.dumps({
        "name": "fig2b", "title": "t", "profile": "quick", "data": ["mnist:split=quarter"],
        "eval_data": ["mnist:split=quarter,part=test"], "data_root": "/data/[red]mnist", "seeds": 3,
        "figures": [], "tables": [], "notes": [evil]}), encoding="utf-8")
    md, page = write_report(tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "| β | 0.1 | 0.41 ± 0.02 (3 seeds) |" in text
    assert "evaluated on mnist:split=quarter,part=test" in text and "3 seed(s)" in text
    assert "/data/\\[red\\]mnist" in text
    assert "*NLLs at different η\\_dec are not comparable*" in text
    # no user string becomes an image, a link, a tag or emphasis
    assert not re.search(r"(?<!\\)!\[", text)
    assert not re.search(r"(?<!\\)<script", text) and not re.search(r"(?<!\\)\*b(?<!\\)\*", text)
    assert "\\!\\[pwn\\](http://example.invalid/x.png)" in text
    html_text = page.read_text(encoding="utf-8")
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert '<div class="scroll"><table>' in html_text and "0.41 ± 0.02 (3 seeds)" in html_text


EVIL = "x_[l](javascript:x)*e*<b>"  # would be a link, emphasis and a tag if not escaped


@pytest.fixture
def evil_names(tmp_path) -> Path:
    """An experiment whose directory, profile, figure and (long) table names hold markup."""
    d = tmp_path / f"exp{EVIL}"
    d.mkdir()
    figure, table = f"f{EVIL}!.png", f"t{EVIL}.csv"
    _png(d / figure, 1)
    (d / table).write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(N_ROWS)), encoding="utf-8")
    (d / "meta.json").write_text(json.dumps(_meta(d.name, [figure], [table], profile=f"p{EVIL}")),
                                 encoding="utf-8")
    (d / "claims.json").write_text(json.dumps([{"claim": "c", "holds": True, "evidence": "e"}]),
                                   encoding="utf-8")
    return tmp_path


def test_markdown_escapes_names_of_experiments_figures_tables_and_profiles(evil_names):
    text = write_report(evil_names)[0].read_text(encoding="utf-8")
    escaped = r"x\_\[l\](javascript:x)\*e\*\<b\>"
    assert f"- **Profile:** p{escaped}" in text  # header facts
    assert f"## exp{escaped} — Title of exp{escaped}" in text
    assert f"![exp{escaped}: f{escaped}\\!.png](" in text  # the image's alt text
    assert f"### Table [t{escaped}.csv](" in text
    assert f"the full table is exp{escaped}/t{escaped}.csv.*" in text
    # link targets are percent-encoded, so they cannot close the link either
    assert "](exp" + quote(EVIL) + "/f" + quote(EVIL + "!") + ".png)" in text
    # the anchor is raw HTML with an escaped attribute; it is taken whole, never parsed as Markdown
    anchor = "exp-exp" + html.escape(EVIL)
    assert f'<a id="{anchor}"></a>' in text
    # nothing user-written is a link, an image, emphasis or a tag; only the report's own are
    rest = text.replace(f'<a id="{anchor}"></a>', "")
    assert len(re.findall(r"(?<!\\)!\[", rest)) == 1  # the figure
    assert not re.search(r"(?<!\\)<b>", rest) and not re.search(r"(?<!\\)\[l", rest)
    assert not re.search(r"(?<!\\)\*e", rest)


def test_html_escapes_names_of_experiments_figures_tables_and_profiles(evil_names):
    html_path = write_report(evil_names)[1]
    page = _parse(html_path)
    assert not page.errors and not page.stack and len(page.imgs) == 1
    text = html_path.read_text(encoding="utf-8")
    bold = re.findall(r"<b>(.*?)</b>", text)  # only the report's own labels are bold
    assert bold == ["Generated:", "Profile:", "Experiments:", "Total run time:", "Versions:"]
    assert "<script" not in text and f"exp{html.escape(EVIL)}" in text
    body = "".join(page.text)
    for shown in (f"p{EVIL}", f"exp{EVIL} — Title of exp{EVIL}", f"Table t{EVIL}.csv",
                  f"exp{EVIL}/f{EVIL}!.png", f"the full table is exp{EVIL}/t{EVIL}.csv."):
        assert shown in body, shown


def test_templates_ship_in_the_wheel_and_render_from_the_installed_package(tmp_path):
    """Build the wheel from a copy of the source, install it into a directory and render there."""
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, src)
    shutil.copytree(root / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = "from setuptools import build_meta as b; print(b.build_wheel('dist'))"
    res = subprocess.run([sys.executable, "-c", build], cwd=src, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = src / "dist" / res.stdout.strip().splitlines()[-1]
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(site)
    templates = {"report.md.j2", "report.html.j2", "table.md.j2", "table.html.j2"}
    assert {f"vaecollapse/report/templates/{t}" for t in templates} <= names
    results = tmp_path / "results" / "fig2a"
    results.mkdir(parents=True)
    _claims(results, "fig2a")
    (results / "meta.json").write_text(json.dumps(_meta("fig2a")), encoding="utf-8")
    run = ("import sys, vaecollapse, vaecollapse.report as r; assert 'jinja2' not in sys.modules; "
           "r.write_report(sys.argv[1]); print(r.__file__)")
    res = subprocess.run([sys.executable, "-c", run, str(results.parent)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert Path(res.stdout.strip()).is_relative_to(site)  # the installed copy, not the source tree
    assert CLAIMS["fig2a"][2] in (results.parent / "REPORT.md").read_text(encoding="utf-8")
    assert "HOLDS" in (results.parent / "report.html").read_text(encoding="utf-8")


def test_report_counts_paper_claims_at_both_levels(tmp_path):
    """Claims carry a role and a p: the summary counts the paper's claims on their own tests and
    at Holm's level (over those with a p), and each row shows its role and adjusted p."""
    root = tmp_path / "repro"
    claims = {"a": [("held alone", True, 0.01, "paper"), ("held too", True, 0.04, "paper")],
              "b": [("a tolerance claim", True, None, "paper"), ("theory", True, None, "theory")]}
    for name, cs in claims.items():
        (root / name).mkdir(parents=True)
        (root / name / "meta.json").write_text(json.dumps(_meta(name)), encoding="utf-8")
        (root / name / "claims.json").write_text(json.dumps(
            [{"experiment": name, "claim": c, "holds": h, "p": p, "role": r, "evidence": "e"}
             for c, h, p, r in cs]), encoding="utf-8")
    md, _ = write_report(root, order=["a", "b"])
    text = md.read_text(encoding="utf-8")
    # Holm over 0.01, 0.04: 0.02 and 0.04 — both still hold
    assert "paper claims: 3 of 3 hold on their own tests, 3 when the 2 with a p-value are " \
           "Holm-adjusted" in text
    assert "0.01 (Holm 0.02)" in text and "| theory |" in text
    (root / "a" / "claims.json").write_text(json.dumps(
        [{"experiment": "a", "claim": c, "holds": h, "p": p, "role": r, "evidence": "e"}
         for c, h, p, r in [("held alone", True, 0.03, "paper"), ("held too", True, 0.04, "paper")]]),
        encoding="utf-8")
    md, _ = write_report(root, order=["a", "b"])
    text = md.read_text(encoding="utf-8")
    assert "3 hold on their own tests, 1 when the 2" in text and "not at the Holm level" in text
