"""Batch scoring and safe publication: tables and keys, exact SHAP, client selection, and the three
publication proofs (readers see whole runs only, a SIGKILL at any stage loses nothing, reruns are
idempotent)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from scoring import score_tables as st
from scoring.publish import publish
from scoring.registry import Model, load_champion
from scoring.score import ScoringError, score
from scoring.serving import ServingNotPublished, connect_serving
from warehouse.features import FEATURES_TABLE
from warehouse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def champion(champion_warehouse: Settings) -> Model:
    """The registered champion, loaded once through the registry."""
    return load_champion(champion_warehouse)


@pytest.fixture
def warehouse(champion_warehouse: Settings, tmp_path: Path) -> Settings:
    """A private copy of the champion warehouse (same registry), so each test may change it."""
    copy = _relocated(champion_warehouse, tmp_path)
    copy.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(champion_warehouse.warehouse_path, copy.warehouse_path)
    return copy


def rows(path: Path, sql: str, params: object = None) -> list[tuple]:
    """Query a DuckDB file read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_clear_error_without_champion(tmp_path: Path, champion_warehouse: Settings) -> None:
    untrained = Settings(home=tmp_path, mlflow_tracking_uri=champion_warehouse.tracking_uri, model_name="untrained")
    with pytest.raises(ScoringError, match="Run `credit-scoring train` first"):
        score(untrained)


def test_clear_error_when_features_are_missing(warehouse: Settings, champion: Model) -> None:
    broken = Model(
        champion.booster,
        [*champion.features[:-1], "NO_SUCH_FEATURE"],
        champion.threshold,
        champion.name,
        champion.version,
        champion.run_id,
    )
    with pytest.raises(ScoringError, match="lacks 1 feature.*NO_SUCH_FEATURE"):
        score(warehouse, model=broken)
    assert not warehouse.serving_path.exists()


def test_tables_keys_and_documentation(warehouse: Settings, champion: Model) -> None:
    summary = score(warehouse, model=champion, mode="all", chunk_rows=150)
    (test_clients,) = rows(warehouse.warehouse_path, f"SELECT count(*) FROM {FEATURES_TABLE} WHERE DATASET = 'test'")[0]
    assert summary.clients_scored == test_clients == summary.accepted + summary.refused
    serving = warehouse.serving_path
    n_features = len(champion.used_features())  # unused features contribute 0 and are not stored
    assert rows(serving, "SELECT status, clients_scored, accepted, refused FROM scores.runs") == [
        ("succeeded", test_clients, summary.accepted, summary.refused)
    ]
    assert rows(serving, "SELECT count(*), count(DISTINCT (run_id, SK_ID_CURR)) FROM scores.predictions") == [
        (test_clients, test_clients)
    ]
    assert rows(
        serving,
        "SELECT count(*), count(DISTINCT (run_id, SK_ID_CURR, feature)), count(DISTINCT feature) "
        "FROM scores.explanations",
    ) == [(test_clients * n_features,) * 2 + (n_features,)]
    assert rows(serving, "SELECT count(*), count(DISTINCT SK_ID_CURR) FROM scores.latest") == [(test_clients,) * 2]
    # decisions follow the threshold; ranks are a permutation ordered by |contribution|
    assert rows(
        serving,
        "SELECT count(*) FROM scores.predictions WHERE decision <> "
        "CASE WHEN probability >= threshold THEN 'refuse' ELSE 'accept' END",
    ) == [(0,)]
    assert rows(
        serving,
        f"""SELECT count(*) FROM (SELECT SK_ID_CURR, list(rank ORDER BY rank) AS ranks,
                                 list(abs(contribution) ORDER BY rank) AS sizes
                                 FROM scores.explanations GROUP BY 1)
                             WHERE ranks <> range(1, {n_features} + 1)
                                OR sizes <> list_sort(sizes, 'DESC')""",
    ) == [(0,)]
    # every decision has principal reasons whose direction matches the decision (tests/integration/test_decisions.py)
    assert rows(
        serving,
        "SELECT count(*) FROM scores.latest WHERE reason_1 IS NULL OR reason_codes IS NULL OR points IS NULL",
    ) == [(0,)]
    assert rows(
        serving,
        "SELECT count(*) FROM scores.reasons r JOIN scores.predictions p USING (run_id, SK_ID_CURR) "
        "WHERE (p.decision = 'refuse') <> (r.direction = 'raises')",
    ) == [(0,)]
    assert rows(serving, "SELECT min(rank), max(rank), count(*) FROM scores.global_importance") == [
        (1, n_features, n_features)
    ]
    quantiles = rows(
        serving,
        "SELECT feature, population, list(value ORDER BY quantile) FROM scores.feature_quantiles GROUP BY ALL",
    )
    assert {population for _, population, _ in quantiles} == {"all", "accepted", "refused"}
    assert all(values == sorted(values) for *_, values in quantiles if None not in values)
    # every published scores table and column is documented
    undocumented = rows(
        serving,
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'scores' "
        "AND (comment IS NULL OR comment = '')",
    )
    assert undocumented == []
    assert rows(
        serving,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'scores' AND (comment IS NULL OR comment = '')",
    ) == [(0,)]
    assert rows(serving, f"SELECT count(*) FROM {FEATURES_TABLE}") == rows(
        warehouse.warehouse_path, f"SELECT count(*) FROM {FEATURES_TABLE}"
    )
    # the model card comes from the registry: how and when the champion was trained, its OOF quality
    (card,) = rows(
        serving,
        "SELECT model_version, run_id, trained_at IS NOT NULL, train_rows, features, threshold, "
        "CAST(json_extract(metrics, '$.auc') AS DOUBLE), cost_false_negative, report_path FROM scores.model_card",
    )
    assert card[:3] == (champion.version, champion.run_id, True)
    assert card[3] > 0 and card[4] == len(champion.features) and card[5] == champion.threshold
    assert 0.5 < card[6] <= 1 and card[7] == warehouse.cost_false_negative
    assert card[8].endswith(f"training_report_{champion.run_id}.html")


