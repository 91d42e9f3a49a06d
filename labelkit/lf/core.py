"""Labeling functions: declarative ones that compile to polars expressions, and plain Python.

A declarative LF (keywords, regex, length, threshold, lookup, column, lexicon) votes
a label where its condition holds and abstains elsewhere; all of them run column-wise
in one polars pass, on texts and metadata in Unicode NFC, with their keywords, patterns
and values in NFC too, so that a word matches whichever form the data came in. A
Python LF is called per row with the example (its text as stored) and returns a label
name or None (abstain), or on a task with attributes several (attribute, label) votes.
spaCy pattern LFs live in ``labelkit.lf.patterns``.

On a task with attributes (``Task.targets``) every vote is on one attribute: a
declarative or pattern LF names its ``attribute`` (on an aspects task it may vote
``"mentioned"``); on a multi-label task an LF may instead vote a label name, stored as
that label's attribute answered ``"yes"`` (``vote_codes``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import sys
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, overload

import duckdb
import polars as pl

from labelkit.errors import InputError, did_you_mean
from labelkit.tables import read_utf8
from labelkit.task import ABSTAIN, YES, Task

# Part of every declarative LF's definition: raised when the way they match changes (2:
# NFC text, word boundaries only at word-character edges; 3: metadata fields read by
# DuckDB, which writes floats of 1e16 and more out in full), so that votes stored under
# the old rules are not reused as current.
MATCHING_RULES = 3


class Fields(dict[str, Any]):
    """An example's metadata: a dict whose missing key is an error naming the fields
    there are (trial 48b: ``x.meta["amout"]`` failed as a bare ``KeyError: 'amout'``).

    Examples
    --------
    >>> Fields({"amount": "12"})["amout"]
    Traceback (most recent call last):
    KeyError: "no field 'amout'; the example's fields are ['amount'] (did you mean 'amount'?)"
    """

    def __missing__(self, key: str) -> Any:
        raise KeyError(
            f"no field {key!r}; the example's fields are {sorted(self)}"
            + did_you_mean(str(key), self)
        )


@dataclass(frozen=True)
class Example:
    """What a Python labeling function receives: ``x.text``, ``x.id`` and ``x.meta``
    (``Fields``), whose fields read as attributes too.

    Examples
    --------
    >>> x = Example("c1", "Subscribe to me", {"author": "bot 7"})
    >>> x.meta["author"], x.author
    ('bot 7', 'bot 7')
    """

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", Fields(self.meta))

    def __getattr__(self, name: str) -> Any:
        # Snorkel's LFs read a row's columns as attributes (trial 53a: x.true_label
        # failed as a bare AttributeError): a metadata field reads as one too.
        meta = self.__dict__.get("meta")
        if name.startswith("__") or meta is None:
            raise AttributeError(name)
        if name in meta:
            return meta[name]
        raise AttributeError(
            f"the example has no attribute or field {name!r}: it has id, text and meta, "
            f"and its fields are {sorted(meta)}" + did_you_mean(name, meta)
        )


class LabelingFunction:
    """Base of every labeling function: a ``name`` and a ``definition`` that identifies it.

    Examples
    --------
    >>> lf = keyword_lf("sub", ["subscribe"], "spam")
    >>> lf.name, isinstance(lf, LabelingFunction)
    ('sub', True)
    """

    name: str

    @property
    def definition(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class DeclarativeLF(LabelingFunction):
    """An LF that votes the label of the first of its ``outcomes`` whose condition (a
    polars boolean expression over ``text`` and ``meta``) holds, and abstains elsewhere.

    Most kinds have one outcome; a lexicon LF has one per label. ``fields`` names the
    metadata fields the conditions read, so that a misspelt field is an error, not
    silence. ``attribute`` is the attribute its labels answer on a task with
    attributes (``""``: classification, or label names of a multi-label task).
    ``origin`` says where it was written (``file:line`` for a rule), for errors.
    """

    name: str
    kind: str
    params: tuple[tuple[str, Any], ...]
    outcomes: tuple[tuple[str, pl.Expr], ...] = field(compare=False, repr=False)
    fields: tuple[str, ...] = ()
    attribute: str = ""
    origin: str = field(default="", compare=False, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.outcomes)

    @property
    def definition(self) -> str:
        # The attribute joins the definition only where there is one, so that the
        # hashes of classification LFs, and the votes stored under them, stay current.
        attribute = {"attribute": self.attribute} if self.attribute else {}
        return json.dumps(
            {
                "kind": self.kind,
                "labels": self.labels,
                **attribute,
                **dict(self.params),
                "matching": MATCHING_RULES,
            },
            default=str,
        )

    def votes(self, codes: Mapping[str, int]) -> pl.Expr:
        """The vote per row as an Int16 code expression, ``ABSTAIN`` where none fires.

        The first outcome whose condition holds decides, so an outcome coded
        ``ABSTAIN`` (one answering another attribute) still hides the ones after it.
        """
        (label, condition), *rest = self.outcomes
        chain = pl.when(condition).then(pl.lit(codes[label], pl.Int16))
        for label, condition in rest:
            chain = chain.when(condition).then(pl.lit(codes[label], pl.Int16))
        return chain.otherwise(pl.lit(ABSTAIN, pl.Int16)).alias(self.name)


# What a Python LF may return: a label or None, or on a task with attributes a mapping
# of attribute to label, or a list of (attribute, label) pairs and label names.
Vote = str | None | Mapping[str, str | None] | Iterable[str | tuple[str, str]]


def vote_codes(task: Task) -> dict[tuple[str, str], tuple[int, int]]:
    """Every vote a source may cast on ``task``, ``(attribute, label)``, with where it
    goes: the index of its attribute in ``task.targets`` and its code in
    ``task.vote_task(attribute)``.

    On a multi-label task a label name with no attribute, ``("", label)``, is that
    label's attribute answered ``"yes"``.

    Examples
    --------
    >>> vote_codes(Task(("sports", "tech"), kind="multilabel"))[("", "tech")]
    (1, 0)
    """
    table = {
        (attribute, label): (t, code)
        for t, attribute in enumerate(task.targets)
        for code, label in enumerate(task.vote_task(attribute).labels)
    }
    if task.kind == "multilabel":
        table |= {("", label): table[(label, YES)] for label in task.labels}
    # A label written in another normal form is the same label (stored in NFC by ingest;
    # the second read of stop 55: an LF voting "facturación" in NFD was refused).
    return table | {
        (unicodedata.normalize(a, attribute), unicodedata.normalize(b, label)): code
        for (attribute, label), code in table.items()
        for a, b in (("NFD", "NFD"), ("NFC", "NFD"), ("NFD", "NFC"))
    }


def unknown_vote(task: Task, attribute: str, label: str) -> str:
    """Why ``(attribute, label)`` is not a vote on ``task``, to follow an LF's name.

    Examples
    --------
    >>> unknown_vote(Task(("ham", "spam")), "", "eggs")
    "votes 'eggs', which is not one of the task's labels ['ham', 'spam']"
    """
    if attribute not in task.targets and not (task.kind == "multilabel" and not attribute):
        if task.kind == "classification":
            return f"votes on attribute {attribute!r}, but a classification task has none"
        if not attribute:
            return (
                f"votes {label!r} on no attribute; on this {task.kind} task a vote names one "
                f"of the attributes {list(task.targets)}"
            )
        noun = task.target_noun
        return (
            f"votes on unknown {noun} {attribute!r}; the {noun}s are {list(task.targets)}"
            + did_you_mean(attribute, task.targets)
        )
    if not attribute:
        labels = task.labels
        return (
            f"votes {label!r}, which is not one of the task's labels {list(labels)}"
            + did_you_mean(label, labels)
        )
    labels = task.vote_task(attribute).labels
    return (
        f"votes {label!r} on {attribute!r}, which is not one of its labels {list(labels)}"
        + did_you_mean(label, labels)
    )


@dataclass(frozen=True)
class PythonLF(LabelingFunction):
    """An LF written as a Python function of an ``Example``, run per row."""

    name: str
    func: Callable[..., Vote] = field(repr=False)
    resources: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    @property
    def definition(self) -> str:
        source = python_definition(self.func)
        if not self.resources:
            return source
        return f"{source.rstrip()}\n# resources {_stable_repr(dict(self.resources))}\n"

    def __call__(self, x: Example) -> Vote:
        return self.func(x, **dict(self.resources)) if self.resources else self.func(x)


# What starts the line a Python LF's definition adds for what it reads.
FINGERPRINT = "\n# reads "


def python_definition(func: Callable[..., Any]) -> str:
    """A Python LF's definition: its source code, and where it reads names of its module
    (constants, helper functions, default arguments, closure variables) a fingerprint of
    their values, so that editing them changes the definition and ``apply`` runs it
    again (trial 52a: a keyword list edited between rounds kept its old votes). A value
    counts as its ``repr`` shows it; a helper of the project, as its source code and what
    it reads in turn; a module or an installed package's function, by name.

    Examples
    --------
    >>> WORDS = ["crash"]
    >>> def bug(x):
    ...     return "bug" if any(w in x.text for w in WORDS) else None
    >>> python_definition(bug).splitlines()[-1].startswith("# reads WORDS (fingerprint ")
    True
    """
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return f"{func.__module__}.{func.__qualname__}"
    reads = _reads(func, set())
    if not reads:
        # What an LF without them always stored: their votes stay current.
        return source
    fingerprint = hashlib.sha256(repr(reads).encode()).hexdigest()[:16]
    names = ", ".join(dict.fromkeys(name for name, _ in reads))
    return f"{source.rstrip()}{FINGERPRINT}{names} (fingerprint {fingerprint})\n"


def _reads(func: Callable[..., Any], seen: set[str]) -> list[tuple[str, str]]:
    """``(name, value)`` of what ``func`` reads from its module, its defaults and its
    closure, the project's helpers followed; ``seen`` names those already listed."""
    code = getattr(func, "__code__", None)
    if code is None:
        return []
    found: list[tuple[str, str]] = []
    module = getattr(func, "__globals__", {})
    for name in sorted(_code_names(code)):
        if name in seen or name not in module or inspect.ismodule(module[name]):
            continue
        seen.add(name)
        value = module[name]
        if inspect.isfunction(value) and _project_code(value):
            found.append((name, _source_or_name(value)))
            found.extend(_reads(value, seen))
        else:
            found.append((name, _stable_repr(value)))
    defaults = (*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).items())
    found.extend((f"{func.__name__} defaults", _stable_repr(value)) for value in defaults)
    for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
        try:
            found.append((name, _stable_repr(cell.cell_contents)))
        except ValueError:  # a cell not yet filled
            continue
    return found


