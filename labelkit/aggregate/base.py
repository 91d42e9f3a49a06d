"""The label-model interface, its shared behaviour, and the policy for undecided examples."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np
import polars as pl

from labelkit.errors import InputError
from labelkit.registry import checked_probabilities, errors_named
from labelkit.task import ABSTAIN
from labelkit.workspace import Workspace, emptied, registered


class LabelModel(Protocol):
    """Combines a label matrix into per-example label probabilities.

    ``fit`` learns from codes (n_examples x n_sources, -1 = abstain), the number
    of classes and, optionally, gold codes for some rows (-1 = unknown); ``predict_proba`` returns an (n_examples x n_classes) array whose rows
    sum to one; ``predict`` applies ``predict_from_proba``; ``save`` writes the fitted
    model to a JSON file that ``load_label_model`` reads back.

    Examples
    --------
    >>> codes = np.array([[0, 0, -1], [1, -1, 1], [0, 1, 1]])
    >>> DawidSkene().fit(codes, 2).predict_proba(codes).shape
    (3, 2)
    """

    name: str

    def fit(
        self, codes: np.ndarray, cardinality: int, gold: np.ndarray | None = None
    ) -> LabelModel: ...

    def predict_proba(self, codes: np.ndarray) -> np.ndarray: ...

    def predict(self, codes: np.ndarray) -> np.ndarray: ...

    def save(self, path: str | Path) -> None: ...


ClassBalance = Sequence[float] | None

# Rows predicted, and written to the workspace, at a time: the one-hot votes of a chunk
# (rows x sources x classes, as floats) and its predictions frame stay small, where
# those of ten million rows took gigabytes (issue 21).
CHUNK_ROWS = 500_000


def predict_from_proba(codes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The predicted code per example: the most probable class, ``ABSTAIN`` where no
    source voted or where the top classes tie exactly (no evidence either way).

    Examples
    --------
    >>> predict_from_proba(np.array([[0, -1], [-1, -1]]), np.array([[0.9, 0.1], [0.5, 0.5]]))
    array([ 0, -1])
    """
    codes = np.asarray(codes)  # A list of rows too (trial 59e: 'bool' has no 'all').
    predicted = proba.argmax(axis=1)
    top = np.sort(proba, axis=1)
    tied = np.isclose(top[:, -1], top[:, -2]) if proba.shape[1] > 1 else np.zeros(len(proba), bool)
    no_votes = (codes == ABSTAIN).all(axis=1)
    return np.where(tied | no_votes, ABSTAIN, predicted)


