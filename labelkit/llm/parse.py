"""Turning an LLM's raw answer into one of the task's labels, or None."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_NOISE = re.compile(r"[^\w\s-]")
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def parse_label(raw: str | None, labels: Sequence[str]) -> str | None:
    """The label an answer names, or None when it names none or several.

    Reads a JSON object's ``label`` field when the answer holds one; otherwise
    matches label names ignoring case and punctuation, first as the whole answer,
    then as the one label mentioned as a word.

    Examples
    --------
    >>> parse_label('{"label": "Spam"}', ["ham", "spam"])
    'spam'
    >>> parse_label("This is ham.", ["ham", "spam"])
    'ham'
    >>> parse_label("could be spam or ham", ["ham", "spam"]) is None
    True
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
    by_name = {_normalise(label): label for label in labels}
    if _normalise(text) in by_name:
        return by_name[_normalise(text)]
    lowered = text.lower()
    mentioned = [
        label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", lowered)
    ]
    return mentioned[0] if len(mentioned) == 1 else None


def _normalise(text: str) -> str:
    return _NOISE.sub("", text).strip().lower()