def _code_names(code: Any) -> set[str]:
    """The global names ``code`` and the functions nested in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _code_names(const)
    return names


def _project_code(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is the user's code: neither Python's nor an installed package's
    (labelkit's own included)."""
    try:
        path = Path(inspect.getsourcefile(func) or "").resolve()
    except TypeError:
        return False
    installed = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).parents[1])}
    return not any(path.is_relative_to(Path(root).resolve()) for root in installed)


def _source_or_name(func: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return f"{func.__module__}.{func.__qualname__}"


def _stable_repr(value: Any, depth: int = 0) -> str:
    """``repr(value)`` the same in every process: sets sorted (str hashes vary from
    run to run), memory addresses left out, functions by name."""
    if depth > 20:
        return "..."
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(_stable_repr(v, depth + 1) for v in value)) + "}"
    if isinstance(value, dict):
        pairs = (
            f"{_stable_repr(k, depth + 1)}: {_stable_repr(v, depth + 1)}" for k, v in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_stable_repr(v, depth + 1) for v in value) + "]"
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    try:
        shown = repr(value)
    except Exception:  # a repr that fails is the object's own bug; its type still counts
        shown = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", shown)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _flags(case_sensitive: bool) -> str:
    return "" if case_sensitive else "(?i)"


def nfc(text: str) -> str:
    """``text`` in Unicode NFC, the form every declarative LF matches in."""
    return unicodedata.normalize("NFC", text)


