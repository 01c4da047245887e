"""The feature store's contract: where `client_features` lives and which of its columns are not features.

The dbt project in `dbt/` builds the table (see `featurestore.build`); every job that reads it uses these names."""

FEATURES_TABLE = "features.client_features"
"""One row per SK_ID_CURR (train, test and nightly-batch clients), built by the dbt mart of the same name."""

ID_COLUMN = "SK_ID_CURR"
TARGET_COLUMN = "TARGET"
"""1 = the client had payment difficulties; NULL where unknown (test and nightly clients)."""
DATASET_COLUMN = "DATASET"
"""Which application file the client came from: 'train' or 'test' (nightly batches arrive as 'test')."""
LOAD_ID_COLUMN = "APPLICATION_LOAD_ID"
"""The ingest load (audit.loads.load_id) that brought the client's application row."""
FEATURE_HASH_COLUMN = "FEATURE_HASH"
"""A hash of every feature value of the row: it changes exactly when a client's features change."""

NON_FEATURE_COLUMNS = (ID_COLUMN, TARGET_COLUMN, DATASET_COLUMN, LOAD_ID_COLUMN, FEATURE_HASH_COLUMN)
"""Every other column of client_features is a numeric model feature."""

KEY_RANGE_COLUMN = "_key_range"
"""Spark only: the partition column of the Spark table (a range of SK_ID_CURR, see dbt/dbt_project.yml), last in the
table and not a feature; DuckDB's table has no such column."""
