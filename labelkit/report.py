"""Showing result frames: as rich tables in the terminal and as Markdown in reports."""

from __future__ import annotations

import polars as pl
from rich.table import Table
from rich.text import Text


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def rich_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """A rich table of ``frame``, floats rounded for reading.

    Examples
    --------
    >>> Console().print(rich_table(lf_summary(L), title="labeling functions"))
    """
    table = Table(title=title, title_justify="left")
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        # Text, not str: cells hold user data, which must never be read as rich markup.
        table.add_row(*(Text(_cell(value)) for value in row))
    return table


def markdown_table(frame: pl.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame``.

    Examples
    --------
    >>> print(markdown_table(pl.DataFrame({"method": ["mv"], "accuracy": [0.9]})))
    | method | accuracy |
    | --- | --- |
    | mv | 0.900 |
    """
    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)
