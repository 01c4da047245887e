"""The built-in data generator: realistic data in the exact Kaggle file layout, with planted, known risk."""
