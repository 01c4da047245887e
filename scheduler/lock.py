"""A machine-wide run lock: never two nightly runs at once, even from two terminals.

The lock is an OS advisory lock (`fcntl.flock`) on a file. The kernel releases it
when the holding process exits for any reason, SIGKILL included, so a crashed run
never blocks the next one; the file itself may stay behind and means nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warehouse.settings import Settings


class RunLocked(RuntimeError):
    """Another process holds the run lock."""


def lock_path(settings: Settings, name: str = "nightly") -> Path:
    """The lock file of one job, next to the warehouse."""
    return settings.warehouse_path.parent / "locks" / f"{name}.lock"


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; raise RunLocked at once if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as busy:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(f"another run holds the lock {path} (process {holder}); try again when it ends") from busy
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
