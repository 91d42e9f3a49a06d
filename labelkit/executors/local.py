"""The local executor: this process, and forked workers for Python LFs and predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from labelkit.executors.base import LFVotes, scored_here
from labelkit.lf.apply import compute_votes, long_votes
from labelkit.lf.core import LabelingFunction
from labelkit.registry import executors
from labelkit.workspace import Workspace

if TYPE_CHECKING:
    from labelkit.llm.cache import CachedAnswer
    from labelkit.llm.labeler import LLMRequests, LLMRun
    from labelkit.train.ship import Predictor


@dataclass(frozen=True)
class LocalExecutor:
    """Every row in memory in this process (see ``compute_votes``).

    Examples
    --------
    >>> LocalExecutor().lf_votes(ws, lfs, strict=False, allow_failing_lfs=False,
    ...                          n_jobs=2, lf_timeout=60.0).errors.height
    0
    """

    name: str = "local"

    def lf_votes(
        self,
        workspace: Workspace,
        lfs: Sequence[LabelingFunction],
        *,
        strict: bool,
        allow_failing_lfs: bool,
        n_jobs: int | None,
        lf_timeout: float | None,
    ) -> LFVotes:
        examples = workspace.sql("SELECT id, text, meta FROM examples ORDER BY id")
        computed = compute_votes(
            lfs,
            examples,
            workspace.task,
            strict=strict,
            allow_failing_lfs=allow_failing_lfs,
            n_jobs=n_jobs,
            lf_timeout=lf_timeout,
        )
        votes = computed.spans if computed.spans is not None else long_votes(computed.matrices)
        return LFVotes(votes=votes, errors=computed.errors, matrices=computed.matrices)

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
