"""Every shell snippet in the README and the docs runs (``bash`` blocks, and the ``$`` lines of
``console`` blocks), each block in a fresh directory, on small data.

"Small data" is a fixed set of rewrites, applied to every command alike and listed in SMALL: the
bundled digits cut to 300 (``n=300``), one epoch, one seed, grids of two values, and, for
``reproduce``, the cheapest experiment of the registry on the quick profile instead of a whole
suite (the suite itself is what the committed results record). A line whose comment says
``# error:`` must exit with code 2 and one ``error:`` line, as it says. ``make`` lines are the
suite's own entry points (this test runs inside ``make test``) and ``ray start`` needs a cluster;
they are skipped, by name.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(bash|console)\n(.*?)^```", re.S | re.M)
SKIPPED = ("make ", "ray start", "pip install")
CHEAPEST = "verify-thm1"


def _small(args: list[str]) -> list[str]:
    """The SMALL rewrites of one command's arguments."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else None
        if a in ("--data", "--eval-data") and nxt and nxt.startswith("mnist") and "n=" not in nxt:
            out += [a, nxt + ("," if ":" in nxt else ":") + "n=300"]
            i += 2
        elif a in ("--epochs", "--seeds") and nxt:
            out += [a, "1"]
            i += 2
        elif a == "--grid" and nxt:
            name, values = nxt.split("=", 1)
            out += [a, f"{name}={','.join(values.split(',')[:2])}"]
            i += 2
        elif a == "--data-root" and nxt:
            i += 2
        elif a == "--profile" and nxt:
            out += [a, "quick"]
            i += 2
        else:
            out.append(a)
            i += 1
    if out[:2] == ["vaecollapse", "reproduce"] and "--list" not in out:
        names = [j for j, a in enumerate(out[2:], 2) if not a.startswith("-")
                 and not out[j - 1].startswith("--")]
        out = [*out[:2], CHEAPEST, *(a for j, a in enumerate(out[2:], 2) if j not in names)]
    return out


def commands(kind: str, body: str) -> list[str]:
    """The block's command lines, continuations joined, prompts and comments kept apart."""
    lines = body.replace("\\\n", " ").splitlines()
    if kind == "console":
        lines = [ln[2:] for ln in lines if ln.startswith("$ ")]
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def blocks():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            cmds = [c for c in commands(m.group(1), m.group(2)) if not c.startswith(SKIPPED)]
            if cmds:
                line = text.count("\n", 0, m.start()) + 1
                yield pytest.param(cmds, id=f"{page.relative_to(ROOT)}:{line}")


BLOCKS = list(blocks())


def test_there_are_shell_snippets_to_run():
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("cmds", BLOCKS)
def test_shell_snippet_runs_on_small_data(cmds, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for line in cmds:
        code, _, comment = line.partition(" #")
        args = _small(shlex.split(code))
        assert args[0] == "vaecollapse", f"a shell snippet runs something else: {line}"
        res = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                             env=env)
        if comment.strip().startswith("error:"):
            assert res.returncode == 2, (line, res.stdout[-500:], res.stderr[-1500:])
            assert res.stderr.count("error:") == 1 and "Traceback" not in res.stderr, res.stderr
        else:
            assert res.returncode == 0, (" ".join(args), res.stdout[-800:], res.stderr[-2000:])
