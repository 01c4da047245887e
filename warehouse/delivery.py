"""How a batch is delivered: a folder of Kaggle files that becomes eligible when its manifest is there.

The sender copies the files first and writes `manifest.json` LAST (atomically: written aside, then renamed).
The manifest lists every file with its size and SHA-256, so a batch still being copied (no manifest yet, a
file missing or shorter than listed) is recognised and waits for the next night, and a file that differs
from what the sender listed (cut at a line boundary, or a .csv.gz cut anywhere) is rejected by ingestion.
`credit-scoring generate --batch-date` writes it; for files copied by hand, `credit-scoring manifest DIR`
writes it once every file is in place.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = "credit-scoring delivery manifest 1"


class ManifestError(ValueError):
    """A manifest that cannot be read or does not describe a batch."""


@dataclass(frozen=True)
class Listed:
    """One file as the manifest lists it."""

    bytes: int
    sha256: str


def write_manifest(folder: Path, names: list[str]) -> Path:
    """List the files (size and SHA-256) in folder/manifest.json, written aside then renamed into place."""
    files = {}
    for name in sorted(names):
        path = folder / name
        with path.open("rb") as f:
            files[name] = {"bytes": path.stat().st_size, "sha256": hashlib.file_digest(f, "sha256").hexdigest()}
    target = folder / MANIFEST
    aside = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    aside.write_text(json.dumps({"format": FORMAT, "files": files}, indent=2) + "\n")
    with aside.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(aside, target)
    return target


def read_manifest(folder: Path) -> dict[str, Listed] | None:
    """The files a folder's manifest lists, or None when the folder has no manifest."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ManifestError(f"{path} is not a delivery manifest ({FORMAT!r} expected)")
        return {name: Listed(int(e["bytes"]), str(e["sha256"])) for name, e in data["files"].items()}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError, ValueError) as error:
        if isinstance(error, ManifestError):
            raise
        raise ManifestError(f"{path} cannot be read as a delivery manifest") from error


def still_arriving(folder: Path) -> list[str]:
    """Why a batch folder is not complete yet (empty when it is): no manifest, or files missing or short."""
    try:
        listed = read_manifest(folder)
    except ManifestError as error:
        return [str(error)]
    if listed is None:
        return [f"no {MANIFEST} yet (the sender writes it last, once every file is in place)"]
    waiting = []
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            waiting.append(f"{name} is listed but not there yet")
        elif path.stat().st_size < entry.bytes:
            waiting.append(f"{name} has {path.stat().st_size:,} of its {entry.bytes:,} bytes")
    return waiting
