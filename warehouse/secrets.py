"""The one way to hash a secret (a dashboard password, an API key): scrypt, self-describing, bounded cost.

A hash reads 'scrypt$n$r$p$salt$key' (base64), so a hash made at an earlier cost still verifies. Passwords are
hashed at OWASP's cost (N = 2**17, r = 8, p = 1); a generated API key carries 256 random bits, which no cost
protects better, so it may be hashed cheaper (`n`) to keep each request fast. Owner-only files that hold hashes
are TOML files of `[section."name"]` entries, changed under a lock and written atomically (`change_entry`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from warehouse.database import private_dir
from warehouse.locks import file_lock

SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**17, 8, 1, 32
MAX_N, MAX_R, MAX_P = 2**20, 32, 16
"""Bounds on the costs a stored hash may ask for (a tampered file must not exhaust the machine)."""
Entries = dict[str, dict[str, str]]
"""A hashes file: name -> its fields (the hash among them)."""


class HashesFileError(ValueError):
    """A hashes file that cannot be read: not TOML, or an entry without its hash."""


def hash_secret(secret: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """An scrypt hash of the secret, self-describing: 'scrypt$n$r$p$salt$key' (base64)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = scrypt(secret, salt, n, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    encode = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(key).decode()}"


def scrypt(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    """hashlib.scrypt with the memory its cost needs (128 * n * r bytes, and some room)."""
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=129 * n * r * p + 2**20)


def check_secret(secret: str, stored: str) -> bool:
    """Whether the secret matches a hash made by hash_secret, at its own cost (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        cost = int(n), int(r), int(p)
        if scheme != "scrypt" or not _sane(*cost):
            return False
        expected = base64.b64decode(key)
        actual = scrypt(secret, base64.b64decode(salt), *cost, len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _sane(n: int, r: int, p: int) -> bool:
    """Whether scrypt costs are within bounds (n a power of two)."""
    return 2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P


def outdated(stored: str, n: int = SCRYPT_N) -> bool:
    """Whether a hash was made at a lower cost than (n, SCRYPT_R, SCRYPT_P)."""
    try:
        cost = tuple(int(x) for x in stored.split("$")[1:4])
    except ValueError:
        return True
    return cost < (n, SCRYPT_R, SCRYPT_P)


def write_private_text(path: Path, text: str) -> None:
    """Write a file atomically (a reader sees the old or the new one), readable by its owner only."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_entries(path: Path, section: str, required: str) -> Entries:
    """The `[section."name"]` entries of a hashes file, each with its `required` field (empty when no file)."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise HashesFileError(f"{path}: not valid TOML ({error})") from error
    entries = data.get(section, {})
    bad = [name for name, entry in entries.items() if not isinstance(entry, dict) or required not in entry]
    if bad:
        raise HashesFileError(f"{path}: {section} without a {required}: {', '.join(sorted(bad))}")
    return {name: {key: str(value) for key, value in entry.items()} for name, entry in entries.items()}


def change_entry(path: Path, section: str, required: str, name: str, entry: dict[str, str] | None, what: str) -> Path:
    """Set (or, with None, remove) one entry of a hashes file, the file locked against a concurrent change."""
    private_dir(path.parent)
    with file_lock(path.with_name(path.name + ".lock"), wait_s=30):
        entries = read_entries(path, section, required)
        if entry is None:
            entries.pop(name, None)
        else:
            entries[name] = entry
        write_entries(path, section, entries, what)
    return path


def write_entries(path: Path, section: str, entries: Entries, what: str) -> None:
    """Write a hashes file atomically, owner-only, headed by what it holds and when it was written."""
    lines = [f"# {what}, written {datetime.now(UTC).isoformat(timespec='seconds')}."]
    for name in sorted(entries):
        lines += ["", f'[{section}."{name}"]', *(f'{key} = "{value}"' for key, value in entries[name].items())]
    write_private_text(path, "\n".join(lines) + "\n")
