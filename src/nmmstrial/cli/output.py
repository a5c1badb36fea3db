"""Printing results: JSON for scripts, rich tables for people, from one `to_dict()`."""

from __future__ import annotations

import json
import math
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if abs(value) < 1e-3 and value != 0:
            return f"{value:.4g}"
        return f"{value:.4f}".rstrip("0").removesuffix(".")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


def emit(result: dict[str, Any], *, as_json: bool, title: str) -> None:
    """Print `result` as JSON, or as tables (lists of rows) and key: value lines."""
    if as_json:
        click.echo(json.dumps(result, indent=2, allow_nan=False))
        return
    console = Console(soft_wrap=False, width=max(Console().width, 200))
    console.print(f"[bold]{title}[/bold]")
    for key, value in result.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            table = Table(title=key)
            for i, column in enumerate(value[0]):
                table.add_column(column, no_wrap=i == 0)  # the row's name stays whole
            for row in value:
                table.add_row(*(cell(row.get(c)) for c in value[0]))
            console.print(table)
        else:
            console.print(f"{key}: {cell(value)}")
