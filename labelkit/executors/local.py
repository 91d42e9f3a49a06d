"""The local executor: this process, and forked workers for Python LFs and predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from labelkit.executors.base import LFVotes, scored_here
from labelkit.lf.apply import votes_in_chunks
from labelkit.lf.core import LabelingFunction
from labelkit.lf.spans import compute_span_votes
from labelkit.registry import executors
from labelkit.workspace import Workspace

if TYPE_CHECKING:
    from labelkit.llm.cache import CachedAnswer
    from labelkit.llm.labeler import LLMRequests, LLMRun
    from labelkit.train.ship import Predictor


@dataclass(frozen=True)
class LocalExecutor:
    """This process, and forked workers for Python LFs and predictions.

    Examples
    --------
    >>> sum(part.votes.height for part in LocalExecutor().lf_votes(
    ...     ws, lfs, n_jobs=2, lf_timeout=60.0))
    4
    """

    name: str = "local"

    def lf_votes(
        self,
        workspace: Workspace,
        lfs: Sequence[LabelingFunction],
        *,
        n_jobs: int | None,
        lf_timeout: float | None,
        since_run: int | None = None,
    ) -> Iterator[LFVotes]:
        """Text LFs on ``CHUNK_ROWS`` examples at a time (``votes_in_chunks``), one part
        per chunk; a spans task's span LFs on every example at once, in one part."""
        if workspace.task.kind != "spans":
            for votes, errors in votes_in_chunks(
                workspace, lfs, n_jobs=n_jobs, lf_timeout=lf_timeout, since_run=since_run
            ):
                yield LFVotes(votes=votes, errors=errors)
            return
        examples = workspace.sql(
            "SELECT id, text, meta FROM examples WHERE run_id > coalesce(?, -1) ORDER BY id",
            [since_run],
        )
        spans, errors = compute_span_votes(lfs, examples, workspace.task)  # type: ignore[arg-type]
        yield LFVotes(votes=spans, errors=errors)

    def llm_answers(
        self,
        requests: LLMRequests,
        run: LLMRun,
        store: Callable[[Sequence[CachedAnswer]], None],
    ) -> str:
        """From this process, ``concurrency`` requests in flight, with a progress bar
        (``ask_here``)."""
        # Imported here: the LLM stage imports the executors.
        from labelkit.llm.labeler import ask_here

        return ask_here(requests, run, store)

    def class_probabilities(
        self,
        models: Sequence[Any],
        chunks: Iterable[Sequence[tuple[int, Any]]],
        *,
        batch_rows: int,
    ) -> Iterator[list[np.ndarray]]:
        """In this process, one batch after another."""
        for jobs in chunks:
            yield [scored_here(models[k], rows, batch_rows) for k, rows in jobs]

    def predictions(
        self,
        predictor: Predictor,
        blocks: Iterable[pl.DataFrame],
        *,
        rows: int,
        n_process: int | None,
        staging: Path,
    ) -> Iterator[pl.DataFrame]:
        """In this process or ``n_process`` forked ones (``Predictor.stream``); nothing
        is staged."""
        return predictor.stream(blocks, rows, n_process)


@executors.register("local")
def local_executor() -> LocalExecutor:
    """The executor that runs every stage in this process (the default)."""
    return LocalExecutor()
