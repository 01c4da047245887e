"""Validated loading of the Kaggle CSV files into the warehouse (schema contract, quarantine, audit)."""
