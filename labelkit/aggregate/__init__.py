"""Aggregation: combine the votes of every source into one label per example."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from labelkit.aggregate.attributes import answer_attribute
from labelkit.aggregate.auto import AutoLabelModel, fitted_with_gold
from labelkit.aggregate.base import (
    BaseLabelModel,
    LabelModel,
    expected_accuracy,
    fit_predict,
    predict_from_proba,
    store_label_model_answers,
)
from labelkit.aggregate.dawid_skene import DawidSkene
from labelkit.aggregate.models import MajorityVote, SnorkelLabelModel, WeightedMajorityVote
from labelkit.errors import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    did_you_mean,
    outside_labelkit,
)
from labelkit.registry import configure, label_models
from labelkit.report import first_named
from labelkit.task import ABSTAIN, MENTIONED, NONE
from labelkit.votes import source_names, vote_code_matrix
from labelkit.workspace import VOTE_STEP, Workspace, no_gold_in, warn_if_out_of_date

__all__ = [
    "AutoLabelModel",
    "DawidSkene",
    "LabelModel",
    "MajorityVote",
    "SnorkelLabelModel",
    "WeightedMajorityVote",
    "aggregate",
    "aggregate_to_workspace",
    "answered_by_balance",
    "expected_accuracy",
    "health_said_elsewhere",
    "label_model_accuracy",
    "label_model_score",
    "label_model_sources",
    "last_aggregate_config",
    "load_label_model",
    "lost_labels",
    "make_label_model",
    "predict_from_proba",
    "source_health_warning",
]


def make_label_model(
    name: str, passed: Mapping[str, Any] | None = None, **params: Any
) -> LabelModel:
    """A label model from the registry by name, made with the user's ``params`` and what
    labelkit ``passed`` (``labelkit.registry.configure``).

    Examples
    --------
    >>> make_label_model("snorkel", epochs=200).name
    'snorkel'
    """
    try:
        return configure(label_models, name, passed, **params)
    except TypeError as error:
        raise InputError(f"label model {name!r}: {error}") from None


def checked_sources(
    workspace: Workspace, model: object, sources: str | list[str] | None
) -> list[str] | None:
    """``sources`` as a list of the workspace's source names (one name alone is a list
    of one), refused where one is unknown, and ``model`` refused unless it is a name
    (trial 53c: a misspelt source gave every example no label, stored without a word;
    a ``DawidSkene()`` failed on "no attribute 'casefold'").

    Examples
    --------
    >>> checked_sources(ws, "auto", "keyword_my")
    ['keyword_my']
    """
    if not isinstance(model, str):
        raise InputError(
            f"model is a label model's name in labelkit.registry.label_models, with its "
            f"settings as keyword arguments (aggregate(ws, 'dawid_skene', max_iter=50)), "
            f"not {type(model).__name__}"
        )
    if sources is None:
        return None
    names = [sources] if isinstance(sources, str) else list(sources)
    refuse_unknown_sources(workspace, names, "sources")
    if not names:
        raise InputError("sources is empty: name the sources to aggregate, or leave it out")
    return names


def refuse_unknown_sources(workspace: Workspace, names: list[str], given_as: str) -> None:
    """Refuse ``names`` where one is no source of the workspace, naming the argument
    (``given_as``) they came from and the workspace's sources.

    Examples
    --------
    >>> refuse_unknown_sources(ws, ["keyword_mi"], "--exclude")
    Traceback (most recent call last):
    labelkit.errors.InputError: --exclude names no source of the workspace: ['keyword_mi']; its sources are ['keyword_my'] (did you mean 'keyword_my'?)
    """
    held = source_names(workspace)
    unknown = [name for name in names if name not in held]
    if unknown:
        shown = str(held) if len(held) <= 12 else f"{held[:12]} and {len(held) - 12} more"
        raise InputError(
            f"{given_as} names no source of the workspace: {unknown}; its sources are {shown}"
            + did_you_mean(unknown[0], held)
        )


def load_label_model(path: str | Path) -> BaseLabelModel:
    """A fitted label model saved with ``save``.

    Examples
    --------
    >>> DawidSkene().fit(train_codes, 2).save("ds.json")
    >>> load_label_model("ds.json").predict(test_codes)
    array([1, 0, ...])
    >>> load_label_model("models/tags/bug.presence.json").report["chosen"]  # multi-label
    'majority_vote'
    """
    if Path(path).is_dir():
        # Trial 68c: an aspects or multi-label fit's folder read as "Is a directory".
        files = sorted(item.name for item in Path(path).glob("*.json"))
        raise InputError(
            f"{path} is a folder: aggregate(save_to=...) on a task with attributes saves "
            "one label model per attribute and part (<attribute>.presence.json, "
            "<attribute>.value.json); load one of its files"
            + (f", such as {path}/{files[0]}" if files else "")
        )
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        model = make_label_model(document["model"], **document["config"])
        return model.restore(document["cardinality"], document["n_sources"], document["state"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not a saved label model ({error})") from None


def aggregate(
    workspace: Workspace,
    model: str = "auto",
    *,
    fit_split: str = "train",
    gold_split: str | None = None,
    sources: str | list[str] | None = None,
    save_to: str | Path | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Fit a label model on one split's votes, predict every example, store the predictions.

    With ``gold_split`` (e.g. ``"dev"``), that split's examples with gold labels join
    the fit with their labels as ``gold`` (see each model's ``fit``). ``save_to``
    writes the fitted model as JSON (see ``load_label_model``); its ``report`` is what
    ``labelkit aggregate`` prints of the fit: for ``auto``, what it ended with and why
    (``chosen``, ``reason``), each source's estimated accuracy and chance, and the
    sources it dropped (trial 58e: in Python the fit said nothing).

    A task with attributes (aspects, multi-label) is answered one attribute at a time
    (``labelkit.aggregate.attributes``); its predictions have an ``attribute`` column
    and ``save_to`` is a folder of one model per attribute and part. Each presence
    model gets the class balance estimated over the fit rows (silence counted as
    absent); a given ``class_balance`` is the value models'.

    Returns the predictions frame, read back from the workspace: ``example_id, label``
    (null where the model abstains), ``confidence`` and ``probabilities`` in the task's
    label order (in ``Task.answers(attribute)``'s order where there are attributes),
    by attribute in ``Task.targets``' order, then by id. ``aggregate_to_workspace``
    stores the same without building the frame, for millions of examples.

    A spans task goes through a span label model (``model``: ``auto``, the default,
    ``majority_vote`` or ``dawid_skene``; see ``labelkit.aggregate.span_workspace``):
    its predictions, one row per span, ``example_id, start, end, label, confidence``,
    replace ``span_predictions``. Span label models are not saved (``save_to``).

    Examples
    --------
    >>> predictions = aggregate(ws, "dawid_skene", gold_split="dev")
    >>> predictions.columns
    ['example_id', 'label', 'confidence', 'probabilities']
    >>> aggregate(reviews).columns  # aspects and multi-label
    ['example_id', 'attribute', 'label', 'confidence', 'probabilities']
    >>> predictions = aggregate(ws, save_to="label_model.json")
    >>> load_label_model("label_model.json").report["chosen"]
    'majority_vote'
    """
    if not isinstance(workspace, Workspace):
        # Trial 57b: a LabelMatrix failed on "no attribute 'require'".
        raise InputError(
            f"aggregate takes a Workspace, not a {type(workspace).__name__}: for a "
            'LabelMatrix, fit a model on its codes: make_label_model("auto").fit('
            "matrix.codes, matrix.task.cardinality)"
        )
    sources = checked_sources(workspace, model, sources)
    if workspace.task.kind == "spans":
        # Imported here: span_workspace scores with labelkit.evaluation, which imports
        # this package.
        from labelkit.aggregate.span_workspace import aggregate_spans

        if save_to is not None:
            raise InputError("span label models are not saved: leave out save_to (--save)")
        return aggregate_spans(
            workspace, model, fit_split=fit_split, gold_split=gold_split, sources=sources, **params
        ).predictions
    aggregate_to_workspace(
        workspace,
        model,
        fit_split=fit_split,
        gold_split=gold_split,
        sources=sources,
        save_to=save_to,
        **params,
    )
    targets = list(workspace.task.targets)
    attribute = "" if targets == [""] else "attribute, "
    return workspace.sql(
        f"""SELECT example_id, {attribute}label, confidence, probabilities FROM predictions
            ORDER BY list_position(?, attribute), example_id""",
        [targets],
    )


