"""`vaecollapse train --tensorboard DIR`: the event files hold each epoch's metrics (read back
with TensorBoard's own reader and compared with metrics.jsonl); without tensorboard, one error
line and exit code 2."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.runs.rundir import METRICS

runner = CliRunner()
SMALL = ["--data", "synthetic:corr=gaussian-0.5,n=200,dim=8", "--latent-dim", "3", "--hidden", "8",
         "--batch-size", "64", "--device", "cpu"]


def train(out, *args):
    return runner.invoke(app, ["train", "--out", str(out), *SMALL, *map(str, args)])


def test_tensorboard_holds_per_epoch_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    result = train(tmp_path / "run", "--epochs", "3", "--tensorboard", tb)
    assert result.exit_code == 0, result.output
    assert f"TensorBoard logs: {tb}" in " ".join(result.stdout.split())
    lines = [json.loads(s) for s in (tmp_path / "run" / METRICS).read_text().splitlines()]
    acc = EventAccumulator(str(tb), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()

    def series(tag):
        return [(e.step, e.value) for e in acc.Scalars(tag)]

    assert series("train/loss") == [(h["epoch"], pytest.approx(h["loss"], rel=1e-6)) for h in lines]
    for i in range(3):
        assert series(f"collapse/z/kl_{i}") == [
            (h["epoch"], pytest.approx(h["kl_per_dim"]["z"][i], rel=1e-6, abs=1e-12)) for h in lines]
    assert [v for _, v in series("collapse/z/n_collapsed")] == [h["n_collapsed"]["z"] for h in lines]
    assert [v for _, v in series("collapse/z/active_units")] == [h["active_units"]["z"] for h in lines]
    assert series("collapse/z/kl_total") == [
        (h["epoch"], pytest.approx(sum(h["kl_per_dim"]["z"]), rel=1e-6)) for h in lines]
    assert "collapse/z/kl_per_dim" in tags["histograms"]
    hist = acc.Histograms("collapse/z/kl_per_dim")
    assert [h.step for h in hist] == [1, 2, 3]
    assert hist[-1].histogram_value.num == 3
    assert hist[-1].histogram_value.sum == pytest.approx(sum(lines[-1]["kl_per_dim"]["z"]), rel=1e-6)


def test_tensorboard_missing_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    result = train(tmp_path / "run", "--epochs", "1", "--tensorboard", tmp_path / "tb")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --tensorboard needs the tensorboard")
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / METRICS).exists()  # checked before any training