def declared_definition(definition: str | None) -> dict[str, Any] | None:
    """A declarative LF's stored definition (its JSON spec), None for a Python LF's,
    which is its source code.

    Examples
    --------
    >>> declared_definition('{"kind": "regex", "pattern": "free"}')["kind"], declared_definition("def f(x): ...")
    ('regex', None)
    """
    try:
        spec = json.loads(definition or "")
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def whole_words(words: Sequence[str], accents: bool = True, *, case_sensitive: bool = False) -> str:
    """A regex matching any of ``words`` (or phrases) as whole words, flags left to the caller.

    A word boundary is required only at an edge where the word has a word character:
    ``c++`` must start a word but may end anywhere, as ``\\b`` after ``+`` would need a
    word character to follow. Each word matches in NFC and in NFD, so that the regex
    finds it in stored texts of either form (review highlights spans with it). With
    ``accents=False`` a letter matches itself with any accent or none (``envio`` and
    ``envío`` both match either; ``ñ`` is an ``n``; Arabic and Hebrew letters with any
    of their vowel marks, and Arabic's stretching tatweel). Unless ``case_sensitive``,
    Turkish's dotted and dotless i are cases of i and ı, which the caller's ``(?i)``
    cannot know (``istanbul`` matches ``İstanbul``).

    Examples
    --------
    >>> whole_words(["sub to", "c++"], case_sensitive=True)
    '(?:\\bsub\\ to\\b|\\bc\\+\\+)'
    >>> bool(re.search(whole_words(["envio"], accents=False), "su envío"))
    True
    """
    escape = _escaper(accents, case_sensitive)
    if not accents:
        bare = dict.fromkeys(_without_accents(word) for word in words)
        return f"(?:{'|'.join(_bounded(word, escape) for word in bare)})"
    forms = dict.fromkeys(
        unicodedata.normalize(form, word) for word in words for form in ("NFC", "NFD")
    )
    return f"(?:{'|'.join(_bounded(word, escape) for word in forms)})"


# Turkish's i: each case's other that a regex's case folding leaves out (Unicode folds
# "İ" to "i" + a combining dot, and "ı" to nothing), the lowercase ones scoped case-exact
# (trial 57f: "istanbul" matched no "İstanbul", "ılık" no "ILIK").
_TURKISH_CASES = {"i": "İ", "I": "ı", "İ": "(?-i:[iI])", "ı": "(?-i:I)"}


def _escaper(accents: bool, case_sensitive: bool) -> Callable[[str], str]:
    """How ``whole_words`` writes one character of a word as a regex."""
    escape = re.escape if accents else _any_accent
    if case_sensitive:
        return escape

    def either_case(char: str) -> str:
        other = _TURKISH_CASES.get(char)
        return escape(char) if other is None else f"(?:{escape(char)}|{other})"

    return either_case


def _bounded(word: str, escape: Callable[[str], str] = re.escape) -> str:
    start = r"\b" if _is_word_char(word[:1]) and not _unspaced(word[:1]) else ""
    end = r"\b" if _is_word_char(word[-1:]) and not _unspaced(word[-1:]) else ""
    return start + "".join(map(escape, word)) + end


# Scripts written without spaces between words, by the start of their letters' Unicode
# names: a whole word there has no edge a regex can see.
_UNSPACED_SCRIPTS = (
    "CJK",
    "IDEOGRAPHIC ITERATION",
    "HIRAGANA",
    "KATAKANA",
    "HALFWIDTH KATAKANA",
    "THAI",
    "LAO",
    "KHMER",
    "MYANMAR",
)


def _unspaced(char: str) -> bool:
    """Whether ``char`` is of a script written without spaces (Chinese, Japanese, Thai,
    ...): a keyword's edge there needs no word boundary, as ``\\b`` would need a space
    or punctuation beside it (trial 57e: 22 Chinese and Japanese keyword LFs matched
    nothing; 快递 was found in 快递，很慢 and not in 快递很慢).

    Examples
    --------
    >>> _unspaced("快"), _unspaced("か"), _unspaced("k")
    (True, True, False)
    """
    return unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS)


def _without_accents(word: str) -> str:
    """``word`` with the accents of its Latin letters taken off; other letters as they
    are (the second read of stop 57: Japanese ギ lost its voicing mark, and Hangul fell
    apart into its letters, so that neither matched).

    Examples
    --------
    >>> _without_accents("envío"), _without_accents("ギフト")
    ('envio', 'ギフト')
    """
    plain = []
    for char in unicodedata.normalize("NFC", word):
        if _VOWEL_MARKS.fullmatch(char):
            continue
        parts = unicodedata.normalize("NFD", char)
        plain.append(parts[0] if parts[0].isascii() and parts[0].isalpha() else char)
    return "".join(plain)


# Arabic's vowel marks (harakat, tanwin, shadda, sukun, the dagger alif) and tatweel,
# which stretches a word; Hebrew's points and cantillation marks (trial 57f: with
# accents=False, الجائزة missed الجَائِزَةِ and فاشل missed فاشـــل).
_VOWEL_MARKS = re.compile("[\u064b-\u065f\u0670\u0640\u0591-\u05c7]")
_ARABIC_MARKS, _HEBREW_MARKS = "[\u064b-\u065f\u0670\u0640]*", "[\u0591-\u05c7]*"


def _accented_letters() -> dict[str, str]:
    """Each Latin letter's composed accented forms by the plain letter: "e" -> "éèêë...",
    from Latin-1 to Latin Extended-B and Latin Extended Additional (Vietnamese "ạ", Yoruba
    "ọ"). Letters that do not decompose ("ø", "đ") stay letters of their own."""
    accented: dict[str, str] = {}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        decomposed = unicodedata.normalize("NFD", chr(code))
        if len(decomposed) > 1 and decomposed[0].isascii() and decomposed[0].isalpha():
            accented[decomposed[0]] = accented.get(decomposed[0], "") + chr(code)
    return accented


_ACCENTED = _accented_letters()


def _any_accent(char: str) -> str:
    """A regex of ``char`` with any accent or none, composed or as combining marks after
    it; an Arabic or Hebrew letter with any of its vowel marks after it."""
    name = unicodedata.name(char, "")
    if name.startswith("ARABIC LETTER"):
        return re.escape(char) + _ARABIC_MARKS
    if name.startswith("HEBREW LETTER"):
        return re.escape(char) + _HEBREW_MARKS
    if char not in _ACCENTED:
        return re.escape(char)
    return rf"[{char}{_ACCENTED[char]}][\u0300-\u036f]*"