def aggregate_to_workspace(
    workspace: Workspace,
    model: str = "auto",
    *,
    fit_split: str = "train",
    gold_split: str | None = None,
    sources: str | list[str] | None = None,
    save_to: str | Path | None = None,
    **params: Any,
) -> None:
    """``aggregate`` on a task with a label per attribute (not spans), without returning
    the predictions: query them in the workspace's ``predictions`` table.

    Its memory is the votes' code matrix and each attribute's probabilities (a few
    dozen bytes per example) plus chunks of ``CHUNK_ROWS`` rows, where a frame of the
    predictions holds every id and a list of probabilities per example.

    Examples
    --------
    >>> aggregate_to_workspace(ws, "majority_vote")
    >>> ws.sql("SELECT label, count(*) AS n FROM predictions GROUP BY label ORDER BY label")
    """
    started = time.time()
    sources = checked_sources(workspace, model, sources)
    used_sources, answers, fitted = _predict(
        workspace, model, fit_split, gold_split, sources, save_to, params
    )
    config = {
        "model": model,
        "fit_split": fit_split,
        "gold_split": gold_split,
        "sources": used_sources,
        **params,
    }
    store_label_model_answers(workspace, answers, config, started)
    if save_to is not None and workspace.task.kind == "classification":
        # What the saved matrices' rows and columns are (trial 54b: 43 workers'
        # confusion matrices, their order to be guessed).
        document = json.loads(Path(save_to).read_text(encoding="utf-8"))
        document |= {"sources": used_sources, "labels": list(workspace.task.labels)}
        Path(save_to).write_text(json.dumps(document), encoding="utf-8")
    # Last: under LABELKIT_STRICT it is an error, and what was stored and saved stays.
    # Only a classification's one model says what the whole fit ended with.
    whole = [fitted_model for name, fitted_model in fitted if not name]
    chosen = getattr(whole[0], "chosen", None) if whole else None
    lost = lost_labels(workspace, model, fit_split, used_sources, chosen=chosen)
    if lost is not None:
        warnings.warn(lost, LabelkitWarning, stacklevel=outside_labelkit())
    if (unhealthy := source_health_warning(fitted, used_sources)) is not None:
        warnings.warn(unhealthy, LabelkitWarning, stacklevel=outside_labelkit())
    if (unjudged := answered_by_balance(workspace, fit_split, used_sources)) is not None:
        warnings.warn(unjudged, LabelkitWarning, stacklevel=outside_labelkit())


