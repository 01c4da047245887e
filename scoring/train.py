"""`credit-scoring train`: compare candidates by cross-validation, pick the threshold, register the model.

Every candidate is fitted on the same stratified folds. On a training set larger than `search_max_rows`,
the LightGBM candidates (one per imbalance strategy, then the hyperparameter search) are screened on a
seeded, stratified sample of those folds, and only the best of them is cross-validated on all rows: one
full-data LightGBM cross-validation instead of one per candidate (the dummy and logistic baselines always
use all rows). The challenger is the LightGBM candidate cross-validated on all rows with the lowest
out-of-fold business cost (ties: higher AUC); it is refitted on all training rows with the mean best
iteration and registered. The `champion` alias moves to it only when it beats the current
champion (see `champion_score`) or when promotion is forced.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.models import infer_signature
from rich.table import Table

from scoring import plots, registry
from scoring.data import TrainingData, load_training_data, training_groups
from scoring.fairness import approval_gap, fairness_frame
from scoring.metrics import CostCurve, CostWeights, classification_metrics, cost_curve
from scoring.models import (
    Candidate,
    CrossValidator,
    CVResult,
    baseline_candidates,
    log_odds_offset,
    search_candidates,
)
from scoring.report import write_report
from warehouse.settings import Settings

DEFAULT_SEARCH_ITERATIONS = 4
SHAP_SAMPLE_ROWS = 10_000
"""Global importance is the mean |SHAP| over at most this many training rows (seeded sample)."""
COST_TOLERANCE = 1e-9

ProgressCallback = Callable[[str, int, int], None]
"""Called with (description, steps done, steps planned) as training advances."""


@dataclass
class Evaluation:
    """A candidate's out-of-fold predictions scored: cost curve, threshold and metrics."""

    result: CVResult
    curve: CostCurve
    metrics: dict[str, float]

    @property
    def name(self) -> str:
        """The candidate's name."""
        return self.result.candidate.name

    @property
    def cost(self) -> float:
        """Out-of-fold cost per client at the candidate's own best threshold."""
        return self.metrics["cost_per_client"]

    @property
    def auc(self) -> float:
        """Out-of-fold AUC."""
        return self.metrics["auc"]

    @property
    def comparable(self) -> bool:
        """Whether it can become the challenger: a LightGBM cross-validated on all training rows."""
        return self.result.candidate.is_lightgbm and self.result.rows is None

    def rank(self) -> tuple[float, float]:
        """Sort key: lower cost first, then higher AUC."""
        return (round(self.cost, 12), -self.auc)


@dataclass(frozen=True)
class Decision:
    """Whether the champion alias moved to the new version, and why."""

    promoted: bool
    reason: str
    previous_version: int | None = None
    previous_cost: float | None = None


