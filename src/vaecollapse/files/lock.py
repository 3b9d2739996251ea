"""One writer per output directory: an exclusive ``fcntl.flock`` on ``DIR/.lock``.

``train``, ``sweep`` and ``reproduce`` hold the lock of the directory they write for as long as
they write it. The operating system releases a ``flock`` when its holder dies (even by
``kill -9``), so a lock is never stale: after a kill the file ``.lock`` stays behind, the lock
does not (the next holder removes the file on release). A second writer does not wait; it fails
at once with a :class:`DirectoryLocked` error naming the holder's pid (written into the lock
file by the holder). ``flock`` locks belong to an open file, so a second ``locked`` of the same
directory in the same process is refused too.

While it holds the lock a writer also removes the temporary files that an earlier, killed writer
left behind (``.NAME.XXXXXXXX[.suffix]``, the names :mod:`vaecollapse.files.atomic` gives its
atomic writes): nobody else can be writing them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
from collections.abc import Iterator
from pathlib import Path

from vaecollapse.errors import UserError

LOCK = ".lock"
# tempfile.mkstemp names: prefix ".NAME.", 8 random characters, optional suffix (atomic._atomic)
_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?$")

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking (documented)
    fcntl = None


class DirectoryLocked(UserError):
    """Another live process writes this directory."""


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "an unknown pid"


@contextlib.contextmanager
def locked(directory: str | os.PathLike, what: str = "directory") -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created if needed) for the ``with`` block.

    Raises :class:`DirectoryLocked` (a UserError) at once when another process holds it. The
    lock file is removed on release; if the block fails on a directory this call created and
    nothing else was written, the directory is removed too (bad input leaves nothing behind).
    """
    d = Path(directory)
    created = not d.exists()
    fd = _acquire(d, what)
    ok = False
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        remove_stale_temps(d)
        yield d
        ok = True
    finally:
        with contextlib.suppress(OSError):
            if _same_file(fd, d / LOCK):
                (d / LOCK).unlink()
        os.close(fd)  # releases the flock
        if not ok and created:
            with contextlib.suppress(OSError):
                d.rmdir()  # only if empty


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _acquire(d: Path, what: str) -> int:
    """An fd of ``d/.lock`` holding its flock. The holder removes the file on release, so after
    locking we check that the path still names the locked file (else retry on the new one)."""
    for _ in range(100):
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd = os.open(d / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UserError(f"cannot use {d} as a {what}: {e.strerror or e}") from None
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(d / LOCK)
            os.close(fd)
            raise DirectoryLocked(
                f"{d} is in use by another vaecollapse process ({holder}); wait for it to "
                "finish, or stop it, then run again") from None
        if _same_file(fd, d / LOCK):
            return fd
        os.close(fd)  # the previous holder removed it meanwhile: lock the current file
    raise UserError(f"cannot lock {d}: its lock file keeps changing")  # pragma: no cover


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Delete the atomic-write temporary files (``.NAME.XXXXXXXX[.suffix]``) in ``directory``
    (not recursive); returns what was removed. Call only while holding its lock."""
    removed = []
    with contextlib.suppress(OSError):
        for p in Path(directory).iterdir():
            if p.is_file() and _TEMP.match(p.name) and p.name != LOCK:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


def locks_directory(arg: str, what: str = "directory"):
    """Decorator: run the function holding the lock of its argument ``arg`` (a directory)."""

    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            directory = sig.bind(*args, **kwargs).arguments[arg]
            with locked(directory, what):
                return fn(*args, **kwargs)

        return inner

    return wrap
