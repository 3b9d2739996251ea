"""Progress of `diagnose` and `reproduce`: a bar on a terminal's stderr only, never in piped
output or the --json file."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from vaecollapse.cli import app, core
from vaecollapse.errors import UserError

runner = CliRunner()
SMALL = ["--data", "synthetic:corr=gaussian-0.5,n=100,dim=6", "--latent-dim", "2", "--hidden", "8",
         "--batch-size", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "run"
    result = runner.invoke(app, ["train", "--out", str(out), *SMALL, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    return out


def terminal(monkeypatch) -> io.StringIO:
    buf = io.StringIO()
    monkeypatch.setattr(core, "err", Console(file=buf, force_terminal=True, width=100))
    return buf


def test_diagnose_without_terminal_prints_no_progress(run, tmp_path):
    result = runner.invoke(app, ["diagnose", str(run), "--is-samples", "20", "--json",
                                     str(tmp_path / "d.json")])
    assert result.exit_code == 0, result.output
    assert "points" not in result.stderr and "log-likelihood (points)" not in result.stdout
    assert json.loads((tmp_path / "d.json").read_text())["log_likelihood"]["samples"] == 20


def test_diagnose_on_a_terminal_shows_points(run, monkeypatch):
    buf = terminal(monkeypatch)
    result = runner.invoke(app, ["diagnose", str(run), "--is-samples", "20"])
    assert result.exit_code == 0, result.output
    assert "log-likelihood (points)" in buf.getvalue() and "100/100" in buf.getvalue()
    assert "points" not in result.stderr  # nothing else went to the real stderr


def test_reproduce_on_a_terminal_shows_runs(monkeypatch, tmp_path):
    """The runs' progress reaches the bar (the sweep machinery is replaced by a stand-in that
    reports 3 of 4 runs and stops)."""
    import vaecollapse.experiments.runner

    def fake_run_variants(variants, out, on_update=None, **kwargs):
        on_update(3, 4, 0)
        raise UserError("stopped by the test")

    monkeypatch.setattr(vaecollapse.experiments.runner, "run_variants", fake_run_variants)
    buf = terminal(monkeypatch)
    result = runner.invoke(app, ["reproduce", "fig2a", "--out", str(tmp_path)])
    assert result.exit_code == 2
    text = buf.getvalue()
    assert "fig2a: training runs" in text and "3/4" in text and "stopped by the test" in text
