"""Rule files: labeling functions as plain lines that people and LLMs write and git diffs.

One rule per line, each a labeling function of its own::

    # a line that starts with # is a comment, as is what follows # after a label
    "#hashtag" -> spam          # a hashtag goes in quotes (`#hashtag -> spam` is refused)
    subscribe -> spam           # a keyword, as a whole word, any case
    check out my -> spam        # a phrase: whole words parted by any whitespace
    "free money" -> spam        # quotes around a keyword or phrase are dropped
    subscrib* -> spam           # a stem: any word that starts with it
    /https?://\\S+/ -> spam      # a regex (Rust syntax, any case), between slashes
    waiter -> staff:mentioned   # on a task with attributes, attribute:label

A rule is named by its own line (``subscrib* -> spam``; quotes around the words left
out), so its votes, analysis and review show what it is, and the name does not move
when lines are added above it.
A single keyword compiles to ``keyword_lf``, the rest to ``regex_lf``, so a rule
matches exactly as the LF written in Python would.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from labelkit.errors import InputError
from labelkit.lf.core import DeclarativeLF, _bounded, keyword_lf, near_lf_file, regex_lf
from labelkit.tables import read_utf8

# What ``load_lfs`` reads as a rule file rather than a Python module.
RULE_SUFFIXES = (".txt", ".rules")
ARROW = "->"
STEM = "*"
COMMENT = "#"
QUOTES = ('"', "'")


def load_rules(path: str | Path) -> list[DeclarativeLF]:
    """The labeling functions of a rule file, one per rule, in the file's order.

    A line that is not a rule raises ``InputError`` naming the file and line, as does
    a rule that repeats an earlier one (naming both lines), in any case of its words.

    Examples
    --------
    >>> Path("spam.rules").write_text("subscrib* -> spam\\n/https?:/// -> spam\\n")
    >>> [lf.name for lf in load_rules("spam.rules")]
    ['subscrib* -> spam', '/https?:/// -> spam']
    """
    path = Path(path)
    try:
        lines = read_utf8(path, "rule file").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such rule file" + near_lf_file(str(path))) from None
    except OSError as error:
        raise InputError(f"{path}: cannot read rules: {error}") from None
    lfs: list[DeclarativeLF] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if _reads_as_hashtag_rule(stripped):
            raise InputError(
                f"{path}:{number}: {stripped!r} starts with {COMMENT!r}, which makes it a "
                f"comment; for a hashtag, quote it ({_quoted(stripped)!r}), and to comment "
                f"a rule out, put a space after the {COMMENT!r}"
            )
        if not stripped or stripped.startswith(COMMENT):
            continue
        try:
            lf = parse_rule(line)
        except InputError as error:
            raise InputError(f"{path}:{number}: {error}") from None
        key = _same_rule_key(lf.name)
        if key in seen:
            raise InputError(f"{path}:{number}: rule {lf.name!r} repeats line {seen[key]}")
        seen[key] = number
        lfs.append(dataclasses.replace(lf, origin=f"{path}:{number}"))
    if not lfs:
        raise InputError(
            f"{path}: no rules (one `keyword -> label` or `/regex/ -> label` per line)"
        )
    return lfs


def _same_rule_key(name: str) -> str:
    """What two rules that vote alike share: keywords and phrases match in any case, so
    `Trump -> favor` repeats `trump -> favor`; a regex and a label are taken as written."""
    if name.startswith("/"):
        return name
    match, _, target = name.partition(f" {ARROW} ")
    return f"{match.casefold()} {ARROW} {target}"


def _reads_as_hashtag_rule(line: str) -> bool:
    # `#MAGA -> favor` on tweets means the hashtag; read as a comment, the rule would be
    # dropped without a word. A comment starts `# ` (or `##`), so this is refused instead.
    return (
        line.startswith(COMMENT)
        and re.match(r"\w", line[1:2]) is not None
        and ARROW in line
        and not line[1:].partition(ARROW)[0].strip().count(" ")
    )


def _quoted(line: str) -> str:
    match, _, target = line.partition(ARROW)
    return f'"{match.strip()}" {ARROW} {target.strip()}'


def rule_line(name: str) -> str:
    """The line a rule file holds for the rule named ``name``, which reads back as that
    rule: the name itself, but a hashtag keyword in quotes (unquoted, it is refused).

    Examples
    --------
    >>> rule_line("subscrib* -> spam"), rule_line("#giveaway -> spam")
    ('subscrib* -> spam', '"#giveaway" -> spam')
    """
    return _quoted(name) if _reads_as_hashtag_rule(name) else name


def parse_rule(line: str) -> DeclarativeLF:
    """The labeling function of one rule line (see the module's docstring for the forms).

    Examples
    --------
    >>> parse_rule("sub to -> spam").name
    'sub to -> spam'
    >>> parse_rule("waiter -> staff:mentioned").attribute
    'staff'
    """
    line = line.strip()
    # A regex may hold an arrow or a `#`: it runs to the first slash before an arrow.
    regex = re.match(rf"(/.+?/)\s*{ARROW}(.*)$", line) if line.startswith("/") else None
    if line.startswith("/") and regex is None:
        raise InputError(f"rule {line!r}: a regex goes between two slashes, `/.../ -> label`")
    match, arrow, target = regex.group(1, 0, 2) if regex else line.partition(ARROW)
    match, target = match.strip(), target.partition(COMMENT)[0].strip()
    if not arrow or not match:
        raise InputError(f"not a rule: {line!r} (want `keyword -> label` or `/regex/ -> label`)")
    attribute, _, label = target.rpartition(":")
    attribute, label = attribute.strip(), label.strip()
    if not label or (":" in target and not attribute):
        raise InputError(f"rule {line!r} names no label after {ARROW!r}")
    target = f"{attribute}:{label}" if attribute else label
    if regex:
        return regex_lf(f"{match} {ARROW} {target}", match[1:-1], label, attribute=attribute)
    if len(match) > 1 and match[0] in QUOTES and match[-1] == match[0]:
        # As in search boxes, quotes mark a phrase; kept, they would have to be in the text.
        match = match[1:-1].strip()
        if not match:
            raise InputError(f"rule {line!r}: nothing between the quotes")
    words = match.split()
    name = f"{' '.join(words)} {ARROW} {target}"
    if any(STEM in word[:-1] or word == STEM for word in words):
        raise InputError(
            f"rule {line!r}: {STEM!r} marks a stem at the end of a word (`subscrib*`), nowhere else"
        )
    if len(words) == 1 and not words[0].endswith(STEM):
        return keyword_lf(name, words, label, attribute=attribute)
    return regex_lf(name, _phrase_pattern(words), label, attribute=attribute)


def _phrase_pattern(words: list[str]) -> str:
    """A regex for a phrase whose words may end in a stem mark: whole words parted by
    whitespace, a stem followed by any word characters."""
    parts = []
    for word in words:
        stem = word.removesuffix(STEM)
        bounded = _bounded(stem)
        parts.append(bounded.removesuffix(r"\b") + r"\w*" if stem != word else bounded)
    return r"\s+".join(parts)
