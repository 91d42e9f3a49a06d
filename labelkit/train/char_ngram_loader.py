"""Load and run a character n-gram classifier trained by labelkit, with numpy and
scikit-learn alone.

This file imports nothing from labelkit: training copies it into the model's folder
(``loader.py``) and ``labelkit package`` makes it the package's code, so that a
shipped model needs only ``pip install numpy scikit-learn``. The folder holds
``features.json`` (the n-grams, in column order), ``weights.npz`` (their inverse
document frequencies and the logistic regression's coefficients and intercepts) and
``meta.json`` (the labels and how texts are cut into n-grams). Nothing is unpickled:
a model file from elsewhere can hold numbers and strings only.

A model of a task with attributes (one answer per aspect) has one output per attribute
and answer (``food=positive``) and ``groups``, how many outputs each attribute has in
turn: its probabilities sum to one within each attribute. Its ``layout`` is
``per_attribute`` (one softmax over each attribute's answers, read from the whole
text) or ``clauses``: the text is cut into clauses (``meta.json``'s ``clauses``:
a regular expression that splits them), a logistic regression per attribute scores
whether the text mentions it, and a softmax reads its present answer from the clause
that scores highest on that mention, with weights shared by the attributes
(``answer_coef``) plus the attribute's own (``attribute_answer_coef``). "Great food but
the service was slow" then takes food's answer from "Great food" and service's from
"the service was slow", where the whole text's words would give both the same.

Examples
--------
>>> model = load("models/spam/tfidf_char_logreg/model-best")
>>> model.labels
['ham', 'spam']
>>> model(["subscribe to my channel"])
[{'ham': 0.03, 'spam': 0.97}]
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

KIND = "char_ngram_classifier"
CLAUSES = "clauses"
# The characters of a text read, as `labelkit predict` reads them (spaCy's limit): a
# shipped model answered otherwise than predict on a longer text (trial 59d), and the
# n-grams of a 50 MB text took 11.8 GB (trial 58b).
READ_CHARS = 1_000_000


def split_clauses(text: str, pattern: re.Pattern[str], min_chars: int = 3) -> list[str]:
    r"""The clauses of ``text`` that ``pattern`` separates; one shorter than
    ``min_chars`` joins the clause before it (the first, the one after it); the whole
    text where there is none.

    Examples
    --------
    >>> split_clauses("Great food, but slow service. ok", re.compile(r"[,.]|\sbut\s"))
    ['Great food', 'slow service ok']
    """
    clauses: list[str] = []
    for part in (part.strip() for part in pattern.split(text)):
        if clauses and (len(part) < min_chars or len(clauses[-1]) < min_chars):
            clauses[-1] = f"{clauses[-1]} {part}".strip()
        elif part:
            clauses.append(part)
    return clauses or [text]


def vectorizer(settings: dict[str, Any], features: Sequence[str] | None = None) -> TfidfVectorizer:
    """The TF-IDF vectorizer ``settings`` describe (``analyzer``, ``ngram_range``,
    ``max_features``, ``min_df``), fixed to ``features`` where they are given.

    Examples
    --------
    >>> vectorizer({"analyzer": "char_wb", "ngram_range": [2, 5]}).fit(["ab"]).transform(["ab"])
    <Compressed Sparse Row sparse matrix of dtype 'float64' ...>
    """
    return TfidfVectorizer(
        analyzer=settings.get("analyzer", "char_wb"),
        ngram_range=tuple(settings.get("ngram_range", (2, 5))),
        preprocessor=_normalized,
        sublinear_tf=True,
        max_features=None if features is not None else settings.get("max_features"),
        min_df=1 if features is not None else settings.get("min_df", 1),
        vocabulary=None if features is None else {f: i for i, f in enumerate(features)},
        dtype=np.float32,
    )


def _normalized(text: str) -> str:
    """``text`` in NFC, lower case: "ü" typed as one character or as "u" and a combining
    mark (as macOS writes file names and some editors write text) gives one n-gram; in
    NFD a German message's answers changed (trial 50a)."""
    return unicodedata.normalize("NFC", text).lower()