def answer_probability(proba: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Each row's probability of its ``predicted`` code, the top one where it abstains:
    the top one but where an answer was decided otherwise (an aspect fitted with gold,
    ``labelkit.aggregate.attributes``), whose confidence is then its own, not
    ``none``'s.

    Examples
    --------
    >>> answer_probability(np.array([[0.3, 0.7], [0.5, 0.5]]), np.array([0, -1]))
    array([0.3, 0.5])
    """
    top = proba.max(axis=1)
    picked = proba[np.arange(len(proba)), np.maximum(predicted, 0)]
    return np.where(predicted == ABSTAIN, top, picked)


def fit_predict(
    label_model: LabelModel,
    codes: np.ndarray,
    cardinality: int,
    fit_rows: np.ndarray,
    gold: np.ndarray | None = None,
    save_to: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``label_model`` on the votes of ``fit_rows`` (with their gold codes where
    given, -1 = unknown), save it to ``save_to`` if given, and return every row's
    probabilities and predicted code (``predict_from_proba``).

    Examples
    --------
    >>> codes = np.array([[0, 0], [1, -1], [-1, -1]])
    >>> proba, predicted = fit_predict(MajorityVote(), codes, 2, np.ones(3, bool))
    >>> predicted
    array([ 0,  1, -1])
    """
    part = f"label model {getattr(label_model, 'name', type(label_model).__name__)!r}"
    with errors_named(part, label_model):
        label_model = label_model.fit(
            codes[fit_rows], cardinality, gold=None if gold is None else gold[fit_rows]
        )
        if save_to is not None:
            label_model.save(save_to)
        if not getattr(label_model, "rows_independent", False):
            proba = checked_probabilities(
                label_model.predict_proba(codes), len(codes), cardinality, part
            )
            return proba, predict_from_proba(codes, proba)
        proba = np.empty((len(codes), cardinality))
        predicted = np.empty(len(codes), dtype=np.int64)
        for start in range(0, len(codes), CHUNK_ROWS):
            rows = codes[start : start + CHUNK_ROWS]
            proba[start : start + len(rows)] = checked_probabilities(
                label_model.predict_proba(rows), len(rows), cardinality, part, start
            )
            predicted[start : start + len(rows)] = predict_from_proba(
                rows, proba[start : start + len(rows)]
            )
    return proba, predicted


def predict_proba_in_chunks(label_model: LabelModel, codes: np.ndarray) -> np.ndarray:
    """``label_model.predict_proba(codes)``, ``CHUNK_ROWS`` rows at a time: the same
    probabilities for a model whose rows are independent (``rows_independent``), in
    memory bounded by the chunk rather than by every row's one-hot votes.

    Examples
    --------
    >>> model = MajorityVote().fit(codes, 2)
    >>> (predict_proba_in_chunks(model, codes) == model.predict_proba(codes)).all()
    True
    """
    if not len(codes):
        return label_model.predict_proba(codes)
    return np.concatenate(
        [
            label_model.predict_proba(codes[start : start + CHUNK_ROWS])
            for start in range(0, len(codes), CHUNK_ROWS)
        ]
    )


def expected_accuracy(proba: np.ndarray, gold: np.ndarray) -> float:
    """The accuracy of the most probable class with ties broken at random, in expectation:
    a row whose top classes tie (``np.isclose``, as ``predict_from_proba`` decides), gold
    among ``t`` of them, counts ``1 / t``. It scores a draw without drawing it.

    Examples
    --------
    >>> expected_accuracy(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 1]))
    0.25
    """
    winners = np.isclose(proba, proba.max(axis=1, keepdims=True))
    return float((winners[np.arange(len(gold)), gold] / winners.sum(axis=1)).mean())


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of log-scores, stable for large ones.

    Examples
    --------
    >>> softmax(np.log(np.array([[1.0, 3.0]])))
    array([[0.25, 0.75]])
    """
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def vote_shares(counts: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Each row's share of the votes per class, uniform where no source voted.

    With a class ``prior``, the classes tied at the top of a row split their votes'
    share in proportion to it: votes decide, and among classes with as many votes the
    more common class is more likely (an even prior leaves the tie).

    Examples
    --------
    >>> vote_shares(np.array([[2, 1], [1, 1], [0, 0]]), np.array([0.75, 0.25]))
    array([[0.66666667, 0.33333333],
           [0.75      , 0.25      ],
           [0.5       , 0.5       ]])
    """
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, counts / np.maximum(totals, 1), 1.0 / counts.shape[1])
    if prior is None:
        return shares
    top = (counts == counts.max(axis=1, keepdims=True)) & (totals > 0)
    tied = top.sum(axis=1) > 1
    weight = np.where(top[tied], prior, 0.0)
    mass = np.where(top[tied], shares[tied], 0.0).sum(axis=1, keepdims=True)
    shares[tied] = np.where(
        top[tied], mass * weight / weight.sum(axis=1, keepdims=True), shares[tied]
    )
    return shares


