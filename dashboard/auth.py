"""Dashboard accounts: a TOML file of user names and scrypt password hashes, and the sign-in check.

Passwords are hashed with scrypt at OWASP's cost (N = 2**17, r = 8, p = 1); a hash of an earlier, cheaper
cost still verifies and is replaced at the next successful sign-in. Failed sign-ins are logged, and after
`dashboard_signin_attempts` failures in a row for one user name each further attempt must wait, the wait
doubling up to a quarter of an hour (the password is not even checked meanwhile). A session carries the
stamp of the account it signed in with, so an account removed or given a new password signs its sessions
out at their next page run.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from warehouse.secrets import (
    HashesFileError,
    change_entry,
    check_secret,
    hash_secret,
    outdated,
    read_entries,
    write_entries,
)
from warehouse.settings import Settings

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
FIRST_WAIT_S, LONGEST_WAIT_S = 30.0, 900.0
SECTION, HASH = "users", "password_hash"
WHAT = "Dashboard accounts (scrypt hashes) by `credit-scoring dashboard-user`"
log = logging.getLogger(__name__)


class UserError(ValueError):
    """A user name, password or users file that cannot be used."""


def load_users(path: Path) -> dict[str, str]:
    """User name -> password hash from the users file (empty when the file does not exist)."""
    try:
        return {name: entry[HASH] for name, entry in read_entries(path, SECTION, HASH).items()}
    except HashesFileError as error:
        raise UserError(str(error)) from error


def add_user(settings: Settings, name: str, password: str) -> Path:
    """Create or update a dashboard account in settings.dashboard_users_file; returns the file."""
    if not NAME_PATTERN.match(name):
        raise UserError(f"User name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _update(settings, name, hash_secret(password))


def remove_user(settings: Settings, name: str) -> Path:
    """Remove a dashboard account; its open sessions end at their next page run."""
    if name not in load_users(settings.dashboard_users_file):
        raise UserError(f"No dashboard account named {name!r}")
    return _update(settings, name, None)


def _update(settings: Settings, name: str, password_hash: str | None) -> Path:
    """Set (or, with None, remove) one account's hash, the file locked against a concurrent change."""
    entry = None if password_hash is None else {HASH: password_hash}
    return change_entry(settings.dashboard_users_file, SECTION, HASH, name, entry, WHAT)


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
        check_secret(password, _dummy_hash())  # same work either way: no timing oracle on user names
    if stored is None or not check_secret(password, stored):
        wait = THROTTLE.failed(name, settings.dashboard_signin_attempts)
        log.warning("dashboard sign-in failed for user %r from %s", name, client)
        return SignIn(None, wait)
    THROTTLE.forget(name)
    if outdated(stored):
        _update(settings, name, hash_secret(password))
        log.info("dashboard account %r: password hash upgraded to today's scrypt cost", name)
    return SignIn(account_stamp(settings, name))


@cache
def _dummy_hash() -> str:
    """A hash to check against when the user does not exist."""
    return hash_secret(secrets.token_hex(8))


def _write_users(path: Path, users: dict[str, str]) -> None:
    """Write the users file atomically, readable by its owner only."""
    write_entries(path, SECTION, {name: {HASH: stored} for name, stored in users.items()}, WHAT)
