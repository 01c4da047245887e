"""Each nightly step in a process of its own: a time limit that really stops it, and nothing left behind.

A step runs in a child process forked from a multiprocessing fork server (a clean process that imported the
jobs once: no thread pool or OpenMP state of the caller is copied, so LightGBM and DuckDB are safe to use in
the child, and starting a step costs milliseconds). The child leads its own process group and dies with its
parent: the fork server exits when the nightly run's process ends for any reason (SIGKILL included), and the
kernel then kills the step, whose own children (dbt) die with it in turn. A step past its time limit is
killed with its whole group; the caller records why. Nothing a step does needs the caller's memory: its
inputs and its result travel through a pipe.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from warehouse.errors import plain_message
from warehouse.processes import die_with_parent, kill_group

PRELOAD = [
    "scheduler.nightly",
    "ingest.load",
    "featurestore.build",
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "scoring.score",
    "scoring.publish",
    "monitoring.drift",
    "evidently.legacy.metric_preset",
    "evidently.legacy.report",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
]
"""Modules the fork server imports once, so each step starts without importing them again (evidently's
report alone costs seconds of CPU: hundreds of pydantic classes; MLflow's stores, which every step that loads
the champion opens, most of a second; dbt and its DuckDB adapter, two seconds that featurestore.build's run_dbt
saves by forking a step that already imported them)."""
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


class StepError(RuntimeError):
    """A step did not complete: it raised, ran past its time limit, or its process was killed."""

    def __init__(self, message: str, cause: BaseException | None = None, details: str = "") -> None:
        super().__init__(message)
        self.cause, self.details = cause, details
        """The step's own exception (when it could travel back) and its traceback, for the log."""


class StepTimedOut(StepError):
    """The step ran past its time limit and was killed."""


@dataclass(frozen=True)
class _Failure:
    """What a failed step sends back: a plain message, the exception when it can be pickled, the traceback."""

    message: str
    error: BaseException | None
    details: str


def start_fork_server() -> None:
    """Start the fork server now (it imports the jobs while the caller does other work)."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


def warm_fork_server(timeout_s: float = 600) -> None:
    """Start the fork server and wait until it has imported the jobs (a step started then waits for nothing)."""
    run_isolated(_nothing, (), timeout_s)


def _nothing() -> None:
    """A step that does nothing: its child is forked once the fork server is ready."""


def run_isolated(function: Callable[..., Any], args: tuple, timeout_s: float) -> Any:
    """function(*args) in a child process; its result, or StepError saying why there is none."""
    receive, send = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(send, function, args), daemon=False)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise StepTimedOut(f"timed out after {timeout_s:,.0f} s (its process was stopped)")
        try:
            kind, payload = receive.recv()
        except EOFError:
            child.join()
            raise StepError(_death(child.exitcode)) from None
    except BaseException:
        if child.pid:  # a timeout, or the caller was interrupted (Ctrl-C): stop the step now
            kill_group(child.pid)
        raise
    finally:
        child.join()
        receive.close()
    if kind == "failed":
        raise StepError(payload.message, payload.error, payload.details)
    return payload


def _child(send: Connection, function: Callable[..., Any], args: tuple) -> None:
    """The step process: its own process group, bound to its parent's life; sends its result or failure."""
    os.setpgid(0, 0)
    die_with_parent(os.getppid())
    try:
        outcome: tuple[str, Any] = ("done", function(*args))
    except BaseException as error:  # everything goes back to the caller, which records it
        outcome = ("failed", _Failure(plain_message(error), _picklable(error), traceback.format_exc()))
    try:
        send.send(outcome)
    except Exception as error:  # a result that cannot be pickled is a bug: say so rather than hang
        send.send(("failed", _Failure(plain_message(error), None, traceback.format_exc())))
    send.close()


def _picklable(error: BaseException) -> BaseException | None:
    """The exception if it survives pickling (the caller may act on its type), else None."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return None
    return error


def _death(exitcode: int | None) -> str:
    """Why a step process ended without a result, in words."""
    if exitcode is not None and exitcode < 0:
        name = {9: "SIGKILL: out of memory, or killed by someone", 15: "SIGTERM"}.get(-exitcode, f"signal {-exitcode}")
        return f"its process was killed ({name}) before it finished"
    return f"its process ended (exit code {exitcode}) before it finished"
