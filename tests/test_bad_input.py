"""The bad-input battery: every command, fed bad specs, files, hyperparameters, paths and corrupt
state files, answers with exit code 2, exactly one `error:` line on stderr, nothing on stdout
(the input is rejected before any work or output) and no traceback.

Run in-process through typer's CliRunner (the same `main` the console script calls), so 150+
cases take seconds. README "Reliability" states the battery's size; `test_battery_size` keeps it
honest.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.lock import locked

runner = CliRunner()
SYNTH = "synthetic:corr=gaussian-0.5,n=40,dim=4"
TINY = ["--data", SYNTH, "--latent-dim", "2", "--hidden", "4", "--batch-size", "20",
        "--device", "cpu", "--epochs", "1"]
GRID_BASE = ["--", "--data", SYNTH, "--latent-dim", "2", "--hidden", "4", "--epochs", "1"]


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Shared read-only material: a finished tiny run, a sweep directory, a file, a read-only
    directory and assorted broken data files."""
    from vaecollapse.config import config_from_options
    from vaecollapse.runs.train import train

    base = tmp_path_factory.mktemp("battery")
    run = base / "run"
    cfg = config_from_options(data=SYNTH, backbone="linear", latent_dim=2, epochs=1,
                              batch_size=20, device="cpu", diagnostics_is_samples=5)
    train(cfg, run, progress=False)
    file = base / "file.txt"
    file.write_text("not a directory\n")
    ro = base / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores permissions: use a read-only system directory
        ro = Path("/proc/sys")
        if os.access(ro, os.W_OK):
            pytest.skip("no read-only directory available")
    sweep = base / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"grid": {"beta": [1.0]}, "seeds": 1, "base": {
        "data": SYNTH, "backbone": "linear", "latent_dim": 2, "epochs": 1}}))
    (sweep / "index.csv").write_text(
        "run,beta,seed,status,run_dir,epoch,loss,recon,kl_total,n_collapsed,active_units,"
        "log_likelihood,error\nbeta=1_seed=0,1,0,done,runs/beta=1_seed=0,1,1.5,1.2,0.3,0,2,-3.1,\n")
    npz = base / "npz"
    npz.mkdir()
    (npz / "text.npz").write_text("hello")
    np.save(npz / "single.npy", np.ones((5, 2)))
    shutil.move(npz / "single.npy", npz / "single.npz")
    np.savez(npz / "nox.npz", y=np.ones((5, 2)))
    x = np.ones((5, 2))
    x[1, 1] = np.nan
    np.savez(npz / "nan.npz", x=x)
    np.savez(npz / "onerow.npz", x=np.ones((1, 3)))
    np.savez(npz / "cube.npz", x=np.ones((4, 2, 2)))
    np.savez(npz / "strings.npz", x=np.array([["a", "b"], ["c", "d"]]))
    np.savez(npz / "huge.npz", x=np.full((3, 2), 1e39))
    np.savez(npz / "ymismatch.npz", x=np.ones((5, 2)), y=np.ones((4, 2)))
    with zipfile.ZipFile(npz / "badzip.npz", "w") as z:
        z.writestr("x.npy", b"garbage")
    (npz / "empty").mkdir()
    yield {"base": base, "run": run, "file": file, "ro": ro, "sweep": sweep, "npz": npz}
    (base / "readonly").chmod(0o755)


def copy_run(world, tmp: Path) -> Path:
    dst = tmp / "r"
    shutil.copytree(world["run"], dst)
    return dst


def edit_config(change):
    """Setup: a copy of the run whose config.json is ``change``d (a function of the dict, or
    raw bytes/text to write instead)."""

    def setup(world, tmp):
        r = copy_run(world, tmp)
        if callable(change):
            cfg = json.loads((r / "config.json").read_text())
            change(cfg)
            (r / "config.json").write_text(json.dumps(cfg))
        elif change == "DIR":
            (r / "config.json").unlink()
            (r / "config.json").mkdir()
        else:
            (r / "config.json").write_bytes(change if isinstance(change, bytes) else change.encode())
        return {"r": r}

    return setup


def edit_checkpoint(change):
    """Setup: a copy of the run whose checkpoint.pt is replaced (bytes) or edited (a function
    of the loaded dict)."""

    def setup(world, tmp):
        r = copy_run(world, tmp)
        path = r / "checkpoint.pt"
        if callable(change):
            ckpt = torch.load(path, weights_only=True)
            change(ckpt)
            torch.save(ckpt, path)
        else:
            path.write_bytes(change)
        return {"r": r}

    return setup


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def malicious(world, tmp):
    r = copy_run(world, tmp)
    ckpt = torch.load(r / "checkpoint.pt", weights_only=True)
    ckpt["history"] = [Evil()]
    torch.save(ckpt, r / "checkpoint.pt")
    return {"r": r}


