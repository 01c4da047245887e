"""The `scores` schema: every table and column the scorer writes, with the documentation analysts see."""

from __future__ import annotations

import duckdb

from warehouse.tables import TableDoc

SCHEMA = "scores"


HASH_TYPE = "{hash_type}"
"""Placeholder for the type of features.client_features.FEATURE_HASH, whatever the feature store uses."""

RUNS = TableDoc(
    SCHEMA,
    "runs",
    "One row per scoring run: which model scored which clients, when, and whether it succeeded. "
    "Only runs with status 'succeeded' have rows in predictions and explanations.",
    (
        ("run_id", "BIGINT", "Scoring run number, increasing."),
        ("model_name", "VARCHAR", "Registered MLflow model name."),
        (
            "model_version",
            "BIGINT",
            "Registered MLflow model version used for the run (the champion at the time).",
        ),
        ("model_run_id", "VARCHAR", "MLflow run id that trained the model."),
        ("threshold", "DOUBLE", "Decision threshold: a client is refused when probability >= threshold."),
        (
            "mode",
            "VARCHAR",
            "'new' (only clients whose features changed or who lack a score from this model version) "
            "or 'all' (every client rescored).",
        ),
        ("started_at", "TIMESTAMP", "When the run started (UTC)."),
        ("finished_at", "TIMESTAMP", "When the run succeeded or failed (UTC); NULL while running."),
        ("clients_scored", "BIGINT", "Number of clients scored by the run."),
        ("accepted", "BIGINT", "Clients whose decision is 'accept'."),
        ("refused", "BIGINT", "Clients whose decision is 'refuse'."),
        ("status", "VARCHAR", "'running', 'succeeded' or 'failed'."),
        ("error", "VARCHAR", "Why the run failed; NULL otherwise."),
    ),
)

PREDICTIONS = TableDoc(
    SCHEMA,
    "predictions",
    "Every score ever given: one row per (run_id, SK_ID_CURR), history kept "
    "across runs. Join scores.runs for the model name and run status.",
    (
        ("run_id", "BIGINT", "Scoring run (scores.runs.run_id)."),
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("model_version", "BIGINT", "Registered model version that gave the score."),
        (
            "probability",
            "DOUBLE",
            "Predicted probability that the client will have payment difficulties (default).",
        ),
        ("decision", "VARCHAR", "'refuse' when probability >= threshold, else 'accept'."),
        ("threshold", "DOUBLE", "Decision threshold of the model (minimises the business cost of errors)."),
        (
            "FEATURE_HASH",
            HASH_TYPE,
            "features.client_features.FEATURE_HASH of the feature values that were scored.",
        ),
        (
            "base_value",
            "DOUBLE",
            "Model's expected raw score (log-odds) over its training data: the SHAP base value, corrected "
            "for class weights or undersampling so that probabilities are at the real default rate.",
        ),
        (
            "raw_score",
            "DOUBLE",
            "Model's raw score (log-odds of default) = base_value + sum of the client's "
            "contributions in scores.explanations; probability = 1 / (1 + exp(-raw_score)).",
        ),
        ("scored_at", "TIMESTAMP", "When the score was computed (UTC)."),
        (
            "points",
            "DOUBLE",
            "The score in points (higher is safer): points_at_base_odds (600) at odds of default of "
            "1 to base_odds_good_to_bad (19), points_to_double_odds (50) more each time those odds double.",
        ),
    ),
)

CHALLENGER_PREDICTIONS = TableDoc(
    SCHEMA,
    "challenger_predictions",
    "Scores of the challenger model (MLflow alias 'challenger'), computed in shadow in the same runs and on the "
    "same clients as the champion's (scores.predictions). They never decide: a client's decision is the champion's.",
    (
        ("run_id", "BIGINT", "The champion's scoring run (scores.runs.run_id) the shadow score was computed in."),
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("model_version", "BIGINT", "The challenger's registered model version."),
        ("probability", "DOUBLE", "The challenger's predicted probability of default."),
        ("decision", "VARCHAR", "What the challenger would have decided: 'refuse' when probability >= threshold."),
        ("threshold", "DOUBLE", "The challenger's own decision threshold."),
        ("FEATURE_HASH", HASH_TYPE, "features.client_features.FEATURE_HASH of the feature values scored."),
        ("scored_at", "TIMESTAMP", "When the score was computed (UTC)."),
        ("points", "DOUBLE", "The challenger's score in points, on the champion's scale (see scores.predictions)."),
    ),
)