def _plain(value: Any) -> Any:
    """``value`` with numpy's arrays and numbers as Python's, for a repr: a class
    balance read ``[np.float64(0.5), ...]`` (the second read of stop 57)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def votes_where_weightless(
    counts: np.ndarray, evidence: np.ndarray, proba: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """``proba`` with each row whose votes all weigh nothing (``evidence``, the weighted
    votes per class, all zero) moved halfway to the shares of its votes (``counts``, the
    votes per class of the sources that may decide); on two classes, ``proba`` as it is.

    A source weighs nothing where the votes it shares rows with put it at chance; a
    row only such sources voted on was left to the prior, which on three classes or
    more gave it a class none of them voted for (trial 51a: 163 texts only a "thanks"
    rule voted on went to the most common of 22 intents, 4% of them right against 58%
    for majority vote; trial 57b: weighted majority vote left 1,700 of 4,249 voted
    tickets at uniform, their only LF weighed 0). Of two classes, the prior's is the
    one the votes left. Half the prior is kept, so the confidence stays that of a guess.

    Examples
    --------
    >>> prior = np.array([0.5, 0.3, 0.2])
    >>> votes_where_weightless(np.array([[0, 0, 1]]), np.zeros((1, 3)), prior[None, :], prior)
    array([[0.25, 0.15, 0.6 ]])
    """
    if counts.shape[1] <= 2:
        return proba
    weightless = (counts.sum(axis=1) > 0) & ~evidence.any(axis=1)
    moved = proba.copy()
    moved[weightless] = 0.5 * proba[weightless] + 0.5 * vote_shares(counts[weightless], prior)
    return moved


def vote_patterns(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of ``codes``, the index of each row's among them, and how many
    rows share each: a label model fitted on them, weighed by their counts, does work
    that grows with the patterns (a few dozen sources keep them to thousands), not with
    the rows.

    Each row is read as one integer, its codes the digits (re-numbered whenever the
    next column could overflow 64 bits), since sorting whole rows is 20 times slower.

    Examples
    --------
    >>> patterns, inverse, counts = vote_patterns(np.array([[0, -1], [1, 1], [0, -1]]))
    >>> patterns, inverse, counts
    (array([[ 0, -1],
           [ 1,  1]]), array([0, 1, 0]), array([2, 1]))
    """
    codes = np.asarray(codes)
    base = int(codes.max(initial=ABSTAIN)) + 2
    key = np.zeros(len(codes), dtype=np.int64)
    distinct = 1
    for column in codes.T:
        if distinct * base >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            distinct = int(key.max(initial=0)) + 1
        key = key * base + (column.astype(np.int64) - ABSTAIN)
        distinct *= base
    _, first, inverse, counts = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    return codes[first], inverse.reshape(-1), counts


def one_hot_votes(codes: np.ndarray, cardinality: int) -> np.ndarray:
    """Votes as an (n_examples, n_sources, n_classes) 0/1 array; abstains are all zeros."""
    return (codes[:, :, None] == np.arange(cardinality)).astype(np.float64)