def _is_word_char(char: str) -> bool:
    # What `\w` means to polars' regex engine: letters, marks, digits and connectors
    # such as "_". Python's `\w` leaves out marks, so it would misjudge a word ending
    # in a combining accent.
    return bool(char) and unicodedata.category(char) in _WORD_CATEGORIES


_WORD_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "Pc"}


def _checked_pattern(name: str, pattern: str, written: str) -> str:
    """``pattern`` (``written`` by the user, before labelkit's flags) if polars' regex
    reads it; else an error naming the LF with the parser's reason on its first line
    (trial 58c: the line read "regex parse error:" and the reason came four lines on)."""
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.PolarsError as error:
        # The parser's own words and caret, without polars' note on the expression.
        detail = str(error).partition("\n\nThis error occurred")[0].removeprefix("regex error: ")
        reasons = [line for line in detail.splitlines() if line.startswith("error: ")]
        reason = reasons[-1].removeprefix("error: ") if reasons else detail.splitlines()[0]
        if "look-around" in reason or "backreference" in reason:
            reason += (
                " (keyword and regex LFs run Rust's regex, in time linear in the text, "
                "which has neither; a Python LF may use `re`)"
            )
        raise InputError(
            f"labeling function {name!r}: invalid pattern {written!r}: {reason}\n{detail}"
        ) from None
    return pattern


def field_value(name: str) -> pl.Expr:
    """The text (``"text"``) or a metadata field of each example, as a string expression.

    A field reads the column that ``with_fields`` adds: the metadata JSON is parsed once
    per row for all fields, however many LFs read them.

    Examples
    --------
    >>> with_fields(frame, ["author"]).select(field_value("author"))
    """
    if name == "text":
        return pl.col("text")
    field_path(name)
    return pl.col(_FIELD_COLUMN + name)


def field_path(name: str) -> str:
    """The JSON path of metadata field ``name`` in DuckDB's syntax, quoted, so that a
    column as a spreadsheet names it (``Score (1-5)``, ``Catégorie``) is readable
    (trial 59c: such names were refused); a name a quoted path cannot hold is refused.

    Examples
    --------
    >>> field_path("Score (1-5)")
    '$."Score (1-5)"'
    """
    if not name or re.search(r'["\\\x00-\x1f]', name):
        raise InputError(
            f"metadata field {name!r} cannot be read by name (it is empty or holds a quote, "
            "a backslash or a control character): rename the column before ingest, or read "
            "it in a Python LF (x.meta)"
        )
    return f'$."{name}"'


# A prefix no column of the examples frame (id, text, meta) can start with.
_FIELD_COLUMN = "meta."


def with_fields(examples: pl.DataFrame, names: Iterable[str]) -> pl.DataFrame:
    """``examples`` (``id`` and ``meta`` columns) with a string column per metadata field
    in ``names`` (in NFC; null where the field is missing), read from the JSON ``meta``
    column in one pass; metadata that is not JSON is an error naming the example.

    A string value is read as it is, any other as its JSON text (``3``, ``true``,
    ``{"a":1}``).

    Examples
    --------
    >>> with_fields(frame, ["author"]).select(field_value("author"))
    """
    names = sorted({name for name in names if name != "text"})
    if not names:
        return examples
    columns = [_FIELD_COLUMN + name for name in names]
    paths = [field_path(name) for name in names]
    # DuckDB parses each row's JSON once for every path; polars' json_path_match would
    # parse it again per field, which dominates when many LFs read many fields.
    with duckdb.connect() as con:
        con.register("examples", examples.select("id", "meta").with_row_index("i"))
        try:
            values = con.sql(
                "SELECT json_extract_string(meta, $paths) AS v FROM examples ORDER BY i",
                params={"paths": paths},
            ).pl()
        except duckdb.InvalidInputException as error:
            bad = con.sql("SELECT id FROM examples WHERE NOT json_valid(meta) LIMIT 1").fetchall()
            where = f"example {bad[0][0]!r}" if bad else "an example"
            raise InputError(
                f"the metadata of {where} is not JSON ({error}); LFs read fields {names} from it"
            ) from None
    fields = (
        values.select(pl.col("v").list.to_struct(fields=columns))
        .unnest("v")
        .select(pl.col(columns).str.normalize("NFC"))
    )
    return examples.with_columns(fields)


def _fields(name: str) -> tuple[str, ...]:
    return () if name == "text" else (name,)


