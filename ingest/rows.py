"""One file, in DuckDB SQL: stage the CSV with the contract's types, find every row problem, store the good
rows in raw.<table> and the problems in audit.quarantine."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import duckdb

from ingest.audit import LOAD_ID_COMMENT, FileReport, timed
from ingest.files import GZIP_UNREADABLE, INDEX_COLUMNS, FileRejected, Layout, Scan, columns_of
from ingest.rules import APPLICATIONS, ROW_GROUPS, RULES
from warehouse.database import one_row
from warehouse.errors import is_disk_full
from warehouse.outcomes import first_scores_sql
from warehouse.schema import FLOAT, INT, TEXT, Column, Table, inputs
from warehouse.sql import literal, quote

STRUCTURAL = {
    "MISSING COLUMNS": "line {line} has too few fields{counts}; the file is truncated or malformed",
    "TOO MANY COLUMNS": "line {line} has too many fields{counts}; wrong delimiter or unquoted comma",
    "UNQUOTED VALUE": "line {line}: unterminated or misplaced quote; the file is truncated or malformed",
    "LINE SIZE OVER MAXIMUM": "line {line} is too long; not a CSV file of the contract",
    "INVALID STATE": "line {line} cannot be read as CSV (a stray quote or control character); the file is malformed",
}
FIELD_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
AS_READ = "_as_read"
"""Staged column noting the integers read as a number that is not whole or not finite: 'COLUMN\x1fvalue' items
separated by \x1e (NULL for the rows without any, nearly all)."""
LOADING = "_loading_"
"""Name prefix of the table a first load stages in, which then takes the raw table's place."""
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
        self.stage = "_stage"
        """Where the rows are staged: a temporary table, or (into an empty raw table) the raw table to be."""
        self.padded = 0
        """Rows with spaces around a text value (trimmed)."""

    def run(self, report: FileReport, step: Callable[[], None]) -> None:
        """Do the whole job for the file and fill in the counts of its report."""
        with timed(report, "read"):
            self._stage()
        step()
        with timed(report, "checks"):
            self._find_problems()
        read, quarantined = one_row(
            self.con,
            f"SELECT (SELECT count(*) FROM {self.stage}) + (SELECT count(DISTINCT line) FROM _rejects WHERE "
            "error_type = 'CAST' AND line NOT IN (SELECT line FROM _blank)), "
            "(SELECT count(DISTINCT coalesce(line, -k)) FROM _problems)",
        )
        step()
        with timed(report, "store"):
            loaded = self._store()
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
        if self.padded:
            rows = f"{self.padded:,} row{'s' if self.padded > 1 else ''}"
            found.append(f"{rows} with spaces around a text value (trimmed)")
        return found

    def _stage(self) -> None:
        """Read the CSV with the contract's types into the stage (into the raw table to be, when the raw table is
        empty: nothing to add to, so the rows need writing only once)."""
        encoding = self.layout.encoding
        if one_row(self.con, f"SELECT count(*) = 0 FROM {self.raw}")[0]:
            self.stage = f"raw.{quote(LOADING + self.table.name)}"
        try:
            self._read_csv(encoding)
            if encoding == "utf-8" and self._first_reject(("INVALID ENCODING", "INVALID UNICODE")):
                drop_temporaries(self.con)
                self.con.execute(f"DROP TABLE IF EXISTS {self.stage}")
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
        """Create the stage from the file; unparsable cells and broken lines land in _rejects."""
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
        values = ", ".join(self._typed(c.name, c.type) for c in columns_of(self.table))
        # x - trunc(x) is 0 for a whole number; NaN (so <> 0) for inf and NaN; one test per value.
        unwhole = [f"{quote(c)} - trunc({quote(c)}) <> 0" for c in self._integers()]
        items = ", ".join(
            f"CASE WHEN {bad} THEN {literal(c)} || chr(31) || CAST({quote(c)} AS VARCHAR) END"
            for c, bad in zip(self._integers(), unwhole, strict=True)
        )
        as_read = f"CASE WHEN {' OR '.join(unwhole)} THEN concat_ws(chr(30), {items}) END" if unwhole else "NULL"
        temporary = "TEMP " if self.stage == "_stage" else ""
        self.con.execute(
            f"CREATE {temporary}TABLE {self.stage} AS SELECT {values}, {as_read}::VARCHAR AS {AS_READ}, "
            f"{self.load_id}::BIGINT AS _load_id "
            f"FROM {scan}"
        )

    @staticmethod
    def _typed(name: str, kind: str) -> str:
        """The staged value of a column: integers converted from the DOUBLE the reader parsed."""
        return f"TRY_CAST({quote(name)} AS BIGINT) AS {quote(name)}" if kind == INT else quote(name)

    def _integers(self) -> list[str]:
        """The integer columns (read as DOUBLE, stored as BIGINT)."""
        return [c.name for c in columns_of(self.table) if c.type == INT]

    def _value_problems(self) -> None:
        """Find every value problem: one pass of aggregates says which checks fail; only those look at rows."""
        table = self.table
        checks: dict[str, str] = {"integers": f"count({AS_READ})"}
        for c in columns_of(table):
            col = quote(c.name)
            if c.type == FLOAT:
                checks[f"finite {c.name}"] = f"coalesce(NOT (isfinite(min({col})) AND isfinite(max({col}))), false)"
            if c.domain is not None:
                checks[f"values {c.name}"] = f"list(DISTINCT {col})"
            if c.name in table.key or c.name in table.parents:
                checks[f"empty {c.name}"] = f"count(*) - count({col})"
        rules = [rule for rule in RULES if table.name in rule.tables]
        for i, rule in enumerate(rules):
            checks[f"rule {i}"] = f"coalesce(bool_or(NOT ({rule.holds.format(c=quote(rule.column))})), false)"
        row = self.con.execute(f"SELECT {', '.join(checks.values())} FROM {self.stage}").fetchone() or ()
        found = dict(zip(checks, row, strict=True))
        if found["integers"]:
            self._unwhole_integers()
        seen = {c.name: found[f"values {c.name}"] or [] for c in columns_of(table) if c.domain is not None}
        self._trim_padded(seen)
        for c in columns_of(table):
            self._column_problems(c, found, seen.get(c.name))
        for i, rule in enumerate(rules):
            if found[f"rule {i}"]:
                kind = next(c.type for c in columns_of(table) if c.name == rule.column)
                bad = f"NOT ({rule.holds.format(c=f's.{quote(rule.column)}')}){self._read_whole(rule.column)}"
                self._check(rule.column, _text(f"s.{quote(rule.column)}", kind), literal(rule.reason), bad)

    def _column_problems(self, c: Column, found: dict[str, object], seen: list[str | None] | None) -> None:
        """Quarantine the rows failing the checks of one column that the aggregates found failing."""
        col = f"s.{quote(c.name)}"
        if c.type == FLOAT and found[f"finite {c.name}"]:
            self._check(c.name, f"CAST({col} AS VARCHAR)", "'not a finite number'", f"NOT isfinite({col})")
        if c.domain is not None and any(v is not None and v not in c.domain for v in seen or ()):
            allowed = ", ".join(literal(v) for v in c.domain)
            reason = f"'value ''' || {col} || ''' not in the allowed values of {c.name}'"
            self._check(c.name, col, reason, f"{col} NOT IN ({allowed})")
        if found.get(f"empty {c.name}"):
            what = f"key column {c.name}" if c.name in self.table.key else f"parent id {c.name}"
            self._check(c.name, "NULL", literal(f"{what} is empty"), f"{col} IS NULL{self._read_whole(c.name)}")

    def _read_whole(self, column: str) -> str:
        """SQL restricting a check of an integer column to the rows where it was read as a whole number."""
        if column not in self._integers():
            return ""
        return f" AND (s.{AS_READ} IS NULL OR NOT contains(s.{AS_READ}, {literal(column)} || chr(31)))"

    def _unwhole_integers(self) -> None:
        """Quarantine the integers read as a number that is not whole, or not finite (from the stage's note)."""
        items = (
            f"(SELECT rowid, unnest(string_split({AS_READ}, chr(30))) AS item FROM {self.stage} "
            f"WHERE {AS_READ} IS NOT NULL)"
        )
        column, value = "split_part(s.item, chr(31), 1)", "split_part(s.item, chr(31), 2)"
        reason = (
            f"CASE WHEN isfinite(TRY_CAST({value} AS DOUBLE)) THEN 'not an integer (column ' || {column} || "
            "' holds whole numbers)' ELSE 'not a finite number' END"
        )
        self._add_problems(column, value, reason, f"{items} s")

    def _check(self, column: str, value: str, reason: str, bad: str) -> None:
        """Quarantine the staged rows `s` where `bad` holds, for a problem of one column."""
        self._add_problems(literal(column), value, reason, f"{self.stage} s", bad)

    def _trim_padded(self, seen: dict[str, list[str | None]]) -> None:
        """Trim the spaces around text values (spaces only: empty) in the staged rows; count the rows changed.

        `seen` (column -> its distinct values) is updated to the trimmed values."""
        padded = [c for c, values in seen.items() if any(v is not None and v != v.strip(" ") for v in values)]
        if not padded:
            return
        sets = ", ".join(f"{quote(c)} = nullif(trim({quote(c)}), '')" for c in padded)
        where = " OR ".join(f"{quote(c)} <> trim({quote(c)})" for c in padded)
        (self.padded,) = one_row(self.con, f"UPDATE {self.stage} SET {sets} WHERE {where}")
        for c in padded:
            seen[c] = [(v.strip(" ") or None) if v is not None else None for v in seen[c]]

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
        self.base = one_row(con, f"SELECT coalesce(min(rowid), 0) FROM {self.stage}")[0]
        self.k = f"(s.rowid - {self.base})"
        # Rows the reader refused (a cell that is not a number) never reach the stage; map positions to lines.
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
        self._value_problems()
        if key:
            self._duplicates_in_file(key)
        self._already_stored()
        implied = _implied_parents(self.table)
        for column, parent in self.table.parents.items():
            if column not in implied:
                self._orphans(column, parent)
        if self.table.scored_only:
            self._not_scored()
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
        if len(key) == 2 and self._grouped_and_ordered(*key):
            return
        cols = ", ".join(quote(c) for c in key)
        not_null = " AND ".join(f"{quote(c)} IS NOT NULL" for c in key)
        repeats = (
            f"(SELECT s.rowid, {cols}, min({self.k}) OVER (PARTITION BY {cols}) AS first_k "
            f"FROM {self.stage} s SEMI JOIN (SELECT {cols} FROM {self.stage} WHERE {not_null} GROUP BY ALL "
            f"HAVING count(*) > 1) d USING ({cols})) s"
        )
        reason = f"'duplicate key ' || {_key_label(key)} || ' (also on line ' || _line_of(first_k) || ')'"
        self._add_problems(literal(", ".join(key)), _key_text(key), reason, repeats, f"{self.k} > first_k")

    def _grouped_and_ordered(self, group: str, within: str) -> bool:
        """Whether the file's rows come in one run per `group` value with `within` strictly rising (or strictly
        falling) inside each run: then no key repeats. Comparing each row with the next costs a fraction of
        counting every key (27 million in bureau_balance), and the Kaggle files are mostly laid out so."""
        g, w = quote(group), quote(within)
        rows = f"SELECT {g} AS g, {w} AS w FROM {self.stage}"
        runs, unrising, unfalling = one_row(
            self.con,
            "SELECT count(*) FILTER (n.g IS DISTINCT FROM c.g), count(*) FILTER (n.g = c.g AND NOT n.w > c.w), "
            f"count(*) FILTER (n.g = c.g AND NOT n.w < c.w) FROM ({rows}) c POSITIONAL JOIN ({rows} OFFSET 1) n",
        )
        if unrising and unfalling:
            return False
        (groups,) = one_row(self.con, f"SELECT count(DISTINCT {g}) + count(*) FILTER ({g} IS NULL) FROM {self.stage}")
        return bool(runs == groups)

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
            literal(", ".join(key)), _key_text(key), reason, f"{self.stage} s JOIN raw.{quote(name)} w USING ({cols})"
        )

    def _stored_rows(self, group: tuple[str, ...]) -> None:
        """For a table without a key: quarantine the rows already stored (whole rows, copies counted) and the
        rows of groups (instalments) whose stored rows they do not match."""
        con, names = self.con, [quote(c.name) for c in columns_of(self.table)]
        cols, first = ", ".join(names), quote(group[0])
        con.execute(
            f"CREATE TEMP TABLE _stored AS SELECT {cols}, _load_id, row_number() OVER (PARTITION BY {cols}) AS _copy "
            f"FROM {self.raw} WHERE {first} IN (SELECT {first} FROM {self.stage})"
        )
        con.execute(
            f"CREATE TEMP TABLE _staged AS SELECT rowid AS _row, {cols}, "
            f"row_number() OVER (PARTITION BY {cols} ORDER BY rowid) AS _copy FROM {self.stage}"
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
            f"{self.stage} s ANTI JOIN ({ids}) p ON s.{col} = p.id",
            f"s.{col} IS NOT NULL" + (f" AND {among}" if among else ""),
        )

    def _not_scored(self) -> None:
        """Quarantine outcomes of known clients the champion never scored, or observed before the decision (an
        unknown client is an orphan already)."""
        known = " UNION ALL ".join(f"SELECT SK_ID_CURR FROM raw.{quote(p)}" for p in APPLICATIONS)
        date = "TRY_STRPTIME(s.OBSERVATION_DATE, '%Y-%m-%d')"
        self._add_problems(
            "'SK_ID_CURR'",
            "CAST(s.SK_ID_CURR AS VARCHAR)",
            "CASE WHEN f.decided_on IS NULL THEN 'never scored: SK_ID_CURR ' || s.SK_ID_CURR || ' has no score "
            "from the champion, so its outcome cannot be backtested' ELSE 'observed before the decision: "
            "SK_ID_CURR ' || s.SK_ID_CURR || ' was scored for ' || strftime(f.decided_on, '%Y-%m-%d') || ', after "
            "its OBSERVATION_DATE ' || s.OBSERVATION_DATE END",
            f"{self.stage} s LEFT JOIN ({first_scores_sql(self.con)}) f USING (SK_ID_CURR)",
            f"s.SK_ID_CURR IN ({known}) AND (f.decided_on IS NULL OR {date} < f.decided_on)",
        )

    def _mismatch(self, column: str, via: str, via_table: str) -> None:
        """Quarantine rows whose `column` differs from that of their `via` parent row (e.g. SK_ID_CURR)."""
        col, key = quote(column), quote(via)
        self._add_problems(
            literal(column),
            f"CAST(s.{col} AS VARCHAR)",
            f"'{column} ' || s.{col} || ' differs from ' || p.{col} || ', the {column} of "
            f"{via_table} {via}=' || s.{key}",
            f"{self.stage} s JOIN raw.{quote(via_table)} p USING ({key})",
            f"s.{col} <> p.{col}",
        )

    def _store(self) -> int:
        """Store the rows without problems in the raw table and the problems in audit.quarantine."""
        con, cols = self.con, ", ".join(quote(c.name) for c in columns_of(self.table))
        has_problems = one_row(con, "SELECT count(*) FROM _problems WHERE k IS NOT NULL")[0] > 0
        bad = f"{self.k} IN (SELECT k FROM _problems WHERE k IS NOT NULL)"
        if self.stage == "_stage":
            keep = f"WHERE NOT {bad}" if has_problems else ""
            (loaded,) = one_row(con, f"INSERT INTO {self.raw} SELECT {cols}, {self.load_id} FROM _stage s {keep}")
        else:
            loaded = self._take_place(bad if has_problems else None)
        con.execute(
            """
            INSERT INTO audit.quarantine
            SELECT ?, ?, ?, coalesce(line, _line_of(k)) AS l, column_name, value, reason FROM _problems
            ORDER BY l, column_name""",
            [self.load_id, self.path.name, self.table.name],
        )
        return loaded

    def _take_place(self, bad: str | None) -> int:
        """Make the staged rows (less the `bad` ones) the raw table, in place of the empty one; rows stored."""
        con, name = self.con, self.table.name
        if bad:
            con.execute(f"DELETE FROM {self.stage} s WHERE {bad}")
        con.execute(f"ALTER TABLE {self.stage} DROP COLUMN {AS_READ}")
        con.execute(f"ALTER TABLE {self.stage} ALTER COLUMN _load_id SET NOT NULL")
        con.execute(f"DROP TABLE {self.raw}")
        con.execute(f"ALTER TABLE {self.stage} RENAME TO {quote(name)}")
        con.execute(";\n".join(raw_comments(self.table)))
        return one_row(con, f"SELECT count(*) FROM {self.raw}")[0]

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
        (stored,) = one_row(
            self.con,
            "SELECT count(DISTINCT coalesce(line, -k)) FROM _problems WHERE starts_with(reason, 'already stored')",
        )
        again = f" ({stored:,} of them already stored: a re-delivery)" if stored else ""
        return (
            f"{quarantined:,} row{'s' if quarantined > 1 else ''} quarantined{again}, first: {where}: {top[2]} "
            f"(see audit.quarantine, load_id {self.load_id})"
        )


def _implied_parents(table: Table) -> dict[str, tuple[str, str]]:
    """Parent ids that another parent row also holds: column -> (via column, via table).

    POS_CASH_balance.SK_ID_CURR is implied by SK_ID_PREV: previous_application rows carry a checked
    SK_ID_CURR, so a balance row must hold the same one.
    """
    contract = inputs()
    return {
        column: (via, via_table)
        for column, parent in table.parents.items()
        for via, via_table in table.parents.items()
        if via_table in contract and contract[via_table].parents.get(column) == parent
    }


def raw_comments(table: Table) -> list[str]:
    """The COMMENT statements documenting raw.<table> and its columns."""
    name = f"raw.{quote(table.name)}"
    about = f"Rows of {table.file_name} that passed the checks of credit-scoring ingest."
    return [
        f"COMMENT ON TABLE {name} IS {literal(about)}",
        *(f"COMMENT ON COLUMN {name}.{quote(c.name)} IS {literal(c.description)}" for c in columns_of(table)),
        f"COMMENT ON COLUMN {name}._load_id IS {literal(LOAD_ID_COMMENT)}",
    ]


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
