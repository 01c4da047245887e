"""A Spark standalone cluster on this machine: one master and N workers started with pyspark's own launcher
(bin/spark-class), on the loopback address and free ports, so tests and a developer can run the warehouse's Spark
jobs on a real cluster (separate executor JVMs and Python workers) rather than inside the driver.

    with SparkCluster(settings, workers=2) as cluster:
        spark = spark_session(settings, master=cluster.master_url)

Logs and work directories live under Settings.spark_dir/cluster/<start>/ (owner-only); every process is stopped,
with the process group it leads (executors and their Python workers), when the block ends, even on errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from warehouse.clock import utc_now
from warehouse.database import private_dir
from warehouse.processes import child_setup, kill_group
from warehouse.settings import Settings
from warehouse.spark import LOOPBACK, spark_environment

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HOST = LOOPBACK
DAEMON_MEMORY = "512m"
"""Heap of the master and worker daemons themselves (executors get the worker's --memory)."""
STOP_GRACE_S = 10.0
POLL_S = 0.25


class ClusterStartError(RuntimeError):
    """The cluster did not come up: a process exited or the workers did not register in time."""


@dataclass
class ClusterProcess:
    """One daemon of the cluster: its process (leader of its own group) and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class SparkCluster:
    """A standalone Spark master and `workers` workers (each `cores` cores, `memory` for executors)."""

    settings: Settings
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    timeout_s: float = 120.0
    folder: Path | None = None
    """Where this start's logs and work directories are (set by start)."""
    master_port: int = 0
    ui_port: int = 0
    processes: list[ClusterProcess] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        """The master's URL, what `spark_session(settings, master=...)` takes."""
        return f"spark://{HOST}:{self.master_port}"

    @property
    def ui_url(self) -> str:
        """The master's web UI."""
        return f"http://{HOST}:{self.ui_port}"

    def __enter__(self) -> SparkCluster:
        """Start the cluster."""
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Stop the cluster."""
        self.stop()

    def start(self) -> None:
        """Start the master and the workers and wait until every worker is registered (stopping all on failure)."""
        ports = free_ports(2 + 2 * self.workers)
        self.master_port, self.ui_port = ports[0], ports[1]
        stamp = utc_now().strftime("%Y%m%dT%H%M%S")
        self.folder = private_dir(self.settings.spark_dir / "cluster" / f"{stamp}-{self.master_port}")
        try:
            self._launch("master", [MASTER_CLASS, "--host", HOST, "--port", str(self.master_port)], self.ui_port)
            self._wait(lambda state: True, "the master to answer")
            for n in range(self.workers):
                self._launch_worker(n + 1, ports[2 + 2 * n], ports[3 + 2 * n])
            self._wait(lambda state: int(state.get("aliveworkers", 0)) >= self.workers, "the workers to register")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process of the cluster with its process group: SIGTERM, then SIGKILL after a grace period."""
        for daemon in reversed(self.processes):
            _terminate_group(daemon.process)
        for daemon in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.process.wait(timeout=STOP_GRACE_S)
            kill_group(daemon.process.pid)  # whatever of the group is left: executors, Python workers
            daemon.process.wait()
        self.processes.clear()

    def alive(self) -> bool:
        """Whether every daemon is still running."""
        return bool(self.processes) and all(d.process.poll() is None for d in self.processes)

    def _launch_worker(self, number: int, port: int, ui_port: int) -> None:
        """Start worker `number`, with its own work directory."""
        assert self.folder is not None
        work = private_dir(self.folder / f"work-{number}")
        arguments = [WORKER_CLASS, self.master_url, "--host", HOST, "--port", str(port)]
        arguments += ["--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(work)]
        self._launch(f"worker-{number}", arguments, ui_port)

    def _launch(self, name: str, arguments: list[str], ui_port: int) -> None:
        """Start one daemon with spark-class, its output in <folder>/<name>.log."""
        assert self.folder is not None
        log = self.folder / f"{name}.log"
        env = {
            **os.environ,
            **spark_environment(),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            "SPARK_LOCAL_DIRS": str(private_dir(self.folder / "tmp")),
            "SPARK_LOG_DIR": str(self.folder),
        }
        command = [str(spark_class()), *arguments, "--webui-port", str(ui_port)]
        setup = child_setup()

        def owner_only_child() -> None:
            os.umask(0o077)
            setup()

        with log.open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                preexec_fn=owner_only_child,
            )  # fmt: skip
        self.processes.append(ClusterProcess(name, process, log))

    def _wait(self, ready: Callable[[dict[str, Any]], bool], what: str) -> None:
        """Poll the master's /json until `ready`; ClusterStartError naming the log on exit or timeout."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for daemon in self.processes:
                if daemon.process.poll() is not None:
                    raise ClusterStartError(
                        f"Spark {daemon.name} exited with code {daemon.process.returncode} while waiting for {what}; "
                        f"see {daemon.log}"
                    )
            state = self.state()
            if state is not None and ready(state):
                return
            time.sleep(POLL_S)
        logs = ", ".join(str(d.log) for d in self.processes)
        raise ClusterStartError(f"Timed out after {self.timeout_s:.0f} s waiting for {what}; see {logs}")

    def state(self) -> dict[str, Any] | None:
        """The master's state (its web UI's /json), or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.ui_url}/json", timeout=2) as response:
                state: dict[str, Any] = json.load(response)
                return state
        except (urllib.error.URLError, OSError, ValueError):
            return None


def spark_class() -> Path:
    """pyspark's launcher of Spark's JVM classes (bin/spark-class of the installed pyspark)."""
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on the loopback address now (the OS picks them)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """Ask a daemon and the process group it leads to stop (ignored if already gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
