"""Label models for tasks with attributes: each attribute answered on its own.

An attribute's answer is factored into presence, then value. Presence is a binary
problem (is the aspect mentioned, is the label there) over every vote on the
attribute: ``"none"`` / ``"no"`` against anything else. Value is a problem over
the aspect's labels (positive, negative, ...) fitted on the votes that name one. The
answer's probabilities are ``P(absent)`` and ``P(present) * P(label | present)``.

The split is what lets a source say only that an aspect is mentioned (a keyword for
"waiter" knows the text is about staff, not how it judges them) and still count:
its ``"mentioned"`` vote joins the presence problem and abstains on the value. A
multi-label task is presence alone, one label at a time.

Silence means absent: an example no source voted on for an attribute gets the
absent answer (``"none"`` / ``"no"``), as a token no span covers is outside every
entity, so the label models only weigh sources that spoke. Silence counts in the
presence model's class balance too, which is estimated over every fit row, a silent
one as absent, and given to the label model (``class_balance``): LFs often say only
that an attribute is there, and a balance learned from the rows they voted on alone
would take nearly every row for present, a row where one source said ``"none"``
included. Where presence is known and no source named a value, the value is the
values' balance: the mean of the value model's posteriors over the rows that name
one. Such a row's answer is then the most common value when presence wins, not a tie
(a keyword for "waiter" alone says staff, and staff is mostly praised).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labelkit.aggregate.auto import AutoLabelModel
from labelkit.aggregate.base import LabelModel, fit_predict, predict_from_proba
from labelkit.task import ABSTAIN, Task

PRESENCE_CLASSES = ("absent", "present")
"""The presence part's classes, in the order of its codes."""


