"""A run's checkpoint.pt, the one home of its format: what it holds (:data:`CHECKPOINT_KEYS`),
how it is written (:func:`save_checkpoint`, atomically) and read back (:func:`load_checkpoint`:
tensors and plain values only, checked), why a file cannot be read (in one line), and whether
what it holds has the shape the training loop writes — so a hand-edited or foreign checkpoint is
refused when read, naming the offending key, not deep inside a resumed run.

    {"epoch": finished epochs, "model": state dict, "optimizer": Adam's state dict,
     "generator": the noise generator's state, "perm_generator": the batch order's (CPU),
     "history": one metrics record per finished epoch}
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from vaecollapse.errors import UserError
from vaecollapse.files.atomic import atomic_torch_save

#: the keys every checkpoint holds
CHECKPOINT_KEYS = {"epoch", "model", "optimizer", "generator", "perm_generator", "history"}


def save_checkpoint(path: Path, *, epoch: int, model, optimizer, generator: torch.Generator,
                    perm_generator: torch.Generator, history: list[dict[str, Any]]) -> None:
    """Write the state after ``epoch`` finished epochs to ``path`` atomically (a failure keeps
    the previous checkpoint, and says so)."""
    atomic_torch_save({"epoch": epoch, "model": model.state_dict(),
                       "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                       "perm_generator": perm_generator.get_state(), "history": history}, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """checkpoint.pt's content (tensors and plain values only), checked; a missing, unreadable or
    malformed file is a UserError naming it."""
    if not path.exists():
        raise UserError(f"no checkpoint in {path.parent}: it is not a (started) run directory")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on foreign files
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's corrupt checkpoint
        raise UserError(f"cannot read {path}: {unreadable_reason(path, e)}") from None
    missing = CHECKPOINT_KEYS - set(ckpt if isinstance(ckpt, dict) else {})
    if missing:
        raise UserError(f"{path} is not a vaecollapse checkpoint (missing "
                        f"{', '.join(sorted(missing))})")
    check_checkpoint(ckpt, path)
    return ckpt


def load_state(module, state: dict, path: Path) -> None:
    """Load a checkpoint's state into a model or optimiser; a mismatch is the user's error."""
    try:
        module.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} does not match the run's configuration: {first}") from None


def unreadable_reason(path: Path, error: BaseException) -> str:
    """One line on why ``torch.load(path, weights_only=True)`` failed with ``error``."""
    try:
        size = path.stat().st_size
    except OSError as e:
        return e.strerror or str(e)
    if size == 0:
        return "the file is empty (0 bytes)"
    text = str(error)
    blocked = re.search(r"GLOBAL ([\w.]+)", text)
    if blocked:
        return (f"refused: it holds a Python object ({blocked.group(1)}) that could run code "
                "when loaded; vaecollapse loads only tensors and plain values")
    if not zipfile.is_zipfile(path):
        with path.open("rb") as f:
            head = f.read(2)
        if head[:1] == b"\x80":
            return ("refused: it is a plain pickle, not a PyTorch checkpoint; vaecollapse loads "
                    "only checkpoints it wrote")
        return f"it is not a PyTorch checkpoint (not a zip archive: {size} random or truncated bytes)"
    first = next((line for line in text.splitlines() if line.strip()), type(error).__name__)
    return f"it is damaged ({first.strip()[:200]})"


def check_checkpoint(ckpt: dict, path: Path) -> None:
    """Raise a UserError naming the key when ``ckpt`` does not have the shape train() writes."""
    def bad(key: str, what: str):
        raise UserError(f"{path} is not a valid vaecollapse checkpoint: {key} {what}")

    epoch = ckpt["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        bad("epoch", f"must be a whole number >= 0, got {epoch!r}")
    for key in ("model", "optimizer"):
        if not isinstance(ckpt[key], dict):
            bad(key, f"must be a state dict, got {type(ckpt[key]).__name__}")
    for key in ("generator", "perm_generator"):
        state = ckpt[key]
        if not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.ndim == 1):
            bad(key, "must be a generator state (a 1-d uint8 tensor)")
    try:  # the batch-order generator is always a CPU one
        torch.Generator().set_state(ckpt["perm_generator"])
    except (RuntimeError, ValueError) as e:
        bad("perm_generator", f"is not a valid generator state ({str(e).splitlines()[0]})")
    history = ckpt["history"]
    if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        bad("history", "must be a list of per-epoch records")
    if len(history) != epoch:
        bad("history", f"has {len(history)} records for {epoch} epochs")
