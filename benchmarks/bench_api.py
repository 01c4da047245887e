"""Read API speed on a real publication: answers per second of each endpoint, beside the same rows read straight
from the serving file in the same run (the reference), and the cost of checking a key once (then remembered).

Serves --serving (default: the settings' serving file, e.g. warehouse/serving.duckdb after `make demo`) through
FastAPI's TestClient (the application's own work: key check, fresh read-only connection, queries, validation,
JSON; no network).

    python -m benchmarks.bench_api [--serving PATH] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import duckdb

from warehouse.settings import Settings


def reference(serving: Path, clients: list[int]) -> float:
    """Seconds to read each client's latest row and reasons straight from the serving file (a connection each)."""
    started = time.perf_counter()
    for client in clients:
        with duckdb.connect(str(serving), read_only=True) as con:
            con.execute("SELECT * FROM scores.latest WHERE SK_ID_CURR = ?", [client]).fetchall()
            con.execute(
                "SELECT * FROM scores.reasons r JOIN scores.latest l USING (run_id, SK_ID_CURR) WHERE SK_ID_CURR = ?",
                [client],
            ).fetchall()
    return time.perf_counter() - started


def main() -> None:
    """Time each endpoint on a published serving file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving", type=Path, default=None, help="A published serving file (default: settings).")
    parser.add_argument("--requests", type=int, default=200, help="Requests per endpoint (default 200).")
    args = parser.parse_args()
    serving = (args.serving or Settings.load().serving_path).resolve()
    if not serving.is_file():
        raise SystemExit(f"No serving file at {serving}: run `make demo` first, or pass --serving.")
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import add_key

    home = Path(tempfile.mkdtemp(prefix="bench_api-"))
    settings = Settings(home=home, serving_path=serving)
    _, key = add_key(settings, "bench")
    with duckdb.connect(str(serving), read_only=True) as con:
        ids = [row[0] for row in con.execute("SELECT SK_ID_CURR FROM scores.latest").fetchall()]
    clients = random.Random(42).sample(ids, min(args.requests, len(ids)))
    client = TestClient(create_app(settings), headers={"X-API-Key": key})
    started = time.perf_counter()
    assert client.get("/model-card").status_code == 200
    first = time.perf_counter() - started
    print(
        f"serving file: {serving} ({serving.stat().st_size / 1e6:.0f} MB, {len(ids):,} clients); shared machine: "
        f"{os.cpu_count()} cores"
    )
    print(f"first request (key checked with scrypt, then remembered): {1000 * first:.0f} ms")
    ref = reference(serving, clients)
    print(f"{'endpoint':<28}{'answers/s':>10}{'ms each':>9}{'x reference':>12}")
    print(f"{'reference (duckdb, direct)':<28}{len(clients) / ref:>10.0f}{1000 * ref / len(clients):>9.1f}{1.0:>12.2f}")
    for name, path in (
        ("/clients/{id}/decision", "/clients/{}/decision"),
        ("/clients/{id}/history", "/clients/{}/history"),
        ("/model-card", "/model-card"),
    ):
        started = time.perf_counter()
        for c in clients:
            answer = client.get(path.format(c))
            assert answer.status_code == 200, answer.text
        took = time.perf_counter() - started
        print(f"{name:<28}{len(clients) / took:>10.0f}{1000 * took / len(clients):>9.1f}{took / ref:>12.2f}")


if __name__ == "__main__":
    main()
