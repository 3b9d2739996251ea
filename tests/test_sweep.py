"""Sweeps: local pool and Ray executors, resumability (also after a kill), failures that do not
stop the others, and the summary (checked against the runs' own metrics files and the theory)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.runs.summary import summarise, theory_n_collapsed
from vaecollapse.runs.sweep import run_sweep

runner = CliRunner()
BASE = {"model": "vae", "backbone": "linear", "data": "mnist:n=200", "latent_dim": 4,
        "epochs": 2, "lr": 0.01, "batch_size": 64, "seed": 0}


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_local_sweep_index_and_skip_on_rerun(tmp_path):
    out = tmp_path / "s"
    result = run_sweep({"beta": [0.5, 2.0], "eta_dec": [1.0]}, 2, BASE, out, jobs=2)
    assert len(result) == 4 and all(r["status"] == "done" for r in result)
    assert {r["beta"] for r in result} == {"0.5", "2"} and {r["seed"] for r in result} == {"0", "1"}
    for r in result:
        assert (out / r["run_dir"] / "checkpoint.pt").exists()
        last = json.loads((out / r["run_dir"] / "metrics.jsonl").read_text().splitlines()[-1])
        assert float(r["loss"]) == pytest.approx(last["loss"], rel=1e-5)
        cfg = json.loads((out / r["run_dir"] / "config.json").read_text())
        assert cfg["model"]["hyperparameters"]["beta"] == float(r["beta"]) and cfg["seed"] == int(r["seed"])
    stamps = {r["run"]: (out / r["run_dir"] / "checkpoint.pt").stat().st_mtime_ns for r in result}
    again = run_sweep({"beta": [0.5, 2.0], "eta_dec": [1.0]}, 2, BASE, out, jobs=2)
    assert all(r["status"] == "done" for r in again)
    assert stamps == {r["run"]: (out / r["run_dir"] / "checkpoint.pt").stat().st_mtime_ns
                      for r in again}


def test_a_failing_run_does_not_stop_the_others(tmp_path):
    out = tmp_path / "f"
    result = run_sweep({"lr": [0.01, 1e25]}, 1, BASE, out, jobs=2, retries=1)
    status = {r["lr"]: r for r in result}
    assert status["0.01"]["status"] == "done"
    assert status["1e+25"]["status"] == "failed"
    assert "non-finite" in status["1e+25"]["error"] or "loss became" in status["1e+25"]["error"]
    assert rows(out / "index.csv") == result


def test_sweep_resumes_after_being_killed(tmp_path):
    """Kill the whole sweep process after its first finished run; the rerun finishes the rest and
    does not redo the finished one."""
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "vaecollapse.cli", "sweep", "--grid", "beta=0.5,1,2,4", "--jobs",
           "1", "--out", str(out), "--", "--model", "vae", "--backbone", "mlp", "--hidden", "8",
           "--data", "mnist:n=500", "--latent-dim", "3", "--epochs", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    first = None
    while time.time() < deadline and first is None:
        time.sleep(0.2)
        if (out / "index.csv").exists():
            done = [r for r in rows(out / "index.csv") if r["status"] == "done"]
            first = done[0] if done else None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first is not None, "no run finished within the time limit"
    assert any(r["status"] != "done" for r in rows(out / "index.csv")), "killed too late"
    stamp = (out / first["run_dir"] / "checkpoint.pt").stat().st_mtime_ns
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    final = rows(out / "index.csv")
    assert len(final) == 4 and all(r["status"] == "done" for r in final)
    assert (out / first["run_dir"] / "checkpoint.pt").stat().st_mtime_ns == stamp
    for r in final:  # every run reached its last epoch
        assert int(r["epoch"]) == 20


def test_ray_executor_runs_a_sweep(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "r"
    result = run_sweep({"beta": [0.5, 2.0]}, 1, BASE, out, executor="ray", jobs=2)
    assert [r["status"] for r in result] == ["done", "done"]
    local = run_sweep({"beta": [0.5, 2.0]}, 1, BASE, tmp_path / "l", jobs=2)
    # same seeds, settings and thread count (1 per worker): Ray and the local pool agree
    assert [r["loss"] for r in result] == [r["loss"] for r in local]


def test_summary_mean_sd_and_theory(tmp_path):
    out = tmp_path / "m"
    run_sweep({"beta": [0.5, 4.0]}, 2, {**BASE, "epochs": 3}, out, jobs=2)
    names, groups = summarise(out)
    assert names == ["beta"]
    for g in groups:
        beta = g["values"]["beta"]
        kls = []
        for seed in (0, 1):
            run = out / "runs" / f"beta={beta:g}_seed={seed}"
            kls.append(json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["kl_total"])
        assert g["runs"] == 2
        assert g["kl_total_mean"] == pytest.approx(np.mean(kls), rel=1e-5)
        assert g["kl_total_sd"] == pytest.approx(np.std(kls, ddof=1), rel=1e-4, abs=1e-9)
    from vaecollapse.data import load
    from vaecollapse.theory import predict

    x = load("mnist:n=200").x
    expected = [predict(x, model="vae", latent_dim=4, beta=g["values"]["beta"]).n_collapsed
                for g in groups]
    assert theory_n_collapsed(out, groups) == expected
    res = runner.invoke(app, ["sweep-summary", str(out)])
    assert res.exit_code == 0, res.output
    with Image.open(out / "summary.png") as im:
        im.verify()
    assert (out / "summary.csv").read_text().startswith("beta,runs,failed,n_collapsed_mean")


@pytest.mark.parametrize("args,needle", [
    (["--grid", "bogus=1,2"], "not a train option"),
    (["--grid", "beta=abc"], "--grid beta=abc"),
    (["--grid", "beta=1", "--executor", "spark"], "unknown executor"),
    (["--grid", "beta=1", "--seeds", "0"], "--seeds"),
    (["--grid", "beta"], "--grid takes"),
    (["--grid", "beta=1", "--", "--model", "gan"], "unknown model"),
    (["--grid", "beta=1", "--", "--epochs", "x"], "train options"),
])
def test_bad_sweep_input_exit_2(tmp_path, args, needle):
    res = runner.invoke(app, ["sweep", "--out", str(tmp_path / "b"), *args,
                              *([] if "--" in args else ["--", "--data", "mnist:n=50"])])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_a_different_sweep_in_the_same_directory_is_refused(tmp_path):
    out = tmp_path / "d"
    run_sweep({"beta": [1.0]}, 1, BASE, out, jobs=1)
    res = runner.invoke(app, ["sweep", "--out", str(out), "--grid", "beta=2", "--", "--data",
                              "mnist:n=200"])
    assert res.exit_code == 2 and "different sweep" in res.output


def test_summary_of_a_non_sweep_directory(tmp_path):
    res = runner.invoke(app, ["sweep-summary", str(tmp_path)])
    assert res.exit_code == 2 and "not a sweep directory" in res.output


def test_force_retrains_and_a_stale_run_directory_is_refused(tmp_path):
    out = tmp_path / "f"
    run_sweep({"beta": [1.0]}, 1, BASE, out, jobs=1)
    run_dir = out / "runs" / "beta=1_seed=0"
    # same grid, new base: refused without --force, retrained from scratch with it
    with pytest.raises(Exception, match="different sweep"):
        run_sweep({"beta": [1.0]}, 1, {**BASE, "eta_dec": 2.0}, out, jobs=1)
    run_sweep({"beta": [1.0]}, 1, {**BASE, "eta_dec": 2.0}, out, jobs=1, force=True)
    assert json.loads((run_dir / "config.json").read_text())["model"]["hyperparameters"]["eta_dec"] == 2.0
    # a run directory left by another configuration is never silently resumed
    from vaecollapse.runs.executors import run_one

    with pytest.raises(Exception, match="another configuration"):
        run_one({**BASE, "eta_dec": 3.0, "beta": 1.0}, str(run_dir))