def answer_attribute(
    task: Task,
    attribute: str,
    codes: np.ndarray,
    fit_rows: np.ndarray,
    gold: np.ndarray | None,
    make_model: Callable[..., LabelModel],
    save_to: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities over ``task.answers(attribute)`` and predicted codes for every row.

    ``codes`` are votes coded by ``task.vote_task(attribute)`` (values first, then the
    absent answer, then ``"mentioned"`` for aspects); ``gold`` holds answer codes (-1 =
    unknown). ``make_model`` makes a fresh label model for each part, called with the
    presence balance as ``class_balance=`` for the presence part (see the module
    docstring); ``save_to`` is a folder that gets ``<attribute>.presence.json`` and
    ``<attribute>.value.json`` (``saved_model_path``).

    Examples
    --------
    >>> task = Task(("positive", "negative"), kind="aspects", attributes=("staff",))
    >>> codes = np.array([[0, 3], [2, -1], [-1, -1]])  # positive + mentioned; none; silence
    >>> proba, predicted = answer_attribute(task, "staff", codes, np.ones(3, bool), None,
    ...                                     MajorityVote)
    >>> task.answers("staff").decode(predicted).to_list()
    ['positive', 'none', 'none']
    """
    values = len(task.answers(attribute).labels) - 1
    absent = values
    voted = codes != ABSTAIN
    presence = np.where(voted, (codes != absent).astype(codes.dtype), ABSTAIN)
    presence_gold = None if gold is None else np.where(gold == ABSTAIN, ABSTAIN, gold != absent)
    balance = _presence_balance(presence, fit_rows, presence_gold)
    presence_model = make_model(class_balance=balance)
    p_present, _ = fit_predict(
        presence_model,
        presence,
        2,
        fit_rows,
        presence_gold,
        _saved(save_to, attribute, "presence"),
    )
    present = p_present[:, 1:2]
    decided_present = _as_fitted(presence_model, presence, p_present)[:, 1:2]
    named = np.where(voted & (codes < values), codes, ABSTAIN)
    value_rows = fit_rows & (named != ABSTAIN).any(axis=1)
    if values == 1 or not value_rows.any():
        value = decided_value = np.full((len(codes), values), 1 / values)
    else:
        value_gold = None if gold is None else np.where(gold < values, gold, ABSTAIN)
        value_model = make_model()
        value, _ = fit_predict(
            value_model,
            named,
            values,
            value_rows,
            value_gold,
            _saved(save_to, attribute, "value"),
        )
        decided_value = _as_fitted(value_model, named, value)
        # A row that names no value is present with the values' balance: the mean
        # posterior over the rows that name one, which every label model has (each
        # gives a row without votes uniform probabilities, a tie).
        unnamed = ~(named != ABSTAIN).any(axis=1)
        value[unnamed] = value[value_rows].mean(axis=0)
        decided_value[unnamed] = decided_value[value_rows].mean(axis=0)
    silent = ~voted.any(axis=1)
    proba = _answer_proba(present, value, silent)
    decided = _answer_proba(decided_present, decided_value, silent)
    predicted = predict_from_proba(np.where(silent[:, None], absent, codes), decided)
    return proba, predicted


def _answer_proba(present: np.ndarray, value: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """Each row's probabilities over the values then the absent answer: ``present``
    (a column) times ``value``, and one minus it; a ``silent`` row's are absent's."""
    proba = np.hstack([present * value, 1 - present])
    proba[silent] = np.eye(value.shape[1] + 1)[value.shape[1]]
    return proba


def _as_fitted(model: LabelModel, codes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """``proba``, ``model``'s probabilities on ``codes``, as the model gave them before
    its confidence was fitted to gold (``AutoLabelModel.softened``): what the answer is
    decided by. Fitting confidence changes how sure an answer is, never which it is;
    but softened toward a half, a presence is outweighed by ``none`` once its values
    split (0.6 present over 0.5 / 0.3 / 0.2 is 0.3 at most against 0.4), and with dev
    gold `auto` answered `none` for most mentions: MAMS-ACSA's test macro-F1 fell from
    0.476 without gold to 0.369 with it (stop 66)."""
    if not isinstance(model, AutoLabelModel) or not model.softened:
        return proba
    return model.predict_proba(codes, as_fitted=True)


def _presence_balance(
    presence: np.ndarray, fit_rows: np.ndarray, gold: np.ndarray | None = None
) -> list[float]:
    """``[P(absent), P(present)]`` over every fit row: a row no source voted on counts as
    absent, a voted one as its share of present votes, one with gold as its gold; one
    pseudo-row of each keeps both possible.

    Examples
    --------
    >>> presence = np.array([[1, 1], [1, 0], [-1, -1], [-1, -1], [-1, -1], [-1, -1]])
    >>> _presence_balance(presence, np.ones(6, bool))  # (1 + 0.5 + 1) / (6 + 2) present
    [0.6875, 0.3125]
    """
    votes = presence[fit_rows]
    cast = (votes != ABSTAIN).sum(axis=1)
    present = np.where(cast > 0, (votes == 1).sum(axis=1) / np.maximum(cast, 1), 0.0)
    if gold is not None:
        known = gold[fit_rows] != ABSTAIN
        present = np.where(known, gold[fit_rows] == 1, present)
    share = float((present.sum() + 1) / (len(present) + 2))
    return [1 - share, share]


def _saved(folder: Path | None, attribute: str, part: str) -> Path | None:
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return saved_model_path(folder, attribute, part)


# A name that is one plain file name as it is: letters, digits, "_", "-" and inner dots.
_PLAIN_NAME = re.compile(r"\w[\w.-]*")


def saved_model_path(folder: Path, attribute: str, part: str) -> Path:
    """Where ``aggregate(save_to=folder)`` keeps ``attribute``'s ``part`` (``presence``
    or ``value``): ``<attribute>.<part>.json`` for a plain name, else (a multi-label
    task's labels come from the data) the name's letters and digits and a hash of it,
    so that no label leaves ``folder`` or names a file it cannot hold.

    Examples
    --------
    >>> saved_model_path(Path("m"), "staff", "value")
    PosixPath('m/staff.value.json')
    >>> saved_model_path(Path("m"), "../../x", "value")
    PosixPath('m/x-9bdbf20b.value.json')
    """
    if _PLAIN_NAME.fullmatch(attribute) and len(attribute) <= 100:
        return folder / f"{attribute}.{part}.json"
    digest = hashlib.sha1(attribute.encode()).hexdigest()[:8]
    stem = re.sub(r"\W+", "_", attribute).strip("_")[:60]
    return folder / f"{stem}-{digest}.{part}.json" if stem else folder / f"{digest}.{part}.json"
