"""Logistic regression over TF-IDF character n-grams: a small model that reads spelling.

The bag of words sees whole tokens: "subscribe", "subscribers" and "sub4sub" are
three unrelated features to it, and a URL or an obfuscated word is one rare token.
Character n-grams (2 to 5 characters inside word boundaries, scikit-learn's
``char_wb``) share what those spellings share, which is worth most with a few hundred
noisy labels. It trains in seconds with no epochs to tune: the regularisation
strength ``C`` is chosen on dev from a short grid, the strongest within one standard
error of the best dev accuracy (of the best macro-F1 where a label is rare in dev; its
probabilities then tempered on dev, which changes no answer), the answers weighed by
their rarity by default. The saved model is numbers
and strings (``char_ngram_loader``), loads with numpy and scikit-learn alone, and runs
at 80k-160k words per second on one core (``benchmarks/distill.py``).
"""

from __future__ import annotations

import inspect
import json
import math
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from labelkit.errors import LabelkitError
from labelkit.processes import one_blas_thread
from labelkit.registry import small_models
from labelkit.task import Task
from labelkit.train import char_ngram_loader
from labelkit.train.attributes import absent_answer, output_name
from labelkit.train.char_ngram_loader import (
    CLAUSES,
    KIND,
    split_clauses,
    top_clauses,
    vectorizer,
)
from labelkit.train.components import CLASS_WEIGHTS
from labelkit.train.folders import written_whole
from labelkit.train.temper import best_temperature

NAME = "tfidf_char_logreg"
CLAUSES_NAME = "tfidf_char_clauses"
# Words that start a clause of another sentiment ("tasty, but pricey"); punctuation
# splits clauses in any language, these in English texts only. "and" cuts some phrases
# ("bread and butter") but joins most pairs of aspects ("great food and rude staff"):
# with it, macro-F1 over MAMS-ACSA's aspects rose from 0.457 to 0.476 on its dev split
# (3 seeds), where the connectives were chosen.
ENGLISH_CONNECTIVES = (
    "and",
    "but",
    "although",
    "though",
    "however",
    "while",
    "whereas",
    "yet",
    "except",
)
# Shorter pieces ("ok", "so") join the clause before them rather than stand alone.
MIN_CLAUSE_CHARS = 3
# Under this share of an even split, a label is rare enough that accuracy ignores it.
SKEWED_SHARE = 0.5


@small_models.register(NAME)
def tfidf_char_logreg_config(
    *,
    exclusive: bool = True,
    analyzer: str = "char_wb",
    ngram_min: int = 2,
    ngram_max: int = 5,
    max_features: int | None = 200_000,
    min_df: int = 1,
    C: Sequence[float] = (0.3, 1.0, 3.0, 10.0, 30.0),
    class_weight: str | None = "balanced",
    max_iter: int = 2_000,
    seed: int = 0,
) -> dict[str, Any]:
    """TF-IDF over character n-grams with a logistic regression: the settings of a run.

    ``analyzer`` is scikit-learn's (``char_wb``: n-grams inside word boundaries;
    ``char``; ``word``), ``ngram_min`` to ``ngram_max`` their lengths, ``max_features``
    the commonest n-grams kept (which bounds the size: each costs its text and four
    bytes per label and for its weight; null keeps them all).
    ``C`` is the grid of inverse regularisation strengths tried, the smallest within one
    standard error of the best dev accuracy kept (of the best macro-F1 where a label
    has under half an even share of dev; a single number trains once);
    ``class_weight`` is ``"balanced"`` (answers weighed by their rarity) or None.

    Examples
    --------
    >>> train_on_cleaned(ws, "models/spam", model="tfidf_char_logreg", C=[1.0, 10.0])
    PosixPath('models/spam/model-best')
    """
    if not exclusive:
        raise LabelkitError(
            f"{NAME} gives one label per text; train a multi-label task with a spaCy model"
        )
    grid = [float(c) for c in (C if isinstance(C, Sequence) else [C])]
    if not grid or min(grid) <= 0:
        raise LabelkitError(f"C must be one or more positive numbers, got {C!r}")
    if class_weight not in CLASS_WEIGHTS:
        raise LabelkitError(f"class_weight must be 'balanced' or null, got {class_weight!r}")
    if not 1 <= ngram_min <= ngram_max:
        raise LabelkitError(f"need 1 <= ngram_min <= ngram_max, got {ngram_min}, {ngram_max}")
    if max_features is not None and max_features < 1:
        # Trial 44: 0 ended in "found no n-grams in the training texts".
        raise LabelkitError(
            f"max_features keeps the commonest n-grams: at least 1, got {max_features}"
        )
    return {
        "features": {
            "analyzer": analyzer,
            "ngram_range": [ngram_min, ngram_max],
            "max_features": max_features,
            "min_df": min_df,
        },
        "C": grid,
        "class_weight": class_weight,
        "max_iter": max_iter,
        "seed": seed,
    }


