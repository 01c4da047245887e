"""The one result format of the benchmarks: a `Row` per measured step, collected by `run_all` into one table.

Every bench_*.py measures its steps, builds one `Row` per step and hands them to `emit(rows)`:

    from benchmarks.report import Row, emit, peak_mb

    emit([
        Row(
            step="ingest, full scale",              # what was measured, at what scale
            seconds=41.2,                           # its wall time
            reference="plain DuckDB read_csv",      # a simpler job measured in the SAME run...
            reference_seconds=30.3,                 # ...and its wall time (None: no reference)
            peak_mb=peak_mb(),                      # peak resident memory of the step, MiB
            max_ratio=1.4,                          # target: seconds <= 1.4 x reference_seconds
            max_seconds=None,                       # target: seconds <= this (None: no such target)
            quality=None,                           # optional ("OOF/true-PD AUC", 0.991, 0.98): value >= minimum
            note="58.2M rows",                      # free text shown at the end of the line
        )
    ])

`emit` prints the rows as a table (so a benchmark run alone shows them too) and, when the environment
variable BENCH_ROWS names a file (run_all sets it), appends them to it as JSON lines, one object per
row with the field names above. `run_all` runs each benchmark in its own process, then reads that file
and prints ONE table of every row: step, seconds, reference, reference seconds, ratio, peak memory,
target, and whether it is met. A row is met when every target it states holds, peak memory included
(MAX_PEAK_MB by default).

Tables are plain text sized to their content, never squeezed to the terminal width, so a log file
keeps them readable.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import resource
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

ROWS_ENV = "BENCH_ROWS"
"""Environment variable naming the JSON-lines file that collects every benchmark's rows."""
MAX_PEAK_MB = 6 * 1024.0
"""Peak memory allowed to every step (the issue's 6 GB)."""


@dataclass(frozen=True)
class Row:
    """One measured step, its reference measured in the same run, and its targets."""

    step: str
    seconds: float
    peak_mb: float
    reference: str | None = None
    reference_seconds: float | None = None
    max_seconds: float | None = None
    max_ratio: float | None = None
    max_peak_mb: float = MAX_PEAK_MB
    quality: tuple[str, float, float] | None = None
    """(what, value, minimum): a quality figure the step must keep, e.g. the AUC ratio of training."""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Seconds over reference seconds (None without a reference)."""
        if self.reference_seconds is None or self.reference_seconds <= 0:
            return None
        return self.seconds / self.reference_seconds

    def target(self) -> str:
        """The targets in words, e.g. '<= 1.4x ref, <= 6.0 GB'."""
        parts = []
        if self.max_seconds is not None:
            parts.append(f"<= {self.max_seconds:g} s")
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:g}x ref")
        if self.quality is not None:
            parts.append(f"{self.quality[0]} >= {self.quality[2]:g}")
        parts.append(f"<= {self.max_peak_mb / 1024:g} GB")
        return ", ".join(parts)

    def failures(self) -> list[str]:
        """The targets the measurement misses (empty: met)."""
        missed = [] if math.isfinite(self.seconds) else ["no measurement"]
        if self.max_seconds is not None and self.seconds > self.max_seconds:
            missed.append("time")
        ratio = self.ratio
        if self.max_ratio is not None and (ratio is None or ratio > self.max_ratio):
            missed.append("ratio")
        if self.quality is not None and self.quality[1] < self.quality[2]:
            missed.append(self.quality[0])
        if self.peak_mb > self.max_peak_mb:
            missed.append("memory")
        return missed

    @property
    def met(self) -> bool:
        """Whether every stated target holds."""
        return not self.failures()

    def to_json(self) -> str:
        """One JSON object (the JSON-lines format run_all reads)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> Row:
        """A row from one JSON line (unknown keys are an error: the format is shared)."""
        values = json.loads(line)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"benchmark row with unknown fields {sorted(unknown)}: {line.strip()}")
        if values.get("quality") is not None:
            values["quality"] = tuple(values["quality"])
        return cls(**values)


HEADERS = ("step", "seconds", "reference", "ref s", "ratio", "peak GB", "target", "met", "note")


def cells(row: Row) -> tuple[str, ...]:
    """A row's printed cells, in HEADERS order."""
    ratio = row.ratio
    quality = f"{row.quality[0]} {row.quality[1]:.4g}" if row.quality else ""
    return (
        row.step,
        f"{row.seconds:,.1f}",
        row.reference or "",
        "" if row.reference_seconds is None else f"{row.reference_seconds:,.1f}",
        "" if ratio is None else f"{ratio:.2f}",
        f"{row.peak_mb / 1024:.2f}",
        row.target(),
        "yes" if row.met else "NO (" + ", ".join(row.failures()) + ")",
        "; ".join(part for part in (quality, row.note) if part),
    )


def format_table(rows: Iterable[Row]) -> str:
    """A plain-text table, each column as wide as its widest cell (numbers right-aligned)."""
    lines = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    right = {1, 3, 4, 5}

    def render(line: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


def emit(rows: list[Row]) -> None:
    """Print the rows as a table and append them to the BENCH_ROWS file when run_all collects them."""
    print(format_table(rows), flush=True)
    target = os.environ.get(ROWS_ENV)
    if target:
        with Path(target).open("a") as out:
            out.writelines(row.to_json() + "\n" for row in rows)


def read_rows(path: Path) -> list[Row]:
    """The rows a run collected (none if the file does not exist)."""
    if not path.exists():
        return []
    return [Row.from_json(line) for line in path.read_text().splitlines() if line.strip()]


def reset_peak() -> None:
    """Start measuring this process's peak memory afresh (Linux: the VmHWM high-water mark is reset)."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: peak_mb reports the whole process's peak
        Path("/proc/self/clear_refs").write_text("5")


def peak_mb(children: bool = True) -> float:
    """Peak resident memory of this process since the last reset_peak() (else since it started), in MiB;
    with `children`, the largest finished child process's if larger (dbt, generator workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if children else 0.0
    return max(own, child)


def cpu_seconds(children: bool = True) -> float:
    """User + system CPU seconds of this process so far (and of its finished children)."""
    who = [resource.RUSAGE_SELF, *([resource.RUSAGE_CHILDREN] if children else [])]
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))


def _children() -> dict[int, list[int]]:
    """Every live process's children, by parent pid (from /proc)."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields_ = stat.read_text().rsplit(")", 1)[1].split()
            tree.setdefault(int(fields_[1]), []).append(int(stat.parent.name))
    return tree


def _rss_mb(pid: int) -> float:
    """Resident memory of one process, MiB (0 when it is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mb(roots: Iterable[int]) -> float:
    """Resident memory of the processes `roots` and all their descendants together, MiB."""
    tree, seen, todo = _children(), set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(tree.get(pid, []))
    return sum(_rss_mb(pid) for pid in seen)


class TreePeak:
    """Peak of the summed resident memory of process trees, sampled while a `with` block runs.

    What getrusage cannot give: a JVM and its Python workers, or a Spark cluster's executors (children of other
    processes), counted together as the memory a job takes on the machine."""

    def __init__(self, *roots: int, interval_s: float = 0.2) -> None:
        self.roots = roots or (os.getpid(),)
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.roots))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Timing:
    """Wall and CPU seconds of a block (filled in when the block ends)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    """Measure the wall and CPU time of a `with` block."""
    timing = Timing()
    start, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield timing
    finally:
        timing.seconds = time.perf_counter() - start
        timing.cpu_seconds = cpu_seconds() - cpu


def machine() -> str:
    """The machine in words: CPU model, cores, memory, OS (printed under the table and in the README)."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}"
