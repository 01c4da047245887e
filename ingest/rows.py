"""One file, in DuckDB SQL: stage the CSV with the contract's types, find every row problem, store the good
rows in raw.<table> and the problems in audit.quarantine."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from ingest.audit import FileReport, timed
from ingest.files import GZIP_UNREADABLE, INDEX_COLUMNS, FileRejected, Layout, Scan, columns_of
from ingest.rules import APPLICATIONS, ROW_GROUPS, RULES
from warehouse.database import one_row
from warehouse.errors import is_disk_full
from warehouse.schema import INT, TEXT, Table, tables
from warehouse.sql import literal, quote

STRUCTURAL = {
    "MISSING COLUMNS": "line {line} has too few fields{counts}; the file is truncated or malformed",
    "TOO MANY COLUMNS": "line {line} has too many fields{counts}; wrong delimiter or unquoted comma",
    "UNQUOTED VALUE": "line {line}: unterminated or misplaced quote; the file is truncated or malformed",
    "LINE SIZE OVER MAXIMUM": "line {line} is too long; not a CSV file of the contract",
    "INVALID STATE": "line {line} cannot be read as CSV (a stray quote or control character); the file is malformed",
}
FIELD_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
BLANK = "trim(csv_line, ' ' || chr(9) || chr(10) || chr(13)) = ''"
"""A line the reader refused that holds only spaces: a blank line, ignored like an empty one."""


class FileLoad:
    """Stage one CSV in a temporary table, find its problems, append its good rows to raw.<table>."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        load_id: int,
        table: Table,
        path: Path,
        layout: Layout,
        scanned: Scan | None = None,
    ) -> None:
        self.con, self.load_id, self.table, self.path, self.layout = con, load_id, table, path, layout
        self.empty_lines = scanned.empty_lines if scanned else ()
        self.mixed_line_endings = bool(scanned and scanned.mixed_line_endings)
        self.readable = path
        """The file DuckDB reads: the file itself, or a copy with one kind of line break (see load.py)."""
        self.raw = f"raw.{quote(table.name)}"

    def run(self, report: FileReport, step: Callable[[], None]) -> None:
        """Do the whole job for the file and fill in the counts of its report."""
        with timed(report, "read"):
            self._stage()
        step()
        with timed(report, "checks"):
            self._find_problems()
        step()
        with timed(report, "store"):
            loaded = self._store()
        read, quarantined = one_row(
            self.con,
            "SELECT (SELECT count(*) FROM _stage) + (SELECT count(DISTINCT line) FROM _rejects WHERE "
            "error_type = 'CAST' AND line NOT IN (SELECT line FROM _blank)), "
            "(SELECT count(DISTINCT coalesce(line, -k)) FROM _problems)",
        )
        if read != loaded + quarantined:  # a broken invariant is a bug, never silently reported
            raise RuntimeError(f"{self.path.name}: {read} rows read != {loaded} loaded + {quarantined} quarantined")
        report.status = "loaded"
        report.rows_read, report.rows_loaded, report.rows_quarantined = read, loaded, quarantined
        report.warnings += [*self.layout.warnings, *self._warnings()]
        report.message = self._summary(read, quarantined)

    def _warnings(self) -> list[str]:
        """Harmless oddities of the rows, loaded as if they were not there: blank lines, padded text."""
        found = []
        blank = [line for (line,) in self.con.execute("SELECT line FROM _blank ORDER BY line").fetchall()]
        if blank:
            lines = ", ".join(map(str, blank[:5])) + (", ..." if len(blank) > 5 else "")
            found.append(f"{len(blank):,} blank line{'s' if len(blank) > 1 else ''} ignored (line {lines})")
        if self.mixed_line_endings:
            found.append("line breaks of two kinds (Windows CR LF and Unix LF) in one file: read as one kind")
        (padded,) = one_row(self.con, "SELECT count(*) FILTER (_padded) FROM _stage")
        if padded:
            found.append(f"{padded:,} row{'s' if padded > 1 else ''} with spaces around a text value (trimmed)")
        return found

    def _stage(self) -> None:
        """Read the CSV with the contract's types into _stage, each row's value problems in _row_problems."""
        encoding = self.layout.encoding
        try:
            self._read_csv(encoding)
            if encoding == "utf-8" and self._first_reject(("INVALID ENCODING", "INVALID UNICODE")):
                drop_temporaries(self.con)
                self._read_csv("latin-1")
        except duckdb.Error as error:
            if is_disk_full(error):
                raise
            gz = self.path.name.endswith(".gz")
            unreadable = GZIP_UNREADABLE if gz else "unreadable: the file cannot be read as CSV text"
            raise FileRejected(unreadable) from error  # the transaction is rolled back
        self.con.execute(
            "CREATE TEMP TABLE _blank AS SELECT DISTINCT line FROM _rejects WHERE "
            f"{BLANK} UNION SELECT unnest(?::BIGINT[])",
            [list(self.empty_lines)],
        )
        problem = self._first_reject(tuple(STRUCTURAL))
        if problem is not None:
            kind, line, message = problem
            found = FIELD_COUNTS.search(message or "")
            counts = f" ({found[2]} where {found[1]} are expected)" if found else ""
            raise FileRejected(STRUCTURAL[kind].format(line=line, counts=counts))

    def _read_csv(self, encoding: str) -> None:
        """CREATE TEMP TABLE _stage from the file; unparsable cells and broken lines land in _rejects."""
        header = self.layout.header
        kinds = {c.name: c.type for c in columns_of(self.table)}
        read_types = [
            ("_index", "VARCHAR") if h in INDEX_COLUMNS else (h, "VARCHAR" if kinds[h] == TEXT else "DOUBLE")
            for h in header
        ]
        columns = "{" + ", ".join(f"{literal(h)}: '{t}'" for h, t in read_types) + "}"
        scan = (
            f"read_csv({literal(str(self.readable))}, header = true, auto_detect = false, delim = ',', "
            f"quote = '\"', escape = '\"', encoding = '{encoding}', columns = {columns}, "
            "store_rejects = true, ignore_errors = true, rejects_table = '_rejects', "
            "rejects_scan = '_reject_scans')"
        )
        texts = [quote(c.name) for c in columns_of(self.table) if c.type == TEXT]
        read = ", ".join(
            f"nullif(trim({quote(c.name)}), '') AS {quote(c.name)}" if c.type == TEXT else quote(c.name)
            for c in columns_of(self.table)
        )
        padded = " OR ".join(f"{c} <> trim({c})" for c in texts) or "false"
        values = ", ".join(self._typed(c.name, c.type) for c in columns_of(self.table))
        self.con.execute(
            f"CREATE TEMP TABLE _stage AS SELECT {values}, {self._row_problems()} AS _row_problems, _padded "
            f"FROM (SELECT {read}, coalesce({padded}, false) AS _padded FROM {scan})"
        )

    @staticmethod
    def _typed(name: str, kind: str) -> str:
        """The staged value of a column: integers converted from the DOUBLE the reader parsed."""
        return f"TRY_CAST({quote(name)} AS BIGINT) AS {quote(name)}" if kind == INT else quote(name)

    def _row_problems(self) -> str:
        """SQL for the list of {column_name, value, reason} of one row's value problems (NULL if none)."""
        checks = list(self._value_checks())
        if not checks:
            return "NULL::STRUCT(column_name VARCHAR, value VARCHAR, reason VARCHAR)[]"
        structs = ", ".join(
            f"CASE WHEN {bad} THEN {{'column_name': {'NULL' if col is None else literal(col)}, "
            f"'value': {value}, 'reason': {reason}}} END"
            for col, bad, value, reason in checks
        )
        any_bad = " OR ".join(f"({bad})" for _, bad, _, _ in checks)
        return f"CASE WHEN {any_bad} THEN list_filter([{structs}], lambda p: p IS NOT NULL) END"

    def _value_checks(self) -> Iterator[tuple[str | None, str, str, str]]:
        """(column, SQL 'is bad' condition, SQL value text, SQL reason) of every per-row check."""
        table = self.table
        kinds = {c.name: c.type for c in columns_of(table)}
        for c in columns_of(table):
            col = quote(c.name)
            if c.type != TEXT:
                yield c.name, f"NOT isfinite({col})", _text(col, c.type), literal("not a finite number")
            if c.type == INT:
                yield (
                    c.name,
                    f"isfinite({col}) AND {col} <> trunc({col})",
                    _text(col, c.type),
                    literal(f"not an integer (column {c.name} holds whole numbers)"),
                )
            if c.domain is not None:
                allowed = ", ".join(literal(v) for v in c.domain)
                yield (
                    c.name,
                    f"{col} NOT IN ({allowed})",
                    col,
                    f"'value ''' || {col} || ''' not in the allowed values of {c.name}'",
                )
            if c.name in table.key:
                yield c.name, f"{col} IS NULL", "NULL", literal(f"key column {c.name} is empty")
            elif c.name in table.parents:
                yield c.name, f"{col} IS NULL", "NULL", literal(f"parent id {c.name} is empty")
        for rule in RULES:
            if table.name in rule.tables:
                col = quote(rule.column)
                yield (
                    rule.column,
                    f"NOT ({rule.holds.format(c=col)})",
                    _text(col, kinds[rule.column]),
                    literal(rule.reason),
                )

    def _first_reject(self, kinds: tuple[str, ...]) -> tuple[str, int, str] | None:
        """The first reader error of the given kinds (kind, line, message), if any."""
        marks = ", ".join(literal(k) for k in kinds)
        return self.con.execute(
            f"SELECT error_type, line, error_message FROM _rejects WHERE error_type IN ({marks}) "
            f"AND NOT coalesce({BLANK}, false) ORDER BY line LIMIT 1"
        ).fetchone()

    def _find_problems(self) -> None:
        """Collect every row problem in _problems (k: position among staged rows; line: reader rejects)."""
        con, key = self.con, self.table.key
        self.base = one_row(con, "SELECT coalesce(min(rowid), 0) FROM _stage")[0]
        self.k = f"(s.rowid - {self.base})"
        # Rows the reader refused (a cell that is not a number) never reach _stage; map positions to lines.
        # Blank lines do not reach it either.
        con.execute(
            "CREATE TEMP TABLE _skips AS SELECT line - row_number() OVER (ORDER BY line) - 1 AS adj "
            "FROM (SELECT line FROM _rejects WHERE error_type = 'CAST' UNION SELECT line FROM _blank)"
        )
        con.execute("CREATE TEMP MACRO _line_of(k) AS k + 2 + (SELECT count(*) FROM _skips WHERE adj <= k)")
        con.execute(
            "CREATE TEMP TABLE _problems (k BIGINT, line BIGINT, column_name VARCHAR, value VARCHAR, reason VARCHAR)"
        )
        con.execute("""
            INSERT INTO _problems
            SELECT NULL, line, column_name,
                   regexp_extract(error_message, 'Could not convert string "(.*)" to', 1),
                   'not a number (column ' || column_name || ')'
            FROM _rejects WHERE error_type = 'CAST' AND line NOT IN (SELECT line FROM _blank)""")
        self._add_problems(
            "p.column_name",
            "p.value",
            "p.reason",
            "(SELECT rowid, unnest(_row_problems) AS p FROM _stage WHERE _row_problems IS NOT NULL) s",
        )
        if key:
            self._duplicates_in_file(key)
        self._already_stored()
        implied = _implied_parents(self.table)
        for column, parent in self.table.parents.items():
            if column not in implied:
                self._orphans(column, parent)
        for column, (via, via_table) in implied.items():
            self._mismatch(column, via, via_table)
            # Where the row's `via` parent exists the column matches it; check it only where it does not.
            self._orphans(
                column,
                self.table.parents[column],
                f"{self.k} IN (SELECT k FROM _problems WHERE column_name = {literal(via)})",
            )

    def _add_problems(
        self, column: str, value: str, reason: str, source: str, where: str = "", k: str | None = None
    ) -> None:
        """INSERT INTO _problems one row per staged row `s` of `source` (SQL pieces) matching `where`."""
        self.con.execute(
            f"INSERT INTO _problems SELECT {k or self.k}, NULL, {column}, {value}, {reason} "
            f"FROM {source} {'WHERE ' + where if where else ''}"
        )

    def _duplicates_in_file(self, key: tuple[str, ...]) -> None:
        """Quarantine every repeat of a key within the file; the first occurrence stays."""
        cols = ", ".join(quote(c) for c in key)
        not_null = " AND ".join(f"{quote(c)} IS NOT NULL" for c in key)
        repeats = (
            f"(SELECT s.rowid, {cols}, min({self.k}) OVER (PARTITION BY {cols}) AS first_k "
            f"FROM _stage s SEMI JOIN (SELECT {cols} FROM _stage WHERE {not_null} GROUP BY ALL "
            f"HAVING count(*) > 1) d USING ({cols})) s"
        )
        reason = f"'duplicate key ' || {_key_label(key)} || ' (also on line ' || _line_of(first_k) || ')'"
        self._add_problems(literal(", ".join(key)), _key_text(key), reason, repeats, f"{self.k} > first_k")

    def _already_stored(self) -> None:
        """Never store a row twice: a row the warehouse already holds is quarantined as already stored, and a
        row that differs from a stored one with the same key (or instalment) as a conflict: the stored row is
        kept. Applications share SK_ID_CURR across the train and test files."""
        table = self.table
        if table.key:
            for name in APPLICATIONS if table.name in APPLICATIONS else (table.name,):
                if one_row(self.con, f"SELECT count(*) FROM raw.{quote(name)}")[0]:
                    self._stored_keys(name, table.key)
        elif table.name in ROW_GROUPS and one_row(self.con, f"SELECT count(*) FROM {self.raw}")[0]:
            self._stored_rows(ROW_GROUPS[table.name])

    def _stored_keys(self, name: str, key: tuple[str, ...]) -> None:
        """Quarantine the rows whose key raw.<name> already holds: identical rows, or conflicts."""
        cols = ", ".join(quote(c) for c in key)
        same = " AND ".join(f"s.{quote(c.name)} IS NOT DISTINCT FROM w.{quote(c.name)}" for c in columns_of(self.table))
        where = "" if name == self.table.name else f" in {name}"
        label = _key_label(key)
        reason = (
            f"CASE WHEN {same if name == self.table.name else 'false'} "
            f"THEN 'already stored{where}: the same row (' || {label} || ') was loaded by load ' || w._load_id "
            f"ELSE 'conflict: ' || {label} || ' is already stored{where} (load ' || w._load_id || ') with other "
            "values; the stored row is kept' END"
        )
        self._add_problems(
            literal(", ".join(key)), _key_text(key), reason, f"_stage s JOIN raw.{quote(name)} w USING ({cols})"
        )

    def _stored_rows(self, group: tuple[str, ...]) -> None:
        """For a table without a key: quarantine the rows already stored (whole rows, copies counted) and the
        rows of groups (instalments) whose stored rows they do not match."""
        con, names = self.con, [quote(c.name) for c in columns_of(self.table)]
        cols, first = ", ".join(names), quote(group[0])
        con.execute(
            f"CREATE TEMP TABLE _stored AS SELECT {cols}, _load_id, row_number() OVER (PARTITION BY {cols}) AS _copy "
            f"FROM {self.raw} WHERE {first} IN (SELECT {first} FROM _stage)"
        )
        con.execute(
            f"CREATE TEMP TABLE _staged AS SELECT rowid AS _row, {cols}, "
            f"row_number() OVER (PARTITION BY {cols} ORDER BY rowid) AS _copy FROM _stage"
        )
        same = " AND ".join(f"s.{c} IS NOT DISTINCT FROM w.{c}" for c in [*names, "_copy"])
        con.execute(f"CREATE TEMP TABLE _same AS SELECT s._row, w._load_id FROM _staged s JOIN _stored w ON {same}")
        k = f"(s._row - {self.base})"
        self._add_problems(
            "NULL", "NULL", "'already stored: the same row was loaded by load ' || s._load_id", "_same s", k=k
        )
        in_group = " AND ".join(f"s.{quote(c)} IS NOT DISTINCT FROM w.{quote(c)}" for c in group)
        label = f"'({', '.join(group)})=(' || {_key_text(group)} || ')'"
        self._add_problems(
            literal(", ".join(group)),
            _key_text(group),
            f"'conflict: ' || {label} || ' already has payments stored by load ' || w._load_id || ' that this row "
            "does not match; the stored rows are kept'",
            f"_staged s JOIN (SELECT {', '.join(map(quote, group))}, min(_load_id) AS _load_id FROM _stored "
            f"GROUP BY ALL) w ON {in_group}",
            "s._row NOT IN (SELECT _row FROM _same)",
            k=k,
        )

    def _orphans(self, column: str, parent: str, among: str = "") -> None:
        """Quarantine rows whose parent id is in no stored parent row (this load's parents are stored)."""
        col = quote(column)
        parents = APPLICATIONS if parent == "application" else (parent,)
        ids = " UNION ALL ".join(f"SELECT {col} AS id FROM raw.{quote(p)}" for p in parents)
        self._add_problems(
            literal(column),
            f"CAST(s.{col} AS VARCHAR)",
            f"'orphan: {column} ' || s.{col} || ' is in no {parent}'",
            f"_stage s ANTI JOIN ({ids}) p ON s.{col} = p.id",
            f"s.{col} IS NOT NULL" + (f" AND {among}" if among else ""),
        )

    def _mismatch(self, column: str, via: str, via_table: str) -> None:
        """Quarantine rows whose `column` differs from that of their `via` parent row (e.g. SK_ID_CURR)."""
        col, key = quote(column), quote(via)
        self._add_problems(
            literal(column),
            f"CAST(s.{col} AS VARCHAR)",
            f"'{column} ' || s.{col} || ' differs from ' || p.{col} || ', the {column} of "
            f"{via_table} {via}=' || s.{key}",
            f"_stage s JOIN raw.{quote(via_table)} p USING ({key})",
            f"s.{col} <> p.{col}",
        )

    def _store(self) -> int:
        """Append the rows without problems to the raw table and the problems to audit.quarantine."""
        con, cols = self.con, ", ".join(quote(c.name) for c in columns_of(self.table))
        has_problems = one_row(con, "SELECT count(*) FROM _problems WHERE k IS NOT NULL")[0] > 0
        keep = f"WHERE {self.k} NOT IN (SELECT k FROM _problems WHERE k IS NOT NULL)" if has_problems else ""
        (loaded,) = one_row(con, f"INSERT INTO {self.raw} SELECT {cols}, {self.load_id} FROM _stage s {keep}")
        con.execute(
            """
            INSERT INTO audit.quarantine
            SELECT ?, ?, ?, coalesce(line, _line_of(k)) AS l, column_name, value, reason FROM _problems
            ORDER BY l, column_name""",
            [self.load_id, self.path.name, self.table.name],
        )
        return loaded

    def _summary(self, read: int, quarantined: int) -> str:
        """A one-line account of the file for the report."""
        if read == 0:
            return "header only: no rows (accepted)"
        if not quarantined:
            return "all rows loaded"
        top = one_row(
            self.con, "SELECT coalesce(line, _line_of(k)) AS l, column_name, reason FROM _problems ORDER BY l LIMIT 1"
        )
        where = f"line {top[0]}" + (f", {top[1]}" if top[1] else "")
        return (
            f"{quarantined:,} row{'s' if quarantined > 1 else ''} quarantined, first: {where}: {top[2]} "
            f"(see audit.quarantine, load_id {self.load_id})"
        )


