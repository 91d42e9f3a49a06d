"""spaCy ``Matcher`` and ``PhraseMatcher`` labeling functions.

Pattern LFs need tokens, so they cannot run as polars expressions: every pattern LF
that uses the same pipeline shares one ``nlp.pipe`` pass over the texts and one
matcher, and each document is matched once for all of them.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from labelkit.errors import InputError
from labelkit.lf.core import LabelingFunction, as_words, vote_codes
from labelkit.task import ABSTAIN, Task

TokenPattern = list[dict[str, Any]]


@dataclass(frozen=True)
class PatternLF(LabelingFunction):
    """Votes ``label`` (on ``attribute``, where the task has attributes) where any of
    its spaCy patterns matches.

    ``phrases`` are matched with a ``PhraseMatcher`` on the token attribute ``attr``;
    ``token_patterns`` with a ``Matcher``. ``model`` is ``"blank:<lang>"`` (a tokenizer
    only, enough for LOWER, TEXT, SHAPE, LIKE_NUM, LIKE_URL, IS_PUNCT...), an installed
    pipeline's name, needed for POS, LEMMA or ENT_TYPE, or None for the blank tokenizer
    of the task's language.
    """

    name: str
    label: str
    phrases: tuple[str, ...]
    token_patterns: str  # JSON, so that the LF stays hashable
    attr: str
    model: str | None
    attribute: str = ""

    @property
    def definition(self) -> str:
        # As for declarative LFs: no attribute, the classification hash unchanged.
        attribute = {"attribute": self.attribute} if self.attribute else {}
        return json.dumps(
            {
                "kind": "spacy_patterns",
                "labels": [self.label],
                **attribute,
                "phrases": self.phrases,
                "token_patterns": json.loads(self.token_patterns),
                "attr": self.attr,
                "model": self.model,
            }
        )


def pattern_lf(
    name: str,
    label: str,
    *,
    phrases: str | Sequence[str] = (),
    token_patterns: Sequence[TokenPattern] = (),
    attr: str = "LOWER",
    model: str | None = None,
    attribute: str = "",
) -> PatternLF:
    """Vote ``label`` (on ``attribute``, where the task has attributes) where a phrase
    (one string: one phrase) or a spaCy token pattern matches.

    Texts are tokenized by ``model``: by default a blank pipeline of the task's
    language (``Task.lang``, the workspace's ``--lang``), else e.g. ``"blank:de"`` or
    an installed pipeline such as ``"de_core_news_sm"``.

    Examples
    --------
    >>> channel_plug = pattern_lf(
    ...     "channel_plug",
    ...     "spam",
    ...     phrases=["my channel", "my new video"],
    ...     token_patterns=[[{"LOWER": "check"}, {"OP": "?"}, {"LOWER": "out"}]],
    ... )
    """
    if not phrases and not token_patterns:
        raise InputError(f"pattern LF {name!r} needs phrases or token_patterns")
    lf = PatternLF(
        name=name,
        label=label,
        phrases=tuple(as_words(phrases)),
        token_patterns=json.dumps([list(p) for p in token_patterns]),
        attr=attr,
        model=model,
        attribute=attribute,
    )
    # Checks the patterns now; any tokenizer does, and English needs nothing installed.
    # What the pipeline sets is checked where the LF runs, on its own pipeline: a blank
    # Japanese one sets POS, a blank English one does not.
    build_matchers([lf], load_pipeline("blank:en"), probe=False)
    return lf


def run_pattern_lfs(
    lfs: Sequence[PatternLF], texts: Sequence[str], task: Task, batch_size: int = 1000
) -> np.ndarray:
    """The votes (n_texts x n_lfs codes) of pattern LFs, one ``nlp.pipe`` pass per pipeline;
    each LF's column is coded by ``task.vote_task`` of its attribute.

    Examples
    --------
    >>> run_pattern_lfs([channel_plug], ["check it out", "nice"], task)[:, 0]
    array([ 1, -1], dtype=int16)
    """
    codes = np.full((len(texts), len(lfs)), ABSTAIN, dtype=np.int16)
    codes_of = vote_codes(task)
    by_model: dict[str, list[int]] = {}
    for j, lf in enumerate(lfs):
        by_model.setdefault(lf.model or f"blank:{task.lang}", []).append(j)
    for model, columns in by_model.items():
        nlp = load_pipeline(model)
        group = [lfs[j] for j in columns]
        matchers = build_matchers(group, nlp)
        column_of = {nlp.vocab.strings[lf.name]: j for lf, j in zip(group, columns, strict=True)}
        vote_of = {j: codes_of[(lfs[j].attribute, lfs[j].label)][1] for j in columns}
        for i, doc in enumerate(nlp.pipe(texts, batch_size=batch_size)):
            for matcher in matchers:
                for match_id in {match_id for match_id, _, _ in matcher(doc)}:
                    j = column_of[match_id]
                    codes[i, j] = vote_of[j]
    return codes


def load_pipeline(model: str) -> Any:
    """The spaCy pipeline pattern LFs of ``model`` run on (``"blank:<lang>"`` or an
    installed pipeline), its tokenizer splitting after combining accents.

    Examples
    --------
    >>> [token.text for token in load_pipeline("blank:en")("check it out")]
    ['check', 'it', 'out']
    """
    import spacy

    from labelkit.spans import split_after_accents

    try:
        if model.startswith("blank:"):
            return split_after_accents(spacy.blank(model.removeprefix("blank:")))
        return split_after_accents(spacy.load(model))
    except (OSError, ImportError) as error:
        # Trial 57e: a Japanese task missing sudachipy was told to use 'blank:en'.
        advice = (
            "it needs a language spaCy has, with what the error names installed"
            if model.startswith("blank:")
            else "install it as a package, or use the task language's blank tokenizer "
            "('blank:<lang>')"
        )
        raise InputError(f"spaCy pipeline {model!r} is not available ({error}): {advice}") from None


class Patterned(Protocol):
    """What ``build_matchers`` reads of an LF (``PatternLF``, ``SpanPatternLF``)."""

    @property
    def name(self) -> str: ...
    @property
    def phrases(self) -> tuple[str, ...]: ...
    @property
    def token_patterns(self) -> str: ...
    @property
    def attr(self) -> str: ...


def build_matchers(
    lfs: Sequence[Patterned],
    nlp: Any,
    *,
    forms: Sequence[str] = (),
    what: str = "pattern LF",
    probe: bool = True,
) -> list[Any]:
    """One token ``Matcher`` and one ``PhraseMatcher`` per attribute for all ``lfs``,
    each match named by its LF; an invalid pattern is an error naming the LF (``what``
    it is). Each phrase is added as given, or in each Unicode normal form of ``forms``
    (texts matched as stored may come in either). With ``probe`` (``nlp`` is the
    pipeline the LFs run on), a token pattern on what ``nlp`` does not set is one too.

    Examples
    --------
    >>> lf = pattern_lf("greeting", "ham", phrases=["hello"])
    >>> [type(m).__name__ for m in build_matchers([lf], load_pipeline("blank:en"))]
    ['PhraseMatcher']
    """
    from spacy.errors import MatchPatternError
    from spacy.matcher import Matcher, PhraseMatcher

    token_matcher = Matcher(nlp.vocab)
    phrase_matchers: dict[str, Any] = {}
    for lf in lfs:
        patterns = json.loads(lf.token_patterns)
        try:
            if patterns:
                token_matcher.add(lf.name, patterns)
            if lf.phrases:
                if lf.attr not in phrase_matchers:
                    phrase_matchers[lf.attr] = PhraseMatcher(nlp.vocab, attr=lf.attr)
                phrases = (
                    dict.fromkeys(
                        unicodedata.normalize(form, phrase)
                        for phrase in lf.phrases
                        for form in forms
                    )
                    if forms
                    else lf.phrases
                )
                phrase_matchers[lf.attr].add(lf.name, list(nlp.tokenizer.pipe(phrases)))
        except (MatchPatternError, ValueError, KeyError) as error:
            raise InputError(f"{what} {lf.name!r}: invalid pattern: {error}") from None
    matchers = list(phrase_matchers.values())
    if not (probe and len(token_matcher)):
        return [token_matcher, *matchers] if len(token_matcher) else matchers
    # A pattern on what only a trained pipe sets (POS, LEMMA, DEP...) fails on the first
    # text, in spaCy's error and naming no LF (trial 51c): tried on one text here.
    sample = nlp("labelkit")
    for lf in lfs:
        if patterns := json.loads(lf.token_patterns):
            alone = Matcher(nlp.vocab)
            alone.add(lf.name, patterns)
            try:
                alone(sample)
            except ValueError as error:
                raise InputError(
                    f"{what} {lf.name!r}: its pattern needs what this pipeline does not "
                    f"set (give model= a trained pipeline, e.g. 'en_core_web_sm'): {error}"
                ) from None
    return [token_matcher, *matchers]
