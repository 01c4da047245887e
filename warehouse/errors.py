"""Errors in plain words: what a user reads must name the problem, never DuckDB's or Python's internals."""

from __future__ import annotations

import errno

DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
DISK_FULL_WORDS = ("no space left on device", "file too large", "disk quota exceeded")
DISK_FULL = (
    "not enough disk space: the disk is full or a file-size limit was reached; nothing was changed "
    "(free some space and run it again)"
)
UNEXPECTED = "unexpected internal error (a bug; the log has the details)"
PRODUCT_PACKAGES = ("cli", "dashboard", "scheduler", "monitoring", "scoring", "featurestore", "ingest", "generator")
PLAIN_BUILTINS = (ValueError, FileNotFoundError, FileExistsError, TimeoutError)
"""Built-in errors the product raises with a message written for users (any other one is a bug)."""


def is_disk_full(error: BaseException) -> bool:
    """Whether an error (or its cause) says the disk is full or a file-size limit was hit."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
            return True
        if any(words in str(seen).lower() for words in DISK_FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def plain_message(error: BaseException) -> str:
    """The message a user reads for an error: the product's own words, or a plain account of a system error."""
    if is_disk_full(error):
        return DISK_FULL
    if isinstance(error, MemoryError):
        return "out of memory: the machine ran out of memory for this job"
    if isinstance(error, PermissionError):
        return f"permission denied: {error.filename or 'a file'} cannot be written or read by this user"
    module = type(error).__module__.split(".")[0]
    if module in PRODUCT_PACKAGES or module == "warehouse" or type(error) in PLAIN_BUILTINS:
        return str(error)
    return UNEXPECTED
