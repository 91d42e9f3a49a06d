"""Applying labeling functions: declarative LFs column-wise in one polars pass, spaCy
pattern LFs in one ``nlp.pipe`` pass, Python LFs per row on every available core."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from labelkit.errors import InputError, LabelingFunctionError
from labelkit.lf.core import DeclarativeLF, Example, LabelingFunction, PythonLF, field_value
from labelkit.lf.patterns import PatternLF, run_pattern_lfs
from labelkit.task import ABSTAIN, Task
from labelkit.votes import LabelMatrix, definition_hash, write_votes
from labelkit.workspace import Workspace, registered

# Below this many rows a process pool costs more than it saves.
PARALLEL_MIN_ROWS = 20_000

ERRORS_SCHEMA = {"lf": pl.String, "example_id": pl.String, "text": pl.String, "error": pl.String}


@dataclass(frozen=True)
class AppliedLFs:
    """What applying labeling functions produced.

    ``matrix`` holds the votes of every LF asked for; ``errors`` one row per example
    where an LF raised or returned a label the task lacks (that vote is an abstain);
    ``reused`` the LFs whose stored votes were still current and were not recomputed.
    """

    matrix: LabelMatrix
    errors: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ERRORS_SCHEMA))
    reused: list[str] = field(default_factory=list)


def compute_votes(
    lfs: Sequence[LabelingFunction],
    examples: pl.DataFrame,
    task: Task,
    *,
    strict: bool = False,
    n_jobs: int | None = None,
) -> AppliedLFs:
    """The votes of ``lfs`` on a frame with ``id`` and ``text`` (and optional ``meta``,
    JSON) columns, in memory.

    A Python LF that raises on a row abstains there and the row goes into ``errors``;
    with ``strict`` the first such row raises ``LabelingFunctionError`` instead.
    ``n_jobs`` caps the processes for Python LFs (default: every available core).

    Examples
    --------
    >>> frame = pl.DataFrame({"id": ["a", "b"], "text": ["subscribe to me", "nice song"]})
    >>> compute_votes([keyword_lf("sub", ["subscribe"], "spam")], frame, task).matrix.codes[:, 0]
    array([ 1, -1], dtype=int16)
    """
    _check_lfs(lfs, task)
    if "meta" not in examples.columns:
        examples = examples.with_columns(meta=pl.lit(None, pl.String))
    codes = np.full((examples.height, len(lfs)), ABSTAIN, dtype=np.int16)
    kinds: dict[type, list[int]] = {}
    for j, lf in enumerate(lfs):
        kinds.setdefault(type(lf), []).append(j)
    if declarative := kinds.get(DeclarativeLF):
        _check_fields([lfs[j] for j in declarative], examples)
        label_codes = {label: k for k, label in enumerate(task.labels)}
        fired = examples.select(lfs[j].votes(label_codes) for j in declarative)
        codes[:, declarative] = fired.to_numpy()
    if patterns := kinds.get(PatternLF):
        codes[:, patterns] = run_pattern_lfs(
            [lfs[j] for j in patterns], examples["text"].to_list(), task
        )
    errors = pl.DataFrame(schema=ERRORS_SCHEMA)
    if python := kinds.get(PythonLF):
        votes, errors = _run_python_lfs([lfs[j] for j in python], examples, task, n_jobs)
        if strict and errors.height:
            lf, example_id, text, error = errors.row(0)
            raise LabelingFunctionError(lf, example_id, text, error)
        codes[:, python] = votes
    matrix = LabelMatrix(
        codes=codes,
        example_ids=examples["id"].to_list(),
        sources=[lf.name for lf in lfs],
        task=task,
    )
    return AppliedLFs(matrix=matrix, errors=errors)


def apply_lfs(
    workspace: Workspace,
    lfs: Sequence[LabelingFunction],
    *,
    strict: bool = False,
    force: bool = False,
    n_jobs: int | None = None,
) -> AppliedLFs:
    """Apply ``lfs`` to every example in the workspace and store their votes in one step.

    An LF whose definition (hash) is unchanged since its stored votes, with no example
    added since and no errors last time, is not rerun (``force`` reruns it). A Python
    LF's definition is its source code: if it calls a helper that changed, use ``force``.
    Rows where an LF fails are stored in ``lf_errors`` and returned in ``errors``;
    with ``strict``, a failure stops the step and nothing is written.

    Examples
    --------
    >>> applied = apply_lfs(ws, load_lfs("labeling_functions.youtube"))
    >>> applied.matrix.sources[:2], applied.errors.height
    (['keyword_my', 'keyword_subscribe'], 0)
    """
    _check_lfs(lfs, workspace.task)
    examples = workspace.sql("SELECT id, text, meta FROM examples ORDER BY id")
    if examples.height == 0:
        raise InputError(f"workspace {workspace.path} has no examples: run `labelkit ingest`")
    current = set() if force else _current(workspace, lfs)
    stale = [lf for lf in lfs if lf.name not in current]
    reused = [lf.name for lf in lfs if lf not in stale]
    errors = pl.DataFrame(schema=ERRORS_SCHEMA)
    if stale:
        computed = compute_votes(stale, examples, workspace.task, strict=strict, n_jobs=n_jobs)
        errors = computed.errors
        votes = computed.matrix.to_frame()
        config = {"lfs": [lf.name for lf in stale], "reused": reused, "errors": errors.height}
        with workspace.run("apply", config) as run:
            for lf in stale:
                write_votes(
                    run.con,
                    source=lf.name,
                    kind="lf",
                    definition=lf.definition,
                    example_ids=computed.matrix.example_ids,
                    labels=votes[lf.name],
                    run_id=run.id,
                )
            run.con.execute(
                "DELETE FROM lf_errors WHERE list_contains(?, source)",
                [[lf.name for lf in stale]],
            )
            with registered(run.con, "new_errors", errors):
                run.con.execute(
                    "INSERT INTO lf_errors SELECT lf, example_id, error, ? FROM new_errors",
                    [run.id],
                )
    matrix = LabelMatrix.from_workspace(workspace, sources=[lf.name for lf in lfs])
    return AppliedLFs(matrix=matrix, errors=errors, reused=reused)


def _current(workspace: Workspace, lfs: Sequence[LabelingFunction]) -> set[str]:
    """The LFs whose stored votes still hold: same definition hash, no example added
    since, and no errors last time."""
    hashes = pl.DataFrame(
        {"name": [lf.name for lf in lfs], "hash": [definition_hash(lf.definition) for lf in lfs]}
    )
    with registered(workspace.con, "asked", hashes):
        current = workspace.sql(
            """SELECT s.name FROM sources s JOIN asked a ON a.name = s.name AND a.hash = s.hash
               WHERE s.kind = 'lf' AND s.run_id >= (SELECT max(run_id) FROM examples)
                 AND s.name NOT IN (SELECT source FROM lf_errors)"""
        )
    return set(current["name"])


def _check_lfs(lfs: Sequence[LabelingFunction], task: Task) -> None:
    if not lfs:
        raise InputError("no labeling functions given")
    names = [lf.name for lf in lfs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"labeling function names must be unique; repeated: {duplicated}")
    for lf in lfs:
        if not isinstance(lf, (DeclarativeLF, PatternLF, PythonLF)):
            raise InputError(f"{lf!r} is not a labeling function")
        labels = lf.labels if isinstance(lf, DeclarativeLF) else ()
        labels = (lf.label,) if isinstance(lf, PatternLF) else labels
        for label in labels:
            if label not in task.labels:
                raise InputError(
                    f"labeling function {lf.name!r} votes {label!r}, which is not one of the "
                    f"task's labels {list(task.labels)}"
                )


def _check_fields(lfs: Sequence[DeclarativeLF], examples: pl.DataFrame) -> None:
    fields = sorted({name for lf in lfs for name in lf.fields})
    if not fields:
        return
    present = examples.select(field_value(name).is_not_null().any().alias(name) for name in fields)
    for name in fields:
        if not present[name][0]:
            users = [lf.name for lf in lfs if name in lf.fields]
            raise InputError(
                f"labeling function(s) {users} read metadata field {name!r}, which no example has"
            )


def _run_python_lfs(
    lfs: Sequence[PythonLF], examples: pl.DataFrame, task: Task, n_jobs: int | None
) -> tuple[np.ndarray, pl.DataFrame]:
    global _FORKED_WORK
    rows = _examples_for_python(examples)
    cores = n_jobs or len(os.sched_getaffinity(0))
    chunks = min(cores, max(1, len(rows) // (PARALLEL_MIN_ROWS // 2)))
    bounds = list(itertools.pairwise(np.linspace(0, len(rows), chunks + 1, dtype=int)))
    _FORKED_WORK = (lfs, rows, task)
    try:
        if chunks > 1 and "fork" in multiprocessing.get_all_start_methods():
            # fork: the children inherit the LFs and rows through _FORKED_WORK, so LFs
            # defined anywhere (a notebook, a file loaded by path) run without being
            # picklable; only row bounds go out and votes come back.
            with multiprocessing.get_context("fork").Pool(chunks) as pool:
                results = pool.starmap(_run_chunk, bounds)
        else:
            results = [_run_chunk(a, b) for a, b in bounds]
    finally:
        _FORKED_WORK = None
    votes = np.concatenate([v for v, _ in results]) if results else np.zeros((0, len(lfs)))
    failures = [failure for _, chunk_failures in results for failure in chunk_failures]
    return votes.astype(np.int16), pl.DataFrame(failures, schema=ERRORS_SCHEMA, orient="row")


def _examples_for_python(examples: pl.DataFrame) -> list[Example]:
    return [
        Example(id=i, text=t, meta=json.loads(m) if m else {})
        for i, t, m in zip(examples["id"], examples["text"], examples["meta"], strict=True)
    ]


_FORKED_WORK: tuple[Sequence[PythonLF], list[Example], Task] | None = None


def _run_chunk(start: int, stop: int) -> tuple[np.ndarray, list[tuple[str, str, str, str]]]:
    assert _FORKED_WORK is not None
    lfs, all_rows, task = _FORKED_WORK
    rows = all_rows[start:stop]
    out = np.full((len(rows), len(lfs)), ABSTAIN, dtype=np.int16)
    codes = {label: k for k, label in enumerate(task.labels)}
    failures = []
    for j, lf in enumerate(lfs):
        for i, x in enumerate(rows):
            try:
                label = lf(x)
            except Exception as error:
                failures.append((lf.name, x.id, x.text, f"{type(error).__name__}: {error}"))
                continue
            if label is None:
                continue
            if label not in codes:
                reason = f"returned {label!r}, not one of {list(task.labels)} or None"
                failures.append((lf.name, x.id, x.text, reason))
                continue
            out[i, j] = codes[label]
    return out, failures
