"""The documented user-model example runs and detects what it was built to show."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "diagnose_your_model.py"


def test_user_model_example_runs_and_finds_collapse():
    spec = importlib.util.spec_from_file_location("example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    report = mod.main(steps=150)
    level = report["levels"][0]
    assert set(report) >= {"levels", "mutual_information", "eps_delta", "n_collapsed"}
    assert report["log_likelihood"] is None and report["theory"] is None
    # β = 2 on MNIST: some but not all of the 8 dimensions are collapsed
    assert 0 < len(level["collapsed_dims"]) < 8