@dataclass
class TrainingSummary:
    """What a training run did: candidates compared, model registered, champion decision, report."""

    run_id: str
    data: dict[str, Any]
    evaluations: list[Evaluation]
    chosen: Evaluation
    version: int
    decision: Decision
    report_path: Path
    importance: dict[str, float]
    booster: lgb.Booster | None = None
    seconds: float = 0.0
    plot_paths: dict[str, Path] = field(default_factory=dict)
    fairness: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Out-of-fold fairness of the chosen model per attribute and group (scoring.fairness.COLUMNS)."""
    protected_comparison: dict[str, dict[str, float]] = field(default_factory=dict)
    """'without' (the model) and 'with' (the same recipe given the protected attributes): auc, cost, approval gap."""
    protected: list[str] = field(default_factory=list)

    @property
    def threshold(self) -> float:
        """The registered decision threshold."""
        return self.chosen.curve.best_threshold

    def as_table(self) -> Table:
        """The comparison of candidates as a rich table."""
        table = Table(
            title=f"Training run {self.run_id}: {self.data['rows']:,} clients, "
            f"{self.data['features']} features, {self.seconds:.0f} s"
        )
        for column in (
            "candidate",
            "imbalance",
            "clients",
            "AUC",
            "Gini",
            "KS",
            "cost/client",
            "at 0.5",
            "threshold",
            "s",
        ):
            table.add_column(column, justify="left" if column in ("candidate", "imbalance") else "right")
        for ev in self.evaluations:
            style = "bold green" if ev is self.chosen else None
            m = ev.metrics
            table.add_row(
                ev.name,
                ev.result.candidate.imbalance,
                f"{ev.result.n_rows:,}",
                f"{m['auc']:.4f}",
                f"{m['gini']:.4f}",
                f"{m['ks']:.4f}",
                f"{m['cost_per_client']:.4f}",
                f"{m['cost_per_client_at_0_5']:.4f}",
                f"{m['threshold']:.4f}",
                f"{ev.result.seconds:.1f}",
                style=style,
            )
        return table


def train(
    settings: Settings,
    *,
    search_iterations: int = DEFAULT_SEARCH_ITERATIONS,
    promote: bool = False,
    as_challenger: bool = False,
    with_outcomes: bool = False,
    progress: ProgressCallback | None = None,
) -> TrainingSummary:
    """Cross-validate the candidates, register the best LightGBM and decide whether it becomes champion (or, with
    `as_challenger`, make it the challenger scored in shadow); `with_outcomes` also learns from the scored clients
    whose outcome arrived."""
    if promote and as_challenger:
        raise ValueError("a new version is either forced to champion or registered as challenger, not both")
    started = time.perf_counter()
    data = load_training_data(settings, with_outcomes=with_outcomes)
    weights = CostWeights.from_settings(settings)
    validator = CrossValidator(data, settings.cv_folds, settings.seed, settings.search_max_rows)
    screening = validator.sample is not None
    candidates = baseline_candidates()
    steps = _Steps(progress, settings.cv_folds * (len(candidates) + search_iterations + screening) + 2)

    evaluations = [_evaluate(validator, c, weights, steps, sampled=screening and c.is_lightgbm) for c in candidates]
    lightgbm = [e for e in evaluations if e.result.candidate.is_lightgbm]
    imbalance = min(lightgbm, key=Evaluation.rank).result.candidate.imbalance
    searched = [
        _evaluate(validator, candidate, weights, steps, sampled=screening)
        for candidate in search_candidates(search_iterations, imbalance, settings.seed)
    ]
    evaluations += searched
    screened = min(lightgbm + searched, key=Evaluation.rank) if screening else None
    if screened is not None:
        best = screened.result.candidate
        evaluations.append(_evaluate(validator, replace(best, name=f"{best.name}_all_rows"), weights, steps))
    chosen = min((e for e in evaluations if e.comparable), key=Evaluation.rank)

    steps.advance(f"refitting {chosen.name} on all {data.n_rows:,} clients")
    booster = validator.fit_final(chosen.result.candidate, chosen.result.n_iterations)
    importance = shap_importance(booster, data, settings.seed)
    groups = training_groups(settings, data.ids)
    fairness = fairness_frame(chosen.result.oof, chosen.result.oof < chosen.curve.best_threshold, groups, data.y)
    comparison = compare_protected(validator, screened or chosen, groups, weights, steps)

    client = registry.connect(settings)
    with mlflow.start_run(
        experiment_id=registry.experiment_id(settings, client), run_name=f"train-{data.data_hash[:8]}"
    ) as run:
        for ev in evaluations:
            _log_candidate(ev)
        metadata = _metadata(settings, data, chosen, importance)
        metadata["fairness_oof"] = fairness.replace({np.nan: None}).to_dict(orient="records")
        metadata["protected_comparison"] = comparison
        _log_parent(settings, data, chosen, search_iterations, evaluations)
        version = _log_and_register(client, settings, booster, data, metadata, run.info.run_id)
        steps.advance("comparing with the current champion")
        decision = (
            _as_challenger(client, settings, version)
            if as_challenger
            else _decide(client, settings, validator, chosen, version, promote, steps)
        )
        client.set_model_version_tag(settings.model_name, str(version), "champion_decision", decision.reason)
        mlflow.set_tag("champion_decision", decision.reason)
        mlflow.log_metric("promoted", int(decision.promoted))
        summary = TrainingSummary(
            run.info.run_id,
            _data_facts(data),
            evaluations,
            chosen,
            version,
            decision,
            Path(),
            importance,
            booster,
            fairness=fairness,
            protected_comparison=comparison,
            protected=data.protected,
        )
        mlflow.log_metrics({f"protected_{k}_{side}": v for side, m in comparison.items() for k, v in m.items()})
        summary.seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as scratch:
            summary.plot_paths = _draw_plots(Path(scratch), data, summary)
            mlflow.log_artifacts(scratch, "plots")
            summary.report_path = write_report(settings, summary)
        mlflow.log_artifact(str(summary.report_path), "report")
    return summary


def compare_protected(
    validator: CrossValidator,
    reference: Evaluation,
    groups: pd.DataFrame,
    weights: CostWeights,
    steps: _Steps,
) -> dict[str, dict[str, float]]:
    """The chosen recipe against the same recipe given the protected attributes too, on the same folds and rows:
    out-of-fold AUC, cost per client, the gap between the approval rates of men and women (each model at its own
    threshold) and the clients compared.

    `reference` is the chosen recipe's evaluation: its screening on the search sample when there is one, and the
    protected variant is then cross-validated on that sample (on all rows it was one more full-data cross-validation,
    180 s of a full-scale training); else the chosen model itself."""
    data = validator.data
    without = _fairness_side(reference, groups, data.y)
    if data.X_protected is None:
        return {"without": without}
    widened = validator.widened(data.X_protected, data.protected)
    steps.extend(len(validator.folds))
    candidate = replace(reference.result.candidate, name=f"{reference.name}_with_protected")
    sampled = reference.result.rows is not None
    result = widened.run(candidate, lambda: steps.advance(candidate.name), sampled=sampled)
    return {"without": without, "with": _fairness_side(evaluate_oof(data.y, result, weights), groups, data.y)}


def _fairness_side(ev: Evaluation, groups: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """One side of the protected comparison: AUC, cost per client, approval-rate gap and clients compared."""
    rows = np.arange(len(y)) if ev.result.rows is None else ev.result.rows
    oof = ev.result.oof[rows]
    table = fairness_frame(oof, oof < ev.curve.best_threshold, groups.iloc[rows], y[rows])
    return {"auc": ev.auc, "cost_per_client": ev.cost, "approval_gap": approval_gap(table), "clients": len(rows)}


def evaluate_oof(y: np.ndarray, result: CVResult, weights: CostWeights) -> Evaluation:
    """Score out-of-fold predictions (of the rows it was cross-validated on): the cost-minimising threshold
    and the metrics at it."""
    rows = slice(None) if result.rows is None else result.rows
    curve = cost_curve(y[rows], result.oof[rows], weights)
    return Evaluation(result, curve, classification_metrics(y[rows], result.oof[rows], curve.best_threshold, weights))


def shap_importance(booster: lgb.Booster, data: TrainingData, seed: int) -> dict[str, float]:
    """Mean |SHAP| per feature (exact TreeSHAP) over a seeded sample of training rows, largest first."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(data.n_rows, size=min(SHAP_SAMPLE_ROWS, data.n_rows), replace=False))
    contributions = np.asarray(booster.predict(data.X[rows], pred_contrib=True))[:, :-1]
    mean_abs = np.abs(contributions).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    return {data.features[i]: float(mean_abs[i]) for i in order}


