"""`vaecollapse predict`: the JSON contract, human output, plots, sweeps and exit code 2 on bad input.

Numbers are checked against independent numpy computations on the raw data (eigenvalues of the
regression residual's second moment, singular values of X/√n), not against the library.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vaecollapse.cli import app

runner = CliRunner()

VAE_KEYS = {"index", "latent_index", "theta", "lambda", "omega", "sigma", "kl", "collapsed",
            "critical_beta", "critical_eta_dec"}
MHVAE_EXTRA = {"sigma2", "kl_z1", "collapsed_z1", "collapsed_z2", "critical_beta2"}


def run(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def predict_json(tmp_path, *args, exit_code: int = 0):
    """`predict *args --json FILE`, its exit code checked: (the JSON document, the output)."""
    js = tmp_path / "predict.json"
    code, text = run("predict", *args, "--json", str(js))
    assert code == exit_code, text
    return json.loads(js.read_text()), text


@pytest.fixture
def paired_npz(tmp_path):
    rng = np.random.default_rng(0)
    n, dx, dy = 500, 6, 8
    x = rng.normal(size=(n, dx))
    y = x @ rng.normal(size=(dx, dy)) * 0.7 + rng.normal(size=(n, dy)) * rng.uniform(0.1, 1.5, dy)
    path = tmp_path / "paired.npz"
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.float32))
    return path, x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)


def test_cvae_json_contract_and_values(tmp_path, paired_npz):
    path, x, y = paired_npz
    beta, eta_dec = 1.5, 0.6
    doc, text = predict_json(tmp_path, "--model", "cvae", "--data", f"npz:{path}", "--latent-dim",
                             "5", "--beta", str(beta), "--eta-enc", "0.8", "--eta-dec", str(eta_dec))
    assert set(doc) >= {"model", "data", "hyperparameters", "modes", "n_collapsed", "optimal_loss"}
    assert doc["model"] == "cvae"
    assert doc["data"] == {"spec": f"npz:{path}", "n": 500, "dim_x": 6, "dim_y": 8,
                           "rank": doc["data"]["rank"]}
    assert doc["hyperparameters"]["beta"] == beta
    assert len(doc["modes"]) == 5 and all(set(m) == VAE_KEYS for m in doc["modes"])
    # Oracle: θ = eigenvalues of the least-squares residual's second moment.
    K, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ K
    theta = np.sort(np.linalg.eigvalsh(r.T @ r / len(r)))[::-1][:5]
    np.testing.assert_allclose([m["theta"] for m in doc["modes"]], theta, rtol=1e-6)
    collapsed = theta < beta * eta_dec**2
    assert [m["collapsed"] for m in doc["modes"]] == collapsed.tolist()
    assert doc["n_collapsed"] == int(collapsed.sum())
    assert 0 < doc["n_collapsed"] < 5  # the instance is a mixed regime
    np.testing.assert_allclose([m["critical_beta"] for m in doc["modes"]], theta / eta_dec**2,
                               rtol=1e-6)
    assert f"{doc['n_collapsed']} of 5 latent dimensions collapse" in text


def test_vae_human_output_plot_and_theta(tmp_path):
    png = tmp_path / "p.png"
    doc, text = predict_json(tmp_path, "--data", "mnist:digit=3,n=300", "--latent-dim", "8",
                             "--eta-dec", "0.7", "--plot", str(png))
    assert "latent dimensions collapse" in text and "linear VAE" in text
    with Image.open(png) as im:
        im.verify()
    from vaecollapse.data import load
    x = load("mnist:digit=3,n=300").x.astype(np.float64)
    sv = np.linalg.svd(x / np.sqrt(len(x)), compute_uv=False)[:8]
    np.testing.assert_allclose([m["theta"] for m in doc["modes"]], sv, rtol=1e-6)
    assert doc["n_collapsed"] == int((sv < 0.7).sum())


def test_fixed_sigma_never_collapses_unless_equal_to_prior(tmp_path):
    doc, _ = predict_json(tmp_path, "--data", "synthetic:corr=random,dim=6,n=400", "--latent-dim",
                          "3", "--eta-dec", "3", "--sigma", "0.5,1,0.7")
    # σ = 1 = η_enc can collapse; σ = 0.5, 0.7 cannot (KL > 0 at the optimum).
    for m in doc["modes"]:
        if m["sigma"] != 1.0:
            assert not m["collapsed"] and m["kl"] > 0 and m["critical_beta"] is None


def test_mhvae_json_keys_and_null_for_missing(tmp_path):
    doc, _ = predict_json(tmp_path, "--model", "mhvae", "--data", "mnist:n=400", "--latent-dim", "4",
                          "--sigma1", "0.5", "--eta-enc", "0.5", "--eta-dec", "0.5", "--beta2", "3")
    for m in doc["modes"]:
        assert set(m) == VAE_KEYS | MHVAE_EXTRA
        assert m["critical_beta"] is None
        assert m["collapsed"] == m["collapsed_z2"]
    assert doc["n_collapsed"] == sum(m["collapsed_z2"] for m in doc["modes"])


def test_sweep_table_json_and_png(tmp_path, paired_npz):
    path, *_ = paired_npz
    png = tmp_path / "s.png"
    doc, _ = predict_json(tmp_path, "--model", "cvae", "--data", f"npz:{path}", "--latent-dim", "6",
                          "--sweep", "beta=0.05:20:25:log", "--plot", str(png))
    sw = doc["sweep"]
    assert sw["parameter"] == "beta" and len(sw["values"]) == 25
    assert sw["n_collapsed"] == sorted(sw["n_collapsed"])  # monotone in β
    assert sw["n_collapsed"][0] == 0 and sw["n_collapsed"][-1] == 6
    with Image.open(png) as im:
        im.verify()


@pytest.mark.parametrize("args,needle", [
    (["--beta", "-1"], "'--beta'"),
    (["--beta", "nan"], "--beta must be a finite number"),
    (["--eta-dec", "0"], "'--eta-dec'"),
    (["--latent-dim", "0"], "'--latent-dim'"),
    (["--model", "gan"], "unknown --model"),
    (["--model", "cvae"], "needs a condition"),
    (["--model", "mhvae", "--beta1", "2"], "unbounded below"),
    (["--model", "mhvae", "--latent-dims", "2,4"], "non-increasing"),
    (["--levels", "3"], "apply to the MHVAE"),
    (["--model", "mhvae", "--levels", "7"], "'--levels'"),
    (["--model", "mhvae", "--sigmas", "x"], "numbers or 'learn'"),
    (["--model", "mhvae", "--inference", "tree"], "markov or ladder"),
    (["--model", "mhvae", "--sigma1", "0.5", "--beta", "2"], "MHVAE takes --beta1"),
    (["--beta1", "2"], "--beta1 is for the MHVAE"),
    (["--sigma", "0.5,0.5"], "one value or one per latent dimension"),
    (["--sigma", "abc"], "numbers separated by commas"),
    (["--sigma", "-1"], "must be > 0"),
    (["--sweep", "beta"], "--sweep takes"),
    (["--sweep", "beta=1:0.1:1"], "COUNT of at least 2"),
    (["--sweep", "beta1=0.1:1:5"], "cannot sweep"),
    (["--sweep", "beta=-1,2"], "> 0"),
    (["--data", "npz:/no/such/file.npz"], "does not exist"),
    (["--data", "mnist:colour=red"], "colour"),
    (["--data", "mnist:part=validation"], "part=test"),
])
def test_bad_input_exit_2_one_line(args, needle):
    code, text = run("predict", "--data", "mnist:n=50", *args) if "--data" not in args else run(
        "predict", *args)
    assert code == 2, text
    assert needle in text
    assert "Traceback" not in text


def test_nan_data_file(tmp_path):
    path = tmp_path / "bad.npz"
    x = np.ones((10, 3))
    x[2, 1] = np.nan
    np.savez(path, x=x)
    code, text = run("predict", "--data", f"npz:{path}")
    assert code == 2 and "NaN" in text or "nan" in text.lower()


def test_console_script_exit_code_and_no_traceback(tmp_path):
    """The installed entry point itself: one line on stderr, exit code 2."""
    proc = subprocess.run([sys.executable, "-m", "vaecollapse.cli", "predict", "--data",
                           f"npz:{tmp_path}/missing.npz"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unwritable_output_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, text = run("predict", "--data", "mnist:n=50", "--latent-dim", "2", "--json",
                     str(blocker / "sub" / "p.json"))
    assert code == 2 and "cannot write" in text


def test_data_command():
    code, text = run("data", "mnist:digits=1,9,7,split=quarter")
    assert code == 0
    assert "dim_x=196" in text and "dim_y=588" in text


def test_mhvae_learnable_sigma1_numerical_json(tmp_path):
    """No --sigma1: the numerical theory, same contract plus solver/bounded; β1 < β2 with both
    variances learnable collapses z2 in every mode (docs/numerical-theory.md §3)."""
    doc, text = predict_json(tmp_path, "--model", "mhvae", "--data", "mnist:n=400", "--latent-dim",
                             "4", "--beta1", "0.5", "--beta2", "1.5")
    assert doc["solver"] == "numerical" and doc["bounded"] is True
    assert doc["n_collapsed"] == 4 and all(m["collapsed_z2"] for m in doc["modes"])
    assert [m["critical_beta2"] for m in doc["modes"]] == pytest.approx([0.5] * 4)
    assert VAE_KEYS | MHVAE_EXTRA <= set(doc["modes"][0])
    assert "collapsed modes per level: z1" in text


def test_mhvae_unbounded_exit_2_and_json(tmp_path):
    doc, text = predict_json(tmp_path, "--model", "mhvae", "--data", "mnist:n=400", "--latent-dim",
                             "4", "--beta1", "2", exit_code=2)
    assert "unbounded below" in text and "Traceback" not in text
    assert doc["bounded"] is False and doc["modes"] is None and "beta1 = 2" in doc["reason"]


def test_closed_form_json_says_closed_form(tmp_path):
    doc, _ = predict_json(tmp_path, "--data", "mnist:n=400", "--latent-dim", "4")
    assert doc["solver"] == "closed-form" and doc["bounded"] is True


def test_three_level_ladder_table_and_sweep_marks_unbounded(tmp_path):
    code, text = run("predict", "--model", "mhvae", "--data", "mnist:n=400", "--latent-dim", "3",
                     "--levels", "3", "--betas", "0.5,1,2", "--sigmas", "0.5,learn,learn",
                     "--inference", "ladder")
    assert code == 0, text
    assert "coll. z3" in text and "collapsed modes per level" in text
    doc, _ = predict_json(tmp_path, "--model", "mhvae", "--data", "mnist:n=400", "--latent-dim", "3",
                          "--beta1", "1", "--sweep", "beta2=0.5,2")
    sw = doc["sweep"]
    assert sw["bounded"] == [False, True] and sw["n_collapsed"][1] == 3
