"""The README's commands work: every code block runs on a served home, every command it names exists.

Blocks run as written, in the folder a fresh clone would be (the home, with the project's .venv), with two kinds
of substitution only: the placeholder folders of the examples (`/path/to/...`, `/data/...`) become real ones, and
`make demo` / `make test`, which are this test suite's own callers, are not run again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from cli.app import app
from tests.conftest import TEST_FOLDS, copy_home
from warehouse.settings import PROJECT_ROOT, Settings

README = PROJECT_ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`credit-scoring ([^`]+)`")
NOT_RUN = ("make demo", "make test")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    language: str
    text: str
    line: int

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.language})"


def blocks(language: str) -> Iterator[Block]:
    """The README's fenced blocks in a language."""
    text = README.read_text()
    for match in FENCE.finditer(text):
        if match.group(1) == language:
            yield Block(language, match.group(2), text.count("\n", 0, match.start()) + 1)


@pytest.fixture(scope="module")
def home(served_warehouse: Settings, small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of a served home laid out as a fresh clone after `make demo`: data under warehouse/, a .venv, and
    the fairness check a night runs."""
    folder = tmp_path_factory.mktemp("readme_home")
    copy_home(served_warehouse, folder)
    (folder / ".venv").symlink_to(Path(sys.prefix))
    # what a night adds beside the scores: the backtesting table (empty until outcomes arrive) and the fairness
    # check, which publishes them both
    for command in ("performance --compute", "fairness"):
        done = run(f".venv/bin/credit-scoring {command}", folder, {})
        assert done.returncode == 0, done.stdout + done.stderr
    return folder


def run(command: str | list[str], home: Path, substitutions: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a README command in the home, as a newcomer's shell would (the .venv's tools on the PATH)."""
    if isinstance(command, str):
        for placeholder, real in substitutions.items():
            command = command.replace(placeholder, real)
        command = ["bash", "-euo", "pipefail", "-c", command]
    env = {
        **os.environ,
        "PATH": f"{home / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CREDIT_SCORING_HOME": str(home),
        "CREDIT_SCORING_CV_FOLDS": str(TEST_FOLDS),
        "COLUMNS": "200",
    }
    return subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_every_shell_block_runs(home: Path, small_dataset: Path, tmp_path: Path) -> None:
    """Each bash block exits 0 (ingest, build, train, the analysts' duckdb shell, the read API with curl...)."""
    substitutions = {
        "/path/to/home-credit-default-risk": str(small_dataset),
        "/data/kaggle": str(small_dataset),
        "/data/credit": str(tmp_path / "credit"),
    }
    ran = 0
    for block in blocks("bash"):
        script = "\n".join(line for line in block.text.splitlines() if not line.startswith(NOT_RUN))
        if not script.strip():
            continue
        # one shell per block, as a reader pastes it; a server it starts in the background dies with it
        result = run(f"trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}", home, substitutions)
        assert result.returncode == 0, f"{block}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        ran += 1
    assert ran >= 4
    assert (tmp_path / "credit" / "warehouse" / "warehouse.duckdb").exists()


def test_the_analysts_duckdb_shell_reads_the_serving_file(home: Path) -> None:
    """The README's `duckdb` command answers with the decisions (the CLI opens the serving file's format)."""
    [line] = [line for b in blocks("bash") for line in b.text.splitlines() if line.startswith(".venv/bin/duckdb")]
    result = run(line, home, {})
    assert result.returncode == 0, result.stderr
    assert "accept" in result.stdout and "refuse" in result.stdout


@pytest.mark.parametrize("block", list(blocks("python")), ids=str)
def test_every_python_block_runs(home: Path, block: Block) -> None:
    """Each Python example runs and prints rows from the serving file."""
    result = run([sys.executable, "-c", block.text], home, {})
    assert result.returncode == 0, f"{block}\n{result.stderr[-3000:]}"
    assert block.text.count(".show(") <= result.stdout.count("┌"), f"{block}: a query printed nothing"


@pytest.mark.parametrize("block", list(blocks("sql")), ids=str)
def test_every_sql_block_runs_in_the_duckdb_shell(home: Path, block: Block) -> None:
    """Each SQL example runs in the duckdb shell on the serving file."""
    result = run(
        [str(home / ".venv" / "bin" / "duckdb"), "-readonly", "warehouse/serving.duckdb", "-c", block.text], home, {}
    )
    assert result.returncode == 0 and "Error" not in result.stderr, f"{block}\n{result.stderr}"
    assert "│" in result.stdout, f"{block}: no result\n{result.stdout}"  # backtesting has no rows before outcomes


def test_every_command_the_prose_names_exists() -> None:
    """Each `credit-scoring ...` in the text names a real command, and each of its options exists."""
    root: Any = typer.main.get_command(app)  # typer's own click: a group has `commands`
    named = INLINE.findall(README.read_text())
    assert len(named) >= 10
    for usage in named:
        words = usage.replace("[", " ").replace("]", " ").split()
        command = root
        while hasattr(command, "commands") and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert command is not root, f"`credit-scoring {usage}`: no such command"
        options = {opt for param in command.params for opt in param.opts}
        for word in words:
            if word.startswith("-"):
                assert word in options, f"`credit-scoring {usage}`: {command.name} has no {word} option"
