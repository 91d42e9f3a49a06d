from __future__ import annotations

import io
import time

import polars as pl
import pytest
from rich.console import Console
from rich.text import Text

from labelkit import report
from labelkit.report import (
    accuracy_with_interval,
    from_span,
    make_console,
    markdown_table,
    one_line,
    progress_bar,
    rich_table,
    still_running,
)

LONG_NAME = "keyword_subscribe_to_my_channel_and_check_out_my_other_videos_please"


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


def test_markdown_table_keeps_pipes_and_line_breaks_inside_their_cells() -> None:
    # Trial 25: a regex LF named /\b(sweet|tender)\b/ gave its row two cells too many.
    frame = pl.DataFrame(
        {"method": ["/\\b(sweet|tender)\\b/ -> love", "two\nlines"], "n": [1.0, 2.0]}
    )
    assert markdown_table(frame).splitlines()[2:] == [
        "| /\\b(sweet\\|tender)\\b/ -> love | 1.000 |",
        "| two lines | 2.000 |",
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


def wide_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "lf": [LONG_NAME, "short"],
            "polarity": ["spam", "ham"],
            "coverage": [0.1234, 0.5],
            "accuracy (95% CI)": ["0.952 (0.77-0.99)", "0.500 (0.10-0.90)"],
        }
    )


def test_outside_a_terminal_tables_and_lines_keep_their_full_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where COLUMNS is exported (a CI runner may), tables fit it: not what this checks.
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    console = make_console(file=out)
    assert not console.is_terminal and console.width == 80, "as piped into `| tee` or a CI log"
    console.print(rich_table(wide_frame(), title="labeling functions"))
    sentence = "a line of" + " many words" * 15
    console.print(sentence)
    lines = out.getvalue().splitlines()
    row = next(line for line in lines if LONG_NAME in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        LONG_NAME,
        "spam",
        "0.123",
        "0.952 (0.77-0.99)",
    ]
    assert len({len(line) for line in lines[1:-1]}) == 1, "every table line equally wide"
    assert len(lines[1]) > 100
    assert lines[-1] == sentence, "not wrapped at 80 columns"


def test_outside_a_terminal_tables_fit_the_width_columns_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = io.StringIO()
    console = make_console(file=out)
    console.print(rich_table(wide_frame()))
    sentence = "a line of" + " many words" * 15
    console.print(sentence)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines[:-1]) == 60
    assert lines[-1] == sentence, "lines are still not wrapped"


def test_in_a_terminal_tables_fit_its_width() -> None:
    out = io.StringIO()
    console = Console(file=out, width=60, force_terminal=True, color_system=None)
    console.print(rich_table(wide_frame()))
    assert max(len(line) for line in out.getvalue().splitlines()) <= 60


def test_one_line_flattens_and_shortens_texts_for_a_cell() -> None:
    texts = pl.DataFrame({"text": ["check\n\n  out\tmy channel\ufeff", "x" * 61, "y" * 60, None]})
    assert texts.select(one_line("text")).to_series().to_list() == [
        "check out my channel",
        "x" * 59 + "…",
        "y" * 60,
        None,
    ]
    assert texts.select(one_line("text", 10))["text"][0] == "check out…"


def test_a_span_is_shown_from_just_before_it() -> None:
    # Trial 48a: flag's table showed a long text's first words, not the flagged span.
    frame = pl.DataFrame({"text": ["a" * 100 + " tofu", "short tofu", None], "start": [101, 6, 0]})
    shown = frame.select(from_span("text", "start")).with_columns(one_line("text"))
    assert shown["text"].to_list() == ["…" + "a" * 19 + " tofu", "short tofu", None]


def test_progress_outside_a_terminal_is_plain_lines_at_the_start_every_while_and_the_end(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial J: piped, the bar drew nothing and left a blank line.
    with progress_bar("predicting in.csv", 200_000) as advance:
        for _ in range(4):
            advance(50_000)
    assert capsys.readouterr().err.splitlines() == [
        "predicting in.csv: 50,000 of 200,000 (25%)",
        "predicting in.csv: 200,000 of 200,000 (100%)",
    ]
    monkeypatch.setattr(report, "PROGRESS_EVERY_S", 0.0)
    with progress_bar("asking m", 3) as advance:
        for _ in range(3):
            advance(1)
    assert capsys.readouterr().err.splitlines() == [
        "asking m: 1 of 3 (33%)",
        "asking m: 2 of 3 (67%)",
        "asking m: 3 of 3 (100%)",
    ]


def test_lines_are_printed_as_written_never_read_as_markup() -> None:
    # Trial 57a: apply printed the rule `/laws of [A-Z][a-z]+/` as `/laws of [A-Z]+/`.
    out = io.StringIO()
    console = make_console(file=out)
    console.print("unchanged: /laws of (the state of )?[A-Z][a-z]+/ -> governing_law")
    console.print(rich_table(pl.DataFrame({"n": [1]}), title="rules /[a-z]+/"))
    assert "/laws of (the state of )?[A-Z][a-z]+/ -> governing_law" in out.getvalue()
    assert "rules /[a-z]+/" in out.getvalue()


def test_work_that_cannot_count_its_steps_says_it_is_still_running_only_when_slow(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Trial 56b: a Snorkel fit printed nothing for 91 s.
    with still_running("aggregate: fitting snorkel on the train split", every_s=0.2):
        time.sleep(0.7)
    lines = capsys.readouterr().err.splitlines()
    assert 2 <= len(lines) <= 4, lines
    assert lines[0] == "aggregate: fitting snorkel on the train split: still running after 0 s"
    with still_running("aggregate: fitting auto on the train split", every_s=5.0):
        time.sleep(0.1)
    assert capsys.readouterr().err == ""


def test_control_and_bidi_characters_from_the_data_never_reach_the_terminal() -> None:
    # Trial 46: a text "\x1b[2J" cleared the screen from `flag` and `queue`, a label's
    # "\x1b[31m" coloured `ingest`'s output, and U+202E reversed a table's row.
    out = io.StringIO()
    console = make_console(file=out)
    hostile = pl.DataFrame(
        {"text": ["bad \x1b[2J clear"], "labels": [["pos\x1b]0;T\x07", "a\u202eb"]]}
    )
    console.print(rich_table(hostile))
    console.print("labels: pos\x1b[31mRED, evil \u2066x\u2069")
    console.print(Text.assemble(("clear\x1b[2J", "red"), " over\u202d"))
    # Trial 60a: a zero-width space hid why a keyword LF did not match "re\u200bfund";
    # the joiner an emoji family needs stays.
    console.print("re\u200bfund \u2060x\ufeff 👩\u200d👧")
    shown = out.getvalue()
    assert "re\ufffdfund \ufffdx\ufffd 👩\u200d👧" in shown
    assert not {"\x1b", "\x07", "\u202e", "\u202d", "\u2066", "\u2069"} & set(shown)
    assert "bad ␛[2J clear" in shown and "pos␛]0;T␇, a\ufffdb" in shown
    assert "labels: pos␛[31mRED, evil \ufffdx\ufffd" in shown
    assert "clear␛[2J over\ufffd" in shown
