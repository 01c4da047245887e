"""Machine-wide locks on files: never two nightly runs, never two publications at once.

A lock is an OS advisory lock (`fcntl.flock`) on a file. The kernel releases it when the holding process
exits for any reason, SIGKILL included, so a crashed holder never blocks the next one; the file itself may
stay behind and means nothing. The lock is on the open file, not the process: two holders in one process
exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warehouse.database import private_dir

POLL_SECONDS = 0.1


class LockBusy(RuntimeError):
    """Another holder kept the lock for longer than the caller would wait."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"another process ({holder}) holds the lock {path}")
        self.path, self.holder = path, holder


@contextmanager
def file_lock(path: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting at most `wait_s` seconds for it (LockBusy else)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _acquire(fd, path, time.monotonic() + wait_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, path: Path, deadline: float) -> None:
    """Take the lock on an open file, polling until the deadline; LockBusy naming the holder when it passes."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                raise LockBusy(path, f"process {holder}" if holder else "unknown process") from None
            time.sleep(POLL_SECONDS)
