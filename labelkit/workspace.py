"""The workspace: one DuckDB file that holds everything a project produces.

Every stage reads from it and writes to it inside one transaction, so a crash or
a bad input leaves the file as it was before the step. The schema is versioned:
opening an older file applies the missing migrations in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from labelkit.errors import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    OutdatedWarning,
    SchemaToMigrateError,
    WorkspaceError,
    WorkspaceLockedError,
    did_you_mean,
)
from labelkit.report import first_named
from labelkit.task import Task

# The steps that write votes: labels aggregated before one of them are out of date.
VOTING_STEPS = ("apply", "import-votes", "import_answers", "llm", "remove-sources")
# What `Workspace.require` names when there are no votes (inside its backticks).
VOTE_STEP = "labelkit apply`, `labelkit llm`, `labelkit import-votes` or `labelkit import-answers"
# The same for span votes, which `import-answers` does not make (trial 53f).
SPAN_VOTE_STEP = "labelkit apply` or `labelkit import-votes"
# The meta key of the LF names the last `apply` was given (JSON).
APPLIED_LFS = "applied_lfs"

# Each entry moves the schema one version up; never edit a released entry, append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        step VARCHAR NOT NULL,
        config JSON NOT NULL,
        versions JSON NOT NULL,
        started_at TIMESTAMP NOT NULL,
        seconds DOUBLE NOT NULL
    );
    CREATE TABLE examples (
        id VARCHAR PRIMARY KEY,
        text VARCHAR NOT NULL,
        gold VARCHAR,
        split VARCHAR NOT NULL,
        meta JSON,
        run_id INTEGER NOT NULL
    );
    CREATE TABLE sources (
        name VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        definition VARCHAR NOT NULL,
        hash VARCHAR NOT NULL,
        run_id INTEGER NOT NULL
    );
    CREATE TABLE votes (
        example_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (source, example_id)
    );
    CREATE TABLE llm_cache (
        key VARCHAR PRIMARY KEY,
        model VARCHAR NOT NULL,
        request JSON NOT NULL,
        response VARCHAR,
        error VARCHAR,
        label VARCHAR,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        latency_s DOUBLE,
        created_at TIMESTAMP NOT NULL
    );
    CREATE TABLE predictions (
        example_id VARCHAR PRIMARY KEY,
        model VARCHAR NOT NULL,
        label VARCHAR,
        confidence DOUBLE NOT NULL,
        probabilities DOUBLE[] NOT NULL,
        run_id INTEGER NOT NULL
    );
    CREATE TABLE flags (
        example_id VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        given_label VARCHAR NOT NULL,
        suggested_label VARCHAR NOT NULL,
        quality DOUBLE NOT NULL,
        rank INTEGER NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (example_id, reason)
    );
    CREATE TABLE queue (
        example_id VARCHAR PRIMARY KEY,
        priority DOUBLE NOT NULL,
        reasons VARCHAR NOT NULL,
        given_label VARCHAR NOT NULL,
        suggested_label VARCHAR NOT NULL,
        run_id INTEGER NOT NULL
    );
    CREATE TABLE decisions (
        decision_id INTEGER PRIMARY KEY,
        example_id VARCHAR NOT NULL,
        reviewer VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        label VARCHAR,
        undoes INTEGER,
        seconds DOUBLE NOT NULL,
        comment VARCHAR,
        decided_at TIMESTAMP NOT NULL
    );
    """,
    # 2: the rows where a labeling function raised or returned a label the task lacks.
    """
    CREATE TABLE lf_errors (
        source VARCHAR NOT NULL,
        example_id VARCHAR NOT NULL,
        error VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (source, example_id)
    );
    """,
    # 3: who is looking at which queued item, until when (so two reviewers never get one).
    """
    CREATE TABLE claims (
        example_id VARCHAR PRIMARY KEY,
        reviewer VARCHAR NOT NULL,
        expires_at TIMESTAMP NOT NULL
    );
    """,
    # 4: how sure the LLM was of its label, from token log-probabilities where returned.
    """
    ALTER TABLE llm_cache ADD COLUMN confidence DOUBLE;
    """,
    # 5: examples no source covers are queued too: they have no label and no quality.
    """
    ALTER TABLE flags ALTER COLUMN given_label DROP NOT NULL;
    ALTER TABLE flags ALTER COLUMN quality DROP NOT NULL;
    ALTER TABLE queue ALTER COLUMN given_label DROP NOT NULL;
    """,
    # 6: the task's language (a spaCy code); workspaces made before it hold English.
    """
    UPDATE meta SET value = json_merge_patch('{"lang": "en"}', value)::VARCHAR
    WHERE key = 'task';
    """,
    # 7: every answer is about one attribute ('' for classification: see labelkit.task);
    # DuckDB cannot change a primary key in place, so each table is rebuilt.
    """
    CREATE TABLE votes_7 (
        example_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        attribute VARCHAR NOT NULL DEFAULT '',
        PRIMARY KEY (source, example_id, attribute)
    );
    INSERT INTO votes_7 SELECT *, '' FROM votes;
    DROP TABLE votes;
    ALTER TABLE votes_7 RENAME TO votes;
    CREATE TABLE predictions_7 (
        example_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        label VARCHAR,
        confidence DOUBLE NOT NULL,
        probabilities DOUBLE[] NOT NULL,
        run_id INTEGER NOT NULL,
        attribute VARCHAR NOT NULL DEFAULT '',
        PRIMARY KEY (example_id, attribute)
    );
    INSERT INTO predictions_7 SELECT *, '' FROM predictions;
    DROP TABLE predictions;
    ALTER TABLE predictions_7 RENAME TO predictions;
    CREATE TABLE flags_7 (
        example_id VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        given_label VARCHAR,
        suggested_label VARCHAR NOT NULL,
        quality DOUBLE,
        rank INTEGER NOT NULL,
        run_id INTEGER NOT NULL,
        attribute VARCHAR NOT NULL DEFAULT '',
        PRIMARY KEY (example_id, attribute, reason)
    );
    INSERT INTO flags_7 SELECT *, '' FROM flags;
    DROP TABLE flags;
    ALTER TABLE flags_7 RENAME TO flags;
    CREATE TABLE queue_7 (
        example_id VARCHAR NOT NULL,
        priority DOUBLE NOT NULL,
        reasons VARCHAR NOT NULL,
        given_label VARCHAR,
        suggested_label VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        attribute VARCHAR NOT NULL DEFAULT '',
        PRIMARY KEY (example_id, attribute)
    );
    INSERT INTO queue_7 SELECT *, '' FROM queue;
    DROP TABLE queue;
    ALTER TABLE queue_7 RENAME TO queue;
    CREATE TABLE claims_7 (
        example_id VARCHAR NOT NULL,
        reviewer VARCHAR NOT NULL,
        expires_at TIMESTAMP NOT NULL,
        attribute VARCHAR NOT NULL DEFAULT '',
        PRIMARY KEY (example_id, attribute)
    );
    INSERT INTO claims_7 SELECT *, '' FROM claims;
    DROP TABLE claims;
    ALTER TABLE claims_7 RENAME TO claims;
    ALTER TABLE decisions ADD COLUMN attribute VARCHAR DEFAULT '';
    UPDATE decisions SET attribute = '';
    """,
    # 8: a spans task's votes and label-model output: character spans [start, end) of
    # the example's text, one row per span (no row: no span; label 'O': no entity here).
    """
    CREATE TABLE span_votes (
        example_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        label VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (source, example_id, start, "end", label)
    );
    CREATE TABLE span_predictions (
        example_id VARCHAR NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        label VARCHAR NOT NULL,
        confidence DOUBLE NOT NULL,
        model VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (example_id, start, "end", label)
    );
    """,
    # 9: rules an LLM proposed (suggest-lfs), their scores when proposed (null unless
    # new), the request that proposed them (key into llm_cache) and what a person decided.
    """
    CREATE TABLE lf_suggestions (
        id INTEGER PRIMARY KEY,
        rule VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        error VARCHAR,
        coverage DOUBLE,
        "overlaps" DOUBLE,
        conflicts DOUBLE,
        correct INTEGER,
        incorrect INTEGER,
        accuracy DOUBLE,
        accuracy_low DOUBLE,
        accuracy_high DOUBLE,
        key VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        run_id INTEGER NOT NULL,
        decision VARCHAR,
        decided_at TIMESTAMP,
        file VARCHAR
    );
    """,
    # 10: what a decision's reviewer was shown, the label model's label and the
    # suggestion, kept with it (``shown``: they were; a null label is one the label
    # model did not give): review statistics compared answers with the queue's labels
    # of the moment, which the next flag replaced (trial 50d).
    """
    ALTER TABLE decisions ADD COLUMN shown BOOLEAN;
    ALTER TABLE decisions ADD COLUMN shown_given VARCHAR;
    ALTER TABLE decisions ADD COLUMN shown_suggested VARCHAR;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def _newer(path: Path, version: int) -> str:
    """Why a workspace of a newer schema than this labelkit's cannot be opened."""
    return (
        f"workspace {path} has schema version {version}, newer than this labelkit "
        f"({_labelkit_version()}, schema {SCHEMA_VERSION}) reads: upgrade labelkit "
        "(pip install -U labelkit)"
    )


