"""Span bounds in review: where they may fall, and moving them token by token.

A spans task's review item is one span of one text (attribute ``"<start>:<end>"``, in
characters). Bounds move over the text's word tokens (``labelkit.spans.tokenize``,
whitespace tokens left out, so a span never starts or ends on a space or a line
break); a selection snaps outward to the tokens it touches.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from labelkit.spans import Offsets, tokenize


def word_tokens(text: str, lang: str = "en") -> list[Offsets]:
    """The character offsets of ``text``'s tokens that are not whitespace: where a span's
    bounds may fall.

    Examples
    --------
    >>> word_tokens("big  screen\\r\\n")
    [(0, 3), (5, 11)]
    """
    return [(s, e) for s, e in tokenize([text], lang)[0] if text[s:e].strip()]


def snap(tokens: Sequence[Offsets], start: int, end: int) -> tuple[int, int] | None:
    """``[start, end)`` widened to the bounds of the tokens it touches; None when it
    touches none (only whitespace between tokens).

    Examples
    --------
    >>> snap([(0, 3), (4, 11)], 1, 6)
    (0, 11)
    """
    first, last = _touched(tokens, start, end)
    return (tokens[first][0], tokens[last][1]) if first <= last else None


def move_bound(
    tokens: Sequence[Offsets], start: int, end: int, bound: str, step: int
) -> tuple[int, int]:
    """``[start, end)`` with its ``bound`` (``"start"`` or ``"end"``) moved ``step`` tokens
    (negative: left), snapped to tokens first; a move that would leave the text or empty
    the span leaves it where it is.

    Examples
    --------
    >>> tokens = [(0, 3), (4, 11), (12, 16)]
    >>> move_bound(tokens, 4, 11, "end", 1), move_bound(tokens, 4, 11, "start", 1)
    ((4, 16), (4, 11))
    """
    first, last = _touched(tokens, start, end)
    if first > last:
        return start, end
    if bound == "start":
        first = min(max(first + step, 0), last)
    else:
        last = max(min(last + step, len(tokens) - 1), first)
    return tokens[first][0], tokens[last][1]


def _touched(tokens: Sequence[Offsets], start: int, end: int) -> tuple[int, int]:
    """The first and last token ``[start, end)`` touches (first > last: none)."""
    first = bisect.bisect_right([e for _, e in tokens], start)
    last = bisect.bisect_left([s for s, _ in tokens], end) - 1
    return first, last
