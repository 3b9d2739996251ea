"""The bad-input battery: every command, fed bad specs, files, hyperparameters, paths and corrupt
state files, answers with exit code 2, exactly one `error:` line on stderr, nothing on stdout
(the input is rejected before any work or output) and no traceback.

Run in-process through typer's CliRunner (the same `main` the console script calls), so 150+
cases take seconds. docs/reliability.md states the battery's size; `test_battery_size` keeps it
honest.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.files.lock import locked

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


def cases(name: str, prefix: list[str], rows, then: Sequence[str] = ()) -> list[tuple]:
    """One case per row ``(label, args, needle)``: id ``"{name} {label}"``, command line
    ``[*prefix, *args, *then]``, no setup."""
    return [(f"{name} {label}", [*prefix, *args, *then], U, needle) for label, args, needle in rows]


PREDICT = ["predict", "--data", SYNTH]
TRAIN = ["train", "--out", "{tmp}/r", *TINY]
DIAGNOSE = ["diagnose", "{run}"]
SWEEP = ["sweep", "--out", "{tmp}/s"]
SWEEP_BETA = [*SWEEP, "--grid", "beta=1"]
REPRODUCE = ["reproduce", "verify-thm1"]

CASES: list[tuple[str, list[str], object, str | None]] = [
    # --- usage errors (typer), every command
    ("no such command", ["frobnicate"], U, "No such command"),
    *cases("predict", ["predict"], [
        ("unknown option", ["--nope"], "--nope"),
        ("option without value", ["--model"], "--model"),
        ("int not a number", ["--latent-dim", "abc"], "--latent-dim"),
        ("float not a number", ["--beta", "x"], "--beta"),
        ("flag with value", ["--centre=1"], None),
    ]),
    ("train without --out", ["train", *TINY], U, "--out"),
    ("train epochs not whole", [*TRAIN, "--epochs", "1.5"], U, "--epochs"),
    ("train unknown option", ["train", "--out", "{tmp}/r", "--frob"], U, "--frob"),
    ("train --out without value", ["train", "--out"], U, "--out"),
    ("diagnose without run", ["diagnose"], U, "run_dir"),
    ("diagnose extra argument", [*DIAGNOSE, "extra"], U, "extra"),
    ("diagnose seed not a number", [*DIAGNOSE, "--seed", "s"], U, "--seed"),
    ("sweep without --grid", SWEEP, U, "--grid"),
    ("sweep without --out", ["sweep", "--grid", "beta=1"], U, "--out"),
    ("sweep-summary without dir", ["sweep-summary"], U, "sweep_dir"),
    ("report without dir", ["report"], U, "out_dir"),
    ("data two specs", ["data", "mnist", "synthetic"], U, None),
    ("reproduce jobs not a number", ["reproduce", "fig3a", "--jobs", "x"], U, "--jobs"),
    ("reproduce unknown option", ["reproduce", "--quick"], U, "--quick"),
    # --- predict: values and ranges
    *cases("predict", PREDICT, [
        ("eta-dec 1e200", ["--eta-dec", "1e200"], "--eta-dec"),
        ("beta, eta-dec 1e308", ["--beta", "1e308", "--eta-dec", "1e308"], "--beta"),
        ("beta tiny", ["--beta", "1e-9"], "--beta"),
        ("beta negative", ["--beta", "-1"], "--beta"),
        ("beta nan", ["--beta", "nan"], "--beta"),
        ("beta inf", ["--beta", "inf"], "--beta"),
        ("eta-enc 0", ["--eta-enc", "0"], "--eta-enc"),
        ("latent-dim 100000", ["--latent-dim", "100000"], "--latent-dim"),
        ("latent-dim -1", ["--latent-dim", "-1"], "--latent-dim"),
        ("sigma huge", ["--sigma", "1e9"], "sigma"),
        ("sigma list huge", ["--latent-dim", "2", "--sigma", "0.5,1e9"], "sigma"),
        ("sigma text", ["--sigma", "a,b"], "--sigma"),
        ("sigma1 huge", ["--model", "mhvae", "--sigma1", "1e9"], "--sigma1"),
        ("mhvae unbounded", ["--model", "mhvae", "--beta1", "2", "--beta2", "1"], "unbounded"),
        ("mhvae with beta", ["--model", "mhvae", "--sigma1", "1", "--beta", "2"], "--beta1"),
        ("vae with beta2", ["--beta2", "2"], "--beta2"),
        ("unknown model", ["--model", "gan"], "--model"),
        ("sweep count 1e12", ["--sweep", "beta=1:2:1000000000000"], "COUNT"),
        ("sweep count 1", ["--sweep", "beta=1:2:1"], "COUNT"),
        ("sweep no values", ["--sweep", "beta="], "--sweep"),
        ("sweep text", ["--sweep", "beta=a:b:3"], "--sweep"),
        ("sweep negative", ["--sweep", "beta=-1,2"], "> 0"),
        ("sweep log from 0", ["--sweep", "beta=0:1:5:log"], "log"),
        ("sweep unknown param", ["--sweep", "lr=1,2"], "lr"),
        ("sweep beyond range", ["--sweep", "eta_dec=1:1e300:3"], "eta_dec"),
        ("sweep beta1 on vae", ["--sweep", "beta1=1,2"], "beta1"),
    ]),
    ("predict cvae without y", ["predict", "--data", "mnist:n=50", "--model", "cvae"], U, "no y"),
    # --- train: values and ranges
    *cases("train", TRAIN, [
        ("seed 1e20", ["--seed", "99999999999999999999"], "--seed"),
        ("seed -1", ["--seed", "-1"], "--seed"),
        ("latent-dim 100000", ["--latent-dim", "100000"], "--latent-dim"),
        ("hidden 1e8", ["--hidden", "100000000"], "hidden"),
        ("hidden -3", ["--hidden", "-3"], "hidden"),
        ("hidden text", ["--hidden", "big"], "hidden"),
        ("epochs 0", ["--epochs", "0"], "--epochs"),
        ("epochs 1e7", ["--epochs", "10000000"], "--epochs"),
        ("batch-size -1", ["--batch-size", "-1"], "--batch-size"),
        ("threads 0", ["--threads", "0"], "--threads"),
        ("threads 1e5", ["--threads", "100000"], "--threads"),
        ("eta-dec 1e200", ["--eta-dec", "1e200"], "--eta-dec"),
        ("beta 1e308", ["--beta", "1e308"], "--beta"),
        ("sigma 0", ["--sigma", "0"], "--sigma"),
        ("sigma 1e7", ["--sigma", "1e7"], "--sigma"),
        ("lr 0", ["--lr", "0"], "lr"),
        ("lr inf", ["--lr", "inf"], "lr"),
        ("lr 1e39", ["--lr", "1e39"], "lr"),
        ("clip -1", ["--clip", "-1"], "clip"),
        ("clip nan", ["--clip", "nan"], "clip"),
        ("schedule", ["--schedule", "step"], "schedule"),
        ("device", ["--device", "tpu"], "device"),
        ("model", ["--model", "gan"], "unknown model"),
        ("backbone", ["--backbone", "rnn"], "backbone"),
        ("cnn on vectors", ["--backbone", "cnn"], "image"),
        ("resnet cvae", ["--backbone", "resnet18", "--model", "cvae"], "resnet18"),
        ("mhvae beta", ["--model", "mhvae", "--beta", "2"], "MHVAE"),
        ("vae sigma2", ["--sigma2", "1"], "MHVAE"),
        ("cvae without y", ["--model", "cvae", "--data", "mnist:n=50"], "no y"),
    ]),
    ("train into a finished run", ["train", "--out", "{run}", *TINY], U, "resume it"),
    ("train resume a missing run", ["train", "--resume", "--out", "{tmp}/none"], U, "config.json"),
    # --- diagnose: values and ranges
    *cases("diagnose", DIAGNOSE, [
        ("points -1", ["--points", "-1"], "--points"),
        ("is-samples -1", ["--is-samples", "-1"], "--is-samples"),
        ("is-samples 1e7", ["--is-samples", "10000000"], "--is-samples"),
        ("seed -1", ["--seed", "-1"], "--seed"),
        ("seed 2^64", ["--seed", "18446744073709551616"], "--seed"),
        ("epsilon 0", ["--epsilon", "0"], "--epsilon"),
        ("epsilon nan", ["--epsilon", "nan"], "--epsilon"),
        ("delta 0", ["--delta", "0"], "--delta"),
        ("delta 1.5", ["--delta", "1.5"], "--delta"),
        ("threads 0", ["--threads", "0"], "--threads"),
        ("other dimensions", ["--data", "synthetic:n=40,dim=5"], "dimensions"),
        ("bad data", ["--data", "npz:/no/such.npz"], "does not exist"),
    ]),
    ("diagnose missing run", ["diagnose", "{tmp}/none"], U, "not a vaecollapse run"),
    ("diagnose a file", ["diagnose", "{file}"], U, None),
    # --- sweep: values, grids and ranges
    *cases("sweep", SWEEP_BETA, [
        ("retries -1", ["--retries", "-1"], "--retries"),
        ("retries 1000", ["--retries", "1000"], "--retries"),
        ("seeds 0", ["--seeds", "0"], "--seeds"),
        ("seeds 1e5", ["--seeds", "100000"], "--seeds"),
        ("jobs 0", ["--jobs", "0"], "jobs must be"),
        ("jobs 1e5", ["--jobs", "100000"], "jobs must be"),
        ("executor", ["--executor", "dask"], "executor"),
    ], then=GRID_BASE),
    *cases("sweep grid", [*SWEEP, "--grid"], [
        ("beta 0", ["beta=0"], "beta"),
        ("beta 1e200", ["beta=1e200"], "beta"),
        ("latent 1e5", ["latent_dim=100000"], "latent"),
        ("seed -1", ["seed=-1"], "seed"),
        ("unknown", ["colour=1"], "colour"),
        ("without =", ["beta"], "--grid"),
        ("empty", ["beta="], "--grid"),
        ("twice", ["beta=1", "--grid", "beta=2"], "twice"),
        ("out", ["out_dir=x"], "out_dir"),
    ], then=GRID_BASE),
    *cases("sweep base", [*SWEEP_BETA, *GRID_BASE], [
        ("epochs 0", ["--epochs", "0"], "--epochs"),
        ("model", ["--model", "gan"], "unknown model"),
        ("unknown", ["--frob"], "--frob"),
    ]),
    ("sweep base data", [*SWEEP_BETA, "--", "--data", "nope"], U, "nope"),
    # --- sweep-summary, report, reproduce
    ("sweep-summary not a sweep", ["sweep-summary", "{tmp}"], U, "not a sweep"),
    *cases("sweep-summary", ["sweep-summary", "{sweep}"], [
        ("unknown x", ["--x", "lr"], "grid parameter"),
        ("unknown metric", ["--metrics", "elbo"], "elbo"),
        ("no metric", ["--metrics", ","], "metric"),
    ]),
    ("report not a directory", ["report", "{tmp}/none"], U, "not a directory"),
    ("report a file", ["report", "{file}"], U, "not a directory"),
    *cases("reproduce", ["reproduce"], [
        ("no names", ["--out", "{tmp}/rep"], "name the experiments"),
        ("unknown name", ["fig99", "--out", "{tmp}/rep"], "fig99"),
        ("unknown profile", ["fig3a", "--profile", "full", "--out", "{tmp}/rep"], "--profile"),
    ]),
    *cases("reproduce", REPRODUCE, [
        ("executor", ["--executor", "dask"], "executor"),
        ("jobs 0", ["--jobs", "0"], "jobs must be"),
    ], then=["--out", "{tmp}/rep"]),
    # --- data specs and files
    *cases("data", ["data"], [
        ("too big", ["synthetic:n=99999999999,dim=99999999"], "smaller"),
        ("n 1", ["synthetic:n=1"], "n="),
        ("dim 0", ["synthetic:dim=0"], "dim"),
        ("corr", ["synthetic:corr=perfect"], "corr"),
        ("n text", ["synthetic:n=abc"], "n="),
        ("seed -1", ["synthetic:seed=-1"], "seed"),
        ("digit 11", ["mnist:digit=11"], "digit"),
        ("digit and digits", ["mnist:digit=1,digits=2"], "digit"),
        ("n too many", ["mnist:n=99999999"], "n="),
        ("split", ["mnist:split=third"], "split"),
        ("part validation", ["mnist:part=validation"], "part=test"),
        ("unknown key", ["mnist:colour=red"], "colour"),
        ("key twice", ["mnist:n=5,n=6"], "twice"),
        ("empty item", ["mnist:n=5,,seed=1"], "empty item"),
        ("empty spec", [""], "empty"),
        ("unknown source", ["imagenet"], "imagenet"),
        ("npz no path", ["npz:"], "path"),
        ("npz missing", ["npz:/no/such/file.npz"], "does not exist"),
        ("npz directory", ["npz:{npz}/empty"], "directory"),
        ("npz text", ["npz:{npz}/text.npz"], "not an .npz"),
        ("npz single array", ["npz:{npz}/single.npz"], ".npy"),
        ("npz without x", ["npz:{npz}/nox.npz"], "'x'"),
        ("npz nan", ["npz:{npz}/nan.npz"], "NaN"),
        ("npz one row", ["npz:{npz}/onerow.npz"], "at least 2"),
        ("npz 3-d", ["npz:{npz}/cube.npz"], "shape"),
        ("npz strings", ["npz:{npz}/strings.npz"], "non-numeric"),
        ("npz beyond float32", ["npz:{npz}/huge.npz"], "float32"),
        ("npz y rows", ["npz:{npz}/ymismatch.npz"], "rows"),
        ("npz corrupt zip", ["npz:{npz}/badzip.npz"], None),
        ("idx missing", ["idx:/no/such/dir"], None),
        ("idx empty dir", ["idx:{npz}/empty"], None),
        ("markup [/] in path", ["npz:{tmp}/x[/]y.npz"], "x[/]y.npz"),
        ("markup [red] in path", ["npz:{tmp}/[red]x.npz"], "[red]x.npz"),
        ("emoji code in path", ["npz:{tmp}/:smile:.npz"], ":smile:.npz"),
    ]),
    ("train markup in --data", [*TRAIN, "--data", "npz:[bold]x[/]"], U, "[bold]x[/]"),
    # --- output paths, checked before any work
    *cases("predict", PREDICT, [
        ("plot suffix", ["--plot", "{tmp}/p.xyz"], ".xyz"),
        ("plot under a file", ["--plot", "{file}/p.png"], "file"),
        ("plot is a directory", ["--plot", "{tmp}"], "directory"),
        ("plot read-only", ["--plot", "{ro}/p.png"], "writable"),
        ("json under a file", ["--json", "{file}/p.json"], "file"),
        ("json read-only", ["--json", "{ro}/p.json"], "writable"),
        ("sweep plot suffix", ["--sweep", "beta=1,2", "--plot", "{tmp}/p.doc"], ".doc"),
    ]),
    *cases("diagnose", DIAGNOSE, [
        ("plot suffix", ["--plot", "{tmp}/d.xyz"], ".xyz"),
        ("plot under a file", ["--plot", "{file}/d.png"], "file"),
        ("json is a directory", ["--json", "{tmp}"], "directory"),
        ("json read-only", ["--json", "{ro}/d.json"], "writable"),
    ]),
    *cases("sweep-summary", ["sweep-summary", "{sweep}"], [
        ("plot suffix", ["--plot", "{tmp}/s.xyz"], ".xyz"),
        ("csv under a file", ["--csv", "{file}/s.csv"], "file"),
        ("plot read-only", ["--plot", "{ro}/s.png"], "writable"),
    ]),
    *cases("train", ["train", "--out"], [
        ("out is a file", ["{file}"], "file"),
        ("out under a file", ["{file}/run"], "file"),
        ("out read-only", ["{ro}/run"], "writable"),
    ], then=TINY),
    *cases("sweep", ["sweep", "--out"], [
        ("out is a file", ["{file}"], "file"),
        ("out under a file", ["{file}/s"], "file"),
        ("out read-only", ["{ro}/s"], "writable"),
    ], then=["--grid", "beta=1", *GRID_BASE]),
    *cases("reproduce", [*REPRODUCE, "--out"], [
        ("out is a file", ["{file}"], "file"),
        ("out under a file", ["{file}/r"], "file"),
        ("out read-only", ["{ro}/r"], "writable"),
    ]),
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
          ("malicious pickle", edit_checkpoint(lambda c: c.update(history=[Evil()])), "refused"),
          ("plain pickle", edit_checkpoint(pickle.dumps({"epoch": 1}, protocol=4)), "refused"),
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
    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert f"**{len(CASES)} bad inputs across every command**" in page


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
