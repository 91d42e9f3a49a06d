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
turn: its probabilities sum to one within each attribute.

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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

KIND = "char_ngram_classifier"


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
        lowercase=True,
        sublinear_tf=True,
        max_features=None if features is not None else settings.get("max_features"),
        min_df=1 if features is not None else settings.get("min_df", 1),
        vocabulary=None if features is None else {f: i for i, f in enumerate(features)},
        dtype=np.float32,
    )


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
        meta = json.loads((self.path / "meta.json").read_text())
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
        features = json.loads((self.path / "features.json").read_text())
        with np.load(self.path / "weights.npz", allow_pickle=False) as weights:
            idf, self.coef, self.intercept = (weights[k] for k in ("idf", "coef", "intercept"))
        self.vectorizer = vectorizer(settings["features"], features)
        self.vectorizer.idf_ = idf

    def pipe(self, texts: Iterable[str], batch_size: int = 1_000) -> Iterator[list[float]]:
        """Probabilities for each text, in order."""
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                yield from self.scores(batch).tolist()
                batch = []
        if batch:
            yield from self.scores(batch).tolist()

    def __call__(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [dict(zip(self.labels, row, strict=True)) for row in self.pipe(texts)]

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """One row of probabilities per text: a softmax over the labels' logits (over each
        attribute's, for a model of a task with attributes)."""
        logits = np.asarray(self.vectorizer.transform(texts) @ self.coef.T + self.intercept)
        for group in self.groups:
            part = logits[:, group] - logits[:, group].max(axis=1, keepdims=True)
            exp = np.exp(part)
            logits[:, group] = exp / exp.sum(axis=1, keepdims=True)
        return logits


def load(path: str | Path | None = None) -> TextClassifier:
    """The classifier saved in ``path`` (in an installed package: the package's own).

    Examples
    --------
    >>> load("models/spam/tfidf_char_logreg/model-best")(["lovely song"])
    [{'ham': 0.97, 'spam': 0.03}]
    """
    return TextClassifier(Path(__file__).parent / "model" if path is None else path)
