"""Showing result frames: as rich tables in the terminal and as Markdown in reports."""

from __future__ import annotations

from typing import IO

import polars as pl
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

# Outside a terminal, the width a table may take: more than any table of names and
# figures needs, so that each takes its own width.
UNBOUNDED = 10_000


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def make_console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console for labelkit's output. In a terminal, lines wrap and tables fit its
    width. Anywhere else (a pipe, ``| tee``, a file, a CI log) there is no width to fit,
    so lines are neither wrapped nor cut and tables from ``rich_table`` take their full
    width: a name is never cut short (rich would fit everything to 80 columns).

    Examples
    --------
    >>> make_console().print(rich_table(summarize_lfs(ws), title="labeling functions"))
    """
    # emoji=False: names like "llm:m:" must print as written, not as emoji codes.
    console = Console(stderr=stderr, file=file, emoji=False)
    console.soft_wrap = not console.is_terminal
    return console


class _FrameTable(Table):
    """A table that fits the console's width in a terminal and takes its own elsewhere."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not options.is_terminal:
            options = options.update(max_width=UNBOUNDED)
        return super().__rich_console__(console, options)


def rich_table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """A rich table of ``frame``, floats rounded for reading. It fits a terminal's width;
    printed anywhere else it takes its full width (see ``make_console``).

    Examples
    --------
    >>> make_console().print(rich_table(summarize_lfs(ws), title="labeling functions"))
    """
    table = _FrameTable(title=title, title_justify="left")
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        # Text, not str: cells hold user data, which must never be read as rich markup.
        table.add_row(*(Text(_cell(value)) for value in row))
    return table


def one_line(column: str, width: int = 60) -> pl.Expr:
    """A text column for a table cell: every run of whitespace (line breaks too) as one
    space, and cut to ``width`` characters, the last an ellipsis, where longer.

    Examples
    --------
    >>> pl.DataFrame({"text": ["buy\\n\\nnow, cheap pills"]}).select(one_line("text", 12)).item()
    'buy now, ch…'
    """
    # U+FEFF (a byte-order mark, common in scraped comments) is invisible yet takes a
    # column in a table, which would break its borders.
    text = pl.col(column).str.replace_all(r"[\s\x{FEFF}]+", " ").str.strip_chars()
    return (
        pl.when(text.str.len_chars() > width)
        .then(pl.concat_str(text.str.slice(0, width - 1), pl.lit("…")))
        .otherwise(text)
        .alias(column)
    )


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