def plain_pickle(world, tmp):
    r = copy_run(world, tmp)
    with open(r / "checkpoint.pt", "wb") as f:
        pickle.dump({"epoch": 1}, f, protocol=4)
    return {"r": r}


def other_run_checkpoint(world, tmp):
    from vaecollapse.config import config_from_options
    from vaecollapse.runs.train import train

    r = copy_run(world, tmp)
    cfg = config_from_options(data=SYNTH, backbone="linear", latent_dim=3, epochs=1,
                              batch_size=20, device="cpu", diagnostics_is_samples=5)
    train(cfg, tmp / "other", progress=False)
    shutil.copy(tmp / "other" / "checkpoint.pt", r / "checkpoint.pt")
    return {"r": r}


def edit_sweep(name: str, content):
    """Setup: a copy of the sweep directory with ``name`` replaced by ``content`` (str, bytes,
    a JSON-able object, or "DIR")."""

    def setup(world, tmp):
        s = tmp / "s"
        shutil.copytree(world["sweep"], s)
        path = s / name
        path.unlink()
        if content == "DIR":
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content))
        return {"s": s}

    return setup


def bad_claims(content):
    def setup(world, tmp):
        d = tmp / "rep" / "verify-thm1"
        d.mkdir(parents=True)
        (d / "claims.json").write_text(content)
        return {"rep": tmp / "rep"}

    return setup


@contextlib.contextmanager
def _held(path):
    with locked(path):
        yield


HELD: list = []


def hold_lock(what: str):
    """Setup: a directory whose lock another writer holds (here: this process through another
    open file, which flock treats as another holder)."""

    def setup(world, tmp):
        d = copy_run(world, tmp) if what == "run" else tmp / what
        stack = contextlib.ExitStack()
        stack.enter_context(_held(d))
        HELD.append(stack)
        return {"locked": d}

    return setup


def _fresh(world, tmp):
    return {}


# ------------------------------------------------------------------------------ the cases

