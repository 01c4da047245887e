"""Shared fixtures: isolated settings and a small generated data set, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.settings import Settings

SMALL_CLIENTS = 3000
SMALL_SEED = 7


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose warehouse, inbox, reports and MLflow store live in a fresh temporary folder."""
    return Settings(home=tmp_path)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated data set in the Kaggle layout (read-only: copy it before changing files)."""
    from warehouse.generate import generate_dataset

    out = tmp_path_factory.mktemp("small_dataset")
    generate_dataset(out, SMALL_CLIENTS, seed=SMALL_SEED)
    return out
