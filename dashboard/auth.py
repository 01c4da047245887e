"""Dashboard accounts: a TOML file of user names and scrypt password hashes, and the sign-in check.

Passwords are hashed with scrypt at OWASP's cost (N = 2**17, r = 8, p = 1); a hash of an earlier, cheaper
cost still verifies and is replaced at the next successful sign-in. Failed sign-ins are logged, and after
`dashboard_signin_attempts` failures in a row for one user name each further attempt must wait, the wait
doubling up to a quarter of an hour (the password is not even checked meanwhile). A session carries the
stamp of the account it signed in with, so an account removed or given a new password signs its sessions
out at their next page run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from warehouse.database import private_dir
from warehouse.locks import file_lock
from warehouse.settings import Settings

SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**17, 8, 1, 32
MAX_N, MAX_R, MAX_P = 2**20, 32, 16
"""Bounds on the costs a stored hash may ask for (a tampered file must not exhaust the machine)."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
FIRST_WAIT_S, LONGEST_WAIT_S = 30.0, 900.0
log = logging.getLogger(__name__)


class UserError(ValueError):
    """A user name, password or users file that cannot be used."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash of the password, self-describing: 'scrypt$n$r$p$salt$key' (base64)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(key).decode()}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    """hashlib.scrypt with the memory its cost needs (128 * n * r bytes, and some room)."""
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=129 * n * r * p + 2**20)


def check_password(password: str, stored: str) -> bool:
    """Whether the password matches a hash made by hash_password, at its own cost (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        cost = int(n), int(r), int(p)
        if scheme != "scrypt" or not _sane(*cost):
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), *cost, len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _sane(n: int, r: int, p: int) -> bool:
    """Whether scrypt costs are within bounds (n a power of two)."""
    return 2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P


def outdated(stored: str) -> bool:
    """Whether a hash was made at a lower cost than today's."""
    try:
        n, r, p = (int(x) for x in stored.split("$")[1:4])
    except ValueError:
        return True
    return (n, r, p) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)


def load_users(path: Path) -> dict[str, str]:
    """User name -> password hash from the users file (empty when the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from error
    users = data.get("users", {})
    bad = [name for name, entry in users.items() if not isinstance(entry, dict) or "password_hash" not in entry]
    if bad:
        raise UserError(f"{path}: users without a password_hash: {', '.join(sorted(bad))}")
    return {name: entry["password_hash"] for name, entry in users.items()}


def add_user(settings: Settings, name: str, password: str) -> Path:
    """Create or update a dashboard account in settings.dashboard_users_file; returns the file."""
    if not NAME_PATTERN.match(name):
        raise UserError(f"User name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _update(settings, name, hash_password(password))


def remove_user(settings: Settings, name: str) -> Path:
    """Remove a dashboard account; its open sessions end at their next page run."""
    if name not in load_users(settings.dashboard_users_file):
        raise UserError(f"No dashboard account named {name!r}")
    return _update(settings, name, None)


def _update(settings: Settings, name: str, password_hash: str | None) -> Path:
    """Set (or, with None, remove) one account's hash, the file locked against a concurrent change."""
    path = settings.dashboard_users_file
    private_dir(path.parent)
    with file_lock(path.with_name(path.name + ".lock"), wait_s=30):
        users = load_users(path)
        if password_hash is None:
            users.pop(name, None)
        else:
            users[name] = password_hash
        _write_users(path, users)
    return path


def account_stamp(settings: Settings, name: str) -> str | None:
    """A fingerprint of an account's stored hash (None when the account does not exist): it changes with the
    password."""
    stored = load_users(settings.dashboard_users_file).get(name)
    return None if stored is None else hashlib.sha256(stored.encode()).hexdigest()


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the account's stamp when it succeeded, else the seconds to wait
    before the next attempt is allowed (0: none)."""

    stamp: str | None
    wait_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the user is signed in."""
        return self.stamp is not None


class Throttle:
    """Failed sign-ins in a row per user name, and until when the next attempt must wait (this process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}

    def wait_s(self, name: str) -> float:
        """Seconds before the user name may try again (0: now)."""
        with self._lock:
            _, until = self._failures.get(name, (0, 0.0))
        return max(0.0, until - time.monotonic())

    def failed(self, name: str, allowed: int) -> float:
        """Count a failure; the wait it imposes from now on (0 while under the allowed number)."""
        with self._lock:
            count = self._failures.get(name, (0, 0.0))[0] + 1
            wait = 0.0 if count < allowed else min(LONGEST_WAIT_S, FIRST_WAIT_S * 2 ** (count - allowed))
            self._failures[name] = (count, time.monotonic() + wait)
        return wait

    def forget(self, name: str) -> None:
        """Clear a user name's failures (after a successful sign-in)."""
        with self._lock:
            self._failures.pop(name, None)


THROTTLE = Throttle()


def authenticate(settings: Settings, name: str, password: str, *, client: str = "unknown") -> SignIn:
    """Check a sign-in, within the attempt limit; log failures (with the client's address)."""
    name = name.strip()
    wait = THROTTLE.wait_s(name)
    if wait > 0:
        log.warning(
            "dashboard sign-in refused for user %r from %s: too many failures, %.0f s to wait", name, client, wait
        )
        return SignIn(None, wait)
    stored = load_users(settings.dashboard_users_file).get(name)
    if stored is None:
        check_password(password, _dummy_hash())  # same work either way: no timing oracle on user names
    if stored is None or not check_password(password, stored):
        wait = THROTTLE.failed(name, settings.dashboard_signin_attempts)
        log.warning("dashboard sign-in failed for user %r from %s", name, client)
        return SignIn(None, wait)
    THROTTLE.forget(name)
    if outdated(stored):
        _update(settings, name, hash_password(password))
        log.info("dashboard account %r: password hash upgraded to today's scrypt cost", name)
    return SignIn(account_stamp(settings, name))


@cache
def _dummy_hash() -> str:
    """A hash to check against when the user does not exist."""
    return hash_password(secrets.token_hex(8))


def _write_users(path: Path, users: dict[str, str]) -> None:
    """Write the users file atomically, readable by its owner only."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [f"# Dashboard accounts (scrypt hashes), written {stamp} by `credit-scoring dashboard-user`."]
    for name in sorted(users):
        lines += ["", f'[users."{name}"]', f'password_hash = "{users[name]}"']
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
