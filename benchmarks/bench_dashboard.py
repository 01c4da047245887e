"""Dashboard page speed: every page rendered (script run, queries, figures) cold and warm, on a real publication.

Serves --serving (default: the settings' serving file, e.g. warehouse/serving.duckdb after `make demo`).
Cold = first view after a publication (empty query cache); warm = the next view. Times are those of Streamlit's
AppTest (the server side of a page view, without the browser drawing it).

    python -m benchmarks.bench_dashboard [--serving PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from warehouse.database import one_row
from warehouse.settings import Settings

PAGES = ("client", "population", "portfolio", "model", "monitoring")


def peak_mb() -> float:
    """Peak resident memory of this process, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_pages(client: int) -> list[tuple[str, float, float]]:
    """(page, cold seconds, warm seconds) for each page, the client searched first."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import APP_PATH
    from dashboard.ui import USER_KEY

    at = AppTest.from_file(str(APP_PATH), default_timeout=120)
    at.session_state[USER_KEY] = "bench"
    at.run()
    at.text_input(key="client_search").input(str(client)).run()
    results = []
    for page in PAGES:
        st.cache_data.clear()
        at.switch_page(f"views/{page}.py")
        started = time.perf_counter()
        at.run()
        cold = time.perf_counter() - started
        started = time.perf_counter()
        at.run()
        warm = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(f"page {page} failed: {at.exception[0].value}")
        results.append((page, cold, warm))
    return results


def main() -> None:
    """Time every page on a published serving file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--serving",
        type=Path,
        default=None,
        help="A published serving file of the real pipeline (default: the settings' serving_path, e.g. after "
        "`make demo`; the full-scale one after `python -m benchmarks.bench_night`).",
    )
    args = parser.parse_args()
    serving = args.serving or Settings.load().serving_path
    if not serving.is_file():
        raise SystemExit(f"No serving file at {serving}: run `make demo` (or bench_night) first, or pass --serving.")
    os.environ["CREDIT_SCORING_SERVING_PATH"] = str(serving.resolve())
    import duckdb

    with duckdb.connect(str(serving), read_only=True) as con:
        rows = one_row(con, "SELECT count(*) FROM scores.explanations")[0]
        client = one_row(con, "SELECT max(SK_ID_CURR) FROM scores.latest")[0]
    print(f"serving file: {serving} ({serving.stat().st_size / 1e6:.0f} MB, {rows:,} explanation rows)")
    print(f"{'page':<12}{'cold s':>8}{'warm s':>8}")
    for page, cold, warm in time_pages(client):
        print(f"{page:<12}{cold:>8.2f}{warm:>8.2f}")
    print(f"peak memory: {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
