"""Turning an LLM's raw answer into one of the task's labels, or None."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_NOISE = re.compile(r"[^\w\s-]")
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
# Models pad answers with stray symbols ("&&&&B", "**Spam**"); nothing before the
# first letter or digit carries meaning.
_LEADING_JUNK = re.compile(r"^[\W_]+")
# "B", "B:", "B) Anger", "(B)", "AB: Dumb Blonde": an option letter at the start.
_OPTION_LETTER = re.compile(r"^\(?([A-Z]{1,2})(?:\s*$|\s*[:).]|\s+-)")
_YES_NO = re.compile(r"^(yes|no)\b", re.IGNORECASE)


def option_letter(index: int) -> str:
    """The letter of option ``index`` as prompts number them: A … Z, then AA, AB, ….

    Examples
    --------
    >>> option_letter(0), option_letter(25), option_letter(27)
    ('A', 'Z', 'AB')
    """
    if index < 26:
        return chr(ord("A") + index)
    return option_letter(index // 26 - 1) + option_letter(index % 26)


def parse_label(
    raw: str | None,
    labels: Sequence[str],
    *,
    letters: bool = False,
    yes_no: tuple[str, str] | None = None,
) -> str | None:
    """The label an answer names, or None when it names none or several.

    Reads a JSON object's ``label`` field when the answer holds one; drops leading
    symbols; then matches, in order: a label name as the whole answer (ignoring case
    and punctuation); with ``letters``, an option letter at the start, mapped through
    the label order (A is ``labels[0]``); with ``yes_no=(yes_label, no_label)``, a
    leading yes or no; and last, the one label mentioned as a word.

    Examples
    --------
    >>> parse_label('{"label": "Spam"}', ["ham", "spam"])
    'spam'
    >>> parse_label("This is ham.", ["ham", "spam"])
    'ham'
    >>> parse_label("could be spam or ham", ["ham", "spam"]) is None
    True
    >>> parse_label("&&&&B: AngerCDEF", ["fear", "anger", "joy"], letters=True)
    'anger'
    >>> parse_label("Yes, clearly.", ["ham", "spam"], yes_no=("spam", "ham"))
    'spam'
    """
    if raw is None:
        return None
    text = raw.strip()
    for candidate in (text, *_JSON_OBJECT.findall(text)):
        try:
            parsed = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("label"), str):
            text = parsed["label"]
            break
    text = _LEADING_JUNK.sub("", text)
    by_name = {_normalise(label): label for label in labels}
    if _normalise(text) in by_name:
        return by_name[_normalise(text)]
    if letters and (match := _OPTION_LETTER.match(text)):
        by_letter = {option_letter(i): label for i, label in enumerate(labels)}
        if match.group(1) in by_letter:
            return by_letter[match.group(1)]
    if yes_no and (match := _YES_NO.match(text)):
        return yes_no[0] if match.group(1).lower() == "yes" else yes_no[1]
    lowered = text.lower()
    mentioned = [
        label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", lowered)
    ]
    return mentioned[0] if len(mentioned) == 1 else None


def _normalise(text: str) -> str:
    return _NOISE.sub("", text).strip().lower()
