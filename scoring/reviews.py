"""Human review of decisions: an append-only store of its own, and the night's import into the warehouse.

A relationship manager confirms or overrides the model's decision of one score from the dashboard. The serving
database is read-only and replaced at every publication, and the working warehouse belongs to the nightly run, so
reviews go to their own SQLite file (settings.reviews_path, owner-only): each review is one transaction
(BEGIN IMMEDIATE: SQLite's own lock on the file, waited for at most settings.review_wait_s), committed with a full
sync before the dashboard says it is saved. Triggers refuse any UPDATE or DELETE, so the file only ever grows;
nothing else writes it, and a publication or a failed night never touches it.

Each night imports the reviews the warehouse lacks into scores.reviews (by review_id: each one once, whatever
number of times the step runs), then sets each client's final decision in scores.latest: the latest review of
the score shown there, else the model's decision. A review is of one score (its run): a client scored again
gets the new score's decision until someone reviews it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime

import duckdb
import pyarrow as pa

from scoring import score_tables as st
from warehouse.clock import utc_now
from warehouse.database import PRIVATE_FILE, one_row, open_warehouse, private_dir, private_file
from warehouse.settings import Settings
from warehouse.vocabulary import REVIEW_ACTIONS, review_reasons

DECISIONS = ("accept", "refuse")
MAX_COMMENT = 2000
SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT,
    SK_ID_CURR INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    model_decision TEXT NOT NULL CHECK (model_decision IN {DECISIONS}),
    action TEXT NOT NULL CHECK (action IN {REVIEW_ACTIONS}),
    final_decision TEXT NOT NULL CHECK (final_decision IN {DECISIONS}),
    reason_code TEXT NOT NULL,
    comment TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    reviewed_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS reviews_never_updated BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: a review is never changed'); END;
CREATE TRIGGER IF NOT EXISTS reviews_never_deleted BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: a review is never deleted'); END;
"""
COLUMNS = ("SK_ID_CURR", "run_id", "model_decision", "action", "final_decision", "reason_code", "comment", "reviewer")


class ReviewError(ValueError):
    """A review that cannot be recorded: what is wrong with it, in plain words (nothing was written)."""


@dataclass(frozen=True)
class Review:
    """One recorded review of one score."""

    review_id: int
    SK_ID_CURR: int
    run_id: int
    model_decision: str
    action: str
    final_decision: str
    reason_code: str
    comment: str
    reviewer: str
    reviewed_at: datetime


@contextmanager
def _store(settings: Settings, *, write: bool) -> Iterator[sqlite3.Connection]:
    """The reviews file (created owner-only with its table and triggers when writing), closed after the block."""
    path = settings.reviews_path
    if write:
        private_dir(path.parent)
        path.touch(mode=PRIVATE_FILE, exist_ok=True)
        private_file(path)
        con = sqlite3.connect(path, timeout=settings.review_wait_s, isolation_level=None)
    else:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=settings.review_wait_s)
    with closing(con):
        con.execute("PRAGMA synchronous = FULL")
        if write:
            con.executescript(SCHEMA_SQL)
        yield con


def record_review(
    settings: Settings,
    *,
    client: int,
    run_id: int,
    model_decision: str,
    action: str,
    reason_code: str,
    comment: str,
    reviewer: str,
) -> Review:
    """Check and append one review in a transaction of its own (durable once this returns); the review stored."""
    comment, reviewer = comment.strip(), reviewer.strip()
    _check(model_decision, action, reason_code, comment, reviewer)
    final = model_decision if action == "confirm" else next(d for d in DECISIONS if d != model_decision)
    values = (int(client), int(run_id), model_decision, action, final, reason_code, comment, reviewer)
    with _store(settings, write=True) as con:
        try:
            con.execute("BEGIN IMMEDIATE")
            at = utc_now()  # once the file is ours: review ids and times then agree with the order of the commits
            cursor = con.execute(
                f"INSERT INTO reviews ({', '.join(COLUMNS)}, reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, at.isoformat(sep=" ")),
            )
            con.execute("COMMIT")
        except sqlite3.OperationalError as error:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise ReviewError(f"the review was not saved: the reviews file {settings.reviews_path} {error}") from error
    assert cursor.lastrowid is not None
    return Review(cursor.lastrowid, *values, reviewed_at=at)


