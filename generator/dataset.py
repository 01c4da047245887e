"""The built-in data generator: realistic data in the exact layout of the eight Kaggle files.

Each client first gets a latent risk and behaviour propensities, then an application row and histories
(bureau, bureau_balance, previous applications with their POS, card and instalment rows). The true default
probability is then computed from OBSERVABLE per-client quantities only (see `true_default_logit`), so
TRUE_PD is the best probability any model on the files can reach; TARGET ~ Bernoulli(TRUE_PD).
TRUE_PD and the drawn TARGET of every client (test and batch clients included) go to
`truth/true_default_probability.csv`, outside the Kaggle tables.

Identifiers: base clients get SK_ID_CURR = 100002 + i. Nightly batches get
SK_ID_CURR = BATCH_ID_BASE + (days since 1970-01-01) * BATCH_BLOCK + k, so no two dates and no batch and
base data set ever share an id. A client's bureau credits are SK_ID_CURR * 64 + (0..31) and its previous
applications SK_ID_CURR * 64 + 32 + (0..31), so child ids follow from the client id without coordination.

Clients are generated in chunks, each with its own RNG derived from (seed, stream, chunk index); chunks are
rendered to CSV in two worker processes and appended in order, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.pool import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from generator.bureau import bureau_tables
from generator.clients import application_columns
from generator.common import TRUTH_FILE, Columns, Population, per_owner_mean, sigmoid
from generator.outcomes import write_outcomes
from generator.previous import Behaviour, previous_tables
from warehouse.delivery import MANIFEST, write_manifest
from warehouse.schema import BUREAU_BALANCE_STATUSES, DAYS_CODE, OUTCOMES, Table, inputs, tables

FULL_SCALE_CLIENTS = 356_255
TRAIN_CLIENTS, TEST_CLIENTS = 307_511, 48_744
TEST_SHARE = TEST_CLIENTS / FULL_SCALE_CLIENTS
FIRST_ID = 100_002
BATCH_ID_BASE = 10_000_000
BATCH_BLOCK = 100_000
"""Ids available to one batch date: a batch holds at most this many applications."""
MAX_BASE_CLIENTS = BATCH_ID_BASE - FIRST_ID
CHUNK_CLIENTS = 20_000
CHILD_TABLES = (
    "bureau",
    "bureau_balance",
    "previous_application",
    "POS_CASH_balance",
    "credit_card_balance",
    "installments_payments",
)
BASE_STREAM, BATCH_STREAM = 0, 1
POLARS_THREADS = "POLARS_MAX_THREADS"

INTERCEPT = -4.43
"""Calibrated so that about 8% of the base population defaults."""


@dataclass
class GenerationSummary:
    """What one generation wrote: rows and bytes per file, and how long it took."""

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows over all Kaggle files."""
        return sum(self.rows.values())

    @property
    def total_bytes(self) -> int:
        """Bytes over all Kaggle files."""
        return sum(self.bytes.values())

    def as_table(self) -> RichTable:
        """A rich table: one line per file, then the total."""
        table = RichTable(title=f"Generated data in {self.out_dir} ({self.seconds:.1f} s)")
        table.add_column("file")
        table.add_column("rows", justify="right")
        table.add_column("MB", justify="right")
        for name, rows in self.rows.items():
            table.add_row(name, f"{rows:,}", f"{self.bytes[name] / 1e6:,.1f}")
        table.add_row("total", f"{self.total_rows:,}", f"{self.total_bytes / 1e6:,.1f}", style="bold")
        return table


@dataclass(frozen=True)
class _Job:
    """One chunk of clients to generate: ids, which split, population and RNG stream."""

    ids: np.ndarray
    test: np.ndarray
    population: Population
    entropy: tuple[int, ...]