SOURCE_HEALTH = "source health: "
"""How the warning of ``source_health_warning`` begins."""


@contextmanager
def health_said_elsewhere() -> Iterator[None]:
    """Within it, ``aggregate`` leaves out its source-health warning: for a caller that
    gives its own account of the fit (``labelkit aggregate`` prints the health table
    with dev gold's figures, a demo names what ``auto`` dropped).

    Examples
    --------
    >>> with health_said_elsewhere():
    ...     aggregate(ws)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", SOURCE_HEALTH, LabelkitWarning)
        yield


def source_health_warning(
    fitted: Sequence[tuple[str, LabelModel]], sources: Sequence[str]
) -> str | None:
    """The warning ``labelkit aggregate`` gives of the sources ``auto`` dropped, found
    below chance or left unconfirmed, from the reports of the ``fitted`` models (each
    named by the attribute and part it answers, ``""`` for a classification), or None
    when all is well or none is ``auto``: a Python user of ``aggregate`` heard nothing
    of it (trial 65a).

    Examples
    --------
    >>> model = make_label_model("auto").fit(codes, 2)  # the third source's votes inverted
    >>> source_health_warning([("", model)], ["lex1", "lex2", "negation"])
    'source health: below chance (dropped): negation — these agree with the other ...'
    """
    # Imported here: labelkit.lf.analysis imports this package's attributes module.
    from labelkit.lf.analysis import health_warning, source_health

    tables, with_gold = [], False
    for name, fitted_model in fitted:
        # auto's report alone has what the health table reads (a registered model's
        # report may hold anything).
        if not isinstance(fitted_model, AutoLabelModel):
            continue
        report = fitted_model.report
        with_gold |= fitted_with_gold(report)
        health = source_health(report, sources).filter(pl.col("coverage") > 0)
        if name:
            health = health.with_columns(source=pl.format("{} ({})", "source", pl.lit(name)))
        tables.append(health)
    warning = health_warning(pl.concat(tables), fitted_with_gold=with_gold) if tables else None
    return None if warning is None else SOURCE_HEALTH + warning


# A label its sources vote on this many fit rows or more, and that the label model gives
# to fewer than a tenth as many, is said to be lost.
LOST_LABEL_VOTES = 20


def lost_labels(
    workspace: Workspace,
    model: str,
    fit_split: str,
    sources: list[str] | None = None,
    *,
    chosen: str | None = None,
) -> str | None:
    """What the stored predictions lose of the task's labels, said as a warning, or None.

    Labels none of ``sources`` (default every source) votes on and the label model gives
    to no example (trial 53a: ``--exclude`` of two LFs left `returns` to nobody; trial
    64a: fitted with gold, a model gave an unvoted label to 271 texts, and was said to
    give it to none), and labels they vote on ``LOST_LABEL_VOTES`` rows of
    ``fit_split`` or more that the model gives to under a tenth as many (trial 53a:
    weighted majority vote weighed the billing LFs 0; trial 57b: Snorkel and weighted
    majority vote answered `no` for every ticket on four of five tags, whose only LFs
    voted `yes`). An aspect's answer no source votes is said only where dev's gold
    gives it ``GOLD_SEEN`` times or more: a polarity no LF votes may be a choice, but
    not one the gold makes (trial 64a: no LF voted `neutral`, 17% of the mentions, and
    nothing said so). ``chosen`` is what ``auto`` ended with: fallen back to majority
    vote, it is not told to try majority vote (trial 54e).

    Examples
    --------
    >>> lost_labels(ws, "weighted_majority", "train")
    "weighted_majority gives next to none of its sources' votes for ui=yes (voted on 693, given to 0) of train: ..."
    """
    task = workspace.task
    of_split = "(SELECT id FROM examples WHERE split = $split)"
    rows = workspace.sql(
        f"""SELECT attribute, label,
                   count(DISTINCT example_id) FILTER (voted) AS voted,
                   count(DISTINCT example_id) FILTER (NOT voted) AS given
            FROM (SELECT attribute, label, example_id, true AS voted FROM votes
                  WHERE example_id IN {of_split}
                    AND ($sources::VARCHAR[] IS NULL OR list_contains($sources, source))
                  UNION ALL
                  SELECT attribute, label, example_id, false FROM predictions
                  WHERE example_id IN {of_split})
            GROUP BY ALL""",
        {"split": fit_split, "sources": sources},
    )
    counts = {(a, label): (v, g) for a, label, v, g in rows.iter_rows()}
    said = []
    left_out = sorted(set(source_names(workspace)) - set(sources)) if sources is not None else []
    by_left_out = set(
        workspace.sql(
            f"""SELECT DISTINCT attribute, label FROM votes
                WHERE example_id IN {of_split} AND list_contains($left, source)""",
            {"split": fit_split, "left": left_out},
        ).rows()
        if left_out
        else ()
    )

    def remedy(unvoted: list[tuple[str, str]]) -> str:
        # The sources left out named only where one of them votes a label said (the
        # second read: they were named for labels none of them votes).
        one = len(unvoted) == 1
        back = any(pair in by_left_out for pair in unvoted)
        keep = f", or leave in the sources left out that vote {'it' if one else 'some'}"
        return f"(write a labeling function for {'it' if one else 'each'}{keep if back else ''})"

    if task.kind == "classification":
        unvoted = [label for label in task.labels if counts.get(("", label), (0, 0)) == (0, 0)]
        if unvoted:
            one = len(unvoted) == 1
            said.append(
                f"{model} gives the label{'' if one else 's'} {', '.join(unvoted)} to no "
                f"example: none of the sources it weighs votes {'it' if one else 'them'} "
                + remedy([("", label) for label in unvoted])
            )
    if task.kind == "aspects" and (missing := _unvoted_answers_in_gold(workspace, counts)):
        one = len(missing) == 1
        named = [f"{a}={label} (in {seen} of dev's gold texts)" for a, label, seen in missing]
        said.append(
            f"{model} gives {first_named(named)} to no example of {fit_split}: none of the "
            f"sources it weighs votes {'it' if one else 'them'}, though dev's gold gives "
            f"{'it' if one else 'them'} " + remedy([(a, label) for a, label, _ in missing])
        )
    outweighed = [
        f"{label if not attribute else f'{attribute}={label}'} (voted on {voted:,}, "
        f"given to {given:,})"
        for attribute in task.targets
        for label in task.answers(attribute).labels
        for voted, given in [counts.get((attribute, label), (0, 0))]
        if voted >= LOST_LABEL_VOTES and given < voted / 10
    ]
    if outweighed:
        other = "auto" if model != "auto" else "majority_vote` or `--model dawid_skene"
        if model == "auto" and chosen == "majority_vote":
            other = "dawid_skene"
        said.append(
            f"{model} gives next to none of its sources' votes for {', '.join(outweighed)} of "
            f"{fit_split}: their votes are outweighed; compare another label model "
            f"(`labelkit aggregate --model {other}`)"
        )
    return "; ".join(said) or None


# Dev gold rows that give an aspect's answer before its going unvoted is said.
GOLD_SEEN = 5


def _unvoted_answers_in_gold(
    workspace: Workspace, counts: Mapping[tuple[str, str], tuple[int, int]]
) -> list[tuple[str, str, int]]:
    """``(attribute, answer, dev gold rows giving it)`` for each present answer of an
    aspect that no source votes and the label model gives to no example (``counts``:
    votes and labels per ``(attribute, label)``), where dev's gold gives it
    ``GOLD_SEEN`` times or more, on an aspect that has other answers given: an aspect
    given none is ``_never_present``'s in the CLI."""
    task = workspace.task
    gold = workspace.sql("SELECT gold FROM examples WHERE split = 'dev' AND gold IS NOT NULL")
    named = []
    for attribute in task.targets if gold.height else ():
        *present, _ = task.answers(attribute).labels
        if not any(counts.get((attribute, label), (0, 0))[1] for label in present):
            continue
        answers = task.gold_answers(gold["gold"], attribute)
        for label in present:
            seen = int((answers == label).sum())
            if counts.get((attribute, label), (0, 0)) == (0, 0) and seen >= GOLD_SEEN:
                named.append((attribute, label, seen))
    return named