def train_char_ngrams(
    rows: pl.DataFrame,
    dev: pl.DataFrame,
    labels: Sequence[str],
    output_dir: str | Path,
    *,
    targets: str,
    settings: dict[str, Any],
    lang: str = "en",
    verbose: bool = False,
) -> Path:
    """Fit the n-gram vocabulary and one logistic regression per ``C`` on ``rows``
    (``text``, ``label``, and ``probabilities`` for soft targets or ``confidence`` for
    weighted ones), keep the most regularised (smallest ``C``) whose accuracy on
    ``dev`` is within one standard error of the best (``_strongest_within``), its
    macro-F1 where a label is rare in ``dev`` (``_skewed``), its
    logits divided by the temperature of least log loss on ``dev``
    (``labelkit.train.temper``; no answer changes); return ``output_dir/model-best``.

    Soft targets are exact: each text is repeated once per label, weighed by its
    probability, which is the cross-entropy against the label model's distribution.

    Called by ``train_textcat`` with ``model="tfidf_char_logreg"``, which checks the rows.

    Examples
    --------
    >>> train_textcat(rows, ["ham", "spam"], "models/spam", model="tfidf_char_logreg")
    PosixPath('models/spam/model-best')
    """
    features = vectorizer(settings["features"])
    matrix = _fit_features(features, rows["text"].to_list())
    if rows["label"].n_unique() < 2:
        raise LabelkitError(f"{NAME} needs examples of at least two labels to learn from")
    dev_x = features.transform(dev["text"].to_list())
    dev_gold = np.array([labels.index(label) for label in dev["label"]])
    metric = _macro_f1 if _skewed(dev_gold) else _accuracy
    fitted = _best_fit(
        matrix,
        rows,
        labels,
        targets,
        settings,
        dev_x,
        dev_gold,
        metric,
        verbose,
        one_standard_error=True,
    )
    settings = {
        **settings,
        "targets": targets,
        "chosen_C": fitted.c,
        f"dev{metric.__name__}": fitted.dev,
        "temperature": fitted.temperature,
    }
    return _save(
        Path(output_dir).resolve() / "model-best",
        features,
        fitted.coef,
        fitted.intercept,
        labels,
        {"training": settings},
        lang=lang,
    )


