"""The terminal reviewer: one flagged example at a time, one key per decision (on a spans
task, one span of a text at a time, with keys to move its bounds and mark missed spans)."""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
import polars as pl
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from labelkit.errors import InputError
from labelkit.report import counted, make_console, printable
from labelkit.review.highlight import Span, lf_spans
from labelkit.review.queue import FIX, MISSED, ReviewItem, ReviewQueue, reviewer_name
from labelkit.review.spans import move_bound
from labelkit.spans import Offsets
from labelkit.spans import Span as TextSpan

try:  # a POSIX terminal's modes; Windows has none, and its keys are read through click
    import termios
    import tty
except ImportError:
    termios = tty = None  # type: ignore[assignment]

HIGHLIGHTS = (
    "black on yellow",
    "black on light_salmon1",
    "black on sky_blue1",
    "black on pale_green1",
    "black on plum1",
    "black on wheat1",
)
"""The highlight of the words an LF voting the task's n-th label matched (cycled); the web
page's ``mark.label-n`` colours are the same."""


# Keys read but not yet taken: piped characters after an escape that began no arrow
# key, or the rest of what one read from a terminal brought.
_READ_AHEAD: list[str] = []
# Arrow keys arrive as escape sequences. Yes and no have the same keys on every screen,
# spans or whole texts, as on the suggestions page (trial 49a: on a whole text "n" was
# "next attribute", and a reviewer's "no" moved on without a word); the next attribute
# is the right arrow.
_LEFT, _RIGHT, _ESCAPE = "\x1b[D", "\x1b[C", "\x1b"
_YES, _NO, _ENTER = ("a", "y"), ("r", "n", "x"), ("\r", "\n")
# Control keys a terminal hands over as characters (Ctrl-C only where its terminal
# does not make it an interrupt), and what they end the review with.
_CONTROL_KEYS = {"\x03": KeyboardInterrupt, "\x04": EOFError}


# What a key read returns when the screen must be drawn again, no key pressed: the
# window was resized, or the review came back to the foreground (Ctrl-Z, then fg).
_REDRAW = "\x00redraw"
# Set by those signals' handlers, taken by the key read that waits.
_redraw_wanted = threading.Event()


def read_key() -> str:
    """One key press: the next character, or an arrow key's escape sequence whole
    (trial 48a: piped, it was three keys, escape, a bound key and an unknown one, and
    stored an answer nobody gave). From a terminal, in the mode ``_keys_as_typed`` sets;
    ``_REDRAW`` where the screen must be drawn again."""
    terminal = sys.stdin.isatty()
    if terminal and not _READ_AHEAD:
        chunk = _read_chunk()
        if chunk == _REDRAW:
            return chunk
        # A read hands over what arrived at once. A special key's sequence comes whole
        # and stays one key (Shift-Up's "\x1b[1;2A" taken apart stored answers); two
        # keys typed fast come as one "as" (trial 49b) and are taken one at a time.
        _READ_AHEAD.extend([chunk] if chunk.startswith("\x1b") else chunk)
    key = _READ_AHEAD.pop(0) if _READ_AHEAD else sys.stdin.read(1)
    if terminal and key in _CONTROL_KEYS:
        _READ_AHEAD.clear()
        raise _CONTROL_KEYS[key]
    if key == "\x1b" and not terminal:
        while len(_READ_AHEAD) < 2 and (char := sys.stdin.read(1)):
            _READ_AHEAD.append(char)
        if len(_READ_AHEAD) == 2 and _READ_AHEAD[0] == "[" and _READ_AHEAD[1] in "ABCD":
            return key + _READ_AHEAD.pop(0) + _READ_AHEAD.pop(0)
    return key


def _read_chunk() -> str:
    """What a terminal has for us: the keys that arrived at once, read as they come in
    the mode ``_keys_as_typed`` set; where there is no termios (Windows), click's."""
    if termios is None:
        return click.getchar()
    fd = sys.stdin.fileno()
    # Waited on in short steps: a signal that another thread (DuckDB's) took leaves a
    # blocking read asleep, and Python runs its handler only between steps here
    # (trial 58b: Ctrl-C and SIGINT ended the review only at the next key).
    while not select.select([fd], [], [], _KEY_WAIT_S)[0]:
        if _redraw_wanted.is_set():
            _redraw_wanted.clear()
            return _REDRAW
    return os.read(fd, 32).decode(errors="replace")


# The longest a key read waits before Python may run a signal's handler.
_KEY_WAIT_S = 0.2


