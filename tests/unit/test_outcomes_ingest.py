"""Observed outcomes as an input: loaded under the contract, quarantined with their reason, never overwritten."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from scoring import score_tables as st
from tests.unit.test_ingest import TEST_IDS, TRAIN_IDS, file_report, ingest, loaded, loaded_template, query
from warehouse.settings import Settings

__all__ = ["loaded", "loaded_template"]  # the fixtures this module borrows

SCORED_AT = datetime(2026, 11, 2, 2, 0)


def scored(settings: Settings, *clients: int) -> None:
    """Record a succeeded champion run that scored `clients` on SCORED_AT."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        st.create_tables(con, "UBIGINT")
        con.execute(
            "INSERT INTO scores.runs (run_id, model_name, model_version, model_run_id, threshold, mode, started_at, "
            "status) VALUES (1, 'credit_default', 1, 'r', 0.5, 'new', ?, 'succeeded')",
            [SCORED_AT],
        )
        for client in clients:
            con.execute(
                "INSERT INTO scores.predictions (run_id, SK_ID_CURR, model_version, probability, decision, threshold, "
                "FEATURE_HASH, base_value, raw_score, scored_at, points) "
                "VALUES (1, ?, 1, 0.1, 'accept', 0.5, 1, 0, 0, ?, 600)",
                [client, SCORED_AT],
            )


def outcomes(folder: Path, *rows: str) -> Path:
    """A folder holding an outcomes.csv with these lines under the contract's header."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "outcomes.csv").write_text("SK_ID_CURR,OBSERVATION_DATE,DEFAULTED\n" + "".join(f"{r}\n" for r in rows))
    return folder


def reasons(settings: Settings) -> list[tuple]:
    """(line, column, reason) of every quarantined outcome."""
    return query(
        settings,
        "SELECT line_number, column_name, reason FROM audit.quarantine WHERE table_name = 'outcomes' "
        "ORDER BY load_id, line_number",
    )


def test_outcomes_of_scored_clients_load_and_the_others_are_quarantined_with_their_reason(
    loaded: Settings, tmp_path: Path
) -> None:
    scored(loaded, *TEST_IDS)
    report = ingest(
        outcomes(
            tmp_path / "night",
            f"{TEST_IDS[0]},2026-11-30,1",  # loads
            f"{TEST_IDS[1]},2026-11-01,0",  # observed the day before it was scored
            "999999,2026-11-30,0",  # unknown client
            f"{TRAIN_IDS[0]},2026-11-30,0",  # a known client never scored
            f"{TEST_IDS[0]},2026-11-30,0",  # a second, different outcome in the same file
            f"{TEST_IDS[1]},30/11/2026,2",  # not a date, not 0/1 (and a repeat)
        ),
        loaded,
    )
    line = file_report(report, "outcomes.csv")
    assert (line.status, line.rows_read, line.rows_loaded, line.rows_quarantined) == ("loaded", 6, 1, 5)
    assert query(loaded, "SELECT SK_ID_CURR, OBSERVATION_DATE, DEFAULTED FROM raw.outcomes") == [
        (TEST_IDS[0], "2026-11-30", 1)
    ]
    found = reasons(loaded)
    assert found[0] == (3, "SK_ID_CURR", found[0][2]) and "observed before the decision" in found[0][2]
    assert "scored for 2026-11-02" in found[0][2]
    assert found[1] == (4, "SK_ID_CURR", "orphan: SK_ID_CURR 999999 is in no application")
    assert found[2][:2] == (5, "SK_ID_CURR") and found[2][2].startswith(f"never scored: SK_ID_CURR {TRAIN_IDS[0]}")
    assert found[3][:2] == (6, "SK_ID_CURR") and found[3][2].startswith("duplicate key SK_ID_CURR=")
    assert {r[1:] for r in found[4:]} == {
        ("DEFAULTED", "DEFAULTED must be 0 or 1"),
        ("OBSERVATION_DATE", "OBSERVATION_DATE must be a date written YYYY-MM-DD"),
        ("SK_ID_CURR", f"duplicate key SK_ID_CURR={TEST_IDS[1]} (also on line 3)"),
    }


def test_a_second_conflicting_outcome_is_quarantined_and_the_first_is_kept(loaded: Settings, tmp_path: Path) -> None:
    scored(loaded, *TEST_IDS)
    assert ingest(outcomes(tmp_path / "first", f"{TEST_IDS[0]},2026-11-30,0"), loaded).committed
    again = ingest(outcomes(tmp_path / "again", f"{TEST_IDS[0]},2026-11-30,0", f"{TEST_IDS[0]}x"), loaded)
    assert again.rejected_files  # a broken line rejects the file; nothing changes
    report = ingest(outcomes(tmp_path / "second", f"{TEST_IDS[0]},2026-12-15,1", f"{TEST_IDS[1]},2026-12-15,0"), loaded)
    assert file_report(report, "outcomes.csv").rows_loaded == 1
    assert query(loaded, "SELECT SK_ID_CURR, OBSERVATION_DATE, DEFAULTED FROM raw.outcomes ORDER BY 1") == [
        (TEST_IDS[0], "2026-11-30", 0),
        (TEST_IDS[1], "2026-12-15", 0),
    ]
    (reason,) = [r for _, _, r in reasons(loaded)]
    assert reason.startswith(f"conflict: SK_ID_CURR={TEST_IDS[0]} is already stored") and "stored row is kept" in reason


def test_without_any_score_every_known_client_is_never_scored(loaded: Settings, tmp_path: Path) -> None:
    report = ingest(outcomes(tmp_path / "early", f"{TEST_IDS[0]},2026-11-30,1"), loaded)
    assert file_report(report, "outcomes.csv").rows_quarantined == 1
    assert reasons(loaded)[0][2].startswith(f"never scored: SK_ID_CURR {TEST_IDS[0]}")


@pytest.mark.parametrize("header", ["SK_ID_CURR,DEFAULTED", "SK_ID_CURR,OBSERVATION_DATE,DEFAULTED,EXTRA"])
def test_an_outcomes_file_of_another_layout_is_rejected(loaded: Settings, tmp_path: Path, header: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "outcomes.csv").write_text(header + "\n100005,2026-11-30,1\n")
    assert ingest(folder, loaded).rejected_files