def train_char_ngrams_by_attribute(
    examples: pl.DataFrame,
    dev: pl.DataFrame,
    task: Task,
    output_dir: str | Path,
    *,
    key: str,
    targets: str,
    settings: dict[str, Any],
    verbose: bool = False,
) -> Path:
    """One logistic regression per attribute of ``task`` over one n-gram vocabulary,
    each over the attribute's answers, the absent one included, its ``C`` chosen on
    ``dev``'s macro-F1 over those answers (and tempered on it, as ``train_char_ngrams``) (accuracy would favour an attribute's commonest
    answer, "none"); return ``output_dir/model-best``.

    ``examples`` and ``dev`` have a row per text (``key`` groups them) and attribute, as
    ``train_attributes`` takes them, which calls this for ``base="tfidf_char_logreg"``.
    An attribute whose training rows all give one answer always answers it; one with
    no dev rows keeps the first ``C`` of the grid.

    Examples
    --------
    >>> train_attributes(rows, task, "models/restaurants", model="tfidf_char_logreg")
    PosixPath('models/restaurants/model-best')
    """
    features, examples, matrix, _, dev, dev_matrix, _ = _by_text(examples, dev, key, settings)
    coefs, intercepts, outputs, groups, chosen = [], [], [], [], {}
    for attribute in task.targets:
        answers = task.answers(attribute).labels
        rows = examples.filter(pl.col("attribute") == attribute)
        if rows.height == 0:
            raise LabelkitError(f"no training labels for attribute {attribute!r}")
        held = dev.filter(pl.col("attribute") == attribute)
        gold = held["label"].replace_strict(answers, list(range(len(answers)))).to_numpy()
        fitted = _best_fit(
            matrix[rows["row"].to_numpy()],
            rows,
            answers,
            targets,
            settings,
            dev_matrix[held["row"].to_numpy()],
            gold,
            _macro_f1,
            verbose,
            name=f"{attribute}: ",
        )
        coefs.append(fitted.coef)
        intercepts.append(fitted.intercept)
        outputs += [output_name(attribute, answer) for answer in answers]
        groups.append(len(answers))
        chosen[attribute] = {
            "C": fitted.c,
            "dev_macro_f1": fitted.dev,
            "temperature": fitted.temperature,
        }
    return _save(
        Path(output_dir).resolve() / "model-best",
        features,
        np.concatenate(coefs),
        np.concatenate(intercepts),
        outputs,
        {
            "groups": groups,
            "task": json.loads(task.to_json()),
            "layout": "per_attribute",
            "training": {**settings, "targets": targets, "by_attribute": chosen},
        },
        lang=task.lang,
    )


@small_models.register(CLAUSES_NAME)
def tfidf_char_clauses_config(
    *, connectives: Sequence[str] | None = None, **params: Any
) -> dict[str, Any]:
    """The n-grams of ``tfidf_char_logreg`` (the same parameters) read clause by clause,
    for a task with attributes: the settings of a run.

    Whether a text mentions an attribute is read from the whole text; the attribute's
    answer from the clause that mentions it most (``char_ngram_loader``). Clauses are
    split at punctuation and at ``connectives`` (by default, for an English task,
    "and", "but", "although", "though", "however", "while", "whereas", "yet" and
    "except"; none for another language).

    Examples
    --------
    >>> train_attributes(rows, task, "models/restaurants", model="tfidf_char_clauses")
    PosixPath('models/restaurants/model-best')
    """
    if connectives is not None and (
        not isinstance(connectives, list | tuple)
        or not all(isinstance(word, str) and word.strip() for word in connectives)
    ):
        raise LabelkitError(f"connectives must be a list of words, got {connectives!r}")
    return {
        **tfidf_char_logreg_config(**params),
        "connectives": None if connectives is None else list(connectives),
    }


# Its parameters are the n-grams' and its own, by name, so that a misspelt one is
# refused as for any small model (registry.configure reads the signature).
tfidf_char_clauses_config.__signature__ = inspect.signature(tfidf_char_logreg_config).replace(  # type: ignore[attr-defined]
    parameters=[
        inspect.Parameter("connectives", inspect.Parameter.KEYWORD_ONLY, default=None),
        *inspect.signature(tfidf_char_logreg_config).parameters.values(),
    ]
)


def clause_pattern(connectives: Sequence[str]) -> str:
    r"""The regular expression that splits a text into clauses: runs of punctuation, and
    each of ``connectives`` as a whole word (its case ignored).

    Examples
    --------
    >>> clause_pattern(["but"])
    '(?i)(?:[,;!?]|\\.(?!\\d))+|\\s(?:but)\\s'
    """
    words = "|".join(re.escape(word) for word in connectives)
    # Not at ":" ("food: ok") or brackets, nor at a decimal point ("3.5 stars").
    return r"(?i)(?:[,;!?]|\.(?!\d))+" + (rf"|\s(?:{words})\s" if words else "")


