from __future__ import annotations

import io

import polars as pl
from rich.console import Console

from labelkit.report import markdown_table, rich_table


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
