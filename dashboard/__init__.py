"""The Streamlit dashboard: reads only the published serving database."""

from pathlib import Path

APP_PATH = Path(__file__).parent / "app.py"
"""The entry script for `streamlit run`."""
