"""Shared fixtures: isolated settings and the real pipeline on a small generated data set, built once per session.

The chain is generate -> ingest -> dbt build -> train -> score + publish; each stage is a session fixture
whose warehouse later stages (and tests that change things) copy before writing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from featurestore.build import BuildResult
from warehouse.settings import Settings

TESTS = Path(__file__).parent
TIERS = ("unit", "integration", "e2e")

SMALL_CLIENTS = 3000
SMALL_SEED = 7
TEST_FOLDS = 2
"""Cross-validation folds for the shared champion: enough to exercise the machinery, cheap on 2 cores."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose warehouse, inbox, reports and MLflow store live in a fresh temporary folder."""
    return Settings(home=tmp_path)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated data set in the Kaggle layout (read-only: copy it before changing files)."""
    from generator.dataset import generate_dataset

    out = tmp_path_factory.mktemp("small_dataset")
    generate_dataset(out, SMALL_CLIENTS, seed=SMALL_SEED)
    return out


def copy_home(settings: Settings, home: Path) -> Settings:
    """A copy of a fixture's whole data folder (warehouse, MLflow store, reports) at `home`, with its settings."""
    shutil.copytree(settings.home, home, dirs_exist_ok=True)
    return settings.replace(
        home=home,
        **{
            name: home / getattr(settings, name).relative_to(settings.home)
            for name in (
                "warehouse_path",
                "serving_path",
                "data_dir",
                "inbox_dir",
                "reports_dir",
                "mlflow_dir",
                "processed_dir",
                "rejected_dir",
                "log_dir",
                "scheduler_state_path",
                "dashboard_users_file",
                "reviews_path",
                "api_keys_file",
                "spark_dir",
            )
        },
    )


@pytest.fixture(scope="session")
def feature_build(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BuildResult]:
    """A warehouse holding the small data set's raw tables and its feature store, with what `dbt build` ran."""
    from featurestore.build import build_features
    from ingest.load import ingest_folder

    settings = Settings(home=tmp_path_factory.mktemp("feature_warehouse"), cv_folds=TEST_FOLDS)
    assert ingest_folder(small_dataset, settings, progress=False).committed
    return settings, build_features(settings)


@pytest.fixture(scope="session")
def feature_warehouse(feature_build: tuple[Settings, BuildResult]) -> Settings:
    """Settings whose warehouse holds the small data set's raw tables and its dbt-built feature store."""
    return feature_build[0]


@pytest.fixture(scope="session")
def champion_warehouse(feature_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the feature warehouse with a model trained, registered in MLflow and aliased champion."""
    from scoring.train import train

    settings = copy_home(feature_warehouse, tmp_path_factory.mktemp("champion_warehouse"))
    train(settings, search_iterations=0)
    return settings


@pytest.fixture(scope="session")
def served_warehouse(champion_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the champion warehouse whose test clients are scored, explained and published for readers."""
    from scoring.score import score

    settings = copy_home(champion_warehouse, tmp_path_factory.mktemp("served_warehouse"))
    score(settings, mode="all")
    return settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the folder it lives in: tests/unit, tests/integration or tests/e2e."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))
