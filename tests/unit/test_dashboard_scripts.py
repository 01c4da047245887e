"""The dashboard's page scripts print only what they mean to: Streamlit's "magic" writes every bare expression."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
SCRIPTS = [DASHBOARD / "app.py", *sorted((DASHBOARD / "views").glob("*.py"))]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_bare_string_below_the_module_docstring(script: Path) -> None:
    """A string alone on a line at the top level (say, a constant's docstring) would show on the page."""
    body = ast.parse(script.read_text()).body
    shown = [
        node.lineno
        for node in body[1:]
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    ]
    assert not shown, f"{script.name}: Streamlit would print the strings on lines {shown}: make them comments"
