"""report.html of a small `reproduce` run, opened in a real browser: Debian's headless Chromium,
driven by Selenium through the system chromedriver (nothing is downloaded: no selenium-manager,
no browser build of its own).

Checked: no console errors, every image decoded, nothing wider than the viewport outside a
sideways-scrolling container (at 1280 and 400 CSS pixels), the claims summary on the first
screen (1280 × 800), the headings' hierarchy, the table of contents' targets, and keyboard use
(the first Tab stops are the contents' links, with a visible focus outline; Enter follows one).
A screenshot of the first screen is saved to tmp_path, or to docs/assets/report-screenshot.png
(shown by the site) when VAECOLLAPSE_UPDATE_SCREENSHOT=1.

Skips, with a one-line reason, where /usr/bin/chromium, /usr/bin/chromedriver or selenium is
missing (`.ci/run` installs the browser from the distribution).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.experiments import REGISTRY

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "assets" / "report-screenshot.png"
WIDE, NARROW, FOLD = 1280, 400, 800
# Chromium on a closed network, as root, with a fresh profile (--user-data-dir added per run)
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         f"--window-size={WIDE},{FOLD}"]

# Two real experiments shrunk to seconds (300 points, 3 epochs, one seed): same code paths as
# `vaecollapse reproduce fig2a verify-thm1`, each with a figure, a CSV table and claim tables.
SMALL = {"data": "mnist:n=300", "latent_dim": 4, "batch_size": 100}
QUICK = {"epochs": 3, "eval_points": 300, "diagnostics_is_samples": 0}
TINY = {
    "fig2a": replace(REGISTRY["fig2a"], base={**REGISTRY["fig2a"].base, **SMALL}, quick=QUICK,
                     seeds={"quick": 1, "paper": 1}),
    "verify-thm1": replace(REGISTRY["verify-thm1"], base={**REGISTRY["verify-thm1"].base, **SMALL},
                           quick={**QUICK, "instances": 4}),
}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium through the system chromedriver, or a skip saying what is missing."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is missing (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -c constraints.txt -e '.[dev]')")
    os.environ["SE_OFFLINE"] = "1"  # belt and braces: the driver's path is given, never looked up
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def report(browser, tmp_path_factory) -> Path:
    """DIR/report.html written by `vaecollapse reproduce` (about 20 s on 2 cores)."""
    out = tmp_path_factory.mktemp("reproduce") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("vaecollapse.experiments.runner.REGISTRY", {**REGISTRY, **TINY})
        res = CliRunner().invoke(app, ["reproduce", *TINY, "--out", str(out), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    return out / "report.html"


def _open(driver, page: Path, width: int, height: int = FOLD) -> None:
    """Load ``page`` in a viewport of exactly width × height CSS pixels."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    driver.get(page.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    assert driver.execute_script("return [innerWidth, innerHeight]") == [width, height]


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# Every element of the page whose box leaves the viewport sideways, unless an ancestor scrolls it
# (overflow-x auto or scroll; the root and body excepted, since the page itself must not scroll).
OVERFLOWING = """
const vw = document.documentElement.clientWidth;
const scrolled = el => {
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
  }
  return false;
};
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '');
const bad = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if ((r.right > vw + 0.5 || r.left < -0.5) && !scrolled(el)) {
    bad.push(`${name(el)}: ${Math.round(r.left)}..${Math.round(r.right)} px of ${vw}`);
  }
}
return {vw: vw, page: document.documentElement.scrollWidth, bad: bad,
        scrollers: Array.from(document.querySelectorAll('div.scroll'))
          .filter(d => d.scrollWidth > d.clientWidth + 1).length};
"""


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_no_console_errors_images_decoded_nothing_wider_than_the_viewport(browser, report, width):
    browser.get_log("browser")  # drop what earlier pages logged
    _open(browser, report, width)
    assert _severe(browser) == []
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth,"
        " i.getBoundingClientRect().right <= document.documentElement.clientWidth + 0.5])")
    assert len(images) >= 2  # fig2a's and verify-thm1's figures
    for alt, complete, natural, fits in images:
        assert complete and natural > 0, f"image {alt} not decoded"
        assert fits, f"image {alt} is wider than the page"
    layout = browser.execute_script(OVERFLOWING)
    assert layout["vw"] <= width
    assert layout["bad"] == [], f"wider than the {width}-px viewport outside a scroller"
    assert layout["page"] <= layout["vw"], "the page itself scrolls sideways"
    if width == NARROW:  # the wide tables are there and scroll inside their containers
        assert layout["scrollers"] >= 1


