"""The terminal reviewer: one flagged example at a time, one key per decision."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from labelkit.review.highlight import Span, lf_spans
from labelkit.review.queue import ReviewItem, ReviewQueue

KEYS_HELP = "[a]ccept  [r]eject  [1-9] label  [s]kip  [?] ambiguous  [u]ndo  [q]uit"


def read_key() -> str:
    """One key press from the terminal; from piped input, the next character."""
    return click.getchar() if sys.stdin.isatty() else sys.stdin.read(1)


def review_in_terminal(
    queue: ReviewQueue,
    *,
    reviewer: str,
    console: Console | None = None,
    read_key: Callable[[], str] = read_key,
    limit: int | None = None,
    focus: str | None = None,
) -> int:
    """Review queued items until the queue is empty, ``limit`` answers, or the reviewer quits.

    Returns the number of answers given (undos not counted). Every answer is stored
    before the next item is shown. With ``focus`` (binary focus mode) only items
    suggested as that label come up, and the question is "is this <focus>?":
    ``a`` for yes, ``r`` for no.

    Examples
    --------
    >>> review_in_terminal(ReviewQueue(ws), reviewer="ana")
    """
    console = console or Console(emoji=False)
    labels = queue.labels
    answered = 0
    while limit is None or answered < limit:
        item = queue.next(reviewer=reviewer, focus=focus)
        if item is None:
            console.print("[bold green]The queue is empty.[/] Nothing left to review.")
            break
        spans = lf_spans(queue.workspace, item.example_id, item.text)
        console.print(_render(item, labels, queue.progress(), focus, spans))
        shown = time.perf_counter()
        key = _read_valid_key(read_key, len(labels), console)
        seconds = time.perf_counter() - shown
        if key == "q":
            break
        if key == "u":
            undone = queue.undo(reviewer=reviewer)
            console.print(f"undid the answer on {undone}" if undone else "nothing to undo")
            answered -= undone is not None
            continue
        if key.isdigit():
            queue.answer(
                item.example_id,
                "label",
                label=labels[int(key) - 1],
                reviewer=reviewer,
                seconds=seconds,
            )
        else:
            action = {"a": "accept", "r": "reject", "s": "skip", "?": "ambiguous"}[key]
            queue.answer(item.example_id, action, reviewer=reviewer, seconds=seconds)
        answered += 1
    progress = queue.progress()
    console.print(
        f"reviewed {progress['reviewed']} of {progress['queued']}, "
        f"{progress['corrected']} labels corrected"
    )
    return answered


def _read_valid_key(read_key: Callable[[], str], n_labels: int, console: Console) -> str:
    valid = {"a", "r", "s", "?", "u", "q", *(str(k) for k in range(1, min(n_labels, 9) + 1))}
    while True:
        key = read_key().lower()
        if key in valid:
            return key
        if key in ("", "\x04"):  # end of input: treat as quit so a closed stdin never loops
            return "q"
        if key.strip():
            console.print(f"[red]unknown key {key!r}[/]  {KEYS_HELP}")


def _render(
    item: ReviewItem,
    labels: tuple[str, ...],
    progress: dict[str, int],
    focus: str | None,
    spans: list[Span],
) -> Panel:
    votes = Table.grid(padding=(0, 2))
    matched = {span.source: item.text[span.start : span.end] for span in spans}
    for source, label in item.votes.items():
        where = f'"{matched[source]}"' if source in matched else ""
        votes.add_row(Text(source, style="dim"), Text(label), Text(where, style="dim"))
    choices = "  ".join(f"[{k}] {label}" for k, label in enumerate(labels[:9], start=1))
    body = Table.grid()
    text = Text(item.text, style="bold")
    for span in spans:
        text.stylize("reverse", span.start, span.end)
    body.add_row(text)
    body.add_row("")
    body.add_row(
        Text.assemble(
            ("label model says ", "dim"),
            (item.given_label or "none (no source voted)", "yellow"),
            ("   suggested ", "dim"),
            (item.suggested_label, "green"),
            (f"   flagged by {item.reasons}", "dim"),
        )
    )
    body.add_row(votes)
    body.add_row("")
    if focus is not None:
        body.add_row(Text(f"Is this {focus}?  [a] yes  [r] no", style="bold cyan"))
    body.add_row(Text(choices + "\n" + KEYS_HELP, style="cyan"))
    title = (
        f"{progress['reviewed']} reviewed · {progress['remaining']} remaining · "
        f"{progress['corrected']} corrected"
    )
    return Panel(body, title=title, subtitle=item.example_id)
