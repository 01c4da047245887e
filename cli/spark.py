"""`spark-cluster`: a Spark standalone cluster on this machine, in the foreground until Ctrl-C."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cli.common import console

app = typer.Typer()


@app.command("spark-cluster")
def spark_cluster(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, help="Number of workers.")] = 2,
    cores: Annotated[int, typer.Option(min=1, help="Cores each worker offers.")] = 1,
    memory: Annotated[str, typer.Option(help="Memory each worker offers its executors, e.g. 2g.")] = "2g",
) -> None:
    """Run a Spark standalone master and workers on 127.0.0.1 until Ctrl-C; print the master URL to use."""
    from warehouse.spark_cluster import ClusterStartError, SparkCluster

    cluster = SparkCluster(ctx.obj, workers=workers, cores=cores, memory=memory)
    try:
        with cluster:
            console.print(f"Spark master {cluster.master_url} with {workers} worker(s), web UI {cluster.ui_url}")
            console.print(f"Logs in {cluster.folder}. Use it with CREDIT_SCORING_SPARK_MASTER={cluster.master_url}")
            console.print("Ctrl-C stops the cluster.")
            while cluster.alive():
                time.sleep(1)
            console.print("[bold red]A Spark daemon exited[/]: see the logs.")
            raise typer.Exit(code=1)
    except ClusterStartError as error:
        console.print(f"[bold red]{error}[/]")
        raise typer.Exit(code=1) from error
    except KeyboardInterrupt:
        console.print("Cluster stopped.")
