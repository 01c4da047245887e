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

import numpy as np

from warehouse.schema import Column, Table, inputs

INDEX_COLUMNS = ("", "Unnamed: 0")
"""Header names of the row-index column that pandas and spreadsheets add; it is dropped."""
SNIFF_BYTES = 1 << 16
CHUNK_BYTES = 1 << 22
LF, CR = 10, 13


GZIP_UNREADABLE = "unreadable: the gzip data is corrupt or cut short (not a complete .csv.gz file)"


class IngestError(Exception):
    """The load could not run at all (no files, warehouse locked or of another layout)."""


class FileRejected(Exception):
    """A file-level problem: the file cannot be loaded and the whole load rolls back."""


def find_files(source: Path) -> tuple[list[tuple[Table, Path]], list[str]]:
    """The contract's files of a folder (Kaggle files, outcomes) in load order, and the names of other CSV files."""
    if not source.is_dir():
        raise IngestError(f"{source} is not a folder")
    contract = inputs()
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
        raise IngestError(f"{source} holds none of the Kaggle files or outcomes ({names})")
    return found, ignored


def columns_of(table: Table) -> tuple[Column, ...]:
    """The contract's columns with clean names (the dictionary spells some with a trailing space)."""
    return _clean_columns(table.name)


@cache
def _clean_columns(table_name: str) -> tuple[Column, ...]:
    """Columns of a contract table, names stripped of spaces."""
    return tuple(dataclasses.replace(c, name=c.name.strip()) for c in inputs()[table_name].columns)


def checksum(path: Path) -> str:
    """SHA-256 of the file's bytes, as hex."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class Scan:
    """What one pass over a file's bytes found: its SHA-256 and the numbers of its empty lines."""

    checksum: str
    empty_lines: tuple[int, ...]
    """1-based numbers of the lines holding nothing (DuckDB skips them silently; line numbers must not shift)."""
    mixed_line_endings: bool = False
    """Some lines end with CR LF (Windows), others with LF alone (a file edited on two systems)."""


def scan(path: Path) -> Scan:
    """Hash a file and find its empty lines in one pass (a .gz file is decompressed for the search)."""
    digest, empty = hashlib.sha256(), _EmptyLines()
    with path.open("rb") as raw:
        for chunk in iter(lambda: raw.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            if not path.name.endswith(".gz"):
                empty.feed(chunk)
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as unzipped:
                for chunk in iter(lambda: unzipped.read(CHUNK_BYTES), b""):
                    empty.feed(chunk)
        except (OSError, EOFError):
            pass  # a corrupt gzip file is rejected by the reader, with its own message
    return Scan(digest.hexdigest(), tuple(empty.found), empty.mixed)


def with_unix_line_endings(path: Path, folder: Path) -> Path:
    """A copy of a (possibly gzipped) CSV file in `folder` whose line breaks are all LF (CR LF becomes LF).

    DuckDB's reader stops (or numbers lines wrongly) when a file mixes both kinds; the copy has the same lines."""
    copy = folder / path.name.removesuffix(".gz")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as source, copy.open("wb") as target:
        held = b""
        for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
            data = held + chunk
            held = data[-1:] if data.endswith(b"\r") else b""
            target.write(data[: len(data) - len(held)].replace(b"\r\n", b"\n"))
        target.write(held)
    return copy


class _EmptyLines:
    """Finds the numbers of empty lines, and whether line breaks are of two kinds, in a byte stream fed in chunks.

    Vectorised (numpy): it runs over every byte of the full data set, beside the checksum, and must cost no more."""

    def __init__(self) -> None:
        self.found: list[int] = []
        self.breaks = 0
        """Line breaks (LF) so far."""
        self.crlf = 0
        """Those of them preceded by CR."""
        self.offset = 0
        self.last_break = -2
        """Offset of the last LF seen (-2: none yet; the first line, the header, is never empty)."""
        self.last_byte = 0

    @property
    def mixed(self) -> bool:
        """Whether some line breaks fed so far are CR LF and others LF alone."""
        return 0 < self.crlf < self.breaks

    def feed(self, chunk: bytes) -> None:
        """Count the chunk's line breaks and note its empty lines (a line holding nothing, or CR alone)."""
        if not chunk:
            return
        data = np.frombuffer(chunk, dtype=np.uint8)
        at = np.flatnonzero(data == LF)
        if at.size:
            before = np.where(at > 0, data[np.maximum(at - 1, 0)], self.last_byte)
            self.crlf += int(np.count_nonzero(before == CR))
            ends = at + self.offset
            gaps = np.diff(ends, prepend=self.last_break)
            empty = np.flatnonzero((gaps == 1) | ((gaps == 2) & (before == CR)))
            self.found += (self.breaks + empty + 1).tolist()
            self.breaks += int(at.size)
            self.last_break = int(ends[-1])
        self.last_byte = chunk[-1]
        self.offset += len(chunk)


@dataclass(frozen=True)
class Layout:
    """How to read one file: its encoding, its header as contract column names (in file order), and the
    harmless oddities found in its header (reported as warnings)."""

    encoding: str
    header: tuple[str, ...]
    warnings: tuple[str, ...] = ()


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
    by_case = {c.lower(): c for c in required}
    matched = {n: by_case.get(n.lower(), n) for n in names}
    if len(set(matched.values())) != len(names):
        raise FileRejected("the header names some columns twice in different letter cases")
    missing = [c for c in required if c not in matched.values()]
    if missing:
        raise FileRejected(f"required column{'s' if len(missing) > 1 else ''} missing: {', '.join(missing)}")
    unknown = [n for n, c in matched.items() if c not in required]
    if unknown:
        raise FileRejected(
            f"unknown column{'s' if len(unknown) > 1 else ''} not in the schema contract: {', '.join(unknown)}"
        )
    recased = [f"{n} as {c}" for n, c in matched.items() if n != c]
    warnings = (f"column names in another letter case read as the contract's: {', '.join(recased)}",) if recased else ()
    return Layout(encoding, tuple(h if h in INDEX_COLUMNS else matched[h] for h in header), warnings)


def _head_and_tail(path: Path) -> tuple[bytes, bytes]:
    """The first and last bytes of a file (decompressed for .gz)."""
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                return f.read(SNIFF_BYTES), b""
        except (OSError, EOFError) as error:
            raise FileRejected(GZIP_UNREADABLE) from error
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
