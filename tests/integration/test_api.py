"""The read API on a real publication (FastAPI's TestClient): keys, what it answers, and its documentation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import add_key, load_keys, remove_key
from warehouse.settings import Settings

CLI = str(Path(sys.executable).parent / "credit-scoring")


@pytest.fixture
def api_home(served_warehouse: Settings, tmp_path: Path) -> Settings:
    """The served warehouse's publication (read only) with a keys file of this test's own."""
    return served_warehouse.replace(api_keys_file=tmp_path / "api_keys.toml")


def serving_rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a query on the serving database, read independently of the API."""
    with duckdb.connect(str(settings.serving_path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_only_a_valid_key_gets_an_answer_and_a_removed_key_stops_at_once(api_home: Settings) -> None:
    _, key = add_key(api_home, "crm")
    client = TestClient(create_app(api_home))
    assert client.get("/health").status_code == 200, "the health check needs no key"
    assert client.get("/model-card").status_code == 401
    assert client.get("/model-card", headers={"X-API-Key": key + "x"}).status_code == 401
    assert client.get("/model-card", headers={"X-API-Key": "nobody." + key.split(".")[1]}).status_code == 401
    assert client.get("/model-card", headers={"X-API-Key": key}).status_code == 200
    stored = load_keys(api_home.api_keys_file)["crm"].key_hash
    assert key not in api_home.api_keys_file.read_text() and stored.startswith("scrypt$")
    assert oct(api_home.api_keys_file.stat().st_mode & 0o777) == "0o600"
    remove_key(api_home, "crm")
    assert client.get("/model-card", headers={"X-API-Key": key}).status_code == 401


def test_a_clients_decision_history_notice_and_the_model_card(api_home: Settings) -> None:
    _, key = add_key(api_home, "branch")
    client = TestClient(create_app(api_home), headers={"X-API-Key": key})
    (refused, run_id, probability, points, band, version) = serving_rows(
        api_home,
        "SELECT SK_ID_CURR, run_id, probability, points, score_band, model_version FROM scores.latest "
        "WHERE decision = 'refuse' ORDER BY SK_ID_CURR LIMIT 1",
    )[0]
    answer = client.get(f"/clients/{refused}/decision")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["client_id"], body["run_id"], body["model_version"]) == (refused, run_id, version)
    assert (body["probability"], body["points"], body["score_band"]) == (probability, points, band)
    assert (body["decision"], body["final_decision"], body["overridden"], body["reviewed_by"]) == (
        "refuse",
        "refuse",
        False,
        None,
    )
    sentences = serving_rows(
        api_home,
        "SELECT sentence FROM scores.reasons WHERE run_id = ? AND SK_ID_CURR = ? ORDER BY rank",
        [run_id, refused],
    )
    assert [r["sentence"] for r in body["reasons"]] == [s for (s,) in sentences] and sentences
    assert all(r["direction"] == "raises" and r["title"] for r in body["reasons"])
    assert body["notice"]["text"].count(body["reasons"][0]["sentence"]) == 1
    pdf = client.get(body["notice"]["pdf"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content[:4] == b"%PDF"
    (last_run,) = serving_rows(api_home, "SELECT last_run_id FROM scores.publication")[0]
    assert body["publication"]["last_run_id"] == last_run

    (accepted,) = serving_rows(api_home, "SELECT min(SK_ID_CURR) FROM scores.latest WHERE decision = 'accept'")[0]
    assert client.get(f"/clients/{accepted}/decision").json()["notice"] is None
    assert client.get(f"/clients/{accepted}/notice.pdf").status_code == 404

    history = client.get(f"/clients/{refused}/history").json()
    assert [(s["run_id"], s["probability"]) for s in history["scores"]] == [(run_id, probability)]
    card = client.get("/model-card").json()
    assert card["model_version"] == version and card["in_use"] and 0.5 < card["metrics"]["auc"] <= 1
    assert client.get(f"/model-card/{version}").json()["data_hash"] == card["data_hash"]

    for path in ("/clients/1/decision", "/clients/1/history", "/model-card/999"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.json()["detail"], path
    assert client.get("/clients/abc/decision").status_code == 422


def test_no_publication_is_a_clear_503(settings: Settings) -> None:
    _, key = add_key(settings, "crm")
    client = TestClient(create_app(settings), headers={"X-API-Key": key})
    for path in ("/health", "/clients/100001/decision"):
        answer = client.get(path)
        assert answer.status_code == 503 and "no serving database has been published" in answer.json()["detail"]


def test_the_openapi_documentation_says_what_every_field_means(api_home: Settings) -> None:
    schema = TestClient(create_app(api_home)).get("/openapi.json").json()
    undocumented = [
        f"{name}.{field}"
        for name, model in schema["components"]["schemas"].items()
        if name not in ("HTTPValidationError", "ValidationError")
        for field, spec in model.get("properties", {}).items()
        if not spec.get("description") and "$ref" not in spec and "allOf" not in spec
    ]
    assert undocumented == []
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    probability = schema["components"]["schemas"]["CurrentDecision"]["properties"]["probability"]["description"]
    assert probability == "Predicted probability of default."


def test_keys_are_made_by_the_command_never_typed_on_it(settings: Settings) -> None:
    env = {**os.environ, "CREDIT_SCORING_HOME": str(settings.home)}
    typed = subprocess.run([CLI, "api-key", "add", "crm", "--key", "secret"], env=env, capture_output=True, text=True)
    assert typed.returncode == 2 and "No such option" in typed.stderr + typed.stdout
    made = subprocess.run([CLI, "api-key", "add", "crm"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("crm.") and len(key) > 40
    listed = subprocess.run([CLI, "api-key", "list"], env=env, capture_output=True, text=True).stdout
    assert "crm" in listed and key not in listed
    assert TestClient(create_app(settings)).get("/model-card", headers={"X-API-Key": key}).status_code == 503