EXPLANATIONS = TableDoc(
    SCHEMA,
    "explanations",
    "Exact TreeSHAP contribution of every model feature to every score, "
    "in log-odds of default (positive = raised the risk); base_value + sum(contribution) = raw_score "
    "in scores.predictions. Features the model never splits on contribute exactly 0 and are left out. "
    "The working warehouse keeps them for explanation_retention_days (90 by default) and keeps those of "
    "each client's latest score for ever; the published serving database holds only the latter.",
    (
        ("run_id", "BIGINT", "Scoring run (scores.runs.run_id)."),
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("feature", "VARCHAR", "Feature name (a column of features.client_features)."),
        ("value", "DOUBLE", "The feature's value that was scored; NULL when missing."),
        ("contribution", "DOUBLE", "SHAP contribution of the feature to the raw score (log-odds)."),
        (
            "rank",
            "INTEGER",
            "Rank of the feature for this client by absolute contribution (1 = most influential).",
        ),
    ),
)

LATEST = TableDoc(
    SCHEMA,
    "latest",
    "The current decision: one row per client with the latest score, its points and band, the principal reasons "
    "(client sentences, scores.reasons holds the rest) and, for a refusal, what would change it.",
    (
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("run_id", "BIGINT", "Scoring run of the latest score."),
        ("model_version", "BIGINT", "Registered model version of the latest score."),
        ("probability", "DOUBLE", "Predicted probability of default."),
        ("decision", "VARCHAR", "'accept' or 'refuse'."),
        ("threshold", "DOUBLE", "Decision threshold used."),
        ("FEATURE_HASH", HASH_TYPE, "FEATURE_HASH of the scored feature values."),
        ("scored_at", "TIMESTAMP", "When the score was computed (UTC)."),
        ("points", "DOUBLE", "The score in points (higher is safer; see scores.predictions.points)."),
        ("score_band", "VARCHAR", "The named band of the points (reference.score_bands), e.g. 'C · Moderate risk'."),
        *(
            (
                f"reason_{i}",
                "VARCHAR",
                f"Principal reason {i} in the client's words (scores.reasons rank {i}): for a refusal a reason "
                "that raised the risk, for an acceptance one that lowered it; NULL when fewer.",
            )
            for i in (1, 2, 3, 4)
        ),
        ("reason_codes", "VARCHAR[]", "The codes of the principal reasons, strongest first."),
        (
            "largest_accepted_credit",
            "DOUBLE",
            "Refusals: the largest credit, at the same number of instalments, the model would accept "
            "(scores.credit_alternatives); NULL when none would, or for an acceptance.",
        ),
        ("decision_changer", "VARCHAR", "Refusals: what would change the decision, in words."),
        (
            "final_decision",
            "VARCHAR",
            "The decision that stands: the latest human review's (scores.reviews) of this very score, else the "
            "model's decision.",
        ),
        ("overridden", "BOOLEAN", "Whether a relationship manager overrode the model's decision of this score."),
        ("reviewed_by", "VARCHAR", "Who reviewed this score last (dashboard user name); NULL when nobody did."),
        ("reviewed_at", "TIMESTAMP", "When that review was recorded (UTC)."),
        ("review_reason", "VARCHAR", "The reason code of that review (reference.review_reasons.code)."),
    ),
)

REASONS = TableDoc(
    SCHEMA,
    "reasons",
    "The principal reasons of every decision: the reason codes (reference.reason_codes) whose summed exact "
    "TreeSHAP contributions moved the score most. A refusal has at most max_reasons (4) codes that raised the "
    "risk, strongest first; an acceptance its strongest codes that lowered it.",
    (
        ("run_id", "BIGINT", "Scoring run (scores.runs.run_id)."),
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("rank", "INTEGER", "1 = the strongest reason."),
        ("code", "VARCHAR", "The reason code (reference.reason_codes.code, scores.reason_codes.code)."),
        ("direction", "VARCHAR", "'raises' (the code raised the risk) or 'lowers'."),
        (
            "contribution",
            "DOUBLE",
            "Sum of the SHAP contributions (log-odds of default) of the code's features for this score.",
        ),
        ("points", "DOUBLE", "Points the code moved the score by (negative: it cost points)."),
        ("sentence", "VARCHAR", "The reason in the client's words, with the client's own figures."),
        ("manager_sentence", "VARCHAR", "The reason as the relationship manager reads it."),
    ),
)

CREDIT_ALTERNATIVES = TableDoc(
    SCHEMA,
    "credit_alternatives",
    "What would change each refusal: the largest credit amount, at the same number of instalments, that the model "
    "would accept, searched exactly on a grid of credit_step amounts from credit_floor_share of the request.",
    (
        ("run_id", "BIGINT", "Scoring run (scores.runs.run_id)."),
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("requested_credit", "DOUBLE", "The credit amount asked for (AMT_CREDIT)."),
        ("lowest_searched", "DOUBLE", "The smallest amount searched."),
        ("step", "DOUBLE", "The grid step: one step above largest_accepted_credit is refused."),
        ("largest_accepted_credit", "DOUBLE", "The largest amount accepted; NULL when none in the range is."),
        ("instalment", "DOUBLE", "The instalment at that amount (same number of instalments)."),
        ("probability", "DOUBLE", "The probability of default at that amount."),
        ("sentence", "VARCHAR", "What would change the decision, in words."),
    ),
)

