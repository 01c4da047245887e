"""The machine-wide run lock: never two nightly runs at once, even from two terminals (see warehouse.locks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warehouse.locks import LockBusy, file_lock
from warehouse.settings import Settings


class RunLocked(RuntimeError):
    """Another process holds the run lock."""


def lock_path(settings: Settings, name: str = "nightly") -> Path:
    """The lock file of one job, next to the warehouse."""
    return settings.warehouse_path.parent / "locks" / f"{name}.lock"


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; raise RunLocked at once if another process holds it."""
    try:
        with file_lock(path):
            yield
    except LockBusy as busy:
        raise RunLocked(f"another run holds the lock {path} ({busy.holder}); try again when it ends") from None
