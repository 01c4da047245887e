"""Dashboard accounts: a TOML file of user names and scrypt password hashes, and the sign-in check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from warehouse.settings import Settings

SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**14, 8, 1, 32
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user name, password or users file that cannot be used."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash of the password, self-describing: 'scrypt$n$r$p$salt$key' (base64)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES)
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether the password matches a hash made by hash_password (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


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
    path = settings.dashboard_users_file
    users = load_users(path)
    users[name] = hash_password(password)
    _write_users(path, users)
    return path


def authenticate(settings: Settings, name: str, password: str) -> bool:
    """Whether name and password match an account of the users file."""
    stored = load_users(settings.dashboard_users_file).get(name.strip())
    if stored is None:
        check_password(password, _dummy_hash())  # same work either way: no timing oracle on user names
        return False
    return check_password(password, stored)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
