"""Turning an LLM's raw answer into one of the task's labels, or None; or, for a spans
task, into the character spans of the entities it lists."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import polars as pl
import spacy

from labelkit.errors import InputError, check_known_labels
from labelkit.spans import Offsets, Span, to_char_spans, to_token_spans, tokenize

_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
# "key": "value" (or true/false) pairs: what a cut-off or otherwise broken JSON answer
# still says.
_JSON_PAIR = re.compile(r'"([^"\\]+)"\s*:\s*(?:"([^"\\]*)"|(true|false))')
# Models pad answers with stray symbols ("&&&&B", "**Spam**"); nothing before the
# first letter or digit carries meaning.
_LEADING_JUNK = re.compile(r"^[\W_]+")
# "B", "B:", "B) Anger", "(B)", "AB: Dumb Blonde": an option letter at the start.
_OPTION_LETTER = re.compile(r"^\(?([A-Z]{1,2})(?:\s*$|\s*[:).]|\s+-)")
# "Answer: B", "The answer is (C)", "Option B": words before an option letter.
_ANSWER_LEAD = re.compile(
    r"^(?:the\s+)?(?:correct\s+|best\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:.-]?\s*",
    re.IGNORECASE,
)
# True and false answer a yes/no question too, as JSON answers and some LLMs give them.
_YES_NO = re.compile(r"^(yes|no|true|false)\b", re.IGNORECASE)
# Names compare by their letters and digits alone: "Sci/Tech", "Sci-Tech", "sci tech".
_SEPARATORS = re.compile(r"[\W_]+")
# A JSON object with no object inside: one entity of an answer cut off before its end.
_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")
# Words and single other characters: the pieces of an entity's word that whitespace may
# separate in the text.
_PIECES = re.compile(r"\w+|\W")

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
    >>> letter_map(["sci tech", "world"], ["Sci/Tech", "World"])
    {'A': 'Sci/Tech', 'B': 'World'}
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
    # Options are named as answers are read: "anger" or "Sci Tech" is the task's
    # "Anger" or "Sci/Tech".
    by_name = {_normalise(label): label for label in labels}
    pairs = {letter: by_name.get(_normalise(label), label) for letter, label in pairs.items()}
    check_known_labels("option letters", pairs.values(), labels)
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
    at the start (after "Answer:", "The answer is" or "Option", if any); with
    ``yes_no=(yes_label, no_label)``, a leading yes or no (true or false); and last,
    the one label mentioned (by name or alias) as a word.

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
    >>> parse_label("False", ["ham", "spam"], yes_no=("spam", "ham"))
    'ham'
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
    if letters is not None and (match := _OPTION_LETTER.match(_ANSWER_LEAD.sub("", text))):
        by_letter = letter_map(letters, labels)
        if match.group(1) in by_letter:
            return by_letter[match.group(1)]
    if yes_no and (match := _YES_NO.match(text)):
        return yes_no[0] if match.group(1).lower() in ("yes", "true") else yes_no[1]
    mentioned = {label for name, label in names if _mention(name).search(text)}
    return mentioned.pop() if len(mentioned) == 1 else None


def parse_attributes(
    raw: str | None,
    answers: Mapping[str, Sequence[str]],
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, str | None]:
    """Each attribute's answer in a JSON object answering several at once: None where
    the attribute is missing or its value is none of its ``answers``.

    Keys and values compare by their letters and digits alone, ignoring case; ``true``
    and ``false`` read as ``"yes"`` and ``"no"``; ``aliases`` give a label other names
    (``{"positive": ["good"]}``), for each attribute that has the label (trial 64c:
    they were read only when each attribute had a request of its own). An answer that
    is not a JSON object (cut off by the token limit, say) is read for the
    ``"key": "value"`` pairs it holds.

    Examples
    --------
    >>> answers = {"food": ["positive", "negative", "none"], "staff": ["positive", "negative", "none"]}
    >>> parse_attributes('{"food": "Positive", "staff": "rude"}', answers)
    {'food': 'positive', 'staff': None}
    >>> parse_attributes('{"food": "negative", "sta', answers)
    {'food': 'negative', 'staff': None}
    >>> parse_attributes('{"food": "good", "staff": "bad"}', answers, aliases={"positive": ["good"]})
    {'food': 'positive', 'staff': None}
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
        own = {label: names for label, names in (aliases or {}).items() if label in labels}
        by_name = {_normalise(name): label for name, label in _names(labels, own)}
        result[attribute] = by_name.get(_normalise(value)) if isinstance(value, str) else None
    return result