class TextClassifier:
    """A saved classifier, ready to score texts: ``labels``, ``pipe`` (one list of
    probabilities per text, in ``labels``' order) and a call that gives dicts.

    Examples
    --------
    >>> TextClassifier("models/spam/model-best").pipe(["lovely song"]).__next__()
    [0.97, 0.03]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta = json.loads((self.path / "meta.json").read_text(encoding="utf-8"))
        settings = meta["labelkit"]
        if settings.get("kind") != KIND:
            raise ValueError(f"{self.path} holds no n-gram classifier (meta.json labelkit.kind)")
        self.meta = meta
        self.labels: list[str] = list(settings["labels"])
        sizes = settings.get("groups", [len(self.labels)])
        if sum(sizes) != len(self.labels):
            raise ValueError(f"{self.path}: groups {sizes} do not cover {len(self.labels)} labels")
        ends = np.cumsum(sizes).tolist()
        self.groups = [slice(end - size, end) for size, end in zip(sizes, ends, strict=True)]
        try:
            features = json.loads((self.path / "features.json").read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            # Written in the locale's encoding by an older labelkit (trial 60e).
            raise ValueError(
                f"{self.path / 'features.json'} is not UTF-8: an older labelkit saved it in "
                "the encoding of its locale; train the model again"
            ) from None
        clauses = settings.get(CLAUSES)
        self.clauses = None if clauses is None else re.compile(clauses["pattern"])
        self.min_chars = 0 if clauses is None else int(clauses["min_chars"])
        with np.load(self.path / "weights.npz", allow_pickle=False) as weights:
            idf, self.coef, self.intercept = (weights[k] for k in ("idf", "coef", "intercept"))
            if self.clauses is not None:
                self.answer_coef = weights["answer_coef"]
                self.attribute_answer_coef = weights["attribute_answer_coef"]
                self.answer_intercept = weights["answer_intercept"]
        self.vectorizer = vectorizer(settings["features"], features)
        self.vectorizer.idf_ = idf

    def pipe(self, texts: Iterable[str], batch_size: int = 1_000) -> Iterator[list[float]]:
        """Probabilities for each text (its first ``READ_CHARS`` characters), in order."""
        batch: list[str] = []
        for text in texts:
            batch.append(text[:READ_CHARS])
            if len(batch) == batch_size:
                yield from self.scores(batch).tolist()
                batch = []
        if batch:
            yield from self.scores(batch).tolist()

    def __call__(self, texts: Iterable[str | None]) -> list[dict[str, float] | None]:
        """A dict of probabilities per text; None for a text with no words (or None, NaN), to
        which ``labelkit predict`` gives null predictions too (trial 48b: a packaged
        model answered its prior for ""). One string is refused: it would be read as
        texts of one character each (trial 49c). ``minilm_loader`` has the same: each loader
        is copied alone into its model, to load without labelkit."""
        if isinstance(texts, str):
            raise TypeError(f"give a list of texts, not one text: model([{texts[:20]!r}])")
        # NaN is pandas' missing text, and no text; another non-string is refused by its
        # place (trial 53b: "normalize() argument 2 must be str, not float").
        given = [None if text != text else text for text in texts]
        for at, text in enumerate(given):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"text {at} is {text!r} ({type(text).__name__}), not a string")
        rows = self.pipe(["" if text is None else text for text in given])
        return [
            dict(zip(self.labels, row, strict=True)) if text and text.strip() else None
            for text, row in zip(given, rows, strict=True)
        ]

    def answers(self, texts: Iterable[str | None]) -> list[str | dict[str, str] | None]:
        """The most probable label of each text; for a model of a task with attributes,
        a dict of each attribute's most probable answer (``{"room": "positive",
        "staff": "none"}``; a multi-label task's ``{"billing": "yes", ...}``), as
        ``labelkit predict`` gives them; None where the call gives None. Trial 55c: a
        packaged model's users had to rebuild this from its flat scores.

        Examples
        --------
        >>> load("models/hotel/model-best").answers(["Great location, filthy room."])
        [{'room': 'negative', 'cleanliness': 'negative', 'location': 'positive', ...}]
        """
        # A model trained before the task was saved with it gives one label per text.
        task = self.meta["labelkit"].get("task", {"kind": "classification"})
        # A multi-label task's attributes are its labels.
        attributes = task.get("attributes") or task.get("labels", ())
        answered: list[str | dict[str, str] | None] = []
        for scored in self(texts):
            if scored is None:
                answered.append(None)
                continue
            probabilities = np.fromiter(scored.values(), dtype=float, count=len(self.labels))
            best = [self.labels[group][int(probabilities[group].argmax())] for group in self.groups]
            if task["kind"] == "classification":
                answered.append(best[0])
                continue
            answered.append(
                {
                    attribute: label[len(attribute) + 1 :]
                    for attribute, label in zip(attributes, best, strict=True)
                }
            )
        return answered

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """One row of probabilities per text: a softmax over the labels' logits (over each
        attribute's, for a model of a task with attributes)."""
        if self.clauses is not None:
            return self._clause_scores(texts)
        logits = np.asarray(self.vectorizer.transform(texts) @ self.coef.T + self.intercept)
        for group in self.groups:
            logits[:, group] = softmax(logits[:, group])
        return logits

    def _clause_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Each attribute's answers: the probability that the text mentions it times
        the answer's probability in the clause that mentions it most, and the absent
        answer (the last of each group) one minus that probability."""
        whole = self.vectorizer.transform(texts)
        logits = np.asarray(whole @ self.coef.T + self.intercept)
        # Clipped: an attribute no training text mentioned has a logit of -1e4.
        mentioned = 1 / (1 + np.exp(-np.clip(logits, -500, 500)))
        pieces = [split_clauses(text, self.clauses, self.min_chars) for text in texts]
        owner = np.repeat(np.arange(len(texts)), [len(clauses) for clauses in pieces])
        clauses = self.vectorizer.transform([clause for clauses in pieces for clause in clauses])
        mention = np.asarray(clauses @ self.coef.T)
        scores = np.empty((len(texts), len(self.labels)))
        for attribute, group in enumerate(self.groups):
            if self.coef[attribute].any():
                chosen = clauses[top_clauses(mention[:, attribute], owner, len(texts))]
            else:
                # Every training text mentioned it: no clause mentions it more than
                # another, so the whole text is read.
                chosen = whole
            weights = self.answer_coef + self.attribute_answer_coef[attribute]
            answers = softmax(np.asarray(chosen @ weights.T + self.answer_intercept))
            present = mentioned[:, attribute]
            scores[:, group.start : group.stop - 1] = present[:, None] * answers
            scores[:, group.stop - 1] = 1 - present
        return scores


def top_clauses(scores: np.ndarray, owner: np.ndarray, n_texts: int) -> np.ndarray:
    """For each of ``n_texts`` texts, the index of its clause of the highest score;
    ``owner`` is each clause's text, in order, and every text has a clause.

    Examples
    --------
    >>> top_clauses(np.array([0.1, 0.9, 0.5]), np.array([0, 0, 1]), 2)
    array([1, 2])
    """
    # Sorted by text, then by score from high to low: the first clause of each text.
    order = np.lexsort((-scores, owner))
    return order[np.searchsorted(owner[order], np.arange(n_texts))]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Each row's logits as probabilities that sum to one."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def load(path: str | Path | None = None, **spacy_arguments: object) -> TextClassifier:
    """The classifier saved in ``path`` (in an installed package: the package's own).
    ``spacy.load`` of the package calls this with spaCy's arguments, and is told that
    the model is no spaCy pipeline (trial 59d: "unexpected keyword argument 'vocab'").

    Examples
    --------
    >>> load("models/spam/tfidf_char_logreg/model-best")(["lovely song"])
    [{'ham': 0.97, 'spam': 0.03}]
    """
    if spacy_arguments:
        package = __name__.rpartition(".")[0] or __name__
        raise TypeError(
            f"{package} is no spaCy pipeline, and spacy.load cannot load it: "
            f"`import {package}; model = {package}.load(); model(texts)`"
        )
    return TextClassifier(Path(__file__).parent / "model" if path is None else path)