def _labelkit_version() -> str:
    return metadata.version("labelkit")


# The meta key of ``Workspace.identity``.
WORKSPACE_ID = "workspace_id"

_VERSIONED_PACKAGES = ("labelkit", "duckdb", "polars", "snorkel", "cleanlab", "spacy", "openai")


@dataclass(frozen=True)
class Run:
    """One step in progress: its id, and the connection whose transaction it writes in."""

    id: int
    step: str
    con: duckdb.DuckDBPyConnection


def waited_seconds() -> float:
    """``LABELKIT_WAIT``: how long to wait for a workspace another process holds (trial
    54c: a nightly job failed at once where `flag` ran a minute longer), 0 where unset;
    the CLI's and ``Workspace``'s default (trial 63c: the docs' Python prep step died at
    once beside a running `serve`).

    Examples
    --------
    >>> os.environ["LABELKIT_WAIT"] = "600"; waited_seconds()
    600.0
    """
    given = os.environ.get("LABELKIT_WAIT", "").strip()
    if not given:
        return 0.0
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise LabelkitError(f"LABELKIT_WAIT is {given!r}: give a number of seconds, such as 600")
    return seconds


class Workspace:
    """A labelkit project: one DuckDB file on disk, created on first open.

    Parameters
    ----------
    path
        The ``.duckdb`` file. Parent folders are created.
    read_only
        Open without write access (several readers may share a file; only one writer).
    wait_s
        Where another process holds the file, try again for up to this many seconds
        before raising ``WorkspaceLockedError`` (naming the holder where it can); by
        default, ``LABELKIT_WAIT``'s seconds, as the CLI waits (``waited_seconds``).

    Examples
    --------
    >>> ws = Workspace(tmp_path / "spam.duckdb")
    >>> ws.sql("SELECT count(*) AS n FROM examples")["n"][0]
    0
    >>> ws.close()
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, wait_s: float | None = None
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise WorkspaceError(f"workspace {self.path} does not exist")
        _check_duckdb_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = self._connect(waited_seconds() if wait_s is None else wait_s)
        try:
            _quiet(self.con)
            self._check_labelkit_tables()
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise WorkspaceError(_newer(self.path, version))
            if not read_only:
                self._migrate()
            elif version != SCHEMA_VERSION:
                raise SchemaToMigrateError(
                    f"workspace {self.path} has schema version {version}, this labelkit "
                    f"needs {SCHEMA_VERSION}; open it once for writing to migrate"
                )
        except duckdb.Error as error:
            # Trial 51c: a file cut short failed at its first query, in a traceback.
            self.con.close()
            raise WorkspaceError(
                f"cannot read workspace {self.path} (damaged?): {error}"
            ) from error
        except BaseException:
            self.con.close()
            raise

    @property
    def identity(self) -> str | None:
        """The workspace's own id, made when it is first opened for writing and kept by
        its copies, wherever they are moved: what a trained model records of where it
        was trained (trial 53b: a path, which a copied workspace no longer matched).

        Examples
        --------
        >>> len(ws.identity)
        32
        """
        row = first_row(self.con, f"SELECT value FROM meta WHERE key = '{WORKSPACE_ID}'")
        return str(row[0]) if row else None

    def _check_labelkit_tables(self) -> None:
        """Refuse a DuckDB file of other tables than a workspace's (trial 51c: one with an
        ``examples`` table of its own failed in a migration's traceback)."""
        tables = [
            name
            for (name,) in self.con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY 1"
            ).fetchall()
        ]
        if tables and "meta" not in tables:
            shown = first_named(tables, shown=5)
            raise WorkspaceError(
                f"{self.path} is a DuckDB file but not a labelkit workspace: it holds the "
                f"tables {shown} and no labelkit meta table; give a new file's path"
            )

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def released(self, wait_s: float = 60.0) -> Iterator[None]:
        """Close the file for the block, so that other processes may open it, and open it
        again after, as before (trial 52b: `analyze`, `queue` and `serve` were refused for
        the minutes `train` ran). A writer that holds it when the block ends is waited for
        up to ``wait_s`` seconds. The connection is a new one: temporary tables and
        registered frames of the old one are gone.

        Examples
        --------
        >>> with ws.released():
        ...     model = long_training(frame)
        """
        self.con.close()
        try:
            yield
        finally:
            self.con = self._connect(wait_s)
            _quiet(self.con)

    def _connect(self, wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
        """A connection to the file in this workspace's mode; a lock another process
        holds is waited on up to ``wait_s`` seconds, then named (``_locked``)."""
        deadline = time.monotonic() + wait_s
        said = False
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise WorkspaceError(f"cannot open workspace {self.path}: {error}") from error
                if time.monotonic() >= deadline:
                    raise WorkspaceLockedError(
                        _locked(self.path, str(error), self.read_only)
                    ) from error
                if not said:
                    # Trial 56c: a job waited minutes behind another without a word.
                    held, _ = _lock_holder(self.path, str(error), self.read_only)
                    print(f"waiting up to {wait_s:g} s: {held}", file=sys.stderr, flush=True)
                    said = True
                time.sleep(0.5)

    def schema_version(self) -> int:
        has_meta = first_row(
            self.con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
        )
        if not has_meta or has_meta[0] == 0:
            return 0
        row = first_row(self.con, "SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version()
        upgrade = 0 < current < SCHEMA_VERSION
        copy, no_copy = self._keep_a_copy(current) if upgrade else (None, "")
        with self.transaction() as con:
            for migration in MIGRATIONS[current:]:
                con.execute(migration)
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
            con.execute(
                f"""INSERT INTO meta SELECT '{WORKSPACE_ID}', ?
                    WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = '{WORKSPACE_ID}')""",
                [uuid.uuid4().hex],
            )
        if upgrade:
            config = {
                "from_schema": current,
                "to_schema": SCHEMA_VERSION,
                "copy": str(copy) if copy else None,
            }
            with self.run("migrate", config):
                pass
            # Trial 50d: review-stats moved a workspace up a version without a word, and
            # the labelkit that made it then refused it.
            kept = (
                f"; the workspace as it was is kept at {copy}, which it can open"
                if copy
                else f"; no copy was kept: {no_copy}"
            )
            warnings.warn(
                f"workspace {self.path} moved from schema version {current} to "
                f"{SCHEMA_VERSION} (labelkit {_labelkit_version()}): a labelkit older than "
                f"this one can no longer open it{kept}",
                LabelkitWarning,
                stacklevel=3,
            )

    def _keep_a_copy(self, version: int) -> tuple[Path | None, str]:
        """A copy of the file as it is, before a migration, beside it and named for its
        schema version, and where it is; or None and why not, where the disk lacks room
        for it and the migration (trial 53d: the first command after an upgrade, a
        read-only one, moved a team's workspace up a version, and their teammates' older
        labelkit could open it no more).

        The file stays open, and locked, while it is copied: closed, another command
        could open it in between, migrate it first and leave this one a migrated file to
        migrate again (trial 61a: "damaged?"). It is copied under a temporary name and
        renamed once whole, so that an interrupted copy leaves nothing that looks kept.
        """
        # What DuckDB's log holds goes into the file first.
        self.con.execute("CHECKPOINT")
        size, free = self.path.stat().st_size, shutil.disk_usage(self.path.parent).free
        if free < 2 * size:
            return None, (
                f"the disk had {_megabytes(free)} free, and a copy of its {_megabytes(size)} "
                "with room for the migration to grow needs twice that"
            )
        # A copy a killed process left half made: none is being made, as the file is ours.
        for stale in self.path.parent.glob(f".{self.path.stem}.schema*{self.path.suffix}.partial"):
            stale.unlink(missing_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        copy = self.path.with_name(f"{self.path.stem}.schema{version}-{stamp}{self.path.suffix}")
        partial = copy.with_name(f".{copy.name}.partial")
        try:
            shutil.copy2(self.path, partial)
            partial.replace(copy)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return copy, ""

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All writes inside the block land together, or none do.

        Examples
        --------
        >>> with ws.transaction() as con:
        ...     con.execute("DELETE FROM votes WHERE source = 'old_lf'")
        """
        if self.read_only:
            raise WorkspaceError(
                f"workspace {self.path} is open read-only; open it without read_only to write"
            )
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except duckdb.IOException as error:
            self.con.execute("ROLLBACK")
            # A full disk or a file that went read-only: nothing of this step was kept.
            raise WorkspaceError(f"cannot write workspace {self.path}: {error}") from error
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        try:
            self.con.execute("COMMIT")
        except (duckdb.IOException, duckdb.TransactionException, duckdb.FatalException) as error:
            # The write-ahead log, or the checkpoint that follows a large commit (trial
            # 61d: a FatalException's traceback), could not be written (a full disk):
            # the commit failed as a whole, and the transaction must still be closed.
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            full = any(words in str(error) for words in ("No space", "File too large"))
            raise WorkspaceError(
                f"cannot write workspace {self.path}: {error}; this step kept nothing"
                + (": free some space and run it again" if full else "")
            ) from error

    @contextmanager
    def run(
        self, step: str, config: dict[str, Any], *, started: float | None = None
    ) -> Iterator[Run]:
        """A step's transaction, logged in ``runs`` with its config and package versions,
        and as started at ``started`` (``time.time()``; the block's start where not given:
        a step that computes before it writes gives its own, trial 62a: a 4-minute LLM run
        was logged at its end, taking 0.02 s).

        If the block raises, neither the step's writes nor its log entry are kept.

        Examples
        --------
        >>> with ws.run("apply", {"lfs": ["keyword_subscribe"]}) as run:
        ...     run.con.execute("DELETE FROM votes WHERE source = 'keyword_subscribe'")
        """
        started = time.time() if started is None else started
        saving: tuple[str, int] | None = None
        try:
            with self.transaction() as con:
                row = first_row(con, "SELECT coalesce(max(run_id), 0) + 1 FROM runs")
                assert row is not None
                run = Run(id=int(row[0]), step=step, con=con)
                yield run
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, to_timestamp(?)::TIMESTAMP, ?)",
                    [
                        run.id,
                        step,
                        json.dumps(config, default=str),
                        json.dumps(_versions()),
                        started,
                        time.time() - started,
                    ],
                )
                saving = (step, run.id)
                _SAVING.append(saving)
        except Exception:
            # The commit failed: nothing was kept. (Ctrl-C is no Exception: a step it
            # caught committing stays said to be so.)
            if saving in _SAVING:
                _SAVING.remove(saving)
            raise
        # Said finished before it is no longer said being saved: an interrupt between
        # the two may not leave a saved step said to be neither (trial 58b: "no step had
        # finished" beside the aggregate run in the log).
        _FINISHED.append(saving)
        _SAVING.remove(saving)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the workspace (DuckDB's cursor), set up as the
        workspace's: to stream a query's rows while other queries run.

        Examples
        --------
        >>> with ws.cursor() as cursor:
        ...     batches = cursor.sql("SELECT id, text FROM examples").to_arrow_reader(50_000)
        """
        cursor = self.con.cursor()
        _quiet(cursor)
        return cursor

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a query and return the result as a polars frame.

        Examples
        --------
        >>> ws.sql("SELECT split, count(*) AS n FROM examples GROUP BY split")
        """
        return self.con.sql(query, params=params or []).pl()

    @property
    def task(self) -> Task:
        """The task stored by the first ingest; raises if nothing was ingested yet."""
        row = first_row(self.con, "SELECT value FROM meta WHERE key = 'task'")
        if row is None:
            raise WorkspaceError(f"workspace {self.path} has no task yet: run `labelkit ingest`")
        return Task.from_json(row[0])

    def has_task(self) -> bool:
        return first_row(self.con, "SELECT count(*) FROM meta WHERE key = 'task'") == (1,)

    def out_of_date(self, *, labels: bool = True, queue: bool = False) -> list[str]:
        """What the stored results miss, one line each naming the step to run again:
        examples ingested after the labeling functions last ran (they have none of their
        votes); with ``labels``, examples or votes added after ``aggregate`` (the label
        model's labels do not reflect them); with ``queue``, votes or labels changed
        after ``flag`` (the queue's reasons may be stale). Steps read run ids, which
        only grow.

        Examples
        --------
        >>> ws.out_of_date()
        ['12 examples were ingested after the labeling functions last ran, without their ...']
        """
        lines = []
        row = first_row(
            self.con,
            """SELECT count(*) FROM examples
               WHERE run_id > (SELECT min(run_id) FROM sources WHERE kind = 'lf')""",
        )
        if row and row[0]:
            # Named, and --prune offered: an LF taken out of the files keeps its old votes
            # and never runs again, so `apply` alone never cleared this (trial 63c).
            stale = self.sql(
                """SELECT name FROM sources WHERE kind = 'lf'
                   AND run_id < (SELECT max(run_id) FROM examples) ORDER BY name"""
            )["name"].to_list()
            named = first_named(stale, shown=5)
            lines.append(
                f"{_examples_were(row[0])} ingested after the labeling functions {named} last "
                "ran, without their votes: run `labelkit apply` again (`apply --prune` deletes "
                "the votes of those no longer in your LF files)"
            )
        if queue:
            # Trial 44: after `apply --prune` and `aggregate`, the queue still showed
            # conflicts with an LF whose votes were gone, and said nothing.
            steps = self._steps_since("flag", ("aggregate", *VOTING_STEPS))
            if steps:
                lines.append(
                    f"votes or labels changed ({', '.join(steps)}) after the queue was "
                    "flagged, so its reasons may be out of date: run `labelkit flag` again"
                )
        if not labels:
            return lines
        since = "(SELECT max(run_id) FROM runs WHERE step = 'aggregate')"
        row = first_row(self.con, f"SELECT count(*) FROM examples WHERE run_id > {since}")
        steps = self._steps_since("aggregate", VOTING_STEPS)
        changes = ([f"{_examples_were(row[0])} ingested"] if row and row[0] else []) + (
            [f"votes changed ({', '.join(steps)})"] if steps else []
        )
        if changes:
            lines.append(
                f"{' and '.join(changes)} after the label model last ran, so its labels "
                "are out of date: run `labelkit aggregate` again"
            )
        return lines

    def unapplied_lfs(self) -> list[str]:
        """The LFs an earlier ``apply`` stored votes of that the last one was not given:
        LFs applied in separate calls, or ones since deleted or renamed (an edited rule
        is renamed), whose votes still count in ``aggregate`` until ``apply --prune``
        deletes them (trial 50d: only ``apply`` said so, once).

        Examples
        --------
        >>> ws.unapplied_lfs()
        ['crash_words']
        """
        given = first_row(self.con, "SELECT value FROM meta WHERE key = ?", [APPLIED_LFS])
        if given is None:
            return []
        last = set(json.loads(given[0]))
        return [name for name in self.applied_lfs() if name not in last]

    def applied_lfs(self) -> list[str]:
        """The LFs whose votes an ``apply`` stored (imported votes are not among them), by
        name.

        Examples
        --------
        >>> ws.applied_lfs()
        ['crash_words', 'money_back']
        """
        return self.sql(
            """SELECT s.name FROM sources s JOIN runs r USING (run_id)
               WHERE s.kind = 'lf' AND r.step = 'apply' ORDER BY s.name"""
        )["name"].to_list()

    def _steps_since(self, last: str, steps: Sequence[str]) -> list[str]:
        """Which of ``steps`` ran after the step ``last`` last ran, by name."""
        return self.sql(
            """SELECT DISTINCT step FROM runs
               WHERE run_id > (SELECT max(run_id) FROM runs WHERE step = ?)
                 AND list_contains(?, step) ORDER BY step""",
            [last, list(steps)],
        )["step"].to_list()

    def require(self, table: str, step: str) -> None:
        """Raise a clear error if ``table`` is empty: the step that fills it has not run."""
        row = first_row(self.con, f"SELECT count(*) FROM {table}")
        if row is None or row[0] == 0:
            raise WorkspaceError(f"workspace {self.path} has no {table} yet: run `{step}` first")


MAX_CHARACTERS = 20_000_000
"""About how many characters a sample of texts to fit a model on holds at most: a
count of texts alone let long ones run on (trial 52b: 50,000 support emails of 1,700
characters on average, 85M in all, kept the default n-grams training past ten minutes,
and flag for six)."""


def within_characters(
    con: duckdb.DuckDBPyConnection, split: str, max_examples: int | None
) -> tuple[int | None, float]:
    """``max_examples``, lowered so that a sample of ``split``'s texts of average length
    holds about ``MAX_CHARACTERS`` (never below 1,000 texts), and that average; ``None``
    (every text) stays.

    Examples
    --------
    >>> within_characters(ws.con, "train", 50_000)  # 1,700 characters a text
    (11764, 1700.0)
    """
    row = first_row(con, "SELECT avg(length(text)) FROM examples WHERE split = ?", [split])
    mean = float(row[0]) if row and row[0] is not None else 0.0
    if max_examples is None or mean == 0:
        return max_examples, mean
    return min(max_examples, max(1_000, int(MAX_CHARACTERS / mean))), mean


def label_model_run(workspace: Workspace) -> dict[str, Any] | None:
    """The stored label model's name and ``aggregate`` run (``{"model": ..., "run_id":
    ...}``), from ``predictions`` or, for a spans task, ``span_predictions``; None
    before the first ``aggregate``. A small model's train run logs it as its teacher.

    Examples
    --------
    >>> label_model_run(ws)
    {'model': 'auto', 'run_id': 4}
    """
    table = "span_predictions" if workspace.task.kind == "spans" else "predictions"
    row = first_row(workspace.con, f"SELECT any_value(model), max(run_id) FROM {table}")
    if row is None or row[1] is None:
        return None
    return {"model": row[0], "run_id": int(row[1])}


def warn_if_out_of_date(workspace: Workspace, *, labels: bool = True, queue: bool = False) -> None:
    """Warn (``OutdatedWarning``) once per line of ``workspace.out_of_date(...)``: a step
    about to read results older than their inputs says so.

    Examples
    --------
    >>> warn_if_out_of_date(ws)
    OutdatedWarning: 12 examples were ingested after the labeling functions last ran, ...
    """
    for line in workspace.out_of_date(labels=labels, queue=queue):
        warnings.warn(line, OutdatedWarning, stacklevel=3)


# The steps this process has committed, in order, and the one committing, as (step, run
# id): ``finished_runs``.
_FINISHED: list[tuple[str, int]] = []
_SAVING: list[tuple[str, int]] = []


def finished_runs() -> tuple[list[tuple[str, int]], tuple[str, int] | None]:
    """The steps (``Workspace.run``) this process has committed so far, oldest first,
    and the one it was committing, if any, each as (step, run id): what an interrupted
    command kept (the last, whole or not at all).

    Examples
    --------
    >>> finished_runs()
    ([('ingest', 1), ('apply', 2)], None)
    """
    saving = _SAVING[-1] if _SAVING else None
    return list(_FINISHED), (None if saving in _FINISHED else saving)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> Iterator[None]:
    """Make ``frame`` queryable as the view ``name`` inside the block, and only there.

    Examples
    --------
    >>> with registered(run.con, "new_votes", frame):
    ...     run.con.execute("INSERT INTO votes SELECT * FROM new_votes")
    """
    con.register(name, frame.to_arrow())
    try:
        yield
    finally:
        # An interrupted query aborts the transaction, which refuses even this until it
        # is rolled back: the interruption, not this, is the error (trial 46).
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister(name)


def emptied(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Remove every row of ``table`` in the caller's transaction, by dropping it and
    creating it again from its own stored definition (constraints included).

    DuckDB's ``DELETE`` of every row of a table with a primary key makes the commit
    clean each key out of the index: replacing a million predictions took 45 s to
    commit that way, against 0.3 s for a new table (``benchmarks/scale.py``'s second
    and third ``aggregate``).

    Examples
    --------
    >>> with ws.transaction() as con:
    ...     emptied(con, "predictions")
    """
    definition = first_row(
        con,
        "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [table],
    )
    if definition is None:
        raise WorkspaceError(f"the workspace has no table {table!r}")
    con.execute(f'DROP TABLE "{table}"')
    con.execute(definition[0])


def _examples_were(n: int) -> str:
    return f"{n:,} examples were" if n != 1 else "1 example was"


def _quiet(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB draws a progress bar of its own on long queries, with carriage returns
    that make piped output unreadable; stages report their own progress. The setting
    is the connection's, so each cursor needs it too."""
    con.execute("SET enable_progress_bar_print = false")


def first_row(
    con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of a query, or None. Drains the result: DuckDB 2 streams ``execute``
    results, and an unfinished one blocks the connection."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def require_split(workspace: Workspace, split: str | None) -> None:
    """Refuse a split no example is in (``validation`` for ``dev``), naming those there;
    None (every split) passes.

    Examples
    --------
    >>> require_split(ws, "validation")
    Traceback (most recent call last):
    labelkit.errors.InputError: no examples in split 'validation'; the workspace's splits: ['dev', 'test', 'train']
    """
    if split is None:
        return
    splits = workspace.sql("SELECT DISTINCT split FROM examples ORDER BY split")["split"].to_list()
    if split not in splits:
        raise InputError(
            f"no examples in split {split!r}; the workspace's splits: {splits}"
            + did_you_mean(split, splits)
        )


def not_a_workspace(step: str, given: object) -> str:
    """What to say when ``step`` is given something other than an open ``Workspace``
    (trial 33: a path failed with "'str' object has no attribute 'con'").

    Examples
    --------
    >>> not_a_workspace("ingest", "spam.duckdb")
    "ingest takes an open Workspace, not the path 'spam.duckdb': with Workspace('spam.duckdb') as ws: ingest(ws, ...)"
    """
    if isinstance(given, (str, Path)):
        return (
            f"{step} takes an open Workspace, not the path {str(given)!r}: "
            f"with Workspace({str(given)!r}) as ws: {step}(ws, ...)"
        )
    return f"{step} takes an open Workspace, not {type(given).__name__}"


# ``dev_split="auto"``: the dev split's gold chooses the model where a one-label or
# multi-label task has this many gold rows there, of two labels or more.
AUTO_DEV = "auto"
MIN_DEV_GOLD = 30


def chosen_dev_split(workspace: Workspace, dev_split: str | None) -> str | None:
    """The split whose gold labels choose the model, for ``dev_split`` as
    ``train_on_cleaned`` takes it: a split by name, None for a held-out tenth of the
    cleaned set, or ``"auto"``: ``dev`` where a task of one label per text, or a
    multi-label one, has at least ``MIN_DEV_GOLD`` gold rows there, of two labels (or
    label sets) or more; otherwise None.

    A held-out tenth of the label model's labels rewards the model that learns their
    mistakes best (trial 60d: it chose the n-grams' weakest regularisation, and the
    model scored 0.790 test accuracy against 0.930 chosen on 100 dev gold rows). Over
    22 sets of labels (WRENCH YouTube and SMS, the demo, MAMS food and 18 new users'
    synthetic sets) choosing on dev gold was better on 9, level on 10, and worse on 3
    by at most 0.007. A multi-label task's labels are each a yes or no on every gold
    row, and the held-out tenth of keyword-made labels scores every ``C`` alike (trial
    63a: 1.0000 for each, so the tie chose), where dev gold scored 0.945 test macro-F1
    against 0.923 ± 0.011 (3 seeds). An aspects task keeps the held-out tenth: each
    aspect's few dev rows chose worse on MAMS-ACSA (test macro-F1 0.462 against 0.471 ±
    0.004).

    Examples
    --------
    >>> chosen_dev_split(ws, "auto")
    'dev'
    """
    if dev_split != AUTO_DEV:
        return dev_split
    if workspace.task.kind not in ("classification", "multilabel"):
        return None
    rows, labels = workspace.sql(
        """SELECT count(*) AS n, count(DISTINCT gold) AS labels FROM examples
           WHERE split = 'dev' AND gold IS NOT NULL"""
    ).row(0)
    return "dev" if rows >= MIN_DEV_GOLD and labels >= 2 else None


def no_gold_in(workspace: Workspace, split: str, purpose: str) -> LabelkitError:
    """The error for a split without gold labels, naming the splits that have some.

    Examples
    --------
    >>> raise no_gold_in(ws, "devv", "to fit with")
    Traceback (most recent call last):
    labelkit.errors.LabelkitError: no gold labels in split 'devv' to fit with; the splits with gold are ['dev', 'test'] (did you mean 'dev'?)
    """
    splits = workspace.sql(
        "SELECT DISTINCT split FROM examples WHERE gold IS NOT NULL ORDER BY split"
    )["split"].to_list()
    return LabelkitError(
        f"no gold labels in split {split!r} {purpose}; the splits with gold are {splits}"
        + did_you_mean(split, splits)
    )


def server_note(path: Path) -> Path:
    """The file next to a workspace that names the `labelkit serve` process holding it."""
    return path.with_name(f"{path.name}.serve.json")


@contextmanager
def announce_server(path: Path, url: str, *, token: bool = False) -> Iterator[None]:
    """Name this process and its URL next to the workspace while the block runs, so that
    another process the lock refuses is told where the server is (and whether its pages
    need the token, never the token itself).

    Examples
    --------
    >>> with Workspace("spam.duckdb") as ws, announce_server(ws.path, "http://127.0.0.1:8080/"):
    ...     uvicorn.run(app, port=8080)
    """
    note = server_note(path)
    note.write_text(json.dumps({"pid": os.getpid(), "url": url, "token": token}), encoding="utf-8")
    try:
        yield
    finally:
        note.unlink(missing_ok=True)


# What a DuckDB file holds at bytes 8 to 12 of its first block.
_DUCKDB_MAGIC = b"DUCK"


def _check_duckdb_file(path: Path) -> None:
    """Refuse an existing file that is no DuckDB database (trial 51c: `ingest data.csv
    new.csv`, the workspace left out, reported 300 examples added to a CSV file that
    DuckDB had opened as a database in memory, and kept nothing)."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return
    if head and head[8:12] != _DUCKDB_MAGIC:
        raise WorkspaceError(
            f"{path} is not a DuckDB workspace"
            + (f" (a {path.suffix} file)" if path.suffix and path.suffix != ".duckdb" else "")
            + "; the workspace is the first argument: a .duckdb file, made by the first ingest"
        )


def _locked(path: Path, error: str, read_only: bool) -> str:
    """Who holds the workspace, as far as is known, and what to do instead."""
    return "".join(_lock_holder(path, error, read_only))


def _lock_holder(path: Path, error: str, read_only: bool) -> tuple[str, str]:
    """Who holds the workspace, as far as is known ("workspace ... is open in ..."), and
    the rest of ``_locked``'s message: why, and what to do instead."""
    # DuckDB: 'Conflicting lock is held in /usr/bin/python3 (PID 123)'.
    held = re.search(r"held in (.+?) \(PID (\d+)\)", error)
    pid = int(held.group(2)) if held else None
    server = _live_server(path, pid)
    if server is not None:
        url = server["url"]
        # Trial 59f: the link, opened as given, asked for a token it did not carry.
        token = " (add ?token= and the server's token)" if server["token"] else ""
        return (
            f"workspace {path} is held by `labelkit serve` (pid {server['pid']}) at {url}",
            f": its summary page {url}summary{token} shows the review's statistics and "
            "exports the cleaned set; for anything else stop that server and retry",
        )
    command = _labelkit_command(pid) if pid is not None else None
    if command is not None:
        # Trial 49b: a second reviewer was told of "/usr/bin/python3", not of `labelkit review`.
        holder = f"`{command}` (pid {pid})"
    elif held:
        holder = f"another process (pid {pid}, {held.group(1)})"
    else:
        holder = "another process"
    together = (
        "; to review with several people at once, one of you runs `labelkit serve` and "
        "the others open its page"
        if command is not None and command.split()[1:2] == ["review"]
        else ""
    )
    if read_only:
        how = "open for writing in"  # readers share a file; only a writer keeps them out
    elif "read-only mode" in error:
        how = "open read-only in"  # DuckDB says a reader would get in: the holder only reads
    else:
        how = "open in"
    return (
        f"workspace {path} is {how} {holder}",
        f" (DuckDB lets one process write a file, or several read it); close it and "
        f"retry{together}",
    )


def _labelkit_command(pid: int) -> str | None:
    """The labelkit command process ``pid`` runs, as ``labelkit review``: its subcommand
    alone, since its options may hold a secret (``--api-key``, ``--token``). Read from
    ``/proc`` where there is one; None for another program or where it cannot tell."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    argv = [arg for arg in argv if arg]
    # The `labelkit` script, a Python running it, or `python -m labelkit`.
    if argv[:1] and Path(argv[0]).name == "labelkit":
        rest = argv[1:]
    elif argv[1:2] and Path(argv[1]).name == "labelkit":
        rest = argv[2:]
    elif argv[1:3] == ["-m", "labelkit"]:
        rest = argv[3:]
    else:
        return None
    subcommand = next((arg for arg in rest if not arg.startswith("-")), None)
    return "labelkit" if subcommand is None else f"labelkit {shlex.quote(subcommand)}"


def _live_server(path: Path, pid: int | None) -> dict[str, Any] | None:
    """The server note's contents if its process is alive (and, when DuckDB named the
    lock's holder, is that process); a note left by a killed server is ignored."""
    try:
        note = json.loads(server_note(path).read_text(encoding="utf-8"))
        server_pid, url = int(note["pid"]), str(note["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid is not None and pid != server_pid:
        return None
    try:
        os.kill(server_pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, run by another user
    return {"pid": server_pid, "url": url, "token": bool(note.get("token"))}


def _versions() -> dict[str, str]:
    from labelkit.registry import part_packages

    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    # The packages whose parts a step may have used (trial 62b).
    return versions | part_packages()


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"
