"""What every executor offers: the votes of labeling functions on a workspace's examples,
an LLM's answers to a run's prompts, and a small model's predictions for a file's rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

if TYPE_CHECKING:
    from labelkit.lf.core import LabelingFunction
    from labelkit.llm.cache import CachedAnswer
    from labelkit.llm.labeler import LLMRequests, LLMRun
    from labelkit.train.ship import Predictor
    from labelkit.workspace import Workspace


@dataclass(frozen=True)
class LFVotes:
    """Votes an executor computed, for the driver to write.

    ``votes`` has one row per vote cast (``example_id, source, label, attribute``), or per
    span on a spans task (``example_id, source, start, end, label``); ``errors`` one row
    per failed row (``lf, example_id, text, error``), in LF then example order.
    """

    votes: pl.DataFrame
    errors: pl.DataFrame


class Executor(Protocol):
    """Runs a stage's work somewhere; it reads the workspace but never writes it: the
    caller writes what it returns, in one transaction.

    Examples
    --------
    >>> executor_for("local").lf_votes(ws, lfs, strict=False, allow_failing_lfs=False,
    ...                                n_jobs=None, lf_timeout=60.0).votes.columns
    ['example_id', 'source', 'label', 'attribute']
    """

    name: str

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
        """The votes of ``lfs`` on every example of ``workspace``, with the same checks
        as ``compute_votes`` (``strict``, an LF failing everywhere, ``lf_timeout``)."""
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