# The share of an aspect's present answers that no vote named before that is said.
BALANCE_SHARE = 0.25


def answered_by_balance(
    workspace: Workspace, fit_split: str = "train", sources: list[str] | None = None
) -> str | None:
    """A warning of the aspects whose answers rest on the values' balance, not on a vote,
    or None: where ``sources`` (default every source) say only that an aspect is there
    (``"mentioned"``), never how, the label model answers its most common value
    (``labelkit.aggregate.attributes``), on every such text alike. Said where such
    answers are ``BALANCE_SHARE`` of an aspect's present answers on ``fit_split`` or
    more, and ``LOST_LABEL_VOTES`` texts or more (trial 66a: "Too expensive." was
    price=positive, as a keyword alone voted on price and price is mostly praised).

    Examples
    --------
    >>> answered_by_balance(reviews)
    "answered by the aspect's balance, not by a vote: price: 120 of the 300 train texts ..."
    """
    if workspace.task.kind != "aspects":
        return None
    rows = workspace.sql(
        """WITH fit AS (SELECT id FROM examples WHERE split = $split),
           named AS (SELECT example_id, attribute, bool_or(label NOT IN ($none, $mentioned)) AS named
                     FROM votes
                     WHERE example_id IN (SELECT id FROM fit)
                       AND ($sources::VARCHAR[] IS NULL OR list_contains($sources, source))
                     GROUP BY ALL)
           SELECT p.attribute, count(*) AS present,
                  count(*) FILTER (NOT coalesce(n.named, false)) AS unnamed,
                  mode(p.label) FILTER (NOT coalesce(n.named, false)) AS given
           FROM predictions p LEFT JOIN named n USING (example_id, attribute)
           WHERE p.example_id IN (SELECT id FROM fit) AND p.label <> $none
           GROUP BY ALL ORDER BY unnamed / present DESC, p.attribute""",
        {"split": fit_split, "none": NONE, "mentioned": MENTIONED, "sources": sources},
    )
    said = [
        f"{attribute}: {unnamed:,} of the {present:,} {fit_split} texts answered present "
        f"({unnamed / present:.0%}) got {given!r}"
        for attribute, present, unnamed, given in rows.iter_rows()
        if unnamed >= LOST_LABEL_VOTES and unnamed >= BALANCE_SHARE * present
    ]
    if not said:
        return None
    return (
        f"answered by the aspect's balance, not by a vote: {first_named(said, 4)}, each "
        "its aspect's most common answer, as their votes only said the aspect is "
        "mentioned; write labeling functions that vote those aspects' answers (a keyword "
        "near a sentiment word), or check such labels in review"
    )


