"""Metrics merged across processes (DDP): the collapse monitor on 2 CPU processes of a gloo group,
with uneven shards (and a rank that sees nothing), equals a single-process ``diagnose`` on all the
data; ``sync=False`` keeps each rank's own answer; a Lightning run with ``strategy="ddp"`` on 2
CPU processes logs the merged values."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from gloo import run_gloo
from test_latent_units import C, conv_posts, conv_rows
from test_monitor import make_data, posteriors_of

from vaecollapse.diagnostics import diagnose
from vaecollapse.diagnostics.streaming import CollapseMonitor

ROOT = Path(__file__).resolve().parents[1]
N = 400
FLAT = make_data(N, seed=11).shape[1]


def all_rows() -> torch.Tensor:
    """Three levels per row: test_monitor's two flat ones (a per-sample prior mean, a tensor prior
    log-variance) and a convolutional level counted by channel."""
    return torch.cat([make_data(N, seed=11), conv_rows(N, seed=12)], 1)


def levels_of(rows: torch.Tensor, yb=None):
    return posteriors_of(rows[:, :FLAT]) + conv_posts(rows[:, FLAT:])


def _monitor_ranks(rank: int, world: int) -> dict:
    """Each scenario's compute() on this rank: uneven shards (137 / 263 rows, batches of 50 / 64),
    the same unsynced, and rank 1 seeing no batch at all."""
    rows = all_rows()
    out = {}
    for name, split, sync in [("uneven", 137, True), ("local", 137, False), ("empty", N, True)]:
        part = rows[:split] if rank == 0 else rows[split:]
        mon = CollapseMonitor(buffer_rows=100)
        for batch in part.split(50 if rank == 0 else 64):
            mon.update(levels_of(batch))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[name] = mon.compute(sync=sync)
    return out


def close(got: list[dict], ref: list[dict], tol: float = 1e-6) -> None:
    assert [lv["name"] for lv in got] == [lv["name"] for lv in ref]
    for a, b in zip(got, ref, strict=True):
        assert set(a) == set(b)
        np.testing.assert_allclose(a["kl_per_dim"], b["kl_per_dim"], rtol=tol, atol=tol)
        assert a["active_units_kl_fraction"] == pytest.approx(b["active_units_kl_fraction"], abs=tol)
        for key in ("unit", "active_units", "active_modes", "collapsed_dims", "group_active",
                    "near_deterministic"):
            assert a[key] == b[key], key


def test_gloo_merged_monitor_equals_single_process_diagnose():
    ranks = run_gloo(_monitor_ranks, 2)
    rows = all_rows()
    whole = diagnose(levels_of, rows, is_samples=0)["levels"]
    assert [lv["unit"] for lv in whole] == ["dim", "dim", "channel"]
    assert len(whole[2]["kl_per_dim"]) == C
    for r in ranks:
        close(r["uneven"], whole)
        close(r["empty"], whole)
    assert ranks[0]["uneven"] == ranks[1]["uneven"]  # the same merge, bit for bit, on every rank
    close(ranks[0]["local"], diagnose(levels_of, rows[:137], is_samples=0)["levels"])
    close(ranks[1]["local"], diagnose(levels_of, rows[137:], is_samples=0)["levels"])
    # the shards differ, so a merge that returned one rank's answer would fail above:
    assert ranks[0]["local"][0]["kl_per_dim"] != ranks[1]["local"][0]["kl_per_dim"]


def test_lightning_ddp_logs_merged_values(tmp_path):
    """examples/lightning_ddp.py trains on 2 CPU processes (strategy="ddp"); its metrics.csv holds
    the callback's values once per epoch, the last equal to diagnose on the whole validation set
    with the trained weights — not one rank's half."""
    pytest.importorskip("pytorch_lightning")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "lightning_ddp.py"), str(tmp_path),
                          "--epochs", "2", "--n", "512", "--n-val", "300"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import lightning_ddp
    finally:
        sys.path.pop(0)
    model = lightning_ddp.LitVAE()
    model.load_state_dict(torch.load(tmp_path / "model.pt"))
    model.eval()
    _, val = lightning_ddp.loaders(512, 300)
    x = val.dataset.tensors[0]
    ref = diagnose(lambda xb, yb=None: model.posteriors((xb,)), x, is_samples=0)["levels"][0]
    halves = [diagnose(lambda xb, yb=None: model.posteriors((xb,)), part, is_samples=0)["levels"][0]
              for part in (x[0::2], x[1::2])]
    with open(next(tmp_path.rglob("metrics.csv"))) as f:
        rows = [r for r in csv.DictReader(f) if r.get("collapse/z/kl_total")]
    assert [int(r["epoch"]) for r in rows] == [0, 1]  # logged once per epoch, not per rank
    last = rows[-1]
    assert float(last["collapse/z/kl_total"]) == pytest.approx(ref["kl_total"], rel=1e-6)
    assert [float(last[f"collapse/z/kl_{i}"]) for i in range(8)] == pytest.approx(
        ref["kl_per_dim"], rel=1e-6, abs=1e-9)
    assert float(last["collapse/z/active_units"]) == ref["active_units"]
    assert all(h["kl_total"] != pytest.approx(ref["kl_total"], rel=1e-6) for h in halves)