FEATURE_CODES = TableDoc(
    SCHEMA,
    "feature_codes",
    "The reason code and source file of every model feature (from the catalogue in dbt/seeds/).",
    (
        ("feature", "VARCHAR", "Feature name (a column of features.client_features)."),
        ("code", "VARCHAR", "The reason code it belongs to."),
        ("source", "VARCHAR", "The Kaggle file(s) it is computed from."),
    ),
)

REASON_CODES = TableDoc(
    SCHEMA,
    "reason_codes",
    "The reason-code catalogue the latest scoring run used (dbt/seeds/reason_codes.csv), for readers of the "
    "serving database.",
    (
        ("code", "VARCHAR", "The reason code."),
        ("theme", "VARCHAR", "The group of codes it belongs to."),
        ("title", "VARCHAR", "Short heading."),
        ("client_template", "VARCHAR", "The client's sentence, figures in braces."),
        ("manager_template", "VARCHAR", "The relationship manager's sentence."),
        ("key_feature", "VARCHAR", "The feature charted for the code (NULL for categorical codes)."),
        ("key_unit", "VARCHAR", "Unit of the key feature."),
        ("features", "INTEGER", "Model features that belong to the code."),
    ),
)

CODE_IMPORTANCE = TableDoc(
    SCHEMA,
    "code_importance",
    "Importance of each reason code for a model version: mean over clients of the absolute summed SHAP "
    "contribution of the code's features (clients whose latest score comes from that version).",
    (
        ("model_version", "BIGINT", "Registered model version."),
        ("code", "VARCHAR", "The reason code."),
        ("mean_abs_points", "DOUBLE", "Mean of |points the code moved the score by|."),
        ("raised_share", "DOUBLE", "Share of clients whose risk the code raised."),
        ("rank", "INTEGER", "1 = most important code."),
        ("clients", "BIGINT", "Number of clients averaged over."),
    ),
)

GLOBAL_IMPORTANCE = TableDoc(
    SCHEMA,
    "global_importance",
    "Global feature importance of each model version: mean absolute "
    "SHAP contribution over the clients whose latest score comes from that version.",
    (
        ("model_version", "BIGINT", "Registered model version."),
        ("feature", "VARCHAR", "Feature name."),
        ("mean_abs_shap", "DOUBLE", "Mean of |contribution| (log-odds) over the clients."),
        ("mean_shap", "DOUBLE", "Mean signed contribution (log-odds) over the clients."),
        ("rank", "INTEGER", "1 = most important feature."),
        ("clients", "BIGINT", "Number of clients averaged over."),
    ),
)

FEATURE_QUANTILES = TableDoc(
    SCHEMA,
    "feature_quantiles",
    "Distribution of the most important features among scored "
    "clients (their latest score), overall and by decision, for comparing one client "
    "with the population.",
    (
        ("model_version", "BIGINT", "Model version whose importance chose the features."),
        ("feature", "VARCHAR", "Feature name."),
        ("population", "VARCHAR", "'all', 'accepted' or 'refused'."),
        ("quantile", "DOUBLE", "Quantile level, between 0 and 1."),
        ("value", "DOUBLE", "Feature value at that quantile (missing values ignored)."),
    ),
)

MODEL_CARD = TableDoc(
    SCHEMA,
    "model_card",
    "How each model version that has scored clients was made: one row per (model_name, model_version), "
    "from its MLflow registry entry and training run; refreshed by every scoring run that uses it.",
    (
        ("model_name", "VARCHAR", "Registered MLflow model name."),
        ("model_version", "BIGINT", "Registered MLflow model version."),
        ("run_id", "VARCHAR", "MLflow run id of the training run (its parameters, metrics and plots)."),
        ("trained_at", "TIMESTAMP", "When the version was registered (UTC)."),
        ("train_rows", "BIGINT", "Labelled clients it was cross-validated and fitted on."),
        ("features", "INTEGER", "Number of model features (columns of features.client_features)."),
        ("candidate", "VARCHAR", "The winning recipe of the training run (e.g. lightgbm_search_02)."),
        ("imbalance", "VARCHAR", "How class imbalance was handled: 'none', 'class_weight' or 'undersample'."),
        (
            "metrics",
            "VARCHAR",
            "Out-of-fold metrics at the threshold, as a JSON object (auc, gini, ks, pr_auc, brier, "
            "cost_per_client, approval_rate, bad_rate_accepted, tp/fp/fn/tn...).",
        ),
        ("threshold", "DOUBLE", "Decision threshold: a client is refused when probability >= threshold."),
        ("cost_false_negative", "DOUBLE", "Cost of accepting a client who defaults (a missed defaulter)."),
        ("cost_false_positive", "DOUBLE", "Cost of refusing a client who would have repaid."),
        ("data_hash", "VARCHAR", "SHA-256 of the training data (ids, feature hashes, targets, feature names)."),
        ("report_path", "VARCHAR", "The methodology report written by training (HTML), on the training machine."),
    ),
)