def keyword_lf(
    name: str,
    keywords: str | Sequence[str],
    label: str,
    *,
    case_sensitive: bool = False,
    attribute: str = "",
    near: str | Sequence[str] = (),
    window: int | None = None,
    breaks: str | Sequence[str] = (),
    accents: bool = True,
) -> DeclarativeLF:
    """Vote ``label`` (on ``attribute``, where the task has attributes) when any keyword
    occurs as a whole word (or phrase). One string is one keyword. With
    ``accents=False`` a keyword's letters match with any accent or none, so that
    ``"envio"`` and ``"envío"`` each find both (trial 55a: people type without accents;
    ``ñ`` is an ``n`` then, so ``"año"`` finds "ano" too).

    With ``near`` (a lexicon: say, negative words), a keyword counts only where a word
    of ``near`` occurs too: anywhere in the text if ``window`` is None, else within
    ``window`` words of it on either side (words being runs of non-whitespace) and in
    the same clause, with none of ``. , ; : ! ?`` between them. So with ``window=3``,
    "waiter" near "rude" votes staff=negative in "the waiter was rude, the food great"
    while "food" near "rude" does not: a comma parts them. ``breaks`` are words that
    part clauses as those marks do (``["but", "however"]``: "great screen but the
    battery dies" has "battery" near no word of praise; trial 64c).

    Examples
    --------
    >>> lf = keyword_lf("keyword_subscribe", ["subscribe", "sub to"], "spam")
    >>> rude_staff = keyword_lf(
    ...     "staff_negative", ["waiter", "hostess"], "negative",
    ...     attribute="staff", near=["rude", "slow"], window=3,
    ... )
    >>> battery_praised = keyword_lf(
    ...     "battery_positive", ["battery"], "positive", attribute="battery",
    ...     near=["great", "lasts"], window=4, breaks=["but", "however"],
    ... )
    """
    # Trial 53c: "refund" was iterated as the keywords r, e, f, u, n and d.
    keywords, near, breaks = as_words(keywords), as_words(near), as_words(breaks)
    if not keywords or any(not keyword.strip() for keyword in keywords):
        raise InputError(f"keyword LF {name!r} needs keywords, none of them blank: {keywords!r}")
    if any(not word.strip() for word in near):
        raise InputError(f"keyword LF {name!r}: `near` has a blank word: {list(near)!r}")
    if window is not None and (not near or window < 1):
        raise InputError(
            f"keyword LF {name!r}: `window` is a number of words (1 or more) around a "
            f"keyword within which a word of `near` must occur, got {window!r}"
            + ("" if near else " and no `near` words")
        )
    if breaks and window is None:
        raise InputError(
            f"keyword LF {name!r}: `breaks` end a clause within `window`, and there is no `window`"
        )
    if any(not word.strip() for word in breaks):
        raise InputError(f"keyword LF {name!r}: `breaks` has a blank word: {list(breaks)!r}")
    # A break inside a keyword or a near word would hide it: the LF would never vote
    # (the second read).
    hidden = [
        (word, given)
        for word in breaks
        for given in (*keywords, *near)
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", given, re.IGNORECASE)
    ]
    if hidden:
        word, given = hidden[0]
        raise InputError(
            f"keyword LF {name!r}: the break {word!r} is in {given!r}, which it would hide"
        )
    flags = _flags(case_sensitive)
    words = partial(whole_words, accents=accents, case_sensitive=case_sensitive)
    condition = pl.col("text").str.contains(flags + words(keywords))
    params: tuple[tuple[str, Any], ...] = (
        ("keywords", tuple(keywords)),
        ("case_sensitive", case_sensitive),
    )
    if not accents:
        # Only where given: the definitions stored before it stay the same.
        params += (("accents", False),)
    if near:
        params += (("near", tuple(near)), ("window", window))
        if window is None:
            condition &= pl.col("text").str.contains(flags + words(near))
        else:
            unspaced = any(_unspaced(char) for word in (*keywords, *near) for char in word)
            text = pl.col("text")
            if breaks:
                params += (("breaks", tuple(breaks)),)
                # A break word read as a clause mark, which the window does not cross; in
                # any case, as documented, whatever the keywords' case_sensitive.
                found = whole_words(breaks, accents=accents)
                text = text.str.replace_all(f"(?i){found}", CLAUSE_BREAKS[0])
            condition = text.str.contains(
                flags + _within(words(keywords), words(near), window, unspaced)
            )
    return DeclarativeLF(
        name=name,
        kind="keywords",
        params=params,
        outcomes=((label, condition),),
        attribute=attribute,
    )


def as_words(words: str | Sequence[str]) -> list[str]:
    """A list of words or phrases, one string being one (not its characters).

    Examples
    --------
    >>> as_words("refund"), as_words(["refund", "money back"])
    (['refund'], ['refund', 'money back'])
    """
    return [words] if isinstance(words, str) else list(words)


def _within(first: str, second: str, window: int, unspaced: bool = False) -> str:
    """A regex matching ``first`` and ``second`` at most ``window`` words apart, in
    either order, with no clause break (``CLAUSE_BREAKS``) between them; a word is a
    run of non-whitespace, as in ``length_lf``. With ``unspaced`` (words of a script
    written without spaces), also anywhere in one run of such script, however long."""
    word = rf"[^\s{CLAUSE_BREAKS}]"
    # After a match, the rest of its word; then up to window - 1 whole words between;
    # then the start of the other's word, up to where it begins.
    gap = rf"{word}*(?:\s+{word}+){{0,{window - 1}}}\s+{word}*?"
    near = f"{first}{gap}{second}|{second}{gap}{first}"
    if not unspaced:
        # Not for other words: `c++` near `code` would match `c++code` (the second read).
        return f"(?:{near})"
    # In a script written without spaces, anywhere in the same run of its letters and
    # digits (trial 57e: 物流很慢 has no space for a window to count; 物流3天才到 held a
    # digit in the run).
    run = rf"[{_UNSPACED_CLASS}0-9０-９]*?"
    return f"(?:{near}|{first}{run}{second}|{second}{run}{first})"


# The letters of ``_UNSPACED_SCRIPTS`` in polars' regex syntax.
_UNSPACED_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}々〆ー"


# What ends a clause for ``keyword_lf``'s window: a keyword and a word near it must
# not have one between them.
CLAUSE_BREAKS = ".,;:!?，。、；：！？"


def regex_lf(
    name: str, pattern: str, label: str, *, case_sensitive: bool = False, attribute: str = ""
) -> DeclarativeLF:
    """Vote ``label`` (on ``attribute``, where the task has attributes) when the regular
    expression matches anywhere in the text.

    The pattern uses Rust regex syntax (as polars does): no look-around or backreferences.

    Examples
    --------
    >>> lf = regex_lf("regex_check_out", r"check\\s+(it\\s+)?out", "spam")
    """
    full = _checked_pattern(name, _flags(case_sensitive) + nfc(pattern), pattern)
    return DeclarativeLF(
        name=name,
        kind="regex",
        params=(("pattern", pattern), ("case_sensitive", case_sensitive)),
        outcomes=((label, pl.col("text").str.contains(full)),),
        attribute=attribute,
    )


def length_lf(
    name: str,
    label: str,
    *,
    min_words: int | None = None,
    max_words: int | None = None,
    min_chars: int | None = None,
    max_chars: int | None = None,
    attribute: str = "",
) -> DeclarativeLF:
    """Vote ``label`` (on ``attribute``, where the task has attributes) when the text's
    length lies within the given bounds (inclusive).

    Words are runs of non-whitespace, as everywhere in labelkit.

    Examples
    --------
    >>> short_comment = length_lf("short_comment", "ham", max_words=4)
    """
    bounds = {
        "min_words": min_words,
        "max_words": max_words,
        "min_chars": min_chars,
        "max_chars": max_chars,
    }
    given = {key: value for key, value in bounds.items() if value is not None}
    if not given:
        raise InputError(f"length LF {name!r} needs at least one bound")
    words = pl.col("text").str.count_matches(r"\S+")
    chars = pl.col("text").str.len_chars()
    checks = {
        "min_words": lambda n: words >= n,
        "max_words": lambda n: words <= n,
        "min_chars": lambda n: chars >= n,
        "max_chars": lambda n: chars <= n,
    }
    condition = pl.all_horizontal(checks[key](value) for key, value in given.items())
    return DeclarativeLF(
        name=name,
        kind="length",
        params=tuple(given.items()),
        outcomes=((label, condition),),
        attribute=attribute,
    )


