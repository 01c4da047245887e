"""Decisions a client can understand and a lender can defend, on the real pipeline's output: coded reasons,
points and bands, the decision changer (rescored through a real dbt rebuild), notices, fairness."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app as cli_app
from featurestore.build import build_features
from monitoring.fairness import FAIRNESS, TRAINING_SCOPE, check_fairness
from scoring.changer import RATIOS, SCALED, changed_application
from scoring.points import PointsScale
from scoring.registry import load_champion
from scoring.score import score
from tests.conftest import copy_home
from warehouse.features import FEATURES_TABLE, NON_FEATURE_COLUMNS
from warehouse.settings import Settings
from warehouse.vocabulary import catalogue, feature_codes, score_band

FORBIDDEN = re.compile(r"_|perc|e\+0|log-odds|\{|\}|\bnan\b|None", re.IGNORECASE)
NUMBER = re.compile(r"\d[\d,.]*")


def rows(path: Path, sql: str, params: object = None) -> list[tuple]:
    """Query a DuckDB file read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def frame(path: Path, sql: str, params: object = None) -> pd.DataFrame:
    """Query a DuckDB file read-only, as a DataFrame."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).df()


def test_every_feature_of_the_feature_store_has_exactly_one_reason_code(feature_warehouse: Settings) -> None:
    columns = [r[0] for r in rows(feature_warehouse.warehouse_path, f"DESCRIBE {FEATURES_TABLE}")]
    features = [c for c in columns if c not in NON_FEATURE_COLUMNS]
    codes = feature_codes(features)  # raises naming any feature no rule fits
    assert len(codes) == len(features) > 900
    assert set(codes.values()) <= set(catalogue())
    seeded = rows(feature_warehouse.warehouse_path, "SELECT count(*) FROM reference.reason_codes")
    assert seeded == [(len(catalogue()),)], "dbt loads the catalogue as a seed"


def test_refusals_carry_at_most_four_coded_formatted_reasons_strongest_first(served_warehouse: Settings) -> None:
    serving = served_warehouse.serving_path
    reasons = frame(
        serving,
        "SELECT r.*, l.decision FROM scores.reasons AS r JOIN scores.latest AS l USING (run_id, SK_ID_CURR) "
        "ORDER BY SK_ID_CURR, rank",
    )
    refused = reasons[reasons["decision"] == "refuse"]
    (refusals,) = rows(serving, "SELECT count(*) FROM scores.latest WHERE decision = 'refuse'")[0]
    assert refusals > 0 and refused["SK_ID_CURR"].nunique() == refusals
    assert set(reasons["code"]) <= set(catalogue())
    for text in [*reasons["sentence"], *reasons["manager_sentence"]]:
        assert not FORBIDDEN.search(text), text
        for number in NUMBER.findall(text):
            digits = number.rstrip(".,")
            assert re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d)?", digits), f"{digits!r} is not a formatted figure: {text}"
    per_client = refused.groupby("SK_ID_CURR")
    assert per_client.size().max() <= 4
    assert (refused["contribution"] > 0).all() and (refused["direction"] == "raises").all()
    for _, group in per_client:
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert list(group["contribution"]) == sorted(group["contribution"], reverse=True)
    accepted = reasons[reasons["decision"] == "accept"]
    assert not accepted.empty and (accepted["contribution"] < 0).all()
    # each contribution is the exact sum of the code's stored TreeSHAP contributions
    (mismatches,) = rows(
        serving,
        """SELECT count(*) FROM scores.reasons AS r JOIN (
               SELECT e.run_id, e.SK_ID_CURR, c.code, sum(e.contribution) AS total
               FROM scores.explanations AS e JOIN scores.feature_codes AS c USING (feature) GROUP BY ALL
           ) AS s USING (run_id, SK_ID_CURR, code) WHERE abs(s.total - r.contribution) > 1e-9""",
    )[0]
    assert mismatches == 0


def test_latest_shows_the_reasons_points_and_band(served_warehouse: Settings) -> None:
    latest = frame(served_warehouse.serving_path, "SELECT * FROM scores.latest")
    first = frame(
        served_warehouse.serving_path, "SELECT run_id, SK_ID_CURR, sentence FROM scores.reasons WHERE rank = 1"
    )
    merged = latest.merge(first, on=["run_id", "SK_ID_CURR"])
    assert len(merged) == latest["reason_1"].notna().sum() and (merged["reason_1"] == merged["sentence"]).all()
    scale = PointsScale.from_settings(served_warehouse)
    assert np.allclose(latest["points"], scale.of_probability(latest["probability"]), atol=1e-6)
    assert (latest["score_band"] == [score_band(p).label for p in latest["points"]]).all()
    threshold_points = float(scale.of_probability(latest["threshold"].iloc[0]))
    assert (latest.loc[latest["decision"] == "refuse", "points"] <= threshold_points + 1e-9).all()


def test_the_decision_changer_amount_is_accepted_when_rebuilt_by_dbt_and_one_step_more_is_refused(
    served_warehouse: Settings, tmp_path: Path
) -> None:
    """Changed applications go through the real feature store (raw table, dbt rebuild), then the model."""
    settings = copy_home(served_warehouse, tmp_path / "home")
    found = frame(
        settings.warehouse_path,
        "SELECT SK_ID_CURR, requested_credit, step, largest_accepted_credit FROM scores.credit_alternatives "
        "WHERE largest_accepted_credit IS NOT NULL ORDER BY SK_ID_CURR LIMIT 4",
    )
    if found.empty:
        pytest.skip("no refusal of the small pipeline can be turned by a smaller amount")
    model = load_champion(settings)
    clients = [int(c) for c in found["SK_ID_CURR"]]
    chosen = f"SELECT * FROM {FEATURES_TABLE} WHERE list_contains(?, SK_ID_CURR) ORDER BY SK_ID_CURR"
    before = frame(settings.warehouse_path, chosen, [clients])
    for extra_steps, accepted in ((0, True), (1, False)):
        amounts = found["largest_accepted_credit"] + extra_steps * found["step"]
        factors = dict(zip(found["SK_ID_CURR"], amounts / found["requested_credit"], strict=True))
        with duckdb.connect(str(settings.warehouse_path)) as con:
            for client, factor in factors.items():
                con.execute(
                    f"UPDATE raw.application_test SET {', '.join(f'{c} = {c} * $f' for c in SCALED)} "
                    "WHERE SK_ID_CURR = $id",
                    {"f": factor, "id": client},
                )
        build_features(settings, select="int_application__clients+", full_refresh=True)
        after = frame(settings.warehouse_path, chosen, [clients])
        probability = model.predict_proba(after)
        assert ((probability < model.threshold) == accepted).all(), (extra_steps, probability, model.threshold)
        # the changer's own recomputation agrees with the feature store on every column
        for client, factor in factors.items():
            original = before[before["SK_ID_CURR"] == client].iloc[0]
            rebuilt = after[after["SK_ID_CURR"] == client].iloc[0]
            expected = changed_application({k: np.array([original[k]]) for k in original.index}, np.array([factor]))
            for column in (c for c in before.columns if c not in NON_FEATURE_COLUMNS):
                want = expected[column][0] if column in expected else original[column]
                got = rebuilt[column]
                assert (pd.isna(want) and pd.isna(got)) or np.isclose(float(want), float(got), rtol=1e-9), column
            assert set(expected) == {*SCALED, *RATIOS}
        with duckdb.connect(str(settings.warehouse_path)) as con:  # back to the amounts asked for
            for client, factor in factors.items():
                con.execute(
                    f"UPDATE raw.application_test SET {', '.join(f'{c} = {c} / $f' for c in SCALED)} "
                    "WHERE SK_ID_CURR = $id",
                    {"f": factor, "id": client},
                )


def test_refusals_without_any_accepted_amount_say_so(served_warehouse: Settings) -> None:
    alternatives = frame(served_warehouse.serving_path, "SELECT * FROM scores.credit_alternatives")
    (refusals,) = rows(served_warehouse.serving_path, "SELECT count(*) FROM scores.latest WHERE decision = 'refuse'")[0]
    assert len(alternatives) == refusals
    none = alternatives[alternatives["largest_accepted_credit"].isna()]
    assert all(s.startswith("No credit from ") for s in none["sentence"])
    some = alternatives[alternatives["largest_accepted_credit"].notna()]
    assert (some["largest_accepted_credit"] < some["requested_credit"]).all()
    assert (some["largest_accepted_credit"] % some["step"] == 0).all()


def test_notices_of_the_refusals_hold_the_clients_reasons(served_warehouse: Settings, tmp_path: Path) -> None:
    settings = copy_home(served_warehouse, tmp_path / "home")
    result = CliRunner().invoke(cli_app, ["notices"], obj=settings)
    assert result.exit_code == 0, result.output
    pdfs = sorted(settings.notices_dir.glob("*/notice_*.pdf"))
    (refusals,) = rows(settings.serving_path, "SELECT count(*) FROM scores.latest WHERE decision = 'refuse'")[0]
    assert len(pdfs) == refusals and f"{refusals:,} refusal notices" in result.output
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: `apt-get install poppler-utils`")
    for pdf in pdfs[:5]:
        client = int(pdf.stem.split("_")[1])
        text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split())
        reasons = [
            r[0]
            for r in rows(
                settings.serving_path,
                "SELECT r.sentence FROM scores.reasons AS r JOIN scores.latest AS l USING (run_id, SK_ID_CURR) "
                "WHERE SK_ID_CURR = ? ORDER BY rank",
                [client],
            )
        ]
        assert reasons and all(reason in text for reason in reasons), (client, text)
        assert "Article 22" in text and str(client) in text


def test_fairness_is_stored_per_group_with_the_training_view(served_warehouse: Settings, tmp_path: Path) -> None:
    settings = copy_home(served_warehouse, tmp_path / "home")
    result = check_fairness(settings)
    table = frame(settings.warehouse_path, f"SELECT * FROM {FAIRNESS.qualified} WHERE check_id = ?", [result.check_id])
    assert set(table["scope"]) == {"all latest decisions", TRAINING_SCOPE}
    assert set(table["attribute"]) == {"gender", "age_band", "family_status"}
    assert {"woman", "man"} <= set(table.loc[table["attribute"] == "gender", "group"])
    latest = table[table["scope"] == "all latest decisions"]
    (scored,) = rows(settings.warehouse_path, "SELECT count(*) FROM scores.latest")[0]
    assert latest.groupby("attribute")["clients"].sum().eq(scored).all()
    assert latest["observed_default_rate_accepted"].isna().all()  # new clients: no outcome yet
    training = table[table["scope"] == TRAINING_SCOPE]
    assert training["observed_default_rate_accepted"].notna().all() and training["calibration"].notna().all()
    judged = table[table["four_fifths_rule"] != "too few clients"]
    assert ((judged["disparate_impact"] < 0.8) == (judged["four_fifths_rule"] == "fails")).all()


def test_protected_attributes_are_not_model_features(served_warehouse: Settings) -> None:
    model = load_champion(served_warehouse)
    assert "CODE_GENDER" not in model.features
    comparison = model.metadata["protected_comparison"]
    assert {"without", "with"} <= set(comparison) and {"auc", "cost_per_client", "approval_gap"} <= set(
        comparison["with"]
    )
    report = Path(str(rows(served_warehouse.serving_path, "SELECT report_path FROM scores.model_card")[0][0]))
    page = report.read_text()
    assert "Fairness" in page and "four-fifths" in page and "With and without the protected attributes" in page


def test_an_older_scores_layout_is_migrated(served_warehouse: Settings, tmp_path: Path) -> None:
    settings = copy_home(served_warehouse, tmp_path / "home")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("ALTER TABLE scores.latest DROP COLUMN points")
        con.execute("ALTER TABLE scores.latest ADD COLUMN raises_risk_1 VARCHAR")
        con.execute("CREATE TABLE scores.feature_labels (feature VARCHAR, label VARCHAR)")
    score(settings, mode="all")
    columns = [r[0] for r in rows(settings.serving_path, "DESCRIBE scores.latest")]
    assert "points" in columns and "raises_risk_1" not in columns
    assert rows(settings.serving_path, "SELECT count(*) FROM scores.latest WHERE points IS NULL") == [(0,)]
    assert not rows(settings.warehouse_path, "SELECT 1 FROM duckdb_tables() WHERE table_name = 'feature_labels'")
