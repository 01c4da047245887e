"""The MLflow store and model registry: where runs go, how a model version is described, the champion.

Each registered version carries, in its MLmodel metadata, the feature list in order, the decision
threshold, the cost weights, the training-data hash, the candidate's recipe and its out-of-fold
metrics; the scalar ones are also model-version tags, readable in the MLflow UI.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from scoring.models import corrected_probability
from warehouse.database import private_dir
from warehouse.settings import Settings

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
"""A version scored every night in shadow, beside the champion, on the same clients; it never decides."""
IMPORTANCE_KEY = "shap_importance"
"""Metadata entry: mean |SHAP| over a seeded sample of training clients of the IMPORTANCE_FEATURES most
important features (training's ranking; drift monitoring watches the top ones)."""
IMPORTANCE_FEATURES = 100
"""How many features' importance a version carries (all 940 would slow every load of the model's YAML)."""
EXPERIMENT_NAME = "credit-scoring-training"
TAG_KEYS = (
    "threshold",
    "cost_false_negative",
    "cost_false_positive",
    "data_hash",
    "cv_folds",
    "cv_seed",
    "oof_auc",
    "oof_cost_per_client",
    "candidate",
    "n_features",
    "training_rows",
    "log_odds_offset",
)
"""Metadata entries that are also set as model-version tags."""
BOOSTER_CLASS = "lightgbm.basic.Booster"


class NoModelError(LookupError):
    """No version of the model holds the alias asked for."""


class NoChampionError(NoModelError):
    """No version of the model holds the champion alias yet."""


class NoChallengerError(NoModelError):
    """No version of the model holds the challenger alias."""


@dataclass(frozen=True)
class Model:
    """A model version ready to score: booster, features in order, threshold, provenance."""

    booster: lgb.Booster
    features: list[str]
    threshold: float
    name: str
    version: int
    run_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    """What the version was registered with (features, threshold, recipe, OOF metrics...); empty if never
    registered."""
    registered_at: datetime | None = None
    """When the version was registered (UTC)."""
    log_odds_offset: float = 0.0
    """Subtracted from the booster's raw score so probabilities are at the real default rate (0: no
    class weights or undersampling)."""

    @property
    def data_hash(self) -> str:
        """Hash of the training data the version was fitted on."""
        return str(self.metadata["data_hash"])

    def probability(self, X: np.ndarray) -> np.ndarray:
        """Probability of default of each row of a feature matrix (model order), at the real default rate."""
        return corrected_probability(self.booster, X, self.log_odds_offset)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of default for each row of a frame holding (at least) the model's features."""
        return self.probability(self.matrix(frame))

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's features of `frame`, in model order, as a float matrix (NaN for missing)."""
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ValueError(f"Model version {self.version} needs the feature columns {missing[:10]}.")
        return frame[self.features].to_numpy(dtype=np.float64, na_value=np.nan)

    def used_features(self) -> np.ndarray:
        """Indices of the features the trees split on; the others contribute exactly 0 to every score."""
        return np.flatnonzero(self.booster.feature_importance(importance_type="split") > 0)

    def card(self, settings: Settings) -> dict[str, Any]:
        """Its row of scores.model_card: how the version was made, from its registry metadata."""
        meta = self.metadata
        recipe = meta.get("recipe", {})
        metrics = meta.get("oof_metrics") or {
            key: meta[f"oof_{key}"] for key in ("auc", "cost_per_client") if f"oof_{key}" in meta
        }
        return {
            "model_name": self.name,
            "model_version": self.version,
            "run_id": self.run_id,
            "trained_at": self.registered_at,
            "train_rows": meta.get("training_rows"),
            "features": len(self.features),
            "candidate": meta.get("candidate"),
            "imbalance": recipe.get("imbalance"),
            "metrics": json.dumps(metrics, sort_keys=True) if metrics else None,
            "threshold": self.threshold,
            "cost_false_negative": meta.get("cost_false_negative"),
            "cost_false_positive": meta.get("cost_false_positive"),
            "data_hash": meta.get("data_hash"),
            "report_path": str(report_path(settings, self.run_id)) if meta else None,
        }


def report_path(settings: Settings, run_id: str) -> Path:
    """Where the methodology report of a training run is written (beside the registry's record of it)."""
    return settings.reports_dir / f"training_report_{run_id}.html"


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow (tracking and registry) at the configured store and return a client."""
    if settings.tracking_uri.startswith("sqlite:"):
        private_dir(settings.mlflow_dir)  # owner-only: nobody else may read applicants' data or swap a model
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return _client(settings.tracking_uri)


@functools.lru_cache(maxsize=8)
def _client(uri: str) -> MlflowClient:
    """One client per store and process: opening one checks the store's schema, about 1 s each time."""
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(settings: Settings, client: MlflowClient) -> str:
    """The training experiment, created with its artifacts under mlflow_dir/artifacts (not ./mlruns)."""
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is not None:
        return experiment.experiment_id
    location = (settings.mlflow_dir / "artifacts").resolve().as_uri()
    return client.create_experiment(EXPERIMENT_NAME, artifact_location=location)


def register(
    client: MlflowClient, settings: Settings, model_uri: str, run_id: str, metadata: dict[str, Any]
) -> ModelVersion:
    """Register a logged model as a new version of settings.model_name, tagged with its metadata."""
    tags = {key: str(metadata[key]) for key in TAG_KEYS if key in metadata}
    version = mlflow.register_model(model_uri, settings.model_name, tags={**tags, "run_id": run_id})
    return client.get_model_version(settings.model_name, version.version)


def alias_version(client: MlflowClient, settings: Settings, alias: str) -> ModelVersion | None:
    """The model version holding an alias, or None when none does."""
    try:
        return client.get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def champion_version(client: MlflowClient, settings: Settings) -> ModelVersion | None:
    """The model version holding the champion alias, or None when there is none yet."""
    return alias_version(client, settings, CHAMPION_ALIAS)


def set_alias(client: MlflowClient, settings: Settings, alias: str, version: int | str) -> None:
    """Move an alias (champion, challenger) to a version."""
    client.set_registered_model_alias(settings.model_name, alias, str(version))


def set_champion(client: MlflowClient, settings: Settings, version: int | str) -> None:
    """Move the champion alias to a version."""
    set_alias(client, settings, CHAMPION_ALIAS, version)


def clear_challenger(client: MlflowClient, settings: Settings) -> None:
    """Remove the challenger alias (no version is scored in shadow any more)."""
    if alias_version(client, settings, CHALLENGER_ALIAS) is not None:
        client.delete_registered_model_alias(settings.model_name, CHALLENGER_ALIAS)


def version_metadata(version: ModelVersion) -> dict[str, Any]:
    """The metadata a version was logged with (features, threshold, recipe, OOF metrics...)."""
    info = mlflow.models.get_model_info(str(version.source))
    return dict(info.metadata or {})


def load_version(settings: Settings, version: int | str) -> Model:
    """A registered version of settings.model_name, ready to score."""
    client = connect(settings)
    return _load(settings, client.get_model_version(settings.model_name, str(version)))


def load_champion(settings: Settings) -> Model:
    """The current champion, ready to score: the one way every job loads it."""
    return load_alias(settings, CHAMPION_ALIAS)


def load_challenger(settings: Settings) -> Model:
    """The challenger scored in shadow (NoChallengerError when no version holds the alias)."""
    return load_alias(settings, CHALLENGER_ALIAS)


MISSING = {
    CHAMPION_ALIAS: (NoChampionError, "Run `credit-scoring train` first."),
    CHALLENGER_ALIAS: (NoChallengerError, "Run `credit-scoring train --as-challenger` to register one."),
}


def load_alias(settings: Settings, alias: str) -> Model:
    """The version holding an alias, ready to score: the one way a model is loaded by alias."""
    version = alias_version(connect(settings), settings, alias)
    if version is None:
        error, hint = MISSING.get(alias, (NoModelError, ""))
        where = f"in the MLflow registry at {settings.tracking_uri}"
        raise error(f"No {alias} model {settings.model_name!r} {where}. {hint}".strip())
    return _load(settings, version)


class UnsafeModelError(ValueError):
    """A registered model that is not a LightGBM booster saved as text: it is not loaded (no unpickling)."""


def read_booster(source: str) -> tuple[lgb.Booster, dict[str, Any]]:
    """A registered model's LightGBM booster and metadata, read from its text model file.

    Only the expected format is loaded: the MLmodel file (YAML, read safely) must describe a LightGBM Booster
    whose data is a .lgb text model inside the model's folder. Nothing is unpickled, so a tampered registry
    cannot run code here; anything else raises UnsafeModelError."""
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=source)).resolve()
    try:
        description = yaml.safe_load((folder / "MLmodel").read_text())
        flavor = description["flavors"]["lightgbm"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise UnsafeModelError(f"model {source}: no readable MLmodel with a lightgbm flavor") from error
    data = (folder / str(flavor.get("data", ""))).resolve()
    if flavor.get("model_class") != BOOSTER_CLASS or data.suffix != ".lgb" or folder not in data.parents:
        raise UnsafeModelError(
            f"model {source}: a {flavor.get('model_class')} in {flavor.get('data')!r}, not a LightGBM Booster "
            "saved as a text .lgb file; it is not loaded"
        )
    with data.open("rb") as model_file:
        if not model_file.read(5) == b"tree\n":
            raise UnsafeModelError(f"model {source}: {data.name} is not a LightGBM text model")
    return lgb.Booster(model_file=str(data)), dict(description.get("metadata") or {})


def _load(settings: Settings, version: ModelVersion) -> Model:
    """Load a version's booster and metadata (once per process: a registered version never changes)."""
    return _load_version(
        settings.model_name, str(version.source), int(version.version), str(version.run_id), version.creation_timestamp
    )


@functools.lru_cache(maxsize=4)
def _load_version(name: str, source: str, number: int, run_id: str, created_ms: int) -> Model:
    """Load a version's booster and metadata, checking the feature list matches the booster's.

    Cached: a night's scoring and drift steps share one parse of the model (reading the MLmodel file parses
    pure-Python YAML of 940 feature names). Every caller gets the same Model: read-only.
    """
    booster, metadata = read_booster(source)
    features = list(metadata["features"])
    if booster.feature_name() != features:
        raise ValueError(f"Model version {number}: booster features differ from the registered list.")
    # Versions registered before the prior correction have thresholds on the uncorrected scale.
    offset = float(metadata.get("log_odds_offset", 0.0)) if metadata.get("threshold_prior_corrected") else 0.0
    return Model(
        booster=booster,
        features=features,
        threshold=float(metadata["threshold"]),
        name=name,
        version=number,
        run_id=run_id,
        metadata=metadata,
        registered_at=datetime.fromtimestamp(created_ms / 1000, UTC).replace(tzinfo=None),
        log_odds_offset=offset,
    )


def metadata_json(metadata: dict[str, Any]) -> str:
    """Metadata as indented JSON (logged next to the model for reviewers)."""
    return json.dumps(metadata, indent=2, sort_keys=True)