def _check(model_decision: str, action: str, reason_code: str, comment: str, reviewer: str) -> None:
    """ReviewError saying what is wrong with a review, if anything."""
    reasons = review_reasons()
    if model_decision not in DECISIONS:
        raise ReviewError(f"the model's decision must be one of {DECISIONS}, not {model_decision!r}")
    if action not in REVIEW_ACTIONS:
        raise ReviewError(f"a review must confirm or override the decision, not {action!r}")
    if reason_code not in reasons:
        raise ReviewError(f"{reason_code!r} is not one of the review reasons ({', '.join(reasons)})")
    if not reasons[reason_code].justifies(action):
        raise ReviewError(f"the reason {reasons[reason_code].label!r} cannot justify a review that {action}s")
    if not reviewer:
        raise ReviewError("a review needs the name of its reviewer")
    if (action == "override" or reasons[reason_code].action == "any") and not comment:
        raise ReviewError("say in the comment why: an override, or the reason 'other', needs one")
    if len(comment) > MAX_COMMENT:
        raise ReviewError(f"the comment has {len(comment):,} characters; at most {MAX_COMMENT:,} are kept")


def stored_reviews(settings: Settings, *, client: int | None = None, after: int = 0) -> list[Review]:
    """The reviews in the file (of one client, or all with review_id above `after`), oldest first."""
    if not settings.reviews_path.is_file():
        return []
    where, params = "WHERE review_id > ?", [after]
    if client is not None:
        where, params = where + " AND SK_ID_CURR = ?", [after, client]
    with _store(settings, write=False) as con:
        try:
            rows = con.execute(
                f"SELECT review_id, {', '.join(COLUMNS)}, reviewed_at FROM reviews {where} ORDER BY review_id", params
            ).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise
    names = [f.name for f in fields(Review)]
    return [
        Review(**{**dict(zip(names, row, strict=True)), "reviewed_at": datetime.fromisoformat(row[-1])}) for row in rows
    ]


def import_reviews(settings: Settings) -> int:
    """Bring the reviews the warehouse lacks into scores.reviews and set the final decisions of scores.latest,
    in one transaction; the number imported (0 when run again)."""
    with open_warehouse(settings.warehouse_path) as con:
        st.REVIEWS.create(con)
        (last,) = one_row(con, f"SELECT coalesce(max(review_id), 0) FROM {st.REVIEWS.qualified}")
        new = stored_reviews(settings, after=last)
        con.begin()
        if new:
            rows = pa.Table.from_pylist([{**asdict(r), "imported_at": utc_now()} for r in new])
            con.register("_reviews", rows)
            con.execute(f"INSERT INTO {st.REVIEWS.qualified} BY NAME SELECT * FROM _reviews")
            con.unregister("_reviews")
        if _has_final_columns(con):
            apply_reviews(con)
        con.commit()
    return len(new)


def _has_final_columns(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether scores.latest exists with its final-decision columns (a warehouse scored since reviews exist)."""
    (found,) = one_row(
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = $s "
        "AND table_name = $t AND column_name = 'final_decision'",
        {"s": st.SCHEMA, "t": st.LATEST.name},
    )
    return bool(found)


def apply_reviews(con: duckdb.DuckDBPyConnection) -> None:
    """Set every client's final decision in scores.latest: the latest review of the score shown, else the model's."""
    con.execute(
        f"""
        UPDATE {st.LATEST.qualified} SET final_decision = decision, overridden = false, reviewed_by = NULL,
            reviewed_at = NULL, review_reason = NULL"""
    )
    con.execute(
        f"""
        UPDATE {st.LATEST.qualified} AS l
        SET final_decision = r.final_decision, overridden = r.action = 'override', reviewed_by = r.reviewer,
            reviewed_at = r.reviewed_at, review_reason = r.reason_code
        FROM (SELECT * FROM {st.REVIEWS.qualified}
              QUALIFY row_number() OVER (PARTITION BY SK_ID_CURR, run_id ORDER BY review_id DESC) = 1) AS r
        WHERE r.SK_ID_CURR = l.SK_ID_CURR AND r.run_id = l.run_id"""
    )
