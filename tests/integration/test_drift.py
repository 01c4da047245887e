"""Drift of the real test set against training, on the real pipeline's warehouse."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monitoring.drift import champion_scores, check_test_set
from scoring.registry import load_champion
from tests.conftest import copy_home
from warehouse.database import open_warehouse
from warehouse.settings import Settings


def test_test_set_against_train(champion_warehouse: Settings, tmp_path) -> None:
    """The generated test set comes from the training population: no alert; the report's size is bounded."""
    cfg = champion_warehouse.replace(reports_dir=tmp_path / "reports", drift_sample_rows=1000)
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(champion_warehouse.warehouse_path.read_bytes())
    cfg = cfg.replace(warehouse_path=warehouse)
    result = check_test_set(cfg, run_id=1)
    assert result.alerts == [], result.summary()
    assert result.reference_rows == 1000 and 0 < result.current_rows <= 1000
    assert len(result.features) == cfg.drift_top_features
    assert result.report_path.stat().st_size < 20e6


def test_drift_after_scoring_reuses_published_scores_and_computes_the_rest(
    served_warehouse: Settings, tmp_path: Path
) -> None:
    """Once the test set is scored (as in the demo), its published probabilities are reused and the training
    clients' are computed into the same array."""
    cfg = copy_home(served_warehouse, tmp_path / "home").replace(drift_sample_rows=1000)
    with open_warehouse(cfg.warehouse_path) as con:
        ids = [r[0] for r in con.execute("SELECT SK_ID_CURR FROM features.client_features ORDER BY 1").fetchall()]
        scores = champion_scores(con, load_champion(cfg), np.array(ids))
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    result = check_test_set(cfg, run_id=1)
    assert np.isfinite(result.score_psi)