def test_shap_contributions_add_up_to_the_raw_score(warehouse: Settings, champion: Model) -> None:
    score(warehouse, model=champion, mode="all")
    with connect_serving(warehouse) as con:
        table = con.execute("""
            SELECT p.SK_ID_CURR, p.probability, p.base_value, p.raw_score, sum(e.contribution) AS total
            FROM scores.predictions p JOIN scores.explanations e USING (run_id, SK_ID_CURR)
            GROUP BY ALL ORDER BY p.SK_ID_CURR""").fetchnumpy()
        columns = ", ".join(f'"{name}"' for name in champion.features)
        X = (
            con.execute(f"SELECT {columns} FROM {FEATURES_TABLE} WHERE DATASET = 'test' ORDER BY SK_ID_CURR")
            .df()
            .to_numpy(dtype=float)
        )
    expected_raw = champion.booster.predict(X, raw_score=True) - champion.log_odds_offset
    np.testing.assert_allclose(table["base_value"] + table["total"], expected_raw, atol=1e-9)
    np.testing.assert_allclose(table["raw_score"], expected_raw, atol=1e-9)
    np.testing.assert_allclose(table["probability"], 1 / (1 + np.exp(-expected_raw)), atol=1e-12)


def _change_clients(settings: Settings, feature: str, changed: int, added: int) -> set[int]:
    """Change a feature (and so the hash) of some scored clients and add new clients; returns their ids."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ids = [
            r[0]
            for r in con.execute(
                f"SELECT SK_ID_CURR FROM {FEATURES_TABLE} WHERE DATASET = 'test' "
                f"ORDER BY SK_ID_CURR LIMIT {changed + added}"
            ).fetchall()
        ]
        con.execute(
            f'UPDATE {FEATURES_TABLE} SET "{feature}" = coalesce("{feature}", 0) + 1, '
            "FEATURE_HASH = hash(FEATURE_HASH, 'changed') WHERE list_contains($ids, SK_ID_CURR)",
            {"ids": ids[:changed]},
        )
        con.execute(
            f"INSERT INTO {FEATURES_TABLE} SELECT * REPLACE (SK_ID_CURR + 10000000 AS SK_ID_CURR) "
            f"FROM {FEATURES_TABLE} WHERE list_contains($ids, SK_ID_CURR)",
            {"ids": ids[changed:]},
        )
    return set(ids[:changed]) | {i + 10_000_000 for i in ids[changed:]}


def test_new_scores_only_changed_new_or_unscored_clients(warehouse: Settings, champion: Model) -> None:
    first = score(warehouse, model=champion, mode="new")
    assert first.clients_scored > 0
    touched = _change_clients(warehouse, champion.features[0], changed=5, added=3)
    second = score(warehouse, model=champion, mode="new")
    scored = {
        r[0]
        for r in rows(
            warehouse.serving_path,
            "SELECT SK_ID_CURR FROM scores.predictions WHERE run_id = ?",
            [second.run_id],
        )
    }
    assert scored == touched
    assert rows(warehouse.serving_path, "SELECT count(*), count(DISTINCT SK_ID_CURR) FROM scores.latest") == [
        (first.clients_scored + 3,) * 2
    ]
    # a new model version has scored nobody: --new rescores everyone, as does --all
    challenger = Model(
        champion.booster,
        champion.features,
        champion.threshold,
        champion.name,
        champion.version + 1,
        champion.run_id,
    )
    assert score(warehouse, model=challenger, mode="new").clients_scored == first.clients_scored + 3
    assert score(warehouse, model=challenger, mode="new").clients_scored == 0
    assert score(warehouse, model=challenger, mode="all").clients_scored == first.clients_scored + 3


def test_each_run_leaves_the_catalogue_as_the_seeds_say(warehouse: Settings, champion: Model) -> None:
    """A run writes the catalogue only when it changed (rewriting it slowed the statistics), but then it does."""
    score(warehouse, model=champion, publish_results=False)
    catalogue_tables = (st.FEATURE_CODES, st.REASON_CODES)
    stored = [rows(warehouse.warehouse_path, f"FROM {t.qualified} ORDER BY ALL") for t in catalogue_tables]
    with duckdb.connect(str(warehouse.warehouse_path)) as con:
        con.execute(
            f"UPDATE {st.REASON_CODES.qualified} SET title = 'stale' WHERE code = (SELECT min(code) FROM "
            f"{st.REASON_CODES.qualified})"
        )
        con.execute(f"DELETE FROM {st.FEATURE_CODES.qualified} WHERE feature = ?", [champion.features[0]])
    assert score(warehouse, model=champion, publish_results=False).clients_scored == 0
    assert [rows(warehouse.warehouse_path, f"FROM {t.qualified} ORDER BY ALL") for t in catalogue_tables] == stored


def test_explanations_past_retention_are_pruned_unless_they_explain_a_latest_score(
    warehouse: Settings, champion: Model
) -> None:
    first = score(warehouse, model=champion, mode="new", publish_results=False)
    with duckdb.connect(str(warehouse.warehouse_path)) as con:  # the first run is now 100 days old
        con.execute("UPDATE scores.runs SET started_at = started_at - INTERVAL 100 DAY WHERE run_id = 1")
    touched = _change_clients(warehouse, champion.features[0], changed=5, added=0)
    score(warehouse, model=champion, mode="new", publish_results=False)
    explained = rows(
        warehouse.warehouse_path,
        "SELECT run_id, count(DISTINCT SK_ID_CURR), count(*) FILTER (WHERE list_contains(?, SK_ID_CURR)) "
        "FROM scores.explanations GROUP BY run_id ORDER BY run_id",
        [sorted(touched)],
    )
    # the rescored clients' old explanations are gone; everyone else's are still their latest ones
    assert explained[0][:2] == (first.run_id, first.clients_scored - 5) and explained[0][2] == 0
    assert explained[1][1] == 5
    assert rows(warehouse.warehouse_path, "SELECT count(*) FROM scores.predictions") == [(first.clients_scored + 5,)]


def test_a_publication_updates_big_tables_in_place_and_equals_a_rebuild(
    warehouse: Settings, champion: Model, tmp_path: Path
) -> None:
    score(warehouse, model=champion, publish_results=False)
    assert publish(warehouse).updated == ()  # no serving file yet: built whole
    _change_clients(warehouse, champion.features[0], changed=5, added=3)
    score(warehouse, model=champion, mode="new", publish_results=False)
    night = publish(warehouse)
    assert {FEATURES_TABLE, "features.client_profile", "scores.explanations"} <= set(night.updated)
    rebuilt = publish(warehouse.replace(serving_path=tmp_path / "rebuilt.duckdb"), rebuild=True)
    assert rebuilt.updated == () and rebuilt.rows == night.rows
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{night.path}' AS night (READ_ONLY)")
        con.execute(f"ATTACH '{rebuilt.path}' AS rebuilt (READ_ONLY)")
        catalog = "SELECT {} FROM duckdb_{} WHERE database_name = '{}'"
        for what, columns in (
            ("tables", "schema_name, table_name, comment"),
            ("columns", "schema_name, table_name, column_name, data_type, comment"),
        ):
            assert (
                con.execute(
                    f"{catalog.format(columns, what, 'night')} EXCEPT {catalog.format(columns, what, 'rebuilt')}"
                ).fetchall()
                == []
            )
        for table in night.rows:
            for a, b in (("night", "rebuilt"), ("rebuilt", "night")):
                extra = con.execute(f"SELECT count(*) FROM (FROM {a}.{table} EXCEPT ALL FROM {b}.{table})").fetchone()
                assert extra == (0,), (table, a, b)


def test_same_night_twice_gives_no_duplicates_and_same_numbers(warehouse: Settings, champion: Model) -> None:
    latest = "SELECT * EXCLUDE (run_id, scored_at) FROM scores.latest ORDER BY SK_ID_CURR"
    first = score(warehouse, model=champion)
    before = rows(warehouse.serving_path, latest)
    again = score(warehouse, model=champion)
    assert again.clients_scored == 0
    assert rows(warehouse.serving_path, latest) == before
    rescored = score(warehouse, model=champion, mode="all")
    assert rescored.clients_scored == first.clients_scored
    assert rows(warehouse.serving_path, latest) == before
    assert rows(
        warehouse.serving_path,
        "SELECT count(*) FROM scores.predictions p1 JOIN scores.predictions p2 "
        "USING (SK_ID_CURR) WHERE p1.run_id = ? AND p2.run_id = ? "
        "AND p1.probability = p2.probability AND p1.raw_score = p2.raw_score",
        [first.run_id, rescored.run_id],
    ) == [(first.clients_scored,)]
    assert rows(
        warehouse.serving_path,
        "SELECT count(*) = count(DISTINCT (run_id, SK_ID_CURR)) FROM scores.predictions",
    ) == [(True,)]


# --- the publication proofs run the scorer or a reader in separate processes ---------------------------

SCORER = textwrap.dedent("""
    # Imports once, then forks one scorer per stage (before any thread exists); each child SIGKILLs itself
    # when the run reaches its stage. Prints how each child ended.
    import json, os, signal, sys
    import lightgbm as lgb
    from scoring.registry import Model
    from scoring.score import score
    from warehouse.settings import Settings

    spec = json.loads(sys.argv[1])
    ended = {}
    for stage, home in spec["kill_at"].items():
        pid = os.fork()
        if pid == 0:
            def checkpoint(name):
                if name == stage:
                    os.kill(os.getpid(), signal.SIGKILL)
            booster = lgb.Booster(model_file=spec["model_file"])
            model = Model(booster, spec["features"], spec["threshold"], spec["name"], spec["version"],
                          spec["run_id"])
            settings = Settings(home=home, mlflow_tracking_uri=spec["tracking_uri"])
            score(settings, mode="all", model=model, checkpoint=checkpoint, chunk_rows=spec["chunk_rows"])
            os._exit(0)
        ended[stage] = os.waitpid(pid, 0)[1]
    print(json.dumps({stage: os.WIFSIGNALED(code) and os.WTERMSIG(code) for stage, code in ended.items()}))
