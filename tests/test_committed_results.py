"""The committed quick-profile results (docs/results/quick/) and what the README and the docs say
of them: their generated blocks (scripts/verdict_blocks.py) must agree with the files;
the whole run's claims.json follows the published schema and carries Holm's view; every meta.json
names the commit of the code that produced it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from vaecollapse.output.documents import json_schema

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "quick"


def test_the_pages_blocks_are_generated_from_the_committed_results():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "verdict_blocks.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_the_whole_run_claims_follow_the_schema_with_holm():
    claims = json.loads((RESULTS / "claims.json").read_text(encoding="utf-8"))
    jsonschema.validate(claims, json_schema("claims"))
    assert all("holm_p" in c and "holds_holm" in c for c in claims)
    names = {p.parent.name for p in RESULTS.glob("*/claims.json")}
    assert {c["experiment"] for c in claims} == names
    for name in names:  # the run's list is the experiments' claims, nothing else
        own = json.loads((RESULTS / name / "claims.json").read_text(encoding="utf-8"))
        assert [c["claim"] for c in claims if c["experiment"] == name] == [c["claim"] for c in own]


def test_every_experiment_records_its_code_commit_and_figures():
    metas = sorted(RESULTS.glob("*/meta.json"))
    assert len(metas) >= 17
    for path in metas:
        meta = json.loads(path.read_text(encoding="utf-8"))
        assert meta["profile"] == "quick"
        assert meta["code"] and len(meta["code"]["commit"]) == 40, path
        for fig in meta["figures"]:
            assert (path.parent / fig).is_file(), (path, fig)
        assert (path.parent / "results.csv").is_file()
    assert (RESULTS / "REPORT.md").is_file()


def test_the_registry_quotes_the_measured_quick_times():
    """`reproduce --list` and the registry's quick minutes are the committed run's wall times."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from verdict_blocks import measured_minutes

    from vaecollapse.experiments.registry import REGISTRY

    for path in sorted(RESULTS.glob("*/meta.json")):
        meta = json.loads(path.read_text(encoding="utf-8"))
        assert REGISTRY[meta["name"]].minutes["quick"] == round(measured_minutes(meta), 1), path
