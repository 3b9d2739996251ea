"""Where a sweep's runs execute: one run in a worker process (:func:`run_one`), a local process
pool or a Ray cluster."""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

from vaecollapse.config import config_from_options
from vaecollapse.config.text_settings import MODEL as TEXT_MODEL
from vaecollapse.config.text_settings import text_config_from_options
from vaecollapse.errors import UserError
from vaecollapse.runs.grid import Run
from vaecollapse.runs.rundir import RunDir
from vaecollapse.runs.text_train import train_text
from vaecollapse.runs.train import train

EXECUTORS = ("local", "ray")


# ------------------------------------------------------------------------------ one run


def run_one(options: dict[str, Any], run_dir: str, threads: int | None = None) -> dict[str, Any]:
    """Train one run (resuming it if a checkpoint exists) and return its final metrics.
    Runs in a worker process (local pool or Ray task)."""
    if threads:
        torch.set_num_threads(threads)
    run = RunDir(run_dir)
    if options.get("model") == TEXT_MODEL:
        return run_text(options, run)
    datasets: dict = {}  # loaded once, for the config and the training
    cfg = config_from_options(**options, datasets=datasets)
    if run.config.exists() and run.saved_config() != json.loads(json.dumps(cfg.to_dict())):
        raise UserError(f"{run.path} holds a run with another configuration; force the sweep "
                        "to replace it")
    if run.checkpoint.exists():
        if run.finished(cfg.epochs):
            return run.final_metrics()
        train(cfg, run.path, resume=True, progress=False, datasets=datasets)
    else:
        train(cfg, run.path, progress=False, datasets=datasets)
    return run.final_metrics()


def run_text(options: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """:func:`run_one` for a sentence-VAE run (``model="seqvae"``)."""
    cfg = text_config_from_options(**options)
    if run.config.exists():
        saved = {k: v for k, v in json.loads(run.config.read_text()).items()
                 if k not in ("runtime", "vocab_size", "max_len")}
        if saved != json.loads(json.dumps(cfg.to_dict())):
            raise UserError(f"{run.path} holds a run with another configuration; force the "
                            "sweep to replace it")
    if run.checkpoint.exists():
        if not run.finished(cfg.epochs):
            train_text(cfg, run.path, resume=True, progress=False)
    else:
        train_text(cfg, run.path, progress=False)
    return run.final_metrics()


# ------------------------------------------------------------------------------ executors


def _default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def _die_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the sweep process dies, even by kill -9.

    On Linux the kernel sends SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG); everywhere a
    watchdog thread also checks every second that the parent is still this worker's parent. The
    worker's run directory lock dies with it, so a rerun never races a survivor."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="vaecollapse-parent-watch", daemon=True).start()


class LocalExecutor:
    """A process pool; each worker gets cores // jobs torch threads (no oversubscription) and
    exits when the sweep process dies (:func:`_die_with_parent`)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.threads = max(1, _default_jobs() // jobs)
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                        initializer=_die_with_parent, initargs=(os.getpid(),))

    def submit(self, run: Run, run_dir: str):
        return self.pool.submit(run_one, run.options, run_dir, self.threads)

    def wait(self, pending):
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return [(f, self._result(f)) for f in done], rest

    @staticmethod
    def _result(f):
        try:
            return ("done", f.result())
        except BrokenProcessPool:
            return ("crashed", "the worker process died (out of memory or killed?)")
        except UserError as e:
            return ("failed", str(e))
        except Exception as e:  # noqa: BLE001 - a failing run is reported, never fatal
            return ("failed", "".join(traceback.format_exception_only(type(e), e)).strip())

    def restart_if_broken(self) -> None:
        if getattr(self.pool, "_broken", False):
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                            initializer=_die_with_parent, initargs=(os.getpid(),))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Each run is a Ray task (1 CPU) on the cluster at ``address`` — or on a local Ray instance
    started here with ``jobs`` CPUs when no address is given."""

    def __init__(self, jobs: int, address: str | None):
        try:
            import ray  # lazy: the optional extra
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'vaecollapse[distributed]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
            except Exception as e:  # noqa: BLE001 - connection problems are the user's to fix
                raise UserError(f"cannot start or reach Ray ({address or 'local'}): {e}") from None
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_one)

    def submit(self, run: Run, run_dir: str):
        return self.task.remote(run.options, run_dir, 1)

    def wait(self, pending):
        done, rest = self.ray.wait(list(pending), num_returns=1)
        out = []
        for ref in done:
            try:
                out.append((ref, ("done", self.ray.get(ref))))
            except self.ray.exceptions.WorkerCrashedError:
                out.append((ref, ("crashed", "the Ray worker died")))
            except self.ray.exceptions.RayTaskError as e:
                cause = e.cause if getattr(e, "cause", None) is not None else e
                out.append((ref, ("failed", str(cause).strip().splitlines()[-1])))
        return out, set(rest)

    def restart_if_broken(self) -> None:
        pass

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def check_executor(executor: str, jobs: int | None) -> int:
    """The number of runs at once (CPU count for None), after checking it and the executor."""
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    jobs = _default_jobs() if jobs is None else jobs
    if not (1 <= jobs <= 1024):
        raise UserError(f"jobs must be in [1, 1024], got {jobs}")
    return jobs
