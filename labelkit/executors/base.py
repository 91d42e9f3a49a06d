"""What every executor offers: the votes of labeling functions on a workspace's examples,
an LLM's answers to a run's prompts, a flagger's probabilities for the rows it scores,
and a small model's predictions for a file's rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from labelkit.lf.core import LabelingFunction
    from labelkit.llm.cache import CachedAnswer
    from labelkit.llm.labeler import LLMRequests, LLMRun
    from labelkit.train.ship import Predictor
    from labelkit.workspace import Workspace


@dataclass(frozen=True)
class LFVotes:
    """One part of the votes an executor computed, for the driver to write.

    ``votes`` has one row per vote cast (``example_id, source, label, attribute``), or per
    span on a spans task (``example_id, source, start, end, label``); ``errors`` one row
    per failed row (``lf, example_id, text, error``). A part covers some of the
    examples, or some of their failed rows: each example's votes are in one part, and
    the parts together hold every vote and failed row once, in no particular order.
    """

    votes: pl.DataFrame
    errors: pl.DataFrame


class Executor(Protocol):
    """Runs a stage's work somewhere; it reads the workspace but never writes it: the
    caller writes what it returns, in one transaction.

    Examples
    --------
    >>> parts = executor_for("local").lf_votes(ws, lfs, n_jobs=None, lf_timeout=60.0)
    >>> next(iter(parts)).votes.columns
    ['example_id', 'source', 'label', 'attribute']
    """

    name: str

    def lf_votes(
        self,
        workspace: Workspace,
        lfs: Sequence[LabelingFunction],
        *,
        n_jobs: int | None,
        lf_timeout: float | None,
        since_run: int | None = None,
    ) -> Iterable[LFVotes]:
        """The votes of ``lfs`` on every example of ``workspace`` (those added after the
        run ``since_run``, where given: ``examples.run_id`` above it), in parts that the
        caller writes as they come (in one transaction, while the workspace's own
        connection is not reading): only a part need be in memory. An LF past
        ``lf_timeout`` raises; the checks that need every row (``strict``, an LF
        failing everywhere or never voting) are the caller's (``apply_lfs``), as is
        the check of metadata fields (``check_fields_in_workspace``)."""
        ...

    def llm_answers(
        self,
        requests: LLMRequests,
        run: LLMRun,
        store: Callable[[Sequence[CachedAnswer]], None],
    ) -> str:
        """Ask ``requests``' pending prompts within ``run``'s limits, counting what was
        asked into ``run``; hand the answers to ``store`` (the caller's cache write) in
        batches as they come back; return the response format used."""
        ...

    def class_probabilities(
        self,
        models: Sequence[Any],
        chunks: Iterable[Sequence[tuple[int, Any]]],
        *,
        batch_rows: int,
    ) -> Iterator[list[np.ndarray]]:
        """For each chunk of ``(model index, rows)`` jobs, in order, as the chunks come:
        each job's ``models[index].predict_proba(rows)``, computed ``batch_rows`` rows at
        a time (``rows``: a list of texts or a feature matrix). The caller reads its rows
        a chunk at a time, so they need not all be in memory; each model is shipped once."""
        ...

    def predictions(
        self,
        predictor: Predictor,
        blocks: Iterable[pl.DataFrame],
        *,
        rows: int,
        n_process: int | None,
        staging: Path,
    ) -> Iterator[pl.DataFrame]:
        """Each of ``blocks`` (``rows`` in all) with ``predictor``'s columns added, in
        order, the texts checked by ``predictor.checked``; ``n_process`` is the local
        executor's; ``staging`` a folder for files workers read and write, where the
        executor needs one."""
        ...


def in_batches(function: Any, rows: Any, batch_rows: int) -> Any:
    """``function(rows)`` applied ``batch_rows`` rows at a time, the results stacked, so
    that an intermediate (a dense embedding, a count matrix) stays small.

    Examples
    --------
    >>> in_batches(np.square, np.arange(5), 2)
    array([ 0,  1,  4,  9, 16])
    """
    parts = [function(rows[i : i + batch_rows]) for i in range(0, rows_in(rows), batch_rows)]
    return stacked_rows(parts) if parts else function(rows)


def stacked_rows(parts: Sequence[Any]) -> Any:
    """One matrix of ``parts``' rows, in order: sparse (CSR) where they are sparse.

    Examples
    --------
    >>> stacked_rows([np.zeros((1, 2)), np.ones((2, 2))]).shape
    (3, 2)
    """
    import scipy.sparse

    if scipy.sparse.issparse(parts[0]):
        return scipy.sparse.vstack(parts).tocsr()
    return np.concatenate(parts)


def scored_here(model: Any, rows: Any, batch_rows: int) -> np.ndarray:
    """``model.predict_proba(rows)`` in this process, ``batch_rows`` rows at a time; a
    row-less array of the model's classes' width where there are no rows.

    Examples
    --------
    >>> scored_here(fitted_pipeline, ["free money", "nice song"], 50_000).shape
    (2, 2)
    """
    if rows_in(rows) == 0:
        return np.zeros((0, len(model.classes_)))
    return in_batches(model.predict_proba, rows, batch_rows)


def rows_in(rows: Any) -> int:
    """How many rows a list or a (sparse) matrix has."""
    return rows.shape[0] if hasattr(rows, "shape") else len(rows)
