"""`vaecollapse advise`: each lever's threshold against formulas written out here from numpy
eigenvalues / least squares (not the package's statistics), against brute-force evaluation of the
closed-form optimum on either side of it (``solve``'s collapsed count), on synthetic data and on a
held-out real dataset read from IDX files in tests/fixtures (200 MNIST digits of the embedded
test part, never the training part), and the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.data import load
from vaecollapse.errors import HyperparameterError
from vaecollapse.output.documents import advice_to_dict
from vaecollapse.theory import solve, statistics
from vaecollapse.theory.advice import LEVERS, PARAMETER, active_grid, advise

HELD_OUT = Path(__file__).parent / "fixtures" / "heldout-idx"
HELD_OUT_SPEC = f"idx:{HELD_OUT}"
runner = CliRunner()


def uncollapsed(stats, d, **hp) -> int:
    return d - solve(stats, d, **hp).n_collapsed


def check_by_brute_force(stats, d, keep, adv, hp, rel=1e-7):
    """At the threshold (or just inside a supremum) ≥ K modes live; just outside, fewer."""
    checked = 0
    for name in LEVERS:
        lv = adv.levers[name]
        if lv.value is None:
            continue
        p = PARAMETER[name]
        inside, outside = (1 + rel, 1 - rel) if name.startswith("min") else (1 - rel, 1 + rel)
        at = lv.value if lv.attained else lv.value * inside
        assert uncollapsed(stats, d, **{**hp, p: at}) >= keep, name
        assert uncollapsed(stats, d, **{**hp, p: lv.value * outside}) < keep, name
        checked += 1
    return checked


def moments(x):
    x = np.asarray(x, dtype=np.float64)
    return x.T @ x / len(x)


@pytest.fixture(scope="module")
def heldout():
    ds = load(HELD_OUT_SPEC)
    assert ds.n == 200 and ds.dim_x == 784
    return ds


# ------------------------------------------------------------------------------ VAE


@pytest.mark.parametrize("keep", [1, 3, 7])
def test_vae_on_held_out_idx_data_meets_the_eigenvalue_formula(heldout, keep):
    stats = statistics(heldout.x, model="vae")
    hp = {"beta": 0.7, "eta_enc": 0.5, "eta_dec": 1.3}
    adv = advise(stats, 10, keep, **hp)
    phi = np.sort(np.linalg.eigvalsh(moments(heldout.x)))[::-1]  # eigenvalues of E[xxᵀ]
    assert adv.levers["max_beta"].value == pytest.approx(phi[keep - 1] / 1.3**2, rel=1e-9)
    assert adv.levers["max_eta_dec"].value == pytest.approx(np.sqrt(phi[keep - 1] / 0.7), rel=1e-9)
    assert adv.limiting_mode == keep - 1
    assert adv.levers["max_beta2"].value is None and "β" in adv.levers["max_beta2"].reason
    assert check_by_brute_force(stats, 10, keep, adv, hp) == 2
    rec = adv.recommendation
    assert rec.value == pytest.approx(0.9 * phi[keep - 1] / 1.3**2)
    assert rec.active_modes >= keep


def test_vae_fixed_sigma_counts_the_never_collapsing_modes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * np.array([3, 2.5, 2, 1.5, 1, 0.5])
    stats = statistics(x, model="vae")
    phi = np.sort(np.linalg.eigvalsh(moments(x)))[::-1]
    # σ = η_enc on 4 latents (those paired with θ_2..θ_5, by ascending σ), 0.3 on two
    sigma = [1.0, 0.3, 1.0, 1.0, 0.3, 1.0]
    hp = {"beta": 1.0, "eta_enc": 1.0, "eta_dec": 1.0, "sigma": sigma}
    adv = advise(stats, 6, 3, **hp)
    # modes 0, 1 never collapse (σ = 0.3 ≠ η_enc); K = 3 needs one of modes 2..5: the largest, 2
    assert adv.levers["max_beta"].value == pytest.approx(phi[2], rel=1e-9)
    assert adv.limiting_mode == 2
    assert check_by_brute_force(stats, 6, 3, adv, hp) == 2
    never = advise(stats, 6, 2, **hp)
    assert never.levers["max_beta"].value is None
    assert "σ ≠ η_enc" in never.levers["max_beta"].reason
    assert advice_to_dict(never)["max_beta"] is None


# ------------------------------------------------------------------------------ CVAE


@pytest.mark.parametrize("keep", [1, 4])
def test_cvae_meets_the_regression_residual_formula(heldout, keep):
    # top half → bottom half, each 2×2 average-pooled (98 pixels: fewer than the 200 digits, so
    # the regression leaves a residual)
    x = heldout.x.reshape(-1, 14, 2, 14, 2).mean((2, 4))
    cond, target = x[:, :7, :].reshape(200, -1), x[:, 7:, :].reshape(200, -1)
    stats = statistics(cond, target, model="cvae")
    hp = {"beta": 1.5, "eta_enc": 1.0, "eta_dec": 0.8}
    adv = advise(stats, 8, keep, **hp)
    # E = second moment of the least-squares residual of y on x (independent of stats.py)
    coef, *_ = np.linalg.lstsq(cond.astype(np.float64), target.astype(np.float64), rcond=None)
    resid = target - cond.astype(np.float64) @ coef
    theta = np.sort(np.linalg.eigvalsh(moments(resid)))[::-1]
    assert adv.levers["max_beta"].value == pytest.approx(theta[keep - 1] / 0.8**2, rel=1e-6)
    assert adv.levers["max_eta_dec"].value == pytest.approx(np.sqrt(theta[keep - 1] / 1.5), rel=1e-6)
    assert check_by_brute_force(stats, 8, keep, adv, hp, rel=1e-5) == 2


# ------------------------------------------------------------------------------ MHVAE


@pytest.mark.parametrize("beta1, beta2, keep", [(1.0, 6.0, 4), (0.3, 1.0, 2), (2.0, 0.2, 5)])
def test_mhvae_theorem3_thresholds(heldout, beta1, beta2, keep):
    stats = statistics(heldout.x, model="mhvae")
    hp = {"beta1": beta1, "beta2": beta2, "eta_enc": 0.5, "eta_dec": 0.5, "sigma1": 0.5}
    adv = advise(stats, 8, keep, **hp)
    th = np.sqrt(np.sort(np.linalg.eigvalsh(moments(heldout.x)))[::-1][keep - 1])
    s1, e = 0.5, 0.5
    # z2 lives iff σ1² ≥ (β2/β1)η² or θ ≥ β2η²/(√β1 σ1)  (Theorem 3), solved for each lever
    assert adv.levers["max_beta2"].value == pytest.approx(
        max(beta1 * s1**2, np.sqrt(beta1) * s1 * th) / e**2, rel=1e-9)
    assert adv.levers["min_beta1"].value == pytest.approx(
        min(beta2 * e**2 / s1**2, (beta2 * e**2 / (s1 * th)) ** 2), rel=1e-9)
    assert adv.levers["max_beta"].value is None
    assert check_by_brute_force(stats, 8, keep, adv, hp) == 3
    assert adv.recommendation.parameter == "beta2"


def test_mhvae_theorem5_bisected_and_unbounded():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)) * np.linspace(3, 0.3, 8)
    stats = statistics(x, model="mhvae")
    hp = {"beta1": 1.0, "beta2": 2.0, "eta_enc": 0.5, "eta_dec": 0.5, "sigma1": 0.5, "sigma2": 0.5}
    adv = advise(stats, 8, 3, **hp)
    assert all(adv.levers[n].value is not None for n in ("max_beta2", "max_eta_dec", "min_beta1"))
    assert check_by_brute_force(stats, 8, 3, adv, hp, rel=1e-6) == 3
    never = advise(stats, 8, 3, **{**hp, "sigma2": 0.3})
    assert all(never.levers[n].value is None for n in LEVERS)
    assert "σ2" in never.levers["max_beta2"].reason
    assert advice_to_dict(never)["recommendation"]["train"] is None


# ------------------------------------------------------------------------------ errors, grid


def test_keep_beyond_the_latent_size_or_the_rank_is_an_error():
    x = np.random.default_rng(2).normal(size=(300, 4))
    x = np.c_[x, x[:, :1] + x[:, 1:2]]  # rank 4 in 5 dimensions
    stats = statistics(x, model="vae")
    with pytest.raises(HyperparameterError, match="latent size 3"):
        advise(stats, 3, 4, beta=1.0)
    with pytest.raises(HyperparameterError, match="rank 4"):
        advise(stats, 5, 5, beta=1.0)
    with pytest.raises(HyperparameterError, match="--keep"):
        advise(stats, 5, 0, beta=1.0)
    with pytest.raises(HyperparameterError, match="margin"):
        advise(stats, 5, 2, beta=1.0, margin=1.2)


def test_active_grid_agrees_with_solve(heldout):
    stats = statistics(heldout.x, model="vae")
    hp = {"beta": 1.0, "eta_enc": 1.0, "eta_dec": 1.0, "sigma": None}
    betas, etas = np.geomspace(0.05, 20, 7), np.geomspace(0.2, 5, 5)
    grid = active_grid(stats, 6, hp, "beta", betas, "eta_dec", etas)
    for i, e in enumerate(etas):
        for j, b in enumerate(betas):
            assert grid[i, j] == uncollapsed(stats, 6, beta=b, eta_enc=1.0, eta_dec=e)


# ------------------------------------------------------------------------------ CLI


def test_cli_json_plot_and_train_line(tmp_path):
    js, png = tmp_path / "a.json", tmp_path / "a.png"
    r = runner.invoke(app, ["advise", "--model", "vae", "--data", HELD_OUT_SPEC, "--latent-dim", "8",
                            "--keep", "5", "--beta", "2", "--eta-dec", "1", "--json", str(js),
                            "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert "VAE: keep K = 5 of 8 modes" in r.output and "[bold]" not in r.output  # styled, not markup
    d = json.loads(js.read_text())
    assert set(d) == {"vaecollapse_version", "schema_version", "model", "keep", "max_beta",
                      "max_eta_dec", "max_beta2", "min_beta1", "limiting_mode", "recommendation"}
    assert d["max_beta2"] is None and d["min_beta1"] is None
    assert set(d["recommendation"]["null_reasons"]) == {"max_beta2", "min_beta1"}
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    line = d["recommendation"]["train"]
    assert line.startswith("vaecollapse train ") and f"--beta {d['recommendation']['value']:.6g}" in line
    # the train line is a valid `train` invocation (parsed by the train command's own parser)
    import shlex

    import typer

    cmd = typer.main.get_command(app).commands["train"]
    params = cmd.make_context("train", shlex.split(line)[2:]).params
    assert params["beta"] == pytest.approx(d["recommendation"]["value"], rel=1e-5)
    assert params["latent_dim"] == 8 and params["data"] == HELD_OUT_SPEC


def test_cli_mhvae_and_errors(tmp_path):
    js = tmp_path / "m.json"
    r = runner.invoke(app, ["advise", "--model", "mhvae", "--data", HELD_OUT_SPEC, "--latent-dim",
                            "6", "--keep", "3", "--beta2", "6", "--sigma1", "0.5", "--eta-enc",
                            "0.5", "--eta-dec", "0.5", "--json", str(js), "--plot",
                            str(tmp_path / "m.png")])
    assert r.exit_code == 0, r.output
    d = json.loads(js.read_text())
    assert d["max_beta"] is None and d["max_beta2"] > 0 and d["min_beta1"] > 0
    assert "--beta2" in d["recommendation"]["train"]
    for args, msg in [(["--keep", "9", "--latent-dim", "8"], "latent size"),
                      (["--keep", "0"], "--keep"),
                      (["--model", "vae", "--data", "synthetic:corr=random,n=50,dim=4",
                        "--latent-dim", "6", "--keep", "5"], "rank")]:
        r = runner.invoke(app, ["advise", "--data", HELD_OUT_SPEC, *args])
        assert r.exit_code == 2 and "error:" in r.output and msg in r.output, r.output
