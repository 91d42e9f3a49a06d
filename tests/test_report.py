from __future__ import annotations

import io

import polars as pl
from rich.console import Console

from labelkit.report import accuracy_with_interval, markdown_table, rich_table


def test_cells_are_shown_verbatim_never_as_markup() -> None:
    frame = pl.DataFrame({"text": ["[bold]buy[/bold] :smile: now"], "score": [0.12345]})
    out = io.StringIO()
    Console(file=out, width=120).print(rich_table(frame))
    assert "[bold]buy[/bold] :smile: now" in out.getvalue()
    assert "0.123" in out.getvalue()


def test_markdown_table() -> None:
    frame = pl.DataFrame({"method": ["mv", "lm"], "accuracy": [0.9, None], "n": [1234.0, 2.0]})
    assert markdown_table(frame).splitlines() == [
        "| method | accuracy | n |",
        "| --- | --- | --- |",
        "| mv | 0.900 | 1,234 |",
        "| lm | – | 2.000 |",
    ]


def test_accuracy_with_interval_merges_three_columns_for_reading() -> None:
    summary = pl.DataFrame(
        {
            "lf": ["a", "b"],
            "accuracy": [1.0, None],
            "accuracy_low": [0.7942, None],
            "accuracy_high": [1.0, None],
        }
    )
    shown = accuracy_with_interval(summary)
    assert shown.columns == ["lf", "accuracy (95% CI)"]
    assert shown["accuracy (95% CI)"].to_list() == ["1.000 (0.79-1.00)", None]
    no_gold = pl.DataFrame({"lf": ["a"], "coverage": [0.5]})
    assert accuracy_with_interval(no_gold).equals(no_gold)
