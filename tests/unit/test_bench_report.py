"""The benchmark table: which targets a row meets, and a table readable in a log file."""

from __future__ import annotations

import math

from benchmarks.report import HEADERS, Row, format_table, read_rows


def test_a_row_is_met_only_when_every_target_holds() -> None:
    fast = Row("ingest", seconds=30.0, peak_mb=4000, reference="read_csv", reference_seconds=25.0, max_ratio=1.4)
    assert fast.met and math.isclose(fast.ratio or 0, 1.2)
    assert Row("ingest", 40.0, 4000, "read_csv", 25.0, max_ratio=1.4).failures() == ["ratio"]
    assert Row("train", 700.0, 7000, max_seconds=600).failures() == ["time", "memory"]
    assert Row("train", 500.0, 3000, quality=("AUC ratio", 0.97, 0.98)).failures() == ["AUC ratio"]
    assert Row("drift", math.nan, 100, max_seconds=5).failures() == ["no measurement"]
    assert Row("ingest", 30.0, 100, max_ratio=1.4).failures() == ["ratio"]  # a ratio target needs its reference


def test_rows_survive_the_json_lines_file(tmp_path) -> None:
    rows = [
        Row("generate", 28.0, 900.5, "read_csv", 22.0, max_seconds=30, note="2.7 GB"),
        Row("train", 480.0, 3900, quality=("OOF/true-PD AUC", 0.991, 0.98)),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(row.to_json() + "\n" for row in rows))
    assert read_rows(path) == rows
    assert read_rows(tmp_path / "none.jsonl") == []


def test_the_table_keeps_every_cell_whole_and_aligned() -> None:
    long_step = "night of 2,000 applications: ingest + features + score + publish, on the full-scale warehouse"
    table = format_table([Row(long_step, 18.2, 2048, max_seconds=20), Row("drift", 6.5, 512, "night", 18.2, 5)])
    lines = table.splitlines()
    assert lines[0].split() == [word for header in HEADERS for word in header.split()]
    assert long_step in table and "NO (time)" in table and "yes" in table
    assert lines[1].replace(" ", "").strip("-") == ""  # the rule under the header
    assert len({line.index("  ", len(long_step)) for line in lines[2:]}) == 1  # the step column has one width