def train_clause_ngrams_by_attribute(
    examples: pl.DataFrame,
    dev: pl.DataFrame,
    task: Task,
    output_dir: str | Path,
    *,
    key: str,
    targets: str,
    settings: dict[str, Any],
    verbose: bool = False,
) -> Path:
    """Per attribute of ``task``, a logistic regression over one n-gram vocabulary that
    scores whether a text mentions it; and one regression over the attributes' present
    answers, trained on the clause that mentions each labelled attribute most; each
    ``C`` chosen on ``dev``'s macro-F1 (and tempered on it, as ``train_char_ngrams``);
    return ``output_dir/model-best``.

    ``examples`` and ``dev`` have a row per text (``key`` groups them) and attribute, as
    ``train_attributes`` takes them, which calls this for ``model="tfidf_char_clauses"``.
    The answer regression's weights are shared by the attributes plus each attribute's
    own: "slow" is as bad for the service as for the kitchen, and an attribute
    mentioned in a few dozen texts learns its answers from every attribute's clauses,
    while "cheap" can praise the price and fault the decor.

    Examples
    --------
    >>> train_attributes(rows, task, "models/restaurants", model="tfidf_char_clauses")
    PosixPath('models/restaurants/model-best')
    """
    absent = absent_answer(task)
    present = [answer for answer in task.answers(task.targets[0]).labels if answer != absent]
    connectives = settings["connectives"]
    if connectives is None:
        connectives = ENGLISH_CONNECTIVES if task.lang == "en" else ()
    pattern = clause_pattern(connectives)
    features, examples, matrix, texts, dev, dev_matrix, dev_texts = _by_text(
        examples, dev, key, settings
    )
    train = _Clauses.of(texts, matrix, features, pattern)
    held = _Clauses.of(dev_texts, dev_matrix, features, pattern)
    mentions, answer_rows, dev_rows, chosen = [], [], [], {}
    for attribute in task.targets:
        rows = examples.filter(pl.col("attribute") == attribute)
        if rows.height == 0:
            raise LabelkitError(f"no training labels for attribute {attribute!r}")
        held_rows = dev.filter(pl.col("attribute") == attribute)
        fitted = _best_fit(
            matrix[rows["row"].to_numpy()],
            _as_mentions(rows, absent, targets),
            MENTION_ANSWERS,
            targets,
            settings,
            dev_matrix[held_rows["row"].to_numpy()],
            (held_rows["label"] == absent).cast(pl.Int64).to_numpy(),
            _macro_f1,
            verbose,
            name=f"{attribute} {'mentioned' if task.kind == 'aspects' else 'given'}: ",
        )
        # One logit, of being mentioned: the regression's two rows' difference.
        mention = _Fit(
            fitted.coef[0] - fitted.coef[1],
            fitted.intercept[:1] - fitted.intercept[1:],
            fitted.c,
            fitted.dev,
            fitted.temperature,
        )
        mentions.append(mention)
        chosen[attribute] = {
            "C": mention.c,
            "dev_macro_f1": mention.dev,
            "temperature": mention.temperature,
        }
        answer_rows.append(train.mentioned(rows, mention.coef, absent))
        dev_rows.append(held.mentioned(held_rows, mention.coef, absent))
    answered = pl.concat(answer_rows)
    if answered.height == 0:
        raise LabelkitError(f"no training text mentions any of {list(task.targets)}")
    dev_answered = pl.concat(dev_rows)
    answers = _best_fit(
        _with_attribute_copies(train.matrix, answered, task.targets),
        _over_present(answered, present, targets),
        present,
        targets,
        settings,
        _with_attribute_copies(held.matrix, dev_answered, task.targets),
        dev_answered["label"].replace_strict(present, list(range(len(present)))).to_numpy(),
        _macro_f1,
        verbose,
        name="answer: ",
    )
    return _save(
        Path(output_dir).resolve() / "model-best",
        features,
        np.stack([mention.coef for mention in mentions]),
        np.concatenate([mention.intercept for mention in mentions]),
        [output_name(a, answer) for a in task.targets for answer in task.answers(a).labels],
        {
            "groups": [len(present) + 1] * len(task.targets),
            "task": json.loads(task.to_json()),
            "layout": CLAUSES,
            CLAUSES: {"pattern": pattern, "min_chars": MIN_CLAUSE_CHARS},
            "training": {
                **settings,
                "connectives": list(connectives),
                "targets": targets,
                "by_attribute": chosen,
                "answers": {
                    "C": answers.c,
                    "dev_macro_f1": answers.dev,
                    "temperature": answers.temperature,
                },
            },
        },
        name=CLAUSES_NAME,
        lang=task.lang,
        answer_intercept=answers.intercept,
        **_split_copies(answers.coef, len(task.targets)),
    )