REVIEWS = TableDoc(
    SCHEMA,
    "reviews",
    "Every human review of a decision recorded on the dashboard, imported each night from the reviews file "
    "(settings.reviews_path, append-only): a relationship manager confirmed or overrode the model's decision of "
    "one score, with a reason from reference.review_reasons and a comment. Never updated; a later review of the "
    "same score supersedes an earlier one in scores.latest.",
    (
        ("review_id", "BIGINT", "Review number in the reviews file, increasing (each is imported once)."),
        ("SK_ID_CURR", "BIGINT", "Client (loan application) id."),
        ("run_id", "BIGINT", "Scoring run of the score reviewed (scores.runs.run_id)."),
        ("model_decision", "VARCHAR", "The model's decision the reviewer saw: 'accept' or 'refuse'."),
        ("action", "VARCHAR", "'confirm' (the model's decision stands) or 'override' (the other one does)."),
        ("final_decision", "VARCHAR", "The decision after the review: 'accept' or 'refuse'."),
        ("reason_code", "VARCHAR", "Why, from the fixed list (reference.review_reasons.code)."),
        ("comment", "VARCHAR", "The reviewer's own words."),
        ("reviewer", "VARCHAR", "Dashboard user name of the relationship manager who recorded the review."),
        ("reviewed_at", "TIMESTAMP", "When the review was recorded (UTC)."),
        ("imported_at", "TIMESTAMP", "When the night brought it into the warehouse (UTC)."),
    ),
    primary_key=("review_id",),
)

TABLES = (
    RUNS,
    PREDICTIONS,
    CHALLENGER_PREDICTIONS,
    EXPLANATIONS,
    LATEST,
    REASONS,
    CREDIT_ALTERNATIVES,
    FEATURE_CODES,
    REASON_CODES,
    CODE_IMPORTANCE,
    GLOBAL_IMPORTANCE,
    FEATURE_QUANTILES,
    MODEL_CARD,
    REVIEWS,
)


PUBLICATION = TableDoc(
    SCHEMA,
    "publication",
    "When the serving database was published and the last successful scoring run in it (only in the serving database).",
    (
        ("published_at", "TIMESTAMP", "When this serving database was published (UTC)."),
        ("last_run_id", "BIGINT", "The last scoring run (scores.runs.run_id) that had succeeded at publication."),
    ),
)
"""Written by each publication into the serving database; not one of TABLES (the warehouse has no such table)."""


RETIRED = ("feature_labels",)
"""Tables earlier versions wrote that the catalogue replaced (dropped when found)."""


def create_tables(con: duckdb.DuckDBPyConnection, hash_type: str) -> None:
    """Create the scores schema and its documented tables if they do not exist yet; bring tables of an earlier
    layout up to date (declared columns added, undeclared ones dropped) and drop retired tables."""
    for name in RETIRED:
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{name}")
    for table in TABLES:
        _migrate(con, table, hash_type)
        table.create(con, hash_type=hash_type)


def _migrate(con: duckdb.DuckDBPyConnection, table: TableDoc, hash_type: str) -> None:
    """Bring an existing table to its declared columns: add the missing ones, drop the undeclared ones."""
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = $s AND table_name = $t",
            {"s": table.schema, "t": table.name},
        ).fetchall()
    }
    if not present:
        return
    declared = {name: kind for name, kind, _ in table.columns}
    for name in present - set(declared):
        con.execute(f'ALTER TABLE {table.qualified} DROP COLUMN "{name}"')
    for name, kind in declared.items():
        if name not in present:
            con.execute(f'ALTER TABLE {table.qualified} ADD COLUMN "{name}" {kind.format(hash_type=hash_type)}')


def latest_explanations_sql(catalog: str = "") -> str:
    """SQL selecting the explanations of each client's latest score (optionally in an attached catalog)."""
    prefix = f"{catalog}." if catalog else ""
    return (
        f"SELECT e.* FROM {prefix}{EXPLANATIONS.qualified} AS e SEMI JOIN {prefix}{LATEST.qualified} AS l "
        "ON e.run_id = l.run_id AND e.SK_ID_CURR = l.SK_ID_CURR"
    )