def decide_promotion(
    challenger_cost: float,
    challenger_auc: float,
    previous_cost: float | None,
    previous_auc: float | None,
    forced: bool,
) -> tuple[bool, str]:
    """The champion rule: promote when forced, when there is no champion, or when strictly cheaper.

    Costs are per client on the same folds of the same data; an equal cost promotes only with a higher AUC.
    """
    if forced:
        return True, "promotion forced (--promote)"
    if previous_cost is None or previous_auc is None:
        return True, "no champion yet"
    if challenger_cost < previous_cost - COST_TOLERANCE:
        return True, f"cheaper: {challenger_cost:.4f} < {previous_cost:.4f} per client"
    if abs(challenger_cost - previous_cost) <= COST_TOLERANCE and challenger_auc > previous_auc + 1e-9:
        return True, f"same cost {challenger_cost:.4f}, higher AUC {challenger_auc:.4f} > {previous_auc:.4f}"
    return False, f"not better: cost {challenger_cost:.4f} vs champion's {previous_cost:.4f} per client"


def champion_score(
    metadata: dict[str, Any],
    settings: Settings,
    data: TrainingData,
    validator: CrossValidator,
    on_fold: Callable[[], None] | None = None,
) -> tuple[float, float, str]:
    """The current champion's out-of-fold (cost per client, AUC) on this run's folds, and how it was obtained.

    Same data hash, folds, seed and cost weights: its stored OOF metrics are exactly comparable.
    Otherwise its recipe (model kind, imbalance strategy, hyperparameters) is cross-validated again
    on this run's folds, so both are judged on the same clients with the same costs.
    """
    if stored_metrics_comparable(metadata, settings, data):
        return float(metadata["oof_cost_per_client"]), float(metadata["oof_auc"]), "stored OOF metrics"
    recipe = metadata["recipe"]
    candidate = Candidate(f"champion_{recipe['name']}", recipe["kind"], recipe["imbalance"], recipe["params"])
    ev = evaluate_oof(data.y, validator.run(candidate, on_fold), CostWeights.from_settings(settings))
    return ev.cost, ev.auc, "recipe retrained on this run's folds"