def threshold_lf(
    name: str,
    field: str,
    label: str,
    *,
    above: float | None = None,
    below: float | None = None,
    attribute: str = "",
) -> DeclarativeLF:
    """Vote ``label`` (on ``attribute``, where the task has attributes) when a numeric
    metadata field is above and/or below a threshold (strictly); rows where the field
    is missing or not a number abstain (``apply`` warns of values it cannot read).
    A decimal comma is read where it cannot be a thousands separator (``1,5``,
    ``12,50``; not ``1,500``).

    Examples
    --------
    >>> low_rating = threshold_lf("low_rating", "stars", "negative", below=3)
    """
    if above is None and below is None:
        raise InputError(f"threshold LF {name!r} needs `above`, `below` or both")
    value = as_number(field_value(field))
    conditions = []
    if above is not None:
        conditions.append(value > above)
    if below is not None:
        conditions.append(value < below)
    return DeclarativeLF(
        name=name,
        kind="threshold",
        params=(("field", field), ("above", above), ("below", below)),
        outcomes=((label, pl.all_horizontal(conditions).fill_null(False)),),
        fields=_fields(field),
        attribute=attribute,
    )


# A number with a decimal comma that no thousands separator could be: one comma, and
# not three digits after it (Excel where the decimal mark is a comma: trial 59c's "1,5"
# abstained). Rust's regex syntax, which DuckDB's RE2 reads alike.
DECIMAL_COMMA = r"^\s*[+-]?[0-9]+,(?:[0-9]{1,2}|[0-9]{4,})\s*$"


def as_number(value: pl.Expr) -> pl.Expr:
    """A string expression as a Float64 expression: null where it is not a number; a
    ``DECIMAL_COMMA`` read as a decimal point.

    Examples
    --------
    >>> pl.select(as_number(pl.lit(pl.Series(["1,5", " 2.5 ", "1,500", "N/A"])))).to_series().to_list()
    [1.5, 2.5, None, None]
    """
    stripped = value.str.strip_chars()
    pointed = pl.when(stripped.str.contains(DECIMAL_COMMA)).then(
        stripped.str.replace(",", ".", literal=True)
    )
    return pointed.otherwise(stripped).cast(pl.Float64, strict=False)


def read_list(path: str | Path, owner: str) -> list[str]:
    """The entries of a list file (a gazetteer, lookup values): one per line, stripped;
    blank lines and lines that start with ``"# "`` are skipped (``#hashtag`` is an
    entry). A relative path is looked for in the current folder, then beside the file
    that defines the LF, so an LF module reads its lists wherever it is run from.
    ``owner`` names the LF in errors.

    Examples
    --------
    >>> read_list("equipment.txt", "span LF 'equipment'")
    ['dutch oven', 'wok']
    """
    path = Path(path)
    tried = [path]
    beside = _defining_folder()
    if not path.is_absolute() and not path.exists() and beside is not None:
        tried.append(beside / path)
    found = next((candidate for candidate in tried if candidate.is_file()), None)
    if found is None:
        raise InputError(f"{owner}: no file {' or '.join(str(c) for c in tried)}")
    try:
        text = read_utf8(found, "list")
    except OSError as error:
        raise InputError(f"{owner}: cannot read {found}: {error}") from None
    except InputError as error:
        raise InputError(f"{owner}: {error}") from None
    lines = (line.strip() for line in text.splitlines())
    entries = [line for line in lines if line and line != "#" and not line.startswith("# ")]
    if entries and _is_json_pattern(entries[0]):
        # Trial 54a: a Prodigy patterns file became 10 "phrases" of JSON, matching nothing.
        raise InputError(
            f"{owner}: {found} holds JSON patterns ({entries[0][:60]}...), as Prodigy's "
            "--patterns and spaCy's entity_ruler read them, not one entry per line: give "
            "them to token_span_lf or pattern_lf (docs/labeling_functions.md, 'Coming "
            "from Prodigy')"
        )
    return entries


def _is_json_pattern(line: str) -> bool:
    """Whether ``line`` is a JSON object with a ``pattern``, a patterns file's line."""
    if not line.startswith("{"):
        return False
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "pattern" in value


def _defining_folder() -> Path | None:
    """The folder of the innermost file on the call stack outside labelkit and installed
    packages (a notebook's frames below its cells are IPython's): where the LF being
    defined lives."""
    package = Path(__file__).resolve().parent.parent
    installed = {"site-packages", "dist-packages"}
    frame = sys._getframe(1)
    while frame is not None:
        file = Path(frame.f_code.co_filename)
        if (
            file.is_file()
            and not installed & set(file.parts)
            and package not in file.resolve().parents
        ):
            return file.resolve().parent
        frame = frame.f_back
    return None


def lookup_lf(
    name: str,
    values: Iterable[str] | str | Path,
    label: str,
    *,
    field: str = "text",
    case_sensitive: bool = False,
    attribute: str = "",
) -> DeclarativeLF:
    """Vote ``label`` (on ``attribute``, where the task has attributes) when the whole
    value of ``field`` (the text, or a metadata field such as an author or a URL's
    domain) is one of ``values``: a list, or a file with one value per line.

    Examples
    --------
    >>> known_spammers = lookup_lf("known_spammer", "spammers.txt", "spam", field="author")
    """
    if isinstance(values, (str, Path)):
        values = read_list(values, f"lookup LF {name!r}")
    items = sorted({nfc(v if case_sensitive else v.lower()) for v in values})
    if not items:
        raise InputError(f"lookup LF {name!r} has no values")
    value = field_value(field).str.strip_chars()
    if not case_sensitive:
        value = value.str.to_lowercase()
    return DeclarativeLF(
        name=name,
        kind="lookup",
        params=(("field", field), ("values", tuple(items)), ("case_sensitive", case_sensitive)),
        outcomes=((label, value.is_in(items).fill_null(False)),),
        fields=_fields(field),
        attribute=attribute,
    )


