"""`explain`: stored decisions recomputed from the warehouse and the registry, across two nights and a model change."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from generator.dataset import generate_batch
from scheduler.history import SUCCEEDED
from scheduler.nightly import run_nightly
from scoring.explain import ExplainError, explain
from scoring.train import train
from tests.conftest import copy_home
from warehouse.settings import Settings

NIGHTS = (date(2026, 4, 1), date(2026, 4, 2))
CLI = str(Path(sys.executable).parent / "credit-scoring")


def sample(settings: Settings, run_id: int, per_decision: int = 4) -> list[int]:
    """Some accepted and some refused clients of a run, the same ones every time."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT SK_ID_CURR FROM scores.predictions WHERE run_id = ? "
            "QUALIFY row_number() OVER (PARTITION BY decision ORDER BY hash(SK_ID_CURR)) <= ?",
            [run_id, per_decision],
        ).fetchall()
    return [row[0] for row in rows]


def test_decisions_across_two_nights_and_a_model_change_are_reproduced_exactly(
    champion_warehouse: Settings, tmp_path: Path
) -> None:
    cfg = copy_home(champion_warehouse, tmp_path / "home")
    runs = []
    for n, night in enumerate(NIGHTS):
        generate_batch(cfg.inbox_dir / night.isoformat(), night, 300, seed=60 + n, drift=False)
        if n == 1:  # a new champion between the nights: another cost of a missed defaulter, another threshold
            train(cfg.replace(cost_false_negative=7.0), search_iterations=0, promote=True)
        job = run_nightly(cfg, night)
        assert job.status == SUCCEEDED, job.error
        with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
            runs.append(con.execute("SELECT run_id, model_version FROM scores.runs ORDER BY run_id DESC").fetchone())
    (first_run, first_version), (second_run, second_version) = runs
    assert first_version != second_version, "the second night scored with the new champion"

    checked = 0
    for run_id in (first_run, second_run):
        for client in sample(cfg, run_id):
            result = explain(cfg, client, run_id)
            assert result.reproduced, [c for c in result.checks if not c.same]
            assert result.model_version == (first_version if run_id == first_run else second_version)
            assert {c.name for c in result.checks} >= {"model", "feature hash", "probability", "principal reasons"}
            checked += 1
    assert checked == 16

    client = sample(cfg, first_run, 1)[0]
    env = {**os.environ, "CREDIT_SCORING_HOME": str(cfg.home)}
    latest = subprocess.run([CLI, "explain", str(client)], env=env, capture_output=True, text=True)
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert f"run {second_run}" in latest.stdout and "Decision reproduced exactly" in latest.stdout
    older = subprocess.run(
        [CLI, "explain", str(client), "--run", str(first_run)], env=env, capture_output=True, text=True
    )
    assert older.returncode == 0 and f"model version {first_version}" in older.stdout, older.stdout

    with duckdb.connect(str(cfg.warehouse_path)) as con:  # a stored probability that is not what the model gives
        con.execute(
            "UPDATE scores.predictions SET probability = probability * (1 + 1e-12) WHERE run_id = ? AND SK_ID_CURR = ?",
            [first_run, client],
        )
    tampered = subprocess.run(
        [CLI, "explain", str(client), "--run", str(first_run)], env=env, capture_output=True, text=True
    )
    assert tampered.returncode == 1 and "NOT reproduced" in tampered.stdout and "probability" in tampered.stdout
    with pytest.raises(ExplainError, match="no stored score in run 999"):
        explain(cfg, client, 999)