def stored_metrics_comparable(metadata: dict[str, Any], settings: Settings, data: TrainingData) -> bool:
    """Whether a version's stored OOF metrics came from this data, folds, seed and cost weights."""
    return (
        metadata.get("data_hash") == data.data_hash
        and int(metadata.get("cv_folds", -1)) == settings.cv_folds
        and int(metadata.get("cv_seed", -1)) == settings.seed
        and float(metadata.get("cost_false_negative", -1)) == settings.cost_false_negative
        and float(metadata.get("cost_false_positive", -1)) == settings.cost_false_positive
    )


def _evaluate(
    validator: CrossValidator, candidate: Candidate, weights: CostWeights, steps: _Steps, sampled: bool = False
) -> Evaluation:
    """Cross-validate one candidate (on the search sample if `sampled`), advancing the progress fold by fold."""
    where = f" (search sample of {len(validator.sample):,})" if sampled and validator.sample is not None else ""
    result = validator.run(candidate, lambda: steps.advance(candidate.name + where), sampled=sampled)
    return evaluate_oof(validator.data.y, result, weights)


def _decide(
    client: MlflowClient,
    settings: Settings,
    validator: CrossValidator,
    chosen: Evaluation,
    version: int,
    promote: bool,
    steps: _Steps,
) -> Decision:
    """Apply the champion rule and move the alias if it says so."""
    current = registry.champion_version(client, settings)
    previous_cost = previous_auc = None
    how = ""
    if current is not None and not promote:
        metadata = registry.version_metadata(current)
        if "recipe" in metadata:
            if not stored_metrics_comparable(metadata, settings, validator.data):
                steps.extend(settings.cv_folds)
            previous_cost, previous_auc, how = champion_score(
                metadata,
                settings,
                validator.data,
                validator,
                lambda: steps.advance("re-evaluating the champion"),
            )
    promoted, reason = decide_promotion(chosen.cost, chosen.auc, previous_cost, previous_auc, promote)
    if current is not None and how:
        reason = f"{reason} (champion v{current.version}: {how})"
    elif current is not None and not promote:
        reason = f"champion v{current.version} was not registered by training and cannot be compared"
    if promoted:
        registry.set_champion(client, settings, version)
    return Decision(promoted, reason, int(current.version) if current else None, previous_cost)


def _as_challenger(client: MlflowClient, settings: Settings, version: int) -> Decision:
    """Give the new version the challenger alias: scored in shadow every night, promoted only by
    `credit-scoring promote`."""
    current = registry.champion_version(client, settings)
    if current is None:
        registry.set_champion(client, settings, version)
        return Decision(True, "no champion yet: a first version cannot be a challenger", None, None)
    registry.set_alias(client, settings, registry.CHALLENGER_ALIAS, version)
    return Decision(
        False,
        f"registered as the challenger of champion v{current.version}: scored in shadow, "
        "`credit-scoring promote` decides on realised outcomes",
        int(current.version),
        None,
    )


def _metadata(
    settings: Settings, data: TrainingData, chosen: Evaluation, importance: dict[str, float]
) -> dict[str, Any]:
    """What the registered version carries: features, threshold, costs, data hash, recipe, OOF metrics and the
    features' mean |SHAP| (drift monitoring watches the top ones)."""
    candidate = chosen.result.candidate
    return {
        "features": data.features,
        "threshold": chosen.curve.best_threshold,
        "cost_false_negative": settings.cost_false_negative,
        "cost_false_positive": settings.cost_false_positive,
        "data_hash": data.data_hash,
        "training_rows": data.n_rows,
        "n_features": len(data.features),
        "cv_folds": settings.cv_folds,
        "cv_seed": settings.seed,
        "oof_auc": chosen.auc,
        "oof_cost_per_client": chosen.cost,
        "oof_metrics": chosen.metrics,
        "candidate": candidate.name,
        "log_odds_offset": log_odds_offset(candidate.imbalance, data.y),
        "threshold_prior_corrected": True,
        "recipe": {**asdict(candidate), "n_iterations": chosen.result.n_iterations},
        registry.IMPORTANCE_KEY: dict(list(importance.items())[: registry.IMPORTANCE_FEATURES]),
    }


