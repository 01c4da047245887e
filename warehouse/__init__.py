"""The base layer: settings, the DuckDB warehouse, the clock, documented tables and the data contracts."""
