"""Shared fixtures: isolated settings and the real pipeline on a small generated data set, built once per session.

The chain is generate -> ingest -> dbt build -> train -> score + publish; each stage is a session fixture
whose warehouse later stages (and tests that change things) copy before writing.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from filelock import FileLock

from featurestore.build import BuildResult
from warehouse.settings import Settings

TESTS = Path(__file__).parent
TIERS = ("unit", "integration", "e2e")

SMALL_CLIENTS = 3000
SMALL_SEED = 7
TEST_FOLDS = 2
"""Cross-validation folds for the shared champion: enough to exercise the machinery, cheap on 2 cores."""

T = TypeVar("T")


def in_xdist_worker() -> bool:
    """Whether this process is one of pytest-xdist's workers (`make test`), not a plain `pytest`."""
    return "PYTEST_XDIST_WORKER" in os.environ


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """`build(folder)` run once per test run, even when pytest-xdist runs the suite in several worker processes.

    Alone, it builds in a temporary folder of its own. Under xdist, the first worker to need it builds it in the
    run's folder shared by the workers, holding a file lock; the others wait for the lock and read the pickled
    result (the xdist documentation's pattern for session fixtures)."""
    if not in_xdist_worker():
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent
    result = shared / f"{name}.pickle"
    with FileLock(shared / f"{name}.lock"):
        if result.exists():
            value: T = pickle.loads(result.read_bytes())
            return value
        folder = shared / name
        folder.mkdir()
        value = build(folder)
        result.write_bytes(pickle.dumps(value))
        return value


def own_copy(settings: Settings, tmp_path_factory: pytest.TempPathFactory, name: str) -> Settings:
    """Under xdist, this worker's own copy of a home `built_once`: a test may open its DuckDB files read-write,
    which DuckDB refuses while another process has them open. Alone, the home itself, as before."""
    if not in_xdist_worker():
        return settings
    return copy_home(settings, tmp_path_factory.mktemp(name))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose warehouse, inbox, reports and MLflow store live in a fresh temporary folder."""
    return Settings(home=tmp_path)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated data set in the Kaggle layout (read-only: copy it before changing files)."""
    from generator.dataset import generate_dataset

    def build(out: Path) -> Path:
        generate_dataset(out, SMALL_CLIENTS, seed=SMALL_SEED)
        return out

    return built_once(tmp_path_factory, "small_dataset", build)


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
def built_features(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BuildResult]:
    """The small data set ingested and its feature store built by `dbt build`, once per run (see `built_once`)."""
    from featurestore.build import build_features
    from ingest.load import ingest_folder

    def build(home: Path) -> tuple[Settings, BuildResult]:
        settings = Settings(home=home, cv_folds=TEST_FOLDS)
        assert ingest_folder(small_dataset, settings, progress=False).committed
        return settings, build_features(settings)

    return built_once(tmp_path_factory, "feature_warehouse", build)


@pytest.fixture(scope="session")
def feature_build(
    built_features: tuple[Settings, BuildResult], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, BuildResult]:
    """A warehouse holding the small data set's raw tables and its feature store, with what `dbt build` ran."""
    settings, result = built_features
    return own_copy(settings, tmp_path_factory, "feature_warehouse"), result


@pytest.fixture(scope="session")
def feature_warehouse(feature_build: tuple[Settings, BuildResult]) -> Settings:
    """Settings whose warehouse holds the small data set's raw tables and its dbt-built feature store."""
    return feature_build[0]


@pytest.fixture(scope="session")
def built_champion(built_features: tuple[Settings, BuildResult], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the feature warehouse with a model trained, once per run (see `built_once`)."""
    from scoring.train import train

    def build(home: Path) -> Settings:
        settings = copy_home(built_features[0], home)
        train(settings, search_iterations=0)
        return settings

    return built_once(tmp_path_factory, "champion_warehouse", build)


@pytest.fixture(scope="session")
def champion_warehouse(built_champion: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the feature warehouse with a model trained, registered in MLflow and aliased champion."""
    return own_copy(built_champion, tmp_path_factory, "champion_warehouse")


@pytest.fixture(scope="session")
def built_served(built_champion: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the champion warehouse with its test clients scored and published, once per run."""
    from scoring.score import score

    def build(home: Path) -> Settings:
        settings = copy_home(built_champion, home)
        score(settings, mode="all")
        return settings

    return built_once(tmp_path_factory, "served_warehouse", build)


@pytest.fixture(scope="session")
def served_warehouse(built_served: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the champion warehouse whose test clients are scored, explained and published for readers."""
    return own_copy(built_served, tmp_path_factory, "served_warehouse")


LONGEST_FIRST = (
    "integration/test_spark.py",
    "integration/test_nightly.py",
    "integration/test_lifecycle.py",
    "integration/test_explain.py",
    "integration/test_features.py",
    "integration/test_readers_during_night.py",
    "integration/test_score.py",
    "integration/test_spark_score.py",
    "e2e/test_readme.py",
    "e2e/test_dashboard_browser.py",
)
"""The modules that take longest (their module fixtures run whole nights, Spark builds, a browser), measured with
`--durations`. Under `make test`'s worker processes they are handed out first, so that the run does not end with
one worker busy on a long module while the other idles."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the folder it lives in: tests/unit, tests/integration or tests/e2e.

    In xdist's worker processes the longest modules come first (`make test` hands out whole modules, `--dist
    loadfile`, so that each module's fixtures are built once, in the worker that runs the module)."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))
    if in_xdist_worker():
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank)))
