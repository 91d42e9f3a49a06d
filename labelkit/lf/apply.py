"""Applying labeling functions to examples: declarative LFs column-wise, Python LFs per row."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import polars as pl

from labelkit.errors import InputError, LabelingFunctionError
from labelkit.lf.core import DeclarativeLF, Example, LabelingFunction, PythonLF
from labelkit.task import ABSTAIN, Task
from labelkit.votes import LabelMatrix, write_votes
from labelkit.workspace import Workspace


def compute_votes(
    lfs: Sequence[LabelingFunction], examples: pl.DataFrame, task: Task
) -> LabelMatrix:
    """The votes of ``lfs`` on a frame with ``id`` and ``text`` (and optional ``meta``) columns.

    Examples
    --------
    >>> frame = pl.DataFrame({"id": ["a", "b"], "text": ["subscribe to me", "nice song"]})
    >>> compute_votes([keyword_lf("sub", ["subscribe"], "spam")], frame, task).codes[:, 0]
    array([ 1, -1], dtype=int16)
    """
    _check_lfs(lfs, task)
    codes = np.full((examples.height, len(lfs)), ABSTAIN, dtype=np.int16)
    declarative = [(j, lf) for j, lf in enumerate(lfs) if isinstance(lf, DeclarativeLF)]
    if declarative:
        fired = examples.select(
            pl.when(lf.condition)
            .then(pl.lit(task.code(lf.label), pl.Int16))
            .otherwise(pl.lit(ABSTAIN, pl.Int16))
            .alias(f"_{j}")
            for j, lf in declarative
        )
        codes[:, [j for j, _ in declarative]] = fired.to_numpy()
    python = [(j, lf) for j, lf in enumerate(lfs) if isinstance(lf, PythonLF)]
    if python:
        rows = _examples_for_python(examples)
        for j, lf in python:
            codes[:, j] = _run_python_lf(lf, rows, task)
    return LabelMatrix(
        codes=codes,
        example_ids=examples["id"].to_list(),
        sources=[lf.name for lf in lfs],
        task=task,
    )


def apply_lfs(workspace: Workspace, lfs: Sequence[LabelingFunction]) -> LabelMatrix:
    """Apply ``lfs`` to every example in the workspace and store their votes in one step.

    Each LF's earlier votes are replaced; if any LF fails, nothing is written.

    Examples
    --------
    >>> L = apply_lfs(ws, load_lfs("labeling_functions.youtube"))
    >>> L.sources[:2]
    ['keyword_my', 'keyword_subscribe']
    """
    examples = workspace.sql("SELECT id, text, meta FROM examples ORDER BY id")
    if examples.height == 0:
        raise InputError(f"workspace {workspace.path} has no examples: run `labelkit ingest`")
    matrix = compute_votes(lfs, examples, workspace.task)
    votes = matrix.to_frame()
    with workspace.run("apply", {"lfs": [lf.name for lf in lfs]}) as run:
        for lf in lfs:
            write_votes(
                run.con,
                source=lf.name,
                kind="lf",
                definition=lf.definition,
                example_ids=matrix.example_ids,
                labels=votes[lf.name],
                run_id=run.id,
            )
    return matrix


def _check_lfs(lfs: Sequence[LabelingFunction], task: Task) -> None:
    if not lfs:
        raise InputError("no labeling functions given")
    names = [lf.name for lf in lfs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"labeling function names must be unique; repeated: {duplicated}")
    for lf in lfs:
        if not isinstance(lf, (DeclarativeLF, PythonLF)):
            raise InputError(f"{lf!r} is not a labeling function")
        if isinstance(lf, DeclarativeLF) and lf.label not in task.labels:
            raise InputError(
                f"labeling function {lf.name!r} votes {lf.label!r}, which is not one of the "
                f"task's labels {list(task.labels)}"
            )


def _examples_for_python(examples: pl.DataFrame) -> list[Example]:
    metas = examples["meta"] if "meta" in examples.columns else pl.Series([None] * examples.height)
    return [
        Example(id=i, text=t, meta=json.loads(m) if m else {})
        for i, t, m in zip(examples["id"], examples["text"], metas, strict=True)
    ]


def _run_python_lf(lf: PythonLF, rows: list[Example], task: Task) -> np.ndarray:
    out = np.full(len(rows), ABSTAIN, dtype=np.int16)
    codes = {label: k for k, label in enumerate(task.labels)}
    for i, x in enumerate(rows):
        try:
            label = lf(x)
        except Exception as error:
            raise LabelingFunctionError(
                lf.name, x.id, x.text, f"{type(error).__name__}: {error}"
            ) from error
        if label is None:
            continue
        if label not in codes:
            raise LabelingFunctionError(
                lf.name, x.id, x.text, f"returned {label!r}, not one of {list(task.labels)} or None"
            )
        out[i] = codes[label]
    return out
