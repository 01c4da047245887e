"""Child processes that die with their parent (Linux), so a killed job never leaves a writer behind."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(parent_pid: int) -> None:
    """In a new child process: be SIGKILLed by the kernel when the parent ends (at once if it already did)."""
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def child_setup() -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child leads its own process group and dies with this process."""
    parent = os.getpid()

    def setup() -> None:
        os.setpgid(0, 0)
        die_with_parent(parent)

    return setup


def kill_group(pid: int) -> None:
    """SIGKILL a child and every process of the group it leads (ignored if already gone)."""
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