def last_aggregate_config(workspace: Workspace) -> dict[str, Any] | None:
    """How ``aggregate`` last fitted the stored label model (its run's config: ``model``,
    ``fit_split``, ``gold_split``, ``sources`` and its parameters), or None before any.

    Examples
    --------
    >>> last_aggregate_config(ws)["model"]
    'auto'
    """
    row = workspace.sql(
        "SELECT config FROM runs WHERE step = 'aggregate' ORDER BY run_id DESC LIMIT 1"
    )
    return json.loads(row["config"][0]) if row.height else None


def label_model_sources(workspace: Workspace) -> list[str] | None:
    """The sources the stored label model was fitted on that the workspace still holds
    (less any ``--exclude`` left out), or None before any: majority vote, its baseline,
    reads the same (trial 34: it read every source, excluded ones too).

    Examples
    --------
    >>> label_model_sources(ws)
    ['keyword_my', 'keyword_subscribe', 'llm:smollm2']
    """
    config = last_aggregate_config(workspace)
    if config is None or config.get("sources") is None:
        return None
    held = set(source_names(workspace))
    return [name for name in config["sources"] if name in held]


def label_model_accuracy(
    workspace: Workspace,
    model: str = "auto",
    *,
    split: str = "dev",
    fit_split: str = "train",
    gold_split: str | None = None,
    sources: list[str] | None = None,
    **params: Any,
) -> float | None:
    """The accuracy on ``split``'s gold of a label model fitted as ``aggregate`` fits it
    (on ``sources``, default every source), in memory: nothing is stored. An example the model leaves undecided counts as
    wrong; on a task with attributes each (example, attribute) counts once. None when
    ``split`` has no gold labels (``label_model_score`` gives macro-F1 too).

    Examples
    --------
    >>> round(label_model_accuracy(ws, "majority_vote"), 3)
    0.846
    """
    scores = label_model_score(
        workspace,
        model,
        split=split,
        fit_split=fit_split,
        gold_split=gold_split,
        sources=sources,
        **params,
    )
    return None if scores is None else scores["accuracy"]


