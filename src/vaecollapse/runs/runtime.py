"""What a run was computed with besides its configuration: torch threads, the resolved device,
library versions and the training step taken (hand-differentiated or autograd) — saved as
``runtime`` in config.json so that ``--resume`` continues exactly — and the device a setting
names (:func:`resolve_device`).

The thread count matters: torch's parallel reductions add in another order with another number
of threads, so a run resumed with other threads drifts from an uninterrupted one in the last
bits, then visibly. On resume the saved thread count and device are used again; versions that
differ are reported (they cannot be restored).
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vaecollapse import __version__
from vaecollapse.errors import HyperparameterError
from vaecollapse.files.records import typed
from vaecollapse.limits import THREADS, check

KEY = "runtime"


def resolve_device(device: str):
    """The torch device of a setting: ``auto`` takes a GPU when there is one; asking for CUDA
    without one is the user's error."""
    import torch  # lazy: reading a run's config.json (sweep-summary, report) needs no torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HyperparameterError(f"device {device!r} was asked for, but no CUDA device is "
                                  "available")
    return torch.device(device)


def versions() -> dict[str, str]:
    """Versions of vaecollapse, torch, numpy and Python."""
    import torch  # lazy: as above

    return {"vaecollapse": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def code_revision() -> dict[str, object] | None:
    """The git commit of the code that runs (and whether its checkout has uncommitted changes),
    read from the repository this package sits in; None when it sits in none (an installed copy)
    or git is not there."""
    here = Path(__file__).resolve().parent
    try:
        run = {"cwd": here, "capture_output": True, "text": True, "timeout": 30}
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], **run)
        if top.returncode != 0 or not (Path(top.stdout.strip()) / "src" / "vaecollapse").is_dir():
            return None
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.stdout.strip())} if commit else None


@dataclass
class Runtime:
    """``threads``: torch's CPU threads; ``device``: the resolved device; ``versions``: of
    :func:`versions`; ``training_step``: ``hand-differentiated`` or ``autograd`` (the step
    :func:`vaecollapse.models.fast_step.fused_step` chose; None in runs written before it was
    recorded)."""

    threads: int
    device: str
    versions: dict[str, str] = field(default_factory=dict)
    training_step: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def current(device, training_step: str | None = None) -> Runtime:
    """The runtime of this process for a run on ``device`` trained by ``training_step``."""
    import torch  # lazy: as above

    return Runtime(threads=torch.get_num_threads(), device=str(device), versions=versions(),
                   training_step=training_step)


def from_config(data: dict, where: str) -> Runtime | None:
    """The ``runtime`` entry of a config.json object (None in runs written before it existed)."""
    if data.get(KEY) is None:
        return None
    rt = typed(Runtime, data[KEY], where, prefix=f"{KEY}.")
    check(f"{KEY}.threads", rt.threads, THREADS)
    return rt


def changed_versions(saved: Runtime) -> list[str]:
    """'torch 2.12.0 → 2.13.0'-style notes for libraries whose version changed since ``saved``."""
    now = versions()
    return [f"{k} {v} → {now[k]}" for k, v in saved.versions.items() if k in now and now[k] != v]
