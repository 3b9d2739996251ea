"""Run a function in several CPU processes joined by a ``torch.distributed`` gloo group — the
DDP tests' harness.

``run_gloo(fn, world_size, *args)`` starts ``world_size`` processes (spawned, so nothing of the
parent's state leaks in), initialises the gloo group through a file in a fresh temporary
directory (no network port to pick), calls ``fn(rank, world_size, *args)`` in each and returns
the values of every rank in rank order. ``fn`` must be a module-level function of an importable
module (a test module is one) and its return value picklable.
"""

from __future__ import annotations

import os
import tempfile
import traceback

import torch.multiprocessing as mp


def _worker(rank: int, world_size: int, init_file: str, fn, args, results) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        results[rank] = ("ok", fn(rank, world_size, *args))
    except BaseException:  # reported by the parent, with the rank's traceback
        results[rank] = ("error", traceback.format_exc())
        raise
    finally:
        dist.destroy_process_group()


def run_gloo(fn, world_size: int = 2, *args) -> list:
    """``[fn(0, world_size, *args), ..., fn(world_size - 1, world_size, *args)]``, each computed
    in its own process of one gloo group."""
    with tempfile.TemporaryDirectory() as tmp, mp.Manager() as manager:
        results = manager.dict()
        init_file = os.path.join(tmp, "init")
        try:
            mp.spawn(_worker, args=(world_size, init_file, fn, args, results), nprocs=world_size,
                     join=True)
        except Exception as exc:
            errors = [v[1] for v in results.values() if v[0] == "error"]
            raise AssertionError("a gloo worker failed:\n" + "\n".join(errors)) from exc
        return [results[r][1] for r in range(world_size)]
