"""Faults: one writer per run directory, no orphan sweep workers, no litter after kills, a full
disk during a checkpoint write, exact resume without remembering --threads, Ctrl-C in epoch 1,
and user strings printed literally (no rich markup or emoji codes)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from patching import patch_batch_calls
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.config import config_from_options
from vaecollapse.files.lock import LOCK, DirectoryLocked, locked
from vaecollapse.models import VAE
from vaecollapse.runs.rundir import CHECKPOINT, CONFIG, load_checkpoint
from vaecollapse.runs.train import train

runner = CliRunner()
SYNTH = "synthetic:corr=gaussian-0.5,n=200,dim=8"
SMALL = ["--data", SYNTH, "--latent-dim", "2", "--hidden", "8", "--batch-size", "64",
         "--device", "cpu"]
BATCHES_PER_EPOCH = 4


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "vaecollapse.cli", *map(str, args)]


def wait_for(predicate, timeout: float = 60.0, step: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


# ------------------------------------------------------------------------------ one writer


def test_second_writer_exits_2_naming_the_holder_and_the_lock_dies_with_it(tmp_path):
    """A real `train` process holds --out: a second writer (fresh or --resume) exits 2 naming its
    pid and changes nothing; after kill -9 of the holder its lock is gone and --resume finishes
    the run, leaving no temporary or lock file."""
    run = tmp_path / "run"
    first = subprocess.Popen(cli("train", "--out", run, *SMALL, "--epochs", "100000",
                                 "--threads", "1"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (run / CHECKPOINT).exists(), 240), "the first run never checkpointed"
        line = one_error_line(invoke("train", "--out", run, *SMALL, "--epochs", "2", "--beta", "4"))
        assert f"in use by another vaecollapse process (pid {first.pid})" in line
        line = one_error_line(invoke("train", "--resume", "--out", run))
        assert f"(pid {first.pid})" in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert json.loads((run / CONFIG).read_text())["model"]["hyperparameters"]["beta"] == 1.0  # never mixed
    epochs = load_checkpoint(run)["epoch"]
    before = torch.get_num_threads()
    try:  # one more epoch of the 100000 (stop_after), through the library
        cfg = config_from_options(data=SYNTH, latent_dim=2, hidden="8", device="cpu")
        train(cfg, run, resume=True, progress=False, stop_after=1)
    finally:
        torch.set_num_threads(before)
    assert load_checkpoint(run)["epoch"] == epochs + 1
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temp files, no lock


def test_the_library_refuses_a_second_writer(tmp_path):
    cfg = config_from_options(data=SYNTH, latent_dim=2, hidden="8", epochs=1, device="cpu")
    with locked(tmp_path / "run"), pytest.raises(DirectoryLocked, match=f"pid {os.getpid()}"):
        train(cfg, tmp_path / "run", progress=False)
    assert list((tmp_path / "run").iterdir()) == []  # nothing written; the lock file is gone


def test_a_lock_is_released_when_the_holder_dies(tmp_path):
    d = tmp_path / "d"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from vaecollapse.files.lock import locked\n"
                               f"with locked({str(d)!r}):\n"
                               "    print('held', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(DirectoryLocked, match=f"pid {holder.pid}"), locked(d):
        pass
    holder.kill()
    holder.wait()
    assert (d / LOCK).exists()  # a killed holder leaves the file, not the lock
    with locked(d):
        assert (d / LOCK).read_text().strip() == str(os.getpid())
    assert not (d / LOCK).exists()


# ------------------------------------------------------------------------------ orphans


def test_sweep_workers_die_with_the_sweep_and_a_rerun_finishes(tmp_path):
    out = tmp_path / "s"
    cmd = cli("sweep", "--grid", "beta=0.5", "--jobs", "1", "--out", out, "--", "--model", "vae",
              "--backbone", "mlp", "--hidden", "8", "--data", "synthetic:n=400,dim=8",
              "--latent-dim", "2", "--epochs", "3000")
    main = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        def training():
            workers[:] = [c for c in children(main.pid) if "resource_tracker" not in cmdline(c)]
            return workers and any((out / "runs").glob("*/config.json"))  # a run has started
        assert wait_for(training, 240), "no worker started training"
    finally:
        main.send_signal(signal.SIGKILL)  # the main process only, not its process group
        main.wait()
    assert wait_for(lambda: not any(alive(w) for w in workers), 10), "an orphan worker survived"
    # rerun at once (shorter: --force, since another epoch count is another sweep); a survivor
    # would hold a run's lock and fail it
    short = [*cmd[:cmd.index("--")], "--force", *cmd[cmd.index("--"):-1], "1"]
    rerun = subprocess.run(short, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert not [p for p in out.rglob(".*") if p.is_file()]


# ------------------------------------------------------------------------------ litter, full disk


def test_stale_temporary_files_are_removed_on_resume(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--out", run, *SMALL, "--epochs", "1").exit_code == 0
    stale = [run / ".checkpoint.pt.k3j_x9a2", run / ".metrics.jsonl.abcdefgh.jsonl",
             run / ".config.json.zzzzzzzz.json"]
    for p in stale:
        p.write_bytes(b"x" * 1000)
    keep = run / ".my-notes"
    keep.write_text("mine")
    result = invoke("train", "--resume", "--out", run, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale) and keep.exists()


@pytest.mark.parametrize("failure", ["oserror", "torch"])
def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, failure):
    run = tmp_path / "run"
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] < 2:
            return real_save(obj, f, *args, **kwargs)
        with open(f, "wb") as fh:  # a partial write, then the disk is full
            fh.write(b"PK\x03\x04partial")
        if failure == "oserror":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        # what torch 2.13 raises when writing to a full device (measured on /dev/full)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", save)
    line = one_error_line(invoke("train", "--out", run, *SMALL, "--epochs", "3"))
    assert "cannot write" in line and "previous checkpoint is kept" in line
    assert "is the disk full?" in line and "enforce fail" not in line
    assert ("No space left" in line) if failure == "oserror" else ("unexpected pos" in line)
    monkeypatch.undo()
    assert load_checkpoint(run)["epoch"] == 1  # still valid, one epoch
    assert not [p for p in run.iterdir() if p.name.startswith(".")]
    assert invoke("train", "--resume", "--out", run).exit_code == 0
    assert load_checkpoint(run)["epoch"] == 3


# ------------------------------------------------------------------------------ exact resume


def test_resume_reuses_the_saved_thread_count(tmp_path, monkeypatch):
    """Started with --threads 2, interrupted, resumed without --threads in a process using 1
    thread: the resumed epochs run with 2 threads again, and end bit-identical to an
    uninterrupted --threads 2 run."""
    before = torch.get_num_threads()
    seen = []
    original = VAE.forward

    def forward(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    try:
        whole, part = tmp_path / "whole", tmp_path / "part"
        assert invoke("train", "--out", whole, *SMALL, "--epochs", "3", "--threads", "2",
                      "--backbone", "linear").exit_code == 0
        calls = {"n": 0}

        def interrupted(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == BATCHES_PER_EPOCH + 2:
                raise KeyboardInterrupt
            return original(self, *args, **kwargs)

        monkeypatch.setattr(VAE, "forward", interrupted)
        assert invoke("train", "--out", part, *SMALL, "--epochs", "3", "--threads", "2",
                      "--backbone", "linear").exit_code == 130
        saved = json.loads((part / CONFIG).read_text())["runtime"]
        assert saved["threads"] == 2 and saved["device"] == "cpu"
        assert set(saved["versions"]) >= {"torch", "numpy", "python", "vaecollapse"}
        torch.set_num_threads(1)
        monkeypatch.setattr(VAE, "forward", forward)
        result = invoke("train", "--resume", "--out", part)
        assert result.exit_code == 0, result.output
        assert seen and set(seen) == {2}
        a, b = load_checkpoint(whole)["model"], load_checkpoint(part)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    finally:
        torch.set_num_threads(before)


def test_resume_with_other_threads_says_they_are_ignored(tmp_path):
    before = torch.get_num_threads()
    try:
        run = tmp_path / "run"
        assert invoke("train", "--out", run, *SMALL, "--epochs", "1", "--threads", "1").exit_code == 0
        result = invoke("train", "--resume", "--out", run, "--epochs", "2", "--threads", "2")
        assert result.exit_code == 0
        assert "--threads 2 is ignored" in " ".join(result.stderr.split())
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------ Ctrl-C in epoch 1


def test_ctrl_c_in_epoch_1_advises_a_command_that_works(tmp_path, monkeypatch):
    run = tmp_path / "my run"  # a space: the advised command must be quoted

    def make(original):
        def batch_call(self, *args, **kwargs):
            raise KeyboardInterrupt
        return batch_call

    patch_batch_calls(monkeypatch, VAE, make)
    result = invoke("train", "--out", run, *SMALL, "--epochs", "2")
    assert result.exit_code == 130
    text = " ".join(result.stderr.split())
    assert "before the first epoch finished" in text
    command = text.split("`")[1]
    assert command == f"vaecollapse train --resume --out '{run}'"
    monkeypatch.undo()
    import shlex

    again = runner.invoke(app, shlex.split(command)[1:])
    assert again.exit_code == 0, again.output
    assert load_checkpoint(run)["epoch"] == 2


# ------------------------------------------------------------------------------ literal text


@pytest.mark.parametrize("name", ["m[/]run", "[red]x", "a:smile:b", "[bold]"])
def test_user_strings_print_literally(tmp_path, name):
    run = tmp_path / name
    result = invoke("train", "--out", run, *SMALL, "--epochs", "1", "--backbone", "linear")
    assert result.exit_code == 0, result.output
    assert f"run directory: {run}" in " ".join(result.stdout.split())
    out = tmp_path / f"{name}.json"
    result = invoke("predict", "--data", SYNTH, "--latent-dim", "2", "--json", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout and out.exists()
