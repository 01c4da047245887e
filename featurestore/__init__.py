"""The feature store's builder: runs the dbt project in `dbt/` and generates its documentation."""