def column_lf(
    name: str, field: str, mapping: Mapping[str, str], *, attribute: str = ""
) -> DeclarativeLF:
    """Vote the label that a metadata field already holds (an older classifier's output,
    a tag, a rating bucket), mapped through ``mapping``; other values abstain. Where the
    task has attributes, the labels answer ``attribute``.

    Examples
    --------
    >>> legacy = column_lf("legacy_filter", "filter_verdict", {"blocked": "spam", "ok": "ham"})
    """
    if not mapping:
        raise InputError(f"column LF {name!r}: `mapping` from field values to labels is empty")
    value = field_value(field)
    outcomes = tuple(
        (
            label,
            value.is_in([nfc(raw) for raw, to in mapping.items() if to == label]).fill_null(False),
        )
        for label in dict.fromkeys(mapping.values())
    )
    return DeclarativeLF(
        name=name,
        kind="column",
        params=(("field", field), ("mapping", tuple(sorted(mapping.items())))),
        outcomes=outcomes,
        fields=_fields(field),
        attribute=attribute,
    )


def lexicon_lf(
    name: str,
    lexicons: Mapping[str, str | Sequence[str]],
    *,
    margin: int = 1,
    case_sensitive: bool = False,
    attribute: str = "",
) -> DeclarativeLF:
    """Vote the label whose word list has the most whole-word hits in the text, when it
    leads every other list by at least ``margin`` hits (a sentiment lexicon, say); on
    ``attribute``, where the task has attributes. One string is a list of one word.

    Examples
    --------
    >>> sentiment = lexicon_lf(
    ...     "sentiment", {"positive": ["great", "love"], "negative": ["awful", "hate"]}
    ... )
    """
    lexicons = {label: as_words(words) for label, words in lexicons.items()}
    if len(lexicons) < 2 or any(
        not words or any(not word.strip() for word in words) for words in lexicons.values()
    ):
        raise InputError(
            f"lexicon LF {name!r} needs two or more word lists, with no blank word in them"
        )
    flags = _flags(case_sensitive)
    hits = {
        # Int32: the counts are unsigned, and their differences must go negative.
        label: pl.col("text")
        .str.count_matches(flags + whole_words(words, case_sensitive=case_sensitive))
        .cast(pl.Int32)
        for label, words in lexicons.items()
    }
    outcomes = tuple(
        (
            label,
            pl.all_horizontal(count - other >= margin for o, other in hits.items() if o != label),
        )
        for label, count in hits.items()
    )
    return DeclarativeLF(
        name=name,
        kind="lexicon",
        params=(
            ("lexicons", tuple((label, tuple(words)) for label, words in lexicons.items())),
            ("margin", margin),
            ("case_sensitive", case_sensitive),
        ),
        outcomes=outcomes,
        attribute=attribute,
    )


@overload
def labeling_function(func: Callable[[Example], Vote], /) -> PythonLF: ...
@overload
def labeling_function(
    *, name: str | None = None, resources: Mapping[str, Any] | None = None
) -> Callable[[Callable[..., Vote]], PythonLF]: ...


def labeling_function(
    func: Callable[[Example], Vote] | None = None,
    /,
    *,
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> PythonLF | Callable[[Callable[..., Vote]], PythonLF]:
    """Turn a function of an ``Example`` that returns a label or None into an LF.

    On a task with attributes it may return several votes: a mapping of attribute to
    label (None abstains on that attribute), or a list of ``(attribute, label)`` pairs;
    on a multi-label task a label name alone votes that label ``"yes"``. As in Snorkel,
    ``resources`` are passed to the function as keyword arguments (their ``repr`` is
    part of its definition), a metadata field reads as ``x.field`` as well as
    ``x.meta["field"]``, and on a task whose labels are numbers, the integer ``2``
    votes label ``"2"`` and ``-1`` abstains (``ABSTAIN = -1``).

    Examples
    --------
    >>> @labeling_function
    ... def short_comment(x):
    ...     return "ham" if len(x.text.split()) < 5 else None
    >>> @labeling_function
    ... def rude_waiter(x):
    ...     return {"staff": "negative"} if "rude waiter" in x.text else None
    >>> @labeling_function(resources={"words": {"refund", "money back"}})
    ... def refund(x, words):
    ...     return "returns" if any(w in x.text for w in words) else None
    """

    def wrap(f: Callable[..., Vote]) -> PythonLF:
        if name is None and f.__name__ == "<lambda>":
            # Trial 64b: stored as the source "<lambda>", which a second lambda replaced.
            raise InputError(
                "a lambda has no name to store its votes under: give it one, "
                "labeling_function(lambda x: ..., name='shouty'), or write a def"
            )
        return PythonLF(
            name=name or f.__name__, func=f, resources=tuple(sorted((resources or {}).items()))
        )

    return wrap(func) if func is not None else wrap


def load_lfs(spec: str | Path) -> list[LabelingFunction]:
    """The module-level labeling functions of a module (``pkg.mod``) or file (``lfs.py``,
    a ``str`` or ``Path``), in the order they are defined, those in a module-level list
    or tuple of LFs included (each LF once); or the rules of a rule file (``.txt`` or
    ``.rules``, ``labelkit.lf.rules``), one LF per line.

    A file or module that fails to import (a syntax error, a missing import, an
    exception or ``sys.exit`` at module level) raises ``InputError`` naming the file and
    line, e.g. ``lfs.py:3: cannot load labeling functions: SyntaxError: invalid syntax``.

    Examples
    --------
    >>> [lf.name for lf in load_lfs("labeling_functions.youtube")][:2]
    ['keyword_my', 'keyword_subscribe']
    >>> [lf.name for lf in load_lfs("spam.rules")]
    ['subscrib* -> spam', '/https?:/// -> spam']
    """
    # Imported here: rules are built from this module's LFs.
    from labelkit.lf.rules import RULE_SUFFIXES, load_rules

    spec = str(spec)  # trial 33: a Path failed on str.endswith
    if Path(spec).suffix in RULE_SUFFIXES:
        return load_rules(spec)
    if spec.endswith(".py") or Path(spec).is_file():
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"{path}: no such labeling-function file" + near_lf_file(spec))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            # Trial 53e: reviews.rules.orig was "no Python module", and no more.
            patterns = (
                " (a .jsonl of patterns, as Prodigy's --patterns: see 'Coming from Prodigy' "
                "in docs/labeling_functions.md)"
                if path.suffix == ".jsonl"
                else ": rename it"
            )
            raise InputError(
                f"{path}: a labeling-function file ends in .py (Python) or in "
                f"{' or '.join(sorted(RULE_SUFFIXES))} (rules, one per line){patterns}"
            )
        module = importlib.util.module_from_spec(module_spec)
        # As Python runs a script: the modules beside the file import (trial 54c: `from
        # helper_words import KEYWORDS` failed from every folder).
        folder = str(path.resolve().parent)
        added = folder not in sys.path
        if added:
            sys.path.insert(0, folder)
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:
            raise _load_error(error, str(path)) from None
        finally:
            if added:
                sys.path.remove(folder)
    else:
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as error:
            if error.name is not None and (spec + ".").startswith(error.name + "."):
                raise InputError(
                    f"cannot import labeling functions from {spec!r}: {error}, "
                    "and no file has that name" + near_lf_file(spec)
                ) from None
            raise _load_error(error, _module_file(spec)) from None
        except (Exception, SystemExit) as error:
            raise _load_error(error, _module_file(spec)) from None
    # Trial 56b: 36 keyword LFs built in a list comprehension were skipped without a
    # word, as Snorkel users keep theirs (`lfs = [...]`). Each LF once, in order.
    found: dict[int, Any] = {}
    for value in vars(module).values():
        members = value if isinstance(value, list | tuple) and value else [value]
        if all(isinstance(m, LabelingFunction) or _is_snorkel_lf(m) for m in members):
            for member in members:
                found.setdefault(id(member), member)
    lfs = [
        value if isinstance(value, LabelingFunction) else _from_snorkel(value, spec)
        for value in found.values()
    ]
    if not lfs:
        # Trial 57g: a plain function was not taken for an LF, and nothing said how.
        raise InputError(
            f"{spec!r} defines no labeling functions at module level: decorate a function "
            "with @labeling_function, or make one with keyword_lf, regex_lf, ..."
        )
    return lfs