def label_model_score(
    workspace: Workspace,
    model: str = "auto",
    *,
    split: str = "dev",
    fit_split: str = "train",
    gold_split: str | None = None,
    sources: list[str] | None = None,
    **params: Any,
) -> dict[str, float] | None:
    """``accuracy`` and ``macro_f1`` on ``split``'s gold of a label model fitted as
    ``aggregate`` fits it, in memory, as ``label_model_accuracy``; ``macro_f1`` as
    ``evaluate`` scores it: per attribute the mean F1 over the answers the gold gives
    and the model predicts (an undecided example counts as wrong), then the mean over
    attributes. None when ``split`` has no gold labels, or on a spans task.

    Examples
    --------
    >>> label_model_score(reviews, "auto", gold_split="dev")
    {'accuracy': 0.789, 'macro_f1': 0.506}
    """
    # Imported here: labelkit.evaluation imports this package.
    from labelkit.evaluation import score

    task = workspace.task
    if task.kind == "spans":
        return None
    scored = workspace.sql(
        "SELECT coalesce(split = ? AND gold IS NOT NULL, false) AS scored FROM examples "
        "ORDER BY id",
        [split],
    )["scored"].to_numpy()
    if not scored.any():
        return None
    gold = workspace.sql(
        "SELECT gold FROM examples WHERE split = ? AND gold IS NOT NULL ORDER BY id", [split]
    )["gold"]
    _, answers, _ = _predict(workspace, model, fit_split, gold_split, sources, None, params)
    right = counted = 0
    f1s = []
    for attribute, _, predicted in answers:
        expected = task.answers(attribute).encode(task.gold_answers(gold, attribute))
        known = expected != ABSTAIN
        if not known.any():
            continue
        given, wanted = predicted[scored][known], expected[known]
        right += int((given == wanted).sum())
        counted += int(known.sum())
        f1s.append(score(wanted, given, task.answers(attribute).cardinality)["macro_f1"])
    if not counted:
        return None
    return {"accuracy": right / counted, "macro_f1": float(np.mean(f1s))}


