"""Showing result frames: as rich tables in the terminal and as Markdown in reports, and
the progress of long work."""

from __future__ import annotations

import html
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import polars as pl
from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderResult
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

# Outside a terminal, the width a table may take: more than any table of names and
# figures needs, so that each takes its own width.
UNBOUNDED = 10_000


# Control characters in a text would act on the terminal (clear the screen, hide text,
# set the title): each is shown as one visible character instead, so spans keep their
# offsets. Newlines and tabs are layout, and stay. Bidirectional overrides and isolates
# would reorder what follows them ("Trojan Source"), labels and table borders included:
# each shows as the replacement character, as do the invisible characters that join
# or part nothing a script needs (zero-width space, word joiner, a byte-order mark
# inside a text: trial 60a's "re\u200bfund" looked like "refund", which a keyword LF
# had not matched). The zero-width joiner and non-joiner stay: emoji and scripts
# such as Persian's need them.
_VISIBLE = {code: 0x2400 + code for code in range(0x20) if chr(code) not in "\n\t"}
_VISIBLE |= {0x7F: 0x2421} | {code: 0xFFFD for code in range(0x80, 0xA0)}
_VISIBLE |= {code: 0xFFFD for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
_VISIBLE |= {code: 0xFFFD for code in (0x200B, 0x2060, 0xFEFF)}


def printable(text: str) -> str:
    """``text`` with its control characters made visible, for a terminal.

    Examples
    --------
    >>> printable("hi\\x1b[2J there")
    'hi␛[2J there'
    >>> printable("evil \\u202egnp.exe")
    'evil �gnp.exe'
    """
    return text.translate(_VISIBLE)


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an s unless ``n`` is 1.

    Examples
    --------
    >>> counted(1, "row"), counted(1200, "failed row")
    ('1 row', '1,200 failed rows')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def first_named(names: Sequence[str], shown: int = 8) -> str:
    """The first ``shown`` of ``names``, joined, and how many more there are: a one-line
    note's list however long the list is (trial 62d: 25 attributes made a line of 838
    characters).

    Examples
    --------
    >>> first_named(["a", "b", "c"], shown=2)
    'a, b and 1 more'
    """
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"
    if isinstance(value, list):
        return printable(", ".join(map(str, value)))
    return printable(str(value))


def make_console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console for labelkit's output. In a terminal, lines wrap and tables fit its
    width. Anywhere else (a pipe, ``| tee``, a file, a CI log) there is no width to fit,
    so lines are neither wrapped nor cut and tables from ``rich_table`` take their full
    width: a name is never cut short (rich would fit everything to 80 columns). Unless
    the ``COLUMNS`` environment variable gives a width: then tables fit it there too,
    and lines are still not wrapped.

    Examples
    --------
    >>> make_console().print(rich_table(summarize_lfs(ws), title="labeling functions"))
    """
    # emoji=False: names like "llm:m:" must print as written, not as emoji codes; and
    # markup=False: a regex LF's name is no style (trial 57a: "[a-z]" vanished from
    # `/laws of [A-Z][a-z]+/` in apply's lines, as rich read it as a tag).
    console = _PrintableConsole(stderr=stderr, file=file, emoji=False, markup=False)
    console.soft_wrap = not console.is_terminal
    return console


class _PrintableConsole(Console):
    """A console whose strings and texts are ``printable`` before rich renders them:
    a message that names a label, an LF or a file from the user's data cannot act on
    the terminal (trial 46: ``ingest`` and ``apply`` printed a label's escape codes).
    Tables and panels are made of texts that ``rich_table`` and the reviewer already
    made printable.

    It fits a dumb terminal (``TERM=dumb``: Emacs' shell, many SSH set-ups) to its
    width, which rich takes to be 80 columns (trial 60a: the reviewer's every line
    wrapped in two in a window of 60)."""

    @property
    def size(self) -> ConsoleDimensions:
        if self.is_dumb_terminal and self._width is None:
            try:
                return ConsoleDimensions(*os.get_terminal_size(self.file.fileno()))
            except (AttributeError, ValueError, OSError):
                pass
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def print(self, *objects: Any, **kwargs: Any) -> None:
        shown = []
        for item in objects:
            if isinstance(item, str):
                item = printable(item)
            elif isinstance(item, Text):
                item = item.copy()
                # One character for one: the styles' offsets still hold.
                item.plain = printable(item.plain)
            shown.append(item)
        super().print(*shown, **kwargs)

    def on_broken_pipe(self) -> None:
        """The reader of the pipe left (``| head -3``): the rest of the output goes
        nowhere, and the command goes on. rich's own stopped it, with exit code 1 and not
        a word (trial 51c: ``train | head -1`` stopped training and kept nothing)."""
        self.quiet = True
        _to_nowhere(self.file)


class PipeSafeOutput:
    """Standard output that outlives its reader: when the reader of the pipe leaves
    (``| head -1``), the rest of the output goes nowhere and the command goes on, as
    ``_PrintableConsole.on_broken_pipe`` does for labelkit's own lines (trial 58b: a
    ``print`` in training raised BrokenPipeError, and `train | head -1` exited 1 with
    no model and no word). Everything else is the wrapped stream's.

    Examples
    --------
    >>> sys.stdout = PipeSafeOutput(sys.stdout)
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            _to_nowhere(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _to_nowhere(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _to_nowhere(stream: IO[str]) -> None:
    """Point ``stream``'s file descriptor at the null device: what is written after its
    reader left goes nowhere, and writing no longer fails."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


# Outside a terminal, the seconds between two lines of progress.
PROGRESS_EVERY_S = 10.0


@contextmanager
def progress_bar(
    description: str, total: int, *, transient: bool = True
) -> Iterator[Callable[[int], None]]:
    """Progress over ``total`` items on stderr; yields the function that counts items done.

    In a terminal or a notebook it is a bar. Anywhere else (a pipe, a log, cron) a bar
    draws nothing until the end and then leaves a blank line (trial J), so it is a
    plain line instead, ``predicting in.csv: 20,000 of 200,000 (10%)``, at the first
    items, then at most every ``PROGRESS_EVERY_S`` seconds, and at the end.

    Examples
    --------
    >>> with progress_bar("predicting in.csv", 200_000) as advance:
    ...     advance(5_000)
    """
    console = make_console(stderr=True)
    if console.is_terminal or console.is_jupyter:
        with Progress(
            *Progress.get_default_columns(), transient=transient, console=console
        ) as bars:
            bar = bars.add_task(description, total=total)
            yield lambda done: bars.advance(bar, done)
        return
    done, shown, said = 0, 0.0, -1

    def say() -> None:
        nonlocal shown, said
        shown, said = time.monotonic(), done
        console.print(
            f"{description}: {done:,} of {total:,} ({done / max(total, 1):.0%})",
            highlight=False,
            markup=False,
        )

    def advance(items: int) -> None:
        nonlocal done
        done += items
        if said < 0 or time.monotonic() - shown >= PROGRESS_EVERY_S:
            say()

    yield advance
    if said != done:
        say()


@contextmanager
def still_running(description: str, every_s: float | None = None) -> Iterator[None]:
    """Says on stderr that work which cannot count its steps is still going: a line
    every ``every_s`` seconds (``PROGRESS_EVERY_S`` unless given), ``aggregate: fitting snorkel on the train split: still
    running after 20 s``, and nothing for work done sooner (trial 56b: a Snorkel fit
    printed nothing for 91 s). Lines, not a spinner, in a terminal too: a warning the
    work prints meanwhile would be glued to a spinner's frame.

    Examples
    --------
    >>> with still_running("aggregate: fitting snorkel on the train split"):
    ...     model.fit(codes, 30)
    """
    console = make_console(stderr=True)
    began, finished = time.monotonic(), threading.Event()
    every_s = PROGRESS_EVERY_S if every_s is None else every_s

    def beat() -> None:
        while not finished.wait(every_s):
            console.print(
                f"{description}: still running after {time.monotonic() - began:.0f} s",
                highlight=False,
                markup=False,
            )

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        yield
    finally:
        finished.set()
        beating.join()


class _FrameTable(Table):
    """A table that fits the console's width in a terminal or where ``COLUMNS`` gives
    one, and takes its own elsewhere."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Read as rich reads it for the console's width, which the table then fits.
        if not options.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
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


def from_span(column: str, start: str, lead: int = 20) -> pl.Expr:
    """A text column cut to begin ``lead`` characters before the offset in the
    ``start`` column, an ellipsis first where cut: a span's context for a table cell,
    which ``one_line`` shortens from the start.

    Examples
    --------
    >>> frame = pl.DataFrame({"text": ["x" * 40 + " the tofu"], "start": [45]})
    >>> frame.select(from_span("text", "start", 5)).item()
    '… the tofu'
    """
    text = pl.col(column)
    return (
        pl.when(pl.col(start) > lead)
        .then(pl.concat_str(pl.lit("…"), text.str.slice(pl.col(start) - lead)))
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
        "| " + " | ".join(map(_markdown_cell, frame.columns)) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
    ]
    lines += [
        "| " + " | ".join(_markdown_cell(_cell(v)) for v in row) + " |" for row in frame.iter_rows()
    ]
    return "\n".join(lines)


def _markdown_cell(text: str) -> str:
    """``text`` kept in its cell: a rule's ``/a|b/`` split a row into more cells than
    the header has, and a line break ends the table."""
    return " ".join(text.replace("|", "\\|").split())


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
    merged = summary.with_columns(pl.Series("accuracy (95% CI)", shown, pl.String))
    # Chance beside the accuracy it is read against.
    last = [name for name in ("accuracy (95% CI)", "chance") if name in merged.columns]
    return merged.select(pl.exclude("accuracy", "accuracy_low", "accuracy_high", *last), *last)


def frontier_svg(frontier: pl.DataFrame, *, width: int = 640, height: int = 400) -> str:
    """The frontier as an SVG scatter plot, written by hand (no plotting library): dev
    macro-F1 (what ``pick_model`` ranks on) against words per second on one core (a log
    scale), each model a circle whose area is its size on disk.

    ``frontier`` has ``model``, ``dev_macro_f1``, ``size_mb`` and ``words_per_s``
    (``train_frontier``'s rows).

    Examples
    --------
    >>> svg = frontier_svg(pl.DataFrame({"model": ["bow"], "dev_macro_f1": [0.9],
    ...     "size_mb": [2.3], "words_per_s": [150_000.0]}))
    >>> svg.startswith("<svg")
    True
    """
    left, right, top, bottom = 70, 30, 30, 50
    speed = frontier["words_per_s"].to_numpy()
    # A frontier saved before macro-F1 was kept (trial 60b) is drawn by its accuracy.
    scored, axis = (
        ("dev_macro_f1", "macro-F1")
        if "dev_macro_f1" in frontier.columns
        else ("dev_accuracy", "accuracy")
    )
    score = frontier[scored].to_numpy()
    size = frontier["size_mb"].to_numpy()
    low, high = math.floor(math.log10(speed.min())), math.ceil(math.log10(speed.max()))
    high = max(high, low + 1)
    floor = max(0.0, math.floor((score.min() - 0.01) * 50) / 50)
    ceiling = min(1.0, math.ceil((score.max() + 0.005) * 50) / 50)
    ceiling = max(ceiling, floor + 0.02)

    def x(value: float) -> float:
        share = (math.log10(value) - low) / (high - low)
        return left + share * (width - left - right)

    def y(value: float) -> float:
        share = (value - floor) / (ceiling - floor)
        return height - bottom - share * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
    ]
    for power in range(low, high + 1):
        at = x(10.0**power)
        parts.append(
            f'<line x1="{at:.1f}" y1="{height - bottom}" x2="{at:.1f}" '
            f'y2="{height - bottom + 5}" stroke="black"/>'
            f'<text x="{at:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{_cell(10.0**power)}</text>"
        )
    steps = 4
    for step in range(steps + 1):
        value = floor + (ceiling - floor) * step / steps
        at = y(value)
        parts.append(
            f'<line x1="{left - 5}" y1="{at:.1f}" x2="{left}" y2="{at:.1f}" stroke="black"/>'
            f'<text x="{left - 8}" y="{at + 4:.1f}" text-anchor="end">{value:.3f}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">'
        "words per second, one core (log scale); circle area: size on disk</text>"
        f'<text x="15" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 15 {(top + height - bottom) / 2})">{axis} on dev</text>'
    )
    # The largest circle 28 px across at most; area, not radius, scales with megabytes.
    scale = 14 / math.sqrt(max(size.max(), 1e-9))
    for model, a, s, mb in zip(frontier["model"], score, speed, size, strict=True):
        radius = max(2.0, scale * math.sqrt(mb))
        parts.append(
            f'<circle cx="{x(s):.1f}" cy="{y(a):.1f}" r="{radius:.1f}" '
            'fill="steelblue" fill-opacity="0.5" stroke="steelblue"/>'
            f'<text x="{x(s) + radius + 3:.1f}" y="{y(a) + 4:.1f}">'
            f"{html.escape(str(model))} ({mb:.2g} MB)</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def frontier_markdown(frontier: pl.DataFrame, split: str) -> str:
    """The frontier's section of a report: its table and ``frontier_svg``'s plot.

    Examples
    --------
    >>> frontier = train_frontier(ws, "models/frontier", dev_split="dev")
    >>> Path("frontier.md").write_text(frontier_markdown(frontier, "dev"))
    """
    columns = [
        "model",
        "dev_macro_f1",
        "dev_accuracy",
        "dev_ece",
        "size_mb",
        "words_per_s",
        "train_s",
    ]
    shown = frontier.select(name for name in columns if name in frontier.columns)
    return (
        f"## Frontier\n\nEvery small model trained on the cleaned set: macro-F1 and "
        f"accuracy on the {split} split's gold (which also chose each checkpoint), the expected "
        "calibration error of its confidence there (0: as sure as it is right), size on "
        "disk, words per second on one core and seconds to train.\n\n"
        f"{markdown_table(shown)}\n\n{frontier_svg(shown)}\n"
    )
