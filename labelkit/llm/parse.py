"""Turning an LLM's raw answer into one of the task's labels, or None."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from labelkit.errors import InputError

_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
# "key": "value" (or true/false) pairs: what a cut-off or otherwise broken JSON answer
# still says.
_JSON_PAIR = re.compile(r'"([^"\\]+)"\s*:\s*(?:"([^"\\]*)"|(true|false))')
# Models pad answers with stray symbols ("&&&&B", "**Spam**"); nothing before the
# first letter or digit carries meaning.
_LEADING_JUNK = re.compile(r"^[\W_]+")
# "B", "B:", "B) Anger", "(B)", "AB: Dumb Blonde": an option letter at the start.
_OPTION_LETTER = re.compile(r"^\(?([A-Z]{1,2})(?:\s*$|\s*[:).]|\s+-)")
_YES_NO = re.compile(r"^(yes|no)\b", re.IGNORECASE)
# Names compare by their letters and digits alone: "Sci/Tech", "Sci-Tech", "sci tech".
_SEPARATORS = re.compile(r"[\W_]+")

Letters = Sequence[str] | Mapping[str, str]


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


def letter_map(letters: Letters | bool, labels: Sequence[str]) -> dict[str, str]:
    """Option letter → label, from the prompt's options in order (A first) or a mapping.

    The task's label order is not the prompt's (it is often alphabetical), so the
    order must be given; ``True`` is refused.

    Examples
    --------
    >>> letter_map(["World", "Sports"], ["Sports", "World"])
    {'A': 'World', 'B': 'Sports'}
    """
    if isinstance(letters, bool):
        raise InputError(
            "option letters need the prompt's option order, e.g. "
            "letters=['World', 'Sports', 'Business', 'Sci/Tech'] "
            '(CLI: --letters "World,Sports,Business,Sci/Tech" or "A=World,B=Sports,...")'
        )
    pairs = (
        dict(letters)
        if isinstance(letters, Mapping)
        else {option_letter(i): label for i, label in enumerate(letters)}
    )
    unknown = sorted(set(pairs.values()) - set(labels))
    if unknown:
        raise InputError(f"option letters name labels the task lacks: {unknown}")
    bad = sorted(letter for letter in pairs if not re.fullmatch(r"[A-Z]{1,2}", letter))
    if bad:
        raise InputError(f"option letters must be A to ZZ, got {bad}")
    return pairs


def parse_label(
    raw: str | None,
    labels: Sequence[str],
    *,
    letters: Letters | None = None,
    yes_no: tuple[str, str] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> str | None:
    """The label an answer names, or None when it names none or several.

    Reads a JSON object's ``label`` field when the answer holds one; drops leading
    symbols; then matches, in order: a label name or alias as the whole answer
    (comparing letters and digits only, so "Sci Tech" is "Sci/Tech"); with
    ``letters`` (the prompt's options in order, or letter → label), an option letter
    at the start; with ``yes_no=(yes_label, no_label)``, a leading yes or no; and
    last, the one label mentioned (by name or alias) as a word.

    Examples
    --------
    >>> parse_label('{"label": "Spam"}', ["ham", "spam"])
    'spam'
    >>> parse_label("This is ham.", ["ham", "spam"])
    'ham'
    >>> parse_label("could be spam or ham", ["ham", "spam"]) is None
    True
    >>> parse_label("&&&&B: AngerCDEF", ["anger", "fear", "joy"], letters=["fear", "anger", "joy"])
    'anger'
    >>> parse_label("Science", ["Sports", "Sci/Tech"], aliases={"Sci/Tech": ["Science"]})
    'Sci/Tech'
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
    names = _names(labels, aliases)
    by_name = {_normalise(name): label for name, label in names}
    if _normalise(text) in by_name:
        return by_name[_normalise(text)]
    if letters is not None and (match := _OPTION_LETTER.match(text)):
        by_letter = letter_map(letters, labels)
        if match.group(1) in by_letter:
            return by_letter[match.group(1)]
    if yes_no and (match := _YES_NO.match(text)):
        return yes_no[0] if match.group(1).lower() == "yes" else yes_no[1]
    mentioned = {label for name, label in names if _mention(name).search(text)}
    return mentioned.pop() if len(mentioned) == 1 else None


def parse_attributes(
    raw: str | None, answers: Mapping[str, Sequence[str]]
) -> dict[str, str | None]:
    """Each attribute's answer in a JSON object answering several at once: None where
    the attribute is missing or its value is none of its ``answers``.

    Keys and values compare by their letters and digits alone, ignoring case; ``true``
    and ``false`` read as ``"yes"`` and ``"no"``. An answer that is not a JSON object
    (cut off by the token limit, say) is read for the ``"key": "value"`` pairs it holds.

    Examples
    --------
    >>> answers = {"food": ["positive", "negative", "none"], "staff": ["positive", "negative", "none"]}
    >>> parse_attributes('{"food": "Positive", "staff": "rude"}', answers)
    {'food': 'positive', 'staff': None}
    >>> parse_attributes('{"food": "negative", "sta', answers)
    {'food': 'negative', 'staff': None}
    """
    found: dict[str, object] = {}
    text = (raw or "").strip()
    for candidate in (text, *_JSON_OBJECT.findall(text)):
        try:
            parsed = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            found = parsed
            break
    else:
        for key, value, boolean in _JSON_PAIR.findall(text):
            found.setdefault(key, value if not boolean else boolean == "true")
    values = {_normalise(key): value for key, value in found.items()}
    result: dict[str, str | None] = {}
    for attribute, labels in answers.items():
        value = values.get(_normalise(attribute))
        if isinstance(value, bool):
            value = "yes" if value else "no"
        by_name = {_normalise(label): label for label in labels}
        result[attribute] = by_name.get(_normalise(value)) if isinstance(value, str) else None
    return result


def _names(
    labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None
) -> list[tuple[str, str]]:
    """(name, label) for every label and alias; an alias of no label is an error."""
    unknown = sorted(set(aliases or {}) - set(labels))
    if unknown:
        raise InputError(f"aliases name labels the task lacks: {unknown}")
    return [(label, label) for label in labels] + [
        (alias, label) for label, names in (aliases or {}).items() for alias in names
    ]


def _normalise(text: str) -> str:
    return _SEPARATORS.sub("", text).lower()


def _mention(name: str) -> re.Pattern[str]:
    """A name as whole words, whatever separates its parts: "sci/tech" finds "Sci Tech"."""
    parts = [re.escape(part) for part in _SEPARATORS.split(name.lower()) if part]
    if not parts:
        return re.compile(r"(?!)")
    return re.compile(r"\b" + r"[\W_]*".join(parts) + r"\b", re.IGNORECASE)