def _is_snorkel_lf(value: object) -> bool:
    """Whether ``value`` is a Snorkel labeling function, of a subclass too (trial 57d:
    an ``nlp_labeling_function`` was left out of the file's LFs without a word)."""
    return any(
        kind.__name__ == "LabelingFunction" and kind.__module__.startswith("snorkel.")
        for kind in type(value).__mro__
    )


def _from_snorkel(lf: Any, spec: str) -> PythonLF:
    """A Snorkel ``LabelingFunction`` (trial 53a: a Snorkel file "defined no labeling
    functions") as labelkit's: its function and resources; preprocessors refused, as
    they rewrite the row a labelkit example keeps fixed."""
    kind = type(lf).__name__
    if kind != "LabelingFunction":
        spacy = "NLP" in kind
        raise InputError(
            f"{spec}: Snorkel labeling function {lf.name!r} is of the class {kind}"
            + (
                ", whose spaCy preprocessing labelkit does not run: write its rule as a "
                "pattern_lf (spaCy patterns, one nlp.pipe pass for every such LF), or as a "
                "function that runs spaCy itself"
                if spacy
                else ", which labelkit does not read: make it a plain @labeling_function"
            )
        )
    if getattr(lf, "_pre", None):
        raise InputError(
            f"{spec}: Snorkel labeling function {lf.name!r} has preprocessors (pre=), which "
            "labelkit does not run: compute the field at ingest (a metadata column) or "
            "inside the function"
        )
    return PythonLF(
        name=lf.name, func=lf._f, resources=tuple(sorted((lf._resources or {}).items()))
    )


def near_lf_file(spec: str) -> str:
    """A hint naming the labeling-function file (Python or rules) beside ``spec`` that
    it most likely meant, e.g. ``emotion.rules`` for ``emotion.rule``; empty if none."""
    from labelkit.lf.rules import RULE_SUFFIXES

    folder = Path(spec).parent
    try:
        files = [str(folder / path.name) for path in folder.iterdir()]
    except OSError:
        return ""
    return did_you_mean(spec, [f for f in files if Path(f).suffix in (".py", *RULE_SUFFIXES)])


def _module_file(spec: str) -> str | None:
    module = sys.modules.get(spec)
    if module is not None and getattr(module, "__file__", None):
        return module.__file__
    try:
        found = importlib.util.find_spec(spec)
    except (Exception, SystemExit):
        return None
    return found.origin if found is not None else None


def _load_error(error: BaseException, file: str | None) -> InputError:
    """One line naming where loading failed: the LF file's line that raised (its import
    line, when the error came from a module it imports)."""
    if isinstance(error, SyntaxError):
        where, line, what = error.filename or file, error.lineno, error.msg
    else:
        where, line, what = file, None, str(error).splitlines()[0] if str(error) else ""
        frames = traceback.extract_tb(error.__traceback__)
        # Resolved: `--lfs badre.py` (relative) named labelkit's own line (trial 44).
        own = file and Path(file).resolve()
        in_file = [frame for frame in frames if own and Path(frame.filename).resolve() == own]
        # Elsewhere (a package's __init__, say): the innermost frame that is not importlib's.
        real = in_file or [frame for frame in frames if not frame.filename.startswith("<")]
        if real:
            where, line = file if in_file else real[-1].filename, real[-1].lineno
    location = ":".join(str(part) for part in (where, line) if part is not None)
    detail = f"{type(error).__name__}: {what}" if what else type(error).__name__
    return InputError(f"{location}: cannot load labeling functions: {detail}")


# One row per example where a Python LF failed (it abstains there), as
# ``AppliedLFs.errors`` and the ``lf_errors`` table hold them.
ERRORS_SCHEMA = {"lf": pl.String, "example_id": pl.String, "text": pl.String, "error": pl.String}


def describe_error(error: BaseException) -> str:
    """What an LF's failure on a row was, as ``lf_errors`` stores it.

    Examples
    --------
    >>> describe_error(SystemExit(2))
    'SystemExit: the LF called sys.exit(2)'
    """
    if isinstance(error, SystemExit):
        code = "" if error.code is None else repr(error.code)
        return f"SystemExit: the LF called sys.exit({code})"
    return f"{type(error).__name__}: {error}"