""")

READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from scoring.serving import connect_serving
    from warehouse.settings import Settings

    settings, stop, ready = Settings(home=sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    n_features, seen, queries, errors, violations = int(sys.argv[4]), set(), 0, [], []
    ready.touch()
    while not stop.exists():
        try:
            with connect_serving(settings) as con:
                published = con.execute("SELECT published_at, last_run_id FROM scores.publication"
                                        ).fetchall()[0]
                runs = con.execute(\"\"\"
                    SELECT p.run_id, count(*), any_value(r.status), any_value(r.clients_scored)
                    FROM scores.predictions p LEFT JOIN scores.runs r USING (run_id)
                    GROUP BY p.run_id\"\"\").fetchall()
                latest, explained = con.execute(
                    "SELECT (SELECT count(*) FROM scores.latest), (SELECT count(*) FROM scores.explanations)"
                ).fetchall()[0]
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
            continue
        queries += 1
        seen.add(str(published))
        violations += [run for run in runs if run[2] != "succeeded" or run[1] != run[3]]
        if explained != latest * n_features or published[1] != max(run[0] for run in runs):
            violations.append(("explanations/publication", latest, explained, published))
    print(json.dumps({"queries": queries, "publications": len(seen), "errors": errors[:5],
                      "violations": [list(map(str, v)) for v in violations[:5]]}))
""")


