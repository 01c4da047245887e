"""The read API's keys: a TOML file of key names and scrypt hashes (warehouse/secrets.py), and the check of a request.

A key is made here, never chosen by a person: '<name>.<43 random characters>' (256 bits), shown once when it is
added and stored only as a hash. The name in front says which hash to check, so a request costs one scrypt, and a
key checked once is remembered (by its SHA-256, in memory) until the keys file changes: a removed key stops
working at the next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from warehouse.secrets import HashesFileError, change_entry, check_secret, hash_secret, read_entries
from warehouse.settings import Settings

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SECTION, HASH = "keys", "key_hash"
WHAT = "Read API keys (scrypt hashes) by `credit-scoring api-key`"
KEY_COST = 2**14
"""scrypt's N for API keys: 256 random bits need no slow hash, and each request checks one (about 16 MiB)."""


class ApiKeyError(ValueError):
    """A key name or keys file that cannot be used."""


@dataclass(frozen=True)
class StoredKey:
    """One API key as the file keeps it: its name (who uses it), hash and when it was made."""

    name: str
    key_hash: str
    created_at: str


def load_keys(path: Path) -> dict[str, StoredKey]:
    """Key name -> stored key, from the keys file (empty when the file does not exist)."""
    try:
        entries = read_entries(path, SECTION, HASH)
    except HashesFileError as error:
        raise ApiKeyError(str(error)) from error
    return {name: StoredKey(name, entry[HASH], entry.get("created_at", "?")) for name, entry in entries.items()}


def add_key(settings: Settings, name: str) -> tuple[Path, str]:
    """Make a new key for `name` (replacing its previous one); the keys file and the key, to hand over once."""
    if not NAME_PATTERN.match(name):
        raise ApiKeyError(f"Key name {name!r} must be 1-64 letters, digits, '_' or '-'")
    key = f"{name}.{secrets.token_urlsafe(32)}"
    stored = StoredKey(name, hash_secret(key, n=KEY_COST), datetime.now(UTC).isoformat(timespec="seconds"))
    return _update(settings, name, stored), key


def remove_key(settings: Settings, name: str) -> Path:
    """Remove a key: requests with it are refused from the next one on."""
    if name not in load_keys(settings.api_keys_file):
        raise ApiKeyError(f"No API key named {name!r}")
    return _update(settings, name, None)


def _update(settings: Settings, name: str, stored: StoredKey | None) -> Path:
    """Set (or, with None, remove) one key, the file locked against a concurrent change."""
    entry = None if stored is None else {HASH: stored.key_hash, "created_at": stored.created_at}
    return change_entry(settings.api_keys_file, SECTION, HASH, name, entry, WHAT)


@cache
def _dummy_hash() -> str:
    """A hash to check against when no key has the name presented."""
    return hash_secret(secrets.token_hex(8), n=KEY_COST)


class KeyRing:
    """Checks presented keys against the keys file; remembers the ones that passed until the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._passed: dict[str, str] = {}

    def owner(self, presented: str | None) -> str | None:
        """The name of the key presented, or None when it is missing or not a valid key."""
        if not presented:
            return None
        version = self._file_version()
        digest = hashlib.sha256(presented.encode()).hexdigest()
        with self._lock:
            if version != self._version:
                self._version, self._passed = version, {}
            if digest in self._passed:
                return self._passed[digest]
        name = presented.partition(".")[0]
        stored = load_keys(self.path).get(name)
        if stored is None:
            check_secret(presented, _dummy_hash())  # the same work either way: no timing oracle on key names
            return None
        if not check_secret(presented, stored.key_hash):
            return None
        with self._lock:
            if version == self._version:
                self._passed[digest] = name
        return name

    def _file_version(self) -> tuple[int, int, int] | None:
        """The keys file's inode, modification time and size (None when it does not exist)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size