class BaseLabelModel:
    """What every shipped label model shares: input checks, ``predict``, ``save``.

    A subclass sets ``name``, implements ``fit`` and ``predict_proba``, and lists the
    attributes that make up its fitted state in ``state_attributes`` (numpy arrays or
    JSON values) and its constructor arguments in ``config_attributes``. One whose
    ``predict_proba`` looks across rows sets ``rows_independent = False``, and is then
    given every row at once.
    """

    name: ClassVar[str]
    # Whether a row's probabilities depend on that row's votes alone, so that rows can
    # be predicted a chunk at a time with the same result (``fit_predict``).
    rows_independent: ClassVar[bool] = True
    config_attributes: ClassVar[tuple[str, ...]] = ()
    state_attributes: ClassVar[tuple[str, ...]] = ()
    cardinality: int = 0
    n_sources: int = 0

    def __repr__(self) -> str:
        """The model's name, the settings it was given that differ from their defaults,
        and what it was fitted on (trial 57b: ``<...DawidSkene object at 0x...>``).

        Examples
        --------
        >>> AutoLabelModel(min_agreement=0.8).fit(codes, 2)
        AutoLabelModel(min_agreement=0.8; fitted: 3 sources, 2 classes)
        """
        given = self._given()
        said = [", ".join(f"{name}={_plain(value)!r}" for name, value in given)] if given else []
        if self.cardinality:
            said.append(f"fitted: {self.n_sources} sources, {self.cardinality} classes")
        return f"{type(self).__name__}({'; '.join(said)})"

    def _given(self) -> list[tuple[str, Any]]:
        """The settings the repr shows: those of ``config_attributes`` not at their
        defaults."""
        defaults = inspect.signature(type(self)).parameters
        return [
            (name, getattr(self, name))
            for name in self.config_attributes
            if name not in defaults or getattr(self, name) != defaults[name].default
        ]

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The predicted code per example (``ABSTAIN`` where undecided).

        Examples
        --------
        >>> MajorityVote().fit(codes, 2).predict(np.array([[1, 1, 0], [-1, -1, -1]]))
        array([ 1, -1])
        """
        return predict_from_proba(codes, self.predict_proba(codes))

    def save(self, path: str | Path) -> None:
        """Write the fitted model as JSON: its registered name, its config and its state.

        Examples
        --------
        >>> model.save("label_model.json")
        >>> load_label_model("label_model.json").predict(codes)
        """
        self._require_fitted()
        state = {
            key: value.tolist() if isinstance(value, np.ndarray) else value
            for key, value in ((key, getattr(self, key)) for key in self.state_attributes)
        }
        document = {
            "model": self.name,
            "config": {key: getattr(self, key) for key in self.config_attributes},
            "cardinality": self.cardinality,
            "n_sources": self.n_sources,
            "state": state,
        }
        Path(path).write_text(json.dumps(document), encoding="utf-8")

    def restore(self, cardinality: int, n_sources: int, state: dict[str, Any]) -> Self:
        """Set the fitted state read from a saved model (see ``load_label_model``)."""
        self.cardinality = cardinality
        self.n_sources = n_sources
        for key in self.state_attributes:
            value = state[key]
            setattr(self, key, np.asarray(value) if isinstance(value, list) else value)
        return self

    def _check(self, codes: np.ndarray, cardinality: int | None = None) -> np.ndarray:
        """Validate votes; with ``cardinality`` (when fitting) also remember their width.
        Whole numbers held as floats are taken; NaN and fractions are refused (trial 59e:
        a pandas table with NaN for an abstain made each model do something else)."""
        codes = np.asarray(codes)
        if codes.dtype.kind == "f":
            missing = np.isnan(codes)
            if missing.any():
                row, column = np.argwhere(missing)[0]
                raise InputError(
                    f"{self.name}: vote NaN in row {row}, source {column}: an abstain is "
                    f"{ABSTAIN} (np.nan_to_num(codes, nan={ABSTAIN}), or fillna({ABSTAIN}))"
                )
            fractional = codes != np.round(codes)
            if fractional.any():
                row, column = np.argwhere(fractional)[0]
                raise InputError(
                    f"{self.name}: vote {codes[row, column]} in row {row}, source {column} is "
                    "no class code: votes are whole numbers"
                )
            codes = codes.astype(np.int64)
        elif codes.dtype.kind not in "iu":
            raise InputError(
                f"{self.name}: votes must be whole numbers (class codes, {ABSTAIN} to "
                f"abstain), got an array of {codes.dtype}"
            )
        if codes.ndim != 2:
            raise InputError(f"{self.name}: votes must be a 2-d matrix, got shape {codes.shape}")
        if cardinality is None:
            self._require_fitted()
            cardinality = self.cardinality
            if codes.shape[1] != self.n_sources:
                raise InputError(
                    f"{self.name}: fitted on {self.n_sources} sources, got votes of "
                    f"{codes.shape[1]}"
                )
        else:
            self.n_sources = codes.shape[1]
        bad = (codes < ABSTAIN) | (codes >= cardinality)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise InputError(
                f"{self.name}: vote {codes[row, column]} in row {row}, source {column} is "
                f"not a class code 0..{cardinality - 1} or {ABSTAIN} (abstain)"
            )
        return codes

    def _check_gold(self, gold: np.ndarray, n_examples: int, cardinality: int) -> np.ndarray:
        """Validate gold codes (-1 = unknown) and return the mask of known rows."""
        gold = np.asarray(gold)
        if gold.shape != (n_examples,):
            raise InputError(f"{self.name}: {gold.shape[0]} gold labels for {n_examples} examples")
        if ((gold < ABSTAIN) | (gold >= cardinality)).any():
            raise InputError(f"{self.name}: gold codes must be 0..{cardinality - 1} or -1")
        return gold != ABSTAIN

    def _require_fitted(self) -> None:
        if not self.cardinality:
            raise InputError(f"{self.name}: fit the label model before using it")


def class_prior(class_balance: ClassBalance, cardinality: int, model: str) -> np.ndarray | None:
    """A given class balance as a checked probability vector, or None to estimate it."""
    if class_balance is None:
        return None
    prior = np.asarray(class_balance, dtype=np.float64)
    if prior.shape != (cardinality,) or (prior <= 0).any() or not np.isclose(prior.sum(), 1):
        raise InputError(
            f"{model}: class_balance must be {cardinality} positive numbers summing to 1, "
            f"got {list(class_balance)}"
        )
    return prior


def store_predictions(
    workspace: Workspace,
    table: str,
    predictions: pl.DataFrame,
    columns: Sequence[str],
    config: dict[str, Any],
    started: float | None = None,
) -> None:
    """Replace every row of ``table`` ("predictions" or "span_predictions") with
    ``predictions``' ``columns``, stamped with ``config["model"]`` and the ``aggregate``
    run logged with ``config`` (as started at ``started``), in one transaction.

    Examples
    --------
    >>> store_predictions(ws, "predictions", frame, ["example_id", "label"], {"model": "mv"})
    """
    names = ", ".join(f'"{column}"' for column in columns)
    with workspace.run("aggregate", config, started=started) as run:
        emptied(run.con, table)
        with registered(run.con, "new_predictions", predictions):
            run.con.execute(
                f"INSERT INTO {table} ({names}, model, run_id) "
                f"SELECT {names}, ?, ? FROM new_predictions",
                [config["model"], run.id],
            )


def store_label_model_answers(
    workspace: Workspace,
    answers: Iterable[tuple[str, np.ndarray, np.ndarray]],
    config: dict[str, Any],
    started: float | None = None,
) -> None:
    """Replace every row of ``predictions`` with ``answers``, one ``(attribute,
    probabilities, predicted codes)`` per attribute, row ``i`` being the ``i``-th
    example by id, stamped with ``config["model"]`` and the ``aggregate`` run logged with
    ``config`` (as started at ``started``), in one transaction; an error while ``answers`` are computed leaves the
    predictions as they were.

    Written ``CHUNK_ROWS`` rows at a time, each joined to its ids by row number in
    DuckDB: a frame of every row's id, label and probabilities took more memory than
    the votes did (issue 21).

    Examples
    --------
    >>> proba = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> store_label_model_answers(ws, [("", proba, np.array([0, -1]))], {"model": "mine"})
    >>> ws.sql("SELECT example_id, label FROM predictions").rows()
    [('a1', 'ham'), ('a2', None)]
    """
    task = workspace.task
    with workspace.run("aggregate", config, started=started) as run:
        emptied(run.con, "predictions")
        # The first id of every chunk: a chunk's ids are then read by range, numbered
        # from its first row, without numbering every example at once.
        firsts = run.con.execute(
            """SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS row_at
                              FROM examples) WHERE row_at % ? = 0 ORDER BY row_at""",
            [CHUNK_ROWS],
        ).fetchall()
        bounds = [row[0] for row in firsts] + [None]
        for attribute, proba, predicted in answers:
            labels = task.answers(attribute)
            for chunk, start in enumerate(range(0, len(proba), CHUNK_ROWS)):
                rows = slice(start, start + CHUNK_ROWS)
                frame = pl.DataFrame(
                    {
                        "row_at": pl.int_range(start, start + len(proba[rows]), eager=True),
                        "label": labels.decode(predicted[rows]),
                        "confidence": answer_probability(proba[rows], predicted[rows]),
                        # From the 2-d array in one step: ``tolist()`` took 24 of the
                        # 33 s majority vote spent on a million texts.
                        "probabilities": pl.Series(proba[rows]).cast(pl.List(pl.Float64)),
                    }
                )
                with registered(run.con, "new_predictions", frame):
                    run.con.execute(
                        """INSERT INTO predictions
                               (example_id, label, confidence, probabilities, attribute,
                                model, run_id)
                           SELECT e.id, p.label, p.confidence, p.probabilities, $attribute,
                                  $model, $run
                           FROM new_predictions p JOIN (
                               SELECT id, $start + row_number() OVER (ORDER BY id) - 1
                                      AS row_at
                               FROM examples
                               WHERE id >= $first AND ($next IS NULL OR id < $next)) e
                             USING (row_at)
                           ORDER BY row_at""",
                        {
                            "attribute": attribute,
                            "model": config["model"],
                            "run": run.id,
                            "start": start,
                            "first": bounds[chunk],
                            "next": bounds[chunk + 1],
                        },
                    )