def _implied_parents(table: Table) -> dict[str, tuple[str, str]]:
    """Parent ids that another parent row also holds: column -> (via column, via table).

    POS_CASH_balance.SK_ID_CURR is implied by SK_ID_PREV: previous_application rows carry a checked
    SK_ID_CURR, so a balance row must hold the same one.
    """
    contract = tables()
    return {
        column: (via, via_table)
        for column, parent in table.parents.items()
        for via, via_table in table.parents.items()
        if via_table in contract and contract[via_table].parents.get(column) == parent
    }


def drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables and macro of one file's load."""
    for name in ("_stage", "_rejects", "_reject_scans", "_blank", "_skips", "_problems", "_stored", "_staged", "_same"):
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    con.execute("DROP MACRO IF EXISTS temp._line_of")


def _text(col: str, kind: str) -> str:
    """SQL rendering a value as read (integers are read as DOUBLE) as text: 12000, 1.5, inf, Foo."""
    if kind == INT:
        return (
            f"CASE WHEN {col} = trunc({col}) THEN CAST(TRY_CAST({col} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({col} AS VARCHAR) END"
        )
    return f"CAST({col} AS VARCHAR)" if kind != TEXT else col


def _key_text(key: tuple[str, ...]) -> str:
    """SQL for the key's values of row `s` as text: '5' or '5, -3'."""
    return " || ', ' || ".join(f"coalesce(CAST(s.{quote(c)} AS VARCHAR), 'empty')" for c in key)


def _key_label(key: tuple[str, ...]) -> str:
    """SQL for a readable key of row `s`: SK_ID_PREV=5 or (SK_ID_PREV, MONTHS_BALANCE)=(5, -3)."""
    if len(key) == 1:
        return f"'{key[0]}=' || {_key_text(key)}"
    return f"'({', '.join(key)})=(' || {_key_text(key)} || ')'"