def test_claims_summary_is_on_the_first_screen(browser, report):
    _open(browser, report, WIDE, FOLD)
    browser.execute_script("window.scrollTo(0, 0)")
    seen = browser.execute_script("""
const fold = innerHeight;
const shown = el => {
  const r = el.getBoundingClientRect();
  const top = document.elementFromPoint(r.left + Math.min(10, r.width / 2), r.top + r.height / 2);
  return r.top >= 0 && r.bottom <= fold && r.height > 0 && (top === el || el.contains(top));
};
const rows = document.querySelectorAll('#summary tbody tr');
return {heading: shown(document.getElementById('summary-heading')),
        header: shown(document.querySelector('#summary thead tr')),
        first_row: rows.length > 0 && shown(rows[0]), rows: rows.length};
""")
    assert seen == {"heading": True, "header": True, "first_row": True, "rows": seen["rows"]}
    assert seen["rows"] >= 4  # fig2a's and verify-thm1's claims


def test_headings_and_table_of_contents(browser, report):
    _open(browser, report, WIDE)
    levels = browser.execute_script(
        "return Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6')).map(h => +h.tagName[1])")
    assert levels[0] == 1 and levels.count(1) == 1
    steps = zip(levels, levels[1:], strict=False)
    assert all(b <= a + 1 for a, b in steps), f"a heading level is skipped: {levels}"
    toc = browser.execute_script("""
return Array.from(document.querySelectorAll('nav.toc a')).map(a => {
  const id = decodeURIComponent(a.getAttribute('href').slice(1));
  const t = document.getElementById(id);
  return [a.textContent, a.getAttribute('href').startsWith('#'), id,
          t ? t.tagName.toLowerCase() : null];
});
""")
    assert [t[0] for t in toc] == ["Summary", *TINY]  # registry order
    for text, is_anchor, target, tag in toc:
        assert is_anchor and tag is not None, f"contents link {text} → #{target} has no target"
    assert [t[3] for t in toc[1:]] == ["section"] * len(TINY)
    # the summary's experiment links point at the same sections
    summary = browser.execute_script(
        "return Array.from(document.querySelectorAll('#summary a'))"
        ".map(a => !!document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1))))")
    assert summary and all(summary)


def test_keyboard_reaches_the_contents_first_and_follows_a_link(browser, report):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _open(browser, report, NARROW)
    active = ("const a = document.activeElement; const s = getComputedStyle(a);"
              "return [a.tagName, a.closest('nav.toc') !== null, a.getAttribute('href'),"
              " s.outlineStyle, parseFloat(s.outlineWidth)]")
    hrefs = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav.toc a')).map(a => a.getAttribute('href'))")
    for href in hrefs:  # Tab by Tab through the contents, in order, each stop outlined
        ActionChains(browser).send_keys(Keys.TAB).perform()
        tag, in_toc, at, outline, outline_width = browser.execute_script(active)
        assert (tag, in_toc, at) == ("A", True, href)
        assert outline != "none" and outline_width >= 2, "no visible focus outline"
    ActionChains(browser).send_keys(Keys.ENTER).perform()  # follow the last: its section on top
    assert browser.execute_script("return location.hash") == hrefs[-1]
    top = browser.execute_script(
        f"return document.getElementById('{hrefs[-1][1:]}').getBoundingClientRect().top")
    assert abs(top) < 2 or browser.execute_script(
        "return Math.ceil(scrollY + innerHeight) >= document.documentElement.scrollHeight")


def test_screenshot_of_the_first_screen(browser, report, tmp_path):
    _open(browser, report, WIDE, FOLD)
    path = tmp_path / "report-screenshot.png"
    assert browser.save_screenshot(str(path))
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == (WIDE, FOLD)
    if os.environ.get("VAECOLLAPSE_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