def warn_of_copies(codes: np.ndarray, sources: list[str], attribute: str) -> None:
    """Warn of sources that cast the very same votes on every example: a label model
    takes them for independent witnesses that always agree, and trusts both (trial 45:
    one file imported as two sources, each estimated 0.98 accurate, gold 0.80).

    Examples
    --------
    >>> warn_of_copies(np.array([[0, 0], [1, 1]]), ["kw", "kw_copy"], "")
    """
    first: dict[bytes, str] = {}
    for j, name in enumerate(sources):
        column = codes[:, j]
        if (column == ABSTAIN).all():
            continue
        same = first.setdefault(column.tobytes(), name)
        if same != name:
            where = f" on {attribute!r}" if attribute else ""
            warnings.warn(
                f"sources {same!r} and {name!r} cast the same votes on every example{where}: "
                "a label model counts them as two witnesses that always agree and trusts "
                "both too much; fit it without one (`labelkit aggregate --exclude NAME`, or "
                "sources=)",
                LabelkitWarning,
                stacklevel=4,
            )


def _predict(
    workspace: Workspace,
    model: str,
    fit_split: str,
    gold_split: str | None,
    sources: list[str] | None,
    save_to: str | Path | None,
    params: dict[str, Any],
) -> tuple[list[str], Iterator[tuple[str, np.ndarray, np.ndarray]], list[tuple[str, LabelModel]]]:
    """The sources ``aggregate`` uses, and its answers for a task with a label per
    attribute: per attribute, computed as they are read, its probabilities and predicted
    codes for every example, in id order; and, once they are read, the fitted models,
    each named by the attribute and part it answers (``"food presence"``), a
    classification's by ``""`` (its ``chosen`` names the model ``auto`` ended with).
    Bad splits raise here, before any answer."""
    task = workspace.task
    workspace.require("votes", VOTE_STEP)
    warn_if_out_of_date(workspace, labels=False)
    used_sources = source_names(workspace) if sources is None else list(sources)
    rows = workspace.sql(
        """SELECT coalesce(split = ?, false) AS in_fit,
                  coalesce(split = ? AND gold IS NOT NULL, false) AS with_gold
           FROM examples ORDER BY id""",
        [fit_split, gold_split],
    )
    in_fit = rows["in_fit"].to_numpy()
    if not in_fit.any():
        raise LabelkitError(f"no examples in split {fit_split!r} to fit the label model on")
    with_gold = gold_labels = None
    if gold_split is not None:
        with_gold = rows["with_gold"].to_numpy()
        if not with_gold.any():
            raise no_gold_in(workspace, gold_split, "to fit with")
        gold_labels = workspace.sql(
            "SELECT gold FROM examples WHERE split = ? AND gold IS NOT NULL ORDER BY id",
            [gold_split],
        )["gold"]
    fit_rows = in_fit if with_gold is None else in_fit | with_gold
    fitted: list[tuple[str, LabelModel]] = []

    def made(attribute: str, **balance: Any) -> LabelModel:
        # The presence part is the one given a class balance (answer_attribute).
        part = "presence" if balance else "value"
        fitted.append((f"{attribute} {part}", make_label_model(model, balance, **params)))
        return fitted[-1][1]

    def answered() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for attribute in task.targets:
            codes, _ = vote_code_matrix(workspace, sources=used_sources, attribute=attribute)
            assert len(codes) == len(in_fit)
            warn_of_copies(codes, used_sources, attribute)
            gold = None
            if with_gold is not None and gold_labels is not None:
                answers = task.vote_task(attribute).encode(
                    task.gold_answers(gold_labels, attribute)
                )
                gold = np.full(len(codes), ABSTAIN, dtype=answers.dtype)
                gold[with_gold] = answers
            if task.kind == "classification":
                fitted.append(("", make_label_model(model, **params)))
                proba, predicted = fit_predict(
                    fitted[-1][1],
                    codes,
                    task.cardinality,
                    fit_rows,
                    gold,
                    save_to,
                )
            else:
                proba, predicted = answer_attribute(
                    task,
                    attribute,
                    codes,
                    fit_rows,
                    gold,
                    partial(made, attribute),
                    None if save_to is None else Path(save_to),
                )
            yield attribute, proba, predicted

    return used_sources, answered(), fitted