@contextmanager
def _keys_as_typed() -> Iterator[None]:
    """A terminal's input a key at a time, unechoed, for a whole review (cbreak mode),
    so that a key typed while a screen is drawn waits for the next read. click's
    ``getchar``, read before, set raw mode for each key and flushed what was typed in
    between (trial 50d: "s" then "q" 50 ms later stored the skip and lost the quit).
    Ctrl-C interrupts wherever the review is, as in any command: each answer is stored
    in one transaction, whole or not at all. Without termios (Windows), nothing changes.

    Ctrl-Z gives the shell its terminal back as it was; ``fg`` sets the mode again,
    drops what was typed meanwhile and draws the screen again (trial 60a: after ``fg``
    the terminal stayed in line mode, and "aa" then Enter answered an item never shown),
    as a resized window does.
    """
    if termios is None or not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)

    def stop(signum: int, frame: Any) -> None:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        # Here again after fg (SIGCONT's handler sets the mode).
        signal.signal(signal.SIGTSTP, stop)

    def resume(signum: int, frame: Any) -> None:
        tty.setcbreak(fd)  # TCSAFLUSH: keys typed while stopped are not answers
        _redraw_wanted.set()

    handlers = {
        signal.SIGTSTP: stop,
        signal.SIGCONT: resume,
        signal.SIGWINCH: lambda signum, frame: _redraw_wanted.set(),
    }
    # Only the main thread may set a signal's handler.
    main = threading.current_thread() is threading.main_thread()
    before = (
        {number: signal.signal(number, handler) for number, handler in handlers.items()}
        if main
        else {}
    )
    tty.setcbreak(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for number, handler in before.items():
            signal.signal(number, handler)
        _redraw_wanted.clear()


def review_in_terminal(
    queue: ReviewQueue,
    *,
    reviewer: str,
    console: Console | None = None,
    read_key: Callable[[], str] = read_key,
    limit: int | None = None,
    focus: str | None = None,
    attribute: str | None = None,
    example: str | None = None,
) -> int:
    """Review queued items until the queue is empty, ``limit`` answers, or the reviewer quits.

    Each item asks one question about one candidate label, "is this <candidate>?": ``a``
    (or ``y``) stores that candidate; ``r`` (or ``n``, ``x``) says no (the other label on
    a two-label task; otherwise the item asks next which label it is). With ``focus``
    only items whose candidate is that label come up, and a no leaves the item for a
    review without focus. Every answer is stored before the next item is drawn, in place
    of the last. Returns the number of answers given (undos not counted).

    On a task with attributes (aspects, multi-label) the review is a pass over one
    attribute at a time: ``attribute``, else the one with the most items left; the right
    arrow switches to the next attribute, and a pass that runs out moves on by itself.

    With ``example``, only that example's queued items (of ``attribute``, where given)
    come up, answered before or not: the new answer counts in place of the old.

    Examples
    --------
    >>> review_in_terminal(ReviewQueue(ws), reviewer="ana")
    >>> review_in_terminal(ReviewQueue(reviews), reviewer="ana", attribute="staff")
    >>> review_in_terminal(ReviewQueue(ws), reviewer="ana", example="c17")
    """
    console = console or make_console()
    reviewer = reviewer_name(reviewer)  # refused before any screen
    if sys.stdin is None:
        # Trial 60e: `labelkit review ... <&-` ended in an AttributeError.
        raise InputError("review reads its keys from standard input, which is closed")
    if example is not None:
        if queue.spans:
            raise InputError(
                "an example of a spans task is reviewed span by span in the queue's order; "
                "to change a span's answer, undo it (u) or answer in Python "
                "(ReviewQueue.answer)"
            )
        if focus is not None:
            raise InputError("an example is reviewed whole: leave out the focus")
        chosen = queue.items_of(example, reviewer=reviewer, attribute=attribute)
    if attribute is not None:
        if queue.spans:
            raise InputError(
                "a spans task is reviewed one span after another: an attribute is for "
                "aspects and multi-label tasks"
            )
        queue.task.answers(attribute)  # an unknown attribute is refused before any screen
    try:
        with _keys_as_typed():
            if queue.spans:
                return _review_spans(queue, reviewer, console, read_key, limit, focus)
            if example is not None:
                return _review_chosen(queue, chosen, reviewer, console, read_key)
            return _review_items(queue, reviewer, console, read_key, limit, focus, attribute)
    finally:
        # However the review ends (q, the end of the input, Ctrl-C, an error), the item
        # on screen goes back to the queue: others' answers to it are refused meanwhile.
        queue.release(reviewer)


def _review_chosen(
    queue: ReviewQueue,
    items: list[ReviewItem],
    reviewer: str,
    console: Console,
    read_key: Callable[[], str],
) -> int:
    """``review_in_terminal`` of the ``items`` of one example, each asked once, with the
    answer that counts for it now."""
    standing = {
        (row["attribute"], row["example_id"]): row
        for row in queue.decisions(items[0].example_id).iter_rows(named=True)
    }
    answered = 0
    items = list(items)
    while items:
        item = items.pop(0)
        console.clear()
        before = standing.get((item.attribute, item.example_id))
        if before is not None:
            what = before["label"] or before["action"]
            console.print(
                Text(
                    f"answered before by {printable(before['reviewer'])}: {printable(what)}; "
                    "your answer replaces it",
                    style="dim",
                )
            )
        keys = _keys(item, None) | {"s": "skip", "?": "ambiguous", "q": "quit"}
        spans = lf_spans(queue.workspace, item.example_id, item.text, attribute=item.attribute)
        counts = queue.progress_by_attribute().filter(attribute=item.attribute).row(0, named=True)
        console.print(_render(item, counts, None, spans, keys, None, _marking(console)))
        shown = time.perf_counter()
        key = _read_valid_key(read_key, keys, console)
        if key == _REDRAW:
            items.insert(0, item)
            continue
        if key == "q":
            break
        answer = _answer_of(key, item, read_key, console)
        if answer is None:
            console.print(Text("no label chosen", style="dim"))
            continue
        queue.answer(
            item.example_id,
            answer[0],
            label=answer[1],
            reviewer=reviewer,
            seconds=time.perf_counter() - shown,
            attribute=item.attribute,
        )
        answered += 1
        if answer[0] == "reject" and len(item.choices) > 2:
            # A no rules the candidate out: the item asks next which label it is.
            items[:0] = queue.items_of(item.example_id, reviewer=reviewer, attribute=item.attribute)
    console.print(progress_line(queue), markup=False, highlight=False)
    return answered


def _nothing_to_ask(queue: ReviewQueue, focus: str | None, attribute: str | None) -> Text:
    """What to say when ``queue.next`` has nothing for this reviewer: the queue is done,
    or what is left is on other reviewers' screens (trial 54d: "the queue is empty"
    while names that never answered held every item)."""
    held = queue.progress(focus, attribute=attribute)["remaining"]
    if held:
        return Text(
            f"{counted(held, 'item')} left, on other reviewers' screens; one left unanswered "
            f"comes back to the queue after {queue.claim_seconds / 60:g} minutes.",
            style="bold",
        )
    empty = f"Nothing left to ask about {focus}." if focus else "Nothing left to review."
    return Text.assemble(("The queue is empty. ", "bold green"), empty)


def _answer_of(
    key: str, item: ReviewItem, read_key: Callable[[], str], console: Console
) -> tuple[str, str | None] | None:
    """The action and label an answer key stores on ``item``; None where a label typed
    after ``/`` named none."""
    if key == _TYPED:
        label = _typed_label(read_key, console, item)
        return None if label is None else ("label", label)
    if key.isdigit():
        return "label", item.numbers[key]
    action = {"a": "accept", "r": "reject", "s": "skip", "?": "ambiguous"}[key]
    return action, item.candidate if key in ("a", "r") else None


def _review_items(
    queue: ReviewQueue,
    reviewer: str,
    console: Console,
    read_key: Callable[[], str],
    limit: int | None,
    focus: str | None,
    attribute: str | None,
) -> int:
    """``review_in_terminal`` on a task of whole-text answers, an attribute at a time."""
    passes = queue.task.kind != "classification"
    current = (attribute or queue.next_attribute(focus=focus)) if passes else None
    answered = 0
    notice: Text | None = None
    while limit is None or answered < limit:
        item = queue.next(reviewer=reviewer, focus=focus, attribute=current)
        # Counted once per screen: the title's counts, the attributes' and what n does.
        by_attribute = queue.progress_by_attribute(focus)
        following = queue.next_attribute(after=current, progress=by_attribute) if passes else None
        if item is None and following is not None and following != current:
            notice = Text(f"Nothing left to ask about {current}; now {following}.", style="dim")
            current = following
            continue
        console.clear()
        if notice is not None:
            console.print(notice)
        if item is None:
            console.print(_nothing_to_ask(queue, focus, current))
            break
        keys = _keys(item, focus)
        if following not in (None, current):
            keys[_RIGHT] = f"next: {following}"
        keys |= {"s": "skip", "?": "ambiguous", "u": "undo", "q": "quit"}
        spans = lf_spans(queue.workspace, item.example_id, item.text, attribute=item.attribute)
        shown_counts = by_attribute.filter(attribute=item.attribute).row(0, named=True)
        console.print(
            _render(
                item,
                shown_counts,
                focus,
                spans,
                keys,
                by_attribute if passes else None,
                _marking(console),
            )
        )
        shown = time.perf_counter()
        key = _read_valid_key(read_key, keys, console)
        if key == _REDRAW:
            continue  # the same item: it is this reviewer's until answered
        seconds = time.perf_counter() - shown
        notice = None
        if key == "q":
            break
        if key == _RIGHT:
            queue.release(reviewer)  # the item on screen, of the attribute left behind
            current = following
            continue
        if key == "u":
            undone, moved_to = queue.undo_in_pass(reviewer=reviewer, attribute=current)
            where = ""
            if moved_to is not None:
                current, where = moved_to, f", on {printable(moved_to)}"
            said = f"undid your answer on {printable(undone)}{where}" if undone else None
            notice = Text(said or "nothing to undo", style="dim")
            answered -= undone is not None
            continue
        answer = _answer_of(key, item, read_key, console)
        if answer is None:
            notice = Text("no label chosen", style="dim")
            continue
        action, label = answer
        queue.answer(
            item.example_id,
            action,
            label=label,
            reviewer=reviewer,
            seconds=seconds,
            attribute=item.attribute,
        )
        answered += 1
    console.print(progress_line(queue, focus), markup=False, highlight=False)
    return answered


def progress_line(queue: ReviewQueue, focus: str | None = None) -> str:
    """Where the review stands, as a review ends: reviewed of queued, skipped, corrected.

    Examples
    --------
    >>> progress_line(ReviewQueue(ws))
    'reviewed 12 of 40 (2 of them only skipped), 3 labels corrected'
    """
    progress = queue.progress(focus)
    if queue.spans:
        return (
            f"reviewed {progress['reviewed']} of {progress['queued']} spans"
            + (f" suggested {focus}" if focus else "")
            + f"{_skipped(progress)}, {progress['corrected']} corrected"
        )
    return (
        f"reviewed {progress['reviewed']} of {progress['queued']}"
        + (f" {focus} items" if focus else "")
        + f"{_skipped(progress)}, {counted(progress['corrected'], 'label')} corrected"
    )


def _keys(item: ReviewItem, focus: str | None) -> dict[str, str]:
    """The answer keys this item takes, each with what it does: only those that exist
    (no number key for a label an earlier answer ruled out)."""
    keys = item.yes_no(focus=focus is not None)
    if focus is None or item.candidate is None:
        numbered = {key: label for key, label in item.numbers.items() if len(key) == 1}
        keys |= {key: label for key, label in numbered.items() if label not in item.ruled_out}
        if any(label not in item.ruled_out for label in set(item.choices) - set(numbered.values())):
            keys[_TYPED] = "another label, typed"
    return keys


def _typed_label(read_key: Callable[[], str], console: Console, item: ReviewItem) -> str | None:
    """A label typed by its number, its name or a part of it that only it has, then
    Enter, for a task of more labels than number keys (trial 51a: 22 intents, and no
    key for the last 13); None on Esc, the end of the input, an empty line or a part no
    single label has."""
    open_labels = [
        (number, label) for number, label in item.numbers.items() if label not in item.ruled_out
    ]
    console.print(
        Text("   ").join(
            Text(printable(label) if n == label else f"{n} {printable(label)}")
            for n, label in open_labels
        )
    )
    console.print("label (number or name), Enter; Esc cancels: ", end="")
    typed = ""
    while (key := read_key()) not in (*_ENTER, _ESCAPE, "", "\x04"):
        # Echoed here: the review reads keys unechoed (``_keys_as_typed``). Written to
        # the file, as rich would strip the backspace that rubs a key out.
        if key in ("\x7f", "\b") and typed:
            typed = typed[:-1]
            console.file.write("\b \b")
        elif key.isprintable():
            typed += key
            console.file.write(key)
        console.file.flush()
    console.print()
    wanted = typed.strip().lower()
    if key in (_ESCAPE, "", "\x04") or not wanted:
        return None
    named = {str(n): label for n, label in open_labels} | {
        label.lower(): label for _, label in open_labels
    }
    matches = (
        [named[wanted]]
        if wanted in named
        else [label for _, label in open_labels if wanted in label.lower()]
    )
    if len(matches) == 1:
        return matches[0]
    console.print(
        Text(
            f"{len(matches)} labels contain {printable(repr(typed))}"
            + (": " + ", ".join(printable(label) for label in matches) if matches else ""),
            style="red",
        )
    )
    return None


def _skipped(progress: dict[str, int]) -> str:
    """How many of the reviewed items were only skipped, for a progress line (trial 46:
    "reviewed 3 of 3" after three skips read as three labels checked; trial 65b: "424
    reviewed (421 skipped)" still read as 424 checked)."""
    return f" ({progress['skipped']} of them only skipped)" if progress["skipped"] else ""


def _help(keys: dict[str, str]) -> Text:
    return Text("   ").join(
        Text(f"[{_KEY_NAMES.get(key, key)}] {printable(does)}") for key, does in keys.items()
    )


# Each yes or no key, as the key a whole-text item's keys name it by.
_ALIASES = {key: keys[0] for keys in (_YES, _NO) for key in keys}
_KEY_NAMES = {"a": "a/y", "r": "r/n", _RIGHT: "→"}
# Labels past the ninth have no number key: this key asks for one by name or number.
_TYPED = "/"


def _read_valid_key(read_key: Callable[[], str], keys: dict[str, str], console: Console) -> str:
    while True:
        pressed = read_key()
        key = _ALIASES.get(pressed.lower(), pressed.lower()) if len(pressed) == 1 else pressed
        if key in keys or key == _REDRAW:
            return key
        if key in ("", "\x04"):  # end of input: treat as quit so a closed stdin never loops
            return "q"
        if key.strip():
            console.print(
                Text.assemble((f"unknown key {printable(repr(pressed))}; ", "red"), _help(keys))
            )


# A text longer than this is shown in part: its start, and a stretch around each of the
# first few highlights (trial 52b: a 521,472-character email filled 9,000 lines, the
# question at their end).
_SHOWN_CHARACTERS = 3_000
_HEAD, _AROUND, _STRETCHES = 1_500, 200, 6


# The other spans of a text named below it, the nearest to the one under review.
_NEAR_SPANS = 10


def _excerpt(text: Text, marks: Sequence[tuple[int, int, str]]) -> Text:
    """``text`` whole, or past ``_SHOWN_CHARACTERS`` its start and the characters around
    ``_STRETCHES`` of ``marks`` (``start, end, who``), each gap said with its length: the
    first mark of each ``who``, in the order they first come in ``marks``, then the
    others by place. Trial 54e: by place alone, an LF that matched "patient" six times
    in a letter's first lines left the colonoscopy two other LFs voted on unseen."""
    # Folded, not cut: in a grid, rich cut a line holding emoji short of its last
    # words (trial 62d: "Honestly we did no… spend", a negation gone).
    text.overflow = "fold"
    length = len(text.plain)
    if length <= _SHOWN_CHARACTERS:
        return text
    firsts: dict[str, tuple[int, int]] = {}
    for start, end, who in marks:
        firsts[who] = min(firsts.get(who, (start, end)), (start, end))
    rest = sorted({(start, end) for start, end, _ in marks} - set(firsts.values()))
    chosen = [*firsts.values(), *rest][:_STRETCHES]
    stretches = [(0, _HEAD)] + [
        (max(start - _AROUND, 0), min(end + _AROUND, length)) for start, end in chosen
    ]
    merged: list[list[int]] = []
    for start, end in sorted(stretches):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    shown = Text(overflow="fold")
    last = 0
    for start, end in merged:
        if start > last:
            shown.append(f"\n… {start - last:,} characters …\n", style="dim")
        shown.append_text(text[start:end])
        last = end
    if last < length:
        shown.append(f"\n… {length - last:,} characters …", style="dim")
    shown.append(
        f"\n(a {length:,}-character text: its start and the words around what is marked)",
        style="dim",
    )
    return shown


def _add_fields(body: Table, item: ReviewItem) -> None:
    """The text's other fields, one line (trial 58f: a field LF's vote showed, never the
    value it read)."""
    if item.fields:
        shown = " · ".join(f"{name} {value}" for name, value in item.fields.items())
        body.add_row(Text.assemble(("fields  ", "dim"), printable(shown)))


def _marking(console: Console) -> str:
    """How a screen can mark words: ``colour``; ``style`` (bold, underline and reverse,
    without colour: ``NO_COLOR``); or ``none`` (``TERM=dumb``, not a terminal)."""
    if console.color_system is None:
        return "none"
    return "style" if console.no_color else "colour"


def _render(
    item: ReviewItem,
    progress: dict[str, Any],
    focus: str | None,
    spans: list[Span],
    keys: dict[str, str],
    by_attribute: pl.DataFrame | None,
    marking: str,
) -> Panel:
    colour = {label: HIGHLIGHTS[i % len(HIGHLIGHTS)] for i, label in enumerate(item.choices)}
    unlisted = "reverse"  # the words of a vote no choice names: an aspect's "mentioned"
    if marking != "colour":
        # Trial 61b: without colour the highlights and their legend's swatches were
        # the text's own bold, a legend of nothing; the vote lines name the words.
        colour, unlisted = dict.fromkeys(item.choices, "underline"), "underline"
    votes = Table.grid(padding=(0, 2))
    matched = {span.source: item.text[span.start : span.end] for span in spans}
    for source, label in item.votes.items():
        where = f'"{printable(matched[source])}"' if source in matched else ""
        votes.add_row(
            Text(printable(source), style="dim"), Text(printable(label)), Text(where, style="dim")
        )
    body = Table.grid()
    text = Text(printable(item.text), style="bold")
    for span in spans:
        text.stylize(colour.get(span.label, unlisted), span.start, span.end)
    body.add_row(_excerpt(text, [(span.start, span.end, span.source) for span in spans]))
    if spans and marking == "colour":
        voted = dict.fromkeys(span.label for span in spans if span.label in colour)
        swatches = Text(" ").join(Text(f" {printable(v)} ", colour[v]) for v in voted)
        body.add_row(Text.assemble(("highlighted: what made an LF vote ", "dim"), swatches))
    elif spans and marking == "style":
        body.add_row(Text("underlined: what made an LF vote", style="dim"))
    body.add_row("")
    body.add_row(Text(printable(item.question), style="bold cyan"))
    body.add_row(Text(f"flagged by {printable(item.reasons)}", style="dim"))
    body.add_row(votes)
    _add_fields(body, item)
    body.add_row("")
    help_line = _help(keys)
    help_line.stylize("cyan")
    body.add_row(help_line)
    if by_attribute is not None:
        body.add_row("")
        body.add_row(
            Text(
                " · ".join(
                    f"{printable(name)} {reviewed}/{queued}"
                    for name, queued, reviewed, *_ in by_attribute.iter_rows()
                ),
                style="dim",
            )
        )
    counts = (
        f"{progress['reviewed']} reviewed{_skipped(progress)} · {progress['remaining']} "
        f"remaining · {progress['corrected']} corrected"
    )
    if focus:
        counts = f"{focus} items: {counts}"
    if item.attribute:
        counts = f"{item.attribute}: {counts}"
    title = Text(printable(counts))
    return Panel(body, title=title, subtitle=Text(printable(item.example_id)))


# Keys of a span item, as the web page has them.
_BOUNDS = {"[": ("start", -1), "]": ("start", 1), ",": ("end", -1), ".": ("end", 1)}


@dataclass
class _SpanEdit:
    """A span item's pending edit: new bounds (``kind`` ``fix`` or ``missed``), the
    token cursor, and where a selection started."""

    item: ReviewItem
    cursor: int
    bounds: tuple[int, int] | None = None
    kind: str | None = None
    anchor: int | None = None

    def set(self, bounds: tuple[int, int] | None, kind: str | None) -> None:
        if kind == FIX and bounds == self.item.bounds:
            bounds = None
        self.bounds, self.kind = bounds, kind if bounds else None

    def selection(self) -> tuple[int, int]:
        assert self.anchor is not None
        first, last = sorted((self.anchor, self.cursor))
        return self.item.tokens[first][0], self.item.tokens[last][1]

    @property
    def pending(self) -> bool:
        """Whether new bounds or a selection wait to be saved or cancelled."""
        return self.bounds is not None or self.anchor is not None

    def end_selection(self) -> None:
        """An open selection becomes the pending missed span (as a second ``m`` makes it)."""
        if self.anchor is not None:
            self.set(self.selection(), MISSED)
            self.anchor = None

    def there(self) -> TextSpan | None:
        """The text's span a missed span is drawn on, with its bounds, or None."""
        if self.kind != MISSED or self.bounds is None:
            return None
        return next((s for s in self.item.spans if (s.start, s.end) == self.bounds), None)

    def label(self) -> str:
        """The type Enter and ``a`` store: a span already there keeps its own (trial 68d:
        a BRAND became the reviewed span's PART); else the span's, else the task's first."""
        if (there := self.there()) is not None:
            return there.label
        candidate = self.item.candidate
        return candidate if candidate is not None else self.item.choices[0]

    def key(self, key: str) -> bool:
        """Apply an edit key; False when ``key`` is not one."""
        tokens = self.item.tokens
        if key in _BOUNDS:
            assert self.item.bounds is not None
            bound, step = _BOUNDS[key]
            self.set(
                move_bound(tokens, *(self.bounds or self.item.bounds), bound, step),
                self.kind or FIX,
            )
        elif key in (_LEFT, _RIGHT):
            self.cursor = min(max(self.cursor + (1 if key == _RIGHT else -1), 0), len(tokens) - 1)
        elif key == "m" and self.anchor is None:
            self.anchor = self.cursor
        elif key == "m":
            self.end_selection()
        elif key == _ESCAPE:
            self.anchor = None
            self.set(None, None)
        else:
            return False
        return True


def _review_spans(
    queue: ReviewQueue,
    reviewer: str,
    console: Console,
    read_key: Callable[[], str],
    limit: int | None,
    focus: str | None,
) -> int:
    """``review_in_terminal`` on a spans task: one span of a text per item."""
    answered = 0
    notice: Text | None = None
    edit: _SpanEdit | None = None
    while limit is None or answered < limit:
        item = queue.next(reviewer=reviewer, focus=focus)
        console.clear()
        if notice is not None:
            console.print(notice)
        if item is None:
            console.print(_nothing_to_ask(queue, focus, None))
            break
        assert item.bounds is not None
        if edit is None or (edit.item.example_id, edit.item.attribute) != (
            item.example_id,
            item.attribute,
        ):
            first = next((i for i, (_, end) in enumerate(item.tokens) if end > item.bounds[0]), 0)
            edit = _SpanEdit(item, first)
        else:
            # The same item again (after a missed span): its new spans, the cursor kept.
            edit = _SpanEdit(item, edit.cursor)
        progress = queue.progress(focus)
        shown = time.perf_counter()
        warning: Text | None = None
        while True:
            keys = _span_keys(item, edit, focus)
            console.print(_render_spans(item, edit, progress, focus, keys, _marking(console)))
            if warning is not None:
                console.print(warning)
                warning = None
            key = _read_span_key(read_key, _accepted(item, edit, keys), keys, console)
            if key == _REDRAW:
                console.clear()
                continue
            # A no is about the span under review: it would drop the edit (trial 32).
            if key in _NO and edit.pending:
                warning = Text(
                    "Enter saves the new bounds, Esc cancels them; then r says no to the span.",
                    style="red",
                )
                console.clear()
                continue
            # A yes or a type during a selection saves it, as m then Enter would (trial
            # 32: it dropped the selection and accepted the span under review).
            if key in (*_YES, *_ENTER) or key.isdigit():
                edit.end_selection()
            # Enter saves an edit; without one it does nothing.
            if not edit.key(key) and not (key in _ENTER and edit.bounds is None):
                break
            console.clear()
        seconds = time.perf_counter() - shown
        notice = None
        if key == "q":
            break
        if key == "u":
            undone = queue.undo(reviewer=reviewer)
            notice = Text(
                f"undid your answer on {printable(undone)}" if undone else "nothing to undo",
                style="dim",
            )
            answered -= undone is not None
            continue
        answer = {"reviewer": reviewer, "seconds": seconds}
        pick = item.numbers[key] if key.isdigit() else None
        if edit.bounds is not None and (key in (*_YES, *_ENTER) or pick is not None):
            label = pick or edit.label()
            if label not in queue.labels:
                notice = Text("new bounds need an entity type", style="red")
                continue
            if edit.kind == FIX:
                queue.fix_span(item.example_id, item.attribute, *edit.bounds, label=label, **answer)
            else:
                queue.mark_span(item.example_id, *edit.bounds, label, **answer)
        elif pick is not None:
            queue.answer(item.example_id, "label", label=pick, attribute=item.attribute, **answer)
        elif key in (*_YES, *_NO):
            action = "accept" if key in _YES else "reject"
            queue.answer(
                item.example_id, action, label=item.candidate, attribute=item.attribute, **answer
            )
        else:
            action = {"s": "skip", "?": "ambiguous"}[key]
            queue.answer(item.example_id, action, attribute=item.attribute, **answer)
        answered += 1
    console.print(progress_line(queue, focus), markup=False, highlight=False)
    return answered


def _span_keys(item: ReviewItem, edit: _SpanEdit, focus: str | None) -> dict[str, str]:
    """What each key does on a span item now, for the help line."""
    said = item.yes_no()
    # Trial 56a: a span with no type to ask about (no candidate) raised KeyError here.
    keys = {name: said[key] for name, key in (("a/y", "a"), ("r/n/x", "r")) if key in said}
    if edit.pending:
        keys = {"Enter/a/y": f"save {edit.label()}", "Esc": "cancel"}
    if focus is None or item.candidate is None or edit.pending:
        keys |= {key: label for key, label in item.numbers.items() if len(key) == 1}
    keys |= {
        "[ ]": "start a word left/right",
        ", .": "end a word left/right",
        "← →": "cursor",
        "m": "end selection" if edit.anchor is not None else "start a missed span",
        "s": "skip",
        "?": "ambiguous",
        "u": "undo",
        "q": "quit",
    }
    return keys


def _accepted(item: ReviewItem, edit: _SpanEdit, keys: dict[str, str]) -> set[str]:
    """The keys a span item takes now."""
    accepted = {*_NO, *_BOUNDS, _LEFT, _RIGHT, _ESCAPE, *_ENTER, "m", "s", "?", "u", "q"}
    accepted |= {name for name in keys if name.isdigit()}
    if item.candidate is not None or edit.pending:
        accepted |= set(_YES)
    return accepted


def _read_span_key(
    read_key: Callable[[], str], accepted: set[str], keys: dict[str, str], console: Console
) -> str:
    while True:
        key = read_key()
        if key in ("", "\x04"):  # end of input: quit, so a closed stdin never loops
            return "q"
        if key == _REDRAW:
            return key
        if key not in accepted:
            key = key.lower()
        if key in accepted:
            return key
        if key.strip():
            console.print(
                Text.assemble((f"unknown key {printable(repr(key))}; ", "red"), _help(keys))
            )


def _render_spans(
    item: ReviewItem,
    edit: _SpanEdit,
    progress: dict[str, int],
    focus: str | None,
    keys: dict[str, str],
    marking: str,
) -> Panel:
    assert item.bounds is not None
    colour = {label: HIGHLIGHTS[i % len(HIGHLIGHTS)] for i, label in enumerate(item.choices)}
    text = Text(printable(item.text))
    for span in item.spans:
        text.stylize(colour.get(span.label, "reverse"), span.start, span.end)
    text.stylize("bold reverse", *item.bounds)
    marks: list[tuple[str, Offsets | None]] = [
        ("black on light_sky_blue1", edit.selection() if edit.anchor is not None else None),
        ("black on green1", edit.bounds),
        ("underline", item.tokens[edit.cursor] if item.tokens else None),
    ]
    for style, bounds in marks:
        if bounds is not None:
            text.stylize(style, *bounds)
    body = Table.grid()
    body.add_row(
        _excerpt(
            text, [(*item.bounds, "item"), *((*bounds, style) for style, bounds in marks if bounds)]
        )
    )
    if item.spans:
        # Words beside their type, not a colour legend alone: piped output has no colour.
        # The nearest few (trial 62d: a report's 340 spans filled each screen).
        near = sorted(item.spans, key=lambda span: abs(span.start - item.bounds[0]))
        named = Text(" · ").join(
            Text.assemble(
                (f'"{printable(item.text[span.start : span.end])}"', colour.get(span.label, "")),
                f" {span.label}",
            )
            for span in sorted(near[:_NEAR_SPANS], key=lambda span: span.start)
        )
        more = len(near) - _NEAR_SPANS
        body.add_row(
            Text.assemble(
                ("other spans: ", "dim"),
                named,
                (f" · and {more:,} more further off" if more > 0 else "", "dim"),
            )
        )
    if marking == "none" and item.tokens:
        # Trial 61b: a dumb terminal shows neither the cursor's underline nor the span's
        # reverse, and the keys that fix a bound or mark a missed span start from them.
        start, end = item.tokens[edit.cursor]
        under = printable(item.text[slice(*item.bounds)])
        body.add_row(f'under review: "{under}" · cursor: "{printable(item.text[start:end])}"')
    if edit.bounds is not None:
        words = printable(item.text[edit.bounds[0] : edit.bounds[1]])
        there = edit.there()
        what = (
            "New bounds"
            if edit.kind == FIX
            else "Missed span"
            if there is None
            else f"Already a span ({printable(there.label)})"
        )
        body.add_row(Text(f'{what}: "{words}". Enter saves {edit.label()}.', style="green"))
    elif edit.anchor is not None:
        body.add_row(
            Text("Selecting: move with ← →; m ends the selection, Enter saves it.", style="green")
        )
    body.add_row("")
    body.add_row(Text(printable(item.question), style="bold cyan"))
    body.add_row(Text(f"flagged by {printable(item.reasons)}", style="dim"))
    votes = Table.grid(padding=(0, 2))
    for source, said in item.votes.items():
        votes.add_row(Text(printable(source), style="dim"), Text(printable(said)))
    body.add_row(votes)
    _add_fields(body, item)
    body.add_row("")
    help_line = _help(keys)
    help_line.stylize("cyan")
    body.add_row(help_line)
    counts = (
        f"{progress['reviewed']} reviewed{_skipped(progress)} · {progress['remaining']} "
        f"remaining · {progress['corrected']} corrected"
    )
    title = Text(printable(f"{focus} spans: {counts}" if focus else counts))
    return Panel(body, title=title, subtitle=Text(printable(item.example_id)))
