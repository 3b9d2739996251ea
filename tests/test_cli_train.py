"""`vaecollapse train` and `vaecollapse diagnose`: the run → diagnostics round trip, the JSON
contract and plot, resume, Ctrl-C, and exit code 2 with one `error:` line on bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from patching import patch_batch_calls
from PIL import Image
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.models import VAE
from vaecollapse.runs.rundir import CHECKPOINT, METRICS, load_checkpoint

runner = CliRunner()

CONTRACT = {"levels", "mutual_information", "eps_delta", "n_collapsed", "log_likelihood", "theory"}
SYNTH = "synthetic:corr=gaussian-0.5,n=200,dim=8"
SMALL = ["--data", SYNTH, "--latent-dim", "2", "--hidden", "8", "--batch-size", "64",
         "--device", "cpu"]
BATCHES_PER_EPOCH = 4  # 200 rows in batches of 64
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")




def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def train_cli(out, *args):
    return invoke("train", "--out", out, *SMALL, *args)


def flat(text: str) -> str:
    """Text with rich's line wrapping undone (output to a non-terminal wraps at 120 columns)."""
    return " ".join(text.split())


def epochs_in(run) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / METRICS).read_text().splitlines()]


def assert_one_error_line(result, needle: str | None = None) -> str:
    """Exit code 2, no exception other than the exit, one `error:` line on stderr, nothing on
    stdout."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    if needle:
        assert needle in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished 2-epoch runs, trained through the CLI: a linear and an MLP VAE."""
    made = {}
    for backbone in ("linear", "mlp"):
        run = tmp_path_factory.mktemp("cli") / backbone
        result = train_cli(run, "--backbone", backbone, "--epochs", "2")
        assert result.exit_code == 0, result.output
        assert "epoch 2: loss" in result.stdout
        assert f"vaecollapse diagnose {run}" in flat(result.stdout)
        made[backbone] = run
    return made


# ------------------------------------------------------------------------------ diagnose


@pytest.mark.parametrize("backbone", ["linear", "mlp"])
def test_train_then_diagnose(tmp_path, runs, backbone):
    run = runs[backbone]
    j, p = tmp_path / "d.json", tmp_path / "d.png"
    result = invoke("diagnose", run, "--json", j, "--plot", p, "--is-samples", "50", "--points", "100")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""

    d = json.loads(j.read_text())
    assert CONTRACT <= set(d)
    assert d["run"] == {"dir": str(run), "epoch": 2, "data": SYNTH, "points": 100}
    assert [lev["name"] for lev in d["levels"]] == ["z"]
    assert len(d["levels"][0]["kl_per_dim"]) == 2
    assert d["log_likelihood"]["samples"] == 50
    assert math.isfinite(d["log_likelihood"]["estimate"])
    with Image.open(p) as im:
        im.verify()
        assert im.format == "PNG"

    text = flat(result.stdout)
    assert "log-likelihood" in text
    assert f"wrote {j}" in text and f"wrote {p}" in text
    if backbone == "linear":
        assert "theory:" in text
        assert d["theory"] is not None and d["log_likelihood"]["exact"] is not None
    else:
        assert "theory:" not in text
        assert d["theory"] is None and d["log_likelihood"]["exact"] is None


def test_diagnose_is_samples_0_skips_the_likelihood(tmp_path, runs):
    j = tmp_path / "d.json"
    result = invoke("diagnose", runs["mlp"], "--json", j, "--is-samples", "0")
    assert result.exit_code == 0, result.output
    assert json.loads(j.read_text())["log_likelihood"] is None
    assert "log-likelihood" not in result.stdout


def test_diagnose_on_data_of_other_dimensions(runs):
    result = invoke("diagnose", runs["linear"], "--data", "synthetic:corr=gaussian-0.5,n=200,dim=6")
    assert_one_error_line(result, "different dimensions")


def test_diagnose_missing_run_directory(tmp_path):
    assert_one_error_line(invoke("diagnose", tmp_path / "nope"), "not a vaecollapse run directory")


@pytest.mark.parametrize("args,needle", [
    (["--points", "-1"], "'--points'"),
    (["--is-samples", "-5"], "'--is-samples'"),
    (["--delta", "1"], "--delta"),
    (["--epsilon", "0"], "--epsilon"),
    (["--data", "npz:/no/such/file.npz"], "does not exist"),
])
def test_diagnose_bad_options(runs, args, needle):
    assert_one_error_line(invoke("diagnose", runs["mlp"], *args), needle)


# ------------------------------------------------------------------------------ train errors


