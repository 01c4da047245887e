"""Validated ingestion: clean loads, idempotence, batches, every bad-input kind and every harmless variant."""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.app import app
from ingest.audit import IngestReport
from ingest.files import IngestError, columns_of
from ingest.load import ingest_folder
from warehouse.schema import INT, TEXT, tables
from warehouse.settings import Settings

Rows = dict[str, list[dict[str, str]]]
TRAIN_IDS = [100001, 100002, 100003, 100004]
TEST_IDS = [100005, 100006]


# ---------------------------------------------------------------- a tiny, valid, deterministic data set


def _default(name: str, kind: str, domain: tuple[str, ...] | None, i: int) -> str:
    """A valid value of a column for row i."""
    if kind == TEXT:
        return domain[i % len(domain)] if domain else "x"
    if kind == INT:
        return str(-100 - i) if name.startswith("DAYS_") else "1"
    return "0.25" if i % 2 else "0.5"


def _row(table: str, i: int, **ids: int) -> dict[str, str]:
    """Row i of a table: valid defaults, then the ids given."""
    row = {c.name: _default(c.name, c.type, c.domain, i) for c in columns_of(tables()[table])}
    row.update({k: str(v) for k, v in ids.items()})
    return row


def tiny_rows() -> Rows:
    """A few consistent rows for each of the eight files."""
    rows: Rows = {
        "application_train": [
            _row("application_train", i, SK_ID_CURR=c, TARGET=i % 2) for i, c in enumerate(TRAIN_IDS)
        ],
        "application_test": [_row("application_test", i, SK_ID_CURR=c) for i, c in enumerate(TEST_IDS)],
        "bureau": [_row("bureau", i, SK_ID_BUREAU=500001 + i, SK_ID_CURR=c) for i, c in enumerate(TRAIN_IDS)],
        "previous_application": [
            _row("previous_application", i, SK_ID_PREV=200001 + i, SK_ID_CURR=c)
            for i, c in enumerate(TRAIN_IDS + TEST_IDS)
        ],
    }
    rows["bureau_balance"] = [
        _row("bureau_balance", i, SK_ID_BUREAU=500001 + i // 2, MONTHS_BALANCE=-1 - i % 2) for i in range(6)
    ]
    prev = [(200001 + i, c) for i, c in enumerate(TRAIN_IDS + TEST_IDS)]
    for name in ("POS_CASH_balance", "credit_card_balance", "installments_payments"):
        rows[name] = [
            _row(name, i, SK_ID_PREV=p, SK_ID_CURR=c, MONTHS_BALANCE=-1 - i // len(prev))
            for i, (p, c) in enumerate(prev + prev)
        ]
        if name == "installments_payments":
            for r in rows[name]:
                del r["MONTHS_BALANCE"]
    return rows


def write_folder(
    folder: Path, rows: Rows, *, encoding: str = "utf-8", newline: str = "\n", only: tuple[str, ...] | None = None
) -> Path:
    """Write the rows as Kaggle CSV files (header in contract order) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table_rows in rows.items():
        if only is not None and name not in only:
            continue
        header = [c.name for c in columns_of(tables()[name])]
        with (folder / f"{name}.csv").open("w", encoding=encoding, newline="") as f:
            writer = csv.DictWriter(f, header, lineterminator=newline)
            writer.writeheader()
            writer.writerows(table_rows)
    return folder


def raw_counts(settings: Settings) -> dict[str, int]:
    """Rows per raw table."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {t: con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone()[0] for t in tables()}


def query(settings: Settings, sql: str) -> list[tuple]:
    """Run a read-only query on the warehouse."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def ingest(folder: Path, settings: Settings) -> IngestReport:
    """ingest_folder without the progress display."""
    return ingest_folder(folder, settings, progress=False)


def file_report(report: IngestReport, name: str):
    """The report line of one file."""
    return next(f for f in report.files if f.file_name == name)


def quarantine(settings: Settings) -> list[tuple]:
    """(file, line, column, value, reason) of every quarantine row, in order."""
    return query(
        settings,
        "SELECT file_name, line_number, column_name, value, reason FROM audit.quarantine "
        "ORDER BY load_id, file_name, line_number, column_name",
    )


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    """A folder with the tiny valid data set."""
    return write_folder(tmp_path / "clean", tiny_rows())


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file holding the tiny data set, built once per module."""
    home = tmp_path_factory.mktemp("loaded")
    settings = Settings(home=home)
    assert not ingest(write_folder(home / "clean", tiny_rows()), settings).rejected_files
    return settings.warehouse_path


@pytest.fixture
def loaded(loaded_template: Path, settings: Settings) -> Settings:
    """Settings of a fresh copy of a warehouse that already holds the tiny data set."""
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copyfile(loaded_template, settings.warehouse_path)
    return settings


# ---------------------------------------------------------------- clean loads, reloads, batches


def test_clean_load_counts_types_and_audit(clean: Path, settings: Settings) -> None:
    report = ingest(clean, settings)
    expected = {name: len(rows) for name, rows in tiny_rows().items()}
    assert raw_counts(settings) == expected
    assert {f.table_name: f.rows_loaded for f in report.files} == expected
    assert all(f.status == "loaded" and f.rows_quarantined == 0 for f in report.files)
    types = dict(
        query(
            settings,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'application_train'",
        )
    )
    assert (types["SK_ID_CURR"], types["AMT_CREDIT"], types["CODE_GENDER"]) == ("BIGINT", "DOUBLE", "VARCHAR")
    assert list(types)[-1] == "_load_id"
    audit = query(
        settings,
        "SELECT file_name, checksum, rows_read, rows_loaded, status FROM audit.loads WHERE file_name = 'bureau.csv'",
    )
    digest = hashlib.sha256((clean / "bureau.csv").read_bytes()).hexdigest()
    assert audit == [("bureau.csv", digest, 4, 4, "loaded")]
    assert query(settings, "SELECT DISTINCT _load_id FROM raw.bureau") == [(report.load_id,)]
    assert query(settings, "SELECT count(*) FROM audit.quarantine") == [(0,)]
    comment = query(
        settings,
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'application_train' AND column_name = 'DAYS_BIRTH'",
    )[0][0]
    assert comment == tables()["application_train"].column("DAYS_BIRTH").description


def test_generated_small_dataset_loads_without_quarantine(small_dataset: Path, settings: Settings) -> None:
    report = ingest(small_dataset, settings)
    assert not report.rejected_files
    for f in report.files:
        with (small_dataset / f.file_name).open() as rows:
            lines = sum(1 for _ in rows) - 1
        assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (lines, lines, 0), f.file_name


def test_reloading_the_same_files_changes_nothing(clean: Path, loaded: Settings) -> None:
    before = raw_counts(loaded)
    report = ingest(clean, loaded)
    assert {f.status for f in report.files} == {"skipped"}
    assert all(f.rows_loaded == 0 for f in report.files)
    assert raw_counts(loaded) == before
    assert query(loaded, "SELECT status, count(*) FROM audit.loads GROUP BY ALL ORDER BY 1") == [
        ("loaded", 8),
        ("skipped", 8),
    ]


def test_a_nightly_batch_appends(tmp_path: Path, loaded: Settings) -> None:
    before = raw_counts(loaded)
    batch = tiny_rows()
    batch["application_train"] = [_row("application_train", i, SK_ID_CURR=300001 + i, TARGET=0) for i in range(3)]
    batch["bureau"] = [_row("bureau", 0, SK_ID_BUREAU=600001, SK_ID_CURR=300001)]
    report = ingest(write_folder(tmp_path / "batch", batch, only=("application_train", "bureau")), loaded)
    assert [f.status for f in report.files] == ["loaded", "loaded"]
    after = raw_counts(loaded)
    assert after["application_train"] == before["application_train"] + 3
    assert after["bureau"] == before["bureau"] + 1
    assert query(loaded, "SELECT _load_id, count(*) FROM raw.application_train GROUP BY ALL ORDER BY 1") == [
        (1, 4),
        (2, 3),
    ]


# ---------------------------------------------------------------- file-level problems reject the whole load


def _assert_rejected(settings: Settings, report: IngestReport, file_name: str, *words: str) -> None:
    """The file is rejected with a message holding the words, and the load changed no raw table."""
    rejected = [f.file_name for f in report.rejected_files]
    assert rejected == [file_name]
    message = report.rejected_files[0].message
    assert message.startswith(file_name) and all(w in message for w in words), message
    assert query(
        settings, f"SELECT status FROM audit.loads WHERE load_id = {report.load_id} AND file_name = '{file_name}'"
    ) == [("rejected",)]
    assert all(f.status in ("rejected", "skipped") for f in report.files)


def _reject_case(
    tmp_path: Path, loaded: Settings, file_name: str, content: bytes | None = None, edit=None
) -> IngestReport:
    """Ingest a batch (new ids) whose `file_name` is replaced by content or edited; check nothing changed."""
    before = raw_counts(loaded)
    batch = tiny_rows()
    batch["application_train"] = [_row("application_train", 0, SK_ID_CURR=300001, TARGET=0)]
    folder = write_folder(tmp_path / "bad", batch, only=("application_train", file_name.removesuffix(".csv")))
    path = folder / file_name
    if content is not None:
        path.write_bytes(content)
    if edit is not None:
        path.write_bytes(edit(path.read_bytes()))
    report = ingest(folder, loaded)
    assert raw_counts(loaded) == before
    return report


def test_missing_required_column(tmp_path: Path, loaded: Settings) -> None:
    def drop_amt_credit(data: bytes) -> bytes:
        lines = list(csv.reader(data.decode().splitlines()))
        at = lines[0].index("AMT_CREDIT")
        return "".join(",".join(v for j, v in enumerate(line) if j != at) + "\n" for line in lines).encode()

    report = _reject_case(tmp_path, loaded, "previous_application.csv", edit=drop_amt_credit)
    _assert_rejected(loaded, report, "previous_application.csv", "required column missing: AMT_CREDIT")
    other = file_report(report, "application_train.csv")
    assert other.rolled_back and other.message.startswith("not loaded: the load was rolled back")


def test_unknown_extra_column(tmp_path: Path, loaded: Settings) -> None:
    def add_column(data: bytes) -> bytes:
        return b"".join(line + b",7\n" for line in data.splitlines()).replace(b",7\n", b",SCORE\n", 1)

    report = _reject_case(tmp_path, loaded, "bureau.csv", edit=add_column)
    _assert_rejected(loaded, report, "bureau.csv", "unknown column not in the schema contract: SCORE")


def test_truncated_file_cut_mid_line(tmp_path: Path, loaded: Settings) -> None:
    report = _reject_case(tmp_path, loaded, "bureau.csv", edit=lambda d: d[: len(d) - 20])
    _assert_rejected(loaded, report, "bureau.csv", "truncated")


def test_truncated_file_with_unterminated_quote(tmp_path: Path, loaded: Settings) -> None:
    report = _reject_case(tmp_path, loaded, "bureau.csv", edit=lambda d: d + b'100001,"Closed\n')
    _assert_rejected(loaded, report, "bureau.csv", "line 6", "quote")


def test_line_with_too_few_fields(tmp_path: Path, loaded: Settings) -> None:
    report = _reject_case(tmp_path, loaded, "bureau.csv", edit=lambda d: d + b"100001,500099\n")
    _assert_rejected(loaded, report, "bureau.csv", "line 6 has too few fields (2 where 17 are expected)")


def test_empty_file(tmp_path: Path, loaded: Settings) -> None:
    report = _reject_case(tmp_path, loaded, "bureau.csv", content=b"")
    _assert_rejected(loaded, report, "bureau.csv", "empty file (0 bytes)")


def test_header_only_file_is_accepted_with_no_rows(tmp_path: Path, settings: Settings) -> None:
    rows = tiny_rows()
    rows["credit_card_balance"] = []
    report = ingest(write_folder(tmp_path / "batch", rows), settings)
    assert not report.rejected_files
    card = file_report(report, "credit_card_balance.csv")
    assert (card.status, card.rows_read, card.message) == ("loaded", 0, "header only: no rows (accepted)")
    assert raw_counts(settings)["credit_card_balance"] == 0


def test_binary_file(tmp_path: Path, loaded: Settings) -> None:
    report = _reject_case(tmp_path, loaded, "bureau.csv", content=bytes(range(256)) * 8)
    _assert_rejected(loaded, report, "bureau.csv", "unreadable", "binary")


def test_corrupt_gzip_file(tmp_path: Path, loaded: Settings) -> None:
    before = raw_counts(loaded)
    folder = write_folder(tmp_path / "bad", {"bureau": tiny_rows()["bureau"]})
    data = gzip.compress((folder / "bureau.csv").read_bytes())
    (folder / "bureau.csv").unlink()
    (folder / "bureau.csv.gz").write_bytes(data[: len(data) // 2])
    report = ingest(folder, loaded)
    _assert_rejected(loaded, report, "bureau.csv.gz", "unreadable")
    assert raw_counts(loaded) == before


def test_wrong_delimiter(tmp_path: Path, loaded: Settings) -> None:
    report = _reject_case(tmp_path, loaded, "bureau.csv", edit=lambda d: d.replace(b",", b";"))
    _assert_rejected(loaded, report, "bureau.csv", "wrong delimiter", "';'")


# ---------------------------------------------------------------- row-level problems go to quarantine


def _quarantine_case(tmp_path: Path, loaded: Settings, table: str, row: dict[str, str]) -> IngestReport:
    """Ingest a batch holding one good and one given row of `table`; the bad row must be quarantined alone."""
    before = raw_counts(loaded)
    good = {
        "application_train": _row("application_train", 0, SK_ID_CURR=300001, TARGET=0),
        "bureau": _row("bureau", 0, SK_ID_BUREAU=600001, SK_ID_CURR=100001),
        "previous_application": _row("previous_application", 0, SK_ID_PREV=700001, SK_ID_CURR=100001),
    }[table]
    folder = write_folder(tmp_path / "batch", {table: [good, row]})
    report = ingest(folder, loaded)
    f = report.files[0]
    assert (f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("loaded", 2, 1, 1)
    after = raw_counts(loaded)
    assert after[table] == before[table] + 1
    assert "line 3" in f.message and "audit.quarantine" in f.message
    return report


def test_unparsable_value(tmp_path: Path, loaded: Settings) -> None:
    row = _row("application_train", 1, SK_ID_CURR=300002, TARGET=0, AMT_CREDIT="12k")
    _quarantine_case(tmp_path, loaded, "application_train", row)
    assert quarantine(loaded) == [("application_train.csv", 3, "AMT_CREDIT", "12k", "not a number (column AMT_CREDIT)")]


def test_non_integral_integer(tmp_path: Path, loaded: Settings) -> None:
    row = _row("application_train", 1, SK_ID_CURR=300002, TARGET=0, CNT_CHILDREN="1.5")
    _quarantine_case(tmp_path, loaded, "application_train", row)
    assert quarantine(loaded) == [
        ("application_train.csv", 3, "CNT_CHILDREN", "1.5", "not an integer (column CNT_CHILDREN holds whole numbers)")
    ]


def test_out_of_domain_category(tmp_path: Path, loaded: Settings) -> None:
    row = _row("application_train", 1, SK_ID_CURR=300002, TARGET=0, NAME_CONTRACT_TYPE="Foo")
    _quarantine_case(tmp_path, loaded, "application_train", row)
    assert quarantine(loaded) == [
        (
            "application_train.csv",
            3,
            "NAME_CONTRACT_TYPE",
            "Foo",
            "value 'Foo' not in the allowed values of NAME_CONTRACT_TYPE",
        )
    ]


def test_impossible_value(tmp_path: Path, loaded: Settings) -> None:
    row = _row("application_train", 1, SK_ID_CURR=300002, TARGET=0, DAYS_BIRTH=12000)
    _quarantine_case(tmp_path, loaded, "application_train", row)
    assert quarantine(loaded) == [
        ("application_train.csv", 3, "DAYS_BIRTH", "12000", "DAYS_BIRTH must be negative (days before the application)")
    ]


def test_row_with_several_problems_counts_once(tmp_path: Path, loaded: Settings) -> None:
    row = _row("application_train", 1, SK_ID_CURR=300002, TARGET=3, DAYS_BIRTH=5, CODE_GENDER="?")
    _quarantine_case(tmp_path, loaded, "application_train", row)
    problems = [(q[1], q[2]) for q in quarantine(loaded)]
    assert problems == [(3, "CODE_GENDER"), (3, "DAYS_BIRTH"), (3, "TARGET")]


def test_duplicate_key_in_file_keeps_the_first(tmp_path: Path, loaded: Settings) -> None:
    first = _row("previous_application", 0, SK_ID_PREV=700001, SK_ID_CURR=100001, AMT_CREDIT=1)
    repeat = _row("previous_application", 0, SK_ID_PREV=700001, SK_ID_CURR=100002, AMT_CREDIT=2)
    other = first | {"SK_ID_PREV": "700002"}
    write_folder(tmp_path / "batch", {"previous_application": [first, other, repeat]})
    report = ingest(tmp_path / "batch", loaded)
    assert (report.files[0].rows_loaded, report.files[0].rows_quarantined) == (2, 1)
    assert quarantine(loaded) == [
        ("previous_application.csv", 4, "SK_ID_PREV", "700001", "duplicate key SK_ID_PREV=700001 (also on line 2)")
    ]
    stored = query(loaded, "SELECT AMT_CREDIT FROM raw.previous_application WHERE SK_ID_PREV = 700001")
    assert stored == [(1.0,)]


@pytest.mark.parametrize(
    ("months", "repeated"),
    [
        (
            [-1, -2, -3, -1, -2],  # the credit's months in two runs
            [
                (5, "(SK_ID_BUREAU, MONTHS_BALANCE)=(500001, -1) (also on line 2)"),
                (6, "(SK_ID_BUREAU, MONTHS_BALANCE)=(500001, -2) (also on line 3)"),
            ],
        ),
        ([-1, -2, -2, -3, -4], [(4, "(SK_ID_BUREAU, MONTHS_BALANCE)=(500001, -2) (also on line 3)")]),  # ordered
        ([-3, -1, -2, -4, -5], []),  # neither ordered nor repeated
    ],
)
def test_repeated_composite_keys_are_found_in_any_row_order(
    tmp_path: Path, loaded: Settings, months: list[int], repeated: list[tuple[int, str]]
) -> None:
    rows = [_row("bureau_balance", 0, SK_ID_BUREAU=500001, MONTHS_BALANCE=m) for m in months]
    folder = write_folder(tmp_path / "batch", {"bureau_balance": rows})
    ingest(folder, loaded)
    found = [(q[1], q[4].removeprefix("duplicate key ")) for q in quarantine(loaded) if "duplicate" in q[4]]
    assert found == repeated


def test_a_stored_key_is_never_overwritten_nor_stored_twice(tmp_path: Path, loaded: Settings) -> None:
    """A corrected row (same key, other values) is a conflict; a re-delivered identical row is already stored."""
    corrected = _row("bureau", 0, SK_ID_BUREAU=500001, SK_ID_CURR=100001, AMT_CREDIT_SUM=999)
    report = _quarantine_case(tmp_path, loaded, "bureau", corrected)
    conflict = "conflict: SK_ID_BUREAU=500001 is already stored (load 1) with other values; the stored row is kept"
    assert quarantine(loaded) == [("bureau.csv", 3, "SK_ID_BUREAU", "500001", conflict)]
    assert query(loaded, "SELECT AMT_CREDIT_SUM FROM raw.bureau WHERE SK_ID_BUREAU = 500001") == [(0.5,)]
    assert report.files[0].status == "loaded"
    identical = tiny_rows()["bureau"][1]
    ingest(write_folder(tmp_path / "again", {"bureau": [identical]}), loaded)
    assert quarantine(loaded)[-1][2:] == (
        "SK_ID_BUREAU",
        "500002",
        "already stored: the same row (SK_ID_BUREAU=500002) was loaded by load 1",
    )
    assert query(loaded, "SELECT count(*) FROM raw.bureau WHERE SK_ID_BUREAU = 500002") == [(1,)]


def test_orphan_rows_and_their_children(tmp_path: Path, loaded: Settings) -> None:
    orphan = _row("bureau", 1, SK_ID_BUREAU=600002, SK_ID_CURR=999)
    rows = {
        "bureau": [_row("bureau", 0, SK_ID_BUREAU=600001, SK_ID_CURR=100001), orphan],
        "bureau_balance": [
            _row("bureau_balance", 0, SK_ID_BUREAU=600001, MONTHS_BALANCE=-1),
            _row("bureau_balance", 0, SK_ID_BUREAU=600002, MONTHS_BALANCE=-1),
        ],
    }
    report = ingest(write_folder(tmp_path / "batch", rows), loaded)
    assert [(f.rows_loaded, f.rows_quarantined) for f in report.files] == [(1, 1), (1, 1)]
    assert quarantine(loaded) == [
        ("bureau.csv", 3, "SK_ID_CURR", "999", "orphan: SK_ID_CURR 999 is in no application"),
        ("bureau_balance.csv", 3, "SK_ID_BUREAU", "600002", "orphan: SK_ID_BUREAU 600002 is in no bureau"),
    ]


def test_balance_row_of_another_client_than_its_previous_one(tmp_path: Path, loaded: Settings) -> None:
    rows = {"POS_CASH_balance": [_row("POS_CASH_balance", 0, SK_ID_PREV=200001, SK_ID_CURR=100002, MONTHS_BALANCE=-5)]}
    ingest(write_folder(tmp_path / "batch", rows), loaded)
    assert quarantine(loaded) == [
        (
            "POS_CASH_balance.csv",
            2,
            "SK_ID_CURR",
            "100002",
            "SK_ID_CURR 100002 differs from 100001, the SK_ID_CURR of previous_application SK_ID_PREV=200001",
        )
    ]


def test_line_numbers_count_rows_the_reader_refused(tmp_path: Path, loaded: Settings) -> None:
    rows = [_row("previous_application", i, SK_ID_PREV=700001 + i, SK_ID_CURR=100001) for i in range(6)]
    rows[1]["AMT_CREDIT"] = "oops"
    rows[4]["SK_ID_PREV"] = "700001"
    ingest(write_folder(tmp_path / "batch", {"previous_application": rows}), loaded)
    assert [q[1:3] for q in quarantine(loaded)] == [(3, "AMT_CREDIT"), (6, "SK_ID_PREV")]
    assert quarantine(loaded)[1][4] == "duplicate key SK_ID_PREV=700001 (also on line 2)"


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path, loaded: Settings) -> None:
    rows = [_row("previous_application", i, SK_ID_PREV=700001 + i, SK_ID_CURR=100001) for i in range(4)]
    rows[1]["AMT_CREDIT"] = "oops"
    rows[3]["NAME_CONTRACT_TYPE"] = "Foo"
    folder = write_folder(tmp_path / "batch", {"previous_application": rows})
    path = folder / "previous_application.csv"
    header, *lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([header, b"\n", lines[0], b"  \n", b"\r\n", lines[1], b"\n", lines[2], lines[3], b"\n"]))
    report = ingest(folder, loaded)  # physical lines: 1 header, 3 6 8 9 rows, 2 4 5 7 10 blank
    assert [q[1:3] for q in quarantine(loaded)] == [(6, "AMT_CREDIT"), (9, "NAME_CONTRACT_TYPE")]
    file = report.files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (4, 2, 2)
    assert file.warnings[0] == "5 blank lines ignored (line 2, 4, 5, 7, 10)"
    assert "line breaks of two kinds" in file.warnings[1]


def test_a_redelivered_file_without_a_key_is_not_stored_twice(tmp_path: Path, loaded: Settings) -> None:
    """installments_payments has no key: a re-delivered row is recognised by its content, copies counted."""
    before = raw_counts(loaded)["installments_payments"]
    rows = tiny_rows()["installments_payments"]
    path = write_folder(tmp_path / "again", {"installments_payments": rows}) / "installments_payments.csv"
    header = path.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(path.read_bytes() + header)  # one stray header line: another checksum, the same rows
    report = ingest(path.parent, loaded)
    again = report.files[0]
    assert (again.status, again.rows_loaded, again.rows_quarantined) == ("loaded", 0, len(rows) + 1)
    assert raw_counts(loaded)["installments_payments"] == before
    reasons = [q[4] for q in quarantine(loaded)]
    assert reasons.count("already stored: the same row was loaded by load 1") == len(rows)

    corrected = [r | {"AMT_PAYMENT": "7"} for r in rows[:1]] + rows[1:]
    new_instalment = rows[0] | {"NUM_INSTALMENT_NUMBER": "2"}
    folder = write_folder(tmp_path / "corrected", {"installments_payments": [*corrected, new_instalment]})
    fixed = ingest(folder, loaded).files[0]
    assert (fixed.rows_loaded, fixed.rows_quarantined) == (1, len(rows)), "only the new instalment is stored"
    assert query(loaded, "SELECT reason FROM audit.quarantine WHERE load_id = 3 AND line_number = 2") == [
        (
            "conflict: (SK_ID_PREV, NUM_INSTALMENT_VERSION, NUM_INSTALMENT_NUMBER)=(200001, 0.5, 1) already has "
            "payments stored by load 1 that this row does not match; the stored rows are kept",
        )
    ]
    assert raw_counts(loaded)["installments_payments"] == before + 1


def test_a_folder_with_a_manifest_loads_only_what_it_lists(tmp_path: Path, loaded: Settings) -> None:
    from warehouse.delivery import write_manifest

    rows = tiny_rows()
    rows["bureau"] = [_row("bureau", i, SK_ID_BUREAU=600001 + i, SK_ID_CURR=100001) for i in range(3)]
    folder = write_folder(tmp_path / "batch", rows, only=("bureau",))
    path = folder / "bureau.csv"
    whole = path.read_bytes()
    write_manifest(folder, ["bureau.csv"])
    path.write_bytes(whole[: whole.rindex(b"\n", 0, -1) + 1])  # cut at a line boundary: a valid-looking CSV
    _assert_rejected(loaded, ingest(folder, loaded), "bureau.csv", "where manifest.json lists", "incomplete")
    path.write_bytes(whole.replace(b"600003", b"600004"))  # the same size, other bytes
    _assert_rejected(loaded, ingest(folder, loaded), "bureau.csv", "SHA-256 differs")
    path.write_bytes(whole)
    write_folder(folder, tiny_rows(), only=("bureau_balance",))
    report = ingest(folder, loaded)
    assert [f.file_name for f in report.rejected_files] == ["bureau_balance.csv"]
    assert "not listed in the folder's manifest.json" in report.rejected_files[0].message
    (folder / "bureau_balance.csv").unlink()
    assert ingest(folder, loaded).files[0].rows_loaded == 3


# ---------------------------------------------------------------- harmless variants load like the clean file


def _with_accent(rows: Rows) -> Rows:
    """The tiny data set with an accented (out-of-domain, so quarantined) value, to test decoding."""
    rows["application_train"][1]["ORGANIZATION_TYPE"] = "Café"
    return rows


def _rewrite(folder: Path, name: str, change) -> None:
    """Apply change(header, rows) -> (header, rows) to one CSV file of folder (utf-8, LF)."""
    path = folder / name
    header, *rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    header, rows = change(header, rows)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows])


def _shuffled(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Columns in reverse order."""
    return header[::-1], [r[::-1] for r in rows]


def _index_column(name: str):
    """Add a leading row-index column called name."""
    return lambda header, rows: ([name, *header], [[str(i), *r] for i, r in enumerate(rows)])


def _float_ints(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Integers written as 1.0 and 1.000000000 (and 0.5 as 0.500000000)."""
    integers = {c.name for t in tables().values() for c in columns_of(t) if c.type == INT}

    def fmt(v: str, j: int) -> str:
        if header[j] in integers:
            return f"{v}.0" if j % 2 else f"{v}.000000000"
        return "0.500000000" if v == "0.5" else v

    return header, [[fmt(v, j) for j, v in enumerate(r)] for r in rows]


def _each_file(change):
    """A variant applying change(path) to every CSV of a folder."""
    return lambda folder: [change(p) for p in sorted(folder.glob("*.csv"))]


VARIANTS = {
    "utf-8 BOM": _each_file(lambda p: p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())),
    "CRLF": _each_file(lambda p: p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))),
    "latin-1": _each_file(lambda p: p.write_bytes(p.read_text(encoding="utf-8").encode("latin-1"))),
    "1.0 integers": _each_file(lambda p: _rewrite(p.parent, p.name, _float_ints)),
    "empty-named index column": lambda folder: _rewrite(folder, "bureau.csv", _index_column("")),
    "Unnamed: 0 index column": lambda folder: _rewrite(folder, "application_train.csv", _index_column("Unnamed: 0")),
    "shuffled columns": _each_file(lambda p: _rewrite(p.parent, p.name, _shuffled)),
    "gzip": _each_file(lambda p: (p.with_suffix(".csv.gz").write_bytes(gzip.compress(p.read_bytes())), p.unlink())),
}
VARIANT_FILES = ("application_train", "bureau", "bureau_balance")
"""The variants are tried on a parent, a child and a grandchild file (fast, and enough to cover the joins)."""