def generate_dataset(out_dir: Path, clients: int, *, seed: int) -> GenerationSummary:
    """Write application_train/test and the six history files for `clients` clients (train and test)."""
    if not 1 <= clients <= MAX_BASE_CLIENTS:
        raise ValueError(f"clients must be between 1 and {MAX_BASE_CLIENTS:,}, got {clients:,}")
    index = np.arange(clients, dtype=np.int64)
    test = np.floor((index + 1) * TEST_SHARE) > np.floor(index * TEST_SHARE)
    jobs = _jobs(FIRST_ID + index, test, Population(), (seed, BASE_STREAM))
    return _write(Path(out_dir), jobs, ["application_train", "application_test", *CHILD_TABLES])


def batch_first_id(batch_date: date) -> int:
    """The first SK_ID_CURR of the id block reserved for one batch date."""
    days = (batch_date - date(1970, 1, 1)).days
    if days < 0:
        raise ValueError(f"batch date {batch_date} is before 1970-01-01")
    return BATCH_ID_BASE + days * BATCH_BLOCK


def generate_batch(
    out_dir: Path,
    batch_date: date,
    applications: int,
    *,
    seed: int,
    drift: bool,
    outcomes: pd.DataFrame | None = None,
) -> GenerationSummary:
    """Write a nightly batch of new applications (application_test layout) with their histories, and the
    observed outcomes of earlier clients given (generator.outcomes.outcome_rows), if any."""
    if not 1 <= applications <= BATCH_BLOCK:
        raise ValueError(f"applications must be between 1 and {BATCH_BLOCK:,} per batch date, got {applications:,}")
    first = batch_first_id(batch_date)
    ids = first + np.arange(applications, dtype=np.int64)
    population = Population().drifted() if drift else Population()
    jobs = _jobs(ids, np.ones(applications, dtype=bool), population, (seed, BATCH_STREAM, first, int(drift)))
    (Path(out_dir) / MANIFEST).unlink(missing_ok=True)  # a batch rewritten in place is incomplete until the end
    summary = _write(Path(out_dir), jobs, ["application_test", *CHILD_TABLES])
    if outcomes is not None:
        summary.rows[OUTCOMES] = write_outcomes(Path(out_dir), outcomes)
        summary.bytes[OUTCOMES] = (Path(out_dir) / inputs()[OUTCOMES].file_name).stat().st_size
    write_manifest(Path(out_dir), [inputs()[name].file_name for name in summary.rows])  # last: the batch is complete
    return summary


