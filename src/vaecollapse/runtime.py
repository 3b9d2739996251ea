"""What a run was computed with besides its configuration: torch threads, the resolved device and
library versions — saved as ``runtime`` in config.json so that ``--resume`` continues exactly.

The thread count matters: torch's parallel reductions add in another order with another number
of threads, so a run resumed with other threads drifts from an uninterrupted one in the last
bits, then visibly. On resume the saved thread count and device are used again; versions that
differ are reported (they cannot be restored).
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field

from vaecollapse.records import typed

KEY = "runtime"


def versions() -> dict[str, str]:
    """Versions of vaecollapse, torch, numpy and Python."""
    import numpy as np
    import torch

    from vaecollapse import __version__

    return {"vaecollapse": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


@dataclass
class Runtime:
    threads: int
    device: str
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def current(device) -> Runtime:
    """The runtime of this process for a run on ``device``."""
    import torch

    return Runtime(threads=torch.get_num_threads(), device=str(device), versions=versions())


def from_config(data: dict, where: str) -> Runtime | None:
    """The ``runtime`` entry of a config.json object (None in runs written before it existed)."""
    if data.get(KEY) is None:
        return None
    rt = typed(Runtime, data[KEY], where, prefix=f"{KEY}.")
    from vaecollapse.limits import THREADS, check

    check(f"{KEY}.threads", rt.threads, THREADS)
    return rt


def changed_versions(saved: Runtime) -> list[str]:
    """'torch 2.12.0 → 2.13.0'-style notes for libraries whose version changed since ``saved``."""
    now = versions()
    return [f"{k} {v} → {now[k]}" for k, v in saved.versions.items() if k in now and now[k] != v]