def _with_attribute_copies(matrix: Any, rows: pl.DataFrame, attributes: Sequence[str]) -> Any:
    """The n-grams of each row's ``clause``, then a copy of them per attribute, zero but
    in the row's own attribute's: a weight shared by the attributes and one of each
    attribute's own ("cheap" is good for the price and bad for the decor), the two
    regularised alike (Daumé III, "Frustratingly easy domain adaptation", 2007)."""
    clauses = matrix[rows["clause"].to_numpy()]
    which = rows["attribute"].replace_strict(attributes, list(range(len(attributes)))).to_numpy()
    copies = [sp.diags((which == i).astype("float32")) @ clauses for i in range(len(attributes))]
    return sp.hstack([clauses, *copies], format="csr")


def _split_copies(coef: np.ndarray, n_attributes: int) -> dict[str, np.ndarray]:
    """The answer regression's weights as the loader reads them: ``answer_coef`` (one row
    per answer, shared) and ``attribute_answer_coef`` (per attribute, its own rows),
    which each attribute's answers add up."""
    width = coef.shape[1] // (n_attributes + 1)
    own = coef[:, width:].reshape(len(coef), n_attributes, width).transpose(1, 0, 2)
    return {"answer_coef": coef[:, :width], "attribute_answer_coef": np.ascontiguousarray(own)}


# The two answers of whether a text mentions an attribute, in the regression's order.
MENTION_ANSWERS = ("mentioned", "absent")


def _as_mentions(rows: pl.DataFrame, absent: str, targets: str) -> pl.DataFrame:
    """``rows`` with ``label`` (and ``probabilities``) over ``MENTION_ANSWERS``."""
    mentioned = pl.when(pl.col("label") == absent).then(pl.lit("absent"))
    rows = rows.with_columns(mentioned.otherwise(pl.lit("mentioned")).alias("label"))
    if targets != "soft":
        return rows
    # The absent answer is the last of each attribute's (Task.answers).
    none = pl.col("probabilities").list.last()
    return rows.with_columns(pl.concat_list(1 - none, none).alias("probabilities"))


def _over_present(rows: pl.DataFrame, present: list[str], targets: str) -> pl.DataFrame:
    """``rows`` (present answers only) with ``probabilities`` over the present answers:
    the absent one's share spread over them in proportion."""
    if targets != "soft":
        return rows
    kept = pl.col("probabilities").list.head(len(present))
    # A row whose present answers all have probability 0 keeps its label, certain.
    certain = pl.concat_list([(pl.col("label") == answer).cast(pl.Float64) for answer in present])
    spread = pl.when(kept.list.sum() > 0).then(kept / kept.list.sum()).otherwise(certain)
    return rows.with_columns(spread.alias("probabilities"))