U = None  # no setup
CASES: list[tuple[str, list[str], object, str | None]] = [
    # --- usage errors (typer), every command
    ("no such command", ["frobnicate"], U, "No such command"),
    ("predict unknown option", ["predict", "--nope"], U, "--nope"),
    ("predict option without value", ["predict", "--model"], U, "--model"),
    ("predict int not a number", ["predict", "--latent-dim", "abc"], U, "--latent-dim"),
    ("predict float not a number", ["predict", "--beta", "x"], U, "--beta"),
    ("predict flag with value", ["predict", "--centre=1"], U, None),
    ("train without --out", ["train", *TINY], U, "--out"),
    ("train epochs not whole", ["train", "--out", "{tmp}/r", *TINY, "--epochs", "1.5"], U, "--epochs"),
    ("train unknown option", ["train", "--out", "{tmp}/r", "--frob"], U, "--frob"),
    ("train --out without value", ["train", "--out"], U, "--out"),
    ("diagnose without run", ["diagnose"], U, "run_dir"),
    ("diagnose extra argument", ["diagnose", "{run}", "extra"], U, "extra"),
    ("diagnose seed not a number", ["diagnose", "{run}", "--seed", "s"], U, "--seed"),
    ("sweep without --grid", ["sweep", "--out", "{tmp}/s"], U, "--grid"),
    ("sweep without --out", ["sweep", "--grid", "beta=1"], U, "--out"),
    ("sweep-summary without dir", ["sweep-summary"], U, "sweep_dir"),
    ("report without dir", ["report"], U, "out_dir"),
    ("data two specs", ["data", "mnist", "synthetic"], U, None),
    ("reproduce jobs not a number", ["reproduce", "fig3a", "--jobs", "x"], U, "--jobs"),
    ("reproduce unknown option", ["reproduce", "--quick"], U, "--quick"),
    # --- predict: values and ranges
    ("predict eta-dec 1e200", ["predict", "--data", SYNTH, "--eta-dec", "1e200"], U, "--eta-dec"),
    ("predict beta, eta-dec 1e308", ["predict", "--data", SYNTH, "--beta", "1e308", "--eta-dec",
                                     "1e308"], U, "--beta"),
    ("predict beta tiny", ["predict", "--data", SYNTH, "--beta", "1e-9"], U, "--beta"),
    ("predict beta negative", ["predict", "--data", SYNTH, "--beta", "-1"], U, "--beta"),
    ("predict beta nan", ["predict", "--data", SYNTH, "--beta", "nan"], U, "--beta"),
    ("predict beta inf", ["predict", "--data", SYNTH, "--beta", "inf"], U, "--beta"),
    ("predict eta-enc 0", ["predict", "--data", SYNTH, "--eta-enc", "0"], U, "--eta-enc"),
    ("predict latent-dim 100000", ["predict", "--data", SYNTH, "--latent-dim", "100000"], U,
     "--latent-dim"),
    ("predict latent-dim -1", ["predict", "--data", SYNTH, "--latent-dim", "-1"], U, "--latent-dim"),
    ("predict sigma huge", ["predict", "--data", SYNTH, "--sigma", "1e9"], U, "sigma"),
    ("predict sigma list huge", ["predict", "--data", SYNTH, "--latent-dim", "2", "--sigma",
                                 "0.5,1e9"], U, "sigma"),
    ("predict sigma text", ["predict", "--data", SYNTH, "--sigma", "a,b"], U, "--sigma"),
    ("predict sigma1 huge", ["predict", "--data", SYNTH, "--model", "mhvae", "--sigma1", "1e9"], U,
     "--sigma1"),
    ("predict mhvae unbounded", ["predict", "--data", SYNTH, "--model", "mhvae", "--beta1", "2",
                                 "--beta2", "1"], U, "unbounded"),
    ("predict mhvae with beta", ["predict", "--data", SYNTH, "--model", "mhvae", "--sigma1", "1",
                                 "--beta", "2"], U, "--beta1"),
    ("predict vae with beta2", ["predict", "--data", SYNTH, "--beta2", "2"], U, "--beta2"),
    ("predict unknown model", ["predict", "--data", SYNTH, "--model", "gan"], U, "--model"),
    ("predict cvae without y", ["predict", "--data", "mnist:n=50", "--model", "cvae"], U, "no y"),
    ("predict sweep count 1e12", ["predict", "--data", SYNTH, "--sweep", "beta=1:2:1000000000000"],
     U, "COUNT"),
    ("predict sweep count 1", ["predict", "--data", SYNTH, "--sweep", "beta=1:2:1"], U, "COUNT"),
    ("predict sweep no values", ["predict", "--data", SYNTH, "--sweep", "beta="], U, "--sweep"),
    ("predict sweep text", ["predict", "--data", SYNTH, "--sweep", "beta=a:b:3"], U, "--sweep"),
    ("predict sweep negative", ["predict", "--data", SYNTH, "--sweep", "beta=-1,2"], U, "> 0"),
    ("predict sweep log from 0", ["predict", "--data", SYNTH, "--sweep", "beta=0:1:5:log"], U, "log"),
    ("predict sweep unknown param", ["predict", "--data", SYNTH, "--sweep", "lr=1,2"], U, "lr"),
    ("predict sweep beyond range", ["predict", "--data", SYNTH, "--sweep", "eta_dec=1:1e300:3"], U,
     "eta_dec"),
    ("predict sweep beta1 on vae", ["predict", "--data", SYNTH, "--sweep", "beta1=1,2"], U, "beta1"),
    # --- train: values and ranges
    ("train seed 1e20", ["train", "--out", "{tmp}/r", *TINY, "--seed", "99999999999999999999"], U,
     "--seed"),
    ("train seed -1", ["train", "--out", "{tmp}/r", *TINY, "--seed", "-1"], U, "--seed"),
    ("train latent-dim 100000", ["train", "--out", "{tmp}/r", *TINY, "--latent-dim", "100000"], U,
     "--latent-dim"),
    ("train hidden 1e8", ["train", "--out", "{tmp}/r", *TINY, "--hidden", "100000000"], U, "hidden"),
    ("train hidden -3", ["train", "--out", "{tmp}/r", *TINY, "--hidden", "-3"], U, "hidden"),
    ("train hidden text", ["train", "--out", "{tmp}/r", *TINY, "--hidden", "big"], U, "hidden"),
    ("train epochs 0", ["train", "--out", "{tmp}/r", *TINY, "--epochs", "0"], U, "--epochs"),
    ("train epochs 1e7", ["train", "--out", "{tmp}/r", *TINY, "--epochs", "10000000"], U, "--epochs"),
    ("train batch-size -1", ["train", "--out", "{tmp}/r", *TINY, "--batch-size", "-1"], U,
     "--batch-size"),
    ("train threads 0", ["train", "--out", "{tmp}/r", *TINY, "--threads", "0"], U, "--threads"),
    ("train threads 1e5", ["train", "--out", "{tmp}/r", *TINY, "--threads", "100000"], U, "--threads"),
    ("train eta-dec 1e200", ["train", "--out", "{tmp}/r", *TINY, "--eta-dec", "1e200"], U, "--eta-dec"),
    ("train beta 1e308", ["train", "--out", "{tmp}/r", *TINY, "--beta", "1e308"], U, "--beta"),
    ("train sigma 0", ["train", "--out", "{tmp}/r", *TINY, "--sigma", "0"], U, "--sigma"),
    ("train sigma 1e7", ["train", "--out", "{tmp}/r", *TINY, "--sigma", "1e7"], U, "--sigma"),
    ("train lr 0", ["train", "--out", "{tmp}/r", *TINY, "--lr", "0"], U, "lr"),
    ("train lr inf", ["train", "--out", "{tmp}/r", *TINY, "--lr", "inf"], U, "lr"),
    ("train lr 1e39", ["train", "--out", "{tmp}/r", *TINY, "--lr", "1e39"], U, "lr"),
    ("train clip -1", ["train", "--out", "{tmp}/r", *TINY, "--clip", "-1"], U, "clip"),
    ("train clip nan", ["train", "--out", "{tmp}/r", *TINY, "--clip", "nan"], U, "clip"),
    ("train schedule", ["train", "--out", "{tmp}/r", *TINY, "--schedule", "step"], U, "schedule"),
    ("train device", ["train", "--out", "{tmp}/r", *TINY, "--device", "tpu"], U, "device"),
    ("train model", ["train", "--out", "{tmp}/r", *TINY, "--model", "gan"], U, "unknown model"),
    ("train backbone", ["train", "--out", "{tmp}/r", *TINY, "--backbone", "rnn"], U, "backbone"),
    ("train cnn on vectors", ["train", "--out", "{tmp}/r", *TINY, "--backbone", "cnn"], U, "image"),
    ("train resnet cvae", ["train", "--out", "{tmp}/r", *TINY, "--backbone", "resnet18", "--model",
                           "cvae"], U, "resnet18"),
    ("train mhvae beta", ["train", "--out", "{tmp}/r", *TINY, "--model", "mhvae", "--beta", "2"], U,
     "MHVAE"),
    ("train vae sigma2", ["train", "--out", "{tmp}/r", *TINY, "--sigma2", "1"], U, "MHVAE"),
    ("train cvae without y", ["train", "--out", "{tmp}/r", *TINY, "--model", "cvae", "--data",
                              "mnist:n=50"], U, "no y"),
    ("train into a finished run", ["train", "--out", "{run}", *TINY], U, "resume it"),
    ("train resume a missing run", ["train", "--resume", "--out", "{tmp}/none"], U, "config.json"),
    # --- diagnose: values and ranges
    ("diagnose points -1", ["diagnose", "{run}", "--points", "-1"], U, "--points"),
    ("diagnose is-samples -1", ["diagnose", "{run}", "--is-samples", "-1"], U, "--is-samples"),
    ("diagnose is-samples 1e7", ["diagnose", "{run}", "--is-samples", "10000000"], U, "--is-samples"),
    ("diagnose seed -1", ["diagnose", "{run}", "--seed", "-1"], U, "--seed"),
    ("diagnose seed 2^64", ["diagnose", "{run}", "--seed", "18446744073709551616"], U, "--seed"),
    ("diagnose epsilon 0", ["diagnose", "{run}", "--epsilon", "0"], U, "--epsilon"),
    ("diagnose epsilon nan", ["diagnose", "{run}", "--epsilon", "nan"], U, "--epsilon"),
    ("diagnose delta 0", ["diagnose", "{run}", "--delta", "0"], U, "--delta"),
    ("diagnose delta 1.5", ["diagnose", "{run}", "--delta", "1.5"], U, "--delta"),
    ("diagnose threads 0", ["diagnose", "{run}", "--threads", "0"], U, "--threads"),
    ("diagnose missing run", ["diagnose", "{tmp}/none"], U, "not a vaecollapse run"),
    ("diagnose a file", ["diagnose", "{file}"], U, None),
    ("diagnose other dimensions", ["diagnose", "{run}", "--data", "synthetic:n=40,dim=5"], U,
     "dimensions"),
    ("diagnose bad data", ["diagnose", "{run}", "--data", "npz:/no/such.npz"], U, "does not exist"),
    # --- sweep: values, grids and ranges
    ("sweep retries -1", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--retries", "-1",
                          *GRID_BASE], U, "--retries"),
    ("sweep retries 1000", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--retries", "1000",
                            *GRID_BASE], U, "--retries"),
    ("sweep seeds 0", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--seeds", "0", *GRID_BASE],
     U, "--seeds"),
    ("sweep seeds 1e5", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--seeds", "100000",
                         *GRID_BASE], U, "--seeds"),
    ("sweep jobs 0", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--jobs", "0", *GRID_BASE], U,
     "jobs must be"),
    ("sweep jobs 1e5", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--jobs", "100000",
                        *GRID_BASE], U, "jobs must be"),
    ("sweep executor", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--executor", "dask",
                        *GRID_BASE], U, "executor"),
    ("sweep grid beta 0", ["sweep", "--out", "{tmp}/s", "--grid", "beta=0", *GRID_BASE], U, "beta"),
    ("sweep grid beta 1e200", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1e200", *GRID_BASE], U,
     "beta"),
    ("sweep grid latent 1e5", ["sweep", "--out", "{tmp}/s", "--grid", "latent_dim=100000",
                               *GRID_BASE], U, "latent"),
    ("sweep grid seed -1", ["sweep", "--out", "{tmp}/s", "--grid", "seed=-1", *GRID_BASE], U, "seed"),
    ("sweep grid unknown", ["sweep", "--out", "{tmp}/s", "--grid", "colour=1", *GRID_BASE], U,
     "colour"),
    ("sweep grid without =", ["sweep", "--out", "{tmp}/s", "--grid", "beta", *GRID_BASE], U, "--grid"),
    ("sweep grid empty", ["sweep", "--out", "{tmp}/s", "--grid", "beta=", *GRID_BASE], U, "--grid"),
    ("sweep grid twice", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--grid", "beta=2",
                          *GRID_BASE], U, "twice"),
    ("sweep grid out", ["sweep", "--out", "{tmp}/s", "--grid", "out_dir=x", *GRID_BASE], U, "out_dir"),
    ("sweep base epochs 0", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", *GRID_BASE,
                             "--epochs", "0"], U, "--epochs"),
    ("sweep base model", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", *GRID_BASE, "--model",
                          "gan"], U, "unknown model"),
    ("sweep base unknown", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", *GRID_BASE, "--frob"],
     U, "--frob"),
    ("sweep base data", ["sweep", "--out", "{tmp}/s", "--grid", "beta=1", "--", "--data", "nope"], U,
     "nope"),
    # --- sweep-summary, report, reproduce
    ("sweep-summary not a sweep", ["sweep-summary", "{tmp}"], U, "not a sweep"),
    ("sweep-summary unknown x", ["sweep-summary", "{sweep}", "--x", "lr"], U, "grid parameter"),
    ("sweep-summary unknown metric", ["sweep-summary", "{sweep}", "--metrics", "elbo"], U, "elbo"),
    ("sweep-summary no metric", ["sweep-summary", "{sweep}", "--metrics", ","], U, "metric"),
    ("report not a directory", ["report", "{tmp}/none"], U, "not a directory"),
    ("report a file", ["report", "{file}"], U, "not a directory"),
    ("reproduce no names", ["reproduce", "--out", "{tmp}/rep"], U, "name the experiments"),
    ("reproduce unknown name", ["reproduce", "fig99", "--out", "{tmp}/rep"], U, "fig99"),
    ("reproduce unknown profile", ["reproduce", "fig3a", "--profile", "full", "--out",
                                   "{tmp}/rep"], U, "--profile"),
    ("reproduce executor", ["reproduce", "verify-thm1", "--executor", "dask", "--out", "{tmp}/rep"],
     U, "executor"),
    ("reproduce jobs 0", ["reproduce", "verify-thm1", "--jobs", "0", "--out", "{tmp}/rep"], U,
     "jobs must be"),
    # --- data specs and files
    ("data too big", ["data", "synthetic:n=99999999999,dim=99999999"], U, "smaller"),
    ("data n 1", ["data", "synthetic:n=1"], U, "n="),
    ("data dim 0", ["data", "synthetic:dim=0"], U, "dim"),
    ("data corr", ["data", "synthetic:corr=perfect"], U, "corr"),
    ("data n text", ["data", "synthetic:n=abc"], U, "n="),
    ("data seed -1", ["data", "synthetic:seed=-1"], U, "seed"),
    ("data digit 11", ["data", "mnist:digit=11"], U, "digit"),
    ("data digit and digits", ["data", "mnist:digit=1,digits=2"], U, "digit"),
    ("data n too many", ["data", "mnist:n=99999999"], U, "n="),
    ("data split", ["data", "mnist:split=third"], U, "split"),
    ("data part validation", ["data", "mnist:part=validation"], U, "part=test"),
    ("data unknown key", ["data", "mnist:colour=red"], U, "colour"),
    ("data key twice", ["data", "mnist:n=5,n=6"], U, "twice"),
    ("data empty item", ["data", "mnist:n=5,,seed=1"], U, "empty item"),
    ("data empty spec", ["data", ""], U, "empty"),
    ("data unknown source", ["data", "imagenet"], U, "imagenet"),
    ("data npz no path", ["data", "npz:"], U, "path"),
    ("data npz missing", ["data", "npz:/no/such/file.npz"], U, "does not exist"),
    ("data npz directory", ["data", "npz:{npz}/empty"], U, "directory"),
    ("data npz text", ["data", "npz:{npz}/text.npz"], U, "not an .npz"),
    ("data npz single array", ["data", "npz:{npz}/single.npz"], U, ".npy"),
    ("data npz without x", ["data", "npz:{npz}/nox.npz"], U, "'x'"),
    ("data npz nan", ["data", "npz:{npz}/nan.npz"], U, "NaN"),
    ("data npz one row", ["data", "npz:{npz}/onerow.npz"], U, "at least 2"),
    ("data npz 3-d", ["data", "npz:{npz}/cube.npz"], U, "shape"),
    ("data npz strings", ["data", "npz:{npz}/strings.npz"], U, "non-numeric"),
    ("data npz beyond float32", ["data", "npz:{npz}/huge.npz"], U, "float32"),
    ("data npz y rows", ["data", "npz:{npz}/ymismatch.npz"], U, "rows"),
    ("data npz corrupt zip", ["data", "npz:{npz}/badzip.npz"], U, None),
    ("data idx missing", ["data", "idx:/no/such/dir"], U, None),
    ("data idx empty dir", ["data", "idx:{npz}/empty"], U, None),
    ("data markup [/] in path", ["data", "npz:{tmp}/x[/]y.npz"], U, "x[/]y.npz"),
    ("data markup [red] in path", ["data", "npz:{tmp}/[red]x.npz"], U, "[red]x.npz"),
    ("data emoji code in path", ["data", "npz:{tmp}/:smile:.npz"], U, ":smile:.npz"),
    ("train markup in --data", ["train", "--out", "{tmp}/r", *TINY, "--data", "npz:[bold]x[/]"], U,
     "[bold]x[/]"),
    # --- output paths, checked before any work
    ("predict plot suffix", ["predict", "--data", SYNTH, "--plot", "{tmp}/p.xyz"], U, ".xyz"),
    ("predict plot under a file", ["predict", "--data", SYNTH, "--plot", "{file}/p.png"], U, "file"),
    ("predict plot is a directory", ["predict", "--data", SYNTH, "--plot", "{tmp}"], U, "directory"),
    ("predict plot read-only", ["predict", "--data", SYNTH, "--plot", "{ro}/p.png"], U, "writable"),
    ("predict json under a file", ["predict", "--data", SYNTH, "--json", "{file}/p.json"], U, "file"),
    ("predict json read-only", ["predict", "--data", SYNTH, "--json", "{ro}/p.json"], U, "writable"),
    ("predict sweep plot suffix", ["predict", "--data", SYNTH, "--sweep", "beta=1,2", "--plot",
                                   "{tmp}/p.doc"], U, ".doc"),
    ("diagnose plot suffix", ["diagnose", "{run}", "--plot", "{tmp}/d.xyz"], U, ".xyz"),
    ("diagnose plot under a file", ["diagnose", "{run}", "--plot", "{file}/d.png"], U, "file"),
    ("diagnose json is a directory", ["diagnose", "{run}", "--json", "{tmp}"], U, "directory"),
    ("diagnose json read-only", ["diagnose", "{run}", "--json", "{ro}/d.json"], U, "writable"),
    ("sweep-summary plot suffix", ["sweep-summary", "{sweep}", "--plot", "{tmp}/s.xyz"], U, ".xyz"),
    ("sweep-summary csv under a file", ["sweep-summary", "{sweep}", "--csv", "{file}/s.csv"], U,
     "file"),
    ("sweep-summary plot read-only", ["sweep-summary", "{sweep}", "--plot", "{ro}/s.png"], U,
     "writable"),
    ("train out is a file", ["train", "--out", "{file}", *TINY], U, "file"),
    ("train out under a file", ["train", "--out", "{file}/run", *TINY], U, "file"),
    ("train out read-only", ["train", "--out", "{ro}/run", *TINY], U, "writable"),
    ("sweep out is a file", ["sweep", "--out", "{file}", "--grid", "beta=1", *GRID_BASE], U, "file"),
    ("sweep out under a file", ["sweep", "--out", "{file}/s", "--grid", "beta=1", *GRID_BASE], U,
     "file"),
    ("sweep out read-only", ["sweep", "--out", "{ro}/s", "--grid", "beta=1", *GRID_BASE], U,
     "writable"),
    ("reproduce out is a file", ["reproduce", "verify-thm1", "--out", "{file}"], U, "file"),
    ("reproduce out under a file", ["reproduce", "verify-thm1", "--out", "{file}/r"], U, "file"),
    ("reproduce out read-only", ["reproduce", "verify-thm1", "--out", "{ro}/r"], U, "writable"),
    # --- corrupt run state: config.json
    *[(f"{cmd} config {label}", args, edit_config(change), needle)
      for label, change, needle in [
          ("garbage", "{not json", "invalid JSON"),
          ("not an object", "[1, 2]", "JSON object"),
          ("latent_dim text", lambda c: c["model"].update(latent_dim="abc"), "model.latent_dim"),
          ("hidden text", lambda c: c["model"].update(hidden="abc"), "model.hidden"),
          ("hidden items text", lambda c: c["model"].update(hidden=["a"]), "model.hidden[0]"),
          ("is a directory", "DIR", "directory"),
          ("model missing", lambda c: c.pop("model"), "model"),
          ("unknown key", lambda c: c.update(colour="red"), "colour"),
          ("epochs text", lambda c: c.update(epochs="x"), "epochs"),
          ("epochs negative", lambda c: c.update(epochs=-5), "epochs"),
          ("beta out of range", lambda c: c["model"].update(beta=1e300), "beta"),
          ("family unknown", lambda c: c["model"].update(family="gan"), "gan"),
          ("runtime threads text", lambda c: c["runtime"].update(threads="x"), "runtime.threads"),
          ("runtime not an object", lambda c: c.update(runtime=5), "runtime"),
          ("not UTF-8", b"\xff\xfe\x00garbage", "UTF-8"),
      ]
      for cmd, args in [("diagnose", ["diagnose", "{r}"]),
                        ("resume", ["train", "--resume", "--out", "{r}"])]],
    # --- corrupt run state: checkpoint.pt
    *[(f"{cmd} checkpoint {label}", args, setup, needle)
      for label, setup, needle in [
          ("0 bytes", edit_checkpoint(b""), "empty"),
          ("random bytes", edit_checkpoint(bytes(range(256)) * 8), "not a PyTorch checkpoint"),
          ("malicious pickle", malicious, "refused"),
          ("plain pickle", plain_pickle, "refused"),
          ("epoch text", edit_checkpoint(lambda c: c.update(epoch="x")), "epoch"),
          ("epoch negative", edit_checkpoint(lambda c: c.update(epoch=-1)), "epoch"),
          ("generator wrong size", edit_checkpoint(
              lambda c: c.update(perm_generator=torch.zeros(10, dtype=torch.uint8))), "perm_generator"),
          ("generator not a tensor", edit_checkpoint(lambda c: c.update(generator=[1, 2])),
           "generator"),
          ("history not a list", edit_checkpoint(lambda c: c.update(history="x")), "history"),
          ("key missing", edit_checkpoint(lambda c: c.pop("optimizer")), "optimizer"),
          ("of another run", other_run_checkpoint, "does not match"),
      ]
      for cmd, args in [("diagnose", ["diagnose", "{r}"]),
                        ("resume", ["train", "--resume", "--out", "{r}", "--epochs", "2"])]],
    # --- corrupt sweep state
    *[(f"sweep-summary {label}", ["sweep-summary", "{s}"], edit_sweep(name, content), needle)
      for label, name, content, needle in [
          ("sweep.json garbage", "sweep.json", "{{{", "invalid JSON"),
          ("sweep.json a list", "sweep.json", [1], "JSON object"),
          ("sweep.json grid a number", "sweep.json", {"grid": 5, "seeds": 1, "base": {}}, "grid"),
          ("sweep.json seeds text", "sweep.json", {"grid": {"beta": [1]}, "seeds": "x", "base": {}},
           "seeds"),
          ("sweep.json no base", "sweep.json", {"grid": {"beta": [1]}, "seeds": 1}, "base"),
          ("sweep.json empty grid", "sweep.json", {"grid": {}, "seeds": 1, "base": {}}, "grid"),
          ("sweep.json a directory", "sweep.json", "DIR", "directory"),
          ("sweep.json bad base", "sweep.json", {"grid": {"beta": [1.0]}, "seeds": 1, "base": {
              "data": SYNTH, "backbone": "linear", "latent_dim": "abc"}}, "sweep definition"),
          ("index.csv binary", "index.csv", b"\xff\xfe\x00\x01", "sweep index"),
          ("index.csv NUL bytes", "index.csv", "run,status\x00\n", "sweep index"),
          ("index.csv other columns", "index.csv", "a,b,c\n1,2,3\n", "column"),
          ("index.csv bad status", "index.csv",
           "run,beta,seed,status,run_dir,epoch,loss,recon,kl_total,n_collapsed,active_units,"
           "log_likelihood,error\nr,1,0,maybe,runs/r,1,1,1,1,0,2,-3,\n", "status"),
          ("index.csv run_dir outside", "index.csv",
           "run,beta,seed,status,run_dir,epoch,loss,recon,kl_total,n_collapsed,active_units,"
           "log_likelihood,error\nr,1,0,done,../../etc,1,1,1,1,0,2,-3,\n", "run_dir"),
          ("index.csv metric text", "index.csv",
           "run,beta,seed,status,run_dir,epoch,loss,recon,kl_total,n_collapsed,active_units,"
           "log_likelihood,error\nr,1,0,done,runs/r,1,1,1,lots,0,2,-3,\n", "kl_total"),
          ("index.csv short row", "index.csv",
           "run,beta,seed,status,run_dir,epoch,loss,recon,kl_total,n_collapsed,active_units,"
           "log_likelihood,error\nr,1,0,done\n", "line 2"),
      ]],
    *[(f"sweep rerun {label}", ["sweep", "--out", "{s}", "--grid", "beta=1", *GRID_BASE],
       edit_sweep("sweep.json", content), needle)
      for label, content, needle in [
          ("garbage sweep.json", "not json", "invalid JSON"),
          ("sweep.json a number", 7, "JSON object"),
          ("sweep.json without grid", {"seeds": 1, "base": {}}, "grid"),
          ("sweep.json a directory", "DIR", "directory"),
          ("another sweep", {"grid": {"beta": [9.0]}, "seeds": 1, "base": {}}, "different sweep"),
      ]],
    ("reproduce claims garbage", ["reproduce", "verify-thm1", "--out", "{rep}"], bad_claims("{"),
     "invalid JSON"),
    ("reproduce claims wrong shape", ["reproduce", "verify-thm1", "--out", "{rep}"],
     bad_claims('{"holds": 1}'), "claims"),
    # --- one writer per directory
    ("train resume a locked run", ["train", "--resume", "--out", "{locked}", "--epochs", "2"],
     hold_lock("run"), "in use by another vaecollapse process (pid"),
    ("train into a locked new dir", ["train", "--out", "{locked}", *TINY], hold_lock("new"),
     "in use by another vaecollapse process (pid"),
    ("sweep into a locked dir", ["sweep", "--out", "{locked}", "--grid", "beta=1", *GRID_BASE],
     hold_lock("sweep"), "in use by another vaecollapse process (pid"),
    ("reproduce into a locked dir", ["reproduce", "verify-thm1", "--out", "{locked}"],
     hold_lock("rep"), "in use by another vaecollapse process (pid"),
]


def test_battery_size():
    assert len(CASES) >= 150
    assert len({c[0] for c in CASES}) == len(CASES)  # unique ids


@pytest.mark.parametrize("args,setup,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(world, tmp_path, args, setup, needle):
    names = {**{k: str(v) for k, v in world.items()}, "tmp": str(tmp_path)}
    try:
        if setup is not None:
            names.update({k: str(v) for k, v in setup(world, tmp_path).items()})
        argv = [a.format(**names) if "{" in a else a for a in args]
        result = runner.invoke(app, argv)
    finally:
        while HELD:
            HELD.pop().close()
    assert result.exit_code == 2, (result.exit_code, result.output, repr(result.exception))
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == "", result.stdout
    if needle:
        assert needle in lines[0], lines[0]
