"""File-level checks: which Kaggle files a folder holds, and whether a file's bytes and header can be loaded.

A problem found here rejects the file, and with it the whole load."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from warehouse.schema import Column, Table, tables

INDEX_COLUMNS = ("", "Unnamed: 0")
"""Header names of the row-index column that pandas and spreadsheets add; it is dropped."""
SNIFF_BYTES = 1 << 16


class IngestError(Exception):
    """The load could not run at all (no files, warehouse locked or of another layout)."""


class FileRejected(Exception):
    """A file-level problem: the file cannot be loaded and the whole load rolls back."""


def find_files(source: Path) -> tuple[list[tuple[Table, Path]], list[str]]:
    """The Kaggle files of a folder in load order (parents first), and the names of other CSV files."""
    if not source.is_dir():
        raise IngestError(f"{source} is not a folder")
    contract = tables()
    found = []
    for table in contract.values():
        candidates = [p for p in (source / table.file_name, source / f"{table.file_name}.gz") if p.is_file()]
        if len(candidates) > 1:
            raise IngestError(f"{source} holds both {candidates[0].name} and {candidates[1].name}; keep one")
        found += [(table, p) for p in candidates]
    known = {p.name for _, p in found}
    ignored = sorted(p.name for p in source.iterdir() if p.name.endswith((".csv", ".csv.gz")) and p.name not in known)
    if not found:
        names = ", ".join(t.file_name for t in contract.values())
        raise IngestError(f"{source} holds none of the Kaggle files ({names})")
    return found, ignored


def columns_of(table: Table) -> tuple[Column, ...]:
    """The contract's columns with clean names (the dictionary spells some with a trailing space)."""
    return _clean_columns(table.name)


@cache
def _clean_columns(table_name: str) -> tuple[Column, ...]:
    """Columns of a contract table, names stripped of spaces."""
    return tuple(dataclasses.replace(c, name=c.name.strip()) for c in tables()[table_name].columns)


def checksum(path: Path) -> str:
    """SHA-256 of the file's bytes, as hex."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class Layout:
    """How to read one file: its encoding and header columns (in file order)."""

    encoding: str
    header: tuple[str, ...]


def inspect_file(path: Path, table: Table) -> Layout:
    """Check a file's bytes and header against the contract; raise FileRejected naming the problem."""
    head, tail = _head_and_tail(path)
    if not head:
        raise FileRejected("empty file (0 bytes)")
    if b"\x00" in head or head[:2] == b"\x1f\x8b" or head[:4] == b"PK\x03\x04":
        raise FileRejected("unreadable: binary content, not a CSV text file")
    if not path.name.endswith(".gz") and not tail.endswith(b"\n"):
        raise FileRejected(
            "truncated: the file does not end with a line break, so its last line is cut "
            "short (if the file is complete, add a final line break)"
        )
    encoding = _encoding(head)
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r").decode(encoding, errors="replace").lstrip("\ufeff")
    header = tuple(h.strip() for h in next(csv.reader(io.StringIO(first_line)), []))
    if not header:
        raise FileRejected("the first line is empty; expected the header line of column names")
    required = [c.name for c in columns_of(table)]
    if len(header) == 1 and len(required) > 1:
        found = next((d for d in (";", "\t", "|") if d in first_line), None)
        raise FileRejected(
            f"wrong delimiter: the header is separated by {found!r}, expected ','"
            if found
            else "the header has a single column; expected comma-separated columns"
        )
    names = header[1:] if header and header[0] in INDEX_COLUMNS else header
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise FileRejected(f"duplicate column names in the header: {', '.join(dupes)}")
    missing = [c for c in required if c not in names]
    if missing:
        raise FileRejected(f"required column{'s' if len(missing) > 1 else ''} missing: {', '.join(missing)}")
    unknown = [c for c in names if c not in required]
    if unknown:
        raise FileRejected(
            f"unknown column{'s' if len(unknown) > 1 else ''} not in the schema contract: {', '.join(unknown)}"
        )
    return Layout(encoding, header)


def _head_and_tail(path: Path) -> tuple[bytes, bytes]:
    """The first and last bytes of a file (decompressed for .gz)."""
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                return f.read(SNIFF_BYTES), b""
        except (OSError, EOFError) as error:
            raise FileRejected(f"unreadable: not a valid gzip file ({error})") from error
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        f.seek(max(0, path.stat().st_size - 1))
        return head, f.read(1)


def _encoding(head: bytes) -> str:
    """utf-8 unless the first bytes are not valid UTF-8, then latin-1 (DuckDB retries later bytes)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut by the sniff boundary
            return "latin-1"
    return "utf-8"