class _Clauses(NamedTuple):
    """Texts cut into clauses: the n-gram ``matrix`` of the clauses, then of the whole
    texts, and the ``owner`` row (in the texts' order) of each clause."""

    matrix: Any
    owner: np.ndarray

    @classmethod
    def of(cls, texts: pl.Series, matrix: Any, features: Any, pattern: str) -> _Clauses:
        """The clauses of ``texts``, whose n-grams are ``matrix``."""
        split = re.compile(pattern)
        pieces = [split_clauses(text, split, MIN_CLAUSE_CHARS) for text in texts]
        clauses = features.transform([clause for clauses in pieces for clause in clauses])
        owner = np.repeat(np.arange(len(pieces)), [len(clauses) for clauses in pieces])
        return cls(sp.vstack([clauses, matrix], format="csr"), owner)

    def mentioned(self, rows: pl.DataFrame, coef: np.ndarray, absent: str) -> pl.DataFrame:
        """``rows`` with a present answer, each with ``clause``: the ``matrix`` row of its
        text's clause of the highest mention score (by ``coef``); of the whole text
        where ``coef`` is all zero (as the loader does)."""
        rows = rows.filter(pl.col("label") != absent)
        n_clauses = len(self.owner)
        n_texts = self.matrix.shape[0] - n_clauses
        if coef.any():
            scores = np.asarray(self.matrix[:n_clauses] @ coef).ravel()
            top = top_clauses(scores, self.owner, n_texts)
        else:
            top = n_clauses + np.arange(n_texts)
        return rows.with_columns(clause=pl.Series(top[rows["row"].to_numpy()], dtype=pl.Int64))


class _ByText(NamedTuple):
    """Training and dev rows indexed by text: the vectorizer fitted on the training
    texts, ``examples`` and ``dev`` with ``row`` (their text's row in ``matrix`` /
    ``dev_matrix``, each text once however many attributes it has rows for), and the
    texts in row order."""

    features: Any
    examples: pl.DataFrame
    matrix: Any
    texts: pl.Series
    dev: pl.DataFrame
    dev_matrix: Any
    dev_texts: pl.Series


def _by_text(
    examples: pl.DataFrame, dev: pl.DataFrame, key: str, settings: dict[str, Any]
) -> _ByText:
    """``examples`` and ``dev`` indexed by text (``_ByText``), ``key`` grouping a text's rows."""
    features = vectorizer(settings["features"])
    texts = examples.unique(key, maintain_order=True).with_row_index("row")
    dev_texts = dev.unique(key, maintain_order=True).with_row_index("row")
    return _ByText(
        features,
        examples.join(texts.select(key, "row"), on=key, maintain_order="left"),
        _fit_features(features, texts["text"].to_list()),
        texts["text"],
        dev.join(dev_texts.select(key, "row"), on=key, maintain_order="left"),
        features.transform(dev_texts["text"].to_list()),
        dev_texts["text"],
    )


def _fit_features(features: Any, texts: list[str]) -> Any:
    """``features`` fitted on ``texts``: their TF-IDF matrix."""
    try:
        return features.fit_transform(texts)
    except ValueError as error:  # scikit-learn's "empty vocabulary"
        raise LabelkitError(f"{NAME} found no n-grams in the training texts: {error}") from error


class _Fit(NamedTuple):
    """A fitted regression as one row of coefficients per label, its ``C`` and dev score,
    and the temperature its logits were divided by."""

    coef: np.ndarray
    intercept: np.ndarray
    c: float
    dev: float | None
    temperature: float = 1.0


def _tempered(fit: _Fit, dev_x: Any, dev_gold: np.ndarray) -> _Fit:
    """``fit`` with its logits divided by the temperature of least log loss on dev."""
    logits = np.asarray(dev_x @ fit.coef.T + fit.intercept, dtype="float64")
    best = best_temperature(logits, dev_gold)
    if best == 1.0:
        return fit
    return fit._replace(
        coef=(fit.coef / best).astype("float32"),
        intercept=(fit.intercept / best).astype("float32"),
        temperature=best,
    )


