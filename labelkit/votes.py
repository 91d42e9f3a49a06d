"""Votes: what every source (labeling function or LLM) said about every example.

In the workspace, votes are stored sparsely by label name (an abstain is the absence
of a row). In memory they form a ``LabelMatrix``: integer codes, -1 for abstain,
one row per example and one column per source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from labelkit.task import ABSTAIN, Task
from labelkit.workspace import Workspace, registered


@dataclass(frozen=True)
class LabelMatrix:
    """Votes as integer codes: ``codes[i, j]`` is source ``j``'s vote on example ``i``.

    Examples
    --------
    >>> L = LabelMatrix.from_workspace(ws, split="train")
    >>> L.codes.shape == (len(L.example_ids), len(L.sources))
    True
    """

    codes: np.ndarray
    example_ids: list[str]
    sources: list[str]
    task: Task

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace,
        *,
        split: str | None = None,
        sources: Sequence[str] | None = None,
    ) -> LabelMatrix:
        """All votes on the examples of ``split`` (all splits if None), ordered by example id."""
        task = workspace.task
        ids = workspace.sql(
            "SELECT id FROM examples WHERE ? IS NULL OR split = ? ORDER BY id", [split, split]
        )["id"]
        names = (
            list(sources)
            if sources is not None
            else workspace.sql("SELECT name FROM sources ORDER BY kind, name")["name"].to_list()
        )
        votes = workspace.sql(
            """SELECT v.example_id, v.source, v.label FROM votes v
               JOIN examples e ON e.id = v.example_id
               WHERE (? IS NULL OR e.split = ?) AND list_contains(?, v.source)""",
            [split, split, names],
        )
        codes = np.full((len(ids), len(names)), ABSTAIN, dtype=np.int16)
        if votes.height:
            row = votes.join(
                pl.DataFrame({"example_id": ids, "row": np.arange(len(ids))}), on="example_id"
            )
            column = row["source"].replace_strict(
                {name: j for j, name in enumerate(names)}, return_dtype=pl.Int64
            )
            codes[row["row"].to_numpy(), column.to_numpy()] = task.encode(row["label"])
        return cls(codes=codes, example_ids=ids.to_list(), sources=names, task=task)

    def triplets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The votes that are not abstains, sparsely: example (row) indices, source
        (column) indices and label codes, in row-major order.

        A label model can work on these alone, in memory proportional to the votes
        cast rather than to examples times sources.

        Examples
        --------
        >>> rows, columns, codes = L.triplets()
        >>> (L.codes[rows, columns] == codes).all() and (codes != ABSTAIN).all()
        True
        """
        rows, columns = np.nonzero(self.codes != ABSTAIN)
        return rows, columns, self.codes[rows, columns]

    def to_frame(self) -> pl.DataFrame:
        """One row per example, one column of label names (null = abstain) per source."""
        return pl.DataFrame({"example_id": self.example_ids}).with_columns(
            self.task.decode(self.codes[:, j], source) for j, source in enumerate(self.sources)
        )


def definition_hash(definition: str) -> str:
    """A short, stable fingerprint of a source's definition."""
    return hashlib.sha256(definition.encode()).hexdigest()[:16]


def write_votes(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    kind: str,
    definition: str,
    example_ids: Sequence[str],
    labels: Sequence[str | None],
    run_id: int,
) -> int:
    """Replace ``source``'s votes with ``labels`` (None = abstain); return the votes kept.

    Call inside a workspace run so that the replacement is atomic.
    """
    votes = pl.DataFrame(
        {"example_id": list(example_ids), "label": list(labels)},
        schema={"example_id": pl.String, "label": pl.String},
    ).select("example_id", pl.lit(source).alias("source"), "label")
    sources = pl.DataFrame({"name": [source], "kind": [kind], "definition": [definition]})
    return replace_votes(con, votes, sources, run_id=run_id)


def replace_votes(
    con: duckdb.DuckDBPyConnection, votes: pl.DataFrame, sources: pl.DataFrame, *, run_id: int
) -> int:
    """Replace the votes of ``sources`` (columns ``name, kind, definition``) with
    ``votes`` (columns ``example_id, source, label``; a null label is an abstain, and is
    not stored), in one statement each; return the votes kept.

    Call inside a workspace run so that the replacement is atomic.
    """
    kept = votes.select("example_id", "source", "label").filter(pl.col("label").is_not_null())
    hashed = sources.select(
        "name",
        "kind",
        "definition",
        pl.col("definition").map_elements(definition_hash, return_dtype=pl.String).alias("hash"),
        pl.lit(run_id, pl.Int32).alias("run_id"),
    )
    with registered(con, "new_sources", hashed), registered(con, "new_votes", kept):
        con.execute("DELETE FROM votes WHERE source IN (SELECT name FROM new_sources)")
        con.execute(
            "INSERT INTO votes SELECT example_id, source, label, ? FROM new_votes", [run_id]
        )
        con.execute("INSERT OR REPLACE INTO sources SELECT * FROM new_sources")
    return kept.height