def _padded(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Every value with a space on each side."""
    return header, [[f" {v} " for v in r] for r in rows]


def _lower_header(data: bytes) -> bytes:
    """The file with its header line in lower case."""
    header, rows = data.split(b"\n", 1)
    return header.lower() + b"\n" + rows


WARNED_VARIANTS = {
    "trailing blank lines": (_each_file(lambda p: p.write_bytes(p.read_bytes() + b"\n  \n\t\n\r\n")), "blank line"),
    "spaces around values": (_each_file(lambda p: _rewrite(p.parent, p.name, _padded)), "spaces around a text"),
    "lower-case header": (
        _each_file(lambda p: p.write_bytes(_lower_header(p.read_bytes()))),
        "letter case",
    ),
}
"""Variants loaded like the clean file, with a warning in the report and in audit.loads."""


def _snapshot(settings: Settings) -> dict[str, list[tuple]]:
    """Every raw table's rows (without _load_id) and the quarantine, sorted."""
    snap = {t: query(settings, f'SELECT * EXCLUDE (_load_id) FROM raw."{t}" ORDER BY ALL') for t in tables()}
    snap["quarantine"] = query(
        settings, "SELECT table_name, line_number, column_name, value, reason FROM audit.quarantine ORDER BY ALL"
    )
    return snap


@pytest.fixture(scope="module")
def clean_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """What the clean tiny data set (with one accented value) loads as."""
    home = tmp_path_factory.mktemp("clean_home")
    settings = Settings(home=home)
    ingest(write_folder(home / "data", _with_accent(tiny_rows()), only=VARIANT_FILES), settings)
    return _snapshot(settings)


@pytest.mark.parametrize("variant", [*VARIANTS, *WARNED_VARIANTS])
def test_harmless_variant_loads_like_the_clean_file(
    variant: str, tmp_path: Path, settings: Settings, clean_snapshot: dict[str, list[tuple]]
) -> None:
    folder = write_folder(tmp_path / "variant", _with_accent(tiny_rows()), only=VARIANT_FILES)
    change, warning = WARNED_VARIANTS.get(variant, (VARIANTS.get(variant), None))
    change(folder)
    report = ingest(folder, settings)
    assert not report.rejected_files, report.rejected_files
    warned = [w for f in report.files for w in f.warnings]
    stored = query(settings, "SELECT string_agg(warnings, '; ') FROM audit.loads")[0][0]
    if warning is None:
        assert warned == [] and stored is None
    else:
        assert all(any(warning in w for w in f.warnings) for f in report.files), warned
        assert stored == "; ".join(warned), "the warnings are in audit.loads too"
    snap = _snapshot(settings)
    assert snap == clean_snapshot
    assert (
        "application_train",
        3,
        "ORGANIZATION_TYPE",
        "Café",
        "value 'Café' not in the allowed values of ORGANIZATION_TYPE",
    ) in snap["quarantine"]


def test_nine_decimal_floats_load_rounded(tmp_path: Path, settings: Settings) -> None:
    rows = tiny_rows()
    rows["application_train"][0]["EXT_SOURCE_2"] = "0.123456789"
    ingest(write_folder(tmp_path / "d", rows), settings)
    assert query(settings, "SELECT EXT_SOURCE_2 FROM raw.application_train WHERE SK_ID_CURR = 100001") == [
        (0.123456789,)
    ]


# ---------------------------------------------------------------- the warehouse, the CLI


def test_locked_warehouse_fails_clearly(clean: Path, settings: Settings) -> None:
    settings.warehouse_path.parent.mkdir(parents=True)
    script = (
        f"import duckdb, sys; c = duckdb.connect({str(settings.warehouse_path)!r}); "
        "print('ok', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(IngestError, match="is in use by another process; retry later"):
            ingest(clean, settings)
    finally:
        holder.communicate("")
    assert not ingest(clean, settings).rejected_files


def test_folder_without_kaggle_files(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "other.csv").write_text("a\n1\n")
    with pytest.raises(IngestError, match="holds none of the Kaggle files"):
        ingest(tmp_path, settings)


def test_cli_exit_code_and_message_on_a_rejected_file(
    tmp_path: Path, clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_SCORING_HOME", str(tmp_path))
    bad = tmp_path / "bad"
    shutil.copytree(clean, bad)
    (bad / "bureau.csv").write_bytes(b"")
    result = CliRunner().invoke(app, ["ingest", str(bad)], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "bureau.csv: empty file (0 bytes)" in result.output
    assert "rolled back" in result.output
    result = CliRunner().invoke(app, ["ingest", str(clean)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "committed" in result.output


def test_a_report_written_to_a_log_keeps_whole_names_and_reasons(tmp_path: Path) -> None:
    """Piped to a file (cron, CI), the report is not squeezed to 80 columns: each file's line holds its whole
    name and its whole quarantine message."""
    rows = tiny_rows()
    rows["application_train"][0]["NAME_CONTRACT_TYPE"] = "Foo"
    folder = write_folder(tmp_path / "data", rows)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["CREDIT_SCORING_HOME"] = str(tmp_path / "home")
    cli = Path(sys.executable).parent / "credit-scoring"
    with (tmp_path / "night.log").open("w") as log:
        subprocess.run([str(cli), "ingest", str(folder)], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    lines = (tmp_path / "night.log").read_text().splitlines()
    [line] = [line for line in lines if "application_train.csv" in line]
    assert "value 'Foo' not in the allowed values of NAME_CONTRACT_TYPE" in line
    assert all(f"{t.file_name}" in "\n".join(lines) for t in tables().values() if t.file_name.endswith(".csv"))