def parse_entities(raw: str | None) -> list[tuple[str, str]] | None:
    """The ``(text, label)`` pairs an answer lists as entities, or None when it lists
    none as JSON.

    Reads ``{"entities": [{"text": ..., "label": ...}, ...]}``, a bare list of such
    objects, or one such object; an answer that is not JSON (cut off by the token
    limit, say) is read for the entity objects it completed. An item without a string
    ``text`` or ``label`` is kept with ``""`` there, so that it counts as a failure.

    Examples
    --------
    >>> parse_entities('{"entities": [{"text": "battery life", "label": "TERM"}]}')
    [('battery life', 'TERM')]
    >>> parse_entities('{"entities": [{"text": "screen", "label": "TERM"}, {"text": "ke')
    [('screen', 'TERM')]
    >>> parse_entities("The entities are screen and keyboard.") is None
    True
    """
    text = (raw or "").strip()
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "entities" in parsed:
        parsed = parsed["entities"]
    elif isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        salvaged = []
        for candidate in _FLAT_OBJECT.findall(text):
            try:
                item = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and "text" in item:
                salvaged.append(item)
        if not salvaged:
            return None
        parsed = salvaged
    return [
        (
            _string(item.get("text")) if isinstance(item, dict) else "",
            _string(item.get("label")) if isinstance(item, dict) else "",
        )
        for item in parsed
    ]


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def align_entities(
    text: str,
    entities: Sequence[tuple[str, str]],
    labels: Sequence[str],
    tokens: Sequence[Offsets],
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    common_words: Collection[str] = (),
) -> tuple[list[Span], list[dict[str, str]]]:
    """The character spans of ``entities`` (``(text, label)`` pairs, as
    ``parse_entities`` reads them) in ``text``, and those that found none.

    Each entity marks every occurrence of its words in the text, ignoring case (but a
    name with a capital whose lower case is one of ``common_words``, the language's
    stop words as ``align_answers`` passes them, marks only the occurrences cased alike
    where there are any: "Go" marks "Go", not "go"; "Python" marks "python" too) and
    matching any run of whitespace between words ("Windows  7" finds "windows 7") and
    any or none around punctuation ("(DVD)" finds the tokenized "( DVD )"), never
    inside a word ("ram" does not find "program"), in NFC or NFD; each
    occurrence snaps outward to whole ``tokens`` (the text's, from
    ``labelkit.spans.tokenize``); a name's letters are not found beside ``#``, ``+`` or
    ``&`` that join them into another ("C" does not mark "C++" or "C#", nor "R"
    "R&D"). Overlapping spans resolve to the longest. A label
    compares by its letters and digits (``aliases`` add other names); an entity whose
    label is none of ``labels``, or whose words are not in the text, is a failure:
    ``{"text", "label", "reason"}``; words the answer gives two types mark neither where
    both fall, and an entity left with no span so is a failure too.

    Examples
    --------
    >>> text = "Battery  life is great, battery life!"
    >>> spans, failures = align_entities(
    ...     text, [("battery life", "term"), ("fan", "TERM")], ["TERM"], tokenize([text])[0])
    >>> [(s.start, s.end, s.label) for s in spans], [f["reason"] for f in failures]
    ([(0, 13, 'TERM'), (24, 36, 'TERM')], ['not in the text'])
    """
    by_name = {_normalise(name): label for name, label in _names(labels, aliases)}
    spans_of: dict[tuple[str, str], list[Span]] = {}
    failures = []
    for words, named in dict.fromkeys(entities):
        label = by_name.get(_normalise(named)) if _normalise(named) else None
        if label is None:
            failures.append({"text": words, "label": named, "reason": "label outside the task"})
            continue
        pattern = _words(words)
        matches = [] if pattern is None else list(pattern.finditer(text))
        if not matches:
            failures.append({"text": words, "label": named, "reason": "not in the text"})
            continue
        # Trial 67a: the skill "Go" marked the verb in "Ready to go?" 23 times. Only a
        # name that is also a common word: "python" in a posting is the skill too (the
        # second read), and a model may write a name in lower case.
        if words != words.lower() and " ".join(words.lower().split()) in common_words:
            cased = [m for m in matches if _letters(m.group()) == _letters(words)]
            matches = cased or matches
        occurrences = [Span(m.start(), m.end(), label) for m in matches]
        spans_of[(words, named)] = to_char_spans(to_token_spans(occurrences, tokens)[0], tokens)
    # Words the answer gives two types mark nothing (trial 59b: "Haartrockner" as BRAND
    # and as PRODUCT was BRAND on every occurrence, the first type by name).
    types_at: dict[tuple[int, int], set[str]] = {}
    for span in (span for spans in spans_of.values() for span in spans):
        types_at.setdefault((span.start, span.end), set()).add(span.label)
    torn = {bounds for bounds, types in types_at.items() if len(types) > 1}
    found = set()
    for (words, named), spans in spans_of.items():
        kept = [span for span in spans if (span.start, span.end) not in torn]
        if not kept:
            failures.append({"text": words, "label": named, "reason": "given another type too"})
        found.update(kept)
    return _longest_first(found), failures