@pytest.mark.parametrize("args,needle", [
    (["--model", "gan"], "unknown model 'gan'"),
    (["--backbone", "transformer"], "unknown backbone 'transformer'"),
    (["--model", "cvae", "--data", "mnist:n=100"], "has no y"),
    (["--model", "mhvae", "--beta", "2"], "MHVAE takes beta1"),
    (["--model", "vae", "--beta1", "2"], "not beta1"),
    (["--hidden", "0"], "hidden sizes"),
    (["--hidden", "8,x"], "hidden takes"),
    (["--lr", "-1"], "lr must be"),
    (["--lr", "nan"], "lr must be"),
    (["--latent-dim", "0"], "'--latent-dim'"),
    (["--batch-size", "0"], "'--batch-size'"),
    (["--epochs", "-1"], "epochs"),
    (["--clip", "0"], "clip"),
    (["--schedule", "step"], "schedule"),
    (["--beta", "0"], "beta"),
    (["--backbone", "cnn"], "image data"),
    (["--backbone", "resnet18", "--model", "cvae"], "resnet18"),
    (["--device", "tpu"], "device"),
    pytest.param(["--device", "cuda"], "no CUDA device", marks=NO_CUDA),
    pytest.param(["--device", "cuda:0"], "no CUDA device", marks=NO_CUDA),
    (["--data", "npz:/no/such/file.npz"], "does not exist"),
    (["--data", "mnist:colour=red"], "colour"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_train_bad_input_exit_2_one_line(tmp_path, args, needle):
    out = tmp_path / "run"
    result = invoke("train", "--out", out, *SMALL, "--epochs", "1", *args)
    assert_one_error_line(result, needle)
    assert not out.exists()  # nothing is left behind


def test_train_into_an_existing_run_needs_resume(runs):
    before = (runs["mlp"] / CHECKPOINT).read_bytes()
    assert_one_error_line(train_cli(runs["mlp"], "--epochs", "2"), "resume it")
    assert (runs["mlp"] / CHECKPOINT).read_bytes() == before


def test_resume_of_a_missing_run(tmp_path):
    assert_one_error_line(invoke("train", "--resume", "--out", tmp_path / "nope"), "config.json")


# ------------------------------------------------------------------------------ --config


def test_train_from_a_saved_config_gives_the_same_run(runs, tmp_path):
    """`train --config RUN/config.json` re-launches the run: same settings, same seed, the same
    numbers (deterministic on CPU)."""
    for backbone, run in runs.items():
        again = tmp_path / backbone
        result = invoke("train", "--config", run / "config.json", "--out", again)
        assert result.exit_code == 0, result.output
        assert (json.loads((again / "config.json").read_text())
                == {**json.loads((run / "config.json").read_text()),
                    "runtime": json.loads((again / "config.json").read_text())["runtime"]})
        first = [{k: v for k, v in m.items() if k != "seconds"}
                 for m in map(json.loads, (run / METRICS).read_text().splitlines())]
        second = [{k: v for k, v in m.items() if k != "seconds"}
                  for m in map(json.loads, (again / METRICS).read_text().splitlines())]
        assert second == first
        a, b = load_checkpoint(run)["model"], load_checkpoint(again)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_from_a_run_directory_and_an_old_config(runs, tmp_path):
    """--config takes a run directory too, and a config.json in the layout before
    schema_version (flat hyperparameters) is read as it was meant."""
    saved = json.loads((runs["linear"] / "config.json").read_text())
    old = {k: v for k, v in saved.items() if k != "schema_version"}
    hp = old["model"].pop("hyperparameters")
    old["model"].update({"beta": 1.0, "beta1": 1.0, "beta2": 1.0, "eta_enc": 1.0,
                         "eta_dec": 1.0, "sigma": None, "sigma1": None, "sigma2": None, **hp})
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(old))
    for source, out in ((runs["linear"], tmp_path / "a"), (tmp_path / "old", tmp_path / "b")):
        result = invoke("train", "--config", source, "--out", out)
        assert result.exit_code == 0, result.output
        assert epochs_in(out) == epochs_in(runs["linear"])
    assert (tmp_path / "a" / METRICS).read_text().count("\n") == 2


@pytest.mark.parametrize("args,needle", [
    (["--lr", "0.5"], "--lr cannot be given beside it"),
    (["--model", "vae", "--epochs", "3"], "--model, --epochs"),
    (["--resume"], "--resume"),
])
def test_train_config_conflicts_with_run_options(runs, tmp_path, args, needle):
    out = tmp_path / "run"
    assert_one_error_line(invoke("train", "--config", runs["mlp"] / "config.json", "--out", out,
                                 *args), needle)
    assert not out.exists()


def count_loads(monkeypatch) -> list[str]:
    import vaecollapse.config.options
    import vaecollapse.data

    loaded, load = [], vaecollapse.data.load

    def counting(spec):
        loaded.append(spec)
        return load(spec)

    monkeypatch.setattr(vaecollapse.data, "load", counting)
    monkeypatch.setattr(vaecollapse.config.options, "load", counting)  # where runs load their data
    return loaded


def test_a_run_loads_its_data_once(tmp_path, monkeypatch):
    """Sizing the model and training share one load per data spec (training and evaluation
    data), in the CLI and in a sweep's worker."""
    loaded = count_loads(monkeypatch)
    assert train_cli(tmp_path / "a", "--epochs", "1").exit_code == 0
    assert loaded == [SYNTH]
    loaded.clear()
    other = SYNTH.replace("n=200", "n=100")
    assert train_cli(tmp_path / "b", "--epochs", "1", "--eval-data", other).exit_code == 0
    assert sorted(loaded) == sorted([SYNTH, other])
    loaded.clear()
    from vaecollapse.runs.executors import run_one

    run_one({"data": SYNTH, "latent_dim": 2, "hidden": "8", "epochs": 1, "device": "cpu"},
            str(tmp_path / "c"))
    assert loaded == [SYNTH]


def test_train_config_missing_file(tmp_path):
    assert_one_error_line(invoke("train", "--config", tmp_path / "none.json", "--out",
                                 tmp_path / "run"), "none.json")


# ------------------------------------------------------------------------------ resume, Ctrl-C


def test_resume_continues_to_the_new_total(tmp_path):
    run = tmp_path / "run"
    assert train_cli(run, "--epochs", "2").exit_code == 0
    assert epochs_in(run) == [1, 2]
    # options other than --epochs are ignored on resume: the saved config wins
    result = invoke("train", "--resume", "--out", run, "--epochs", "3", "--lr", "0.5")
    assert result.exit_code == 0, result.output
    assert "epoch 3: loss" in result.stdout
    assert epochs_in(run) == [1, 2, 3]
    assert load_checkpoint(run)["epoch"] == 3
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-3


def interrupt_at(monkeypatch, call: int):
    calls = {"n": 0}

    def make(original):
        def batch_call(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == call:
                raise KeyboardInterrupt
            return original(self, *args, **kwargs)
        return batch_call

    patch_batch_calls(monkeypatch, VAE, make)


def test_ctrl_c_exits_130_and_resume_finishes(tmp_path, monkeypatch):
    run = tmp_path / "run"
    interrupt_at(monkeypatch, 2 * BATCHES_PER_EPOCH + 2)  # epoch 3, batch 2
    result = train_cli(run, "--epochs", "4")
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr and f"--resume --out {run}" in flat(result.stderr)
    assert "Traceback" not in result.output
    assert load_checkpoint(run)["epoch"] == 2 and epochs_in(run) == [1, 2]
    assert not any(p.name.startswith(".") for p in run.iterdir())

    monkeypatch.undo()
    result = invoke("train", "--resume", "--out", run, "--epochs", "4")
    assert result.exit_code == 0, result.output
    assert epochs_in(run) == [1, 2, 3, 4]


def test_printed_resume_command_keeps_the_saved_epochs(tmp_path, monkeypatch):
    run = tmp_path / "run"
    interrupt_at(monkeypatch, BATCHES_PER_EPOCH + 1)  # epoch 2, batch 1
    assert train_cli(run, "--epochs", "4").exit_code == 130
    monkeypatch.undo()
    result = invoke("train", "--resume", "--out", run)  # exactly the hint printed on Ctrl-C
    assert result.exit_code == 0, result.output
    assert epochs_in(run) == [1, 2, 3, 4]


# ------------------------------------------------------------------------------ bugs (xfail)


def test_out_is_an_existing_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_error_line(train_cli(blocker, "--epochs", "1"))


def test_learning_rate_beyond_float32(tmp_path):
    assert_one_error_line(train_cli(tmp_path / "run", "--epochs", "1", "--lr", "1e39"), "lr")


def test_zero_epochs_gives_a_diagnosable_run_or_an_error(tmp_path):
    run = tmp_path / "run"
    result = train_cli(run, "--epochs", "0")
    assert result.exit_code == 2 or invoke("diagnose", run, "--is-samples", "0").exit_code == 0


def test_diagnose_with_a_checkpoint_of_another_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert train_cli(a, "--epochs", "1").exit_code == 0
    assert invoke("train", "--out", b, *SMALL, "--epochs", "1", "--latent-dim", "3").exit_code == 0
    (a / CHECKPOINT).write_bytes((b / CHECKPOINT).read_bytes())
    assert_one_error_line(invoke("diagnose", a))


# ------------------------------------------------------------------------------ real process


def test_module_entry_point_one_stderr_line(tmp_path):
    out = tmp_path / "D"
    proc = subprocess.run([sys.executable, "-m", "vaecollapse.cli", "train", "--out", str(out),
                           "--data", "npz:/missing.npz"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "/missing.npz" in lines[0] and "does not exist" in lines[0]
    assert proc.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize(("command", "default"), [
    ("train", "[default: 1]"), ("train", "[default: 20]"), ("sweep", "[default: CPU count]"),
    ("sweep-summary", "[default: the first]"), ("reproduce", "[default: CPU count]")])
def test_help_shows_defaults_written_in_the_help_text(command, default):
    # rich markup would silently eat an unescaped "[default: …]"
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert default in " ".join(result.output.replace("│", " ").split())  # help column unwrapped