def _skewed(gold: np.ndarray) -> bool:
    """Whether a label of ``gold`` (label indices) has under half an even share of it:
    then a model that never gives that label is accurate, and ``C`` is chosen by
    macro-F1 instead, as for attributes (trial 58c: 31 scams of 229 dev texts, and the
    grid's strongest regularisation kept on accuracy), within the same slack of one
    standard error (without it, MAMS food polarity, 8% negative in 290 dev rows, chose
    C=10 and lost 0.02 of test accuracy). Gold of one label is not skewed: it has no
    other label to miss.

    Examples
    --------
    >>> _skewed(np.array([0] * 198 + [1] * 31)), _skewed(np.array([0, 1, 2, 2]))
    (True, False)
    """
    counts = np.bincount(gold)
    present = counts[counts > 0]
    return len(present) > 1 and present.min() < SKEWED_SHARE * len(gold) / len(present)


def _accuracy(gold: np.ndarray, predicted: np.ndarray) -> float:
    return float((predicted == gold).mean())


def _macro_f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the labels dev's gold has, alike for every candidate: over the
    labels given as well, one wrong guess of a label dev lacks cost a candidate a whole
    class at F1 0 (trial 63b: it chose C=10 over C=0.3, 0.780 test accuracy for 0.867).

    Examples
    --------
    >>> round(_macro_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])), 3)
    0.833
    """
    return float(
        f1_score(gold, predicted, labels=np.unique(gold), average="macro", zero_division=0)
    )


def _best_fit(
    x: Any,
    rows: pl.DataFrame,
    labels: Sequence[str],
    targets: str,
    settings: dict[str, Any],
    dev_x: Any,
    dev_gold: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    verbose: bool,
    name: str = "",
    one_standard_error: bool = False,
) -> _Fit:
    """The regression on ``x`` of the ``C`` in the grid best on dev by ``metric`` (of
    equals, the smallest ``C``), or with ``one_standard_error`` the smallest ``C`` within
    one standard error of the best (``_strongest_within``; a proportion's standard
    error, which a macro-F1 is given too);
    rows all of one label make a model that always gives it."""
    x, y, weights = _training_rows(rows, x, labels, targets)
    if len(set(y.tolist())) < 2:
        intercept = np.full(len(labels), -1e4, dtype="float32")
        intercept[y[0]] = 0.0
        coef = np.zeros((len(labels), x.shape[1]), dtype="float32")
        return _Fit(coef, intercept, settings["C"][0], None)
    fits: list[_Fit] = []
    # Entered once: each entry rescans the loaded libraries.
    with one_blas_thread():
        for c in settings["C"]:
            model = LogisticRegression(
                C=c,
                class_weight=settings["class_weight"],
                max_iter=settings["max_iter"],
                random_state=settings["seed"],
            ).fit(x, y, sample_weight=weights)
            coef, intercept = _by_label(model, len(labels))
            if len(dev_gold) == 0:
                return _Fit(coef, intercept, c, None)
            score = metric(dev_gold, np.asarray(dev_x @ coef.T + intercept).argmax(axis=1))
            if verbose:
                print(f"{name}C={c:g}: dev {metric.__name__.lstrip('_')} {score:.4f}")
            fits.append(_Fit(coef, intercept, c, score))
    best = max(fit.dev or 0.0 for fit in fits)
    slack = math.sqrt(best * (1 - best) / len(dev_gold)) if one_standard_error else 0.0
    return _tempered(_strongest_within(fits, slack), dev_x, dev_gold)


def _strongest_within(fits: Sequence[_Fit], slack: float) -> _Fit:
    """Of ``fits``, the most regularised (smallest ``C``) whose dev score is within
    ``slack`` of the best.

    With ``slack`` one standard error of the best dev accuracy, this is the
    one-standard-error rule (Hastie, Tibshirani and Friedman, *The Elements of
    Statistical Learning*, 7.10): a few hundred dev rows cannot tell apart scores that
    close, and of those the simplest model is the safer. MAMS food polarity (290 dev
    rows) had chosen C=10 on a dev accuracy 0.013 above C=1's, one standard error
    being 0.027.

    Examples
    --------
    >>> fits = [_Fit(None, None, c, score) for c, score in [(0.3, 0.62), (1, 0.66), (10, 0.68)]]
    >>> _strongest_within(fits, 0.0).c, _strongest_within(fits, 0.027).c
    (10, 1)
    """
    best = max(fit.dev or 0.0 for fit in fits)
    return min((fit for fit in fits if (fit.dev or 0.0) >= best - slack), key=lambda fit: fit.c)


def _by_label(model: LogisticRegression, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """The regression's coefficients and intercepts as one row per label, in the task's
    order, for a softmax: scikit-learn keeps one row for two classes (the second's
    logit; the first's is 0) and none for a label the rows never gave, which gets a
    logit so low that its probability is 0."""
    coef = np.zeros((n_labels, model.coef_.shape[1]), dtype="float32")
    intercept = np.full(n_labels, -1e4, dtype="float32")
    classes = model.classes_
    if len(classes) == 2:
        intercept[classes] = [0.0, model.intercept_[0]]
        coef[classes[1]] = model.coef_[0]
    else:
        intercept[classes] = model.intercept_
        coef[classes] = model.coef_
    return coef, intercept


def _save(
    output: Path,
    features: Any,
    coef: np.ndarray,
    intercept: np.ndarray,
    labels: Sequence[str],
    described: dict[str, Any],
    name: str = NAME,
    lang: str = "en",
    **arrays: np.ndarray,
) -> Path:
    """The model in ``output``; ``described`` joins its ``meta.json``'s ``labelkit``
    part (``training``: the settings; for attributes ``groups``, ``task``, ``layout``),
    ``arrays`` its ``weights.npz`` (the clause layout's answer regression)."""
    names = features.get_feature_names_out().tolist()
    # Only what `labelkit package` names the package by (trial 50a: de_, not en_).
    meta = {
        "lang": lang,
        "name": name,
        "labelkit": {
            "kind": KIND,
            "labels": list(labels),
            "features": described["training"]["features"],
            **described,
        },
    }
    with written_whole(output) as folder:
        (folder / "features.json").write_text(
            json.dumps(names, ensure_ascii=False), encoding="utf-8"
        )
        np.savez_compressed(
            folder / "weights.npz",
            idf=features.idf_.astype("float32"),
            coef=coef,
            intercept=intercept,
            **arrays,
        )
        shutil.copyfile(char_ngram_loader.__file__, folder / "loader.py")
        (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return output


def _training_rows(
    rows: pl.DataFrame, matrix: Any, labels: Sequence[str], targets: str
) -> tuple[Any, np.ndarray, np.ndarray]:
    """The regression's inputs, label codes and sample weights for ``targets``."""
    if targets == "soft":
        proba = np.array(rows["probabilities"].to_list(), dtype="float64").reshape(-1, len(labels))
        texts, codes = np.nonzero(proba > 0)
        return matrix[texts], codes, proba[texts, codes]
    codes = np.array([labels.index(label) for label in rows["label"]])
    if targets == "weighted":
        return matrix, codes, rows["confidence"].to_numpy().astype("float64")
    return matrix, codes, np.ones(len(codes))


tfidf_char_logreg_config.trainer = train_char_ngrams  # type: ignore[attr-defined]
tfidf_char_logreg_config.attribute_trainer = train_char_ngrams_by_attribute  # type: ignore[attr-defined]
tfidf_char_clauses_config.attribute_trainer = train_clause_ngrams_by_attribute  # type: ignore[attr-defined]
# A task with attributes only: the frontier of one-label models leaves it out.
tfidf_char_clauses_config.kind = "attributes"  # type: ignore[attr-defined]