def _words(words: str) -> re.Pattern[str] | None:
    """A pattern for ``words`` in NFC or NFD, any whitespace between them (and around
    their punctuation), any case, not inside a word; None for words that are only
    whitespace."""
    alternatives = []
    for form in dict.fromkeys(unicodedata.normalize(f, words) for f in ("NFC", "NFD")):
        parts = form.split()
        if not parts:
            return None
        # Pre-tokenized texts (WRENCH) space out punctuation that answers do not: "it 's";
        # and answers space out what texts do not (trial 59b: "€ 12,50" for "€12,50").
        body = ""
        for i, part in enumerate(parts):
            if i:
                words_meet = re.search(r"\w$", parts[i - 1]) and re.match(r"\w", part)
                body += r"\s+" if words_meet else r"\s*"
            body += r"\s*".join(re.escape(piece) for piece in _PIECES.findall(part))
        # Nor beside a symbol that joins letters into a name (trial 56a: "C" marked the
        # token "C++" and "R" the token "R&D."): "C" is not in "C#", "R" nor "D" in
        # "R&D"; "5" is in "5+ years".
        before = r"(?<!\w)" if re.match(r"\w", parts[0]) else ""
        before += r"(?<!&)" if parts[0][0].isalpha() else ""
        after = r"(?!\w)" if re.search(r"\w$", parts[-1]) else ""
        after += r"(?![#+&])" if parts[-1][-1].isalpha() else ""
        alternatives.append(before + body + after)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _letters(text: str) -> str:
    """``text``'s letters and digits in NFC, their case kept: what two spellings of a
    name share however they are spaced."""
    return "".join(c for c in unicodedata.normalize("NFC", text) if c.isalnum())


def _longest_first(spans: set[Span]) -> list[Span]:
    """``spans`` without overlaps, longer ones kept first (as ``spacy.util.filter_spans``),
    sorted by start."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start - s.end, s.start, s.label)):
        if all(span.end <= other.start or other.end <= span.start for other in kept):
            kept.append(span)
    return sorted(kept)


def _names(
    labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None
) -> list[tuple[str, str]]:
    """(name, label) for every label and alias; an alias of no label is an error."""
    check_known_labels("aliases", aliases or {}, labels)
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


def align_answers(
    texts: Sequence[str],
    answers: Sequence[str | None],
    labels: Sequence[str],
    lang: str,
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, list[Any]] | None]:
    """Each spans answer's entities in its text, the texts tokenized in one pass:
    ``{"spans": [[start, end, label], ...], "failures": [...]}`` (``align_entities``),
    or None where the answer lists no entities as JSON (``parse_entities``). This is
    what the LLM cache keeps as a spans answer's ``label``.

    Examples
    --------
    >>> align_answers(["the battery life"], ['[{"text": "battery life", "label": "TERM"}]'],
    ...               ["TERM"], "en")
    [{'spans': [[4, 16, 'TERM']], 'failures': []}]
    """
    aligned: list[dict[str, list[Any]] | None] = []
    common = spacy.util.get_lang_class(lang).Defaults.stop_words
    for text, answer, offsets in zip(texts, answers, tokenize(texts, lang), strict=True):
        entities = parse_entities(answer)
        if entities is None:
            aligned.append(None)
            continue
        spans, failures = align_entities(
            text, entities, labels, offsets, aliases=aliases, common_words=common
        )
        aligned.append({"spans": [span.to_json() for span in spans], "failures": failures})
    return aligned


def commonest_answers(answers: pl.Series, n: int = 5) -> tuple[tuple[str, int], ...]:
    """The ``n`` commonest of ``answers`` (raw answers, say, that parsed into nothing)
    with their counts, most frequent first.

    Examples
    --------
    >>> commonest_answers(pl.Series(["maybe", "dunno", "maybe"]))
    (('maybe', 2), ('dunno', 1))
    """
    counted = answers.drop_nulls().value_counts(name="n")
    return tuple(counted.sort("n", answers.name, descending=[True, False]).head(n).iter_rows())