def _scorer_spec(model: Model, tmp_path: Path, kill_at: dict[str, str], tracking_uri: str) -> str:
    """The scorer subprocess's arguments: a saved copy of the model and where to kill which run."""
    model_file = tmp_path / "model.txt"
    model.booster.save_model(str(model_file))
    return json.dumps(
        {
            "model_file": str(model_file),
            "features": model.features,
            "threshold": model.threshold,
            "name": model.name,
            "version": model.version,
            "run_id": model.run_id,
            "tracking_uri": tracking_uri,
            "kill_at": kill_at,
            "chunk_rows": 100,
        }
    )


def _python(*args: str) -> list[str]:
    """A command running Python with the project importable."""
    return [sys.executable, "-c", *args]


def _snapshot(settings: Settings) -> list[tuple]:
    """Everything a reader can see of the published scores."""
    with connect_serving(settings) as con:
        return [con.execute(f"SELECT * FROM {table.qualified} ORDER BY ALL").fetchall() for table in st.TABLES]


def _start_reader(settings: Settings, champion: Model, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """The READER in its own process, once it queries; and the file that stops it."""
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    reader = subprocess.Popen(
        _python(READER, str(settings.home), str(stop), str(ready), str(len(champion.used_features()))),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return reader, stop


def _reader_report(reader: subprocess.Popen[str], stop: Path) -> dict:
    """Stop the READER; what it saw, which must hold no error and no half run."""
    stop.touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    report = json.loads(out)
    assert report["errors"] == [] and report["violations"] == [], report
    assert report["queries"] >= 10 and report["publications"] >= 2, report
    return report


@pytest.mark.timeout(300)
def test_readers_only_ever_see_whole_runs(warehouse: Settings, champion: Model, tmp_path: Path) -> None:
    score(warehouse, model=champion, mode="all")
    reader, stop = _start_reader(warehouse, champion, tmp_path)
    try:
        for _ in range(3):  # the scorer writes and publishes while the reader keeps querying the serving file
            score(warehouse, model=champion, mode="all", chunk_rows=100)
    finally:
        _reader_report(reader, stop)


PUBLISHER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from scoring.publish import publish
    from warehouse.settings import Settings

    settings, start = Settings(home=sys.argv[1], mlflow_tracking_uri=sys.argv[2]), Path(sys.argv[3])
    while not start.exists():
        pass
    print(sum(bool(publish(settings).rows) for _ in range(int(sys.argv[4]))))
""")


@pytest.mark.timeout(300)
def test_two_publishers_at_once_are_serialised_and_readers_see_whole_runs(
    warehouse: Settings, champion: Model, tmp_path: Path
) -> None:
    """Two real processes publish at the same moment, three times each, while a reader keeps querying."""
    score(warehouse, model=champion, mode="all")
    start = tmp_path / "start"
    reader, stop = _start_reader(warehouse, champion, tmp_path)
    args = (str(warehouse.home), warehouse.tracking_uri, str(start), "3")
    publishers = [
        subprocess.Popen(_python(PUBLISHER, *args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        start.touch()
        ended = [publisher.communicate(timeout=240) for publisher in publishers]
    finally:
        _reader_report(reader, stop)
    assert [p.returncode for p in publishers] == [0, 0], [e for _, e in ended]
    assert [o.strip() for o, _ in ended] == ["3", "3"], "every publication of both processes completed"
    assert not list(warehouse.serving_path.parent.glob("*.tmp*")), "no staging file is left behind"


@pytest.mark.timeout(420)
def test_a_killed_scorer_loses_nothing_and_the_next_run_completes(
    warehouse: Settings, champion: Model, tmp_path: Path
) -> None:
    published = score(warehouse, model=champion, mode="all")
    before = _snapshot(warehouse)
    stages = [
        "run_started",
        "chunk_written",
        "before_commit",
        "committed",
        "publish_copying",
        "publish_before_replace",
    ]
    homes = {stage: str(_home_copy(warehouse, tmp_path / stage).home) for stage in stages}
    killer = subprocess.run(
        _python(SCORER, _scorer_spec(champion, tmp_path, homes, warehouse.tracking_uri)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert killer.returncode == 0, killer.stderr
    assert json.loads(killer.stdout) == {stage: signal.SIGKILL for stage in stages}, killer.stderr
    for stage in stages:
        copy = _relocated(warehouse, tmp_path / stage)
        assert _snapshot(copy) == before, stage  # the last publication is intact
        committed = stage in ("committed", "publish_copying", "publish_before_replace")
        status = rows(copy.warehouse_path, "SELECT status FROM scores.runs WHERE run_id = ?", [published.run_id + 1])
        assert status == [("succeeded" if committed else "running",)], stage
        if not committed:  # a killed run left no rows
            assert rows(
                copy.warehouse_path,
                "SELECT count(*) FROM scores.predictions WHERE run_id = ?",
                [published.run_id + 1],
            ) == [(0,)], stage
        after = score(copy, model=champion, mode="all")
        assert after.clients_scored == published.clients_scored
        assert rows(copy.serving_path, "SELECT run_id, status FROM scores.runs ORDER BY run_id") == [
            (published.run_id, "succeeded"),
            (published.run_id + 1, "succeeded" if committed else "failed"),
            (after.run_id, "succeeded"),
        ], stage
        assert not list(copy.serving_path.parent.glob("*.tmp*")), "the killed publication's staging file is gone"


def _home_copy(settings: Settings, home: Path) -> Settings:
    """Copy a warehouse and its serving database to a new home (same registry)."""
    copy = _relocated(settings, home)
    copy.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(settings.warehouse_path, copy.warehouse_path)
    shutil.copy(settings.serving_path, copy.serving_path)
    return copy


def _relocated(settings: Settings, home: Path) -> Settings:
    """Settings like `settings` (same registry) whose warehouse and serving files live in `home`."""
    return settings.replace(
        home=home,
        warehouse_path=Path("warehouse/warehouse.duckdb"),
        serving_path=Path("warehouse/serving.duckdb"),
        mlflow_tracking_uri=settings.tracking_uri,
    )


def test_connect_serving_is_read_only_and_explains_a_missing_file(warehouse: Settings, champion: Model) -> None:
    with pytest.raises(ServingNotPublished, match="credit-scoring score"), connect_serving(warehouse):
        pass
    score(warehouse, model=champion, publish_results=False)
    publish(warehouse)
    with connect_serving(warehouse) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM scores.latest")
    # a writer can hold the working warehouse while readers use the serving file
    with duckdb.connect(str(warehouse.warehouse_path)), connect_serving(warehouse) as con:
        assert con.execute("SELECT count(*) FROM scores.latest").fetchall()[0][0] > 0
