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


def accuracy_with_interval(summary: pl.DataFrame) -> pl.DataFrame:
    """An LF summary for reading: ``accuracy`` and its 95% interval merged into one
    text column, e.g. ``0.952 (0.77-0.99)``; unchanged if it has no accuracy.

    Examples
    --------
    >>> rich_table(accuracy_with_interval(summarize_lfs(ws, split="dev")))
    """
    if "accuracy_low" not in summary.columns:
        return summary
    shown = [
        None if accuracy is None else f"{accuracy:.3f} ({low:.2f}-{high:.2f})"
        for accuracy, low, high in summary.select(
            "accuracy", "accuracy_low", "accuracy_high"
        ).rows()
    ]
    return summary.with_columns(pl.Series("accuracy (95% CI)", shown, pl.String)).drop(
        "accuracy", "accuracy_low", "accuracy_high"
    )
