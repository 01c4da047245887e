"""Dashboard page speed: every page rendered (script run, queries, figures) cold and warm, at demo size.

Serves --serving if given (e.g. warehouse/serving.duckdb after `make demo`), else a stand-in serving file
of --clients clients and --features features (TEMPORARY: tests/dashboard_standin.py, until the real pipeline
publishes one). Cold = first view after a publication (empty query cache); warm = the next view. Times are
those of Streamlit's AppTest (the server side of a page view, without the browser drawing it).

    python -m benchmarks.bench_dashboard [--serving PATH] [--clients 20000] [--features 300]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

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
        at.switch_page(f"pages/{page}.py")
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
    """Build or take a serving file, then print the time of each page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving", type=Path)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        serving = args.serving
        if serving is None:
            from tests.dashboard_standin import STANDIN_WEIGHTS, build_standin_serving

            serving = Path(scratch) / "serving.duckdb"
            started = time.perf_counter()
            build_standin_serving(
                serving, clients=args.clients, nights=3, extra_features=max(args.features - len(STANDIN_WEIGHTS), 0)
            )
            print(
                f"stand-in: {args.clients:,} clients x {args.features} features "
                f"built in {time.perf_counter() - started:.1f} s"
            )
        os.environ["CREDIT_SCORING_SERVING_PATH"] = str(serving.resolve())
        import duckdb

        with duckdb.connect(str(serving), read_only=True) as con:
            rows = con.execute("SELECT count(*) FROM scores.explanations").fetchone()[0]
            client = con.execute("SELECT max(SK_ID_CURR) FROM scores.latest").fetchone()[0]
        print(f"serving file: {serving} ({serving.stat().st_size / 1e6:.0f} MB, {rows:,} explanation rows)")
        print(f"{'page':<12}{'cold s':>8}{'warm s':>8}")
        for page, cold, warm in time_pages(client):
            print(f"{page:<12}{cold:>8.2f}{warm:>8.2f}")
    print(f"peak memory: {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