def _jobs(ids: np.ndarray, test: np.ndarray, population: Population, stream: tuple[int, ...]) -> list[_Job]:
    """Cut clients into chunks; each chunk's RNG comes from the stream and the chunk's index."""
    return [
        _Job(ids[s : s + CHUNK_CLIENTS], test[s : s + CHUNK_CLIENTS], population, (*stream, s // CHUNK_CLIENTS))
        for s in range(0, len(ids), CHUNK_CLIENTS)
    ]


def _write(out_dir: Path, jobs: list[_Job], files: list[str]) -> GenerationSummary:
    """Render every chunk and append it, in chunk order, to each file (header first) and the truth file."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TRUTH_FILE.parent).mkdir(exist_ok=True)
    schema = tables()
    paths = {name: out_dir / schema[name].file_name for name in files}
    summary = GenerationSummary(out_dir, rows=dict.fromkeys(files, 0))
    handles = {name: path.open("wb") for name, path in paths.items()}
    truth = (out_dir / TRUTH_FILE).open("wb")
    try:
        for name, handle in handles.items():
            handle.write((",".join(schema[name].column_names) + "\n").encode())
        truth.write(b"SK_ID_CURR,TRUE_PD,TARGET\n")
        with _progress() as progress:
            task = progress.add_task("Generating clients", total=len(jobs))
            for rendered, rows in _rendered_chunks(jobs):
                for name in files:
                    handles[name].write(rendered[name])
                    summary.rows[name] += rows[name]
                truth.write(rendered["truth"])
                progress.advance(task)
    finally:
        for handle in [*handles.values(), truth]:
            handle.close()
    summary.bytes = {name: paths[name].stat().st_size for name in files}
    summary.seconds = time.perf_counter() - started
    return summary


def _progress() -> Progress:
    """The progress bar shown over chunks."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )


def _rendered_chunks(jobs: list[_Job]) -> Iterator[tuple[dict[str, bytes], dict[str, int]]]:
    """CSV bytes and row counts of each chunk, in job order (two worker processes when there are many)."""
    if len(jobs) == 1:
        yield _render_chunk(jobs[0])
        return
    with _workers() as pool:
        yield from pool.imap(_render_chunk, jobs)


def _workers() -> Pool:
    """Two spawned worker processes, each rendering with a single polars thread: the two of them already keep two
    cores busy, and polars threads of their own took a tenth more CPU per chunk (1.87 s against 1.66)."""
    previous = os.environ.get(POLARS_THREADS)
    os.environ[POLARS_THREADS] = "1"  # read by polars when a worker imports it; workers start within Pool()
    try:
        return multiprocessing.get_context("spawn").Pool(processes=2)
    finally:
        if previous is None:
            del os.environ[POLARS_THREADS]
        else:
            os.environ[POLARS_THREADS] = previous


def _render_chunk(job: _Job) -> tuple[dict[str, bytes], dict[str, int]]:
    """Generate one chunk of clients and render each of its tables as CSV rows (no header)."""
    chunk = generate_chunk(job.ids, job.test, job.population, job.entropy)
    schema = tables()
    rendered = {name: _csv_rows(schema[name], columns) for name, columns in chunk.items() if name != "truth"}
    rendered["truth"] = _csv_rows(None, chunk["truth"])
    return rendered, {name: len(next(iter(columns.values()))) for name, columns in chunk.items()}


def generate_chunk(
    ids: np.ndarray, test: np.ndarray, population: Population, entropy: tuple[int, ...]
) -> dict[str, Columns]:
    """All tables of one chunk of clients, as columns, plus the truth table (SK_ID_CURR, TRUE_PD, TARGET)."""
    rng = np.random.default_rng(np.random.SeedSequence(list(entropy)))
    n = len(ids)
    risk = rng.standard_normal(n)

    def propensity(weight: float) -> np.ndarray:
        return weight * risk + np.sqrt(1 - weight**2) * rng.standard_normal(n)

    application = application_columns(rng, n, risk, population)
    bureau, balance, bureau_owner = bureau_tables(rng, ids, application["AMT_INCOME_TOTAL"], propensity(0.8))
    behaviour = Behaviour(refusal=propensity(0.7), late=propensity(0.8), utilisation=propensity(0.7))
    previous, owners = previous_tables(rng, ids, behaviour)
    owners["bureau"] = bureau_owner
    observed = observable_quantities(application, bureau, balance, previous, owners, n)
    true_pd = sigmoid(true_default_logit(observed))
    target = (rng.random(n) < true_pd).astype(np.int64)

    application["SK_ID_CURR"] = ids
    train = {name: values[~test] for name, values in application.items()} | {"TARGET": target[~test]}
    return {
        "application_train": train,
        "application_test": {name: values[test] for name, values in application.items()},
        "bureau": bureau,
        "bureau_balance": balance,
        **previous,
        "truth": {"SK_ID_CURR": ids, "TRUE_PD": np.round(true_pd, 9), "TARGET": target},
    }


def observable_quantities(
    application: Columns,
    bureau: Columns,
    balance: Columns,
    previous: dict[str, Columns],
    owners: dict[str, np.ndarray],
    n: int,
) -> dict[str, np.ndarray]:
    """Per-client quantities a feature store gets from the files with plain SQL aggregates (NaN = no rows).

    bureau_overdue_count: count(*) filter (CREDIT_DAY_OVERDUE > 0) over the client's bureau rows (0 if none);
    bureau_active_debt_income: sum(AMT_CREDIT_SUM_DEBT) filter (CREDIT_ACTIVE = 'Active') / AMT_INCOME_TOTAL;
    bureau_balance_late_share: avg(STATUS in ('1'..'5')) over bureau_balance rows of the client's credits;
    previous_refused_share: avg(NAME_CONTRACT_STATUS = 'Refused');
    installment_late_share: avg(DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT) over paid instalments;
    installment_short_share: avg(AMT_PAYMENT < AMT_INSTALMENT) over paid instalments;
    pos_dpd_share: avg(SK_DPD > 0) over POS_CASH_balance rows;
    card_utilisation: avg(AMT_BALANCE / AMT_CREDIT_LIMIT_ACTUAL) over credit_card_balance rows.
    """
    income = application["AMT_INCOME_TOTAL"]
    days_employed = application["DAYS_EMPLOYED"].astype(float)
    b_owner = owners["bureau"]
    active = bureau["CREDIT_ACTIVE"] == 1
    bb_owner = b_owner[np.searchsorted(bureau["SK_ID_BUREAU"], balance["SK_ID_BUREAU"])]
    inst = previous["installments_payments"]
    paid = ~np.isnan(inst["DAYS_ENTRY_PAYMENT"])
    inst_owner = owners["installments_payments"][paid]
    card = previous["credit_card_balance"]
    return {
        "ext_source_1": application["EXT_SOURCE_1"],
        "ext_source_2": application["EXT_SOURCE_2"],
        "ext_source_3": application["EXT_SOURCE_3"],
        "age_years": -application["DAYS_BIRTH"] / 365.25,
        "employed_years": np.where(days_employed == DAYS_CODE, np.nan, -days_employed / 365.25),
        "credit_income": application["AMT_CREDIT"] / income,
        "annuity_income": application["AMT_ANNUITY"] / income,
        "credit_goods": application["AMT_CREDIT"] / application["AMT_GOODS_PRICE"],
        "male": (application["CODE_GENDER"] == 1).astype(float),
        "higher_education": (application["NAME_EDUCATION_TYPE"] == 1).astype(float),
        "region_rating": application["REGION_RATING_CLIENT"].astype(float),
        "bureau_overdue_count": np.bincount(b_owner, weights=bureau["CREDIT_DAY_OVERDUE"] > 0, minlength=n),
        "bureau_active_debt_income": np.bincount(
            b_owner[active], weights=np.nan_to_num(bureau["AMT_CREDIT_SUM_DEBT"][active]), minlength=n
        )
        / income,
        "bureau_balance_late_share": per_owner_mean(
            bb_owner, (balance["STATUS"] >= BUREAU_BALANCE_STATUSES.index("1")).astype(float), n
        ),
        "previous_refused_share": per_owner_mean(
            owners["previous_application"], (previous["previous_application"]["NAME_CONTRACT_STATUS"] == 2), n
        ),
        "installment_late_share": per_owner_mean(
            inst_owner, (inst["DAYS_ENTRY_PAYMENT"][paid] > inst["DAYS_INSTALMENT"][paid]).astype(float), n
        ),
        "installment_short_share": per_owner_mean(
            inst_owner, (inst["AMT_PAYMENT"][paid] < inst["AMT_INSTALMENT"][paid]).astype(float), n
        ),
        "pos_dpd_share": per_owner_mean(
            owners["POS_CASH_balance"], (previous["POS_CASH_balance"]["SK_DPD"] > 0).astype(float), n
        ),
        "card_utilisation": per_owner_mean(
            owners["credit_card_balance"], card["AMT_BALANCE"] / card["AMT_CREDIT_LIMIT_ACTUAL"], n
        ),
    }


RISK_WEIGHTS = {
    "ext_source_1": -0.28,
    "ext_source_2": -0.32,
    "ext_source_3": -0.32,
    "age": -0.16,
    "employment": -0.16,
    "credit_income": 0.16,
    "annuity_income": 0.1,
    "credit_goods": 0.64,
    "male": 0.2,
    "higher_education": -0.24,
    "region_rating": 0.16,
    "bureau_overdue": 0.48,
    "bureau_debt": 0.2,
    "bureau_balance_late": 4.8,
    "previous_refused": 0.96,
    "installment_late": 4.0,
    "installment_short": 3.2,
    "pos_dpd": 2.4,
    "card_utilisation": 1.2,
}
"""Weight of each term of the planted risk model (terms in `risk_terms`)."""


def risk_terms(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Smooth, monotone transforms of the observable quantities entering the risk model (NaN = missing)."""
    return {
        "ext_source_1": (x["ext_source_1"] - 0.5) / 0.2,
        "ext_source_2": (x["ext_source_2"] - 0.5) / 0.2,
        "ext_source_3": (x["ext_source_3"] - 0.5) / 0.2,
        "age": (np.clip(x["age_years"], 20, 70) - 43) / 12,
        "employment": np.log1p(np.clip(x["employed_years"], 0, 40)) - 1.6,
        "credit_income": np.log(x["credit_income"] / 3.3),
        "annuity_income": (np.clip(x["annuity_income"], 0, 0.6) - 0.17) / 0.1,
        "credit_goods": np.clip(x["credit_goods"], 1.0, 1.3) - 1.1,
        "male": x["male"],
        "higher_education": x["higher_education"],
        "region_rating": x["region_rating"] - 2,
        "bureau_overdue": np.minimum(x["bureau_overdue_count"], 3),
        "bureau_debt": np.log1p(np.minimum(x["bureau_active_debt_income"], 20)),
        "bureau_balance_late": x["bureau_balance_late_share"],
        "previous_refused": x["previous_refused_share"],
        "installment_late": x["installment_late_share"],
        "installment_short": x["installment_short_share"],
        "pos_dpd": x["pos_dpd_share"],
        "card_utilisation": x["card_utilisation"] - 0.3,
    }


def true_default_logit(x: dict[str, np.ndarray]) -> np.ndarray:
    """The planted risk model: a weighted sum of `risk_terms` (a missing quantity adds nothing)."""
    terms = risk_terms(x)
    return INTERCEPT + np.sum([RISK_WEIGHTS[k] * np.nan_to_num(t, nan=0.0) for k, t in terms.items()], axis=0)


def _csv_rows(table: Table | None, columns: Columns) -> bytes:
    """CSV rows (no header) of one chunk: columns in schema order, codes as domain values, NaN as empty."""
    if table is None:
        names, arrays = list(columns), [_arrow(None, values) for values in columns.values()]
    else:
        names = table.column_names
        missing = set(names) - set(columns)
        if missing:
            raise KeyError(f"generator produced no column(s) {sorted(missing)} for {table.file_name}")
        arrays = [_arrow(table.columns[i].domain, columns[name]) for i, name in enumerate(names)]
    # Polars renders CSV in half the CPU time of Arrow's writer (1.27 s against 0.63 s for the eight tables of
    # a 20,000-client chunk, one thread each), and quotes a value only where it holds a comma, as Kaggle's files do.
    sink = io.BytesIO()
    pl.DataFrame(pa.Table.from_arrays(arrays, names=names)).write_csv(sink, include_header=False)
    return sink.getvalue()


def _arrow(domain: tuple[str, ...] | None, values: np.ndarray) -> pa.Array:
    """An Arrow array for one column: dictionary-encoded strings for coded columns, null for NaN or -1."""
    if domain is not None:
        codes = values.astype(np.int32)
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(domain))
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        filled = np.where(missing, 0.0, values)
        if np.all(filled == np.round(filled)) and np.all(np.abs(filled) < 2**53):
            # A column of whole numbers is written as integers ("1", not "1.0"): shorter, faster, never "-0".
            return pa.array(filled.astype(np.int64), mask=missing)
        return pa.array(filled + 0.0, mask=missing)
    return pa.array(values.astype(np.int64))