def _log_candidate(ev: Evaluation) -> None:
    """One nested MLflow run per candidate: its recipe and out-of-fold metrics."""
    candidate = ev.result.candidate
    parent = mlflow.active_run()
    assert parent is not None, "candidates are logged inside the training run"
    with mlflow.start_run(run_name=candidate.name, nested=True, experiment_id=parent.info.experiment_id):
        params: dict[str, Any] = {
            "kind": candidate.kind,
            "imbalance": candidate.imbalance,
            "cv_rows": ev.result.n_rows,
        }
        if candidate.is_lightgbm:
            params |= {
                **candidate.lgb_params(0),
                "mean_best_iteration": ev.result.n_iterations,
                "best_iterations": ev.result.best_iterations,
            }
            params.pop("seed")
        mlflow.log_params(params)
        mlflow.log_metrics({**ev.metrics, "cv_seconds": ev.result.seconds})


def _log_parent(
    settings: Settings,
    data: TrainingData,
    chosen: Evaluation,
    search_iterations: int,
    evaluations: list[Evaluation],
) -> None:
    """The parent run: validation settings, data facts, the chosen candidate's metrics, OOF predictions."""
    mlflow.log_params(
        {
            "cv_folds": settings.cv_folds,
            "seed": settings.seed,
            "search_iterations": search_iterations,
            "search_max_rows": settings.search_max_rows,
            "cost_false_negative": settings.cost_false_negative,
            "cost_false_positive": settings.cost_false_positive,
            "chosen": chosen.name,
            **_data_facts(data),
        }
    )
    mlflow.log_metrics({f"oof_{key}": value for key, value in chosen.metrics.items()})
    oof = pd.DataFrame({"SK_ID_CURR": data.ids, "TARGET": data.y} | {ev.name: ev.result.oof for ev in evaluations})
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "oof_predictions.parquet"
        oof.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _log_and_register(
    client: MlflowClient,
    settings: Settings,
    booster: lgb.Booster,
    data: TrainingData,
    metadata: dict[str, Any],
    run_id: str,
) -> int:
    """Log the booster (explicit requirements, signature, metadata) and register it as a new version."""
    sample = data.frame(slice(0, 20))
    info = mlflow.lightgbm.log_model(
        booster,
        name="model",
        metadata=metadata,
        signature=infer_signature(sample, booster.predict(sample.to_numpy())),
        pip_requirements=[
            f"lightgbm=={lgb.__version__}",
            f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}",
            f"scikit-learn=={sklearn.__version__}",
        ],
    )
    mlflow.log_text(registry.metadata_json(metadata), "model_metadata.json")
    return int(registry.register(client, settings, info.model_uri, run_id, metadata).version)


def _data_facts(data: TrainingData) -> dict[str, Any]:
    """Rows, features, default rate and hash of the training data."""
    return {
        "rows": data.n_rows,
        "features": len(data.features),
        "default_rate": round(data.default_rate, 6),
        "data_hash": data.data_hash,
    }


def _draw_plots(folder: Path, data: TrainingData, summary: TrainingSummary) -> dict[str, Path]:
    """Draw the report's figures into a folder and return their paths by name."""
    chosen = summary.chosen
    shown = {
        ev.name: ev.result.oof
        for ev in summary.evaluations
        if ev is chosen or (ev.result.rows is None and not ev.name.startswith("lightgbm_search"))
    }
    p = chosen.result.oof
    figures = {
        "roc": plots.roc_plot(data.y, shown),
        "precision_recall": plots.pr_plot(data.y, shown),
        "calibration": plots.calibration_plot(data.y, p),
        "cost_vs_threshold": plots.cost_plot(chosen.curve, chosen.metrics["cost_per_client_at_0_5"]),
        "score_distribution": plots.score_distribution_plot(data.y, p, chosen.curve.best_threshold),
        "importance": plots.importance_plot(summary.importance),
    }
    return {name: plots.save(fig, folder / f"{name}.png") for name, fig in figures.items()}


class _Steps:
    """Counts progress steps and reports them to an optional callback."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0

    def extend(self, extra: int) -> None:
        """Plan more steps than first expected."""
        self.total += extra

    def advance(self, description: str) -> None:
        """Mark one step done."""
        self.done += 1
        if self.callback is not None:
            self.callback(description, self.done, self.total)
