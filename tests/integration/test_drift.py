"""Drift of the real test set against training, on the real pipeline's warehouse."""

from __future__ import annotations

from monitoring.drift import check_test_set
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
